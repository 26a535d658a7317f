//! Chat pages (SPEC C1–C6): the list of my chat portals, the operator console and the
//! portal settings, plus the embeddable widget script and the console's assets.
//!
//! Pages render what the server knows at load time from the Chat services; every change
//! goes through the JSON API from the page's JS (one contract, one set of error
//! messages), with the session cookie and the `X-CSRF-Token` header.

mod canned;
mod console;
mod portals;
mod preview;
mod settings;

use super::{error_page, PageContext};
use crate::state::AppState;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use madoguchi_chat::{OperatorCtx, Plan, Role};
use madoguchi_core::ErrorCode;

pub const WIDGET_JS: &str = include_str!("../assets/widget.js");
pub const WIDGET_CSS: &str = include_str!("../assets/widget.css");

pub const CHAT_CLIENT_JS: &str = include_str!("../assets/chat-client.js");

/// A chat script as served: the shared chat client in front of it, both inside one
/// function so that nothing is added to the page (why: the top of chat-client.js).
fn with_chat_client(script: &str) -> String {
    format!("(function () {{\n{CHAT_CLIENT_JS}\n{script}\n}})();\n")
}

/// The widget script as served: the chat client, its stylesheet filled in as a string
/// (applied as a constructable stylesheet, which a host page's CSP allows; Q6) and its
/// words from the catalog.
static WIDGET_SCRIPT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let css = serde_json::Value::String(WIDGET_CSS.to_owned()).to_string();
    let labels = crate::chat::widget::script_labels().to_string();
    with_chat_client(
        &WIDGET_JS
            .replacen("'/*madoguchi:widget.css*/'", &css, 1)
            .replacen("'/*madoguchi:widget-labels*/'", &labels, 1),
    )
});
/// The console script as served, with the chat client.
pub static CONSOLE_JS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| with_chat_client(include_str!("../assets/console.js")));
pub const CONSOLE_CSS: &str = include_str!("../assets/console.css");
pub const CHAT_PAGES_JS: &str = include_str!("../assets/chat-pages.js");
pub const VISITOR_PANEL_JS: &str = include_str!("../assets/visitor-panel.js");
pub const CHAT_HOURS_JS: &str = include_str!("../assets/chat-hours.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/chat", get(portals::portals_page))
        .route("/chat/widget.js", get(widget_js))
        .route("/chat/widget.css", get(widget_css))
        .route("/chat/{portal}", get(console::console_page))
        .route("/chat/{portal}/settings", get(settings::settings_page))
        .route("/chat/{portal}/preview", get(preview::preview_page))
        .route(
            "/chat/{portal}/settings/canned-responses",
            get(canned::canned_page),
        )
        .route(
            "/assets/console.js",
            get(|| async {
                crate::assets::asset("application/javascript; charset=utf-8", &CONSOLE_JS)
            }),
        )
        .route(
            "/assets/console.css",
            get(|| async { crate::assets::asset("text/css; charset=utf-8", CONSOLE_CSS) }),
        )
        .route(
            "/assets/chat-hours.js",
            get(|| async {
                crate::assets::asset("application/javascript; charset=utf-8", CHAT_HOURS_JS)
            }),
        )
        .route(
            "/assets/visitor-panel.js",
            get(|| async {
                crate::assets::asset("application/javascript; charset=utf-8", VISITOR_PANEL_JS)
            }),
        )
        .route(
            "/assets/chat-pages.js",
            get(|| async {
                crate::assets::asset("application/javascript; charset=utf-8", CHAT_PAGES_JS)
            }),
        )
}

/// `GET /chat/widget.js` (C3): loaded by any website, so any origin may fetch it. A short
/// cache keeps upgrades reaching visitors within minutes.
async fn widget_js() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (
                header::HeaderName::from_static("cross-origin-resource-policy"),
                "cross-origin",
            ),
        ],
        WIDGET_SCRIPT.as_str(),
    )
        .into_response()
}

/// `GET /chat/widget.css`: the widget's styles for browsers without constructable
/// stylesheets, linked from its Shadow root on any website.
async fn widget_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (
                header::HeaderName::from_static("cross-origin-resource-policy"),
                "cross-origin",
            ),
        ],
        WIDGET_CSS,
    )
        .into_response()
}

/// The signed-in user as an operator of `portal`, or the page to show instead: 404 for
/// an unknown portal, 403 for someone who is not one of its operators.
async fn operator_or_page(
    state: &AppState,
    ctx: &PageContext,
    user_id: &str,
    portal: &str,
) -> Result<OperatorCtx, Response> {
    match state.chat.operator_ctx(portal, user_id).await {
        Ok(op) => Ok(op),
        Err(e) if e.code == ErrorCode::NotFound || e.code == ErrorCode::InvalidRequest => Err(
            error_page(ctx, StatusCode::NOT_FOUND, &ctx.t("chatui-unknown-portal")),
        ),
        Err(e) if e.code == ErrorCode::Forbidden => Err(error_page(
            ctx,
            StatusCode::FORBIDDEN,
            &ctx.t("chatui-not-operator"),
        )),
        Err(e) => Err(crate::ApiError(e).into_response()),
    }
}

fn role_label(ctx: &PageContext, role: Role) -> String {
    ctx.t(&format!("chatui-role-{}", role.as_str()))
}

fn plan_label(ctx: &PageContext, plan: Plan) -> String {
    ctx.t(&format!("chatui-plan-{}", plan.as_str()))
}

/// A date for people (the UTC day of an RFC 3339 time).
fn day(ms: i64) -> String {
    madoguchi_core::time::rfc3339(ms)
        .get(..10)
        .unwrap_or_default()
        .to_owned()
}

/// The URL of an embedded asset with a fingerprint of its content: assets are cached
/// for an hour, and an upgraded binary must not run yesterday's script.
fn versioned(path: &str, body: &str) -> String {
    // FNV-1a: tiny, stable across builds and platforms (unlike `DefaultHasher`).
    let hash = body.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{path}?v={:08x}", hash >> 32)
}

/// `<link>` and `<script>` tags of the chat pages' own CSS and JS.
fn console_css() -> maud::Markup {
    maud::html! { link rel="stylesheet" href=(versioned("/assets/console.css", CONSOLE_CSS)); }
}

fn chat_pages_js() -> maud::Markup {
    maud::html! { script src=(versioned("/assets/chat-pages.js", CHAT_PAGES_JS)) defer {} }
}

/// JSON for a `<script type="application/json">` block: `<` is escaped so that no
/// string can close the script element.
fn script_json(value: &serde_json::Value) -> maud::PreEscaped<String> {
    maud::PreEscaped(value.to_string().replace('<', "\\u003c"))
}
