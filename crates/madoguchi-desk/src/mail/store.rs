//! SQL of the email channel's mailboxes: their rows, fetch leases, status and
//! import cursor.

use super::{Fields, ImapView, Mailbox, MailboxConfig, MailboxStatus, Security, SmtpView};
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
