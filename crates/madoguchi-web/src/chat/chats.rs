//! C4–C6 routes: the operator's chats, messages and visitors (API.md "Chat").

use super::extract::ChatOperator;
use super::portals::List;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, RequestLang};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use madoguchi_chat::{
    ChatListFilter, ChatView, Message, MessageView, Reader, Visitor, VisitorPatch,
};
use madoguchi_core::{Error, Lang};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_chats))
        .routes(routes!(get_chat))
        .routes(routes!(accept_chat))
        .routes(routes!(end_chat))
        .routes(routes!(list_messages, post_message))
        .routes(routes!(update_visitor))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ChatsQuery {
    /// waiting | attended | missed | ended
    #[param(value_type = Option<madoguchi_chat::ChatState>)]
    state: Option<String>,
    /// History search: visitor name, email or message text.
    q: Option<String>,
    /// At most this many (1–500, default 100).
    limit: Option<i64>,
}

/// C4: the chats the caller may see (admins and supervisors: every department;
/// operators: theirs), by state; with `q`, a search of the history.
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}/chats", tag = "chat", params(ChatsQuery),
    responses((status = 200, body = List<ChatView>)))]
async fn list_chats(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
    ApiQuery(q): ApiQuery<ChatsQuery>,
) -> ApiResult<Json<List<ChatView>>> {
    let filter = ChatListFilter {
        state: q.state,
        q: q.q,
        limit: q.limit,
    };
    let chats = state.chat.list_chats(&op, filter).await?;
    Ok(Json(List {
        data: chats.into_iter().map(|c| c.localized(lang)).collect(),
    }))
}

/// A chat with its transcript (`messages`, ordered by seq).
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}/chats/{id}", tag = "chat",
    responses((status = 200, body = ChatView), (status = 403), (status = 404)))]
async fn get_chat(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
    Path((_portal, id)): Path<(String, String)>,
) -> ApiResult<Json<ChatView>> {
    Ok(Json(state.chat.chat_detail(&op, &id, lang).await?))
}

/// C5: accepts a waiting chat; the first operator wins, a later accept gets 409.
#[utoipa::path(post, path = "/chat/api/v1/portals/{portal}/chats/{id}/accept", tag = "chat",
    responses((status = 200, body = ChatView), (status = 409, description = "conflict: not waiting any more")))]
async fn accept_chat(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
    Path((_portal, id)): Path<(String, String)>,
) -> ApiResult<Json<ChatView>> {
    Ok(Json(
        state.chat.accept_chat(&op, &id).await?.localized(lang),
    ))
}

/// C5: ends a chat (a waiting one is recorded as missed first).
#[utoipa::path(post, path = "/chat/api/v1/portals/{portal}/chats/{id}/end", tag = "chat",
    responses((status = 200, body = ChatView),
        (status = 409, description = "conflict: the chat changed state meanwhile")))]
async fn end_chat(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
    Path((_portal, id)): Path<(String, String)>,
) -> ApiResult<Json<ChatView>> {
    Ok(Json(state.chat.end_chat(&op, &id).await?.localized(lang)))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostMessage {
    pub text: String,
    pub client_message_id: String,
}

/// `{id, seq}` of a stored message.
#[derive(Serialize, ToSchema)]
pub struct Posted {
    pub id: String,
    pub seq: i64,
}

impl Posted {
    /// The 201 of a message post (again for a repeated `clientMessageId`).
    pub fn created(m: Message) -> (StatusCode, Json<Self>) {
        let posted = Self {
            id: m.id,
            seq: m.seq,
        };
        (StatusCode::CREATED, Json(posted))
    }
}

/// C4: the operator's reply; stored before it is answered; same `clientMessageId` →
/// the same message (201 again).
#[utoipa::path(post, path = "/chat/api/v1/portals/{portal}/chats/{id}/messages", tag = "chat",
    request_body = PostMessage,
    responses((status = 201, body = Posted), (status = 409, description = "conflict: not accepted or ended")))]
async fn post_message(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    Path((_portal, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<PostMessage>,
) -> ApiResult<(StatusCode, Json<Posted>)> {
    let m = state
        .chat
        .post_operator_message(&op, &id, &req.text, &req.client_message_id)
        .await?;
    Ok(Posted::created(m))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AfterSeq {
    /// Only messages with a greater seq (exclusive; default 0).
    pub after_seq: Option<i64>,
    /// Widget calls may carry the visitor token here instead of the header.
    #[allow(dead_code)]
    pub token: Option<String>,
}

impl AfterSeq {
    pub fn value(&self) -> Result<i64, Error> {
        match self.after_seq {
            Some(n) if n < 0 => Err(Error::invalid("afterSeq", "chat-error-after-seq")),
            Some(n) => Ok(n),
            None => Ok(0),
        }
    }
}

/// Catch-up for the console: the messages after `afterSeq`, in order.
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}/chats/{id}/messages", tag = "chat",
    params(AfterSeq), responses((status = 200, body = List<MessageView>)))]
async fn list_messages(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
    Path((_portal, id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<AfterSeq>,
) -> ApiResult<Json<List<MessageView>>> {
    let after = q.value()?;
    let chat = state.chat.chat_for_operator(&op, &id).await?;
    let reader = state.chat.operator_reader(&op.portal.name);
    catch_up(&state, &chat.id, after, lang, &reader).await
}

/// The catch-up of the console and of the widget: the chat's messages after the seq
/// `after`, in order, as `reader` sees them (its attachment links).
pub(crate) async fn catch_up(
    state: &AppState,
    chat_id: &str,
    after: i64,
    lang: Lang,
    reader: &Reader,
) -> ApiResult<Json<List<MessageView>>> {
    let messages = state.chat.messages_after(chat_id, after, i64::MAX).await?;
    Ok(Json(List {
        data: messages.iter().map(|m| m.view(lang, reader)).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateVisitor {
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<String>)]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<String>)]
    phone: Option<Option<String>>,
}

/// C6: edits the visitor (the pencil); with the integration enabled the Desk contact
/// is created or updated before this answers (I18). `null` or "" clears a field.
#[utoipa::path(patch, path = "/chat/api/v1/portals/{portal}/visitors/{visitor_id}", tag = "chat",
    request_body = UpdateVisitor, responses((status = 200, body = Visitor)))]
async fn update_visitor(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
    Path((_portal, visitor_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<UpdateVisitor>,
) -> ApiResult<Json<Visitor>> {
    let clear = |v: Option<Option<String>>| v.map(Option::unwrap_or_default);
    let patch = VisitorPatch {
        name: clear(req.name),
        email: clear(req.email),
        phone: clear(req.phone),
    };
    Ok(Json(
        state
            .chat
            .update_visitor(&op, &visitor_id, patch, lang)
            .await?,
    ))
}
