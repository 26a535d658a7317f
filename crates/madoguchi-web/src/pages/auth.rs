//! Login, signup, logout, the language switch and the home page.

use super::layout::page;
use super::{encode, local_next, PageContext, PageError, PageQuery, SignedIn};
use crate::chat::ClientAddr;
use crate::extract::{cookie_value, LANG_COOKIE, SESSION_COOKIE};
use crate::pages::forms::{form_status, CsrfForm, FormBody};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use madoguchi_core::{Error, ErrorCode, Lang};
use maud::html;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct AuthForm {
    email: String,
    password: String,
    name: String,
    next: String,
}

/// A posted login or signup form (it has no CSRF token: there is no session yet):
/// refused with the 403 page when another site posts it, and its `next` settled before
/// anything is written (Q6).
pub(crate) struct AuthPost(AuthForm);

impl FromRequest<AppState> for AuthPost {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let ctx = PageContext::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let same_site = same_origin(&parts.headers);
        let FormBody(mut form) =
            FormBody::<AuthForm>::from_request(Request::from_parts(parts, body), state).await?;
        if !same_site {
            return Err(forbidden(&ctx));
        }
        form.next = local_next(Some(&form.next));
        Ok(Self(form))
    }
}

/// A cookie of the whole site: `SameSite=Lax`, `Secure` when the public URL is https
/// (Q6), `HttpOnly` unless page scripts need it.
pub(crate) fn site_cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    max_age_secs: i64,
    http_only: bool,
) -> String {
    let secure = state
        .settings
        .public_url
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
    cookie::Cookie::build((name, value))
        .path("/")
        .http_only(http_only)
        .secure(secure)
        .same_site(cookie::SameSite::Lax)
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build()
        .to_string()
}

fn session_cookie(state: &AppState, secret: &str, max_age_secs: i64) -> String {
    site_cookie(state, SESSION_COOKIE, secret.to_owned(), max_age_secs, true)
}

/// Cross-site form posts to login/signup are refused (login CSRF): a browser always
/// sends `Origin` on a POST, and it must be this site.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host)
}

pub(crate) async fn home(State(state): State<AppState>, ctx: PageContext) -> Response {
    let Some(user) = &ctx.user else {
        return page(
            &ctx,
            &ctx.t("app-name"),
            html! {
                section.hero {
                    h1 { (ctx.t("home-title")) }
                    p.lead { (ctx.t("home-lead")) }
                    p {
                        a.button.primary href="/login" { (ctx.t("nav-login")) }
                        " "
                        a.button href="/signup" { (ctx.t("signup-title")) }
                    }
                }
            },
        )
        .into_response();
    };
    // Each app's card leads to the portals the user belongs to; an app they belong to
    // nowhere says whom to ask instead of landing on an empty list (issue 15).
    let desk: Vec<(String, String)> = match state.desk.portals_of(&user.id).await {
        Ok(p) => p
            .into_iter()
            .map(|p| (format!("/desk/{}", p.portal_name), p.display_name))
            .collect(),
        Err(e) => return PageError::from_error(&ctx, e).into_response(),
    };
    let chat: Vec<(String, String)> = match state.chat.my_portals(&user.id).await {
        Ok(p) => p
            .into_iter()
            .map(|(p, _)| (format!("/chat/{}", p.name), p.display_name))
            .collect(),
        Err(e) => return PageError::from_error(&ctx, e).into_response(),
    };
    let card =
        |href: &str, name: String, lead: String, portals: &[(String, String)], none: String| {
            html! {
                div.card.app-card {
                    h2 { a href=(href) { (name) } }
                    p { (lead) }
                    @if portals.is_empty() {
                        p.muted.no-membership { (none) }
                        p { a href=(href) { (ctx.t("home-create-portal")) } }
                    } @else {
                        ul.portal-links {
                            @for (link, display) in portals {
                                li { a href=(link) { (display) } }
                            }
                        }
                    }
                }
            }
        };
    page(
        &ctx,
        &ctx.t("app-name"),
        html! {
            section.hero {
                h1 { (ctx.t_args("home-welcome", &[("name", &user.name)])) }
                div.app-cards {
                    (card("/desk", ctx.t("nav-desk"), ctx.t("home-desk-lead"), &desk, ctx.t("home-desk-none")))
                    (card("/chat", ctx.t("nav-chat"), ctx.t("home-chat-lead"), &chat, ctx.t("home-chat-none")))
                }
            }
        },
    )
    .into_response()
}

fn auth_form(ctx: &PageContext, signup: bool, form: &AuthForm, error: Option<&str>) -> Response {
    let (title, action) = if signup {
        (ctx.t("signup-title"), "/signup")
    } else {
        (ctx.t("login-title"), "/login")
    };
    let status = form_status(error.is_some());
    let body = page(
        ctx,
        &title,
        html! {
            section.card.narrow {
                h1 { (title) }
                @if let Some(error) = error {
                    p.alert.error role="alert" { (error) }
                }
                form.stack method="post" action=(action) {
                    input type="hidden" name="next" value=(form.next);
                    @if signup {
                        label { (ctx.t("field-name"))
                            input type="text" name="name" value=(form.name) required autocomplete="name";
                        }
                    }
                    label { (ctx.t("field-email"))
                        input type="email" name="email" value=(form.email) required autocomplete="email";
                    }
                    label { (ctx.t("field-password"))
                        input type="password" name="password" required minlength="10"
                            autocomplete=(if signup { "new-password" } else { "current-password" });
                        @if signup { small.hint { (ctx.t("password-hint")) } }
                    }
                    button.primary type="submit" { (title) }
                }
                p.switch {
                    @if signup {
                        a href={ "/login?next=" (encode(&form.next)) } { (ctx.t("have-account")) }
                    } @else {
                        a href={ "/signup?next=" (encode(&form.next)) } { (ctx.t("no-account")) }
                    }
                }
            }
        },
    );
    (status, body).into_response()
}

pub(crate) async fn login_page(ctx: PageContext, PageQuery(q): PageQuery<NextQuery>) -> Response {
    empty_auth_form(&ctx, false, &q)
}

pub(crate) async fn signup_page(ctx: PageContext, PageQuery(q): PageQuery<NextQuery>) -> Response {
    empty_auth_form(&ctx, true, &q)
}

/// The login or signup form as first shown: empty, going on to `next` afterwards.
fn empty_auth_form(ctx: &PageContext, signup: bool, q: &NextQuery) -> Response {
    let form = AuthForm {
        next: local_next(q.next.as_deref()),
        ..Default::default()
    };
    auth_form(ctx, signup, &form, None)
}

/// Starts a session and goes to `next`, a target already checked by [`local_next`].
async fn start_session(state: &AppState, ctx: &PageContext, user_id: &str, next: &str) -> Response {
    match state.identity.start_session(user_id).await {
        Ok((secret, _csrf)) => (
            [(
                header::SET_COOKIE,
                session_cookie(state, &secret, 30 * 24 * 3600),
            )],
            Redirect::to(next),
        )
            .into_response(),
        Err(e) => PageError::from_error(ctx, e).into_response(),
    }
}

pub(crate) async fn login_submit(
    State(state): State<AppState>,
    ctx: PageContext,
    ClientAddr(addr): ClientAddr,
    AuthPost(form): AuthPost,
) -> Response {
    let login = state
        .identity
        .login(&form.email, &form.password, addr.as_deref())
        .await;
    match login {
        Ok(user) => start_session(&state, &ctx, &user.id, &form.next).await,
        Err(e) => {
            let retry_after = crate::error::retry_after(&e);
            let mut res = refused(&ctx, false, form, e);
            // Q6: the throttle's answer keeps its status and Retry-After on the page.
            if let Some(secs) = retry_after {
                *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                res.headers_mut().insert(header::RETRY_AFTER, secs.into());
            }
            res
        }
    }
}

pub(crate) async fn signup_submit(
    State(state): State<AppState>,
    ctx: PageContext,
    headers: HeaderMap,
    AuthPost(form): AuthPost,
) -> Response {
    let signup = state
        .identity
        .signup(&form.email, &form.password, &form.name)
        .await;
    match signup {
        Ok(user) => {
            if cookie_value(&headers, LANG_COOKIE).is_some() || ctx.lang != Lang::Ja {
                let _ = state.identity.set_lang(&user.id, ctx.lang).await;
            }
            start_session(&state, &ctx, &user.id, &form.next).await
        }
        Err(e) => refused(&ctx, true, form, e),
    }
}

/// A cross-site post of a login, signup or logout form.
fn forbidden(ctx: &PageContext) -> Response {
    super::error_page(ctx, StatusCode::FORBIDDEN, &ctx.t("error-forbidden"))
}

/// A login or signup the service refused: the form again with its message, without
/// the password (an internal failure is the error page).
fn refused(ctx: &PageContext, signup: bool, mut form: AuthForm, e: Error) -> Response {
    if e.code == ErrorCode::Internal {
        return PageError::from_error(ctx, e).into_response();
    }
    form.password.clear();
    auth_form(ctx, signup, &form, Some(&e.message(ctx.lang)))
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    FormBody(form): FormBody<CsrfForm>,
) -> Response {
    if !signed_in.ctx.csrf_ok(&form.csrf) {
        return forbidden(&signed_in.ctx);
    }
    if let Some(secret) = cookie_value(&headers, SESSION_COOKIE) {
        if let Err(e) = state.identity.end_session(secret).await {
            return PageError::from_error(&signed_in.ctx, e).into_response();
        }
    }
    (
        [(header::SET_COOKIE, session_cookie(&state, "", 0))],
        Redirect::to("/login"),
    )
        .into_response()
}

#[derive(Deserialize)]
pub(crate) struct LangQuery {
    set: String,
    next: Option<String>,
}

/// Switches the page language: remembered in a cookie and, when logged in, as the
/// user's choice.
pub(crate) async fn switch_lang(
    State(state): State<AppState>,
    ctx: PageContext,
    q: Result<Query<LangQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        let message = ctx.t("error-invalid_request");
        return PageError::new(&ctx, StatusCode::BAD_REQUEST, message).into_response();
    };
    let lang = Lang::parse(&q.set).unwrap_or_default();
    if let Some(user) = &ctx.user {
        if let Err(e) = state.identity.set_lang(&user.id, lang).await {
            return PageError::from_error(&ctx, e).into_response();
        }
    }
    (
        [(
            header::SET_COOKIE,
            site_cookie(
                &state,
                LANG_COOKIE,
                lang.code().to_owned(),
                31_536_000,
                false,
            ),
        )],
        Redirect::to(&local_next(q.next.as_deref())),
    )
        .into_response()
}
