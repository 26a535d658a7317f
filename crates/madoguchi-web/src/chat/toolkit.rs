//! O1–O4 routes: join a chat, transfer it (API.md "Visitor experience and operator
//! toolkit").

use super::extract::ChatOperator;
use super::portals::List;
use crate::error::ApiResult;
use crate::extract::{ApiJson, RequestLang};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use madoguchi_chat::canned::{CannedInput, CannedResponse};
use madoguchi_chat::toolkit::TransferRequest;
use madoguchi_chat::ChatView;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(join_chat))
        .routes(routes!(transfer_chat))
        .routes(routes!(list_canned, create_canned))
        .routes(routes!(update_canned, delete_canned))
}

/// O4: a supervisor or admin joins a chat another operator owns, and may write in it
/// from then on; the transcript shows it. Joining again changes nothing.
#[utoipa::path(post, path = "/chat/api/v1/portals/{portal}/chats/{id}/join", tag = "chat",
    responses((status = 200, body = ChatView),
        (status = 403, description = "forbidden: only supervisors and admins join"),
        (status = 409, description = "conflict: the chat is not attended")))]
async fn join_chat(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
    Path((_portal, id)): Path<(String, String)>,
) -> ApiResult<Json<ChatView>> {
    Ok(Json(state.chat.join_chat(&op, &id).await?.localized(lang)))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    /// The operator who takes the chat over (online, and handling the department).
    operator_id: Option<String>,
    /// The department the chat moves to; without `operatorId`, its least busy online
    /// operator takes it.
    department_id: Option<String>,
    /// For the receiver (at most 1000 characters); the visitor does not see it.
    note: Option<String>,
}

/// O2: hands the chat to another online operator or a department, with a note. The
/// receiver's console gets `chat.transferred` with the chat (its `transfer` holds the
/// note), the visitor a system line; the old owner can no longer write.
#[utoipa::path(post, path = "/chat/api/v1/portals/{portal}/chats/{id}/transfer", tag = "chat",
    request_body = Transfer,
    responses((status = 200, body = ChatView),
        (status = 403, description = "not_chat_owner: only the owner, a supervisor or an admin transfers"),
        (status = 409, description = "conflict: not attended, or the receiver is offline or at the cap")))]
async fn transfer_chat(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
    Path((_portal, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<Transfer>,
) -> ApiResult<Json<ChatView>> {
    let req = TransferRequest {
        operator_id: req.operator_id,
        department_id: req.department_id,
        note: req.note,
    };
    Ok(Json(
        state
            .chat
            .transfer_chat(&op, &id, req)
            .await?
            .localized(lang),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CannedBody {
    /// Typed after `/` (1–30 characters, no spaces; a leading `/` is dropped).
    shortcut: Option<String>,
    /// Up to 5000 characters; `{visitor.name}` and `{operator.name}` are filled in.
    text: Option<String>,
    /// With `scope: "department"`.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<String>)]
    department_id: Option<Option<String>>,
    /// "portal" (admins) | "department" (admins, supervisors) | "personal".
    scope: Option<String>,
}

impl From<CannedBody> for CannedInput {
    fn from(b: CannedBody) -> Self {
        Self {
            shortcut: b.shortcut,
            text: b.text,
            department_id: b.department_id,
            scope: b.scope,
        }
    }
}

/// O1: the canned responses the caller may use (the portal's, their departments' and
/// their own), by shortcut.
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}/canned-responses", tag = "chat",
    responses((status = 200, body = List<CannedResponse>)))]
async fn list_canned(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
) -> ApiResult<Json<List<CannedResponse>>> {
    Ok(Json(List {
        data: state.chat.canned_responses(&op).await?,
    }))
}

/// O1: a new canned response; 409 `conflict` (field `shortcut`) when its set has the
/// shortcut already.
#[utoipa::path(post, path = "/chat/api/v1/portals/{portal}/canned-responses", tag = "chat",
    request_body = CannedBody,
    responses((status = 201, body = CannedResponse),
        (status = 403, description = "forbidden: portal responses are for admins, department ones for admins and supervisors"),
        (status = 409, description = "conflict: the shortcut is taken")))]
async fn create_canned(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    ApiJson(req): ApiJson<CannedBody>,
) -> ApiResult<(StatusCode, Json<CannedResponse>)> {
    let created = state.chat.create_canned(&op, req.into()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// O1: changes a canned response (absent fields stay).
#[utoipa::path(patch, path = "/chat/api/v1/portals/{portal}/canned-responses/{id}", tag = "chat",
    request_body = CannedBody,
    responses((status = 200, body = CannedResponse), (status = 403), (status = 404),
        (status = 409, description = "conflict: the shortcut is taken")))]
async fn update_canned(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    Path((_portal, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<CannedBody>,
) -> ApiResult<Json<CannedResponse>> {
    Ok(Json(state.chat.update_canned(&op, &id, req.into()).await?))
}

/// O1: deletes a canned response.
#[utoipa::path(delete, path = "/chat/api/v1/portals/{portal}/canned-responses/{id}", tag = "chat",
    responses((status = 204), (status = 403), (status = 404)))]
async fn delete_canned(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    Path((_portal, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.chat.delete_canned(&op, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
