//! Portals (SPEC D1): a unique portal name, the creator is its admin, and a new portal
//! starts with its default department and the default classifications.

use crate::access::{Member, Role};
use crate::classifications::DEFAULT_CLASSIFICATIONS;
use crate::Desk;
use madoguchi_core::error::OnConflict;
use madoguchi_core::ids::new_id;
use madoguchi_core::time::rfc3339;
use madoguchi_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use sqlx::Row;
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

const PORTAL_COLUMNS: &str = "p.id, p.portal_name, p.display_name, p.created_at, m.role";

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
        let id = new_id();
        let classifications = serde_json::to_string(DEFAULT_CLASSIFICATIONS)
            .map_err(|e| Error::internal(anyhow::Error::new(e)))?;
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "insert into desk_portals (id, portal_name, display_name, ticket_seq, classifications, \
             created_by, created_at, updated_at) values ($1, $2, $3, 100, $4, $5, $6, $6)",
        )
        .bind(&id)
        .bind(portal_name)
        .bind(&display_name)
        .bind(&classifications)
        .bind(user_id)
        .bind(now)
        .execute(tx.conn())
        .await
        .on_conflict(|| Error::new(ErrorCode::PortalNameTaken).with_field("portalName"))?;
        sqlx::query(
            "insert into desk_members (portal_id, user_id, role, created_at, updated_at) \
             values ($1, $2, 'admin', $3, $3)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(now)
        .execute(tx.conn())
        .await?;
        sqlx::query(
            "insert into desk_departments (id, portal_id, name, name_lower, is_default, created_at) \
             values ($1, $2, $3, $4, 1, $5)",
        )
        .bind(new_id())
        .bind(&id)
        .bind(&display_name)
        .bind(display_name.to_lowercase())
        .bind(now)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(Portal {
            id,
            portal_name: portal_name.to_owned(),
            display_name,
            role: Role::Admin,
            created_time: rfc3339(now),
        })
    }

    /// The portals `user_id` is a member of, with their role, oldest first.
    pub async fn portals_of(&self, user_id: &str) -> Result<Vec<Portal>> {
        let rows = sqlx::query(&format!(
            "select {PORTAL_COLUMNS} from desk_portals p \
             join desk_members m on m.portal_id = p.id \
             where m.user_id = $1 order by p.created_at, p.portal_name"
        ))
        .bind(user_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(portal_from_row).collect()
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
        let rows = sqlx::query(&format!(
            "select {PORTAL_COLUMNS} from desk_portals p \
             join desk_members m on m.portal_id = p.id \
             join users u on u.id = m.user_id \
             where u.email_lower = $1 and m.role = 'admin' order by p.created_at, p.portal_name"
        ))
        .bind(email.trim().to_lowercase())
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(portal_from_row).collect()
    }

    /// The member's portal.
    pub async fn portal(&self, member: &Member) -> Result<Portal> {
        let row = sqlx::query(&format!(
            "select {PORTAL_COLUMNS} from desk_portals p \
             join desk_members m on m.portal_id = p.id \
             where p.id = $1 and m.user_id = $2"
        ))
        .bind(&member.portal_id)
        .bind(&member.user_id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(Error::not_found)?;
        portal_from_row(&row)
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
