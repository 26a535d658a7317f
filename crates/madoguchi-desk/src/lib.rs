//! Desk bounded context (SPEC D1–D7): portals and members, departments, contacts,
//! accounts, SLAs, contracts, tickets with threads, search and service keys.
//! It never imports the Chat context; the integration reaches it through its API.
//!
//! Every operation on a portal takes a [`Member`]: who acts, on which portal, with
//! which role. It is resolved once per request, from a user ([`Desk::member`]) or
//! from a service key ([`Desk::verify_service_key`]), and every query is scoped to
//! `member.portal_id`. Admin-only operations check the role here, not in the routes.
//!
//! Each resource is a module `<resource>/mod.rs` (the view types, validation and the
//! decisions, as `Desk` methods) beside `<resource>/store.rs` (its SQL: statements,
//! binds, row mapping, nothing else), as in the Chat context. A service opens the
//! write transaction and calls the store functions inside it; shapes that depend on
//! the input are built with `sql::Sql`. Every module keeps all its SQL in its
//! `store.rs`: `mail/store.rs` holds the mailboxes', the import's and the outbox's
//! (the services are `mail/inbound.rs` and `mail/outbound.rs`), `search/store.rs`
//! the postings' and the walks'.
//!
//! The view types ([`Ticket`], [`Contact`], [`Thread`], …) serialise to exactly the
//! JSON of API.md (camelCase, enumerations as written) and deserialise from it, so an
//! HTTP client of the Desk API can reuse them.
//!
//! # API for the integration
//!
//! The Chat–Desk integration (crate `madoguchi-integration`) calls these in-process
//! (and the same operations exist over HTTP with a service key, see API.md):
//!
//! | need | method |
//! |---|---|
//! | Desk portals a user administers (I2, I4) | [`Desk::admin_portals`], [`Desk::admin_portals_by_email`] |
//! | the portal's service key, generated when missing (I2) | [`Desk::service_key_get_or_create`] |
//! | check admin email + key + portal name (I3, I5; a revoked key at once) | [`Desk::verify_service_key`] → the admin as a [`Member`], or `desk_portal_not_found` / `invalid_service_key` / `not_desk_admin` |
//! | act as a member of a portal (by user id) | [`Desk::member`] |
//! | Desk departments (I9, I12, I13) | [`Desk::departments`] |
//! | classifications (I10) | [`Desk::classifications`] |
//! | find a contact by email (I15, I16) | [`Desk::contact_by_email`] (with account, SLA, contract and owner names) |
//! | create or update the contact of a visitor (C6, I18) | [`Desk::upsert_contact_by_email`] |
//! | convert a chat (I7, I10) | [`Desk::create_ticket`] with `channel: Some(Channel::Chat)`, then [`Desk::upsert_chat_thread`] |
//! | ticket with its threads (I16) | [`Desk::ticket_with_threads`] |
//! | recent tickets of a visitor (I16, I14) | [`Desk::tickets_by_contact_email`] (optionally limited to departments) |
//! | search (I19, I14) | [`Desk::search_tickets`] |
//! | reopen / close (I20) | [`Desk::patch_ticket`] with a `TicketPatch { status, .. }` |
//! | reply from the chat | [`Desk::add_thread`] (or [`Desk::add_thread_as`] to name the operator) |
//! | associate a chat / append later messages (I11) | [`Desk::upsert_chat_thread`]: idempotent per (ticket, chat) and message `seq` |
//! | which tickets hold a chat's transcript | [`Desk::tickets_for_chat`] |
//!
//! Also: [`Desk::import_tickets`] (bulk import in one transaction, admins) and the
//! search benchmark `cargo run --release -p madoguchi-desk --example search_bench`.

mod access;
mod accounts;
mod classifications;
mod contacts;
mod contracts;
mod departments;
pub mod mail;
mod members;
mod portals;
pub mod search;
mod service_keys;
mod slas;
mod sql;
mod threads;
mod tickets;

pub use access::{Actor, Member, Role};
pub use accounts::Account;
pub use classifications::{Classifications, DEFAULT_CLASSIFICATIONS};
pub use contacts::{Contact, ContactFilter, ContactPatch, NewContact};
pub use contracts::{Contract, NewContract};
pub use departments::Department;
pub use mail::{
    AttachmentRef, Delivery, ImportOutcome, IncomingAttachment, IncomingMail, Mailbox,
    MailboxConfig, MailboxInput, OutboxJob, OutgoingMail, Security, Unmailable,
};
pub use members::MemberView;
pub use portals::Portal;
pub use search::SearchQuery;
pub use service_keys::ServiceKey;
pub use slas::Sla;
pub use threads::{
    localize_threads, ChatAttachmentIn, ChatMessage, ChatMessageIn, ChatThread, NewThread,
    SystemLine, TextThread, Thread, ThreadAuthor, ThreadKind, CHAT_ATTACHMENT_MAX_BYTES,
};
pub use tickets::{
    Channel, HistoryEntry, NewTicket, Priority, Ticket, TicketFilter, TicketPatch, TicketStatus,
    TicketWithThreads,
};

use madoguchi_core::{Clock, Db};

#[derive(Clone)]
pub struct Desk {
    pub(crate) db: Db,
    pub(crate) clock: Clock,
    /// `--public-url` without a trailing slash, for ticket `webUrl`s.
    pub(crate) public_url: String,
    /// Woken when an outgoing mail is queued (the mail sender waits on it).
    pub(crate) mail_notify: std::sync::Arc<tokio::sync::Notify>,
}

impl Desk {
    pub fn new(db: Db, clock: Clock, public_url: String) -> Self {
        Self {
            db,
            clock,
            public_url,
            mail_notify: Default::default(),
        }
    }

    /// The page of a ticket in the Desk UI (`webUrl`, I17).
    pub fn ticket_url(&self, portal_name: &str, ticket_number: i64) -> String {
        format!(
            "{}/desk/{portal_name}/tickets/{ticket_number}",
            self.public_url
        )
    }
}

/// A required text input: trimmed, not empty, at most `max` characters.
pub(crate) fn required_text(
    field: &'static str,
    value: &str,
    max: usize,
    message: &'static str,
) -> madoguchi_core::Result<String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(madoguchi_core::Error::invalid(field, message));
    }
    Ok(v.to_owned())
}

/// An optional text input: trimmed; empty is none; at most `max` characters.
pub(crate) fn optional_text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
    message: &'static str,
) -> madoguchi_core::Result<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > max => Err(madoguchi_core::Error::invalid(field, message)),
        Some(v) => Ok(Some(v.to_owned())),
    }
}

/// `Option<Option<T>>` for PATCH bodies: absent → `None`, `null` → `Some(None)`.
pub(crate) fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod wire_tests {
    //! The strings every enumeration is written as (API fields, stored columns):
    //! exactly those it had before the strum derives.
    use madoguchi_core::wire::assert_wire_and_serde_strings;

    #[test]
    fn every_enumeration_keeps_its_wire_strings() {
        assert_wire_and_serde_strings::<crate::TicketStatus>(&[
            "Open",
            "On Hold",
            "Escalated",
            "Closed",
        ]);
        assert_wire_and_serde_strings::<crate::Priority>(&["High", "Medium", "Low"]);
        assert_wire_and_serde_strings::<crate::Channel>(&["Chat", "Web", "Email", "Phone"]);
        assert_wire_and_serde_strings::<crate::Role>(&["admin", "agent"]);
        assert_wire_and_serde_strings::<crate::Security>(&["none", "starttls", "tls"]);
        assert_wire_and_serde_strings::<crate::ThreadKind>(&["reply", "note", "chat", "email"]);
    }
}
