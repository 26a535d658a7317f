//! The Desk's side of the email channel (SPEC E1–E8): mailboxes, the import of a
//! decoded mail into a ticket or a thread (one transaction with the mailbox's UID
//! cursor, so a mail is imported exactly once), the mail fields of threads, their
//! attachments, and the durable outbox of outgoing mail. No protocol code lives here:
//! IMAP, SMTP and MIME are `madoguchi-mail`'s; this module stores and decides.

mod inbound;
mod outbound;
mod store;

use crate::access::Member;
use crate::sql::Ref;
use crate::Desk;
use madoguchi_core::error::OnConflict;
use madoguchi_core::i18n::Lang;
use madoguchi_core::ids::new_id;
use madoguchi_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

madoguchi_core::wire_enum! {
    /// Connection security of a mail server: "none" | "starttls" | "tls".
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    #[strum(serialize_all = "lowercase")]
    pub enum Security {
        None,
        Starttls,
        Tls,
    }
}

/// `{host, port, security, username, folder}` (the password is never shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImapView {
    pub host: String,
    pub port: i64,
    pub security: Security,
    pub username: String,
    pub folder: String,
}

/// `{host, port, security, username}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmtpView {
    pub host: String,
    pub port: i64,
    pub security: Security,
    pub username: Option<String>,
}

/// `{state:"pending"|"ok"|"error", error, lastFetchAt}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailboxStatus {
    pub state: String,
    pub error: Option<String>,
    pub last_fetch_at: Option<String>,
}

/// A mailbox as API.md "Email" has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Mailbox {
    pub id: String,
    pub address: String,
    pub display_name: String,
    pub department_id: Option<String>,
    pub acknowledge: bool,
    pub imap: ImapView,
    pub smtp: SmtpView,
    pub status: MailboxStatus,
}

/// The IMAP part of a new mailbox or of a PATCH (every field optional for PATCH).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImapInput {
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub port: Option<i64>,
    #[serde(default)]
    pub security: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub folder: Option<String>,
}

/// The SMTP part of a new mailbox or of a PATCH.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmtpInput {
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub port: Option<i64>,
    #[serde(default)]
    pub security: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

/// `{address, displayName, departmentId?, acknowledge?, imap:{…}, smtp:{…}}`; for PATCH
/// every field is optional and a password changes only when given.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailboxInput {
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<String>)]
    pub department_id: Option<Option<String>>,
    #[serde(default)]
    pub acknowledge: Option<bool>,
    #[serde(default)]
    pub imap: Option<ImapInput>,
    #[serde(default)]
    pub smtp: Option<SmtpInput>,
}

/// Everything the fetcher and the sender need about a mailbox, passwords included
/// (never serialised to clients).
#[derive(Debug, Clone)]
pub struct MailboxConfig {
    pub id: String,
    pub portal_id: String,
    pub portal_name: String,
    pub address: String,
    pub display_name: String,
    pub department_id: Option<String>,
    pub acknowledge: bool,
    pub imap: ImapView,
    pub imap_password: String,
    pub smtp: SmtpView,
    pub smtp_password: Option<String>,
    pub uid_validity: Option<i64>,
    pub last_uid: i64,
}

/// A validated, whole mailbox row.
struct Fields {
    address: String,
    display_name: String,
    department_id: Option<String>,
    acknowledge: bool,
    imap: ImapView,
    imap_password: String,
    smtp: SmtpView,
    smtp_password: Option<String>,
}

fn host(field: &'static str, value: Option<&str>) -> Result<String> {
    let v = value.unwrap_or("").trim();
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'));
    if ok {
        Ok(v.to_owned())
    } else {
        Err(Error::invalid(field, "desk-error-mail-host"))
    }
}

fn port(field: &'static str, value: Option<i64>) -> Result<i64> {
    match value {
        Some(p) if (1..=65_535).contains(&p) => Ok(p),
        _ => Err(Error::invalid(field, "desk-error-mail-port")),
    }
}

fn security(field: &'static str, value: Option<&str>) -> Result<Security> {
    value
        .and_then(|s| Security::parse(s.trim()))
        .ok_or_else(|| Error::invalid(field, "desk-error-mail-security"))
}

fn short_text(field: &'static str, value: Option<&str>, required: bool) -> Result<Option<String>> {
    match value.map(str::trim) {
        None | Some("") if required => Err(Error::invalid(field, "desk-error-mail-text")),
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > 255 => Err(Error::invalid(field, "desk-error-mail-text")),
        Some(v) => Ok(Some(v.to_owned())),
    }
}

/// Validates a whole mailbox: `input` over `base` (PATCH) or alone (POST).
fn validate(input: &MailboxInput, base: Option<&MailboxConfig>) -> Result<Fields> {
    let address_raw = input
        .address
        .clone()
        .or_else(|| base.map(|b| b.address.clone()))
        .unwrap_or_default();
    let address = madoguchi_core::identity::Email::parse("address", &address_raw)
        .map_err(|_| Error::invalid("address", "desk-error-mail-address"))?
        .as_str()
        .to_owned();
    let display_name = short_text(
        "displayName",
        input
            .display_name
            .as_deref()
            .or(base.map(|b| b.display_name.as_str())),
        true,
    )?
    .unwrap_or_default();
    let department_id = match &input.department_id {
        Some(d) => d.clone().filter(|s| !s.trim().is_empty()),
        None => base.and_then(|b| b.department_id.clone()),
    };
    let acknowledge = input
        .acknowledge
        .or(base.map(|b| b.acknowledge))
        .unwrap_or(false);
    let empty_imap = ImapInput::default();
    let i = input.imap.as_ref().unwrap_or(&empty_imap);
    if base.is_none() && input.imap.is_none() {
        return Err(Error::invalid("imap", "desk-error-mail-text"));
    }
    let bi = base.map(|b| &b.imap);
    let imap = ImapView {
        host: host(
            "imap.host",
            i.host.as_deref().or(bi.map(|b| b.host.as_str())),
        )?,
        port: port("imap.port", i.port.or(bi.map(|b| b.port)))?,
        security: security(
            "imap.security",
            i.security.as_deref().or(bi.map(|b| b.security.as_str())),
        )?,
        username: short_text(
            "imap.username",
            i.username.as_deref().or(bi.map(|b| b.username.as_str())),
            true,
        )?
        .unwrap_or_default(),
        folder: short_text(
            "imap.folder",
            i.folder.as_deref().or(bi.map(|b| b.folder.as_str())),
            false,
        )?
        .unwrap_or_else(|| "INBOX".to_owned()),
    };
    let imap_password = match i.password.as_deref().filter(|p| !p.is_empty()) {
        Some(p) if p.chars().count() <= 1000 => p.to_owned(),
        Some(_) => return Err(Error::invalid("imap.password", "desk-error-mail-text")),
        None => match base {
            Some(b) => b.imap_password.clone(),
            None => return Err(Error::invalid("imap.password", "desk-error-mail-text")),
        },
    };
    let empty_smtp = SmtpInput::default();
    let s = input.smtp.as_ref().unwrap_or(&empty_smtp);
    if base.is_none() && input.smtp.is_none() {
        return Err(Error::invalid("smtp", "desk-error-mail-text"));
    }
    let bs = base.map(|b| &b.smtp);
    let smtp = SmtpView {
        host: host(
            "smtp.host",
            s.host.as_deref().or(bs.map(|b| b.host.as_str())),
        )?,
        port: port("smtp.port", s.port.or(bs.map(|b| b.port)))?,
        security: security(
            "smtp.security",
            s.security.as_deref().or(bs.map(|b| b.security.as_str())),
        )?,
        username: match &s.username {
            Some(u) => short_text("smtp.username", Some(u), false)?,
            None => bs.and_then(|b| b.username.clone()),
        },
    };
    let smtp_password = match s.password.as_deref() {
        Some("") => None,
        Some(p) if p.chars().count() <= 1000 => Some(p.to_owned()),
        Some(_) => return Err(Error::invalid("smtp.password", "desk-error-mail-text")),
        None => base.and_then(|b| b.smtp_password.clone()),
    };
    Ok(Fields {
        address,
        display_name,
        department_id,
        acknowledge,
        imap,
        imap_password,
        smtp,
        smtp_password,
    })
}

fn address_taken() -> Error {
    Error::new(ErrorCode::Conflict)
        .with_field("address")
        .with_message("desk-error-mail-address-taken")
}

/// A decoded incoming mail, ready to import (built by `madoguchi-mail`).
#[derive(Debug, Clone, Default)]
pub struct IncomingMail {
    /// Without angle brackets; never empty (the fetcher derives one when missing).
    pub message_id: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub from_address: String,
    pub from_name: Option<String>,
    pub to: String,
    pub subject: String,
    /// The new text of the mail, without the quoted history.
    pub text: String,
    /// The quoted history below the reply (kept, folded on the page).
    pub quoted: Option<String>,
    pub attachments: Vec<IncomingAttachment>,
    /// An auto-reply, bounce or list mail (E7): never makes a ticket or an acknowledgement.
    pub automatic: bool,
    /// For a delivery report: the Message-IDs of the mails it reports on and why.
    pub bounce_of: Vec<String>,
    pub bounce_reason: Option<String>,
    /// The language of the sender ("ja" unless the mail says or looks English).
    pub lang: Lang,
}

#[derive(Debug, Clone)]
pub struct IncomingAttachment {
    pub name: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// The UID or the Message-ID was imported before: nothing changed.
    Duplicate,
    /// A new ticket (and whether an acknowledgement was queued).
    NewTicket {
        ticket_id: String,
        ticket_number: i64,
        acknowledged: bool,
    },
    /// A thread on an existing ticket.
    Thread { ticket_id: String },
    /// A delivery report that marked our reply failed.
    Bounce { thread_ids: Vec<String> },
    /// An automatic mail with no ticket to join: recorded as seen, nothing made.
    Ignored,
}

/// One outgoing mail as the outbox keeps it; the sender renders it to MIME each time
/// with the same Message-ID, so a retry is the same mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutgoingMail {
    pub from_address: String,
    pub from_name: String,
    pub to_address: String,
    pub to_name: Option<String>,
    pub subject: String,
    pub text: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// "reply" or "ack": an acknowledgement carries `Auto-Submitted: auto-replied`.
    pub kind: String,
}

/// A claimed outbox row.
#[derive(Debug, Clone)]
pub struct OutboxJob {
    pub id: String,
    pub portal_id: String,
    pub mailbox_id: String,
    pub thread_id: Option<String>,
    pub mail: OutgoingMail,
    pub attempts: i64,
}

/// `{state:"queued"|"sent"|"failed", error, attempts}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub state: String,
    pub error: Option<String>,
    pub attempts: i64,
}

/// `{id, name, contentType, size, url}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentRef {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub url: String,
}

/// A stored attachment with its bytes.
#[derive(Debug, Clone)]
pub struct AttachmentFile {
    pub name: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// Why a reply on a ticket will not be mailed (shown before it is written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmailable {
    NoContactEmail,
    NoMailbox,
}

/// The first retry of an outgoing mail waits this long, each next one twice as long.
pub const FIRST_BACKOFF_MS: i64 = 2_000;
pub const MAX_BACKOFF_MS: i64 = 5 * 60 * 1_000;
/// After this many failed attempts a mail is `failed` (the page offers a retry).
pub const MAX_ATTEMPTS: i64 = 8;
/// How long a sender owns a claimed row.
pub const CLAIM_MS: i64 = 60_000;

pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 20) - 1;
    FIRST_BACKOFF_MS
        .saturating_mul(1_i64 << exp)
        .min(MAX_BACKOFF_MS)
}

/// `<id>` → `id`, lowercased domain kept as is; empty when not an id.
pub fn normalize_message_id(raw: &str) -> String {
    raw.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_owned()
}

/// The ticket number in a `[#123]` token of `subject`.
pub fn subject_token(subject: &str) -> Option<i64> {
    let mut rest = subject;
    while let Some(i) = rest.find("[#") {
        let after = &rest[i + 2..];
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() && after[digits.len()..].starts_with(']') {
            return digits.parse().ok();
        }
        rest = after;
    }
    None
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        s.chars().take(max).collect()
    }
}

/// The member a mailbox acts as when it makes tickets: no user, named after the mailbox.
fn mailbox_member(cfg: &MailboxConfig) -> Member {
    Member {
        portal_id: cfg.portal_id.clone(),
        portal_name: cfg.portal_name.clone(),
        user_id: String::new(),
        email: cfg.address.clone(),
        name: cfg.display_name.clone(),
        role: crate::access::Role::Agent,
        via_service_key: false,
        actor: None,
    }
}

impl Desk {
    /// Woken whenever an outgoing mail is queued (the sender waits on it).
    pub fn mail_outbox_notify(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.mail_notify.clone()
    }

    async fn mailbox_config_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        portal_id: &str,
        id: &str,
    ) -> Result<MailboxConfig> {
        store::config(conn, portal_id, id)
            .await?
            .ok_or_else(Error::not_found)
    }

    /// The portal's mailboxes, oldest first (admins).
    pub async fn mailboxes(&self, member: &Member) -> Result<Vec<Mailbox>> {
        member.require_admin()?;
        store::list(self.db.pool(), &member.portal_id).await
    }

    /// One mailbox (admins); 404 `not_found`.
    pub async fn mailbox(&self, member: &Member, id: &str) -> Result<Mailbox> {
        member.require_admin()?;
        store::get(self.db.pool(), &member.portal_id, id)
            .await?
            .ok_or_else(Error::not_found)
    }

    /// A mailbox with its passwords (the connection test, the fetcher); admins.
    pub async fn mailbox_config(&self, member: &Member, id: &str) -> Result<MailboxConfig> {
        member.require_admin()?;
        let mut conn = self.db.pool().acquire().await?;
        self.mailbox_config_in(&mut conn, &member.portal_id, id)
            .await
    }

    /// Adds a mailbox (admins); 400 naming the field at fault (`imap.host`, …).
    pub async fn create_mailbox(&self, member: &Member, input: &MailboxInput) -> Result<Mailbox> {
        member.require_admin()?;
        let f = validate(input, None)?;
        let id = new_id();
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        if let Some(d) = &f.department_id {
            Ref::Department
                .check(tx.conn(), &member.portal_id, d)
                .await?;
        }
        store::insert(tx.conn(), &member.portal_id, &id, &f, now)
            .await
            .on_conflict(address_taken)?;
        tx.commit().await?;
        self.mailbox(member, &id).await
    }

    /// Changes any field (a password only when given); moving the mailbox to another
    /// server or folder starts its import cursor again (Message-IDs still dedupe).
    pub async fn patch_mailbox(
        &self,
        member: &Member,
        id: &str,
        input: &MailboxInput,
    ) -> Result<Mailbox> {
        member.require_admin()?;
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let base = self
            .mailbox_config_in(tx.conn(), &member.portal_id, id)
            .await?;
        let f = validate(input, Some(&base))?;
        if let Some(d) = &f.department_id {
            Ref::Department
                .check(tx.conn(), &member.portal_id, d)
                .await?;
        }
        let moved = f.imap.host != base.imap.host
            || f.imap.port != base.imap.port
            || f.imap.username != base.imap.username
            || f.imap.folder != base.imap.folder;
        store::update(tx.conn(), &member.portal_id, id, &f, moved, now)
            .await
            .on_conflict(address_taken)?;
        tx.commit().await?;
        self.mailbox(member, id).await
    }

    /// Removes a mailbox (admins) and answers it as it was.
    pub async fn delete_mailbox(&self, member: &Member, id: &str) -> Result<Mailbox> {
        let mailbox = self.mailbox(member, id).await?;
        let mut tx = self.db.begin_write().await?;
        store::delete(tx.conn(), &member.portal_id, id).await?;
        tx.commit().await?;
        Ok(mailbox)
    }

    /// Every mailbox of every portal (the fetchers).
    pub async fn all_mailbox_configs(&self) -> Result<Vec<MailboxConfig>> {
        store::all_configs(self.db.pool()).await
    }

    /// One mailbox by id alone (the fetcher re-reading its cursor); `None` when deleted.
    pub async fn mailbox_config_by_id(&self, id: &str) -> Result<Option<MailboxConfig>> {
        store::config_by_id(self.db.pool(), id).await
    }

    /// Takes or renews the fetch lease of a mailbox for `node` until `now + ttl_ms` (E8):
    /// a conditional update, so of several nodes exactly one holds it; a dead node's
    /// lease runs out and another takes it. Answers whether `node` holds it.
    pub async fn acquire_mailbox_lease(&self, id: &str, node: &str, ttl_ms: i64) -> Result<bool> {
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let done = store::take_lease(tx.conn(), id, node, now, ttl_ms).await?;
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Gives the lease up (a clean shutdown hands the mailbox over at once).
    pub async fn release_mailbox_lease(&self, id: &str, node: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        store::release_lease(tx.conn(), id, node).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The node holding a mailbox's lease now, if any (tests, the settings page).
    pub async fn mailbox_lease_owner(&self, id: &str) -> Result<Option<String>> {
        let now = self.clock.now_ms();
        store::lease_owner(self.db.pool(), id, now).await
    }

    /// Records what the fetcher saw: `error` none is a good fetch.
    pub async fn set_mailbox_status(&self, id: &str, error: Option<&str>) -> Result<()> {
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        store::set_status(tx.conn(), id, error, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The folder's UIDVALIDITY changed (or is first seen): the cursor starts again.
    /// Mails seen before are still recognised by their Message-ID.
    pub async fn reset_mailbox_cursor(&self, id: &str, uid_validity: i64) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        store::reset_cursor(tx.conn(), id, uid_validity).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn domain_of(address: &str) -> &str {
    address
        .rsplit_once('@')
        .map_or("madoguchi.invalid", |(_, d)| d)
}
