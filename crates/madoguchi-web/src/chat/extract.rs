//! Extractors of the Chat routes: the operator of the portal in the path (auth first,
//! then the portal, then membership), the visitor token, the client address.

use crate::error::ApiError;
use crate::extract::{bearer_token, AuthUser};
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, Path};
use axum::http::request::Parts;
use madoguchi_chat::OperatorCtx;
use madoguchi_core::{Error, ErrorCode};
use std::collections::HashMap;
use std::net::SocketAddr;

/// The authenticated caller as an operator of `{portal}`: 401 without credentials,
/// 404 for an unknown portal, 403 for a non-operator.
pub struct ChatOperator(pub OperatorCtx);

/// The `{portal}` path segment.
async fn portal_param(parts: &mut Parts, state: &AppState) -> Result<String, ApiError> {
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError(Error::new(ErrorCode::InvalidRequest)))?;
    params
        .get("portal")
        .cloned()
        .ok_or_else(|| ApiError(Error::not_found()))
}

impl FromRequestParts<AppState> for ChatOperator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let auth = AuthUser::from_request_parts(parts, state).await?;
        let portal = portal_param(parts, state).await?;
        let op = state.chat.operator_ctx(&portal, &auth.user.id).await?;
        Ok(Self(op))
    }
}

/// The visitor token: `Authorization: Bearer …`, else `?token=` (sockets, beacons).
pub struct VisitorToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for VisitorToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        if let Some(token) = bearer_token(&parts.headers) {
            return Ok(Self(token.to_owned()));
        }
        let query = parts.uri.query().unwrap_or("");
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, v)| k == "token" && !v.is_empty())
            .map(|(_, v)| Self(v.into_owned()))
            .ok_or_else(|| ApiError(Error::new(ErrorCode::Unauthenticated)))
    }
}

/// The client's address (for the new-chat limit); `None` when the server runs without
/// connection info.
pub struct ClientAddr(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_string()),
        ))
    }
}
