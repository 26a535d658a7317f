//! Hooks the integration plugs into the Chat context. Chat never imports Desk; instead
//! it asks a [`DeskMappingHook`] (installed with [`crate::Chat::set_desk_hook`]) for the
//! parts of its answers that belong to the integration, and tells it about changes
//! it may have to sync. Without the integration, [`NoDeskMapping`] answers.

use crate::chats::{AutoTicket, AutoTicketStatus};
use crate::events::ChatEvent;
use crate::visitors::Visitor;
use async_trait::async_trait;
use madoguchi_core::ids::{ChatId, DepartmentId, TicketId};
use madoguchi_core::{Lang, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

/// The `deskMapping` block of a department (API.md "Chat", I9/I13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeskMapping {
    /// "mapped" | "none" | "view_only" | "choose" (the integration's modes).
    pub mode: String,
    #[schema(value_type = Option<String>)]
    pub desk_department_id: Option<DepartmentId>,
    pub auto_associated: bool,
    /// The I13 message (localised) when the department was just auto-associated.
    pub notice: Option<String>,
}

impl DeskMapping {
    /// No integration: no desk panel, no tickets.
    pub fn none() -> Self {
        Self {
            mode: "none".into(),
            desk_department_id: None,
            auto_associated: false,
            notice: None,
        }
    }
}

/// The integration's part of a chat (API.md "Chat": `deskTicketIds`, `autoTicket`).
/// The integration keeps this state; Chat asks for it when it reads chats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLinks {
    /// Linked Desk tickets, oldest link first (I10, I11).
    pub desk_ticket_ids: Vec<TicketId>,
    pub auto_ticket: AutoTicket,
}

impl Default for ChatLinks {
    fn default() -> Self {
        Self {
            desk_ticket_ids: Vec::new(),
            auto_ticket: AutoTicket {
                status: AutoTicketStatus::None,
                reason: None,
            },
        }
    }
}

#[async_trait]
pub trait DeskMappingHook: Send + Sync {
    /// Called once after a Chat department was created (I13: auto-association). Its
    /// answer is the new department's `deskMapping`. An error is logged and the
    /// department is answered with [`DeskMappingHook::mapping`], else "none".
    async fn on_department_created(
        &self,
        portal_id: &str,
        department_id: &str,
        name: &str,
        lang: Lang,
    ) -> Result<DeskMapping>;

    /// The current mapping of a department (department lists).
    async fn mapping(
        &self,
        portal_id: &str,
        department_id: &str,
        lang: Lang,
    ) -> Result<DeskMapping>;

    /// Called after a visitor was edited (C6) and before the API answers, so the Desk
    /// contact can be created or updated (I18). An error is returned to the caller
    /// (the visitor itself is already saved).
    async fn on_visitor_updated(
        &self,
        portal_id: &str,
        visitor: &Visitor,
        lang: Lang,
    ) -> Result<()> {
        let _ = (portal_id, visitor, lang);
        Ok(())
    }

    /// The links of the chats being read, by chat id (a chat without any may be left
    /// out). One call per read, whatever the number of chats.
    async fn chat_links(&self, chat_ids: &[ChatId]) -> Result<HashMap<ChatId, ChatLinks>> {
        let _ = chat_ids;
        Ok(HashMap::new())
    }

    /// Called after each lifecycle transition was committed (also recorded durably in
    /// `chat_events`, see [`crate::Chat::events_after`]). Must not block: use it as a
    /// wake-up for a worker that reads the events table.
    fn on_chat_event(&self, event: &ChatEvent) {
        let _ = event;
    }

    /// V5: called after the visitor rated an ended chat (its transcript has a new
    /// line). Must not block.
    fn on_chat_rated(&self, chat: &crate::chats::ChatView) {
        let _ = chat;
    }
}

/// The hook without the integration: every department is "none".
pub struct NoDeskMapping;

#[async_trait]
impl DeskMappingHook for NoDeskMapping {
    async fn on_department_created(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: Lang,
    ) -> Result<DeskMapping> {
        Ok(DeskMapping::none())
    }

    async fn mapping(&self, _: &str, _: &str, _: Lang) -> Result<DeskMapping> {
        Ok(DeskMapping::none())
    }
}
