//! Chat routes (API.md "Chat" and "Widget"): portals, operators, departments, chats,
//! the anonymous widget API and both WebSockets. Handlers translate; the Chat service
//! (`madoguchi_chat::Chat`) decides.

mod attachments;
mod chats;
mod extract;
mod portals;
mod toolkit;
mod visitor;
pub(crate) mod widget;
pub mod ws;

pub use extract::ClientAddr;
pub use extract::{ChatOperator, OperatorUser};

use crate::app::Shutdown;
use crate::state::AppState;
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// How often the lifecycle timer runs: a waiting chat is missed within 1 s after its
/// portal's limit (C5).
pub const TIMER_EVERY: Duration = Duration::from_millis(250);
/// Idle chats are checked every this many timer ticks.
const IDLE_EVERY_TICKS: u32 = 4;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(portals::router())
        .merge(chats::router())
        .merge(visitor::router())
        .merge(toolkit::router())
        .merge(attachments::router())
        .routes(routes!(ws::operator_ws))
        .merge(widget::router())
}

/// Background work of the Chat context: the lifecycle timer (missed and idle chats,
/// read from the injected clock so tests advance it instead of sleeping) and closing
/// the WebSockets on shutdown.
pub fn spawn_background(state: &AppState, shutdown: Shutdown) -> Vec<tokio::task::JoinHandle<()>> {
    let chat = state.chat.clone();
    let mut stop = shutdown.clone();
    let closer = tokio::spawn(async move {
        stop.wait().await;
        chat.close();
    });
    let chat = state.chat.clone();
    let mut stop = shutdown;
    let timer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(TIMER_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut idle_in: u32 = IDLE_EVERY_TICKS;
        loop {
            tokio::select! {
                _ = stop.wait() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = chat.mark_overdue_missed().await {
                tracing::warn!(error = %e, "marking missed chats failed");
            }
            if let Err(e) = chat.route_waiting().await {
                tracing::warn!(error = %e, "routing waiting chats failed");
            }
            idle_in -= 1;
            if idle_in == 0 {
                idle_in = IDLE_EVERY_TICKS;
                if let Err(e) = chat.end_idle_chats().await {
                    tracing::warn!(error = %e, "ending idle chats failed");
                }
            }
        }
    });
    vec![closer, timer]
}
