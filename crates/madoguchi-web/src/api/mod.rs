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

/// Liveness and readiness: answers once the server accepts requests and its database
/// answers.
#[utoipa::path(get, path = "/healthz", tag = "service",
    responses((status = 200, body = Health, description = "`{\"status\":\"ok\"}`"),
        (status = 503, body = Health, description = "not ready, e.g. the database is unreachable")))]
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok"}))),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable"})),
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
