//! Email routes (API.md "Email"; SPEC E1–E8): mailboxes (admins), their connection
//! test, attachments of mail threads, and a retry of a failed outgoing mail.

use super::{DataList, DeskMember};
use crate::error::ApiResult;
use crate::extract::{ApiJson, RequestLang};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use madoguchi_desk::{Mailbox, MailboxInput, Thread};
use madoguchi_mail::TestResult;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_mailboxes, create_mailbox))
        .routes(routes!(get_mailbox, patch_mailbox, delete_mailbox))
        .routes(routes!(test_mailbox))
        .routes(routes!(get_attachment))
        .routes(routes!(retry_delivery))
}

/// The portal's mailboxes (admins); passwords are never returned.
#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/mailboxes", tag = "desk",
    responses((status = 200, body = DataList<Mailbox>)))]
async fn list_mailboxes(
    State(state): State<AppState>,
    member: DeskMember,
) -> ApiResult<Json<DataList<Mailbox>>> {
    Ok(Json(state.desk.mailboxes(&member).await?.into()))
}

/// Connects a mailbox: IMAP for incoming mail, SMTP for replies (admins).
#[utoipa::path(post, path = "/desk/api/v1/portals/{portal}/mailboxes", tag = "desk", request_body = MailboxInput,
    responses((status = 201, body = Mailbox), (status = 400, description = "invalid_request naming the field (imap.host, smtp.port, …)")))]
async fn create_mailbox(
    State(state): State<AppState>,
    member: DeskMember,
    ApiJson(req): ApiJson<MailboxInput>,
) -> ApiResult<(StatusCode, Json<Mailbox>)> {
    let m = state.desk.create_mailbox(&member, &req).await?;
    Ok((StatusCode::CREATED, Json(m)))
}

#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/mailboxes/{id}", tag = "desk",
    responses((status = 200, body = Mailbox), (status = 404, description = "not_found")))]
async fn get_mailbox(
    State(state): State<AppState>,
    member: DeskMember,
    Path(ids): Path<(String, String)>,
) -> ApiResult<Json<Mailbox>> {
    Ok(Json(state.desk.mailbox(&member, &ids.1).await?))
}

/// Changes any field; a password only when given.
#[utoipa::path(patch, path = "/desk/api/v1/portals/{portal}/mailboxes/{id}", tag = "desk", request_body = MailboxInput,
    responses((status = 200, body = Mailbox), (status = 404, description = "not_found")))]
async fn patch_mailbox(
    State(state): State<AppState>,
    member: DeskMember,
    Path(ids): Path<(String, String)>,
    ApiJson(req): ApiJson<MailboxInput>,
) -> ApiResult<Json<Mailbox>> {
    Ok(Json(state.desk.patch_mailbox(&member, &ids.1, &req).await?))
}

#[utoipa::path(delete, path = "/desk/api/v1/portals/{portal}/mailboxes/{id}", tag = "desk",
    responses((status = 200, body = Mailbox), (status = 404, description = "not_found")))]
async fn delete_mailbox(
    State(state): State<AppState>,
    member: DeskMember,
    Path(ids): Path<(String, String)>,
) -> ApiResult<Json<Mailbox>> {
    Ok(Json(state.desk.delete_mailbox(&member, &ids.1).await?))
}

/// Connects and logs in to both servers; `error` names what failed, in the caller's
/// language.
#[utoipa::path(post, path = "/desk/api/v1/portals/{portal}/mailboxes/{id}/test", tag = "desk",
    responses((status = 200, body = TestResult), (status = 404, description = "not_found")))]
async fn test_mailbox(
    State(state): State<AppState>,
    member: DeskMember,
    RequestLang(lang): RequestLang,
    Path(ids): Path<(String, String)>,
) -> ApiResult<Json<TestResult>> {
    let cfg = state.desk.mailbox_config(&member, &ids.1).await?;
    Ok(Json(madoguchi_mail::test_connection(&cfg, lang).await))
}

/// An attachment of the ticket's threads (a mail's, or a chat's copied with its
/// transcript), with its content type, `Content-Disposition` (inline for images,
/// attachment otherwise), `nosniff` and `Content-Security-Policy: sandbox`.
#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/tickets/{id}/attachments/{attachmentId}", tag = "desk",
    responses((status = 200, description = "the file"), (status = 404, description = "not_found")))]
async fn get_attachment(
    State(state): State<AppState>,
    member: DeskMember,
    Path(ids): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let file = state.desk.attachment(&member, &ids.1, &ids.2).await?;
    Ok(crate::files::file_response(
        &file.name,
        &file.content_type,
        file.data,
    ))
}

/// Sends a failed reply again: the same mail with the same Message-ID.
#[utoipa::path(post, path = "/desk/api/v1/portals/{portal}/tickets/{id}/threads/{threadId}/retry", tag = "desk",
    responses((status = 200, body = Thread), (status = 404, description = "not_found (no failed mail on that thread)")))]
async fn retry_delivery(
    State(state): State<AppState>,
    member: DeskMember,
    Path(ids): Path<(String, String, String)>,
) -> ApiResult<Json<Thread>> {
    state.desk.retry_mail(&member, &ids.1, &ids.2).await?;
    let thread = state
        .desk
        .threads(&member, &ids.1)
        .await?
        .into_iter()
        .find(|t| t.id() == ids.2)
        .ok_or_else(madoguchi_core::Error::not_found)?;
    Ok(Json(thread))
}
