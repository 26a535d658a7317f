//! Chat routes (API.md "Chat" and "Widget").

use crate::app::Shutdown;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}

/// Background work of the Chat context (missed-chat timer, idle chats).
pub fn spawn_background(
    _state: &AppState,
    _shutdown: Shutdown,
) -> Vec<tokio::task::JoinHandle<()>> {
    Vec::new()
}
