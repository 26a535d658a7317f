//! C1: portals and plans. A new portal runs a 30-day trial with Enterprise features;
//! after it, Free unless an admin chose a plan (which ends the trial at once).

mod store;

use crate::operators::Role;
use crate::Chat;
use madoguchi_core::{Error, Result};
use serde::Serialize;
use utoipa::ToSchema;

pub const TRIAL_MS: i64 = 30 * 24 * 3600 * 1000;
pub const DEFAULT_MISSED_AFTER_MS: i64 = 120 * 1000;
pub const DEFAULT_IDLE_AFTER_MS: i64 = 30 * 60 * 1000;
/// Upper bound of both time settings (one week), so a typo cannot park chats forever.
pub const MAX_SETTING_SECONDS: i64 = 7 * 24 * 3600;

/// Path segments under `/chat/` that a portal name must not shadow.
const RESERVED: &[&str] = &[
    "api", "widget", "new", "assets", "static", "login", "logout",
];

/// A portal name, as in Desk: 3–40 lowercase letters, digits and hyphens, not starting
/// or ending with a hyphen, and no word the Chat URLs use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalName(String);

impl PortalName {
    pub fn parse(raw: &str) -> Result<Self> {
        let ok = (3..=40).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-')
            && !RESERVED.contains(&raw);
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Error::invalid("portalName", "chat-error-portal-name"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

madoguchi_core::wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    #[strum(serialize_all = "lowercase")]
    pub enum Plan {
        Free,
        Standard,
        Professional,
        Enterprise,
    }
}

impl Plan {
    /// I1: the integration comes with Professional and Enterprise.
    pub fn includes_integration(self) -> bool {
        matches!(self, Plan::Professional | Plan::Enterprise)
    }
}

/// A portal as stored.
#[derive(Debug, Clone)]
pub struct Portal {
    pub id: String,
    pub name: String,
    pub display_name: String,
    /// The chosen plan (Enterprise while on the trial).
    pub plan: Plan,
    /// Set while the portal has not chosen a plan; the trial runs until then.
    pub trial_ends_at: Option<i64>,
    pub missed_after_ms: i64,
    pub idle_after_ms: i64,
    pub created_at: i64,
    /// O3: how new chats are offered.
    pub routing: crate::toolkit::Routing,
    /// O3: the most attended chats an operator holds at once (`None`: no cap).
    pub max_chats_per_operator: Option<i64>,
    /// V3: the largest file the portal's chats take, in bytes.
    pub max_attachment_bytes: i64,
}

impl Portal {
    pub fn on_trial(&self, now_ms: i64) -> bool {
        self.trial_ends_at.is_some_and(|end| now_ms < end)
    }

    /// The plan in force at `now_ms`: the trial gives Enterprise, an expired trial Free.
    pub fn effective_plan(&self, now_ms: i64) -> Plan {
        match self.trial_ends_at {
            Some(end) if now_ms < end => Plan::Enterprise,
            Some(_) => Plan::Free,
            None => self.plan,
        }
    }

    /// I1: available on Professional/Enterprise and during the trial.
    pub fn integration_available(&self, now_ms: i64) -> bool {
        self.effective_plan(now_ms).includes_integration()
    }
}

/// The portal settings (`PATCH …/settings`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortalSettings {
    /// C5: a waiting chat nobody accepted within this many seconds is missed.
    pub missed_after_seconds: i64,
    /// An attended or missed chat without any message for this long ends.
    pub idle_end_after_seconds: i64,
    /// O3: `broadcast` (every operator who may take a chat sees it), `round_robin` or
    /// `least_busy` (offered to one operator at a time).
    pub routing: crate::toolkit::Routing,
    /// O3: the most attended chats an operator holds at once; null: no cap.
    pub max_chats_per_operator: Option<i64>,
    /// V3: the largest file visitors and operators may send, in bytes (default 10 MB,
    /// at most 50 MB).
    pub max_attachment_bytes: i64,
}

/// A portal in the API (API.md "Chat").
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortalView {
    pub portal_name: String,
    pub display_name: String,
    /// The plan in force (the trial is Enterprise; an expired trial is Free).
    pub plan: Plan,
    #[serde(serialize_with = "crate::serde_time::opt_ms")]
    #[schema(value_type = Option<String>)]
    pub trial_ends_at: Option<i64>,
    pub on_trial: bool,
    pub integration_available: bool,
    /// The caller's role, when the caller is an operator of the portal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// `missedAfterSeconds` and `idleEndAfterSeconds`, at the top level.
    #[serde(flatten)]
    pub settings: PortalSettings,
}

/// Settings to change; absent fields stay.
#[derive(Debug, Clone, Default)]
pub struct SettingsPatch {
    pub missed_after_seconds: Option<i64>,
    pub idle_end_after_seconds: Option<i64>,
    /// O3: absent keeps the routing.
    pub routing: Option<String>,
    /// O3: absent keeps the cap, `Some(None)` removes it.
    pub max_chats_per_operator: Option<Option<i64>>,
    /// V3: absent keeps the file size limit.
    pub max_attachment_bytes: Option<i64>,
}

impl Chat {
    /// The API view of `portal` at the current time.
    pub fn portal_view(&self, portal: &Portal, role: Option<Role>) -> PortalView {
        let now = self.clock.now_ms();
        PortalView {
            portal_name: portal.name.clone(),
            display_name: portal.display_name.clone(),
            plan: portal.effective_plan(now),
            trial_ends_at: portal.trial_ends_at,
            on_trial: portal.on_trial(now),
            integration_available: portal.integration_available(now),
            role,
            settings: settings_of(portal),
        }
    }

    /// I1: whether the Desk integration is available to `portal` now.
    pub fn integration_available(&self, portal: &Portal) -> bool {
        portal.integration_available(self.clock.now_ms())
    }

    /// I1 by portal id; a missing portal is not available.
    pub async fn integration_available_for(&self, portal_id: &str) -> Result<bool> {
        Ok(self
            .portal_by_id(portal_id)
            .await?
            .is_some_and(|p| self.integration_available(&p)))
    }

    /// C1: creates a portal on a 30-day Enterprise trial; `user_id` becomes its admin
    /// operator (C2).
    #[tracing::instrument(skip_all)]
    pub async fn create_portal(
        &self,
        user_id: &str,
        name: &str,
        display_name: Option<&str>,
    ) -> Result<Portal> {
        let name = PortalName::parse(name)?;
        let display_name = match display_name.map(str::trim) {
            None | Some("") => name.as_str().to_owned(),
            Some(d) if d.chars().count() > 200 => {
                return Err(Error::invalid("displayName", "chat-error-display-name"))
            }
            Some(d) => d.to_owned(),
        };
        let now = self.clock.now_ms();
        let portal = Portal {
            id: madoguchi_core::ids::new_id(),
            name: name.as_str().to_owned(),
            display_name,
            plan: Plan::Enterprise,
            trial_ends_at: Some(now + TRIAL_MS),
            missed_after_ms: DEFAULT_MISSED_AFTER_MS,
            idle_after_ms: DEFAULT_IDLE_AFTER_MS,
            created_at: now,
            routing: crate::toolkit::Routing::Broadcast,
            max_chats_per_operator: None,
            max_attachment_bytes: crate::attachments::DEFAULT_MAX_BYTES,
        };
        let mut tx = self.db.begin_write().await?;
        store::insert(&mut tx, &portal, user_id).await?;
        crate::operators::store::insert(&mut tx, &portal.id, user_id, Role::Admin, now).await?;
        tx.commit().await?;
        Ok(portal)
    }

    pub async fn portal_by_name(&self, name: &str) -> Result<Option<Portal>> {
        store::by_name(&self.db, name).await
    }

    pub async fn portal_by_id(&self, id: &str) -> Result<Option<Portal>> {
        store::by_id(&self.db, id).await
    }

    /// The portal called `name`, or 404.
    pub async fn require_portal(&self, name: &str) -> Result<Portal> {
        self.portal_by_name(name)
            .await?
            .ok_or_else(Error::not_found)
    }

    /// The portals `user_id` is an operator of, with the role.
    pub async fn my_portals(&self, user_id: &str) -> Result<Vec<(Portal, Role)>> {
        store::of_user(&self.db, user_id).await
    }

    /// C1: an admin chooses a plan; the trial ends and the plan applies at once.
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn set_plan(&self, op: &crate::OperatorCtx, plan: &str) -> Result<Portal> {
        op.require_admin()?;
        let plan = Plan::parse(plan).ok_or_else(|| Error::invalid("plan", "chat-error-plan"))?;
        store::set_plan(&self.db, &op.portal.id, plan, self.clock.now_ms()).await?;
        self.require_portal(&op.portal.name).await
    }

    /// C5: changes the wait limit and the idle limit (admins).
    pub async fn update_settings(
        &self,
        op: &crate::OperatorCtx,
        patch: SettingsPatch,
    ) -> Result<PortalSettings> {
        op.require_admin()?;
        let check = |v: Option<i64>, field: &str, key: &'static str| -> Result<Option<i64>> {
            match v {
                Some(s) if !(1..=MAX_SETTING_SECONDS).contains(&s) => {
                    Err(Error::invalid(field, key).with_arg("max", MAX_SETTING_SECONDS.to_string()))
                }
                other => Ok(other),
            }
        };
        let missed = check(
            patch.missed_after_seconds,
            "missedAfterSeconds",
            "chat-error-seconds",
        )?;
        let idle = check(
            patch.idle_end_after_seconds,
            "idleEndAfterSeconds",
            "chat-error-seconds",
        )?;
        let routing = patch
            .routing
            .as_deref()
            .map(|r| {
                crate::toolkit::Routing::parse(r)
                    .ok_or_else(|| Error::invalid("routing", "chat-error-routing"))
            })
            .transpose()?;
        let cap = match patch.max_chats_per_operator {
            Some(Some(n)) if !(1..=crate::toolkit::MAX_CAP).contains(&n) => {
                return Err(Error::invalid("maxChatsPerOperator", "chat-error-cap")
                    .with_arg("max", crate::toolkit::MAX_CAP.to_string()))
            }
            other => other,
        };
        let max_file = match patch.max_attachment_bytes {
            Some(n) if !crate::attachments::LIMIT_RANGE.contains(&n) => {
                return Err(
                    Error::invalid("maxAttachmentBytes", "chat-error-attachment-limit")
                        .with_arg("min", crate::attachments::LIMIT_RANGE.start().to_string())
                        .with_arg("max", crate::attachments::LIMIT_RANGE.end().to_string()),
                )
            }
            other => other,
        };
        store::set_settings(
            &self.db,
            &op.portal.id,
            missed.map(|s| s * 1000),
            idle.map(|s| s * 1000),
            max_file,
            self.clock.now_ms(),
        )
        .await?;
        crate::toolkit::set_routing(&self.db, &op.portal.id, routing, cap).await?;
        let portal = self.require_portal(&op.portal.name).await?;
        Ok(settings_of(&portal))
    }

    pub fn settings_of(&self, portal: &Portal) -> PortalSettings {
        settings_of(portal)
    }
}

fn settings_of(portal: &Portal) -> PortalSettings {
    PortalSettings {
        missed_after_seconds: portal.missed_after_ms / 1000,
        idle_end_after_seconds: portal.idle_after_ms / 1000,
        routing: portal.routing,
        max_chats_per_operator: portal.max_chats_per_operator,
        max_attachment_bytes: portal.max_attachment_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_names_are_3_to_40_lowercase_letters_digits_and_hyphens() {
        for ok in ["abc", "acme-2", "a-b", &"x".repeat(40)] {
            assert!(PortalName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "Acme",
            "acme_1",
            "ac me",
            "アクメ",
            &"x".repeat(41),
            "",
        ] {
            assert!(PortalName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_trial_gives_enterprise_then_free_and_a_chosen_plan_holds() {
        let mut p = Portal {
            id: "p".into(),
            name: "acme".into(),
            display_name: "Acme".into(),
            plan: Plan::Enterprise,
            trial_ends_at: Some(1000),
            missed_after_ms: 1,
            idle_after_ms: 1,
            created_at: 0,
            routing: crate::toolkit::Routing::Broadcast,
            max_chats_per_operator: None,
            max_attachment_bytes: crate::attachments::DEFAULT_MAX_BYTES,
        };
        assert_eq!(p.effective_plan(999), Plan::Enterprise);
        assert!(p.integration_available(999));
        assert_eq!(p.effective_plan(1000), Plan::Free);
        assert!(!p.integration_available(1000));
        p.trial_ends_at = None;
        p.plan = Plan::Standard;
        assert!(!p.integration_available(0));
        p.plan = Plan::Professional;
        assert!(p.integration_available(i64::MAX));
    }
}
