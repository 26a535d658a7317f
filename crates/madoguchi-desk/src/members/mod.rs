//! Members (SPEC D1): admins add existing users by email as `admin` or `agent`.

pub(crate) mod store;

use crate::access::{Member, Role};
use crate::Desk;
use madoguchi_core::identity::Email;
use madoguchi_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
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

impl Desk {
    /// Adds the user with `email` (who must have signed up: 404 `not_found`, field
    /// `email`) as `role`; adding an existing member sets their role. Admin only.
    /// The last admin cannot become an agent (409 `conflict`).
    pub async fn add_member(&self, member: &Member, email: &str, role: Role) -> Result<MemberView> {
        member.require_admin()?;
        let email = Email::parse("email", email)?;
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let user_id = store::user_id_by_email(tx.conn(), &email.lower())
            .await?
            .ok_or_else(|| {
                Error::not_found()
                    .with_field("email")
                    .with_message("desk-error-user-not-found")
            })?;
        if role == Role::Agent {
            let ids = store::admin_ids(tx.conn(), &member.portal_id).await?;
            if ids.len() == 1 && ids[0] == user_id {
                return Err(Error::new(ErrorCode::Conflict)
                    .with_field("role")
                    .with_message("desk-error-last-admin"));
            }
        }
        store::upsert(tx.conn(), &member.portal_id, &user_id, role, now).await?;
        tx.commit().await?;
        self.member_view(member, &user_id)
            .await?
            .ok_or_else(Error::not_found)
    }

    /// The portal's members, in the order they joined.
    pub async fn members(&self, member: &Member) -> Result<Vec<MemberView>> {
        store::list(self.db.pool(), &member.portal_id).await
    }

    /// One member of the portal by user id.
    pub async fn member_view(&self, member: &Member, user_id: &str) -> Result<Option<MemberView>> {
        store::get(self.db.pool(), &member.portal_id, user_id).await
    }
}
