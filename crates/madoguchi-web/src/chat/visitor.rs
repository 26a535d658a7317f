//! Routes of the visitor experience (SPEC V1–V6, API.md "Visitor experience and
//! operator toolkit"): business hours (operators), past chats of a visitor
//! (operators), and the widget's offline form, chat state, page reports, rating and
//! contact details (registered in the widget router, which allows cross-origin calls).

use super::extract::{ChatOperator, ClientAddr, VisitorToken};
use super::portals::List;
use crate::error::ApiResult;
use crate::extract::{ApiJson, RequestLang};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use madoguchi_chat::visitor_experience::BusinessHours;
use madoguchi_chat::{ChatView, NewChat, Visitor, VisitorPatch};
use madoguchi_core::Error;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// How long the offline form's answer waits for its Desk ticket (the outbox worker is
/// woken at once; a slow Desk answers `ticketNumber: null` and the ticket follows).
const OFFLINE_TICKET_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_hours, put_hours))
        .routes(routes!(past_chats))
}

/// V2: the portal's business hours (the default, always open in Asia/Tokyo, when never set).
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}/settings/hours", tag = "chat",
    responses((status = 200, body = BusinessHours)))]
async fn get_hours(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
) -> ApiResult<Json<BusinessHours>> {
    Ok(Json(state.chat.hours(&op.portal.id).await?))
}

/// V2: an admin sets the business hours: time zone, weekly ranges, closed dates.
#[utoipa::path(put, path = "/chat/api/v1/portals/{portal}/settings/hours", tag = "chat",
    request_body = BusinessHours, responses((status = 200, body = BusinessHours)))]
async fn put_hours(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    ApiJson(req): ApiJson<BusinessHours>,
) -> ApiResult<Json<BusinessHours>> {
    Ok(Json(state.chat.set_hours(&op, req).await?))
}

/// V4: the other chats of this chat's visitor (same browser or same email) the caller
/// may see, newest first.
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}/chats/{id}/past-chats", tag = "chat",
    responses((status = 200, body = List<ChatView>)))]
async fn past_chats(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
    Path((_portal, id)): Path<(String, String)>,
) -> ApiResult<Json<List<ChatView>>> {
    let chats = state.chat.past_chats(&op, &id).await?;
    Ok(Json(List {
        data: chats.into_iter().map(|c| c.localized(lang)).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfflineMessage {
    name: Option<String>,
    email: String,
    phone: Option<String>,
    department_id: Option<String>,
    message: String,
    client_message_id: String,
    browser_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfflineMessageLeft {
    /// The chat the message is kept in (missed, from the offline form).
    id: String,
    /// The Desk ticket it became (with the integration on), when already made.
    ticket_number: Option<i64>,
}

/// V2: the widget's offline form. The message is kept as a missed chat marked as from
/// the offline form; with the integration on it becomes a Desk ticket exactly once
/// (through the outbox). Same `clientMessageId` → same answer.
#[utoipa::path(post, path = "/chat/widget/v1/{portal}/offline-messages", tag = "widget",
    request_body = OfflineMessage,
    responses((status = 201, body = OfflineMessageLeft),
        (status = 409, description = "conflict (field clientMessageId): that id was used from another client address or long ago"),
        (status = 429, description = "rate_limited")))]
pub async fn post_offline_message(
    State(state): State<AppState>,
    Path(portal): Path<String>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<OfflineMessage>,
) -> ApiResult<(StatusCode, Json<OfflineMessageLeft>)> {
    let portal = state.chat.require_portal(&portal).await?;
    if req.email.trim().is_empty() {
        return Err(Error::invalid("email", "chat-error-offline-email").into());
    }
    if req.message.trim().is_empty() {
        return Err(Error::invalid("message", "chat-error-offline-message").into());
    }
    let new = NewChat {
        department_id: req.department_id,
        name: req.name,
        email: Some(req.email),
        phone: req.phone,
        question: req.message,
        client_message_id: req.client_message_id,
        client_address: addr,
        rate_limit: state.settings.widget_rate_limit,
        offline: true,
        browser_id: req.browser_id,
    };
    let started = state.chat.start_chat(&portal, new).await?;
    let ticket_number = match state
        .integration
        .ticket_number_of_chat(&started.chat_id, OFFLINE_TICKET_WAIT)
        .await
    {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "reading the offline message's ticket failed");
            None
        }
    };
    let left = OfflineMessageLeft {
        id: started.chat_id,
        ticket_number,
    };
    Ok((StatusCode::CREATED, Json(left)))
}

/// V6: the visitor's chat (state, operator, rating, visitor), so a returning widget
/// shows an ended chat as ended.
#[utoipa::path(get, path = "/chat/widget/v1/{portal}/chats/{id}", tag = "widget",
    responses((status = 200, body = ChatView), (status = 401)))]
pub async fn visitor_chat(
    State(state): State<AppState>,
    VisitorToken(token): VisitorToken,
    RequestLang(lang): RequestLang,
    Path((portal, id)): Path<(String, String)>,
) -> ApiResult<Json<ChatView>> {
    let session = state.chat.visitor_session(&portal, &id, &token).await?;
    Ok(Json(
        state.chat.visitor_chat(&session).await?.localized(lang),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostPage {
    /// An http(s) URL.
    url: String,
    #[serde(default)]
    title: String,
    referrer: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageRecorded {
    pages: Vec<madoguchi_chat::visitor_experience::VisitorPage>,
}

/// V4: the widget reports the page the visitor is on (on open and every page change).
#[utoipa::path(post, path = "/chat/widget/v1/{portal}/chats/{id}/page", tag = "widget",
    request_body = PostPage, responses((status = 200, body = PageRecorded), (status = 401)))]
pub async fn post_page(
    State(state): State<AppState>,
    VisitorToken(token): VisitorToken,
    Path((portal, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<PostPage>,
) -> ApiResult<Json<PageRecorded>> {
    let session = state.chat.visitor_session(&portal, &id, &token).await?;
    state
        .chat
        .record_page(&session, &req.url, &req.title, req.referrer.as_deref())
        .await?;
    let chat = state.chat.visitor_chat(&session).await?;
    Ok(Json(PageRecorded {
        pages: chat.visitor.pages,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostRating {
    /// "good" | "neutral" | "bad".
    rating: String,
    comment: Option<String>,
}

/// V5: the visitor rates the chat, once it has ended (409 `conflict` before, or a
/// second time).
#[utoipa::path(post, path = "/chat/widget/v1/{portal}/chats/{id}/rating", tag = "widget",
    request_body = PostRating,
    responses((status = 200, body = ChatView), (status = 401),
        (status = 409, description = "conflict: the chat has not ended, or was rated already")))]
pub async fn post_rating(
    State(state): State<AppState>,
    VisitorToken(token): VisitorToken,
    RequestLang(lang): RequestLang,
    Path((portal, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<PostRating>,
) -> ApiResult<Json<ChatView>> {
    let session = state.chat.visitor_session(&portal, &id, &token).await?;
    let chat = state
        .chat
        .rate_chat(&session, &req.rating, req.comment.as_deref())
        .await?;
    Ok(Json(chat.localized(lang)))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostContact {
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

/// The visitor leaves an email or phone so an answer that can only come later reaches
/// them (a missed chat); synced to the Desk contact like an operator's edit (I18).
#[utoipa::path(post, path = "/chat/widget/v1/{portal}/chats/{id}/contact", tag = "widget",
    request_body = PostContact, responses((status = 200, body = Visitor), (status = 401)))]
pub async fn post_contact(
    State(state): State<AppState>,
    VisitorToken(token): VisitorToken,
    RequestLang(lang): RequestLang,
    Path((portal, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<PostContact>,
) -> ApiResult<Json<Visitor>> {
    let session = state.chat.visitor_session(&portal, &id, &token).await?;
    let patch = VisitorPatch {
        name: req.name,
        email: req.email,
        phone: req.phone,
    };
    Ok(Json(
        state.chat.visitor_contact(&session, patch, lang).await?,
    ))
}
