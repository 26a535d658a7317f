//! SQL of portals.

use super::Portal;
use crate::access::Role;
use madoguchi_core::error::OnConflict;
use madoguchi_core::time::rfc3339;
use madoguchi_core::{Error, ErrorCode, Result};
use sqlx::{AnyExecutor, Row};

/// A portal with the role of one member, joined as `p` and `m`.
const PORTAL_SELECT: &str = "select p.id, p.portal_name, p.display_name, p.created_at, m.role \
     from desk_portals p join desk_members m on m.portal_id = p.id";

fn portal_from_row(row: &sqlx::any::AnyRow) -> Result<Portal> {
    let role: String = row.try_get("role")?;
    Ok(Portal {
        id: row.try_get("id")?,
        portal_name: row.try_get("portal_name")?,
        display_name: row.try_get("display_name")?,
        role: Role::from_db(&role)?,
        created_time: rfc3339(row.try_get("created_at")?),
    })
}

/// Inserts the portal row (409 `portal_name_taken`) and its creator as admin.
pub(crate) async fn insert(
    conn: &mut sqlx::AnyConnection,
    p: &Portal,
    classifications: &str,
    user_id: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into desk_portals (id, portal_name, display_name, ticket_seq, classifications, \
         created_by, created_at, updated_at) values ($1, $2, $3, 100, $4, $5, $6, $6)",
    )
    .bind(&p.id)
    .bind(&p.portal_name)
    .bind(&p.display_name)
    .bind(classifications)
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .on_conflict(|| Error::new(ErrorCode::PortalNameTaken).with_field("portalName"))?;
    sqlx::query(
        "insert into desk_members (portal_id, user_id, role, created_at, updated_at) \
         values ($1, $2, $3, $4, $4)",
    )
    .bind(&p.id)
    .bind(user_id)
    .bind(p.role.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The portals `user_id` is a member of, oldest first.
pub(crate) async fn of_user(e: impl AnyExecutor<'_>, user_id: &str) -> Result<Vec<Portal>> {
    let rows = sqlx::query(&format!(
        "{PORTAL_SELECT} where m.user_id = $1 order by p.created_at, p.portal_name"
    ))
    .bind(user_id)
    .fetch_all(e)
    .await?;
    rows.iter().map(portal_from_row).collect()
}

/// The portals the user with `email_lower` administers, oldest first.
pub(crate) async fn administered_by_email(
    e: impl AnyExecutor<'_>,
    email_lower: &str,
) -> Result<Vec<Portal>> {
    let rows = sqlx::query(&format!(
        "{PORTAL_SELECT} join users u on u.id = m.user_id \
         where u.email_lower = $1 and m.role = 'admin' order by p.created_at, p.portal_name"
    ))
    .bind(email_lower)
    .fetch_all(e)
    .await?;
    rows.iter().map(portal_from_row).collect()
}

/// The portal `portal_id` as `user_id` sees it.
pub(crate) async fn get(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    user_id: &str,
) -> Result<Option<Portal>> {
    let row = sqlx::query(&format!(
        "{PORTAL_SELECT} where p.id = $1 and m.user_id = $2"
    ))
    .bind(portal_id)
    .bind(user_id)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(portal_from_row).transpose()
}
