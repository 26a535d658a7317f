//! SQL of chat portals.

use super::{Plan, Portal};
use crate::operators::Role;
use madoguchi_core::error::OnConflict;
use madoguchi_core::{Db, Error, ErrorCode, Result, WriteTx};
use sqlx::any::AnyRow;
use sqlx::Row;

const COLUMNS: &str = "p.id, p.name, p.display_name, p.plan, p.trial_ends_at, p.missed_after_ms, \
                       p.idle_after_ms, p.created_at, p.routing, p.max_chats_per_operator, \
                       p.max_attachment_bytes";

fn from_row(row: &AnyRow) -> Result<Portal> {
    let plan: String = row.try_get("plan")?;
    Ok(Portal {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        display_name: row.try_get("display_name")?,
        plan: Plan::parse(&plan).unwrap_or(Plan::Free),
        trial_ends_at: row.try_get("trial_ends_at")?,
        missed_after_ms: row.try_get("missed_after_ms")?,
        idle_after_ms: row.try_get("idle_after_ms")?,
        created_at: row.try_get("created_at")?,
        routing: crate::toolkit::Routing::parse(&row.try_get::<String, _>("routing")?)
            .unwrap_or_default(),
        max_chats_per_operator: row.try_get("max_chats_per_operator")?,
        max_attachment_bytes: row.try_get("max_attachment_bytes")?,
    })
}

pub(crate) async fn insert(tx: &mut WriteTx, p: &Portal, created_by: &str) -> Result<()> {
    sqlx::query(
        "insert into chat_portals (id, name, display_name, plan, trial_ends_at, missed_after_ms, \
         idle_after_ms, created_by, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
    )
    .bind(&p.id)
    .bind(&p.name)
    .bind(&p.display_name)
    .bind(p.plan.as_str())
    .bind(p.trial_ends_at)
    .bind(p.missed_after_ms)
    .bind(p.idle_after_ms)
    .bind(created_by)
    .bind(p.created_at)
    .execute(tx.conn())
    .await
    .on_conflict(|| Error::new(ErrorCode::PortalNameTaken).with_field("portalName"))?;
    Ok(())
}

pub(crate) async fn by_name(db: &Db, name: &str) -> Result<Option<Portal>> {
    let row = sqlx::query(&format!(
        "select {COLUMNS} from chat_portals p where p.name = $1"
    ))
    .bind(name)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn by_id(db: &Db, id: &str) -> Result<Option<Portal>> {
    let row = sqlx::query(&format!(
        "select {COLUMNS} from chat_portals p where p.id = $1"
    ))
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn of_user(db: &Db, user_id: &str) -> Result<Vec<(Portal, Role)>> {
    let rows = sqlx::query(&format!(
        "select {COLUMNS}, o.role from chat_portals p \
         join chat_operators o on o.portal_id = p.id where o.user_id = $1 order by p.name"
    ))
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let role: String = row.try_get("role")?;
            Ok((from_row(row)?, Role::parse(&role).unwrap_or(Role::Operator)))
        })
        .collect()
}

pub(crate) async fn set_plan(db: &Db, portal_id: &str, plan: Plan, now: i64) -> Result<()> {
    sqlx::query(
        "update chat_portals set plan = $1, trial_ends_at = null, updated_at = $2 where id = $3",
    )
    .bind(plan.as_str())
    .bind(now)
    .bind(portal_id)
    .execute(db.pool())
    .await?;
    Ok(())
}

pub(crate) async fn set_settings(
    db: &Db,
    portal_id: &str,
    missed_after_ms: Option<i64>,
    idle_after_ms: Option<i64>,
    max_attachment_bytes: Option<i64>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "update chat_portals set missed_after_ms = coalesce($1, missed_after_ms), \
         idle_after_ms = coalesce($2, idle_after_ms), \
         max_attachment_bytes = coalesce($3, max_attachment_bytes), updated_at = $4 where id = $5",
    )
    .bind(missed_after_ms)
    .bind(idle_after_ms)
    .bind(max_attachment_bytes)
    .bind(now)
    .bind(portal_id)
    .execute(db.pool())
    .await?;
    Ok(())
}
