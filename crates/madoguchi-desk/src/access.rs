//! Who acts on a portal (SPEC D1, Q3): a member with a role. Resolved once per call,
//! from a user or a service key; every query afterwards is scoped to its portal.

use crate::Desk;
use madoguchi_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

/// A Desk role (SPEC vocabulary): `admin` or `agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }

    pub(crate) fn from_db(s: &str) -> Result<Self> {
        Self::parse(s).ok_or_else(|| Error::internal(anyhow::anyhow!("unknown desk role {s:?}")))
    }
}

/// A member of a Desk portal acting on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub portal_id: String,
    pub portal_name: String,
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// True when the call was authenticated with the portal's service key.
    pub via_service_key: bool,
    /// O6: with the service key, the Chat operator the change is made for; the history
    /// and new threads name them instead of the key's admin.
    pub actor: Option<Actor>,
}

/// The person a service-key call acts for (SPEC O6): a Desk member with the same email
/// (`user_id` set), or a Chat operator Desk does not know (only the name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<String>,
    pub name: String,
}

impl Member {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The user id a change is recorded under: the acting person's, else the member's.
    pub fn actor_id(&self) -> Option<&str> {
        match &self.actor {
            Some(a) => a.user_id.as_deref(),
            None => Some(&self.user_id),
        }
    }

    /// The name a change is recorded under.
    pub fn actor_name(&self) -> &str {
        match &self.actor {
            Some(a) => &a.name,
            None => &self.name,
        }
    }

    /// The acting person when they are a member of the portal (a ticket they convert
    /// is assigned to them).
    pub fn acting_member_id(&self) -> Option<&str> {
        self.actor.as_ref().and_then(|a| a.user_id.as_deref())
    }

    /// 403 `forbidden` unless an admin.
    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::forbidden())
        }
    }
}

impl Desk {
    /// The user `user_id` as a member of the portal `portal_name`: 404 `not_found`
    /// when there is no such portal, 403 `forbidden` when they are not a member.
    pub async fn member(&self, portal_name: &str, user_id: &str) -> Result<Member> {
        let row = sqlx::query(
            "select p.id, p.portal_name, m.role, u.email, u.name \
             from desk_portals p \
             left join desk_members m on m.portal_id = p.id and m.user_id = $1 \
             left join users u on u.id = m.user_id \
             where p.portal_name = $2",
        )
        .bind(user_id)
        .bind(portal_name.trim().to_lowercase())
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(Error::not_found)?;
        let role: Option<String> = row.try_get("role")?;
        let Some(role) = role else {
            return Err(Error::forbidden());
        };
        Ok(Member {
            portal_id: row.try_get("id")?,
            portal_name: row.try_get("portal_name")?,
            user_id: user_id.to_owned(),
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            role: Role::from_db(&role)?,
            via_service_key: false,
            actor: None,
        })
    }

    /// Checks a service key (SPEC D6, D7, I3, I5): the portal by name, the key (its
    /// hash compared in constant time; a regenerated key stops the old one at once),
    /// then the email of an admin of that portal. Answers that admin as a member.
    /// Errors: `desk_portal_not_found` (field `deskPortalName`), `invalid_service_key`
    /// (field `serviceKey`), `not_desk_admin` (field `adminEmail`).
    pub async fn verify_service_key(
        &self,
        portal_name: &str,
        admin_email: &str,
        service_key: &str,
    ) -> Result<Member> {
        let portal = sqlx::query(
            "select id, portal_name, service_key_hash from desk_portals where portal_name = $1",
        )
        .bind(portal_name.trim().to_lowercase())
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(|| Error::new(ErrorCode::DeskPortalNotFound).with_field("deskPortalName"))?;
        let stored: Option<String> = portal.try_get("service_key_hash")?;
        let sent = madoguchi_core::ids::hash_secret(service_key.trim());
        let key_ok = stored
            .as_deref()
            .is_some_and(|stored| madoguchi_core::ids::secrets_equal(stored, &sent));
        if !key_ok {
            return Err(Error::new(ErrorCode::InvalidServiceKey).with_field("serviceKey"));
        }
        let portal_id: String = portal.try_get("id")?;
        let admin = sqlx::query(
            "select u.id, u.email, u.name, m.role from users u \
             join desk_members m on m.user_id = u.id and m.portal_id = $1 \
             where u.email_lower = $2",
        )
        .bind(&portal_id)
        .bind(admin_email.trim().to_lowercase())
        .fetch_optional(self.db.pool())
        .await?;
        let not_admin = || Error::new(ErrorCode::NotDeskAdmin).with_field("adminEmail");
        let admin = admin.ok_or_else(not_admin)?;
        let role: String = admin.try_get("role")?;
        if Role::from_db(&role)? != Role::Admin {
            return Err(not_admin());
        }
        Ok(Member {
            portal_id,
            portal_name: portal.try_get("portal_name")?,
            user_id: admin.try_get("id")?,
            email: admin.try_get("email")?,
            name: admin.try_get("name")?,
            role: Role::Admin,
            via_service_key: true,
            actor: None,
        })
    }

    /// O6: a service-key member acting for the Chat operator with `email` and `name`:
    /// the portal's member with that email when there is one, else just the name.
    pub async fn acting_for(&self, mut member: Member, email: &str, name: &str) -> Result<Member> {
        if !member.via_service_key {
            return Ok(member);
        }
        let email = email.trim().to_lowercase();
        let row = sqlx::query(
            "select u.id, u.name from users u \
             join desk_members m on m.user_id = u.id and m.portal_id = $1 \
             where u.email_lower = $2",
        )
        .bind(&member.portal_id)
        .bind(&email)
        .fetch_optional(self.db.pool())
        .await?;
        member.actor = Some(match row {
            Some(row) => Actor {
                user_id: Some(row.try_get("id")?),
                name: row.try_get("name")?,
            },
            None => {
                let name: String = name.trim().chars().take(200).collect();
                Actor {
                    user_id: None,
                    name: if name.is_empty() { email } else { name },
                }
            }
        });
        Ok(member)
    }
}

/// True when `user_id` is a member of the portal.
pub(crate) async fn is_member(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    user_id: &str,
) -> Result<bool> {
    let row =
        sqlx::query("select 1 as one from desk_members where portal_id = $1 and user_id = $2")
            .bind(portal_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.is_some())
}
