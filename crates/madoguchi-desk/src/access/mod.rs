//! Who acts on a portal (SPEC D1, Q3): a member with a role. Resolved once per call,
//! from a user or a service key; every query afterwards is scoped to its portal.

pub(crate) mod store;

use crate::Desk;
use madoguchi_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

madoguchi_core::wire_enum! {
    /// A Desk role (SPEC vocabulary): `admin` or `agent`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    #[strum(serialize_all = "lowercase")]
    pub enum Role {
        Admin,
        Agent,
    }
}

impl Role {
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
        let found = store::membership(self.db.pool(), &portal_name.trim().to_lowercase(), user_id)
            .await?
            .ok_or_else(Error::not_found)?;
        let Some(role) = found.role else {
            return Err(Error::forbidden());
        };
        let missing = || Error::internal(anyhow::anyhow!("a member without a user"));
        Ok(Member {
            portal_id: found.portal_id,
            portal_name: found.portal_name,
            user_id: user_id.to_owned(),
            email: found.email.ok_or_else(missing)?,
            name: found.name.ok_or_else(missing)?,
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
        let (portal_id, portal_name, stored) =
            store::portal_key_hash(self.db.pool(), &portal_name.trim().to_lowercase())
                .await?
                .ok_or_else(|| {
                    Error::new(ErrorCode::DeskPortalNotFound).with_field("deskPortalName")
                })?;
        let sent = madoguchi_core::ids::hash_secret(service_key.trim());
        let key_ok = stored
            .as_deref()
            .is_some_and(|stored| madoguchi_core::ids::secrets_equal(stored, &sent));
        if !key_ok {
            return Err(Error::new(ErrorCode::InvalidServiceKey).with_field("serviceKey"));
        }
        let admin = store::member_by_email(
            self.db.pool(),
            &portal_id,
            &admin_email.trim().to_lowercase(),
        )
        .await?;
        let not_admin = || Error::new(ErrorCode::NotDeskAdmin).with_field("adminEmail");
        let admin = admin.ok_or_else(not_admin)?;
        if Role::from_db(&admin.role)? != Role::Admin {
            return Err(not_admin());
        }
        Ok(Member {
            portal_id,
            portal_name,
            user_id: admin.user_id,
            email: admin.email,
            name: admin.name,
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
        let found = store::member_by_email(self.db.pool(), &member.portal_id, &email).await?;
        member.actor = Some(match found {
            Some(m) => Actor {
                user_id: Some(m.user_id),
                name: m.name,
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
    store::is_member(conn, portal_id, user_id).await
}
