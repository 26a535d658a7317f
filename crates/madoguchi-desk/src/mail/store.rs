//! SQL of the email channel: the mailboxes (their rows, fetch leases, status and
//! import cursor), the import (Message-IDs, inbound threads, attachments, bounces,
//! the sender's contact) and the outbox (reply routing, queued mails, claims and
//! outcomes).

use super::{
    AttachmentFile, Fields, ImapView, Mailbox, MailboxConfig, MailboxStatus, OutgoingMail,
    Security, SmtpView,
};
use madoguchi_core::ids::new_id;
use madoguchi_core::time::rfc3339;
use madoguchi_core::{Error, Result};
use sqlx::{AnyExecutor, Row};

pub(crate) const MAILBOX_COLUMNS: &str =
    "m.id, m.portal_id, p.portal_name, m.address, m.display_name, \
     m.department_id, m.acknowledge, m.imap_host, m.imap_port, m.imap_security, m.imap_username, \
     m.imap_password, m.imap_folder, m.smtp_host, m.smtp_port, m.smtp_security, m.smtp_username, \
     m.smtp_password, m.uid_validity, m.last_uid, m.state, m.last_error, m.last_fetch_at";

fn security_from_db(s: &str) -> Result<Security> {
    Security::parse(s)
        .ok_or_else(|| Error::internal(anyhow::anyhow!("unknown mail security {s:?}")))
}

pub(crate) fn config_from_row(row: &sqlx::any::AnyRow) -> Result<MailboxConfig> {
    Ok(MailboxConfig {
        id: row.try_get("id")?,
        portal_id: row.try_get("portal_id")?,
        portal_name: row.try_get("portal_name")?,
        address: row.try_get("address")?,
        display_name: row.try_get("display_name")?,
        department_id: row.try_get("department_id")?,
        acknowledge: row.try_get::<i64, _>("acknowledge")? == 1,
        imap: ImapView {
            host: row.try_get("imap_host")?,
            port: row.try_get("imap_port")?,
            security: security_from_db(&row.try_get::<String, _>("imap_security")?)?,
            username: row.try_get("imap_username")?,
            folder: row.try_get("imap_folder")?,
        },
        imap_password: row.try_get("imap_password")?,
        smtp: SmtpView {
            host: row.try_get("smtp_host")?,
            port: row.try_get("smtp_port")?,
            security: security_from_db(&row.try_get::<String, _>("smtp_security")?)?,
            username: row.try_get("smtp_username")?,
        },
        smtp_password: row.try_get("smtp_password")?,
        uid_validity: row.try_get("uid_validity")?,
        last_uid: row.try_get("last_uid")?,
    })
}

pub(crate) fn mailbox_from_row(row: &sqlx::any::AnyRow) -> Result<Mailbox> {
    let c = config_from_row(row)?;
    Ok(Mailbox {
        id: c.id,
        address: c.address,
        display_name: c.display_name,
        department_id: c.department_id,
        acknowledge: c.acknowledge,
        imap: c.imap,
        smtp: c.smtp,
        status: MailboxStatus {
            state: row.try_get("state")?,
            error: row.try_get("last_error")?,
            last_fetch_at: row.try_get::<Option<i64>, _>("last_fetch_at")?.map(rfc3339),
        },
    })
}

fn select(tail: &str) -> String {
    format!("select {MAILBOX_COLUMNS} from desk_mailboxes m join desk_portals p on p.id = m.portal_id {tail}")
}

/// The portal's mailbox `id` with its passwords.
pub(crate) async fn config(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    id: &str,
) -> Result<Option<MailboxConfig>> {
    let row = sqlx::query(&select("where m.portal_id = $1 and m.id = $2"))
        .bind(portal_id)
        .bind(id)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(config_from_row).transpose()
}

/// The portal's mailbox `id` as clients see it.
pub(crate) async fn get(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    id: &str,
) -> Result<Option<Mailbox>> {
    let row = sqlx::query(&select("where m.portal_id = $1 and m.id = $2"))
        .bind(portal_id)
        .bind(id)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(mailbox_from_row).transpose()
}

/// The portal's mailboxes, oldest first.
pub(crate) async fn list(e: impl AnyExecutor<'_>, portal_id: &str) -> Result<Vec<Mailbox>> {
    let rows = sqlx::query(&select(
        "where m.portal_id = $1 order by m.created_at, m.id",
    ))
    .bind(portal_id)
    .fetch_all(e)
    .await?;
    rows.iter().map(mailbox_from_row).collect()
}

/// Every mailbox of every portal, oldest first.
pub(crate) async fn all_configs(e: impl AnyExecutor<'_>) -> Result<Vec<MailboxConfig>> {
    let rows = sqlx::query(&select("order by m.created_at, m.id"))
        .fetch_all(e)
        .await?;
    rows.iter().map(config_from_row).collect()
}

/// A mailbox by id alone.
pub(crate) async fn config_by_id(
    e: impl AnyExecutor<'_>,
    id: &str,
) -> Result<Option<MailboxConfig>> {
    let row = sqlx::query(&select("where m.id = $1"))
        .bind(id)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(config_from_row).transpose()
}

/// A mailbox known to exist (an error when it does not).
pub(crate) async fn config_one(e: impl AnyExecutor<'_>, id: &str) -> Result<MailboxConfig> {
    let row = sqlx::query(&select("where m.id = $1"))
        .bind(id)
        .fetch_one(e)
        .await?;
    config_from_row(&row)
}

/// Inserts a mailbox; a taken address is a unique violation for the caller to map.
pub(crate) async fn insert(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    id: &str,
    f: &Fields,
    now: i64,
) -> std::result::Result<sqlx::any::AnyQueryResult, sqlx::Error> {
    sqlx::query(
        "insert into desk_mailboxes (id, portal_id, address, address_lower, display_name, department_id, \
         acknowledge, imap_host, imap_port, imap_security, imap_username, imap_password, imap_folder, \
         smtp_host, smtp_port, smtp_security, smtp_username, smtp_password, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19)",
    )
    .bind(id)
    .bind(portal_id)
    .bind(&f.address)
    .bind(f.address.to_lowercase())
    .bind(&f.display_name)
    .bind(&f.department_id)
    .bind(i64::from(f.acknowledge))
    .bind(&f.imap.host)
    .bind(f.imap.port)
    .bind(f.imap.security.as_str())
    .bind(&f.imap.username)
    .bind(&f.imap_password)
    .bind(&f.imap.folder)
    .bind(&f.smtp.host)
    .bind(f.smtp.port)
    .bind(f.smtp.security.as_str())
    .bind(&f.smtp.username)
    .bind(&f.smtp_password)
    .bind(now)
    .execute(e)
    .await
}

/// Writes every field; `moved` starts the import cursor again. A taken address is a
/// unique violation for the caller to map.
pub(crate) async fn update(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    id: &str,
    f: &Fields,
    moved: bool,
    now: i64,
) -> std::result::Result<sqlx::any::AnyQueryResult, sqlx::Error> {
    sqlx::query(
        "update desk_mailboxes set address = $1, address_lower = $2, display_name = $3, department_id = $4, \
         acknowledge = $5, imap_host = $6, imap_port = $7, imap_security = $8, imap_username = $9, \
         imap_password = $10, imap_folder = $11, smtp_host = $12, smtp_port = $13, smtp_security = $14, \
         smtp_username = $15, smtp_password = $16, updated_at = $17, \
         uid_validity = case when $18 = 1 then null else uid_validity end, \
         last_uid = case when $18 = 1 then 0 else last_uid end, state = 'pending', last_error = null \
         where portal_id = $19 and id = $20",
    )
    .bind(&f.address)
    .bind(f.address.to_lowercase())
    .bind(&f.display_name)
    .bind(&f.department_id)
    .bind(i64::from(f.acknowledge))
    .bind(&f.imap.host)
    .bind(f.imap.port)
    .bind(f.imap.security.as_str())
    .bind(&f.imap.username)
    .bind(&f.imap_password)
    .bind(&f.imap.folder)
    .bind(&f.smtp.host)
    .bind(f.smtp.port)
    .bind(f.smtp.security.as_str())
    .bind(&f.smtp.username)
    .bind(&f.smtp_password)
    .bind(now)
    .bind(i64::from(moved))
    .bind(portal_id)
    .bind(id)
    .execute(e)
    .await
}

pub(crate) async fn delete(e: impl AnyExecutor<'_>, portal_id: &str, id: &str) -> Result<()> {
    sqlx::query("delete from desk_mailboxes where portal_id = $1 and id = $2")
        .bind(portal_id)
        .bind(id)
        .execute(e)
        .await?;
    Ok(())
}

/// Gives the lease to `node` until `now + ttl_ms` unless another node holds it;
/// answers the rows changed (1 when `node` holds it).
pub(crate) async fn take_lease(
    e: impl AnyExecutor<'_>,
    id: &str,
    node: &str,
    now: i64,
    ttl_ms: i64,
) -> Result<u64> {
    let done = sqlx::query(
        "update desk_mailboxes set lease_owner = $1, lease_until = $2 \
         where id = $3 and (lease_owner = $4 or lease_until <= $5 or lease_owner is null)",
    )
    .bind(node)
    .bind(now + ttl_ms)
    .bind(id)
    .bind(node)
    .bind(now)
    .execute(e)
    .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn release_lease(e: impl AnyExecutor<'_>, id: &str, node: &str) -> Result<()> {
    sqlx::query(
        "update desk_mailboxes set lease_owner = null, lease_until = 0 where id = $1 and lease_owner = $2",
    )
    .bind(id)
    .bind(node)
    .execute(e)
    .await?;
    Ok(())
}

/// The node whose lease runs past `now`.
pub(crate) async fn lease_owner(
    e: impl AnyExecutor<'_>,
    id: &str,
    now: i64,
) -> Result<Option<String>> {
    let row =
        sqlx::query("select lease_owner from desk_mailboxes where id = $1 and lease_until > $2")
            .bind(id)
            .bind(now)
            .fetch_optional(e)
            .await?;
    Ok(match row {
        Some(r) => r.try_get("lease_owner")?,
        None => None,
    })
}

/// `error` none is a good fetch at `now`.
pub(crate) async fn set_status(
    e: impl AnyExecutor<'_>,
    id: &str,
    error: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "update desk_mailboxes set state = $1, last_error = $2, \
         last_fetch_at = case when $3 = 1 then $4 else last_fetch_at end where id = $5",
    )
    .bind(if error.is_some() { "error" } else { "ok" })
    .bind(error)
    .bind(i64::from(error.is_none()))
    .bind(now)
    .bind(id)
    .execute(e)
    .await?;
    Ok(())
}

/// Starts the cursor again unless it already counts under `uid_validity`.
pub(crate) async fn reset_cursor(
    e: impl AnyExecutor<'_>,
    id: &str,
    uid_validity: i64,
) -> Result<()> {
    sqlx::query(
        "update desk_mailboxes set uid_validity = $1, last_uid = 0 where id = $2 \
         and (uid_validity is null or uid_validity <> $3)",
    )
    .bind(uid_validity)
    .bind(id)
    .bind(uid_validity)
    .execute(e)
    .await?;
    Ok(())
}

// The import.

/// Moves the cursor to `uid` unless it is already there or past it; answers the rows
/// changed (0 when the UID was imported before).
pub(crate) async fn advance_cursor(e: impl AnyExecutor<'_>, id: &str, uid: i64) -> Result<u64> {
    let done =
        sqlx::query("update desk_mailboxes set last_uid = $1 where id = $2 and last_uid < $3")
            .bind(uid)
            .bind(id)
            .bind(uid)
            .execute(e)
            .await?;
    Ok(done.rows_affected())
}

/// The ticket a Message-ID (either direction) belongs to.
pub(crate) async fn ticket_of_message_id(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    message_id: &str,
) -> Result<Option<String>> {
    let row = sqlx::query(
        "select ticket_id from desk_mail_message_ids where portal_id = $1 and message_id = $2",
    )
    .bind(portal_id)
    .bind(message_id)
    .fetch_optional(e)
    .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("ticket_id")?),
        None => None,
    })
}

/// The reply thread of one of our outgoing Message-IDs (an acknowledgement has none).
pub(crate) async fn thread_of_sent_message_id(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    message_id: &str,
) -> Result<Option<String>> {
    let row = sqlx::query(
        "select thread_id from desk_mail_message_ids where portal_id = $1 and message_id = $2 \
         and direction = 'out'",
    )
    .bind(portal_id)
    .bind(message_id)
    .fetch_optional(e)
    .await?;
    Ok(row.and_then(|r| r.try_get::<Option<String>, _>("thread_id").ok().flatten()))
}

/// A delivery report came back for the reply `thread_id`: the thread and its outbox
/// row say `failed` with `reason`.
pub(crate) async fn mark_bounced(
    conn: &mut sqlx::AnyConnection,
    thread_id: &str,
    reason: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "update desk_threads set delivery_state = 'failed', delivery_error = $1, updated_at = $2 \
         where id = $3",
    )
    .bind(reason)
    .bind(now)
    .bind(thread_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "update desk_mail_outbox set state = 'failed', last_error = $1, updated_at = $2 \
         where thread_id = $3",
    )
    .bind(reason)
    .bind(now)
    .bind(thread_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The portal's ticket with this number.
pub(crate) async fn ticket_by_number(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    number: i64,
) -> Result<Option<String>> {
    let row =
        sqlx::query("select id from desk_tickets where portal_id = $1 and ticket_number = $2")
            .bind(portal_id)
            .bind(number)
            .fetch_optional(e)
            .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("id")?),
        None => None,
    })
}

/// An imported mail's thread, its fields already clipped to the columns.
pub(crate) struct InboundThread<'a> {
    pub id: &'a str,
    pub portal_id: &'a str,
    pub ticket_id: &'a str,
    pub content: &'a str,
    pub author_name: &'a str,
    pub mail_from: &'a str,
    pub mail_to: &'a str,
    pub subject: &'a str,
    pub message_id: &'a str,
    pub mailbox_id: &'a str,
    pub quoted: Option<&'a str>,
}

pub(crate) async fn insert_inbound_thread(
    e: impl AnyExecutor<'_>,
    t: &InboundThread<'_>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into desk_threads (id, portal_id, ticket_id, kind, content, author_id, author_name, chat_id, \
         created_at, updated_at, direction, mail_from, mail_to, mail_subject, message_id, mailbox_id, quoted) \
         values ($1, $2, $3, 'email', $4, null, $5, null, $6, $6, 'in', $7, $8, $9, $10, $11, $12)",
    )
    .bind(t.id)
    .bind(t.portal_id)
    .bind(t.ticket_id)
    .bind(t.content)
    .bind(t.author_name)
    .bind(now)
    .bind(t.mail_from)
    .bind(t.mail_to)
    .bind(t.subject)
    .bind(t.message_id)
    .bind(t.mailbox_id)
    .bind(t.quoted)
    .execute(e)
    .await?;
    Ok(())
}

/// Which way a recorded Message-ID went (`desk_mail_message_ids.direction`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Direction {
    /// An imported mail.
    In,
    /// A reply sent from a ticket.
    Out,
}

/// The Message-ID of a thread, so later mail threads onto its ticket.
pub(crate) async fn record_message_id(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    message_id: &str,
    ticket_id: &str,
    thread_id: &str,
    direction: Direction,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into desk_mail_message_ids (portal_id, message_id, ticket_id, thread_id, direction, created_at) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(portal_id)
    .bind(message_id)
    .bind(ticket_id)
    .bind(thread_id)
    .bind(match direction {
        Direction::In => "in",
        Direction::Out => "out",
    })
    .bind(now)
    .execute(e)
    .await?;
    Ok(())
}

/// Stores an attachment of an imported thread (the bytes as base64).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_attachment(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    ticket_id: &str,
    thread_id: &str,
    name: &str,
    content_type: &str,
    data: &[u8],
    now: i64,
) -> Result<()> {
    use base64::Engine;
    sqlx::query(
        "insert into desk_thread_attachments (id, portal_id, ticket_id, thread_id, name, content_type, \
         size, data_base64, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_id())
    .bind(portal_id)
    .bind(ticket_id)
    .bind(thread_id)
    .bind(name)
    .bind(content_type)
    .bind(data.len() as i64)
    .bind(base64::engine::general_purpose::STANDARD.encode(data))
    .bind(now)
    .execute(e)
    .await?;
    Ok(())
}

/// The Message-ID of an acknowledgement (no thread), kept once.
pub(crate) async fn record_ack_message_id(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    message_id: &str,
    ticket_id: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into desk_mail_message_ids (portal_id, message_id, ticket_id, thread_id, direction, created_at) \
         values ($1, $2, $3, null, 'out', $4) on conflict (portal_id, message_id) do nothing",
    )
    .bind(portal_id)
    .bind(message_id)
    .bind(ticket_id)
    .bind(now)
    .execute(e)
    .await?;
    Ok(())
}

/// The portal's contact with this lowercased email.
pub(crate) async fn contact_by_email_lower(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    email_lower: &str,
) -> Result<Option<String>> {
    let row = sqlx::query("select id from desk_contacts where portal_id = $1 and email_lower = $2")
        .bind(portal_id)
        .bind(email_lower)
        .fetch_optional(e)
        .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("id")?),
        None => None,
    })
}

/// A contact made for a mail's sender: a last name and an email, nothing else.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_sender_contact(
    e: impl AnyExecutor<'_>,
    id: &str,
    portal_id: &str,
    last_name: &str,
    email: &str,
    email_lower: &str,
    search_key: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into desk_contacts (id, portal_id, first_name, last_name, email, email_lower, phone, \
         account_id, owner_id, created_at, updated_at, search_key) \
         values ($1, $2, null, $3, $4, $5, null, null, null, $6, $6, $7)",
    )
    .bind(id)
    .bind(portal_id)
    .bind(last_name)
    .bind(email)
    .bind(email_lower)
    .bind(now)
    .bind(search_key)
    .execute(e)
    .await?;
    Ok(())
}

// The outbox.

/// Queues `mail` once per `idem_key` (a second time is no change).
pub(crate) async fn enqueue(
    e: impl AnyExecutor<'_>,
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
    .execute(e)
    .await?;
    Ok(())
}

/// What a reply's route needs of its ticket and contact.
pub(crate) struct RouteTicket {
    pub department_id: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

pub(crate) async fn route_ticket(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    ticket_id: &str,
) -> Result<Option<RouteTicket>> {
    let row = sqlx::query(
        "select t.ticket_number, t.subject, t.department_id, c.email, c.first_name, c.last_name \
         from desk_tickets t left join desk_contacts c on c.id = t.contact_id \
         where t.portal_id = $1 and t.id = $2",
    )
    .bind(portal_id)
    .bind(ticket_id)
    .fetch_optional(e)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(RouteTicket {
        email: row.try_get("email")?,
        department_id: row.try_get("department_id")?,
        last_name: row.try_get("last_name")?,
        first_name: row.try_get("first_name")?,
    }))
}

/// The mailbox a reply goes out through: the one the ticket's latest mail came
/// through, else the first of the department's, else the portal's first.
pub(crate) async fn reply_mailbox_id(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    ticket_id: &str,
    department_id: &str,
) -> Result<Option<String>> {
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
    .bind(department_id)
    .bind(portal_id)
    .fetch_optional(e)
    .await?;
    Ok(match chosen {
        Some(r) => Some(r.try_get("id")?),
        None => None,
    })
}

pub(crate) async fn ticket_number(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    ticket_id: &str,
) -> Result<i64> {
    Ok(
        sqlx::query("select ticket_number from desk_tickets where portal_id = $1 and id = $2")
            .bind(portal_id)
            .bind(ticket_id)
            .fetch_one(e)
            .await?
            .try_get("ticket_number")?,
    )
}

pub(crate) async fn ticket_subject(e: impl AnyExecutor<'_>, ticket_id: &str) -> Result<String> {
    Ok(
        sqlx::query("select subject from desk_tickets where id = $1")
            .bind(ticket_id)
            .fetch_one(e)
            .await?
            .try_get("subject")?,
    )
}

/// The Message-IDs of a ticket's mails, oldest first.
pub(crate) async fn ticket_message_ids(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    ticket_id: &str,
) -> Result<Vec<String>> {
    let ids = sqlx::query(
        "select message_id from desk_mail_message_ids where portal_id = $1 and ticket_id = $2 \
         order by created_at, message_id",
    )
    .bind(portal_id)
    .bind(ticket_id)
    .fetch_all(e)
    .await?;
    Ok(ids
        .iter()
        .filter_map(|r| r.try_get::<String, _>("message_id").ok())
        .collect())
}

/// The mail fields of a reply thread about to be mailed; its delivery starts `queued`.
pub(crate) struct ReplyMail<'a> {
    pub mail_from: &'a str,
    pub mail_to: &'a str,
    pub subject: &'a str,
    pub message_id: &'a str,
    pub mailbox_id: &'a str,
}

pub(crate) async fn set_reply_mail(
    e: impl AnyExecutor<'_>,
    thread_id: &str,
    m: &ReplyMail<'_>,
) -> Result<()> {
    sqlx::query(
        "update desk_threads set direction = 'out', mail_from = $1, mail_to = $2, mail_subject = $3, \
         message_id = $4, mailbox_id = $5, delivery_state = 'queued', delivery_attempts = 0 where id = $6",
    )
    .bind(m.mail_from)
    .bind(m.mail_to)
    .bind(m.subject)
    .bind(m.message_id)
    .bind(m.mailbox_id)
    .bind(thread_id)
    .execute(e)
    .await?;
    Ok(())
}

/// Makes the failed outbox row of a ticket's thread due now with no attempts; answers
/// the rows changed (0 when there is no such failed mail).
pub(crate) async fn requeue_failed(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    ticket_id: &str,
    thread_id: &str,
    now: i64,
) -> Result<u64> {
    let done = sqlx::query(
        "update desk_mail_outbox set state = 'pending', attempts = 0, next_attempt_at = $1, locked_until = 0, \
         updated_at = $2 where portal_id = $3 and thread_id = $4 and state = 'failed' \
         and thread_id in (select id from desk_threads where ticket_id = $5)",
    )
    .bind(now)
    .bind(now)
    .bind(portal_id)
    .bind(thread_id)
    .bind(ticket_id)
    .execute(e)
    .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn thread_requeued(e: impl AnyExecutor<'_>, thread_id: &str) -> Result<()> {
    sqlx::query(
        "update desk_threads set delivery_state = 'queued', delivery_error = null, delivery_attempts = 0 \
         where id = $1",
    )
    .bind(thread_id)
    .execute(e)
    .await?;
    Ok(())
}

/// An outbox row that is due, as read before its claim.
pub(crate) struct DueMail {
    pub id: String,
    pub portal_id: String,
    pub mailbox_id: String,
    pub thread_id: Option<String>,
    /// The [`OutgoingMail`] as JSON.
    pub message: String,
    pub attempts: i64,
}

/// Up to `limit` pending rows due at `now` and not claimed, the longest due first.
pub(crate) async fn due_mail(
    e: impl AnyExecutor<'_>,
    now: i64,
    limit: i64,
) -> Result<Vec<DueMail>> {
    let rows = sqlx::query(
        "select id, portal_id, mailbox_id, thread_id, message, attempts from desk_mail_outbox \
         where state = 'pending' and next_attempt_at <= $1 and locked_until <= $2 \
         order by next_attempt_at, created_at limit $3",
    )
    .bind(now)
    .bind(now)
    .bind(limit)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(DueMail {
                id: row.try_get("id")?,
                portal_id: row.try_get("portal_id")?,
                mailbox_id: row.try_get("mailbox_id")?,
                thread_id: row.try_get("thread_id")?,
                message: row.try_get("message")?,
                attempts: row.try_get("attempts")?,
            })
        })
        .collect()
}

/// Claims the row `id` until `until`, counting an attempt, unless it is no longer
/// pending or another sender holds it; answers the rows changed.
pub(crate) async fn claim(e: impl AnyExecutor<'_>, id: &str, until: i64, now: i64) -> Result<u64> {
    let claimed = sqlx::query(
        "update desk_mail_outbox set locked_until = $1, attempts = attempts + 1, updated_at = $2 \
         where id = $3 and state = 'pending' and locked_until <= $4",
    )
    .bind(until)
    .bind(now)
    .bind(id)
    .bind(now)
    .execute(e)
    .await?;
    Ok(claimed.rows_affected())
}

/// The outcome of an attempt on the row `id`; `next_at` none keeps its due time.
pub(crate) async fn set_outbox_outcome(
    e: impl AnyExecutor<'_>,
    id: &str,
    state: &str,
    error: Option<&str>,
    next_at: Option<i64>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "update desk_mail_outbox set state = $1, last_error = $2, locked_until = 0, \
         next_attempt_at = coalesce($3, next_attempt_at), updated_at = $4 where id = $5",
    )
    .bind(state)
    .bind(error)
    .bind(next_at)
    .bind(now)
    .bind(id)
    .execute(e)
    .await?;
    Ok(())
}

/// The delivery a reply thread shows, unless a bounce already made it `failed`.
pub(crate) async fn set_thread_delivery(
    e: impl AnyExecutor<'_>,
    thread_id: &str,
    state: &str,
    error: Option<&str>,
    attempts: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "update desk_threads set delivery_state = $1, delivery_error = $2, delivery_attempts = $3, \
         updated_at = $4 where id = $5 and delivery_state <> 'failed'",
    )
    .bind(state)
    .bind(error)
    .bind(attempts)
    .bind(now)
    .bind(thread_id)
    .execute(e)
    .await?;
    Ok(())
}

pub(crate) async fn outbox_counts(e: impl AnyExecutor<'_>) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "select state, count(*) as n from desk_mail_outbox group by state order by state",
    )
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
        .collect()
}

/// A thread attachment of the portal's ticket, with its bytes decoded.
pub(crate) async fn attachment(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    ticket_id: &str,
    id: &str,
) -> Result<Option<AttachmentFile>> {
    use base64::Engine;
    let row = sqlx::query(
        "select name, content_type, data_base64 from desk_thread_attachments \
         where portal_id = $1 and ticket_id = $2 and id = $3",
    )
    .bind(portal_id)
    .bind(ticket_id)
    .bind(id)
    .fetch_optional(e)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let data: String = row.try_get("data_base64")?;
    Ok(Some(AttachmentFile {
        name: row.try_get("name")?,
        content_type: row.try_get("content_type")?,
        data: base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| Error::internal(anyhow::Error::new(e)))?,
    }))
}
