//! The integration's values: settings (I7, I8, I14), department modes (I9), and the
//! views of API.md "Integration".

use madoguchi_core::ids::DepartmentId;
use madoguchi_core::{Error, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

madoguchi_core::wire_enum! {
    /// Which chats become tickets automatically (I7).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    #[strum(serialize_all = "lowercase")]
    #[schema(as = AutoTicketSetting)]
    pub enum AutoTicket {
        All,
        Attended,
        Missed,
        None,
    }
}

impl AutoTicket {
    /// Does this mode turn a chat with this outcome into a ticket?
    pub fn covers(self, outcome: ChatOutcome) -> bool {
        matches!(
            (self, outcome),
            (Self::All, _)
                | (Self::Attended, ChatOutcome::Attended)
                | (Self::Missed, ChatOutcome::Missed)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatOutcome {
    Attended,
    Missed,
}

madoguchi_core::wire_enum! {
    /// The status of automatic tickets from missed chats (I8); attended ones are Open.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    pub enum TicketStatusSetting {
        Open,
        Closed,
    }
}

madoguchi_core::wire_enum! {
    /// Which tickets recent tickets and search show (I14).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    #[strum(serialize_all = "lowercase")]
    pub enum ViewScope {
        All,
        Associated,
    }
}

/// I14's rule for one ticket: with a scope (the Desk departments mapped to a Chat
/// department), a ticket is in it only when its department is one of them; a ticket
/// with no department is outside. `None` (all departments) holds every ticket. The
/// lists (recent tickets, search) and every per-ticket route apply this same rule.
pub fn in_view_scope(department_id: Option<&DepartmentId>, scope: Option<&[DepartmentId]>) -> bool {
    scope.is_none_or(|ids| department_id.is_some_and(|d| ids.contains(d)))
}

madoguchi_core::wire_enum! {
    /// A Chat department's integration mode (I9).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    #[strum(serialize_all = "snake_case")]
    pub enum DeptMode {
        /// Mapped to a Desk department.
        Mapped,
        /// No integration: no desk panel, no tickets.
        None,
        /// View existing tickets only.
        ViewOnly,
        /// Choose as needed (the default).
        Choose,
    }
}

impl DeptMode {
    pub(crate) fn from_db(s: &str) -> Result<Self> {
        Self::parse(s)
            .ok_or_else(|| Error::internal(anyhow::anyhow!("unknown department mode {s:?}")))
    }

    /// What operators of a department in this mode may do in the chat (I9, API.md).
    pub fn permissions(self) -> Permissions {
        match self {
            Self::Mapped | Self::Choose => Permissions {
                view: true,
                create: true,
                reply: true,
                associate: true,
                change_status: true,
            },
            Self::ViewOnly => Permissions {
                view: true,
                ..Permissions::default()
            },
            Self::None => Permissions::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Permissions {
    pub view: bool,
    pub create: bool,
    pub reply: bool,
    pub associate: bool,
    pub change_status: bool,
}

/// `status` of the integration object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    NotLinked,
    Enabled,
    Disabled,
    Broken,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkView {
    pub admin_email: String,
    /// The desk admin is the current user (shown as 「自分」/"Me", I2).
    pub is_me: bool,
    pub desk_portal_name: String,
    /// Only the key's last 4 characters.
    pub service_key_masked: String,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    pub auto_ticket: AutoTicket,
    pub ticket_status: TicketStatusSetting,
    pub view_scope: ViewScope,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DepartmentMappingView {
    pub chat_department_id: String,
    pub chat_department_name: String,
    pub mode: DeptMode,
    #[schema(value_type = Option<String>)]
    pub desk_department_id: Option<DepartmentId>,
    pub auto_associated: bool,
}

/// The integration object of API.md (`GET …/integrations/desk`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationView {
    pub status: LinkStatus,
    pub link: Option<LinkView>,
    pub settings: SettingsView,
    pub departments: Vec<DepartmentMappingView>,
    /// Why the link is broken (localised), e.g. a regenerated service key (I5).
    pub broken_reason: Option<String>,
    /// The linked Desk portal's departments, for the department menus (I9).
    pub desk_departments: Vec<crate::desk_client::DeskDepartment>,
    /// False when Desk could not be reached to check the link just now.
    pub desk_reachable: bool,
    /// Work for Desk waiting in the outbox (e.g. while Desk is unreachable), and work
    /// that can never be done (Q2).
    pub pending_jobs: i64,
    pub failed_jobs: i64,
}

/// `****…` with only the last 4 characters of the key visible.
pub fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let visible = chars.len().min(4);
    let hidden = chars.len().saturating_sub(visible).clamp(8, 16);
    let tail: String = chars[chars.len() - visible..].iter().collect();
    format!("{}{}", "•".repeat(hidden), tail)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn masked_keys_show_only_the_last_four_characters() {
        let m = mask_key("abcdefghijklmnopqrstuvwxyz3f9a");
        assert!(m.ends_with("3f9a"));
        assert!(!m.contains("abc"));
        assert_eq!(mask_key("ab"), "••••••••ab");
    }

    #[test]
    fn i9_permissions_follow_the_department_mode() {
        assert_eq!(
            DeptMode::Mapped.permissions(),
            DeptMode::Choose.permissions()
        );
        let v = DeptMode::ViewOnly.permissions();
        assert!(v.view && !v.create && !v.reply && !v.associate && !v.change_status);
        assert_eq!(DeptMode::None.permissions(), Permissions::default());
    }

    #[test]
    fn i7_auto_ticket_modes_cover_outcomes() {
        assert!(AutoTicket::All.covers(ChatOutcome::Missed));
        assert!(AutoTicket::Attended.covers(ChatOutcome::Attended));
        assert!(!AutoTicket::Attended.covers(ChatOutcome::Missed));
        assert!(!AutoTicket::None.covers(ChatOutcome::Attended));
    }
}
