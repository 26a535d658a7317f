//! Extractors of the Chat routes: the operator of the portal in the path (auth first,
//! then the portal, then membership), the visitor token, the client address.

use crate::error::ApiError;
use crate::extract::{bearer_token, AuthUser};
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, Path};
use axum::http::request::Parts;
use ipnet::IpNet;
use madoguchi_chat::OperatorCtx;
use madoguchi_core::identity::User;
use madoguchi_core::{Error, ErrorCode};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

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
        let OperatorUser { op, .. } = OperatorUser::from_request_parts(parts, state).await?;
        Ok(Self(op))
    }
}

/// [`ChatOperator`] (the same refusals) with the signed-in user too, for routes that
/// act as that user elsewhere: the integration's calls to Desk.
pub struct OperatorUser {
    pub user: User,
    pub op: OperatorCtx,
}

impl FromRequestParts<AppState> for OperatorUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AuthUser { user, .. } = AuthUser::from_request_parts(parts, state).await?;
        let portal = portal_param(parts, state).await?;
        let op = state.chat.operator_ctx(&portal, &user.id).await?;
        Ok(Self { user, op })
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
/// connection info. Behind a trusted reverse proxy it is read from `X-Forwarded-For`.
pub struct ClientAddr(pub Option<String>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(Self(peer.map(|peer| {
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok());
            client_address(peer, forwarded, &state.settings.trusted_proxies).to_string()
        })))
    }
}

/// The client behind a chain of proxies. Each proxy appends the address it got the
/// request from, so the list is read from the right: while the hop is a trusted proxy,
/// step one entry left; the first untrusted hop is the client. Entries left of it are
/// whatever the client chose to send and are never believed.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl Iterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer;
    if !is_trusted(&client) {
        return client;
    }
    let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
    for hop in hops.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&client) {
                    break;
                }
            }
            // A malformed entry: the last proxy we trust is as far as we can see.
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::client_address;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn q3_forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        // No trusted proxy: the peer, whatever the header says.
        assert_eq!(
            client_address(ip("203.0.113.9"), ["1.2.3.4"].into_iter(), &trusted),
            ip("203.0.113.9")
        );
        // One proxy: the address it saw.
        assert_eq!(
            client_address(ip("10.0.0.2"), ["198.51.100.7"].into_iter(), &trusted),
            ip("198.51.100.7")
        );
        // A spoofed entry left of the real client is ignored; two proxies in a chain,
        // and the header split over two lines.
        assert_eq!(
            client_address(
                ip("10.0.0.2"),
                ["6.6.6.6, 198.51.100.7", "10.1.2.3"].into_iter(),
                &trusted
            ),
            ip("198.51.100.7")
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            client_address(ip("::1"), ["198.51.100.7, nonsense"].into_iter(), &trusted),
            ip("::1")
        );
        // No header from a trusted proxy: the proxy itself.
        assert_eq!(
            client_address(ip("10.0.0.2"), std::iter::empty(), &trusted),
            ip("10.0.0.2")
        );
    }
}
