//! Shared kernel of Madoguchi.
//!
//! Everything both bounded contexts (Desk and Chat) need and nothing either owns:
//! ids and times, the error type every domain service returns, the ja/en message
//! catalog, the database handle with its migrations, identity (one account per email
//! shared by both apps) and the event bus that fans live events out between nodes.

pub mod bus;
pub mod clock;
pub mod db;
pub mod error;
pub mod fault;
pub mod i18n;
pub mod identity;
pub mod ids;
mod sqlite_writer;
pub mod time;
pub mod transcript;
pub mod wire;

/// For [`Db::sqlite_transaction`] callers.
pub use rusqlite;

pub use clock::Clock;
pub use db::{Backend, Db, SqliteSync, WriteTx};
pub use error::{Error, ErrorCode, Result};
pub use i18n::Lang;

#[cfg(test)]
mod wire_tests {
    //! The strings every enumeration is written as (API fields, stored columns):
    //! exactly those it had before the strum derives.
    use crate::wire::{assert_wire_and_serde_strings, assert_wire_strings};

    #[test]
    fn every_enumeration_keeps_its_wire_strings() {
        assert_wire_and_serde_strings::<crate::ErrorCode>(&[
            "invalid_request",
            "unauthenticated",
            "invalid_credentials",
            "forbidden",
            "not_found",
            "method_not_allowed",
            "payload_too_large",
            "request_timeout",
            "rate_limited",
            "email_taken",
            "portal_name_taken",
            "conflict",
            "no_service_key",
            "invalid_service_key",
            "not_desk_admin",
            "not_desk_admin_email",
            "desk_portal_not_found",
            "choose_desk_portal",
            "plan_required",
            "integration_disabled",
            "forbidden_by_department_mode",
            "visitor_email_required",
            "already_converted",
            "not_chat_owner",
            "file_too_large",
            "file_type_not_allowed",
            "desk_unavailable",
            "storage_unavailable",
            "internal",
        ]);
        assert_wire_strings::<crate::SqliteSync>(&["normal", "full"]);
    }
}
