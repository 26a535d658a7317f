//! Desk routes (API.md "Desk — /desk/api/v1/portals/{portal}"; SPEC D1–D7).
//!
//! Every `…/portals/{portal}/…` handler takes a [`DeskMember`]: the caller
//! authenticated by token, page session or service key, as a member of the portal in
//! the path, with their role. Handlers translate; the `Desk` service decides (roles,
//! validation, scoping).

mod mail;
mod portals;
mod records;
mod tickets;

use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::state::AppState;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use madoguchi_core::{Error, ErrorCode};
use madoguchi_desk::Member;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

pub const SERVICE_KEY_HEADER: &str = "x-service-key";
pub const SERVICE_ADMIN_HEADER: &str = "x-service-admin";
/// O6: with the service key, the Chat operator a change is made for (their email, and
/// their name percent-encoded as UTF-8); the history and new threads name them.
pub const ACTING_EMAIL_HEADER: &str = "x-acting-operator-email";
pub const ACTING_NAME_HEADER: &str = "x-acting-operator-name";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(portals::router())
        .merge(records::router())
        .merge(tickets::router())
        .merge(mail::router())
}

/// `{data:[…]}`, every list of API.md.
#[derive(Debug, Serialize, ToSchema)]
pub struct DataList<T> {
    pub data: Vec<T>,
}

impl<T> From<Vec<T>> for DataList<T> {
    fn from(data: Vec<T>) -> Self {
        Self { data }
    }
}

/// The caller as a member of the portal named in the path.
///
/// With `X-Service-Key` (and `X-Service-Admin`, the admin's email) the portal's
/// service key authenticates: a wrong or revoked key is 401 `invalid_service_key`, an
/// email that is no admin of the portal 401 `not_desk_admin`, an unknown portal 404.
/// Otherwise the user's token or session authenticates (401 `unauthenticated` before
/// anything is looked up), then the portal (404 `not_found`) and membership (403
/// `forbidden`).
#[derive(Debug, Clone)]
pub struct DeskMember(pub Member);

impl std::ops::Deref for DeskMember {
    type Target = Member;
    fn deref(&self) -> &Member {
        &self.0
    }
}

/// `%E4%BD%90…` back to text (invalid UTF-8 is replaced, never refused).
fn percent_decode(s: &str) -> String {
    let bytes: Vec<u8> = form_urlencoded::parse(format!("n={s}").as_bytes())
        .find(|(k, _)| k == "n")
        .map(|(_, v)| v.into_owned().into_bytes())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

impl FromRequestParts<AppState> for DeskMember {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(member) = parts.extensions.get::<DeskMember>() {
            return Ok(member.clone());
        }
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError(Error::not_found()))?;
        let portal = params
            .iter()
            .find(|(k, _)| *k == "portal")
            .map(|(_, v)| v.to_owned())
            .ok_or_else(|| ApiError(Error::not_found()))?;
        let member = match header(parts, SERVICE_KEY_HEADER) {
            Some(key) => {
                let admin = header(parts, SERVICE_ADMIN_HEADER).unwrap_or("");
                let admin = state
                    .desk
                    .verify_service_key(&portal, admin, key)
                    .await
                    .map_err(|e| match e.code {
                        ErrorCode::DeskPortalNotFound => Error::not_found(),
                        ErrorCode::InvalidServiceKey => {
                            Error::new(ErrorCode::InvalidServiceKey).with_field("X-Service-Key")
                        }
                        ErrorCode::NotDeskAdmin => Error::new(ErrorCode::NotDeskAdmin)
                            .with_field("X-Service-Admin")
                            .with_message("desk-error-service-admin"),
                        _ => e,
                    })?;
                match header(parts, ACTING_EMAIL_HEADER).filter(|e| !e.trim().is_empty()) {
                    Some(email) => {
                        let name = header(parts, ACTING_NAME_HEADER)
                            .map(percent_decode)
                            .unwrap_or_default();
                        state.desk.acting_for(admin, email, &name).await?
                    }
                    None => admin,
                }
            }
            None => {
                let auth = AuthUser::from_request_parts(parts, state).await?;
                state.desk.member(&portal, &auth.user.id).await?
            }
        };
        let member = DeskMember(member);
        parts.extensions.insert(member.clone());
        Ok(member)
    }
}
