//! SQL of membership: who is a member of which portal, with which role.

use madoguchi_core::Result;
use sqlx::{AnyExecutor, Row};

/// A portal with the role (if any) of one user in it.
pub(crate) struct PortalMembership {
    pub portal_id: String,
    pub portal_name: String,
    /// `None`: not a member.
    pub role: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
}

/// The portal named `portal_name` (lowercase) and `user_id`'s membership of it.
pub(crate) async fn membership(
    e: impl AnyExecutor<'_>,
    portal_name: &str,
    user_id: &str,
) -> Result<Option<PortalMembership>> {
    let row = sqlx::query(
        "select p.id, p.portal_name, m.role, u.email, u.name \
         from desk_portals p \
         left join desk_members m on m.portal_id = p.id and m.user_id = $1 \
         left join users u on u.id = m.user_id \
         where p.portal_name = $2",
    )
    .bind(user_id)
    .bind(portal_name)
    .fetch_optional(e)
    .await?;
    row.map(|row| {
        Ok(PortalMembership {
            portal_id: row.try_get("id")?,
            portal_name: row.try_get("portal_name")?,
            role: row.try_get("role")?,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
        })
    })
    .transpose()
}

/// The portal named `portal_name` (lowercase): its id, name and service key hash.
pub(crate) async fn portal_key_hash(
    e: impl AnyExecutor<'_>,
    portal_name: &str,
) -> Result<Option<(String, String, Option<String>)>> {
    let row = sqlx::query(
        "select id, portal_name, service_key_hash from desk_portals where portal_name = $1",
    )
    .bind(portal_name)
    .fetch_optional(e)
    .await?;
    row.map(|r| {
        Ok((
            r.try_get("id")?,
            r.try_get("portal_name")?,
            r.try_get("service_key_hash")?,
        ))
    })
    .transpose()
}

/// A member of a portal found by email.
pub(crate) struct MemberByEmail {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: String,
}

/// The member of the portal with `email_lower`.
pub(crate) async fn member_by_email(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    email_lower: &str,
) -> Result<Option<MemberByEmail>> {
    let row = sqlx::query(
        "select u.id, u.email, u.name, m.role from users u \
         join desk_members m on m.user_id = u.id and m.portal_id = $1 \
         where u.email_lower = $2",
    )
    .bind(portal_id)
    .bind(email_lower)
    .fetch_optional(e)
    .await?;
    row.map(|r| {
        Ok(MemberByEmail {
            user_id: r.try_get("id")?,
            email: r.try_get("email")?,
            name: r.try_get("name")?,
            role: r.try_get("role")?,
        })
    })
    .transpose()
}

/// True when `user_id` is a member of the portal.
pub(crate) async fn is_member(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    user_id: &str,
) -> Result<bool> {
    let row =
        sqlx::query("select 1 as one from desk_members where portal_id = $1 and user_id = $2")
            .bind(portal_id)
            .bind(user_id)
            .fetch_optional(e)
            .await?;
    Ok(row.is_some())
}
