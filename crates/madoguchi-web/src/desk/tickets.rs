//! Tickets, their history and threads, and search (SPEC D3–D5).

use super::{DataList, DeskMember};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, RequestLang};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use madoguchi_core::ids::{ChatId, TicketId};
use madoguchi_core::Error;
use madoguchi_desk::{
    ChatAttachmentIn, ChatMessageIn, HistoryEntry, NewThread, NewTicket, SearchQuery, Thread,
    ThreadAuthor, ThreadKind, Ticket, TicketFilter, TicketPatch,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tickets, create_ticket))
        .routes(routes!(search_tickets))
        .routes(routes!(get_ticket, patch_ticket))
        .routes(routes!(ticket_history))
        .routes(routes!(list_threads, create_thread))
        .routes(routes!(upsert_chat_thread))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(put_chat_attachment))
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::files::UPLOAD_BODY_LIMIT,
                )),
        )
}

/// Creates a ticket with the portal's next number (from 101). Defaults: Open,
/// Medium, Web, the default department. With an `Idempotency-Key` header a retried
/// create answers the ticket the first one made (201, the same object).
#[utoipa::path(post, path = "/desk/api/v1/portals/{portal}/tickets", tag = "desk", request_body = NewTicket,
    params(("Idempotency-Key" = Option<String>, Header, description = "makes a retried create answer the ticket the first one made (1–200 characters)")),
    responses((status = 201, body = Ticket), (status = 400, description = "invalid_request naming the field")))]
async fn create_ticket(
    State(state): State<AppState>,
    member: DeskMember,
    headers: HeaderMap,
    ApiJson(req): ApiJson<NewTicket>,
) -> ApiResult<(StatusCode, Json<Ticket>)> {
    let t = match headers.get(IDEMPOTENCY_KEY) {
        Some(key) => {
            let key = key
                .to_str()
                .map_err(|_| Error::invalid("Idempotency-Key", "desk-error-idempotency-key"))?;
            state.desk.create_ticket_once(&member, &req, key).await?.0
        }
        None => state.desk.create_ticket(&member, &req).await?,
    };
    Ok((StatusCode::CREATED, Json(t)))
}

/// The header a client that may retry a create sends (the integration's HTTP transport).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The portal's tickets, newest first, filtered; `limit` 1–200 (default 50) and
/// `offset` page through them.
#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/tickets", tag = "desk", params(TicketFilter),
    responses((status = 200, body = DataList<Ticket>)))]
async fn list_tickets(
    State(state): State<AppState>,
    member: DeskMember,
    ApiQuery(filter): ApiQuery<TicketFilter>,
) -> ApiResult<Json<DataList<Ticket>>> {
    Ok(Json(state.desk.tickets(&member, &filter).await?.into()))
}

/// Searches by ticket number, contact name, contact email and subject (Japanese by
/// substring, English by word prefix), ranked: the exact number, then subject
/// matches, then contact matches, newer first.
#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/tickets/search", tag = "desk", params(SearchQuery),
    responses((status = 200, body = DataList<Ticket>)))]
async fn search_tickets(
    State(state): State<AppState>,
    member: DeskMember,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> ApiResult<Json<DataList<Ticket>>> {
    Ok(Json(
        state.desk.search_tickets(&member, &query).await?.into(),
    ))
}

#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/tickets/{id}", tag = "desk",
    responses((status = 200, body = Ticket), (status = 404, description = "not_found")))]
async fn get_ticket(
    State(state): State<AppState>,
    member: DeskMember,
    Path(ids): Path<(String, String)>,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(state.desk.ticket(&member, &ids.1).await?))
}

/// Changes any of status, priority, classification, departmentId, subject,
/// description, assigneeId, contactId; every change goes to the history.
#[utoipa::path(patch, path = "/desk/api/v1/portals/{portal}/tickets/{id}", tag = "desk", request_body = TicketPatch,
    responses((status = 200, body = Ticket), (status = 404, description = "not_found")))]
async fn patch_ticket(
    State(state): State<AppState>,
    member: DeskMember,
    Path(ids): Path<(String, String)>,
    ApiJson(req): ApiJson<TicketPatch>,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(state.desk.patch_ticket(&member, &ids.1, &req).await?))
}

/// The ticket's changes, oldest first (the creation, then every status, priority,
/// classification, department, subject, assignee and contact change).
#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/tickets/{id}/history", tag = "desk",
    responses((status = 200, body = DataList<HistoryEntry>), (status = 404, description = "not_found")))]
async fn ticket_history(
    State(state): State<AppState>,
    member: DeskMember,
    Path(ids): Path<(String, String)>,
) -> ApiResult<Json<DataList<HistoryEntry>>> {
    Ok(Json(
        state.desk.ticket_history(&member, &ids.1).await?.into(),
    ))
}

/// The ticket's threads, oldest first; chat threads hold every message.
#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/tickets/{id}/threads", tag = "desk",
    responses((status = 200, body = DataList<Thread>), (status = 404, description = "not_found")))]
async fn list_threads(
    State(state): State<AppState>,
    member: DeskMember,
    RequestLang(lang): RequestLang,
    Path(ids): Path<(String, String)>,
) -> ApiResult<Json<DataList<Thread>>> {
    let mut threads = state.desk.threads(&member, &ids.1).await?;
    madoguchi_desk::localize_threads(&mut threads, lang);
    Ok(Json(threads.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThreadBody {
    kind: ThreadKind,
    #[serde(default)]
    content: Option<String>,
    /// Service-key calls only: the reply's author shown instead of the key's admin.
    #[serde(default)]
    author_name: Option<String>,
    /// Service-key calls with `kind:"chat"` only (the integration over HTTP): see
    /// `…/chat-threads`.
    #[serde(default)]
    chat_id: Option<String>,
    #[serde(default)]
    messages: Option<Vec<ChatMessageIn>>,
}

/// Adds a reply or a note. (A chat transcript, `kind:"chat"`, is accepted only with the
/// portal's service key, as `…/chat-threads` does.)
#[utoipa::path(post, path = "/desk/api/v1/portals/{portal}/tickets/{id}/threads", tag = "desk", request_body = ThreadBody,
    responses((status = 201, body = Thread), (status = 404, description = "not_found"),
        (status = 400, description = "invalid_request (kind, content)")))]
async fn create_thread(
    State(state): State<AppState>,
    member: DeskMember,
    Path(ids): Path<(String, String)>,
    ApiJson(req): ApiJson<ThreadBody>,
) -> ApiResult<(StatusCode, Json<Thread>)> {
    if req.kind == ThreadKind::Chat {
        if !member.via_service_key {
            return Err(Error::invalid("kind", "desk-error-thread-kind").into());
        }
        let thread = state
            .desk
            .upsert_chat_thread(
                &member,
                &TicketId::from(&ids.1),
                &ChatId::from(req.chat_id.as_deref().unwrap_or("")),
                req.messages.as_deref().unwrap_or(&[]),
            )
            .await?;
        return Ok((StatusCode::CREATED, Json(thread)));
    }
    let new = NewThread {
        kind: req.kind,
        content: req.content.unwrap_or_default(),
    };
    let author = match req.author_name {
        Some(name) if member.via_service_key && !name.trim().is_empty() => Some(ThreadAuthor {
            id: None,
            name: name.trim().chars().take(200).collect(),
        }),
        _ => None,
    };
    let thread = state
        .desk
        .add_thread_as(&member, &ids.1, &new, author)
        .await?;
    Ok((StatusCode::CREATED, Json(thread)))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatThreadBody {
    chat_id: String,
    messages: Vec<ChatMessageIn>,
}

/// Creates the ticket's chat thread for `chatId` or appends the messages it does not
/// hold yet (by `seq`): repeating a call changes nothing and answers the same thread.
/// Admins and the service key only (the integration).
#[utoipa::path(post, path = "/desk/api/v1/portals/{portal}/tickets/{id}/chat-threads", tag = "desk",
    request_body = ChatThreadBody,
    responses((status = 201, body = Thread), (status = 403, description = "forbidden")))]
async fn upsert_chat_thread(
    State(state): State<AppState>,
    member: DeskMember,
    Path(ids): Path<(String, String)>,
    ApiJson(req): ApiJson<ChatThreadBody>,
) -> ApiResult<(StatusCode, Json<Thread>)> {
    member.require_admin()?;
    let thread = state
        .desk
        .upsert_chat_thread(
            &member,
            &TicketId::from(&ids.1),
            &ChatId::from(&req.chat_id),
            &req.messages,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(thread)))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ChatAttachmentQuery {
    /// The seq of the chat message that sent the file.
    seq: i64,
    /// The file's name.
    name: String,
}

/// V3: keeps a file of the chat on the ticket's chat thread (made first with
/// `…/chat-threads`): the body is the file, `Content-Type` its type. `key` is the
/// chat's id of the file: repeating the call answers the file stored the first time.
/// Admins and the service key only (the integration).
#[utoipa::path(put, path = "/desk/api/v1/portals/{portal}/tickets/{id}/chat-threads/{chatId}/attachments/{key}", tag = "desk",
    params(ChatAttachmentQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = madoguchi_desk::AttachmentRef), (status = 403, description = "forbidden"),
        (status = 404, description = "not_found (no chat thread of that chat on the ticket)")))]
async fn put_chat_attachment(
    State(state): State<AppState>,
    member: DeskMember,
    Path(ids): Path<(String, String, String, String)>,
    ApiQuery(q): ApiQuery<ChatAttachmentQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<madoguchi_desk::AttachmentRef>)> {
    member.require_admin()?;
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    let file = ChatAttachmentIn {
        key: ids.3,
        seq: q.seq,
        name: q.name,
        content_type: content_type.to_owned(),
        data: body.to_vec(),
    };
    let stored = state
        .desk
        .add_chat_attachment(
            &member,
            &TicketId::from(&ids.1),
            &ChatId::from(&ids.2),
            &file,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(stored)))
}
