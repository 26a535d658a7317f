//! HTTP and WebSocket layer: routes translate HTTP to domain calls and back; no SQL
//! and no business rules live here. Every API error leaves through [`error::ApiError`]
//! and is rendered once, in the caller's language, by [`error::render_errors`].

pub mod api;
pub mod app;
pub mod assets;
pub mod chat;
pub mod desk;
pub mod error;
pub mod extract;
pub mod files;
pub mod input;
pub mod integration;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod router;
pub mod security;
pub mod sockets;
pub mod state;

pub use app::{Application, Settings};
pub use error::{ApiError, ApiResult};
pub use state::AppState;
