//! Departments, accounts, SLAs, contracts, contacts and classifications (SPEC D2, D3).

use super::{DataList, DeskMember};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use madoguchi_desk::{
    Account, Classifications, Contact, ContactFilter, ContactPatch, Contract, Department,
    NewContact, NewContract, Sla,
};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_departments, create_department))
        .routes(routes!(list_accounts, create_account))
        .routes(routes!(get_account))
        .routes(routes!(list_slas, create_sla))
        .routes(routes!(list_contracts, create_contract))
        .routes(routes!(list_contacts, create_contact))
        .routes(routes!(get_contact, patch_contact))
        .routes(routes!(get_classifications, put_classifications))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamedBody {
    name: String,
}

/// The portal's departments; `isDefault` marks the default one.
#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/departments", tag = "desk",
    responses((status = 200, body = DataList<Department>)))]
async fn list_departments(
    State(state): State<AppState>,
    member: DeskMember,
) -> ApiResult<Json<DataList<Department>>> {
    Ok(Json(state.desk.departments(&member).await?.into()))
}

/// Adds a department (admin only); 409 `conflict` for a name the portal has.
#[utoipa::path(post, path = "/desk/api/v1/portals/{portal}/departments", tag = "desk", request_body = NamedBody,
    responses((status = 201, body = Department), (status = 409, description = "conflict")))]
async fn create_department(
    State(state): State<AppState>,
    member: DeskMember,
    ApiJson(req): ApiJson<NamedBody>,
) -> ApiResult<(StatusCode, Json<Department>)> {
    let d = state.desk.create_department(&member, &req.name).await?;
    Ok((StatusCode::CREATED, Json(d)))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountBody {
    account_name: String,
}

#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/accounts", tag = "desk",
    responses((status = 200, body = DataList<Account>)))]
async fn list_accounts(
    State(state): State<AppState>,
    member: DeskMember,
) -> ApiResult<Json<DataList<Account>>> {
    Ok(Json(state.desk.accounts(&member).await?.into()))
}

#[utoipa::path(post, path = "/desk/api/v1/portals/{portal}/accounts", tag = "desk", request_body = AccountBody,
    responses((status = 201, body = Account)))]
async fn create_account(
    State(state): State<AppState>,
    member: DeskMember,
    ApiJson(req): ApiJson<AccountBody>,
) -> ApiResult<(StatusCode, Json<Account>)> {
    let a = state
        .desk
        .create_account(&member, &req.account_name)
        .await?;
    Ok((StatusCode::CREATED, Json(a)))
}

#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/accounts/{id}", tag = "desk",
    responses((status = 200, body = Account), (status = 404, description = "not_found")))]
async fn get_account(
    State(state): State<AppState>,
    member: DeskMember,
    Path(ids): Path<(String, String)>,
) -> ApiResult<Json<Account>> {
    Ok(Json(state.desk.account(&member, &ids.1).await?))
}

#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/slas", tag = "desk",
    responses((status = 200, body = DataList<Sla>)))]
async fn list_slas(
    State(state): State<AppState>,
    member: DeskMember,
) -> ApiResult<Json<DataList<Sla>>> {
    Ok(Json(state.desk.slas(&member).await?.into()))
}

/// Adds an SLA (admin only).
#[utoipa::path(post, path = "/desk/api/v1/portals/{portal}/slas", tag = "desk", request_body = NamedBody,
    responses((status = 201, body = Sla)))]
async fn create_sla(
    State(state): State<AppState>,
    member: DeskMember,
    ApiJson(req): ApiJson<NamedBody>,
) -> ApiResult<(StatusCode, Json<Sla>)> {
    let s = state.desk.create_sla(&member, &req.name).await?;
    Ok((StatusCode::CREATED, Json(s)))
}

#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/contracts", tag = "desk",
    responses((status = 200, body = DataList<Contract>)))]
async fn list_contracts(
    State(state): State<AppState>,
    member: DeskMember,
) -> ApiResult<Json<DataList<Contract>>> {
    Ok(Json(state.desk.contracts(&member).await?.into()))
}

/// Adds a contract of an account under an SLA; the account's latest contract is its
/// active one.
#[utoipa::path(post, path = "/desk/api/v1/portals/{portal}/contracts", tag = "desk", request_body = NewContract,
    responses((status = 201, body = Contract), (status = 400, description = "invalid_request (accountId, slaId)")))]
async fn create_contract(
    State(state): State<AppState>,
    member: DeskMember,
    ApiJson(req): ApiJson<NewContract>,
) -> ApiResult<(StatusCode, Json<Contract>)> {
    let c = state.desk.create_contract(&member, &req).await?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// The portal's contacts, newest first; `?email=` (any case) finds one, `?q=` those
/// whose name (either order), email or phone holds it (width and case folded).
#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/contacts", tag = "desk", params(ContactFilter),
    responses((status = 200, body = DataList<Contact>),
        (status = 400, description = "invalid_request (q over 200 characters, limit, offset)")))]
async fn list_contacts(
    State(state): State<AppState>,
    member: DeskMember,
    ApiQuery(filter): ApiQuery<ContactFilter>,
) -> ApiResult<Json<DataList<Contact>>> {
    Ok(Json(state.desk.contacts(&member, &filter).await?.into()))
}

/// Adds a contact; 409 `email_taken` for an email the portal has (any case).
#[utoipa::path(post, path = "/desk/api/v1/portals/{portal}/contacts", tag = "desk", request_body = NewContact,
    responses((status = 201, body = Contact), (status = 409, description = "email_taken")))]
async fn create_contact(
    State(state): State<AppState>,
    member: DeskMember,
    ApiJson(req): ApiJson<NewContact>,
) -> ApiResult<(StatusCode, Json<Contact>)> {
    let c = state.desk.create_contact(&member, &req).await?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// A contact with its account, SLA, contract and owner names.
#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/contacts/{id}", tag = "desk",
    responses((status = 200, body = Contact), (status = 404, description = "not_found")))]
async fn get_contact(
    State(state): State<AppState>,
    member: DeskMember,
    Path(ids): Path<(String, String)>,
) -> ApiResult<Json<Contact>> {
    Ok(Json(state.desk.contact(&member, &ids.1).await?))
}

/// Changes a contact; `null` clears an optional field.
#[utoipa::path(patch, path = "/desk/api/v1/portals/{portal}/contacts/{id}", tag = "desk", request_body = ContactPatch,
    responses((status = 200, body = Contact), (status = 404, description = "not_found"),
        (status = 409, description = "email_taken")))]
async fn patch_contact(
    State(state): State<AppState>,
    member: DeskMember,
    Path(ids): Path<(String, String)>,
    ApiJson(req): ApiJson<ContactPatch>,
) -> ApiResult<Json<Contact>> {
    Ok(Json(state.desk.patch_contact(&member, &ids.1, &req).await?))
}

/// The portal's ticket classifications.
#[utoipa::path(get, path = "/desk/api/v1/portals/{portal}/classifications", tag = "desk",
    responses((status = 200, body = Classifications)))]
async fn get_classifications(
    State(state): State<AppState>,
    member: DeskMember,
) -> ApiResult<Json<Classifications>> {
    let classifications = state.desk.classifications(&member).await?;
    Ok(Json(Classifications { classifications }))
}

/// Replaces the classifications (admin only): non-empty, unique strings.
#[utoipa::path(put, path = "/desk/api/v1/portals/{portal}/classifications", tag = "desk", request_body = Classifications,
    responses((status = 200, body = Classifications), (status = 403, description = "forbidden")))]
async fn put_classifications(
    State(state): State<AppState>,
    member: DeskMember,
    ApiJson(req): ApiJson<Classifications>,
) -> ApiResult<Json<Classifications>> {
    let classifications = state
        .desk
        .set_classifications(&member, &req.classifications)
        .await?;
    Ok(Json(Classifications { classifications }))
}
