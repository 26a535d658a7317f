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

/// For [`Db::sqlite_transaction`] callers.
pub use rusqlite;

pub use clock::Clock;
pub use db::{Backend, Db, SqliteSync, WriteTx};
pub use error::{Error, ErrorCode, Result};
pub use i18n::Lang;
