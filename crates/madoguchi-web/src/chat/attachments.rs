//! V3 routes: files in a chat, sent by an operator (the portal's API) or the visitor
//! (the widget's API, with its token), and downloaded by those allowed to read the
//! chat. Uploads are multipart forms with the field `file`; see `crate::files` for the
//! limits and the download headers.

use super::extract::{ChatOperator, VisitorToken};
use crate::error::{ApiError, ApiResult};
use crate::files;
use crate::state::AppState;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use madoguchi_chat::{AttachmentView, Message, Reader};
use madoguchi_core::{Error, ErrorCode};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The operator's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_operator_attachment))
        .routes(routes!(get_operator_attachment))
        .layer(DefaultBodyLimit::max(files::UPLOAD_BODY_LIMIT))
}

/// The widget's routes (merged into the widget router, which allows cross-origin calls).
pub fn widget_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_visitor_attachment))
        .routes(routes!(get_visitor_attachment))
        .layer(DefaultBodyLimit::max(files::UPLOAD_BODY_LIMIT))
}

/// A multipart form with one file.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FileForm {
    /// The file; its type is read from its content, its name kept.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

fn form(form: Result<Multipart, MultipartRejection>) -> ApiResult<Multipart> {
    form.map_err(|_| ApiError(Error::invalid("file", "chat-error-file-missing")))
}

/// Another chat's token, or a chat the caller may not see, is "no such file" (404).
fn hidden(e: ApiError) -> ApiError {
    match e.0.code {
        ErrorCode::Forbidden => ApiError(Error::not_found()),
        _ => e,
    }
}

fn sent(reader: &Reader, m: &Message) -> ApiResult<(StatusCode, Json<AttachmentView>)> {
    let a = m.attachment.as_ref().ok_or_else(|| {
        ApiError(Error::internal(anyhow::anyhow!(
            "a stored file's message without it"
        )))
    })?;
    Ok((StatusCode::CREATED, Json(reader.view(&m.chat_id, a))))
}

/// V3: an operator sends a file into the chat: a message carrying `attachment`,
/// delivered on every socket like any message. O4: only the owner and those who
/// joined write in an attended chat.
#[utoipa::path(post, path = "/chat/api/v1/portals/{portal}/chats/{id}/attachments", tag = "chat",
    request_body(content = FileForm, content_type = "multipart/form-data"),
    responses((status = 201, body = AttachmentView),
        (status = 400, description = "invalid_request (field file: missing or empty)"),
        (status = 403, description = "not_chat_owner"),
        (status = 409, description = "conflict: the chat has ended or was not accepted"),
        (status = 413, description = "file_too_large: over the portal's maxAttachmentBytes"),
        (status = 415, description = "file_type_not_allowed: the content is not an image, PDF, text, ZIP or office document")))]
async fn post_operator_attachment(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    Path((_portal, id)): Path<(String, String)>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<AttachmentView>)> {
    let limit = state.chat.operator_upload_limit(&op, &id).await?;
    let upload = files::read_file(&headers, form(multipart)?, limit).await?;
    let m = state
        .chat
        .post_operator_attachment(&op, &id, upload.name.as_deref(), upload.data)
        .await?;
    sent(&state.chat.operator_reader(&op.portal.name), &m)
}

/// V3: a file of a chat the operator may read, with its stored content type
/// (`Content-Disposition` inline for images, attachment otherwise; `nosniff`;
/// `Content-Security-Policy: sandbox`). Another portal's or department's → 404.
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}/chats/{id}/attachments/{attachmentId}", tag = "chat",
    responses((status = 200, description = "the file", content_type = "application/octet-stream"),
        (status = 404, description = "not_found")))]
async fn get_operator_attachment(
    State(state): State<AppState>,
    op: Result<ChatOperator, ApiError>,
    Path((_portal, id, attachment_id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let ChatOperator(op) = op.map_err(hidden)?;
    let file = state
        .chat
        .operator_attachment(&op, &id, &attachment_id)
        .await?;
    let a = file.attachment;
    Ok(files::file_response(&a.name, &a.content_type, file.data))
}

/// V3: the visitor sends a file (Bearer visitor token), while the chat is open.
#[utoipa::path(post, path = "/chat/widget/v1/{portal}/chats/{id}/attachments", tag = "widget",
    request_body(content = FileForm, content_type = "multipart/form-data"),
    responses((status = 201, body = AttachmentView), (status = 401),
        (status = 400, description = "invalid_request (field file: missing or empty)"),
        (status = 404, description = "not_found (another chat's token)"),
        (status = 409, description = "conflict: the chat has ended"),
        (status = 413, description = "file_too_large: over the portal's maxAttachmentBytes"),
        (status = 415, description = "file_type_not_allowed"),
        (status = 429, description = "rate_limited")))]
async fn post_visitor_attachment(
    State(state): State<AppState>,
    VisitorToken(token): VisitorToken,
    Path((portal, id)): Path<(String, String)>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<AttachmentView>)> {
    let session = state
        .chat
        .visitor_session(&portal, &id, &token)
        .await
        .map_err(|e| hidden(e.into()))?;
    let limit = state.chat.visitor_upload_limit(&session).await?;
    let upload = files::read_file(&headers, form(multipart)?, limit).await?;
    let m = state
        .chat
        .post_visitor_attachment(&session, upload.name.as_deref(), upload.data)
        .await?;
    sent(&state.chat.visitor_reader(&portal), &m)
}

/// V3: a file of the visitor's chat (Bearer visitor token, or `?token=`); another
/// chat's token → 404.
#[utoipa::path(get, path = "/chat/widget/v1/{portal}/chats/{id}/attachments/{attachmentId}", tag = "widget",
    responses((status = 200, description = "the file", content_type = "application/octet-stream"),
        (status = 401), (status = 404, description = "not_found")))]
async fn get_visitor_attachment(
    State(state): State<AppState>,
    VisitorToken(token): VisitorToken,
    Path((portal, id, attachment_id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let session = state
        .chat
        .visitor_session(&portal, &id, &token)
        .await
        .map_err(|e| hidden(e.into()))?;
    let file = state
        .chat
        .visitor_attachment(&session, &attachment_id)
        .await?;
    let a = file.attachment;
    Ok(files::file_response(&a.name, &a.content_type, file.data))
}
