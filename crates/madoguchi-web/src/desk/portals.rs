//! Portals, members and the service key (SPEC D1, D6).

use super::{DataList, DeskMember};
use crate::error::ApiResult;
use crate::extract::{ApiJson, AuthUser};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use madoguchi_desk::{MemberView, Portal, Role, ServiceKey};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_portal, list_portals))
        .routes(routes!(get_portal))
        .routes(routes!(add_member, list_members))
        .routes(routes!(get_service_key, regenerate_service_key))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatePortal {
    portal_name: String,
    display_name: String,
}

/// Creates a Desk portal; the caller becomes its admin. A default department comes
/// with it.
#[utoipa::path(post, path = "/desk/api/v1/portals", tag = "desk", request_body = CreatePortal,
    responses((status = 201, body = Portal), (status = 409, description = "portal_name_taken"),
        (status = 400, description = "invalid_request (portalName: 3–40 lowercase letters, digits, hyphens)")))]
async fn create_portal(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<CreatePortal>,
) -> ApiResult<(StatusCode, Json<Portal>)> {
    let portal = state
        .desk
        .create_portal(&auth.user.id, &req.portal_name, &req.display_name)
        .await?;
    Ok((StatusCode::CREATED, Json(portal)))
}

/// The caller's Desk portals with their role.
#[utoipa::path(get, path = "/desk/api/v1/portals", tag = "desk",
    responses((status = 200, body = DataList<Portal>)))]
async fn list_portals(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<DataList<Portal>>> {
    Ok(Json(state.desk.portals_of(&auth.user.id).await?.into()))
}

/// One portal with the caller's role.
#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}", tag = "desk",
    responses((status = 200, body = Portal), (status = 404, description = "not_found")))]
async fn get_portal(State(state): State<AppState>, member: DeskMember) -> ApiResult<Json<Portal>> {
    Ok(Json(state.desk.portal(&member).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddMember {
    email: String,
    role: Role,
}

/// Adds a signed-up user as admin or agent (admin only); adding a member again sets
/// their role.
#[utoipa::path(post, path = "/desk/api/v1/portals/{portal}/members", tag = "desk", request_body = AddMember,
    responses((status = 201, body = MemberView), (status = 403, description = "forbidden"),
        (status = 404, description = "not_found (no user with this email)"),
        (status = 409, description = "conflict: the portal's last admin (field role)")))]
async fn add_member(
    State(state): State<AppState>,
    member: DeskMember,
    ApiJson(req): ApiJson<AddMember>,
) -> ApiResult<(StatusCode, Json<MemberView>)> {
    let added = state.desk.add_member(&member, &req.email, req.role).await?;
    Ok((StatusCode::CREATED, Json(added)))
}

/// The portal's members.
#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/members", tag = "desk",
    responses((status = 200, body = DataList<MemberView>)))]
async fn list_members(
    State(state): State<AppState>,
    member: DeskMember,
) -> ApiResult<Json<DataList<MemberView>>> {
    Ok(Json(state.desk.members(&member).await?.into()))
}

/// Settings > API: the service key with the admin email beside it (admin only).
#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/settings/service-key", tag = "desk",
    responses((status = 200, body = ServiceKey), (status = 404, description = "no_service_key"),
        (status = 403, description = "forbidden")))]
async fn get_service_key(
    State(state): State<AppState>,
    member: DeskMember,
) -> ApiResult<Json<ServiceKey>> {
    Ok(Json(state.desk.service_key(&member).await?))
}

/// Generates a new service key (admin only); the old one stops working at once.
#[utoipa::path(post, path = "/desk/api/v1/portals/{portal}/settings/service-key", tag = "desk",
    responses((status = 201, body = ServiceKey), (status = 403, description = "forbidden")))]
async fn regenerate_service_key(
    State(state): State<AppState>,
    member: DeskMember,
) -> ApiResult<(StatusCode, Json<ServiceKey>)> {
    let key = state.desk.regenerate_service_key(&member).await?;
    Ok((StatusCode::CREATED, Json(key)))
}
