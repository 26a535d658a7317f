//! Our own extractors, so that bad input is always 400 `invalid_request` naming the
//! field (axum's `Json` answers 415/422 with plain text), and authentication is
//! checked before any portal or id is looked up.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use madoguchi_core::identity::User;
use madoguchi_core::{Error, ErrorCode, Lang};
use serde::de::DeserializeOwned;

pub const SESSION_COOKIE: &str = "madoguchi_session";
pub const LANG_COOKIE: &str = "madoguchi_lang";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// `deserialize_with` for a body field of a patch where absent and `null` differ:
/// absent → `None` (keep; the field also needs `#[serde(default)]`), `null` →
/// `Some(None)` (clear), a value → `Some(Some(v))`.
pub(crate) fn present<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// Turns a serde error into `invalid_request` naming the field at fault.
fn invalid_from_serde<E: std::fmt::Display>(err: serde_path_to_error::Error<E>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.inner().to_string();
    // serde names a missing or unknown field only in its message: `missing field `x``.
    let named = inner
        .split('`')
        .nth(1)
        .filter(|_| inner.starts_with("missing field") || inner.starts_with("unknown field"));
    let field = match (path.as_str(), named) {
        (".", Some(name)) | ("", Some(name)) => name.to_owned(),
        (p, Some(name)) if inner.starts_with("missing field") => format!("{p}.{name}"),
        (".", None) | ("", None) => String::new(),
        (p, _) => p.to_owned(),
    };
    let mut e = Error::new(ErrorCode::InvalidRequest);
    if !field.is_empty() {
        e = if inner.starts_with("missing field") {
            e.with_message("error-invalid_request-missing")
        } else {
            e.with_message("error-invalid_request-field")
        }
        .with_arg("field", field.clone())
        .with_field(field);
    } else {
        e = e.with_message("error-invalid_request-json");
    }
    tracing::debug!(error = %inner, "rejected request body");
    ApiError(e)
}

/// A header's value, when it is text.
fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A body's JSON as `T` (control characters refused first), or `invalid_request`
/// naming the field at fault.
fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    crate::input::check_json_bytes(bytes)?;
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(invalid_from_serde)
}

/// A JSON body. Requires `Content-Type: application/json`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = header_str(req.headers(), header::CONTENT_TYPE)
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError(
                Error::new(ErrorCode::InvalidRequest)
                    .with_message("error-invalid_request-content-type"),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError(Error::new(ErrorCode::PayloadTooLarge))
            } else {
                ApiError(Error::new(ErrorCode::InvalidRequest))
            }
        })?;
        Ok(ApiJson(decode_json(&bytes)?))
    }
}

/// A JSON body that may be absent (e.g. `POST …/enable` with or without a body).
pub struct OptionalApiJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let has_body = header_str(req.headers(), header::CONTENT_LENGTH).is_some_and(|v| v != "0")
            || req.headers().contains_key(header::TRANSFER_ENCODING);
        if !has_body {
            return Ok(Self(None));
        }
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|_| ApiError(Error::new(ErrorCode::InvalidRequest)))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        Ok(Self(Some(decode_json(&bytes)?)))
    }
}

/// Query parameters (control characters are refused before, by
/// `crate::input::reject_control_chars`, for every route).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        let value = serde_path_to_error::deserialize(de).map_err(invalid_from_serde)?;
        Ok(ApiQuery(value))
    }
}

/// The language for API messages: `Accept-Language`, else Japanese.
pub struct RequestLang(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for RequestLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(crate::error::request_lang(&parts.headers)))
    }
}

pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    Token,
    /// A page session; carries its CSRF token.
    Session {
        csrf: String,
    },
}

/// The authenticated user of an API call: `Authorization: Bearer <token>`, or the page
/// session cookie, in which case an unsafe method also needs the `X-CSRF-Token`
/// header (the console's JS sends it).
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
    pub method: AuthMethod,
}

impl AuthUser {
    pub async fn from_headers(
        state: &AppState,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Option<Self>, ApiError> {
        if let Some(token) = bearer_token(headers) {
            return match state.identity.user_by_token(token).await? {
                Some(user) => Ok(Some(Self {
                    user,
                    method: AuthMethod::Token,
                })),
                None => Err(ErrorCode::Unauthenticated.into()),
            };
        }
        let Some(secret) = cookie_value(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let Some((user, csrf)) = state.identity.session(secret).await? else {
            return Ok(None);
        };
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = header_str(headers, CSRF_HEADER).unwrap_or("");
            if !madoguchi_core::ids::secrets_equal(sent, &csrf) {
                return Err(ApiError(Error::forbidden().with_field(CSRF_HEADER)));
            }
        }
        Ok(Some(Self {
            user,
            method: AuthMethod::Session { csrf },
        }))
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(auth) = parts.extensions.get::<AuthUser>() {
            return Ok(auth.clone());
        }
        let auth = Self::from_headers(state, &parts.method, &parts.headers)
            .await?
            .ok_or(ApiError(Error::new(ErrorCode::Unauthenticated)))?;
        parts.extensions.insert(auth.clone());
        Ok(auth)
    }
}
