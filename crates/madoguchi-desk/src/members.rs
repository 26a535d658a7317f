//! Members (SPEC D1): admins add existing users by email as `admin` or `agent`.

use crate::access::{Member, Role};
use crate::Desk;
use madoguchi_core::identity::Email;
use madoguchi_core::time::rfc3339;
use madoguchi_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

/// A member of a portal. `id` and `userId` are both the user's id (what `ownerId`
/// and `assigneeId` refer to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    pub id: String,
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_time: String,
}

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

impl Desk {
    /// Adds the user with `email` (who must have signed up: 404 `not_found`, field
    /// `email`) as `role`; adding an existing member sets their role. Admin only.
    /// The last admin cannot become an agent (409 `conflict`).
    pub async fn add_member(&self, member: &Member, email: &str, role: Role) -> Result<MemberView> {
        member.require_admin()?;
        let email = Email::parse("email", email)?;
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let user = sqlx::query("select id from users where email_lower = $1")
            .bind(email.lower())
            .fetch_optional(tx.conn())
            .await?
            .ok_or_else(|| {
                Error::not_found()
                    .with_field("email")
                    .with_message("desk-error-user-not-found")
            })?;
        let user_id: String = user.try_get("id")?;
        if role == Role::Agent {
            let admins = sqlx::query(
                "select user_id from desk_members where portal_id = $1 and role = 'admin'",
            )
            .bind(&member.portal_id)
            .fetch_all(tx.conn())
            .await?;
            let ids: Vec<String> = admins
                .iter()
                .map(|r| r.try_get("user_id"))
                .collect::<Result<_, _>>()?;
            if ids.len() == 1 && ids[0] == user_id {
                return Err(Error::new(ErrorCode::Conflict)
                    .with_field("role")
                    .with_message("desk-error-last-admin"));
            }
        }
        sqlx::query(
            "insert into desk_members (portal_id, user_id, role, created_at, updated_at) \
             values ($1, $2, $3, $4, $4) \
             on conflict (portal_id, user_id) do update set role = excluded.role, updated_at = excluded.updated_at",
        )
        .bind(&member.portal_id)
        .bind(&user_id)
        .bind(role.as_str())
        .bind(now)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        self.member_view(member, &user_id)
            .await?
            .ok_or_else(Error::not_found)
    }

    /// The portal's members, in the order they joined.
    pub async fn members(&self, member: &Member) -> Result<Vec<MemberView>> {
        let rows = sqlx::query(
            "select m.user_id, u.email, u.name, m.role, m.created_at from desk_members m \
             join users u on u.id = m.user_id where m.portal_id = $1 order by m.created_at, u.email_lower",
        )
        .bind(&member.portal_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(member_from_row).collect()
    }

    /// One member of the portal by user id.
    pub async fn member_view(&self, member: &Member, user_id: &str) -> Result<Option<MemberView>> {
        let row = sqlx::query(
            "select m.user_id, u.email, u.name, m.role, m.created_at from desk_members m \
             join users u on u.id = m.user_id where m.portal_id = $1 and m.user_id = $2",
        )
        .bind(&member.portal_id)
        .bind(user_id)
        .fetch_optional(self.db.pool())
        .await?;
        row.as_ref().map(member_from_row).transpose()
    }
}
