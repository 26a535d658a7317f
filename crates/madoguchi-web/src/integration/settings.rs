//! Settings > Integrations > Desk (SPEC I1–I9, I12–I14): every call answers the
//! integration object of `GET …/integrations/desk`.

use crate::chat::OperatorUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, OptionalApiJson, RequestLang};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use madoguchi_core::{Error, ErrorCode};
use madoguchi_integration::link::{EnableRequest, LinkRequest, SettingsPatch};
use madoguchi_integration::IntegrationView;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_integration))
        .routes(routes!(enable_integration))
        .routes(routes!(update_link))
        .routes(routes!(disable_integration))
        .routes(routes!(update_settings))
        .routes(routes!(update_department))
        .routes(routes!(remove_association))
}

/// Linking errors: a wrong service key is 422 `invalid_service_key` naming the field
/// here (the input is at fault), where a Desk API call with it is 401.
pub struct LinkError(ApiError);

impl From<Error> for LinkError {
    fn from(e: Error) -> Self {
        Self(ApiError(e))
    }
}

impl IntoResponse for LinkError {
    fn into_response(self) -> Response {
        let code = self.0 .0.code;
        let mut res = self.0.into_response();
        if code == ErrorCode::InvalidServiceKey {
            *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        }
        res
    }
}

/// `POST …/enable`: no body, `{deskPortalName}`, or `{adminEmail, serviceKey, deskPortalName}`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct EnableBody {
    desk_portal_name: Option<String>,
    admin_email: Option<String>,
    service_key: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkBody {
    admin_email: Option<String>,
    service_key: Option<String>,
    desk_portal_name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsBody {
    #[schema(value_type = Option<madoguchi_integration::AutoTicket>)]
    auto_ticket: Option<String>,
    /// Tickets from missed chats; attended ones are always Open.
    #[schema(value_type = Option<madoguchi_integration::TicketStatusSetting>)]
    ticket_status: Option<String>,
    #[schema(value_type = Option<madoguchi_integration::ViewScope>)]
    view_scope: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DepartmentBody {
    #[schema(value_type = madoguchi_integration::DeptMode)]
    mode: String,
    /// Required with "mapped".
    desk_department_id: Option<String>,
}

/// The link, its settings and department mappings; the service key is re-checked
/// against Desk on every call, so a revoked key shows `broken` at once (I5).
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}/integrations/desk", tag = "integration",
    responses((status = 200, body = IntegrationView), (status = 403, description = "forbidden, plan_required")))]
async fn get_integration(
    State(state): State<AppState>,
    OperatorUser { user, op }: OperatorUser,
    RequestLang(lang): RequestLang,
) -> ApiResult<Json<IntegrationView>> {
    Ok(Json(state.integration.view(&op, &user, lang).await?))
}

/// I2–I4, I6: link as the Desk admin you are (no body; several portals → 409
/// `choose_desk_portal` with `candidates`; none → 422 `not_desk_admin` with `fields`),
/// pick a portal (`{deskPortalName}`), or give the three fields of I3; re-enables a
/// disabled link. With `serve --desk-url` the Chat process cannot see the user's Desk
/// roles, so enabling without a body answers 422 `not_desk_admin` there.
#[utoipa::path(post, path = "/chat/api/v1/portals/{portal}/integrations/desk/enable", tag = "integration",
    request_body(content = Option<EnableBody>),
    responses((status = 200, body = IntegrationView),
        (status = 409, description = "choose_desk_portal"),
        (status = 422, description = "not_desk_admin, desk_portal_not_found, invalid_service_key, not_desk_admin_email"),
        (status = 403, description = "forbidden, plan_required")))]
async fn enable_integration(
    State(state): State<AppState>,
    OperatorUser { user, op }: OperatorUser,
    RequestLang(lang): RequestLang,
    OptionalApiJson(body): OptionalApiJson<EnableBody>,
) -> Result<Json<IntegrationView>, LinkError> {
    let req = body.map(|b| EnableRequest {
        desk_portal_name: b.desk_portal_name,
        admin_email: b.admin_email,
        service_key: b.service_key,
    });
    Ok(Json(state.integration.enable(&op, &user, req, lang).await?))
}

/// I3, I5: change the desk admin, service key and portal name (validated against Desk).
#[utoipa::path(put, path = "/chat/api/v1/portals/{portal}/integrations/desk/link", tag = "integration",
    request_body = LinkBody,
    responses((status = 200, body = IntegrationView),
        (status = 422, description = "desk_portal_not_found, invalid_service_key, not_desk_admin_email (with field)")))]
async fn update_link(
    State(state): State<AppState>,
    OperatorUser { user, op }: OperatorUser,
    RequestLang(lang): RequestLang,
    ApiJson(body): ApiJson<LinkBody>,
) -> Result<Json<IntegrationView>, LinkError> {
    let req = LinkRequest {
        admin_email: body.admin_email,
        service_key: body.service_key,
        desk_portal_name: body.desk_portal_name,
    };
    Ok(Json(
        state.integration.update_link(&op, &user, req, lang).await?,
    ))
}

/// I6: disable; settings and mappings are kept.
#[utoipa::path(post, path = "/chat/api/v1/portals/{portal}/integrations/desk/disable", tag = "integration",
    responses((status = 200, body = IntegrationView)))]
async fn disable_integration(
    State(state): State<AppState>,
    OperatorUser { user, op }: OperatorUser,
    RequestLang(lang): RequestLang,
) -> ApiResult<Json<IntegrationView>> {
    Ok(Json(state.integration.disable(&op, &user, lang).await?))
}

/// I7, I8, I14: automatic tickets, their status, the ticket view scope.
#[utoipa::path(patch, path = "/chat/api/v1/portals/{portal}/integrations/desk/settings", tag = "integration",
    request_body = SettingsBody, responses((status = 200, body = IntegrationView)))]
async fn update_settings(
    State(state): State<AppState>,
    OperatorUser { user, op }: OperatorUser,
    RequestLang(lang): RequestLang,
    ApiJson(body): ApiJson<SettingsBody>,
) -> ApiResult<Json<IntegrationView>> {
    let patch = SettingsPatch {
        auto_ticket: body.auto_ticket,
        ticket_status: body.ticket_status,
        view_scope: body.view_scope,
    };
    Ok(Json(
        state
            .integration
            .update_settings(&op, &user, patch, lang)
            .await?,
    ))
}

/// I9: a Chat department's mode (a Desk department, No integration, View only,
/// Choose as needed).
#[utoipa::path(put, path = "/chat/api/v1/portals/{portal}/integrations/desk/departments/{chat_department_id}",
    tag = "integration", request_body = DepartmentBody, responses((status = 200, body = IntegrationView),
        (status = 409, description = "integration_disabled (mode mapped without a link)")))]
async fn update_department(
    State(state): State<AppState>,
    OperatorUser { user, op }: OperatorUser,
    RequestLang(lang): RequestLang,
    Path((_portal, department_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<DepartmentBody>,
) -> ApiResult<Json<IntegrationView>> {
    Ok(Json(
        state
            .integration
            .set_department(
                &op,
                &user,
                &department_id,
                &body.mode,
                body.desk_department_id.as_deref(),
                lang,
            )
            .await?,
    ))
}

/// I13: removes a department's association (back to Choose as needed).
#[utoipa::path(delete, path = "/chat/api/v1/portals/{portal}/integrations/desk/departments/{chat_department_id}/association",
    tag = "integration", responses((status = 200, body = IntegrationView)))]
async fn remove_association(
    State(state): State<AppState>,
    OperatorUser { user, op }: OperatorUser,
    RequestLang(lang): RequestLang,
    Path((_portal, department_id)): Path<(String, String)>,
) -> ApiResult<Json<IntegrationView>> {
    Ok(Json(
        state
            .integration
            .remove_association(&op, &user, &department_id, lang)
            .await?,
    ))
}
