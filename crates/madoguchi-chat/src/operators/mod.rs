//! C2: operators with roles, their departments and availability. Roles are enforced
//! here, server-side: admins and supervisors see and take chats of every department,
//! operators those of their departments.

pub(crate) mod store;

use crate::live::LiveEvent;
use crate::portals::Portal;
use crate::Chat;
use madoguchi_core::identity::Email;
use madoguchi_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ChatRole)]
pub enum Role {
    Admin,
    Supervisor,
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Operator => "operator",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "supervisor" => Some(Role::Supervisor),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }

    /// Admins and supervisors see and take chats of every department.
    pub fn sees_all_departments(self) -> bool {
        matches!(self, Role::Admin | Role::Supervisor)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Availability {
    Available,
    Away,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Available => "available",
            Availability::Away => "away",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "available" => Some(Availability::Available),
            "away" => Some(Availability::Away),
            _ => None,
        }
    }
}

/// An operator in the API.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Operator {
    /// The user's id (same as `userId`).
    pub id: String,
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub status: Availability,
    pub department_ids: Vec<String>,
    /// V1: available with a console open on some node (who a transfer can reach).
    pub online: bool,
}

/// An authenticated operator acting on one portal: what every operator-side service
/// call receives, so the role and the departments are checked in one place.
#[derive(Debug, Clone)]
pub struct OperatorCtx {
    pub portal: Portal,
    pub user_id: String,
    pub name: String,
    /// The user's email (O6: Desk changes made from the chat are recorded under it).
    pub email: String,
    pub role: Role,
    pub department_ids: Vec<String>,
}

impl OperatorCtx {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::forbidden())
        }
    }

    /// Whether this operator sees (and may take) chats of `department_id` (None: a chat
    /// without department, which only admins and supervisors see).
    pub fn may_see_department(&self, department_id: Option<&str>) -> bool {
        self.role.sees_all_departments()
            || department_id.is_some_and(|d| self.department_ids.iter().any(|x| x == d))
    }
}

/// A new operator (`POST …/operators`).
#[derive(Debug, Clone)]
pub struct NewOperator {
    pub email: String,
    pub role: String,
    pub department_ids: Option<Vec<String>>,
}

impl Chat {
    /// The caller as an operator of portal `portal_name`: 404 for an unknown portal,
    /// 403 when the user is not one of its operators.
    pub async fn operator_ctx(&self, portal_name: &str, user_id: &str) -> Result<OperatorCtx> {
        let portal = self.require_portal(portal_name).await?;
        self.operator_ctx_in(portal, user_id).await
    }

    /// As [`Chat::operator_ctx`] with the portal already loaded.
    pub async fn operator_ctx_in(&self, portal: Portal, user_id: &str) -> Result<OperatorCtx> {
        let (role, name, email) = store::role_and_name(&self.db, &portal.id, user_id)
            .await?
            .ok_or_else(Error::forbidden)?;
        let department_ids = store::department_ids(&self.db, &portal.id, user_id).await?;
        Ok(OperatorCtx {
            portal,
            user_id: user_id.to_owned(),
            name,
            email,
            role,
            department_ids,
        })
    }

    pub async fn list_operators(&self, op: &OperatorCtx) -> Result<Vec<Operator>> {
        let list = store::list(&self.db, &op.portal.id, None).await?;
        Ok(self.with_presence(&op.portal.id, list))
    }

    /// One operator of the portal.
    pub async fn operator(&self, portal_id: &str, user_id: &str) -> Result<Operator> {
        let list = store::list(&self.db, portal_id, Some(user_id)).await?;
        self.with_presence(portal_id, list)
            .into_iter()
            .next()
            .ok_or_else(Error::not_found)
    }

    fn with_presence(&self, portal_id: &str, mut list: Vec<Operator>) -> Vec<Operator> {
        let connected = self.connected_operators(portal_id);
        for o in &mut list {
            o.online = o.status == Availability::Available && connected.contains(&o.user_id);
        }
        list
    }

    /// C2: an admin adds an existing user as operator (or, if they already are one,
    /// sets their role and departments). The user must exist: 404 naming `email`.
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn add_operator(&self, op: &OperatorCtx, new: NewOperator) -> Result<Operator> {
        op.require_admin()?;
        let email = Email::parse("email", &new.email)?;
        let role =
            Role::parse(&new.role).ok_or_else(|| Error::invalid("role", "chat-error-role"))?;
        let department_ids = match &new.department_ids {
            Some(ids) => Some(self.check_department_ids(&op.portal.id, ids).await?),
            None => None,
        };
        let user_id = store::user_id_by_email(&self.db, &email.lower())
            .await?
            .ok_or_else(|| {
                Error::new(ErrorCode::NotFound)
                    .with_field("email")
                    .with_message("chat-error-user-not-found")
            })?;
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let existing = store::role_in_tx(&mut tx, &op.portal.id, &user_id).await?;
        match existing {
            None => store::insert(&mut tx, &op.portal.id, &user_id, role, now).await?,
            Some(old) => {
                if old == Role::Admin && role != Role::Admin {
                    store::ensure_other_admin(&mut tx, &op.portal.id, &user_id).await?;
                }
                store::set_role(&mut tx, &op.portal.id, &user_id, role, now).await?;
            }
        }
        if let Some(ids) = &department_ids {
            store::set_departments(&mut tx, &op.portal.id, &user_id, ids).await?;
        }
        tx.commit().await?;
        self.publish_ops(&op.portal.id, LiveEvent::Operators).await;
        self.operator(&op.portal.id, &user_id).await
    }

    /// Changes an operator's role and/or departments (admins). The last admin stays admin.
    pub async fn update_operator(
        &self,
        op: &OperatorCtx,
        user_id: &str,
        role: Option<&str>,
        department_ids: Option<Vec<String>>,
    ) -> Result<Operator> {
        op.require_admin()?;
        let role = role
            .map(|r| Role::parse(r).ok_or_else(|| Error::invalid("role", "chat-error-role")))
            .transpose()?;
        let department_ids = match &department_ids {
            Some(ids) => Some(self.check_department_ids(&op.portal.id, ids).await?),
            None => None,
        };
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let old = store::role_in_tx(&mut tx, &op.portal.id, user_id)
            .await?
            .ok_or_else(Error::not_found)?;
        if let Some(role) = role {
            if old == Role::Admin && role != Role::Admin {
                store::ensure_other_admin(&mut tx, &op.portal.id, user_id).await?;
            }
            store::set_role(&mut tx, &op.portal.id, user_id, role, now).await?;
        }
        if let Some(ids) = &department_ids {
            store::set_departments(&mut tx, &op.portal.id, user_id, ids).await?;
        }
        tx.commit().await?;
        self.publish_ops(&op.portal.id, LiveEvent::Operators).await;
        self.operator(&op.portal.id, user_id).await
    }

    /// C4: the caller's availability (available / away). Only available operators are
    /// offered new chats; with none, a new chat is missed at once (C5).
    pub async fn set_availability(&self, op: &OperatorCtx, status: &str) -> Result<Operator> {
        let status = Availability::parse(status)
            .ok_or_else(|| Error::invalid("status", "chat-error-status"))?;
        store::set_status(
            &self.db,
            &op.portal.id,
            &op.user_id,
            status,
            self.clock.now_ms(),
        )
        .await?;
        self.publish_ops(&op.portal.id, LiveEvent::Operators).await;
        self.operator(&op.portal.id, &op.user_id).await
    }

    /// Whether some available operator may take a chat of `department_id` now.
    pub async fn someone_can_take(
        &self,
        portal_id: &str,
        department_id: Option<&str>,
    ) -> Result<bool> {
        store::available_for(&self.db, portal_id, department_id).await
    }

    async fn check_department_ids(&self, portal_id: &str, ids: &[String]) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for id in ids {
            if !crate::departments::store::exists(&self.db, portal_id, id).await? {
                return Err(Error::invalid(
                    "departmentIds",
                    "chat-error-department-unknown",
                ));
            }
            if !out.contains(id) {
                out.push(id.clone());
            }
        }
        Ok(out)
    }
}
