//! Server-rendered pages (ja/en). Pages call the same services as the API; forms post
//! back with the session's CSRF token in `_csrf`.

pub mod auth;
pub mod chat;
pub mod desk;
pub mod extract;
pub mod forms;
pub mod integration;
pub mod layout;

pub use extract::{ChatPage, DeskAdmin, DeskPage, PageError, PageQuery};

use crate::extract::{cookie_value, LANG_COOKIE, SESSION_COOKIE};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use madoguchi_core::identity::User;
use madoguchi_core::{i18n, Lang};

/// Who is looking at a page, in which language, and the CSRF token for its forms.
#[derive(Clone)]
pub struct PageContext {
    pub user: Option<User>,
    pub csrf: String,
    pub lang: Lang,
    /// Path and query of this page (for `next=` and the language switch).
    pub path: String,
}

impl PageContext {
    pub fn t(&self, key: &str) -> String {
        i18n::t(self.lang, key)
    }

    pub fn t_args(&self, key: &str, args: &[(&str, &str)]) -> String {
        i18n::t_args(self.lang, key, args)
    }

    /// True when a submitted form carries this session's CSRF token.
    pub fn csrf_ok(&self, sent: &str) -> bool {
        !self.csrf.is_empty() && madoguchi_core::ids::secrets_equal(sent, &self.csrf)
    }
}

/// The page language: the user's saved choice, else the language cookie, else
/// `Accept-Language`, else Japanese.
pub fn page_lang(user: Option<&User>, headers: &axum::http::HeaderMap) -> Lang {
    user.and_then(|u| u.lang.as_deref())
        .and_then(Lang::parse)
        .or_else(|| cookie_value(headers, LANG_COOKIE).and_then(Lang::parse))
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or_default()
}

impl FromRequestParts<AppState> for PageContext {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        // Read once a request: a page's extractor and its form's both need it.
        if let Some(ctx) = parts.extensions.get::<PageContext>() {
            return Ok(ctx.clone());
        }
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        let mut ctx = Self {
            user: None,
            csrf: String::new(),
            lang: page_lang(None, &parts.headers),
            path,
        };
        if let Some(secret) = cookie_value(&parts.headers, SESSION_COOKIE) {
            match state.identity.session(secret).await {
                Ok(Some((user, csrf))) => {
                    ctx.lang = page_lang(Some(&user), &parts.headers);
                    ctx.user = Some(user);
                    ctx.csrf = csrf;
                }
                Ok(None) => {}
                Err(e) => return Err(PageError::from_error(&ctx, e)),
            }
        }
        parts.extensions.insert(ctx.clone());
        Ok(ctx)
    }
}

/// A page that needs a logged-in user: otherwise a redirect to the login page that
/// comes back here afterwards (ticket deep links keep working).
pub struct SignedIn {
    pub ctx: PageContext,
    pub user: User,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let ctx = PageContext::from_request_parts(parts, state).await?;
        match ctx.user.clone() {
            Some(user) => Ok(Self { ctx, user }),
            None => Err(PageError::SignIn { next: ctx.path }),
        }
    }
}

pub fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A safe local redirect target: only paths on this site, else the home page. A path
/// starts with one `/` (not `//` or `/\`, which browsers read as another host), has no
/// backslash and no control character (Q6: `/%0aX` must not reach the `Location`
/// header), so it is always a valid header value and never names a scheme or host.
pub fn local_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_local_path(n) => n.to_owned(),
        _ => "/".to_owned(),
    }
}

fn is_local_path(n: &str) -> bool {
    n.starts_with('/')
        && !n.starts_with("//")
        && !n.contains('\\')
        && !n.chars().any(char::is_control)
        && axum::http::HeaderValue::from_str(n).is_ok()
}

/// An HTML error page (pages never answer raw JSON to people).
pub fn error_page(ctx: &PageContext, status: StatusCode, message: &str) -> Response {
    let body = layout::page(
        ctx,
        &ctx.t("page-error-title"),
        maud::html! {
            section.card.narrow {
                h1 { (ctx.t("page-error-title")) }
                p { (message) }
                p { a href="/" { (ctx.t("nav-home")) } }
            }
        },
    );
    (status, body).into_response()
}
