//! SQL of members.

use super::MemberView;
use crate::access::Role;
use madoguchi_core::time::rfc3339;
use madoguchi_core::Result;
use sqlx::{AnyExecutor, Row};

const MEMBER_SELECT: &str =
    "select m.user_id, u.email, u.name, m.role, m.created_at from desk_members m \
     join users u on u.id = m.user_id where m.portal_id = $1";

fn member_from_row(row: &sqlx::any::AnyRow) -> Result<MemberView> {
    let role: String = row.try_get("role")?;
    let id: String = row.try_get("user_id")?;
    Ok(MemberView {
        user_id: id.clone(),
        id,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role: Role::from_db(&role)?,
        created_time: rfc3339(row.try_get("created_at")?),
    })
}

/// The portal's members, in the order they joined.
pub(crate) async fn list(e: impl AnyExecutor<'_>, portal_id: &str) -> Result<Vec<MemberView>> {
    let rows = sqlx::query(&format!(
        "{MEMBER_SELECT} order by m.created_at, u.email_lower"
    ))
    .bind(portal_id)
    .fetch_all(e)
    .await?;
    rows.iter().map(member_from_row).collect()
}

pub(crate) async fn get(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    user_id: &str,
) -> Result<Option<MemberView>> {
    let row = sqlx::query(&format!("{MEMBER_SELECT} and m.user_id = $2"))
        .bind(portal_id)
        .bind(user_id)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(member_from_row).transpose()
}

/// The id of the user with `email_lower`.
pub(crate) async fn user_id_by_email(
    e: impl AnyExecutor<'_>,
    email_lower: &str,
) -> Result<Option<String>> {
    let row = sqlx::query("select id from users where email_lower = $1")
        .bind(email_lower)
        .fetch_optional(e)
        .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

/// The user ids of the portal's admins.
pub(crate) async fn admin_ids(e: impl AnyExecutor<'_>, portal_id: &str) -> Result<Vec<String>> {
    let rows =
        sqlx::query("select user_id from desk_members where portal_id = $1 and role = 'admin'")
            .bind(portal_id)
            .fetch_all(e)
            .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get("user_id"))
        .collect::<Result<_, _>>()?)
}

/// Adds `user_id` as `role`, or sets the role of an existing member.
pub(crate) async fn upsert(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    user_id: &str,
    role: Role,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into desk_members (portal_id, user_id, role, created_at, updated_at) \
         values ($1, $2, $3, $4, $4) \
         on conflict (portal_id, user_id) do update set role = excluded.role, updated_at = excluded.updated_at",
    )
    .bind(portal_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(now)
    .execute(e)
    .await?;
    Ok(())
}
