//! Every route of the product, in one file: read this to know what a path does.
//!
//! - The JSON API (API.md) is grouped by its `OpenApiRouter` modules, each mounted here
//!   with the paths it serves; the handlers carry `#[utoipa::path]`, so
//!   `/api/openapi.json` lists every operation.
//! - Pages (HTML) and assets are listed route by route.
//! - Anything else is a 404 `not_found` (JSON, like the API).

use crate::assets;
use crate::pages::{auth, chat, desk, integration};
use crate::state::AppState;
use axum::http::header;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Madoguchi",
        description = "Self-hosted live chat + helpdesk. HTTP contract v1."
    ),
    tags(
        (name = "service", description = "Health, metrics, accounts"),
        (name = "desk", description = "Desk: portals, tickets, contacts"),
        (name = "chat", description = "Chat: portals, operators, chats"),
        (name = "widget", description = "Anonymous website visitor"),
        (name = "integration", description = "Chat–Desk integration")
    )
)]
struct ApiDoc;

/// Every route and the layers around them.
pub fn router(state: AppState) -> Router {
    let (api, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        // `/healthz`, `/metrics`, `/api/v1/auth/{signup,login,logout,me}`.
        .merge(crate::api::router())
        // `/desk/api/v1/portals/…`: portals, members, departments, classifications,
        // accounts, SLAs, contracts, contacts, tickets, threads, mailboxes, service key.
        .merge(crate::desk::router())
        // `/chat/api/v1/portals/…` (portals, operators, departments, chats, messages,
        // canned responses, attachments, the operator socket `…/ws`) and
        // `/chat/widget/v1/{portal}/…` (the visitor's widget and its socket).
        .merge(crate::chat::router())
        // `/chat/api/v1/portals/{portal}/integrations/desk…` and
        // `/chat/api/v1/portals/{portal}/chats/{id}/desk…` (the Desk panel).
        .merge(crate::integration::router())
        .split_for_parts();
    // Path parameters, security and error answers of every operation (openapi.rs).
    crate::openapi::complete(&mut openapi);
    let openapi = Arc::new(openapi);
    let metrics = state.metrics.clone();
    let page_headers = Arc::new(crate::security::PageHeaders::new(
        &state.settings.public_url,
    ));
    api.route(
        "/api/openapi.json",
        get(move || {
            let openapi = openapi.clone();
            async move { axum::Json(openapi.as_ref().clone()) }
        }),
    )
    .merge(pages())
    .merge(asset_routes())
    .fallback(|| async { crate::ApiError::from(madoguchi_core::ErrorCode::NotFound) })
    .with_state(state)
    // The last layer added is the outermost.
    .layer(axum::middleware::from_fn(
        crate::input::reject_control_chars,
    ))
    .layer(axum::middleware::from_fn_with_state(
        page_headers,
        crate::security::page_headers,
    ))
    .layer(
        tower_http::set_header::SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            header::HeaderValue::from_static("nosniff"),
        ),
    )
    // 1 MB and 30 s per request; the upload routes get more (files.rs).
    .layer(axum::middleware::from_fn(crate::files::request_limits))
    .layer(axum::middleware::from_fn_with_state(
        metrics,
        crate::metrics::track,
    ))
    .layer(CatchPanicLayer::custom(crate::error::panic_response))
    .layer(axum::middleware::from_fn(crate::error::render_errors))
    .layer(TraceLayer::new_for_http())
}

/// The HTML pages (ja/en, `crate::pages`).
fn pages() -> Router<AppState> {
    use chat::{canned, console, preview};
    use desk::{contacts, mail, portals, search, settings, tickets};
    Router::new()
        // Accounts and the home page.
        .route("/", get(auth::home))
        .route("/login", get(auth::login_page).post(auth::login_submit))
        .route("/signup", get(auth::signup_page).post(auth::signup_submit))
        .route("/logout", post(auth::logout))
        .route("/lang", get(auth::switch_lang))
        // Desk (server forms: post, then redirect or the page again with the errors).
        .route(
            "/desk",
            get(portals::portals_page).post(portals::create_portal),
        )
        .route("/desk/{portal}", get(tickets::list_page))
        .route(
            "/desk/{portal}/tickets",
            get(tickets::list_redirect).post(tickets::create_ticket),
        )
        .route("/desk/{portal}/tickets/new", get(tickets::new_ticket_page))
        .route(
            "/desk/{portal}/tickets/{number}",
            get(tickets::ticket_page).post(tickets::update_ticket),
        )
        .route(
            "/desk/{portal}/tickets/{number}/threads",
            post(tickets::add_thread),
        )
        .route(
            "/desk/{portal}/tickets/{number}/threads/{thread}/retry",
            post(tickets::retry_mail),
        )
        .route(
            "/desk/{portal}/contacts",
            get(contacts::list_page).post(contacts::create_contact),
        )
        .route(
            "/desk/{portal}/contacts/{id}",
            get(contacts::contact_page).post(contacts::update_contact),
        )
        .route("/desk/{portal}/search", get(search::search_page))
        .route("/desk/{portal}/settings", get(settings::settings_home))
        .route(
            "/desk/{portal}/settings/email/mailboxes",
            post(mail::create_mailbox),
        )
        .route(
            "/desk/{portal}/settings/email/mailboxes/{id}",
            post(mail::update_mailbox),
        )
        .route(
            "/desk/{portal}/settings/email/mailboxes/{id}/delete",
            post(mail::delete_mailbox),
        )
        .route(
            "/desk/{portal}/settings/{section}",
            get(settings::settings_page).post(settings::settings_submit),
        )
        // Chat (server forms like the Desk's; the console is a live app on its socket).
        .route(
            "/chat",
            get(chat::portals::portals_page).post(chat::portals::create_portal),
        )
        .route("/chat/{portal}", get(console::console_page))
        .route(
            "/chat/{portal}/settings",
            get(chat::settings::settings_page),
        )
        .route(
            "/chat/{portal}/settings/plan",
            post(chat::settings::set_plan),
        )
        .route(
            "/chat/{portal}/settings/general",
            post(chat::settings::update_general),
        )
        .route(
            "/chat/{portal}/settings/hours",
            post(chat::settings::set_hours),
        )
        .route(
            "/chat/{portal}/settings/departments",
            post(chat::settings::create_department),
        )
        .route(
            "/chat/{portal}/settings/departments/{id}/association/delete",
            post(chat::settings::remove_association),
        )
        .route(
            "/chat/{portal}/settings/operators",
            post(chat::settings::add_operator),
        )
        .route("/chat/{portal}/preview", get(preview::preview_page))
        .route(
            "/chat/{portal}/settings/canned-responses",
            get(canned::canned_page).post(canned::create_canned),
        )
        .route(
            "/chat/{portal}/settings/canned-responses/{id}",
            post(canned::update_canned),
        )
        .route(
            "/chat/{portal}/settings/canned-responses/{id}/delete",
            post(canned::delete_canned),
        )
        .route(
            "/chat/{portal}/settings/integrations/desk",
            get(integration::desk_settings_page),
        )
        .route(
            "/chat/{portal}/settings/integrations/desk/enable",
            post(integration::enable),
        )
        .route(
            "/chat/{portal}/settings/integrations/desk/link",
            post(integration::update_link),
        )
        .route(
            "/chat/{portal}/settings/integrations/desk/disable",
            post(integration::disable),
        )
        .route(
            "/chat/{portal}/settings/integrations/desk/settings",
            post(integration::update_settings),
        )
        .route(
            "/chat/{portal}/settings/integrations/desk/departments/{id}",
            post(integration::update_department),
        )
        .route(
            "/chat/{portal}/settings/integrations/desk/departments/{id}/association/delete",
            post(integration::remove_association),
        )
}

/// Static files (`crate::assets`): `/assets/<name>` and `/assets/<stem>.<hash8>.<ext>`
/// for every file of `src/assets/`, and the widget at the address customers paste.
fn asset_routes() -> Router<AppState> {
    Router::new()
        .route("/assets/{file}", get(assets::serve))
        .route("/chat/widget.js", get(assets::widget_js))
        .route("/chat/widget.css", get(assets::widget_css))
}
