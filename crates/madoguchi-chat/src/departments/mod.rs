//! C2: departments. A new portal has none; admins add them. Operators belong to
//! departments; the widget lets the visitor pick one (C3). The `deskMapping` block of
//! each department comes from the integration through [`crate::DeskMappingHook`].

pub(crate) mod store;

use crate::hooks::DeskMapping;
use crate::live::LiveEvent;
use crate::operators::OperatorCtx;
use crate::Chat;
use madoguchi_core::{Error, ErrorCode, Lang, Result};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ChatDepartment)]
pub struct Department {
    pub id: String,
    pub name: String,
}

/// A department in the operator API, with the integration's mapping.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DepartmentView {
    pub id: String,
    pub name: String,
    pub desk_mapping: DeskMapping,
}

impl Chat {
    /// The departments of a portal, by name.
    pub async fn departments(&self, portal_id: &str) -> Result<Vec<Department>> {
        store::list(&self.db, portal_id).await
    }

    /// One department of a portal.
    pub async fn department(
        &self,
        portal_id: &str,
        department_id: &str,
    ) -> Result<Option<Department>> {
        store::get(&self.db, portal_id, department_id).await
    }

    /// `GET …/departments`: each with its desk mapping.
    pub async fn department_views(
        &self,
        op: &OperatorCtx,
        lang: Lang,
    ) -> Result<Vec<DepartmentView>> {
        let hook = self.desk_hook();
        let mut out = Vec::new();
        for d in self.departments(&op.portal.id).await? {
            let desk_mapping = match hook.mapping(&op.portal.id, &d.id, lang).await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "desk mapping unavailable");
                    DeskMapping::none()
                }
            };
            out.push(DepartmentView {
                id: d.id,
                name: d.name,
                desk_mapping,
            });
        }
        Ok(out)
    }

    /// C2: an admin adds a department (unique name per portal, any case: 409
    /// `conflict`); the integration may auto-associate it (I13).
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn create_department(
        &self,
        op: &OperatorCtx,
        name: &str,
        lang: Lang,
    ) -> Result<DepartmentView> {
        op.require_admin()?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Error::invalid("name", "chat-error-department-name"));
        }
        let dept = Department {
            id: madoguchi_core::ids::new_id(),
            name: name.to_owned(),
        };
        store::insert(&self.db, &op.portal.id, &dept, self.clock.now_ms())
            .await
            .map_err(|e| {
                if e.code == ErrorCode::Conflict {
                    e.with_field("name")
                        .with_message("chat-error-department-taken")
                } else {
                    e
                }
            })?;
        self.publish_ops(&op.portal.id, LiveEvent::Operators).await;
        let hook = self.desk_hook();
        let desk_mapping = match hook
            .on_department_created(&op.portal.id, &dept.id, &dept.name, lang)
            .await
        {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "desk mapping hook failed for a new department");
                hook.mapping(&op.portal.id, &dept.id, lang)
                    .await
                    .unwrap_or_else(|_| DeskMapping::none())
            }
        };
        Ok(DepartmentView {
            id: dept.id,
            name: dept.name,
            desk_mapping,
        })
    }
}

/// A department as the widget shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetDepartment {
    pub id: String,
    pub name: String,
    /// V1: some available operator who can take chats of this department has a
    /// console open.
    pub online: bool,
}

/// `GET /chat/widget/v1/{portal}/config` (C3).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetConfig {
    pub portal_name: String,
    pub display_name: String,
    pub departments: Vec<WidgetDepartment>,
    /// V1: some available operator who can take the chats has a console open.
    pub online: bool,
    /// V2: whether the portal is within its business hours, and when it opens next.
    pub hours: crate::visitor_experience::HoursStatus,
    /// V2: the widget offers the offline form instead of a chat (nobody online, or
    /// outside business hours).
    pub offline_form: bool,
    /// V3: the largest file the visitor may send, in bytes (checked before uploading).
    pub max_attachment_bytes: i64,
}

impl Chat {
    /// What the widget needs before a chat: the departments to pick from and whether
    /// anyone can answer now (if not, the widget says so and still takes the message).
    pub async fn widget_config(&self, portal: &crate::Portal) -> Result<WidgetConfig> {
        let mut departments = Vec::new();
        for d in self.departments(&portal.id).await? {
            let online = self.is_online(&portal.id, Some(&d.id)).await?;
            departments.push(WidgetDepartment {
                id: d.id,
                name: d.name,
                online,
            });
        }
        let online =
            departments.iter().any(|d| d.online) || self.is_online(&portal.id, None).await?;
        let hours = self.hours_status(&portal.id).await?;
        Ok(WidgetConfig {
            portal_name: portal.name.clone(),
            display_name: portal.display_name.clone(),
            departments,
            online,
            offline_form: !(online && hours.open),
            hours,
            max_attachment_bytes: portal.max_attachment_bytes,
        })
    }
}
