//! The Desk's side of the email channel (SPEC E1–E8): mailboxes, the import of a
//! decoded mail into a ticket or a thread (one transaction with the mailbox's UID
//! cursor, so a mail is imported exactly once), the mail fields of threads, their
//! attachments, and the durable outbox of outgoing mail. No protocol code lives here:
//! IMAP, SMTP and MIME are `madoguchi-mail`'s; this module stores and decides.

mod store;

use crate::access::Member;
use crate::sql::Ref;
use crate::tickets::{Channel, NewTicket};
use crate::Desk;
use madoguchi_core::error::OnConflict;
use madoguchi_core::i18n::Lang;
use madoguchi_core::ids::new_id;
use madoguchi_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use sqlx::Row;
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

    /// Imports the mail with `uid` of a mailbox in one transaction with the mailbox's
    /// cursor (E2, E3, E7): a UID at or below the cursor, or a Message-ID the portal
    /// knows, changes nothing; a delivery report marks our reply failed; a reply joins
    /// its ticket (In-Reply-To/References, else a `[#N]` subject token); an automatic
    /// mail with no ticket is only recorded; anything else is a new ticket, with an
    /// acknowledgement queued when the mailbox asks for one.
    pub async fn import_mail(
        &self,
        cfg: &MailboxConfig,
        uid: i64,
        mail: &IncomingMail,
    ) -> Result<ImportOutcome> {
        let now = self.clock.now_ms();
        let portal_id = &cfg.portal_id;
        let mut tx = self.db.begin_write().await?;
        let advanced =
            sqlx::query("update desk_mailboxes set last_uid = $1 where id = $2 and last_uid < $3")
                .bind(uid)
                .bind(&cfg.id)
                .bind(uid)
                .execute(tx.conn())
                .await?;
        if advanced.rows_affected() == 0 {
            return Ok(ImportOutcome::Duplicate);
        }
        let message_id = normalize_message_id(&mail.message_id);
        let known = sqlx::query(
            "select ticket_id from desk_mail_message_ids where portal_id = $1 and message_id = $2",
        )
        .bind(portal_id)
        .bind(&message_id)
        .fetch_optional(tx.conn())
        .await?;
        if known.is_some() {
            tx.commit().await?;
            return Ok(ImportOutcome::Duplicate);
        }
        // A delivery report of one of our mails: that reply failed.
        if !mail.bounce_of.is_empty() {
            let mut failed = Vec::new();
            for id in &mail.bounce_of {
                let row = sqlx::query(
                    "select thread_id from desk_mail_message_ids where portal_id = $1 and message_id = $2 \
                     and direction = 'out'",
                )
                .bind(portal_id)
                .bind(normalize_message_id(id))
                .fetch_optional(tx.conn())
                .await?;
                if let Some(thread_id) =
                    row.and_then(|r| r.try_get::<Option<String>, _>("thread_id").ok().flatten())
                {
                    let reason = mail
                        .bounce_reason
                        .clone()
                        .unwrap_or_else(|| "bounced".into());
                    sqlx::query(
                        "update desk_threads set delivery_state = 'failed', delivery_error = $1, updated_at = $2 \
                         where id = $3",
                    )
                    .bind(clip(&reason, 1000))
                    .bind(now)
                    .bind(&thread_id)
                    .execute(tx.conn())
                    .await?;
                    sqlx::query(
                        "update desk_mail_outbox set state = 'failed', last_error = $1, updated_at = $2 \
                         where thread_id = $3",
                    )
                    .bind(clip(&reason, 1000))
                    .bind(now)
                    .bind(&thread_id)
                    .execute(tx.conn())
                    .await?;
                    failed.push(thread_id);
                }
            }
            if !failed.is_empty() {
                tx.commit().await?;
                return Ok(ImportOutcome::Bounce { thread_ids: failed });
            }
        }
        // Threading: the ids it answers, newest reference first, else the subject token.
        let mut ticket_id: Option<String> = None;
        let mut candidates: Vec<String> = mail.in_reply_to.clone();
        candidates.extend(mail.references.iter().rev().cloned());
        for c in &candidates {
            let row = sqlx::query(
                "select ticket_id from desk_mail_message_ids where portal_id = $1 and message_id = $2",
            )
            .bind(portal_id)
            .bind(normalize_message_id(c))
            .fetch_optional(tx.conn())
            .await?;
            if let Some(r) = row {
                ticket_id = Some(r.try_get("ticket_id")?);
                break;
            }
        }
        if ticket_id.is_none() {
            if let Some(number) = subject_token(&mail.subject) {
                let row = sqlx::query(
                    "select id from desk_tickets where portal_id = $1 and ticket_number = $2",
                )
                .bind(portal_id)
                .bind(number)
                .fetch_optional(tx.conn())
                .await?;
                if let Some(r) = row {
                    ticket_id = Some(r.try_get("id")?);
                }
            }
        }
        let subject = {
            let s = clip(mail.subject.trim(), 255);
            if s.trim().is_empty() {
                "(件名なし / no subject)".to_owned()
            } else {
                s
            }
        };
        let text = clip(mail.text.trim(), 100_000);
        let from = match &mail.from_name {
            Some(n) if !n.trim().is_empty() => format!("{} <{}>", n.trim(), mail.from_address),
            _ => mail.from_address.clone(),
        };
        let (ticket_id, outcome) = match ticket_id {
            Some(t) => (t.clone(), ImportOutcome::Thread { ticket_id: t }),
            None if mail.automatic => {
                tx.commit().await?;
                return Ok(ImportOutcome::Ignored);
            }
            None => {
                let member = mailbox_member(cfg);
                let contact_id = find_or_create_contact(
                    tx.conn(),
                    portal_id,
                    &mail.from_address,
                    mail.from_name.as_deref(),
                    now,
                )
                .await?;
                let new = NewTicket {
                    subject: subject.clone(),
                    description: Some(text.clone()),
                    department_id: cfg.department_id.clone(),
                    contact_id,
                    channel: Some(Channel::Email),
                    ..NewTicket::default()
                };
                let prepared = self
                    .prepare_ticket(tx.conn(), &member, &new, &mut Default::default())
                    .await?;
                let number =
                    crate::tickets::store::reserve_numbers(tx.conn(), portal_id, 1).await?;
                let id = crate::tickets::store::insert_ticket(
                    tx.conn(),
                    &member,
                    &prepared,
                    number,
                    now,
                )
                .await?;
                let acknowledged = cfg.acknowledge;
                (
                    id.clone(),
                    ImportOutcome::NewTicket {
                        ticket_id: id,
                        ticket_number: number,
                        acknowledged,
                    },
                )
            }
        };
        let thread_id = new_id();
        sqlx::query(
            "insert into desk_threads (id, portal_id, ticket_id, kind, content, author_id, author_name, chat_id, \
             created_at, updated_at, direction, mail_from, mail_to, mail_subject, message_id, mailbox_id, quoted) \
             values ($1, $2, $3, 'email', $4, null, $5, null, $6, $6, 'in', $7, $8, $9, $10, $11, $12)",
        )
        .bind(&thread_id)
        .bind(portal_id)
        .bind(&ticket_id)
        .bind(&text)
        .bind(clip(mail.from_name.as_deref().unwrap_or(&mail.from_address), 200))
        .bind(now)
        .bind(clip(&from, 500))
        .bind(clip(&mail.to, 500))
        .bind(&subject)
        .bind(&message_id)
        .bind(&cfg.id)
        .bind(mail.quoted.as_deref().map(|q| clip(q, 100_000)))
        .execute(tx.conn())
        .await?;
        sqlx::query(
            "insert into desk_mail_message_ids (portal_id, message_id, ticket_id, thread_id, direction, created_at) \
             values ($1, $2, $3, $4, 'in', $5)",
        )
        .bind(portal_id)
        .bind(&message_id)
        .bind(&ticket_id)
        .bind(&thread_id)
        .bind(now)
        .execute(tx.conn())
        .await?;
        for a in &mail.attachments {
            use base64::Engine;
            sqlx::query(
                "insert into desk_thread_attachments (id, portal_id, ticket_id, thread_id, name, content_type, \
                 size, data_base64, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(new_id())
            .bind(portal_id)
            .bind(&ticket_id)
            .bind(&thread_id)
            .bind(clip(&a.name, 255))
            .bind(clip(&a.content_type, 255))
            .bind(a.data.len() as i64)
            .bind(base64::engine::general_purpose::STANDARD.encode(&a.data))
            .bind(now)
            .execute(tx.conn())
            .await?;
        }
        crate::threads::store::touch_ticket(tx.conn(), portal_id, &ticket_id, now).await?;
        if let ImportOutcome::NewTicket {
            ticket_number,
            acknowledged: true,
            ..
        } = &outcome
        {
            let lang = mail.lang;
            let ack_id = format!("{}@{}", new_id(), domain_of(&cfg.address));
            let args = [("number", ticket_number.to_string())];
            let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let body = madoguchi_core::i18n::t_args(lang, "desk-mail-ack-body", &args);
            let ack = OutgoingMail {
                from_address: cfg.address.clone(),
                from_name: cfg.display_name.clone(),
                to_address: mail.from_address.clone(),
                to_name: mail.from_name.clone(),
                subject: format!("[#{ticket_number}] {subject}"),
                text: body,
                message_id: ack_id.clone(),
                in_reply_to: Some(message_id.clone()),
                references: vec![message_id.clone()],
                kind: "ack".into(),
            };
            sqlx::query(
                "insert into desk_mail_message_ids (portal_id, message_id, ticket_id, thread_id, direction, created_at) \
                 values ($1, $2, $3, null, 'out', $4) on conflict (portal_id, message_id) do nothing",
            )
            .bind(portal_id)
            .bind(&ack_id)
            .bind(&ticket_id)
            .bind(now)
            .execute(tx.conn())
            .await?;
            enqueue(
                tx.conn(),
                portal_id,
                &cfg.id,
                &format!("ack:{ticket_id}"),
                None,
                &ack,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        if matches!(
            outcome,
            ImportOutcome::NewTicket {
                acknowledged: true,
                ..
            }
        ) {
            self.mail_notify.notify_one();
        }
        Ok(outcome)
    }

    /// Why a reply on this ticket would not be mailed, if it would not.
    pub async fn reply_unmailable(
        &self,
        member: &Member,
        ticket_id: &str,
    ) -> Result<Option<Unmailable>> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(
            match reply_route(&mut conn, &member.portal_id, ticket_id).await? {
                Route::Mail { .. } => None,
                Route::NoEmail => Some(Unmailable::NoContactEmail),
                Route::NoMailbox => Some(Unmailable::NoMailbox),
            },
        )
    }

    /// The outgoing mail of a reply thread being written in `conn` (E4): when the
    /// ticket's contact has an email and the portal a mailbox, the thread gets its
    /// mail fields (one Message-ID, forever) and the outbox a row. Answers whether it
    /// will be mailed.
    pub(crate) async fn plan_reply_mail(
        &self,
        conn: &mut sqlx::AnyConnection,
        portal_id: &str,
        ticket_id: &str,
        thread_id: &str,
        content: &str,
        now: i64,
    ) -> Result<bool> {
        let Route::Mail {
            mailbox,
            to_address,
            to_name,
            ticket_number,
            subject,
        } = reply_route(conn, portal_id, ticket_id).await?
        else {
            return Ok(false);
        };
        let ids = sqlx::query(
            "select message_id from desk_mail_message_ids where portal_id = $1 and ticket_id = $2 \
             order by created_at, message_id",
        )
        .bind(portal_id)
        .bind(ticket_id)
        .fetch_all(&mut *conn)
        .await?;
        let mut references: Vec<String> = ids
            .iter()
            .filter_map(|r| r.try_get::<String, _>("message_id").ok())
            .collect();
        let in_reply_to = references.last().cloned();
        if references.len() > 20 {
            references.drain(..references.len() - 20);
        }
        let message_id = format!("{}@{}", thread_id, domain_of(&mailbox.address));
        let subject = if subject_token(&subject) == Some(ticket_number) {
            subject
        } else {
            format!("[#{ticket_number}] {subject}")
        };
        let subject = if subject.starts_with("Re:") || subject.starts_with("RE:") {
            subject
        } else {
            format!("Re: {subject}")
        };
        let to = match &to_name {
            Some(n) => format!("{n} <{to_address}>"),
            None => to_address.clone(),
        };
        let mail = OutgoingMail {
            from_address: mailbox.address.clone(),
            from_name: mailbox.display_name.clone(),
            to_address: to_address.clone(),
            to_name,
            subject: subject.clone(),
            text: content.to_owned(),
            message_id: message_id.clone(),
            in_reply_to,
            references,
            kind: "reply".into(),
        };
        sqlx::query(
            "update desk_threads set direction = 'out', mail_from = $1, mail_to = $2, mail_subject = $3, \
             message_id = $4, mailbox_id = $5, delivery_state = 'queued', delivery_attempts = 0 where id = $6",
        )
        .bind(format!("{} <{}>", mailbox.display_name, mailbox.address))
        .bind(&to)
        .bind(&subject)
        .bind(&message_id)
        .bind(&mailbox.id)
        .bind(thread_id)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "insert into desk_mail_message_ids (portal_id, message_id, ticket_id, thread_id, direction, created_at) \
             values ($1, $2, $3, $4, 'out', $5)",
        )
        .bind(portal_id)
        .bind(&message_id)
        .bind(ticket_id)
        .bind(thread_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        enqueue(
            conn,
            portal_id,
            &mailbox.id,
            &format!("reply:{thread_id}"),
            Some(thread_id),
            &mail,
            now,
        )
        .await?;
        Ok(true)
    }

    /// Sends a failed reply again (the page's retry button): the same mail, the same
    /// Message-ID, attempts counted from zero.
    pub async fn retry_mail(
        &self,
        member: &Member,
        ticket_id: &str,
        thread_id: &str,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query(
            "update desk_mail_outbox set state = 'pending', attempts = 0, next_attempt_at = $1, locked_until = 0, \
             updated_at = $2 where portal_id = $3 and thread_id = $4 and state = 'failed' \
             and thread_id in (select id from desk_threads where ticket_id = $5)",
        )
        .bind(now)
        .bind(now)
        .bind(&member.portal_id)
        .bind(thread_id)
        .bind(ticket_id)
        .execute(tx.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found());
        }
        sqlx::query(
            "update desk_threads set delivery_state = 'queued', delivery_error = null, delivery_attempts = 0 \
             where id = $1",
        )
        .bind(thread_id)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        self.mail_notify.notify_one();
        Ok(())
    }

    /// Claims up to `limit` due outgoing mails for [`CLAIM_MS`] (a conditional update
    /// per row, so two nodes never send the same one at once).
    pub async fn claim_mail(&self, limit: i64) -> Result<Vec<OutboxJob>> {
        let now = self.clock.now_ms();
        let rows = sqlx::query(
            "select id, portal_id, mailbox_id, thread_id, message, attempts from desk_mail_outbox \
             where state = 'pending' and next_attempt_at <= $1 and locked_until <= $2 \
             order by next_attempt_at, created_at limit $3",
        )
        .bind(now)
        .bind(now)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut jobs = Vec::new();
        let mut tx = self.db.begin_write().await?;
        for row in rows {
            let id: String = row.try_get("id")?;
            let claimed = sqlx::query(
                "update desk_mail_outbox set locked_until = $1, attempts = attempts + 1, updated_at = $2 \
                 where id = $3 and state = 'pending' and locked_until <= $4",
            )
            .bind(now + CLAIM_MS)
            .bind(now)
            .bind(&id)
            .bind(now)
            .execute(tx.conn())
            .await?;
            if claimed.rows_affected() == 0 {
                continue;
            }
            let message: String = row.try_get("message")?;
            let mail: OutgoingMail = serde_json::from_str(&message)
                .map_err(|e| Error::internal(anyhow::Error::new(e)))?;
            jobs.push(OutboxJob {
                id,
                portal_id: row.try_get("portal_id")?,
                mailbox_id: row.try_get("mailbox_id")?,
                thread_id: row.try_get("thread_id")?,
                mail,
                attempts: row.try_get::<i64, _>("attempts")? + 1,
            });
        }
        tx.commit().await?;
        Ok(jobs)
    }

    /// The mailbox a claimed mail goes out through; `None` when it was deleted.
    pub async fn outbox_mailbox(&self, job: &OutboxJob) -> Result<Option<MailboxConfig>> {
        self.mailbox_config_by_id(&job.mailbox_id).await
    }

    /// The mail went out: the row and the thread say `sent`.
    pub async fn mail_sent(&self, job: &OutboxJob) -> Result<()> {
        self.mail_outcome(job, "sent", None, None).await
    }

    /// The attempt failed: `permanent` (or too many attempts) makes it `failed`, else
    /// it is due again after the backoff and the thread stays `queued` with the reason.
    pub async fn mail_failed(&self, job: &OutboxJob, error: &str, permanent: bool) -> Result<()> {
        if permanent || job.attempts >= MAX_ATTEMPTS {
            self.mail_outcome(job, "failed", Some(error), None).await
        } else {
            let at = self.clock.now_ms() + backoff_ms(job.attempts);
            self.mail_outcome(job, "pending", Some(error), Some(at))
                .await
        }
    }

    async fn mail_outcome(
        &self,
        job: &OutboxJob,
        state: &str,
        error: Option<&str>,
        next_at: Option<i64>,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        let error = error.map(|e| clip(e, 1000));
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "update desk_mail_outbox set state = $1, last_error = $2, locked_until = 0, \
             next_attempt_at = coalesce($3, next_attempt_at), updated_at = $4 where id = $5",
        )
        .bind(state)
        .bind(&error)
        .bind(next_at)
        .bind(now)
        .bind(&job.id)
        .execute(tx.conn())
        .await?;
        if let Some(thread_id) = &job.thread_id {
            let shown = if state == "pending" { "queued" } else { state };
            sqlx::query(
                "update desk_threads set delivery_state = $1, delivery_error = $2, delivery_attempts = $3, \
                 updated_at = $4 where id = $5 and delivery_state <> 'failed'",
            )
            .bind(shown)
            .bind(&error)
            .bind(job.attempts)
            .bind(now)
            .bind(thread_id)
            .execute(tx.conn())
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Counts of outgoing mails by state (metrics, tests).
    pub async fn mail_outbox_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "select state, count(*) as n from desk_mail_outbox group by state order by state",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
            .collect()
    }

    /// An attachment of a ticket's thread with its bytes; 404 `not_found`.
    pub async fn attachment(
        &self,
        member: &Member,
        ticket_id: &str,
        attachment_id: &str,
    ) -> Result<AttachmentFile> {
        use base64::Engine;
        let row = sqlx::query(
            "select name, content_type, data_base64 from desk_thread_attachments \
             where portal_id = $1 and ticket_id = $2 and id = $3",
        )
        .bind(&member.portal_id)
        .bind(ticket_id)
        .bind(attachment_id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(Error::not_found)?;
        let data: String = row.try_get("data_base64")?;
        Ok(AttachmentFile {
            name: row.try_get("name")?,
            content_type: row.try_get("content_type")?,
            data: base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| Error::internal(anyhow::Error::new(e)))?,
        })
    }
}

/// Where a reply on a ticket goes.
enum Route {
    Mail {
        mailbox: Box<MailboxConfig>,
        to_address: String,
        to_name: Option<String>,
        ticket_number: i64,
        subject: String,
    },
    NoEmail,
    NoMailbox,
}

/// The contact's address and the mailbox of a reply (API.md: the mailbox the ticket's
/// mail came through, else the ticket department's, else the portal's first).
async fn reply_route(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    ticket_id: &str,
) -> Result<Route> {
    let row = sqlx::query(
        "select t.ticket_number, t.subject, t.department_id, c.email, c.first_name, c.last_name \
         from desk_tickets t left join desk_contacts c on c.id = t.contact_id \
         where t.portal_id = $1 and t.id = $2",
    )
    .bind(portal_id)
    .bind(ticket_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(Error::not_found)?;
    let Some(email) = row
        .try_get::<Option<String>, _>("email")?
        .filter(|e| !e.is_empty())
    else {
        return Ok(Route::NoEmail);
    };
    let department: String = row.try_get("department_id")?;
    let last: Option<String> = row.try_get("last_name")?;
    let first: Option<String> = row.try_get("first_name")?;
    let to_name = last.map(|l| crate::contacts::full_name(first.as_deref(), &l));
    let chosen = sqlx::query(
        "select id from (\
           select m.id, 0 as rank, 0 as at from desk_mailboxes m where m.portal_id = $1 and m.id = \
             (select th.mailbox_id from desk_threads th where th.ticket_id = $2 and th.direction = 'in' \
              and th.mailbox_id is not null order by th.created_at desc limit 1) \
           union all select m.id, 1 as rank, m.created_at as at from desk_mailboxes m where m.portal_id = $3 and m.department_id = $4 \
           union all select m.id, 2 as rank, m.created_at as at from desk_mailboxes m where m.portal_id = $5\
         ) x order by rank, at limit 1",
    )
    .bind(portal_id)
    .bind(ticket_id)
    .bind(portal_id)
    .bind(&department)
    .bind(portal_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(chosen) = chosen else {
        return Ok(Route::NoMailbox);
    };
    let id: String = chosen.try_get("id")?;
    let mailbox = store::config_one(&mut *conn, &id).await?;
    Ok(Route::Mail {
        mailbox: Box::new(mailbox),
        to_address: email,
        to_name,
        ticket_number: row_number(&mut *conn, portal_id, ticket_id).await?,
        subject: sqlx::query("select subject from desk_tickets where id = $1")
            .bind(ticket_id)
            .fetch_one(&mut *conn)
            .await?
            .try_get("subject")?,
    })
}

async fn row_number(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    ticket_id: &str,
) -> Result<i64> {
    Ok(
        sqlx::query("select ticket_number from desk_tickets where portal_id = $1 and id = $2")
            .bind(portal_id)
            .bind(ticket_id)
            .fetch_one(conn)
            .await?
            .try_get("ticket_number")?,
    )
}

fn domain_of(address: &str) -> &str {
    address
        .rsplit_once('@')
        .map_or("madoguchi.invalid", |(_, d)| d)
}

async fn enqueue(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    mailbox_id: &str,
    idem_key: &str,
    thread_id: Option<&str>,
    mail: &OutgoingMail,
    now: i64,
) -> Result<()> {
    let message =
        serde_json::to_string(mail).map_err(|e| Error::internal(anyhow::Error::new(e)))?;
    sqlx::query(
        "insert into desk_mail_outbox (id, portal_id, mailbox_id, idem_key, thread_id, envelope_from, envelope_to, \
         message, state, attempts, next_attempt_at, locked_until, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, 0, $9, $9) on conflict (idem_key) do nothing",
    )
    .bind(new_id())
    .bind(portal_id)
    .bind(mailbox_id)
    .bind(idem_key)
    .bind(thread_id)
    .bind(&mail.from_address)
    .bind(&mail.to_address)
    .bind(message)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The contact with this email, or a new one named after the sender (the local part
/// when the mail gives no name). Answers its id; `None` when the address is unusable.
async fn find_or_create_contact(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    address: &str,
    name: Option<&str>,
    now: i64,
) -> Result<Option<String>> {
    let Ok(email) = madoguchi_core::identity::Email::parse("email", address) else {
        return Ok(None);
    };
    let row = sqlx::query("select id from desk_contacts where portal_id = $1 and email_lower = $2")
        .bind(portal_id)
        .bind(email.lower())
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(r) = row {
        return Ok(Some(r.try_get("id")?));
    }
    let last = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| clip(n, 100))
        .unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("").to_owned());
    let id = new_id();
    sqlx::query(
        "insert into desk_contacts (id, portal_id, first_name, last_name, email, email_lower, phone, \
         account_id, owner_id, created_at, updated_at, search_key) \
         values ($1, $2, null, $3, $4, $5, null, null, null, $6, $6, $7)",
    )
    .bind(&id)
    .bind(portal_id)
    .bind(&last)
    .bind(email.as_str())
    .bind(email.lower())
    .bind(now)
    .bind(crate::contacts::search_key(None, &last, Some(email.as_str()), None))
    .execute(&mut *conn)
    .await?;
    Ok(Some(id))
}
