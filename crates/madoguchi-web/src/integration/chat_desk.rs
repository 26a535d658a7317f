//! The desk panel of a chat (SPEC I10, I11, I15–I20), `…/chats/{id}/desk…`. The
//! department's mode is enforced by the service: a button the mode forbids answers 403
//! `forbidden_by_department_mode` here too.

use super::List;
use crate::chat::ChatOperator;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, RequestLang};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use madoguchi_integration::chat_desk::{ChatDeskView, ConvertRequest};
use madoguchi_integration::desk_client::{DeskThread, DeskTicket};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(chat_desk))
        .routes(routes!(convert_chat))
        .routes(routes!(associate_chat))
        .routes(routes!(search_tickets))
        .routes(routes!(get_ticket, update_ticket))
        .routes(routes!(reply_ticket))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConvertBody {
    /// Default Medium.
    #[schema(value_type = Option<madoguchi_desk::Priority>)]
    priority: Option<String>,
    /// Default Open.
    #[schema(value_type = Option<madoguchi_desk::TicketStatus>)]
    status: Option<String>,
    /// One of the linked Desk portal's classifications.
    classification: Option<String>,
    /// A Desk department (default: the mapped one, else Desk's default).
    department_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssociateBody {
    ticket_id: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Ticket number, visitor name or email, or subject.
    q: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusBody {
    #[schema(value_type = madoguchi_integration::TicketStatusSetting)]
    status: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplyBody {
    content: String,
}

/// Permissions, the visitor's Desk contact with account, SLA, contract and owner,
/// recent tickets (within the view scope) and the tickets linked to this chat.
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}/chats/{id}/desk", tag = "integration",
    responses((status = 200, body = ChatDeskView),
        (status = 409, description = "integration_disabled"),
        (status = 403, description = "forbidden_by_department_mode, plan_required")))]
async fn chat_desk(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
    Path((_portal, chat_id)): Path<(String, String)>,
) -> ApiResult<Json<ChatDeskView>> {
    Ok(Json(
        state.integration.chat_desk(&op, &chat_id, lang).await?,
    ))
}

/// I10: converts the chat to a ticket (subject: the first question; contact found or
/// created by email; channel Chat; the whole transcript as a chat thread).
#[utoipa::path(post, path = "/chat/api/v1/portals/{portal}/chats/{id}/desk/tickets", tag = "integration",
    request_body = ConvertBody,
    responses((status = 201, body = DeskTicket),
        (status = 422, description = "visitor_email_required"),
        (status = 409, description = "already_converted, integration_disabled"),
        (status = 403, description = "forbidden_by_department_mode, plan_required")))]
async fn convert_chat(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
    Path((_portal, chat_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ConvertBody>,
) -> ApiResult<(StatusCode, Json<DeskTicket>)> {
    let req = ConvertRequest {
        priority: body.priority,
        status: body.status,
        classification: body.classification,
        department_id: body.department_id,
    };
    let ticket = state.integration.convert(&op, &chat_id, req, lang).await?;
    Ok((StatusCode::CREATED, Json(ticket)))
}

/// I11: the chat's transcript joins an existing ticket at once; later messages are
/// appended to it. Idempotent.
#[utoipa::path(post, path = "/chat/api/v1/portals/{portal}/chats/{id}/desk/associate", tag = "integration",
    request_body = AssociateBody, responses((status = 200, body = DeskTicket), (status = 409, description = "integration_disabled"),
        (status = 403, description = "forbidden_by_department_mode, plan_required")))]
async fn associate_chat(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
    Path((_portal, chat_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<AssociateBody>,
) -> ApiResult<Json<DeskTicket>> {
    Ok(Json(
        state
            .integration
            .associate(&op, &chat_id, &body.ticket_id, lang)
            .await?,
    ))
}

/// I19: searches Desk tickets by number, visitor name or email, or subject, within
/// the view scope (I14).
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}/chats/{id}/desk/tickets/search", tag = "integration",
    params(SearchQuery), responses((status = 200, body = List<DeskTicket>), (status = 409, description = "integration_disabled"),
        (status = 403, description = "forbidden_by_department_mode, plan_required")))]
async fn search_tickets(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
    Path((_portal, chat_id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<List<DeskTicket>>> {
    let q = q.q.unwrap_or_default();
    Ok(Json(List {
        data: state.integration.search(&op, &chat_id, &q, lang).await?,
    }))
}

/// I16, I17: a ticket with its threads (past chat transcripts) and `webUrl`.
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}/chats/{id}/desk/tickets/{ticket_id}", tag = "integration",
    responses((status = 200, body = DeskTicket), (status = 409, description = "integration_disabled"), (status = 403, description = "forbidden_by_department_mode, plan_required")))]
async fn get_ticket(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
    Path((_portal, chat_id, ticket_id)): Path<(String, String, String)>,
) -> ApiResult<Json<DeskTicket>> {
    Ok(Json(
        state
            .integration
            .ticket(&op, &chat_id, &ticket_id, lang)
            .await?,
    ))
}

/// I20: reopen or close a related ticket.
#[utoipa::path(patch, path = "/chat/api/v1/portals/{portal}/chats/{id}/desk/tickets/{ticket_id}", tag = "integration",
    request_body = StatusBody, responses((status = 200, body = DeskTicket), (status = 409, description = "integration_disabled"),
        (status = 403, description = "forbidden_by_department_mode, plan_required")))]
async fn update_ticket(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
    Path((_portal, chat_id, ticket_id)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<StatusBody>,
) -> ApiResult<Json<DeskTicket>> {
    Ok(Json(
        state
            .integration
            .set_status(&op, &chat_id, &ticket_id, &body.status, lang)
            .await?,
    ))
}

/// A reply on the Desk ticket, written by the operator.
#[utoipa::path(post, path = "/chat/api/v1/portals/{portal}/chats/{id}/desk/tickets/{ticket_id}/replies",
    tag = "integration", request_body = ReplyBody, responses((status = 201, body = DeskThread),
        (status = 409, description = "integration_disabled"), (status = 403, description = "forbidden_by_department_mode, plan_required")))]
async fn reply_ticket(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
    Path((_portal, chat_id, ticket_id)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<ReplyBody>,
) -> ApiResult<(StatusCode, Json<DeskThread>)> {
    let thread = state
        .integration
        .reply(&op, &chat_id, &ticket_id, &body.content, lang)
        .await?;
    Ok((StatusCode::CREATED, Json(thread)))
}
