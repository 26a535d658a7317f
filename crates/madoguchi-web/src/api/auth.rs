//! Accounts: signup, login, logout, me (API.md "Service"; issue Foundation §3).

use crate::chat::ClientAddr;
use crate::error::ApiResult;
use crate::extract::{ApiJson, AuthMethod, AuthUser};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use madoguchi_core::identity::User;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Signup {
    email: String,
    password: String,
    name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    email: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    id: String,
    email: String,
    name: String,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            name: u.name,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Session {
    user: UserView,
    token: String,
}

/// Creates an account (one per email, shared by Desk and Chat) and a token.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "service", request_body = Signup,
    responses((status = 201, body = Session), (status = 409, description = "email_taken"),
        (status = 400, description = "invalid_request, e.g. a password under 10 characters")))]
async fn signup(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<Signup>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    let user = state
        .identity
        .signup(&req.email, &req.password, &req.name)
        .await?;
    let token = state.identity.issue_token(&user.id, "signup").await?;
    let session = Session {
        user: user.into(),
        token,
    };
    Ok((StatusCode::CREATED, Json(session)))
}

/// Logs in with email (any case) and password; any mismatch is `invalid_credentials`.
/// Q6: too many failed logins of one account or from one client address → 429
/// `rate_limited` with `Retry-After`, the same for unknown accounts.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "service", request_body = Login,
    responses((status = 200, body = Session), (status = 401, description = "invalid_credentials"),
        (status = 429, description = "rate_limited, with a Retry-After header")))]
async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<Login>,
) -> ApiResult<Json<Session>> {
    let user = state
        .identity
        .login(&req.email, &req.password, addr.as_deref())
        .await?;
    let token = state.identity.issue_token(&user.id, "login").await?;
    Ok(Json(Session {
        user: user.into(),
        token,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct LoggedOut {
    revoked: bool,
}

/// Revokes the credential used for this call: the bearer token, or the page session
/// (cookie + CSRF header). Every WebSocket opened with it closes, on every node (Q6).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "service",
    responses((status = 200, body = LoggedOut), (status = 401, description = "unauthenticated")))]
async fn logout(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
) -> ApiResult<Json<LoggedOut>> {
    let revoked = match (&auth.method, crate::extract::bearer_token(&headers)) {
        (AuthMethod::Token, Some(token)) => state.identity.revoke_token(token).await?,
        (AuthMethod::Session { .. }, _) => {
            match crate::extract::cookie_value(&headers, crate::extract::SESSION_COOKIE) {
                Some(secret) => state.identity.end_session(secret).await?,
                None => false,
            }
        }
        _ => false,
    };
    Ok(Json(LoggedOut { revoked }))
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "service",
    responses((status = 200, body = UserView), (status = 401, description = "unauthenticated")))]
async fn me(auth: AuthUser) -> Json<UserView> {
    Json(auth.user.into())
}
