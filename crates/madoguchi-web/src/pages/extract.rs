//! What a page needs before it renders, as extractors: [`DeskPage`] (a member of the
//! Desk portal in the path), [`DeskAdmin`] (one of its admins) and [`ChatPage`] (an
//! operator of the Chat portal in the path). Each refuses with a [`PageError`], which is
//! always HTML: the login page for someone signed out (coming back afterwards), else an
//! error page in the user's language. A browser never gets JSON from a page.

use super::{encode, error_page, PageContext, SignedIn};
use crate::state::AppState;
use axum::extract::{FromRequestParts, Query, RawPathParams};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use madoguchi_chat::OperatorCtx;
use madoguchi_core::identity::User;
use madoguchi_core::{Error, ErrorCode};
use madoguchi_desk::{Member, Portal};
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::marker::PhantomData;

/// Why a page is not shown, and the HTML answered instead.
#[derive(Clone)]
pub enum PageError {
    /// Nobody is signed in: to `/login?next=<this page>`.
    SignIn { next: String },
    /// An error page with this status and message.
    Page {
        ctx: Box<PageContext>,
        status: StatusCode,
        message: String,
    },
}

impl PageError {
    pub fn new(ctx: &PageContext, status: StatusCode, message: impl Into<String>) -> Self {
        Self::Page {
            ctx: Box::new(ctx.clone()),
            status,
            message: message.into(),
        }
    }

    /// The page for a service's error that no form shows: its status and catalog
    /// message (an internal error is logged and says only that something failed).
    pub fn from_error(ctx: &PageContext, e: Error) -> Self {
        if e.code == ErrorCode::Internal {
            tracing::error!(cause = ?e, "page failed");
            return Self::new(
                ctx,
                StatusCode::INTERNAL_SERVER_ERROR,
                ctx.t("error-internal"),
            );
        }
        Self::new(ctx, crate::error::status_of(e.code), e.message(ctx.lang))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn { next } => {
                Redirect::to(&format!("/login?next={}", encode(&next))).into_response()
            }
            Self::Page {
                ctx,
                status,
                message,
            } => error_page(&ctx, status, &message),
        }
    }
}

/// The `{portal}` segment of the matched route.
async fn portal_param(parts: &mut Parts, ctx: &PageContext) -> Result<String, PageError> {
    let params = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|_| PageError::new(ctx, StatusCode::NOT_FOUND, ctx.t("deskui-not-found")))?;
    params
        .iter()
        .find(|(name, _)| *name == "portal")
        .map(|(_, value)| value.to_owned())
        .ok_or_else(|| PageError::new(ctx, StatusCode::NOT_FOUND, ctx.t("deskui-not-found")))
}

/// A page of one Desk portal: who looks (as a member, with their role) at which portal.
/// An unknown portal is a 404 page, someone who is not a member a 403 page.
pub struct DeskPage {
    pub ctx: PageContext,
    pub member: Member,
    pub portal: Portal,
}

impl DeskPage {
    /// `/desk/{portal}` followed by `rest`.
    pub fn href(&self, rest: &str) -> String {
        format!("/desk/{}{rest}", self.portal.portal_name)
    }

    pub fn t(&self, key: &str) -> String {
        self.ctx.t(key)
    }
}

impl FromRequestParts<AppState> for DeskPage {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let SignedIn { ctx, user } = SignedIn::from_request_parts(parts, state).await?;
        let portal = portal_param(parts, &ctx).await?;
        let member = match state.desk.member(&portal, &user.id).await {
            Ok(m) => m,
            Err(e) if e.code == ErrorCode::NotFound => {
                let message = ctx.t("deskui-unknown-portal");
                return Err(PageError::new(&ctx, StatusCode::NOT_FOUND, message));
            }
            Err(e) if e.code == ErrorCode::Forbidden => {
                let message = ctx.t("deskui-not-member");
                return Err(PageError::new(&ctx, StatusCode::FORBIDDEN, message));
            }
            Err(e) => return Err(desk_error(&ctx, e)),
        };
        let portal = state
            .desk
            .portal(&member)
            .await
            .map_err(|e| desk_error(&ctx, e))?;
        Ok(Self {
            ctx,
            member,
            portal,
        })
    }
}

/// A Desk page for the portal's admins only; anyone else gets the 403 page.
pub struct DeskAdmin(pub DeskPage);

impl FromRequestParts<AppState> for DeskAdmin {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let dp = DeskPage::from_request_parts(parts, state).await?;
        if !dp.member.is_admin() {
            let message = dp.ctx.t("deskui-admin-only");
            return Err(PageError::new(&dp.ctx, StatusCode::FORBIDDEN, message));
        }
        Ok(Self(dp))
    }
}

/// A Desk service's error as a page, in the Desk's words for "not found" and
/// "forbidden" (a page's resource, an admin's section).
pub fn desk_error(ctx: &PageContext, e: Error) -> PageError {
    match e.code {
        ErrorCode::NotFound => {
            PageError::new(ctx, StatusCode::NOT_FOUND, ctx.t("deskui-not-found"))
        }
        ErrorCode::Forbidden => {
            PageError::new(ctx, StatusCode::FORBIDDEN, ctx.t("deskui-admin-only"))
        }
        _ => PageError::from_error(ctx, e),
    }
}

/// The words a Chat-side page says when the portal is unknown or the user is not one of
/// its operators (the Chat pages' own, or the integration's).
pub trait OperatorWords {
    const UNKNOWN_PORTAL: &'static str;
    const NOT_OPERATOR: &'static str;
}

/// The Chat pages' words.
pub struct ChatWords;

impl OperatorWords for ChatWords {
    const UNKNOWN_PORTAL: &'static str = "chatui-unknown-portal";
    const NOT_OPERATOR: &'static str = "chatui-not-operator";
}

/// A page of one Chat portal: the signed-in user as one of its operators. An unknown
/// portal is a 404 page, someone who is not an operator a 403 page.
pub struct ChatPage<W: OperatorWords = ChatWords> {
    pub ctx: PageContext,
    pub user: User,
    pub op: OperatorCtx,
    words: PhantomData<W>,
}

impl<W: OperatorWords> FromRequestParts<AppState> for ChatPage<W> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let SignedIn { ctx, user } = SignedIn::from_request_parts(parts, state).await?;
        let portal = portal_param(parts, &ctx).await?;
        match state.chat.operator_ctx(&portal, &user.id).await {
            Ok(op) => Ok(Self {
                ctx,
                user,
                op,
                words: PhantomData,
            }),
            Err(e) if e.code == ErrorCode::NotFound || e.code == ErrorCode::InvalidRequest => {
                let message = ctx.t(W::UNKNOWN_PORTAL);
                Err(PageError::new(&ctx, StatusCode::NOT_FOUND, message))
            }
            Err(e) if e.code == ErrorCode::Forbidden => {
                let message = ctx.t(W::NOT_OPERATOR);
                Err(PageError::new(&ctx, StatusCode::FORBIDDEN, message))
            }
            Err(e) => Err(PageError::from_error(&ctx, e)),
        }
    }
}

/// A page's query string, or its defaults when it cannot be read: a page shows
/// itself for an odd `?saved=` or `?limit=` rather than refusing.
pub struct PageQuery<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequestParts<S> for PageQuery<T> {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let query = Query::<T>::from_request_parts(parts, state).await;
        Ok(Self(query.map(|Query(q)| q).unwrap_or_default()))
    }
}
