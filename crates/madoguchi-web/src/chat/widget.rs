//! C3 routes of the anonymous website widget (API.md "Widget"). These, and only these,
//! allow cross-origin calls: the widget runs on the customer's website.

use super::chats::{catch_up, AfterSeq, PostMessage, Posted};
use super::extract::{ClientAddr, VisitorToken};
use super::portals::List;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, RequestLang};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, Method, StatusCode};
use axum::Json;
use madoguchi_chat::{ChatState, MessageView, NewChat, StartedChat, WidgetConfig};
use serde::{Deserialize, Serialize};
use tower_http::cors::{Any, CorsLayer};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(widget_config))
        .routes(routes!(start_chat))
        .routes(routes!(list_messages, post_message))
        .routes(routes!(leave_chat))
        .routes(routes!(super::visitor::post_offline_message))
        .routes(routes!(super::visitor::visitor_chat))
        .routes(routes!(super::visitor::post_page))
        .routes(routes!(super::visitor::post_rating))
        .routes(routes!(super::visitor::post_contact))
        .routes(routes!(super::ws::visitor_ws))
        .merge(super::attachments::widget_router())
        .layer(cors())
}

/// Any origin may call the widget API: it is anonymous (the visitor token is a Bearer
/// header, never a cookie), so allowing every site adds no ambient authority.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .max_age(std::time::Duration::from_secs(600))
}

/// The departments to choose from and whether an operator is available.
#[utoipa::path(get, path = "/chat/widget/v1/{portal}/config", tag = "widget",
    responses((status = 200, body = WidgetConfig), (status = 404)))]
async fn widget_config(
    State(state): State<AppState>,
    Path(portal): Path<String>,
) -> ApiResult<Json<WidgetConfig>> {
    let portal = state.chat.require_portal(&portal).await?;
    Ok(Json(state.chat.widget_config(&portal).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartChat {
    department_id: Option<String>,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    question: String,
    client_message_id: String,
    /// V4: the widget's id of this browser (past chats of the same visitor).
    browser_id: Option<String>,
}

/// C3: starts a chat; the question is message seq 1. With no operator able to take it
/// the chat is missed at once and the message kept. Same `clientMessageId` → same chat.
#[utoipa::path(post, path = "/chat/widget/v1/{portal}/chats", tag = "widget", request_body = StartChat,
    responses((status = 201, body = StartedChat),
        (status = 409, description = "conflict (field clientMessageId): that id started a chat from another client address or over 10 minutes ago"),
        (status = 429, description = "rate_limited")))]
async fn start_chat(
    State(state): State<AppState>,
    Path(portal): Path<String>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<StartChat>,
) -> ApiResult<(StatusCode, Json<StartedChat>)> {
    let portal = state.chat.require_portal(&portal).await?;
    let new = NewChat {
        department_id: req.department_id,
        name: req.name,
        email: req.email,
        phone: req.phone,
        question: req.question,
        client_message_id: req.client_message_id,
        client_address: addr,
        rate_limit: state.settings.widget_rate_limit,
        offline: false,
        browser_id: req.browser_id,
    };
    let started = state.chat.start_chat(&portal, new).await?;
    Ok((StatusCode::CREATED, Json(started)))
}

/// C3: the visitor's message (Bearer visitor token); same `clientMessageId` → same message.
#[utoipa::path(post, path = "/chat/widget/v1/{portal}/chats/{id}/messages", tag = "widget",
    request_body = PostMessage,
    responses((status = 201, body = Posted), (status = 401),
        (status = 409, description = "conflict: the chat has ended"),
        (status = 429, description = "rate_limited")))]
async fn post_message(
    State(state): State<AppState>,
    VisitorToken(token): VisitorToken,
    Path((portal, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<PostMessage>,
) -> ApiResult<(StatusCode, Json<Posted>)> {
    let session = state.chat.visitor_session(&portal, &id, &token).await?;
    let m = state
        .chat
        .post_visitor_message(&session, &req.text, &req.client_message_id)
        .await?;
    Ok(Posted::created(m))
}

/// C3: the messages after `afterSeq` (exclusive), in order — the catch-up of a widget.
#[utoipa::path(get, path = "/chat/widget/v1/{portal}/chats/{id}/messages", tag = "widget",
    params(AfterSeq), responses((status = 200, body = List<MessageView>), (status = 401)))]
async fn list_messages(
    State(state): State<AppState>,
    VisitorToken(token): VisitorToken,
    RequestLang(lang): RequestLang,
    Path((portal, id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<AfterSeq>,
) -> ApiResult<Json<List<MessageView>>> {
    let session = state.chat.visitor_session(&portal, &id, &token).await?;
    let after = q.value()?;
    let reader = state.chat.visitor_reader(&portal);
    catch_up(&state, &session.chat_id, after, lang, &reader).await
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Left {
    chat_id: String,
    state: ChatState,
}

/// C5: the visitor leaves: a waiting chat becomes missed, an answered one ends.
#[utoipa::path(post, path = "/chat/widget/v1/{portal}/chats/{id}/leave", tag = "widget",
    responses((status = 200, body = Left), (status = 401),
        (status = 409, description = "conflict: the chat changed state meanwhile")))]
async fn leave_chat(
    State(state): State<AppState>,
    VisitorToken(token): VisitorToken,
    Path((portal, id)): Path<(String, String)>,
) -> ApiResult<Json<Left>> {
    let session = state.chat.visitor_session(&portal, &id, &token).await?;
    let new_state = state.chat.visitor_leave(&session).await?;
    Ok(Json(Left {
        chat_id: session.chat_id,
        state: new_state,
    }))
}

/// Words of the widget script (`chatui-widget-<key>` in the catalog, `T['<key>']` in
/// widget.js). The script is one file for every website, and it picks the page's
/// language itself, so it carries every language.
const SCRIPT_LABELS: &[&str] = &[
    "open",
    "close",
    "title",
    "intro",
    "offline",
    "department",
    "name",
    "email",
    "phone",
    "question",
    "start",
    "send",
    "placeholder",
    "hint",
    "waiting",
    "typing",
    "pending",
    "stored",
    "failed",
    "reconnecting",
    "leave",
    "leave-confirm",
    "ended",
    "new-chat",
    "required",
    "error",
    "operator",
    "attended",
    "offline-title",
    "closed-now",
    "next-open",
    "email-required",
    "message",
    "send-offline",
    "need-email",
    "need-message",
    "missed-ask",
    "email-optional",
    "phone-optional",
    "save-contact",
    "contact-needed",
    "rate-question",
    "rating-good",
    "rating-neutral",
    "rating-bad",
    "comment",
    "rate-send",
    "rate-thanks",
    "image",
    "open-image",
    "download",
    "attach",
    "drop-here",
    "file-sending",
    "file-failed",
];

/// Templates among them, with their argument: the script fills in `{<argument>}`.
const SCRIPT_TEMPLATES: &[(&str, &str)] = &[
    ("offline-done", "email"),
    ("ticket-no", "n"),
    ("missed-known", "contact"),
    ("file-too-large", "max"),
];

/// `{"ja": {key: text, …}, "en": {…}}`, put into widget.js where it is served.
pub fn script_labels() -> serde_json::Value {
    use madoguchi_core::i18n::{t, t_args, Lang};
    let mut langs = serde_json::Map::new();
    for lang in Lang::ALL {
        let mut words = serde_json::Map::new();
        for key in SCRIPT_LABELS {
            let text = t(lang, &format!("chatui-widget-{key}"));
            words.insert((*key).to_owned(), text.into());
        }
        for (key, arg) in SCRIPT_TEMPLATES {
            let placeholder = format!("{{{arg}}}");
            let text = t_args(
                lang,
                &format!("chatui-widget-{key}"),
                &[(arg, &placeholder)],
            );
            words.insert((*key).to_owned(), text.into());
        }
        langs.insert(lang.code().to_owned(), words.into());
    }
    langs.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_widget_word_is_in_the_catalog() {
        let keys = SCRIPT_LABELS
            .iter()
            .chain(SCRIPT_TEMPLATES.iter().map(|(k, _)| k));
        for key in keys {
            let key = format!("chatui-widget-{key}");
            assert!(madoguchi_core::i18n::has(&key), "{key}");
        }
        let labels = script_labels();
        assert_eq!(labels["en"]["ticket-no"], "Ticket number: #{n}");
        assert_eq!(labels["ja"]["next-open"], "次の営業開始:");
    }
}
