//! Settings > Integrations > Desk (SPEC I1–I6, I7/I8/I14 settings, I9/I12 departments):
//! the link of a Chat portal to a Desk portal.
//!
//! Every call takes the Chat operator (`OperatorCtx`, resolved by the route after
//! authentication) and the signed-in user. Reading is open to every operator of the
//! portal; every change needs a Chat admin (403 `forbidden`). On Free and Standard
//! every call answers 403 `plan_required` (I1); the settings stay, so upgrading brings
//! the integration back at once.

use crate::desk_client::{link_error, DeskAuth, DeskDepartment};
use crate::model::*;
use crate::store::{self, MappingRow, PortalRow};
use crate::Integration;
use madoguchi_chat::OperatorCtx;
use madoguchi_core::identity::{Email, User};
use madoguchi_core::ids::{DepartmentId, PortalName};
use madoguchi_core::{Error, ErrorCode, Lang, Result};
use serde_json::json;

/// `POST …/enable` body: nothing, `{deskPortalName}`, or the three fields of I3.
#[derive(Debug, Clone, Default)]
pub struct EnableRequest {
    pub desk_portal_name: Option<String>,
    pub admin_email: Option<String>,
    pub service_key: Option<String>,
}

/// `PUT …/link` body (I3, I5).
#[derive(Debug, Clone, Default)]
pub struct LinkRequest {
    pub admin_email: Option<String>,
    pub service_key: Option<String>,
    pub desk_portal_name: Option<String>,
}

/// `PATCH …/settings` body; absent fields stay.
#[derive(Debug, Clone, Default)]
pub struct SettingsPatch {
    pub auto_ticket: Option<String>,
    pub ticket_status: Option<String>,
    pub view_scope: Option<String>,
}

/// The I3 answer: 422 `not_desk_admin` naming the three fields to fill in.
pub fn not_desk_admin() -> Error {
    Error::new(ErrorCode::NotDeskAdmin).with_extra(
        "fields",
        json!(["adminEmail", "serviceKey", "deskPortalName"]),
    )
}

fn clean(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Validates the three link fields (400 naming the first missing one).
fn parse_link(
    admin_email: Option<&str>,
    service_key: Option<&str>,
    desk_portal_name: Option<&str>,
) -> Result<DeskAuth> {
    let missing = |field: &'static str| {
        Error::new(ErrorCode::InvalidRequest)
            .with_field(field)
            .with_message("error-invalid_request-missing")
            .with_arg("field", field)
    };
    let admin_email = clean(admin_email).ok_or_else(|| missing("adminEmail"))?;
    let admin_email = Email::parse("adminEmail", &admin_email)?;
    let service_key = clean(service_key).ok_or_else(|| missing("serviceKey"))?;
    let portal = clean(desk_portal_name).ok_or_else(|| missing("deskPortalName"))?;
    Ok(DeskAuth {
        portal: PortalName::from(portal.to_lowercase()),
        admin_email: admin_email.as_str().to_owned(),
        service_key,
        acting: None,
    })
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

impl Integration {
    /// I1: 403 `plan_required` unless the portal's plan includes the integration.
    pub(crate) fn require_plan(&self, op: &OperatorCtx) -> Result<()> {
        if self.chat.integration_available(&op.portal) {
            Ok(())
        } else {
            Err(Error::new(ErrorCode::PlanRequired))
        }
    }

    fn require_admin_and_plan(&self, op: &OperatorCtx) -> Result<()> {
        op.require_admin()?;
        self.require_plan(op)
    }

    /// `GET …/integrations/desk`: the link, re-checked against Desk every time (I5).
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn view(&self, op: &OperatorCtx, user: &User, lang: Lang) -> Result<IntegrationView> {
        self.require_plan(op)?;
        self.build_view(op, user, lang).await
    }

    async fn build_view(
        &self,
        op: &OperatorCtx,
        user: &User,
        lang: Lang,
    ) -> Result<IntegrationView> {
        let row = store::portal(&self.db, &op.portal.id).await?;
        let mut status = match (row.is_linked(), row.enabled) {
            (false, _) => LinkStatus::NotLinked,
            (true, true) => LinkStatus::Enabled,
            (true, false) => LinkStatus::Disabled,
        };
        let mut broken_reason = None;
        let mut desk_reachable = true;
        let mut desk_departments = Vec::new();
        if let Some(auth) = row.auth() {
            match self.desk.verify(&auth).await {
                Ok(()) => match self.desk.departments(&auth).await {
                    Ok(d) => desk_departments = d,
                    Err(e) => {
                        tracing::warn!(error = %e, "listing desk departments");
                        desk_reachable = e.code != ErrorCode::DeskUnavailable;
                    }
                },
                Err(e) if e.code == ErrorCode::DeskUnavailable => {
                    tracing::warn!(error = %e, "desk unreachable while checking the link");
                    desk_reachable = false;
                }
                Err(e) => {
                    broken_reason = Some(e.message(lang));
                    if status == LinkStatus::Enabled {
                        status = LinkStatus::Broken;
                    }
                }
            }
        }
        if desk_departments.is_empty() && row.is_linked() {
            // Desk could not tell: the names as last read, so the menus never show ids.
            desk_departments = store::remembered_desk_departments(&self.db, &op.portal.id)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "reading remembered desk departments");
                    Vec::new()
                });
        } else if !desk_departments.is_empty() {
            let same = |known: &[crate::desk_client::DeskDepartment]| {
                let key = |d: &crate::desk_client::DeskDepartment| (d.id.clone(), d.name.clone());
                let mut a: Vec<_> = known.iter().map(key).collect();
                let mut b: Vec<_> = desk_departments.iter().map(key).collect();
                a.sort();
                b.sort();
                a == b
            };
            let known = store::remembered_desk_departments(&self.db, &op.portal.id).await?;
            if same(&known) {
                // Nothing new to remember (a page view writes nothing).
            } else if let Err(e) = store::remember_desk_departments(
                &self.db,
                &op.portal.id,
                &desk_departments,
                self.clock.now_ms(),
            )
            .await
            {
                tracing::warn!(error = %e, "remembering desk departments");
            }
        }
        let link = match (&row.desk_portal_name, &row.admin_email, &row.service_key) {
            (Some(portal), Some(email), Some(key)) => Some(LinkView {
                admin_email: email.clone(),
                is_me: same_name(email, &user.email),
                desk_portal_name: portal.clone(),
                service_key_masked: mask_key(key),
            }),
            _ => None,
        };
        let departments = self.department_views(&op.portal.id).await?;
        let (pending_jobs, failed_jobs) =
            crate::outbox::portal_counts(&self.db, &op.portal.id).await?;
        Ok(IntegrationView {
            status,
            link,
            settings: SettingsView {
                auto_ticket: row.auto_ticket,
                ticket_status: row.ticket_status,
                view_scope: row.view_scope,
            },
            departments,
            broken_reason,
            desk_departments,
            desk_reachable,
            pending_jobs,
            failed_jobs,
        })
    }

    /// Every Chat department with its mapping (`choose` when it has none).
    async fn department_views(&self, chat_portal_id: &str) -> Result<Vec<DepartmentMappingView>> {
        let mappings = store::mappings(&self.db, chat_portal_id).await?;
        let departments = self.chat.departments(chat_portal_id).await?;
        Ok(departments
            .into_iter()
            .map(|d| {
                let m = mappings
                    .iter()
                    .find(|m| m.chat_department_id == d.id)
                    .cloned()
                    .unwrap_or_else(|| MappingRow::choose(&d.id));
                DepartmentMappingView {
                    chat_department_id: d.id,
                    chat_department_name: d.name,
                    mode: m.mode,
                    desk_department_id: m.desk_department_id,
                    auto_associated: m.auto_associated,
                }
            })
            .collect())
    }

    /// `POST …/enable` (I2, I3, I4, I6).
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn enable(
        &self,
        op: &OperatorCtx,
        user: &User,
        req: Option<EnableRequest>,
        lang: Lang,
    ) -> Result<IntegrationView> {
        self.require_admin_and_plan(op)?;
        let req = req.unwrap_or_default();
        let three = req.admin_email.is_some() || req.service_key.is_some();
        let row = store::portal(&self.db, &op.portal.id).await?;
        if three {
            // I3: the desk admin's email, the service key and the portal name.
            let auth = parse_link(
                req.admin_email.as_deref(),
                req.service_key.as_deref(),
                req.desk_portal_name.as_deref(),
            )?;
            self.desk.verify(&auth).await.map_err(link_error)?;
            self.save_link(op, user, &row, &auth, true).await?;
        } else if let Some(portal) = clean(req.desk_portal_name.as_deref()) {
            // I4: the user administers several Desk portals and picked one.
            let portal = PortalName::from(portal.to_lowercase());
            let candidates = self.desk.admin_portals(user).await?;
            if !candidates.iter().any(|c| same_name(c, &portal)) {
                return Err(not_desk_admin());
            }
            self.link_as_admin(op, user, &row, &portal).await?;
        } else if row.is_linked() {
            // I6: enable again, with the settings and mappings it had.
            store::set_enabled(&self.db, &op.portal.id, true, self.clock.now_ms()).await?;
        } else {
            // I2: the current user is a Desk admin: link at once.
            let candidates = self.desk.admin_portals(user).await?;
            match candidates.as_slice() {
                [] => return Err(not_desk_admin()),
                [only] => {
                    let only = only.clone();
                    self.link_as_admin(op, user, &row, &only).await?;
                }
                many => {
                    return Err(Error::new(ErrorCode::ChooseDeskPortal)
                        .with_field("deskPortalName")
                        .with_extra("candidates", json!(many)))
                }
            }
        }
        self.wake.notify_one();
        self.build_view(op, user, lang).await
    }

    async fn link_as_admin(
        &self,
        op: &OperatorCtx,
        user: &User,
        row: &PortalRow,
        portal: &PortalName,
    ) -> Result<()> {
        let key = self
            .desk
            .ensure_service_key(user, portal)
            .await
            .map_err(|e| match e.code {
                ErrorCode::Forbidden | ErrorCode::NotFound | ErrorCode::NotDeskAdmin => {
                    not_desk_admin()
                }
                _ => e,
            })?;
        let auth = DeskAuth {
            portal: PortalName::from(portal.to_lowercase()),
            // The signed-in user is an admin of the portal: the link acts as them ("Me").
            admin_email: user.email.clone(),
            service_key: key.service_key,
            acting: None,
        };
        self.desk.verify(&auth).await.map_err(link_error)?;
        self.save_link(op, user, row, &auth, true).await
    }

    /// Stores a verified link. A new Desk portal starts its department mapping afresh
    /// (I12: same names are mapped, the others are `choose`).
    async fn save_link(
        &self,
        op: &OperatorCtx,
        user: &User,
        row: &PortalRow,
        auth: &DeskAuth,
        enabled: bool,
    ) -> Result<()> {
        let new_portal = row
            .desk_portal_name
            .as_deref()
            .is_none_or(|p| !same_name(p, &auth.portal));
        let plan = if new_portal {
            let desk_departments = self.desk.departments(auth).await?;
            let chat_departments = self.chat.departments(&op.portal.id).await?;
            // No integration / View only were chosen on purpose and name no Desk
            // department: they stay. Everything else starts afresh (I12).
            let kept = store::mappings(&self.db, &op.portal.id).await?;
            let plan = auto_match(&chat_departments, &desk_departments)
                .into_iter()
                .map(|m| {
                    kept.iter()
                        .find(|k| {
                            k.chat_department_id == m.chat_department_id
                                && matches!(k.mode, DeptMode::None | DeptMode::ViewOnly)
                        })
                        .cloned()
                        .unwrap_or(m)
                })
                .collect::<Vec<_>>();
            Some(plan)
        } else {
            None
        };
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        store::save_link(tx.conn(), &op.portal.id, auth, &user.id, enabled, now).await?;
        if let Some(plan) = plan {
            store::clear_mappings(tx.conn(), &op.portal.id).await?;
            for m in &plan {
                store::save_mapping(tx.conn(), &op.portal.id, m, now).await?;
            }
        }
        tx.commit().await
    }

    /// `PUT …/link` (I3, I5): change the desk admin, service key and portal name.
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn update_link(
        &self,
        op: &OperatorCtx,
        user: &User,
        req: LinkRequest,
        lang: Lang,
    ) -> Result<IntegrationView> {
        self.require_admin_and_plan(op)?;
        let auth = parse_link(
            req.admin_email.as_deref(),
            req.service_key.as_deref(),
            req.desk_portal_name.as_deref(),
        )?;
        self.desk.verify(&auth).await.map_err(link_error)?;
        let row = store::portal(&self.db, &op.portal.id).await?;
        // A first link is enabled; changing an existing one keeps its on/off state.
        let enabled = !row.is_linked() || row.enabled;
        self.save_link(op, user, &row, &auth, enabled).await?;
        self.wake.notify_one();
        self.build_view(op, user, lang).await
    }

    /// `POST …/disable` (I6): settings and mappings stay.
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn disable(
        &self,
        op: &OperatorCtx,
        user: &User,
        lang: Lang,
    ) -> Result<IntegrationView> {
        self.require_admin_and_plan(op)?;
        let row = store::portal(&self.db, &op.portal.id).await?;
        if row.is_linked() {
            store::set_enabled(&self.db, &op.portal.id, false, self.clock.now_ms()).await?;
        }
        self.build_view(op, user, lang).await
    }

    /// `PATCH …/settings` (I7, I8, I14).
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn update_settings(
        &self,
        op: &OperatorCtx,
        user: &User,
        patch: SettingsPatch,
        lang: Lang,
    ) -> Result<IntegrationView> {
        self.require_admin_and_plan(op)?;
        let row = store::portal(&self.db, &op.portal.id).await?;
        let auto_ticket = match patch.auto_ticket.as_deref() {
            Some(s) => AutoTicket::parse(s)
                .ok_or_else(|| Error::invalid("autoTicket", "integ-error-auto-ticket"))?,
            None => row.auto_ticket,
        };
        let ticket_status = match patch.ticket_status.as_deref() {
            Some(s) => TicketStatusSetting::parse(s)
                .ok_or_else(|| Error::invalid("ticketStatus", "integ-error-ticket-status"))?,
            None => row.ticket_status,
        };
        let view_scope = match patch.view_scope.as_deref() {
            Some(s) => ViewScope::parse(s)
                .ok_or_else(|| Error::invalid("viewScope", "integ-error-view-scope"))?,
            None => row.view_scope,
        };
        store::save_settings(
            &self.db,
            &op.portal.id,
            auto_ticket,
            ticket_status,
            view_scope,
            self.clock.now_ms(),
        )
        .await?;
        self.build_view(op, user, lang).await
    }

    /// `PUT …/departments/{chatDepartmentId}` (I9).
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn set_department(
        &self,
        op: &OperatorCtx,
        user: &User,
        chat_department_id: &str,
        mode: &str,
        desk_department_id: Option<&str>,
        lang: Lang,
    ) -> Result<IntegrationView> {
        self.require_admin_and_plan(op)?;
        self.chat
            .department(&op.portal.id, chat_department_id)
            .await?
            .ok_or_else(Error::not_found)?;
        let mode =
            DeptMode::parse(mode).ok_or_else(|| Error::invalid("mode", "integ-error-mode"))?;
        let desk_department_id = match mode {
            DeptMode::Mapped => {
                let wanted = clean(desk_department_id).ok_or_else(|| {
                    Error::invalid("deskDepartmentId", "integ-error-desk-department")
                })?;
                let row = store::portal(&self.db, &op.portal.id).await?;
                let auth = row
                    .auth()
                    .ok_or_else(|| Error::new(ErrorCode::IntegrationDisabled))?;
                let desk = self.desk.departments(&auth).await.map_err(link_error)?;
                if !desk.iter().any(|d| d.id == wanted) {
                    return Err(Error::invalid(
                        "deskDepartmentId",
                        "integ-error-desk-department",
                    ));
                }
                Some(DepartmentId::from(wanted))
            }
            _ => None,
        };
        let m = MappingRow {
            chat_department_id: chat_department_id.to_owned(),
            mode,
            desk_department_id,
            auto_associated: false,
        };
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        store::ensure_portal(tx.conn(), &op.portal.id, now).await?;
        store::save_mapping(tx.conn(), &op.portal.id, &m, now).await?;
        tx.commit().await?;
        self.build_view(op, user, lang).await
    }

    /// `DELETE …/departments/{id}/association` (I13): back to `choose`.
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn remove_association(
        &self,
        op: &OperatorCtx,
        user: &User,
        chat_department_id: &str,
        lang: Lang,
    ) -> Result<IntegrationView> {
        self.require_admin_and_plan(op)?;
        self.chat
            .department(&op.portal.id, chat_department_id)
            .await?
            .ok_or_else(Error::not_found)?;
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        store::ensure_portal(tx.conn(), &op.portal.id, now).await?;
        store::save_mapping(
            tx.conn(),
            &op.portal.id,
            &MappingRow::choose(chat_department_id),
            now,
        )
        .await?;
        tx.commit().await?;
        self.build_view(op, user, lang).await
    }

    /// The mode of a Chat department (`choose` without a row; a chat without a
    /// department is treated as `choose` too).
    pub(crate) async fn mode_of(
        &self,
        chat_portal_id: &str,
        chat_department_id: Option<&str>,
    ) -> Result<MappingRow> {
        let Some(dept) = chat_department_id else {
            return Ok(MappingRow::choose(""));
        };
        Ok(store::mapping(&self.db, chat_portal_id, dept)
            .await?
            .unwrap_or_else(|| MappingRow::choose(dept)))
    }
}

/// I12: same-named departments (any case) are mapped, all others `choose`.
pub(crate) fn auto_match(
    chat: &[madoguchi_chat::Department],
    desk: &[DeskDepartment],
) -> Vec<MappingRow> {
    chat.iter()
        .map(
            |c| match desk.iter().find(|d| same_name(&d.name, &c.name)) {
                Some(d) => MappingRow {
                    chat_department_id: c.id.clone(),
                    mode: DeptMode::Mapped,
                    desk_department_id: Some(d.id.clone()),
                    auto_associated: true,
                },
                None => MappingRow::choose(&c.id),
            },
        )
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn i12_same_named_departments_are_mapped_however_many_and_the_rest_choose() {
        let chat = vec![
            madoguchi_chat::Department {
                id: "c1".into(),
                name: "サポート".into(),
            },
            madoguchi_chat::Department {
                id: "c2".into(),
                name: "Sales".into(),
            },
            madoguchi_chat::Department {
                id: "c3".into(),
                name: "経理".into(),
            },
        ];
        let desk = vec![
            DeskDepartment {
                id: "d1".into(),
                name: "サポート".into(),
                is_default: true,
            },
            DeskDepartment {
                id: "d2".into(),
                name: "sales".into(),
                is_default: false,
            },
        ];
        let plan = auto_match(&chat, &desk);
        assert_eq!(plan[0].mode, DeptMode::Mapped);
        assert_eq!(plan[0].desk_department_id.as_deref(), Some("d1"));
        assert_eq!(plan[1].desk_department_id.as_deref(), Some("d2"));
        assert_eq!(plan[2], MappingRow::choose("c3"));
    }

    #[test]
    fn i3_link_fields_are_required_and_named() {
        let e = parse_link(None, Some("k"), Some("acme")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("adminEmail"));
        let e = parse_link(Some("a@example.jp"), Some(" "), Some("acme")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("serviceKey"));
        let a = parse_link(Some("a@example.jp"), Some("k"), Some(" Acme ")).unwrap();
        assert_eq!(a.portal, "acme");
    }
}
