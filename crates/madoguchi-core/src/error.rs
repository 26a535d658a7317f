//! The one error type of the domain layer.
//!
//! Domain services (Desk, Chat, integration) return [`Error`]; the web layer maps it
//! once to the API's error JSON. Every API.md error code is a variant of [`ErrorCode`];
//! its ja/en text lives in the catalog (`locales/*/core.ftl`, key `error-<code>`), not
//! at call sites.

use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

crate::wire_enum! {
    /// Machine-readable error codes of API.md, serialised in snake_case.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    #[strum(serialize_all = "snake_case")]
    pub enum ErrorCode {
        InvalidRequest,
        Unauthenticated,
        InvalidCredentials,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        PayloadTooLarge,
        RequestTimeout,
        RateLimited,
        EmailTaken,
        PortalNameTaken,
        Conflict,
        NoServiceKey,
        InvalidServiceKey,
        NotDeskAdmin,
        NotDeskAdminEmail,
        DeskPortalNotFound,
        ChooseDeskPortal,
        PlanRequired,
        IntegrationDisabled,
        ForbiddenByDepartmentMode,
        VisitorEmailRequired,
        AlreadyConverted,
        NotChatOwner,
        FileTooLarge,
        FileTypeNotAllowed,
        DeskUnavailable,
        StorageUnavailable,
        Internal,
    }
}

impl ErrorCode {
    /// Every code, for exhaustive tests of statuses and messages.
    pub const ALL: &'static [ErrorCode] = <Self as strum::VariantArray>::VARIANTS;
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A domain error: a code, optionally the input field at fault, a catalog key for a
/// more specific message, extra JSON members (`fields`, `candidates`), and for
/// internal errors the cause (logged, never shown).
pub struct Error {
    pub code: ErrorCode,
    pub field: Option<String>,
    /// Catalog key of a more specific message than `error-<code>`.
    pub message_key: Option<&'static str>,
    pub message_args: Vec<(&'static str, String)>,
    /// Extra members of the `error` object (e.g. `candidates`, `fields`).
    pub extra: Map<String, Value>,
    pub source: Option<anyhow::Error>,
}

impl Error {
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            field: None,
            message_key: None,
            message_args: Vec::new(),
            extra: Map::new(),
            source: None,
        }
    }

    /// 400 `invalid_request` naming the field, with a specific catalog message.
    pub fn invalid(field: impl Into<String>, message_key: &'static str) -> Self {
        Self::new(ErrorCode::InvalidRequest)
            .with_field(field)
            .with_message(message_key)
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound)
    }

    pub fn forbidden() -> Self {
        Self::new(ErrorCode::Forbidden)
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(ErrorCode::Internal);
        e.source = Some(cause.into());
        e
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_message(mut self, key: &'static str) -> Self {
        self.message_key = Some(key);
        self
    }

    pub fn with_arg(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.message_args.push((name, value.into()));
        self
    }

    pub fn with_extra(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(name.to_owned(), value.into());
        self
    }

    /// The localised message for this error.
    pub fn message(&self, lang: crate::Lang) -> String {
        let default_key = format!("error-{}", self.code.as_str());
        let key = self.message_key.unwrap_or(default_key.as_str());
        let args: Vec<(&str, &str)> = self
            .message_args
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        crate::i18n::t_args(lang, key, &args)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("code", &self.code);
        if let Some(field) = &self.field {
            d.field("field", field);
        }
        if let Some(source) = &self.source {
            d.field("source", &format_args!("{source:#}"));
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.source, &self.field) {
            (Some(source), _) => write!(f, "{}: {source:#}", self.code),
            (None, Some(field)) => write!(f, "{} ({field})", self.code),
            (None, None) => write!(f, "{}", self.code),
        }
    }
}

impl std::error::Error for Error {}

/// Why the database cannot take a write right now (Q6): the storage, not the request,
/// is at fault, so the answer is 503 `storage_unavailable`, `/healthz` says not ready,
/// and start-up names it. Every database error is classified here, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFailure {
    /// SQLITE_READONLY; PostgreSQL 25006 `read_only_sql_transaction` (a read-only
    /// file or file system, a demoted primary, `default_transaction_read_only`).
    ReadOnly,
    /// SQLITE_FULL; PostgreSQL 53100 `disk_full`.
    Full,
    /// SQLITE_IOERR; PostgreSQL 58030 `io_error`.
    Io,
    /// SQLITE_CANTOPEN: the database file (or its journal) cannot be opened.
    CannotOpen,
    /// PostgreSQL cannot be reached: connection refused or lost (class 08, 57P01–57P03),
    /// or no connection within the pool's timeout.
    Unreachable,
}

impl StorageFailure {
    /// The storage failure behind a sqlx error, if it is one.
    pub fn of_sqlx(e: &sqlx::Error) -> Option<Self> {
        match e {
            sqlx::Error::Database(db) => {
                let code = db.code()?;
                if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                    // Extended result codes carry the primary code in the low byte.
                    Self::of_sqlite_code(code.parse::<i32>().ok()? & 0xff)
                } else {
                    Self::of_sqlstate(&code)
                }
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Some(Self::Unreachable),
            _ => None,
        }
    }

    /// The storage failure behind an error of the SQLite writer connection.
    pub fn of_rusqlite(e: &rusqlite::Error) -> Option<Self> {
        match e {
            rusqlite::Error::SqliteFailure(f, _) => Self::of_sqlite_code(f.extended_code & 0xff),
            _ => None,
        }
    }

    fn of_sqlite_code(primary: i32) -> Option<Self> {
        match primary {
            rusqlite::ffi::SQLITE_READONLY => Some(Self::ReadOnly),
            rusqlite::ffi::SQLITE_FULL => Some(Self::Full),
            rusqlite::ffi::SQLITE_IOERR => Some(Self::Io),
            rusqlite::ffi::SQLITE_CANTOPEN => Some(Self::CannotOpen),
            _ => None,
        }
    }

    fn of_sqlstate(code: &str) -> Option<Self> {
        match code {
            "25006" => Some(Self::ReadOnly),
            "53100" => Some(Self::Full),
            "58030" => Some(Self::Io),
            "57P01" | "57P02" | "57P03" => Some(Self::Unreachable),
            c if c.starts_with("08") => Some(Self::Unreachable),
            _ => None,
        }
    }

    /// What an operator reads in `/healthz`, logs and start-up errors.
    pub fn describe(self) -> &'static str {
        match self {
            Self::ReadOnly => "the database is read-only",
            Self::Full => "no space left on device",
            Self::Io => "the database reported an I/O error",
            Self::CannotOpen => "the database file cannot be opened",
            Self::Unreachable => "the database cannot be reached",
        }
    }

    /// 503 `storage_unavailable`, keeping the cause for the log.
    pub fn error(self, cause: impl Into<anyhow::Error>) -> Error {
        let mut e = Error::new(ErrorCode::StorageUnavailable);
        e.source = Some(cause.into().context(self.describe()));
        e
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match StorageFailure::of_sqlx(&e) {
            Some(failure) => failure.error(e),
            None => Self::internal(e),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match StorageFailure::of_rusqlite(&e) {
            Some(failure) => failure.error(e),
            None => Self::internal(e),
        }
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Self::internal(e)
    }
}

/// True when the database refused a row because of a unique constraint; both
/// backends report it through the same kind.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// Maps a unique-constraint violation to a client error; anything else stays internal.
pub trait OnConflict<T> {
    fn on_conflict(self, err: impl FnOnce() -> Error) -> Result<T>;
}

impl<T> OnConflict<T> for std::result::Result<T, sqlx::Error> {
    fn on_conflict(self, err: impl FnOnce() -> Error) -> Result<T> {
        self.map_err(|e| {
            if is_unique_violation(&e) {
                err()
            } else {
                Error::from(e)
            }
        })
    }
}
