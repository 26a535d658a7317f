//! Portals (SPEC D1): a unique portal name, the creator is its admin, and a new portal
//! starts with its default department and the default classifications.

pub(crate) mod store;

use crate::access::{Member, Role};
use crate::classifications::DEFAULT_CLASSIFICATIONS;
use crate::departments::Department;
use crate::Desk;
use madoguchi_core::ids::new_id;
use madoguchi_core::time::rfc3339;
use madoguchi_core::{Error, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A portal as seen by one of its members (`role` is theirs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Portal {
    pub id: String,
    pub portal_name: String,
    pub display_name: String,
    pub role: Role,
    pub created_time: String,
}

pub const PORTAL_NAME_MIN: usize = 3;
pub const PORTAL_NAME_MAX: usize = 40;

/// Path segments of the Desk UI that a portal name must not shadow.
const RESERVED: &[&str] = &["api", "new", "assets", "static", "login", "logout"];

/// Lowercase letters, digits and hyphens, 3–40 characters, not starting or ending
/// with a hyphen.
pub fn valid_portal_name(name: &str) -> bool {
    (PORTAL_NAME_MIN..=PORTAL_NAME_MAX).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !RESERVED.contains(&name)
}

impl Desk {
    /// Creates a portal; `user_id` becomes its admin. The portal's first department,
    /// named after it, is the default one. 409 `portal_name_taken`.
    pub async fn create_portal(
        &self,
        user_id: &str,
        portal_name: &str,
        display_name: &str,
    ) -> Result<Portal> {
        let portal_name = portal_name.trim();
        if !valid_portal_name(portal_name) {
            return Err(Error::invalid("portalName", "desk-error-portal-name"));
        }
        let display_name =
            crate::required_text("displayName", display_name, 100, "desk-error-display-name")?;
        let now = self.clock.now_ms();
        let classifications = serde_json::to_string(DEFAULT_CLASSIFICATIONS)
            .map_err(|e| Error::internal(anyhow::Error::new(e)))?;
        let portal = Portal {
            id: new_id(),
            portal_name: portal_name.to_owned(),
            display_name,
            role: Role::Admin,
            created_time: rfc3339(now),
        };
        let department = Department {
            id: new_id(),
            name: portal.display_name.clone(),
            is_default: true,
        };
        let mut tx = self.db.begin_write().await?;
        store::insert(tx.conn(), &portal, &classifications, user_id, now).await?;
        crate::departments::store::insert(tx.conn(), &portal.id, &department, now).await?;
        tx.commit().await?;
        Ok(portal)
    }

    /// The portals `user_id` is a member of, with their role, oldest first.
    pub async fn portals_of(&self, user_id: &str) -> Result<Vec<Portal>> {
        store::of_user(self.db.pool(), user_id).await
    }

    /// The portals `user_id` administers (I2, I4), oldest first.
    pub async fn admin_portals(&self, user_id: &str) -> Result<Vec<Portal>> {
        Ok(self
            .portals_of(user_id)
            .await?
            .into_iter()
            .filter(|p| p.role == Role::Admin)
            .collect())
    }

    /// The portals the user with this email (any case) administers; none when no
    /// such user exists.
    pub async fn admin_portals_by_email(&self, email: &str) -> Result<Vec<Portal>> {
        store::administered_by_email(self.db.pool(), &email.trim().to_lowercase()).await
    }

    /// The member's portal.
    pub async fn portal(&self, member: &Member) -> Result<Portal> {
        store::get(self.db.pool(), &member.portal_id, &member.user_id)
            .await?
            .ok_or_else(Error::not_found)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn portal_names_are_lowercase_letters_digits_and_hyphens() {
        for ok in ["acme", "a-1", "support-jp-2", &"a".repeat(40)] {
            assert!(valid_portal_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "Acme",
            "acme_jp",
            "-acme",
            "acme-",
            "ac me",
            "日本語",
            "api",
            &"a".repeat(41),
        ] {
            assert!(!valid_portal_name(bad), "{bad}");
        }
    }
}
