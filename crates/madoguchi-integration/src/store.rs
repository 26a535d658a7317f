//! SQL of the integration's tables (`integ_*`). Services decide; this file only reads
//! and writes rows.

use crate::desk_client::DeskAuth;
use crate::model::{AutoTicket, DeptMode, TicketStatusSetting, ViewScope};
use madoguchi_chat::{AutoTicketStatus, ChatLinks};
use madoguchi_core::ids::ChatId;
use madoguchi_core::{Db, Error, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

/// A Chat portal's integration row.
#[derive(Debug, Clone)]
pub struct PortalRow {
    pub chat_portal_id: String,
    pub desk_portal_name: Option<String>,
    pub admin_email: Option<String>,
    pub service_key: Option<String>,
    pub enabled: bool,
    pub auto_ticket: AutoTicket,
    pub ticket_status: TicketStatusSetting,
    pub view_scope: ViewScope,
}

impl PortalRow {
    pub fn unlinked(chat_portal_id: &str) -> Self {
        Self {
            chat_portal_id: chat_portal_id.to_owned(),
            desk_portal_name: None,
            admin_email: None,
            service_key: None,
            enabled: false,
            auto_ticket: AutoTicket::All,
            ticket_status: TicketStatusSetting::Open,
            view_scope: ViewScope::All,
        }
    }

    /// The link's credentials, when linked.
    pub fn auth(&self) -> Option<DeskAuth> {
        Some(DeskAuth {
            portal: self.desk_portal_name.clone()?.into(),
            admin_email: self.admin_email.clone()?,
            service_key: self.service_key.clone()?,
            acting: None,
        })
    }

    pub fn is_linked(&self) -> bool {
        self.desk_portal_name.is_some()
    }
}

fn portal_from_row(row: &AnyRow) -> Result<PortalRow> {
    let auto: String = row.try_get("auto_ticket")?;
    let status: String = row.try_get("ticket_status")?;
    let scope: String = row.try_get("view_scope")?;
    Ok(PortalRow {
        chat_portal_id: row.try_get("chat_portal_id")?,
        desk_portal_name: row.try_get("desk_portal_name")?,
        admin_email: row.try_get("admin_email")?,
        service_key: row.try_get("service_key")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        auto_ticket: AutoTicket::parse(&auto).unwrap_or(AutoTicket::All),
        ticket_status: TicketStatusSetting::parse(&status).unwrap_or(TicketStatusSetting::Open),
        view_scope: ViewScope::parse(&scope).unwrap_or(ViewScope::All),
    })
}

const PORTAL_COLUMNS: &str =
    "chat_portal_id, desk_portal_name, admin_email, service_key, enabled, \
     auto_ticket, ticket_status, view_scope";

pub async fn portal(db: &Db, chat_portal_id: &str) -> Result<PortalRow> {
    let row = sqlx::query(&format!(
        "select {PORTAL_COLUMNS} from integ_portals where chat_portal_id = $1"
    ))
    .bind(chat_portal_id)
    .fetch_optional(db.pool())
    .await?;
    match row {
        Some(row) => portal_from_row(&row),
        None => Ok(PortalRow::unlinked(chat_portal_id)),
    }
}

/// Makes sure the portal has its row (settings default).
pub async fn ensure_portal(conn: &mut AnyConnection, chat_portal_id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "insert into integ_portals (chat_portal_id, enabled, auto_ticket, ticket_status, view_scope, created_at, updated_at) \
         values ($1, 0, 'all', 'Open', 'all', $2, $2) on conflict (chat_portal_id) do nothing",
    )
    .bind(chat_portal_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn save_link(
    conn: &mut AnyConnection,
    chat_portal_id: &str,
    auth: &DeskAuth,
    linked_by: &str,
    enabled: bool,
    now: i64,
) -> Result<()> {
    ensure_portal(&mut *conn, chat_portal_id, now).await?;
    sqlx::query(
        "update integ_portals set desk_portal_name = $1, admin_email = $2, service_key = $3, \
         linked_by = $4, enabled = $5, updated_at = $6 where chat_portal_id = $7",
    )
    .bind(&auth.portal)
    .bind(&auth.admin_email)
    .bind(&auth.service_key)
    .bind(linked_by)
    .bind(i64::from(enabled))
    .bind(now)
    .bind(chat_portal_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_enabled(db: &Db, chat_portal_id: &str, enabled: bool, now: i64) -> Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query("update integ_portals set enabled = $1, updated_at = $2 where chat_portal_id = $3")
        .bind(i64::from(enabled))
        .bind(now)
        .bind(chat_portal_id)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn save_settings(
    db: &Db,
    chat_portal_id: &str,
    auto_ticket: AutoTicket,
    ticket_status: TicketStatusSetting,
    view_scope: ViewScope,
    now: i64,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    ensure_portal(tx.conn(), chat_portal_id, now).await?;
    sqlx::query(
        "update integ_portals set auto_ticket = $1, ticket_status = $2, view_scope = $3, updated_at = $4 \
         where chat_portal_id = $5",
    )
    .bind(auto_ticket.as_str())
    .bind(ticket_status.as_str())
    .bind(view_scope.as_str())
    .bind(now)
    .bind(chat_portal_id)
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

/// A department mapping row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRow {
    pub chat_department_id: String,
    pub mode: DeptMode,
    pub desk_department_id: Option<madoguchi_core::ids::DepartmentId>,
    pub auto_associated: bool,
}

impl MappingRow {
    pub fn choose(chat_department_id: &str) -> Self {
        Self {
            chat_department_id: chat_department_id.to_owned(),
            mode: DeptMode::Choose,
            desk_department_id: None,
            auto_associated: false,
        }
    }
}

fn mapping_from_row(row: &AnyRow) -> Result<MappingRow> {
    let mode: String = row.try_get("mode")?;
    Ok(MappingRow {
        chat_department_id: row.try_get("chat_department_id")?,
        mode: DeptMode::from_db(&mode)?,
        desk_department_id: row.try_get("desk_department_id")?,
        auto_associated: row.try_get::<i64, _>("auto_associated")? != 0,
    })
}

pub async fn mappings(db: &Db, chat_portal_id: &str) -> Result<Vec<MappingRow>> {
    let rows = sqlx::query(
        "select chat_department_id, mode, desk_department_id, auto_associated \
         from integ_department_mappings where chat_portal_id = $1",
    )
    .bind(chat_portal_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(mapping_from_row).collect()
}

pub async fn mapping(
    db: &Db,
    chat_portal_id: &str,
    chat_department_id: &str,
) -> Result<Option<MappingRow>> {
    let row = sqlx::query(
        "select chat_department_id, mode, desk_department_id, auto_associated \
         from integ_department_mappings where chat_portal_id = $1 and chat_department_id = $2",
    )
    .bind(chat_portal_id)
    .bind(chat_department_id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(mapping_from_row).transpose()
}

pub async fn save_mapping(
    conn: &mut AnyConnection,
    chat_portal_id: &str,
    m: &MappingRow,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into integ_department_mappings \
         (chat_portal_id, chat_department_id, mode, desk_department_id, auto_associated, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $6) \
         on conflict (chat_portal_id, chat_department_id) do update set \
         mode = excluded.mode, desk_department_id = excluded.desk_department_id, \
         auto_associated = excluded.auto_associated, updated_at = excluded.updated_at",
    )
    .bind(chat_portal_id)
    .bind(&m.chat_department_id)
    .bind(m.mode.as_str())
    .bind(&m.desk_department_id)
    .bind(i64::from(m.auto_associated))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn clear_mappings(conn: &mut AnyConnection, chat_portal_id: &str) -> Result<()> {
    sqlx::query("delete from integ_department_mappings where chat_portal_id = $1")
        .bind(chat_portal_id)
        .execute(conn)
        .await?;
    Ok(())
}

// ---- chat ↔ ticket links -------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct ChatTicket {
    pub chat_id: String,
    pub ticket_id: String,
    pub chat_portal_id: String,
    pub desk_portal_name: String,
    pub origin: String,
    pub synced_seq: i64,
}

fn chat_ticket_from_row(row: &AnyRow) -> Result<ChatTicket> {
    Ok(ChatTicket {
        chat_id: row.try_get("chat_id")?,
        ticket_id: row.try_get("ticket_id")?,
        chat_portal_id: row.try_get("chat_portal_id")?,
        desk_portal_name: row.try_get("desk_portal_name")?,
        origin: row.try_get("origin")?,
        synced_seq: row.try_get("synced_seq")?,
    })
}

const CHAT_TICKET_COLUMNS: &str =
    "chat_id, ticket_id, chat_portal_id, desk_portal_name, origin, synced_seq";

pub async fn chat_tickets(db: &Db, chat_id: &str) -> Result<Vec<ChatTicket>> {
    let rows = sqlx::query(&format!(
        "select {CHAT_TICKET_COLUMNS} from integ_chat_tickets where chat_id = $1 order by created_at, ticket_id"
    ))
    .bind(chat_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(chat_ticket_from_row).collect()
}

/// Links whose chat may still receive messages.
pub async fn open_chat_tickets(db: &Db, limit: i64) -> Result<Vec<ChatTicket>> {
    let rows = sqlx::query(&format!(
        "select {CHAT_TICKET_COLUMNS} from integ_chat_tickets where closed = 0 order by updated_at limit $1"
    ))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(chat_ticket_from_row).collect()
}

pub async fn mark_synced(
    db: &Db,
    chat_id: &str,
    ticket_id: &str,
    synced_seq: i64,
    closed: bool,
    now: i64,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "update integ_chat_tickets set synced_seq = case when synced_seq > $1 then synced_seq else $1 end, \
         closed = $2, updated_at = $3 where chat_id = $4 and ticket_id = $5",
    )
    .bind(synced_seq)
    .bind(i64::from(closed))
    .bind(now)
    .bind(chat_id)
    .bind(ticket_id)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Records a chat's ticket in one write: the link, the conversion claim's ticket (when
/// the chat was converted, by hand or automatically) and, for an automatic one, its
/// state. Idempotent, so a retry after a crash records the same ticket once.
pub async fn record_ticket(conn: &mut AnyConnection, link: &ChatTicket, now: i64) -> Result<()> {
    sqlx::query(
        "insert into integ_chat_tickets \
         (chat_id, ticket_id, chat_portal_id, desk_portal_name, origin, synced_seq, closed, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, 0, $7, $7) on conflict (chat_id, ticket_id) do nothing",
    )
    .bind(&link.chat_id)
    .bind(&link.ticket_id)
    .bind(&link.chat_portal_id)
    .bind(&link.desk_portal_name)
    .bind(&link.origin)
    .bind(link.synced_seq)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if link.origin != "associate" {
        sqlx::query(
            "update integ_conversions set ticket_id = $1, updated_at = $2 where chat_id = $3 and ticket_id is null",
        )
        .bind(&link.ticket_id)
        .bind(now)
        .bind(&link.chat_id)
        .execute(&mut *conn)
        .await?;
    }
    if link.origin == "auto" {
        set_auto_ticket(
            conn,
            &link.chat_id,
            &link.chat_portal_id,
            AutoTicketStatus::Created,
            None,
            now,
        )
        .await?;
    }
    Ok(())
}

/// What became of a chat's automatic ticket (I7, I18); `reason` is a catalog key.
pub async fn set_auto_ticket(
    conn: &mut AnyConnection,
    chat_id: &str,
    chat_portal_id: &str,
    status: AutoTicketStatus,
    reason: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into integ_auto_tickets (chat_id, chat_portal_id, status, reason, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $5) \
         on conflict (chat_id) do update set status = excluded.status, reason = excluded.reason, \
         updated_at = excluded.updated_at",
    )
    .bind(chat_id)
    .bind(chat_portal_id)
    .bind(status.as_str())
    .bind(reason)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The integration's part of chats being read: linked tickets (oldest link first) and
/// the automatic ticket's state, for each of `chat_ids` that has any.
pub async fn chat_links(db: &Db, chat_ids: &[ChatId]) -> Result<HashMap<ChatId, ChatLinks>> {
    let mut out: HashMap<ChatId, ChatLinks> = HashMap::new();
    if chat_ids.is_empty() {
        return Ok(out);
    }
    let list = db.backend().placeholders(1, chat_ids.len());
    let sql = format!(
        "select chat_id, ticket_id from integ_chat_tickets where chat_id in ({list}) \
         order by created_at, ticket_id"
    );
    let mut q = sqlx::query(&sql);
    for id in chat_ids {
        q = q.bind(id.as_str());
    }
    for r in q.fetch_all(db.pool()).await? {
        out.entry(r.try_get::<ChatId, _>("chat_id")?)
            .or_default()
            .desk_ticket_ids
            .push(r.try_get("ticket_id")?);
    }
    let sql =
        format!("select chat_id, status, reason from integ_auto_tickets where chat_id in ({list})");
    let mut q = sqlx::query(&sql);
    for id in chat_ids {
        q = q.bind(id.as_str());
    }
    for r in q.fetch_all(db.pool()).await? {
        let status: String = r.try_get("status")?;
        out.entry(r.try_get::<ChatId, _>("chat_id")?)
            .or_default()
            .auto_ticket = madoguchi_chat::AutoTicket {
            status: AutoTicketStatus::parse(&status).unwrap_or(AutoTicketStatus::None),
            reason: r.try_get("reason")?,
        };
    }
    Ok(out)
}

// ---- conversions ---------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    pub origin: String,
    pub ticket_id: Option<String>,
}

/// Claims the one conversion of a chat. Answers the claim that holds (ours, or an
/// earlier one).
pub async fn claim_conversion(
    conn: &mut AnyConnection,
    chat_id: &str,
    chat_portal_id: &str,
    origin: &str,
    now: i64,
) -> Result<(bool, Conversion)> {
    let done = sqlx::query(
        "insert into integ_conversions (chat_id, chat_portal_id, origin, ticket_id, created_at, updated_at) \
         values ($1, $2, $3, null, $4, $4) on conflict (chat_id) do nothing",
    )
    .bind(chat_id)
    .bind(chat_portal_id)
    .bind(origin)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let conversion = conversion(conn, chat_id)
        .await?
        .ok_or_else(Error::not_found)?;
    Ok((done.rows_affected() > 0, conversion))
}

/// The chat's conversion claim, if any.
pub async fn conversion(conn: &mut AnyConnection, chat_id: &str) -> Result<Option<Conversion>> {
    let row = sqlx::query("select origin, ticket_id from integ_conversions where chat_id = $1")
        .bind(chat_id)
        .fetch_optional(conn)
        .await?;
    row.map(|r| {
        Ok(Conversion {
            origin: r.try_get("origin")?,
            ticket_id: r.try_get("ticket_id")?,
        })
    })
    .transpose()
}

/// Gives a claim back (Desk refused or could not be reached before making a ticket).
pub async fn release_conversion(
    conn: &mut AnyConnection,
    chat_id: &str,
    origin: &str,
) -> Result<()> {
    sqlx::query(
        "delete from integ_conversions where chat_id = $1 and origin = $2 and ticket_id is null",
    )
    .bind(chat_id)
    .bind(origin)
    .execute(conn)
    .await?;
    Ok(())
}

// ---- cursors ------------------------------------------------------------------------

pub async fn cursor(db: &Db, name: &str) -> Result<i64> {
    let row = sqlx::query("select position from integ_cursors where name = $1")
        .bind(name)
        .fetch_optional(db.pool())
        .await?;
    Ok(match row {
        Some(row) => row.try_get("position")?,
        None => 0,
    })
}

/// Moves a cursor from `from` to `to`; false when another node moved it first.
pub async fn advance_cursor(
    conn: &mut AnyConnection,
    name: &str,
    from: i64,
    to: i64,
    now: i64,
) -> Result<bool> {
    sqlx::query(
        "insert into integ_cursors (name, position, updated_at) values ($1, 0, $2) on conflict (name) do nothing",
    )
    .bind(name)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let done = sqlx::query(
        "update integ_cursors set position = $1, updated_at = $2 where name = $3 and position = $4",
    )
    .bind(to)
    .bind(now)
    .bind(name)
    .bind(from)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

// ---- desk department names (the menus of a broken link) -----------------------------

/// Remembers the Desk departments just read (replacing the ones remembered before).
pub async fn remember_desk_departments(
    db: &Db,
    chat_portal_id: &str,
    departments: &[crate::desk_client::DeskDepartment],
    now: i64,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query("delete from integ_desk_department_names where chat_portal_id = $1")
        .bind(chat_portal_id)
        .execute(tx.conn())
        .await?;
    for d in departments {
        sqlx::query(
            "insert into integ_desk_department_names (chat_portal_id, desk_department_id, name, \
             is_default, updated_at) values ($1, $2, $3, $4, $5)",
        )
        .bind(chat_portal_id)
        .bind(&d.id)
        .bind(&d.name)
        .bind(i64::from(d.is_default))
        .bind(now)
        .execute(tx.conn())
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The Desk departments as last read, by name.
pub async fn remembered_desk_departments(
    db: &Db,
    chat_portal_id: &str,
) -> Result<Vec<crate::desk_client::DeskDepartment>> {
    let rows = sqlx::query(
        "select desk_department_id, name, is_default from integ_desk_department_names \
         where chat_portal_id = $1 order by name, desk_department_id",
    )
    .bind(chat_portal_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(crate::desk_client::DeskDepartment {
                id: r.try_get("desk_department_id")?,
                name: r.try_get("name")?,
                is_default: r.try_get::<i64, _>("is_default")? != 0,
            })
        })
        .collect()
}
