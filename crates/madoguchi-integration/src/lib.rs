//! The Chat–Desk integration (SPEC I1–I20): the link of a Chat portal to a Desk portal
//! with its settings and department mappings; chats become tickets automatically
//! (through a durable outbox, Q2) or by hand; and the desk panel of the operator
//! console (contact, account, SLA, contract, recent tickets, search, associate, reply,
//! reopen/close).
//!
//! It is the only place where Desk and Chat meet. Desk is reached only through
//! [`DeskClient`] (in-process or over HTTP with the service key); Chat is called
//! in-process and calls back through the [`madoguchi_chat::DeskMappingHook`] this crate
//! installs ([`Integration::install`]).
//!
//! # Wiring (madoguchi-web `app.rs`)
//! ```ignore
//! let desk_client = madoguchi_integration::desk_client_for(settings.desk_url.as_deref(), &desk)?;
//! let integration = Integration::new(db, clock, desk_client, chat.clone());
//! integration.install(); // department mapping, visitor sync, lifecycle wake-ups
//! let worker = integration.spawn_worker(shutdown);
//! ```

pub mod chat_desk;
pub mod desk_client;
pub mod hooks;
pub mod link;
pub mod model;
pub mod outbox;
mod store;
pub mod worker;

pub use desk_client::{DeskClient, HttpDesk, InProcessDesk};
pub use model::*;

use madoguchi_chat::Chat;
use madoguchi_core::{Clock, Db};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::{watch, Notify};

#[derive(Clone)]
pub struct Integration {
    pub(crate) db: Db,
    pub(crate) clock: Clock,
    pub(crate) desk: Arc<dyn DeskClient>,
    pub(crate) chat: Chat,
    /// Wakes the outbox worker (a chat event, a new job).
    pub(crate) wake: Arc<Notify>,
    /// Linked chats whose live messages this process watches (I11).
    pub(crate) watching: Arc<Mutex<HashSet<String>>>,
    /// Turns true when the server shuts down (stops the watchers).
    pub(crate) closing: Arc<watch::Sender<bool>>,
}

impl Integration {
    pub fn new(db: Db, clock: Clock, desk: Arc<dyn DeskClient>, chat: Chat) -> Self {
        Self {
            db,
            clock,
            desk,
            chat,
            wake: Arc::new(Notify::new()),
            watching: Arc::default(),
            closing: Arc::new(watch::channel(false).0),
        }
    }

    /// The Desk client in use.
    pub fn desk(&self) -> &Arc<dyn DeskClient> {
        &self.desk
    }

    /// V2: the number of the Desk ticket an offline message became, waiting up to
    /// `wait` for the outbox worker (woken by the message's lifecycle event) to make
    /// it; `None` when the integration does not apply or the ticket is not there yet.
    pub async fn ticket_number_of_chat(
        &self,
        chat_id: &str,
        wait: std::time::Duration,
    ) -> madoguchi_core::Result<Option<i64>> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            let Some(chat) = self.chat.chat_by_id(chat_id).await? else {
                return Ok(None);
            };
            if let Some(ticket_id) = chat.desk_ticket_ids.first() {
                let row = store::portal(&self.db, &chat.portal_id).await?;
                let Some(auth) = row.auth() else {
                    return Ok(None);
                };
                return Ok(Some(
                    self.desk.ticket(&auth, ticket_id).await?.ticket_number,
                ));
            }
            let decided = matches!(
                chat.auto_ticket.status,
                madoguchi_chat::AutoTicketStatus::Skipped
            );
            let row = store::portal(&self.db, &chat.portal_id).await?;
            if decided || !row.is_linked() || !row.enabled || tokio::time::Instant::now() >= until {
                return Ok(None);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Plugs the integration into the Chat context (department mapping I13, visitor
    /// sync I18, lifecycle wake-ups I7).
    pub fn install(&self) {
        self.chat
            .set_desk_hook(Arc::new(hooks::ChatHooks::new(self.clone())));
    }
}

/// The Desk client for `serve`: over HTTP when `--desk-url` is given, else in-process.
pub fn desk_client_for(
    desk_url: Option<&str>,
    desk: &madoguchi_desk::Desk,
) -> anyhow::Result<Arc<dyn DeskClient>> {
    Ok(match desk_url {
        Some(url) => Arc::new(HttpDesk::new(url)?),
        None => Arc::new(InProcessDesk::new(desk.clone())),
    })
}

#[cfg(test)]
mod wire_tests {
    //! The strings every enumeration is written as (API fields, stored columns):
    //! exactly those it had before the strum derives.
    use madoguchi_core::wire::assert_wire_and_serde_strings;

    #[test]
    fn every_enumeration_keeps_its_wire_strings() {
        assert_wire_and_serde_strings::<crate::model::AutoTicket>(&[
            "all", "attended", "missed", "none",
        ]);
        assert_wire_and_serde_strings::<crate::model::TicketStatusSetting>(&["Open", "Closed"]);
        assert_wire_and_serde_strings::<crate::model::ViewScope>(&["all", "associated"]);
        assert_wire_and_serde_strings::<crate::model::DeptMode>(&[
            "mapped",
            "none",
            "view_only",
            "choose",
        ]);
    }
}
