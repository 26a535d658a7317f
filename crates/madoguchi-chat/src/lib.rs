//! Chat bounded context (SPEC C1–C6): portals and plans, operators and departments,
//! visitors, chats and their durable, gap-free message sequence. It never imports the
//! Desk context.
//!
//! # For the integration (madoguchi-integration)
//! The integration calls this crate in-process; everything it needs is public:
//! - Plans (I1): [`Chat::integration_available`] / [`Chat::integration_available_for`].
//! - Portals and members: [`Chat::portal_by_name`], [`Chat::portal_by_id`],
//!   [`Chat::operator_ctx`] (authorises a user on a portal), [`Chat::add_operator`].
//! - Departments (I9, I12, I13): [`Chat::departments`]; plug a [`hooks::DeskMappingHook`] in
//!   with [`Chat::set_desk_hook`] to fill `deskMapping`, a chat's `deskTicketIds` and
//!   `autoTicket` (the integration keeps the chat–ticket link, [`hooks::ChatLinks`]) and to
//!   sync visitors (I18).
//! - Chats (I7, I10, I11, I16): [`Chat::chat_by_id`], [`Chat::messages_after`],
//!   [`Chat::visitor_by_id`].
//! - Lifecycle (I7): the durable table `chat_events` read with [`Chat::events_after`]
//!   (ids increase and become visible in commit order, so "after the last id I handled"
//!   never skips one), plus [`hooks::DeskMappingHook::on_chat_event`] as an immediate
//!   wake-up after each commit.
//! - Live events: [`Chat::subscribe_chat`] / [`Chat::subscribe_ops`] (see [`live`]).

pub mod attachments;
pub mod canned;
pub mod chats;
pub mod departments;
pub mod events;
pub mod hooks;
pub mod live;
pub mod messages;
pub mod operators;
pub mod portals;
pub mod presence;
pub mod protocol;
pub mod ratelimit;
mod serde_time;
pub mod toolkit;
pub mod visitor_experience;
pub mod visitors;

pub use attachments::{Attachment, AttachmentFile, AttachmentView, Reader};
pub use chats::{
    localize_chat_json, localized_reason, AutoTicket, AutoTicketStatus, ChatListFilter, ChatState,
    ChatView, NewChat, Outcome, StartedChat, VisitorSession,
};
pub use departments::{Department, DepartmentView, WidgetConfig, WidgetDepartment};
pub use events::ChatEvent;
pub use hooks::{ChatLinks, DeskMapping, DeskMappingHook, NoDeskMapping};
pub use messages::{Message, MessageView, Sender};
pub use operators::{Availability, NewOperator, Operator, OperatorCtx, Role};
pub use portals::{Plan, Portal, PortalName, PortalSettings, PortalView, SettingsPatch};
pub use visitors::{Visitor, VisitorPatch};

use madoguchi_core::bus::Bus;
use madoguchi_core::{Clock, Db};
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// Visitor tokens work this long after their chat ended, by default: 30 days.
pub const DEFAULT_VISITOR_TOKEN_TTL_MS: i64 = 30 * 86_400_000;

/// The Chat service. Cheap to clone: every member is a handle.
#[derive(Clone)]
pub struct Chat {
    pub(crate) db: Db,
    pub(crate) clock: Clock,
    pub(crate) bus: Arc<dyn Bus>,
    hook: Arc<RwLock<Arc<dyn DeskMappingHook>>>,
    closing: Arc<watch::Sender<bool>>,
    pub(crate) limits: Arc<ratelimit::Limits>,
    /// The key visitor tokens derive from (read once from `server_keys`).
    visitor_key: Arc<tokio::sync::OnceCell<String>>,
    /// How long a visitor token works after its chat ended (milliseconds).
    pub(crate) visitor_token_ttl_ms: i64,
    /// The group-commit writers of messages, started on the first message.
    message_writer: Arc<std::sync::OnceLock<messages::batch::Writers>>,
    /// V1: the open consoles of every node (see [`presence`]).
    pub(crate) presence: Arc<presence::Presence>,
    /// The server's public URL (the URLs of files, V3).
    public_url: Arc<str>,
}

impl Chat {
    /// The visitor token of a chat. It is derived from the chat id with a server key,
    /// so an idempotent retry of the chat's creation answers the same token although
    /// only its hash is stored.
    pub(crate) async fn visitor_token(&self, chat_id: &str) -> madoguchi_core::Result<String> {
        let key = self
            .visitor_key
            .get_or_try_init(|| self.db.server_key("visitor-token"))
            .await?;
        Ok(format!(
            "vt_{}",
            madoguchi_core::ids::derive_secret(key, "visitor-token", chat_id)
        ))
    }

    pub fn new(db: Db, clock: Clock, bus: Arc<dyn Bus>) -> Self {
        Self {
            db,
            clock,
            bus,
            hook: Arc::new(RwLock::new(Arc::new(NoDeskMapping))),
            closing: Arc::new(watch::channel(false).0),
            limits: Arc::new(ratelimit::Limits::default()),
            visitor_key: Arc::new(tokio::sync::OnceCell::new()),
            visitor_token_ttl_ms: DEFAULT_VISITOR_TOKEN_TTL_MS,
            message_writer: Arc::default(),
            presence: Arc::default(),
            public_url: Arc::from(""),
        }
    }

    /// The server's public URL, which the URLs of chat files start with (V3).
    pub fn with_public_url(mut self, public_url: &str) -> Self {
        self.public_url = Arc::from(public_url.trim_end_matches('/'));
        self
    }

    /// How an operator of `portal` reads messages (the URLs of files, V3).
    pub fn operator_reader(&self, portal: &str) -> Reader {
        Reader::operator(&self.public_url, portal)
    }

    /// How the visitor of a chat of `portal` reads messages (V3).
    pub fn visitor_reader(&self, portal: &str) -> Reader {
        Reader::visitor(&self.public_url, portal)
    }

    /// Visitor tokens stop working this long after their chat ended (default 30 days).
    pub fn with_visitor_token_ttl_ms(mut self, ttl_ms: i64) -> Self {
        self.visitor_token_ttl_ms = ttl_ms;
        self
    }

    /// Plugs the integration in (department mapping, visitor sync, lifecycle wake-ups).
    /// May be called at any time; the default is [`NoDeskMapping`].
    pub fn set_desk_hook(&self, hook: Arc<dyn DeskMappingHook>) {
        *self.hook.write().unwrap_or_else(|p| p.into_inner()) = hook;
    }

    /// The hook in use.
    pub fn desk_hook(&self) -> Arc<dyn DeskMappingHook> {
        self.hook.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The clock every time rule of this context reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Tells long-lived tasks (WebSockets) to close: the server is shutting down.
    pub fn close(&self) {
        let _ = self.closing.send(true);
    }

    /// Resolves once [`Chat::close`] was called.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }
}

#[cfg(test)]
mod wire_tests {
    //! The strings every enumeration is written as (API fields, stored columns):
    //! exactly those it had before the strum derives.
    use madoguchi_core::wire::{assert_wire_and_serde_strings, assert_wire_strings};

    #[test]
    fn every_enumeration_keeps_its_wire_strings() {
        assert_wire_and_serde_strings::<crate::toolkit::Routing>(&[
            "broadcast",
            "round_robin",
            "least_busy",
        ]);
        assert_wire_and_serde_strings::<crate::chats::ChatState>(&[
            "waiting", "attended", "missed", "ended",
        ]);
        assert_wire_and_serde_strings::<crate::chats::Outcome>(&["attended", "missed"]);
        assert_wire_and_serde_strings::<crate::chats::AutoTicketStatus>(&[
            "created", "skipped", "pending", "none",
        ]);
        assert_wire_and_serde_strings::<crate::operators::Role>(&[
            "admin",
            "supervisor",
            "operator",
        ]);
        assert_wire_and_serde_strings::<crate::operators::Availability>(&["available", "away"]);
        assert_wire_and_serde_strings::<crate::canned::CannedScope>(&[
            "portal",
            "department",
            "personal",
        ]);
        assert_wire_and_serde_strings::<crate::messages::Sender>(&[
            "visitor", "operator", "system",
        ]);
        assert_wire_strings::<crate::messages::SystemKind>(&[
            "joined",
            "missed",
            "left",
            "ended",
            "ended_idle",
            "offline",
            "rated",
            "participant",
            "transferred",
        ]);
        assert_wire_and_serde_strings::<crate::portals::Plan>(&[
            "free",
            "standard",
            "professional",
            "enterprise",
        ]);
    }
}
