//! C1/C2 routes: portals and plans, settings, operators, departments, availability
//! (API.md "Chat — /chat/api/v1/portals/{portal}").

use super::extract::ChatOperator;
use crate::error::ApiResult;
use crate::extract::{ApiJson, AuthUser, RequestLang};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use madoguchi_chat::{
    DepartmentView, NewOperator, Operator, PortalSettings, PortalView, Role, SettingsPatch,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_portals, create_portal))
        .routes(routes!(get_portal))
        .routes(routes!(set_plan))
        .routes(routes!(get_settings, update_settings))
        .routes(routes!(list_operators, add_operator))
        .routes(routes!(update_operator))
        .routes(routes!(list_departments, create_department))
        .routes(routes!(get_me))
        .routes(routes!(set_availability))
}

/// `{data:[…]}`.
#[derive(Serialize, ToSchema)]
pub struct List<T> {
    pub data: Vec<T>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CreateChatPortal)]
pub struct CreatePortal {
    portal_name: String,
    display_name: Option<String>,
}

/// C1: creates a portal on a 30-day Enterprise trial; the caller becomes its admin.
#[utoipa::path(post, path = "/chat/api/v1/portals", tag = "chat", request_body = CreatePortal,
    responses((status = 201, body = PortalView), (status = 409, description = "portal_name_taken"),
        (status = 400, description = "invalid_request (portalName)")))]
async fn create_portal(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<CreatePortal>,
) -> ApiResult<(StatusCode, Json<PortalView>)> {
    let portal = state
        .chat
        .create_portal(&auth.user.id, &req.portal_name, req.display_name.as_deref())
        .await?;
    let view = state.chat.portal_view(&portal, Some(Role::Admin));
    Ok((StatusCode::CREATED, Json(view)))
}

/// The caller's Chat portals with their role.
#[utoipa::path(get, path = "/chat/api/v1/portals", tag = "chat",
    responses((status = 200, body = List<PortalView>)))]
async fn list_portals(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<List<PortalView>>> {
    let portals = state.chat.my_portals(&auth.user.id).await?;
    Ok(Json(List {
        data: portals
            .iter()
            .map(|(p, role)| state.chat.portal_view(p, Some(*role)))
            .collect(),
    }))
}

/// The portal with its plan in force, trial end and whether the integration is available.
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}", tag = "chat",
    responses((status = 200, body = PortalView), (status = 403), (status = 404)))]
async fn get_portal(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
) -> Json<PortalView> {
    Json(state.chat.portal_view(&op.portal, Some(op.role)))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetPlan {
    #[schema(value_type = madoguchi_chat::Plan)]
    plan: String,
}

/// C1: an admin chooses a plan; the trial ends and the plan applies at once.
#[utoipa::path(put, path = "/chat/api/v1/portals/{portal}/plan", tag = "chat", request_body = SetPlan,
    responses((status = 200, body = PortalView), (status = 403, description = "not an admin")))]
async fn set_plan(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    ApiJson(req): ApiJson<SetPlan>,
) -> ApiResult<Json<PortalView>> {
    let portal = state.chat.set_plan(&op, &req.plan).await?;
    Ok(Json(state.chat.portal_view(&portal, Some(op.role))))
}

/// The portal's chat settings.
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}/settings", tag = "chat",
    responses((status = 200, body = PortalSettings)))]
async fn get_settings(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
) -> Json<PortalSettings> {
    Json(state.chat.settings_of(&op.portal))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateSettings {
    /// Integer ≥ 1 (default 120).
    missed_after_seconds: Option<i64>,
    /// Integer ≥ 1 (default 1800).
    idle_end_after_seconds: Option<i64>,
    /// O3: "broadcast" (default) | "round_robin" | "least_busy".
    routing: Option<String>,
    /// O3: integer ≥ 1, the most attended chats per operator; null removes the cap.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<i64>)]
    max_chats_per_operator: Option<Option<i64>>,
    /// V3: the largest file visitors and operators may send, in bytes: 1024 to
    /// 52428800 (default 10485760, 10 MB).
    max_attachment_bytes: Option<i64>,
}

/// C5: the wait limit after which a waiting chat is missed; O3: routing and the cap of
/// concurrent chats per operator; V3: the file size limit (admins).
#[utoipa::path(patch, path = "/chat/api/v1/portals/{portal}/settings", tag = "chat",
    request_body = UpdateSettings, responses((status = 200, body = PortalSettings)))]
async fn update_settings(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    ApiJson(req): ApiJson<UpdateSettings>,
) -> ApiResult<Json<PortalSettings>> {
    let patch = SettingsPatch {
        missed_after_seconds: req.missed_after_seconds,
        idle_end_after_seconds: req.idle_end_after_seconds,
        routing: req.routing,
        max_chats_per_operator: req.max_chats_per_operator,
        max_attachment_bytes: req.max_attachment_bytes,
    };
    Ok(Json(state.chat.update_settings(&op, patch).await?))
}

/// The portal's operators.
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}/operators", tag = "chat",
    responses((status = 200, body = List<Operator>)))]
async fn list_operators(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
) -> ApiResult<Json<List<Operator>>> {
    Ok(Json(List {
        data: state.chat.list_operators(&op).await?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddOperator {
    email: String,
    #[schema(value_type = madoguchi_chat::Role)]
    role: String,
    department_ids: Option<Vec<String>>,
}

/// C2: an admin adds an existing user (by email) as operator with a role.
#[utoipa::path(post, path = "/chat/api/v1/portals/{portal}/operators", tag = "chat",
    request_body = AddOperator,
    responses((status = 201, body = Operator), (status = 404, description = "no such user (field email)"),
        (status = 409, description = "conflict: the portal's last admin (field role)")))]
async fn add_operator(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    ApiJson(req): ApiJson<AddOperator>,
) -> ApiResult<(StatusCode, Json<Operator>)> {
    let new = NewOperator {
        email: req.email,
        role: req.role,
        department_ids: req.department_ids,
    };
    let added = state.chat.add_operator(&op, new).await?;
    Ok((StatusCode::CREATED, Json(added)))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateOperator {
    #[schema(value_type = Option<madoguchi_chat::Role>)]
    role: Option<String>,
    department_ids: Option<Vec<String>>,
}

/// Changes an operator's role and departments (admins).
#[utoipa::path(patch, path = "/chat/api/v1/portals/{portal}/operators/{user_id}", tag = "chat",
    request_body = UpdateOperator, responses((status = 200, body = Operator),
        (status = 409, description = "conflict: the portal's last admin (field role)")))]
async fn update_operator(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    Path((_portal, user_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<UpdateOperator>,
) -> ApiResult<Json<Operator>> {
    Ok(Json(
        state
            .chat
            .update_operator(&op, &user_id, req.role.as_deref(), req.department_ids)
            .await?,
    ))
}

/// The portal's departments, each with its desk mapping.
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}/departments", tag = "chat",
    responses((status = 200, body = List<DepartmentView>)))]
async fn list_departments(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
) -> ApiResult<Json<List<DepartmentView>>> {
    Ok(Json(List {
        data: state.chat.department_views(&op, lang).await?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateDepartment {
    name: String,
}

/// C2: an admin adds a department; with the integration, it may be auto-associated
/// with the same-named Desk department (I13, `deskMapping.notice`).
#[utoipa::path(post, path = "/chat/api/v1/portals/{portal}/departments", tag = "chat",
    request_body = CreateDepartment,
    responses((status = 201, body = DepartmentView), (status = 409, description = "conflict (name)")))]
async fn create_department(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    RequestLang(lang): RequestLang,
    ApiJson(req): ApiJson<CreateDepartment>,
) -> ApiResult<(StatusCode, Json<DepartmentView>)> {
    let dept = state.chat.create_department(&op, &req.name, lang).await?;
    Ok((StatusCode::CREATED, Json(dept)))
}

/// The caller as an operator of the portal.
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}/me", tag = "chat",
    responses((status = 200, body = Operator)))]
async fn get_me(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
) -> ApiResult<Json<Operator>> {
    Ok(Json(state.chat.operator(&op.portal.id, &op.user_id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetAvailability {
    #[schema(value_type = madoguchi_chat::Availability)]
    status: String,
}

/// C4: the caller's availability; only available operators are offered new chats.
#[utoipa::path(put, path = "/chat/api/v1/portals/{portal}/me/availability", tag = "chat",
    request_body = SetAvailability, responses((status = 200, body = Operator)))]
async fn set_availability(
    State(state): State<AppState>,
    ChatOperator(op): ChatOperator,
    ApiJson(req): ApiJson<SetAvailability>,
) -> ApiResult<Json<Operator>> {
    Ok(Json(state.chat.set_availability(&op, &req.status).await?))
}
