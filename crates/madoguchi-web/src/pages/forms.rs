//! Forms of every page (one approach, see docs/CONVENTIONS.md "Pages"): a page's form
//! posts back to the page's own address with the session's CSRF token (`_csrf`); the
//! handler answers a redirect (post/redirect/get) or, on a validation error, the same
//! page again with the message next to the field (status 422), in the page language.

use super::{error_page, PageContext};
use crate::state::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use madoguchi_core::{Error, ErrorCode};
use maud::{html, Markup};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// A form with nothing but its CSRF token (delete buttons).
#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default, rename = "_csrf")]
    pub csrf: String,
}

/// The new-portal form of both products (`POST /chat`, `POST /desk`): the same fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct PortalForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    pub portal_name: String,
    pub display_name: String,
}

/// A posted form: its `_csrf` field.
pub(crate) trait Posted {
    fn csrf(&self) -> &str;
}

impl Posted for CsrfForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// [`Posted`] for form structs that keep the token in their field `csrf`.
macro_rules! posted_forms {
    ($($form:ty),+ $(,)?) => {$(
        impl $crate::pages::forms::Posted for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        }
    )+};
}
pub(crate) use posted_forms;

posted_forms!(PortalForm);

/// The body of a posted form that carries this session's CSRF token, or the page to
/// answer instead (400 unreadable, 403 without the token).
#[allow(clippy::result_large_err)] // the error is the page to answer, built once
pub(crate) fn posted<T: Posted>(
    ctx: &PageContext,
    form: Result<Form<T>, FormRejection>,
) -> Result<T, Response> {
    let form = form_body(ctx, form)?;
    if !ctx.csrf_ok(form.csrf()) {
        return Err(csrf_refused(ctx));
    }
    Ok(form)
}

/// The body of a posted form that carries this session's CSRF token, as an extractor
/// (the last argument of a form's handler, after the one that settles who may post):
/// it answers the page [`posted`] would (400 unreadable, 403 without the token), so a
/// handler starts with the form it can use.
pub(crate) struct PostedForm<T>(pub T);

impl<T: Posted + DeserializeOwned + Send> FromRequest<AppState> for PostedForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (ctx, form) = read_form(req, state).await?;
        posted(&ctx, form).map(PostedForm)
    }
}

/// The body of a posted form that needs no CSRF token or checks its own (sign-in,
/// sign-up, sign-out), as an extractor: a 400 page when unreadable.
pub(crate) struct FormBody<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for FormBody<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (ctx, form) = read_form(req, state).await?;
        form_body(&ctx, form).map(FormBody)
    }
}

/// The page context (for the words of an error page) and the form, read or not.
async fn read_form<T: DeserializeOwned + Send>(
    req: Request,
    state: &AppState,
) -> Result<(PageContext, Result<Form<T>, FormRejection>), Response> {
    let (mut parts, body) = req.into_parts();
    let ctx = PageContext::from_request_parts(&mut parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    let form = Form::<T>::from_request(Request::from_parts(parts, body), state).await;
    Ok((ctx, form))
}

/// A posted form whose `_csrf` is not this session's: refused with a page saying so.
pub(crate) fn csrf_refused(ctx: &PageContext) -> Response {
    error_page(ctx, StatusCode::FORBIDDEN, &ctx.t("deskui-csrf-refused"))
}

/// The form body, or a 400 page (axum's own rejection would be plain text).
#[allow(clippy::result_large_err)] // the error is the page to answer, built once
pub(crate) fn form_body<T>(
    ctx: &PageContext,
    form: Result<Form<T>, FormRejection>,
) -> Result<T, Response> {
    form.map(|Form(f)| f).map_err(|_| {
        error_page(
            ctx,
            StatusCode::BAD_REQUEST,
            &ctx.t("error-invalid_request"),
        )
    })
}

/// A 303 to `to` (the "get" of post/redirect/get).
pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A validation error to show on a re-rendered form: next to `field` when the form has
/// that field, else above the form.
#[derive(Debug, Clone)]
pub(crate) struct FormError {
    pub field: Option<String>,
    pub message: String,
}

impl FormError {
    pub fn new(ctx: &PageContext, e: &Error) -> Self {
        Self {
            field: e.field.clone(),
            message: e.message(ctx.lang),
        }
    }

    pub fn field(field: &str, message: String) -> Self {
        Self {
            field: Some(field.to_owned()),
            message,
        }
    }
}

/// Whether an error is the user's to fix in the form (shown next to the field), as
/// opposed to a page-level failure.
pub(crate) fn is_form_error(e: &Error) -> bool {
    !matches!(e.code, ErrorCode::Internal | ErrorCode::Forbidden)
        && (e.field.is_some()
            || matches!(
                e.code,
                ErrorCode::InvalidRequest
                    | ErrorCode::Conflict
                    | ErrorCode::EmailTaken
                    | ErrorCode::PortalNameTaken
            ))
}

/// The message for `field`, placed right after its input.
pub(crate) fn field_error(err: Option<&FormError>, field: &str) -> Markup {
    match err {
        Some(e) if e.field.as_deref() == Some(field) => html! {
            p.field-error role="alert" data-field=(field) { (e.message) }
        },
        _ => html! {},
    }
}

/// `aria-invalid="true"` for the input of `field` when the error names it (the Chat
/// and integration pages mark the input and give the message with [`field_message`]).
pub(crate) fn invalid(err: Option<&FormError>, field: &str) -> Option<&'static str> {
    err.and_then(|e| e.field.as_deref())
        .filter(|f| *f == field)
        .map(|_| "true")
}

/// The message for `field` on the Chat and integration pages, right after its input.
pub(crate) fn field_message(err: Option<&FormError>, field: &str) -> Markup {
    match err {
        Some(e) if e.field.as_deref() == Some(field) => html! {
            p.alert.error.form-error.field-error role="alert" data-field=(field) { (e.message) }
        },
        _ => html! {},
    }
}

/// The message of an error about none of `fields`, above the form.
pub(crate) fn form_alert(err: Option<&FormError>, fields: &[&str]) -> Markup {
    match err {
        Some(e) if !e.field.as_deref().is_some_and(|f| fields.contains(&f)) => html! {
            p.alert.error role="alert" { (e.message) }
        },
        _ => html! {},
    }
}

/// The status of a page re-rendered with a validation error.
pub(crate) const FORM_ERROR_STATUS: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

/// The status of a page with forms: [`FORM_ERROR_STATUS`] when it shows a form's
/// validation error, else 200.
pub(crate) fn form_status(shows_error: bool) -> StatusCode {
    if shows_error {
        FORM_ERROR_STATUS
    } else {
        StatusCode::OK
    }
}

/// The hidden CSRF field of every form.
pub(crate) fn csrf_field(ctx: &PageContext) -> Markup {
    html! { input type="hidden" name="_csrf" value=(ctx.csrf); }
}
