//! Service routes: health, metrics, accounts (API.md "Service").

pub mod auth;

use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .merge(auth::router())
}

/// The body of `/healthz` (documentation only: the handler writes it as JSON).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Health {
    /// "ok" when ready.
    status: String,
    /// Why the server is not ready (503).
    #[schema(value_type = String, required = false)]
    reason: Option<String>,
}

/// Liveness and readiness: 200 `{"status":"ok"}` once the server accepts requests and
/// its database takes writes (a cached write probe, Q6); else 503
/// `{"status":"unavailable","reason":"…"}` saying why (read-only, no space left, …).
#[utoipa::path(get, path = "/healthz", tag = "service",
    responses((status = 200, body = Health, description = "`{\"status\":\"ok\"}`"),
        (status = 503, body = Health, description = "not ready: the database cannot be written or reached")))]
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.db.check_writable().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok"}))),
        Err(reason) => {
            tracing::error!(%reason, "health check: the database cannot be written");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "reason": reason})),
            )
        }
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "service", responses((status = 200, description = "Prometheus text")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
