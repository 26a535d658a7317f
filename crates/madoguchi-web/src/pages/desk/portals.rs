//! `GET /desk`: the Desk portals I belong to, and `POST /desk` to create one (D1).

use super::{
    csrf_field, fail, field_error, form_alert, is_form_error, posted, role_label, see_other, time,
    FormError, FORM_ERROR_STATUS,
};
use crate::pages::layout::page_with;
use crate::pages::{PageContext, SignedIn};
use crate::state::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use madoguchi_core::identity::User;
use maud::html;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortalForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    portal_name: String,
    #[serde(default)]
    display_name: String,
}

crate::pages::forms::posted_forms!(PortalForm);

pub async fn portals_page(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    let SignedIn { ctx, user } = signed_in;
    render(&state, &ctx, &user, &PortalForm::default(), None).await
}

pub async fn create_portal(
    State(state): State<AppState>,
    signed_in: SignedIn,
    form: Result<Form<PortalForm>, FormRejection>,
) -> Response {
    let SignedIn { ctx, user } = signed_in;
    let form = match posted(&ctx, form) {
        Ok(f) => f,
        Err(page) => return page,
    };
    match state
        .desk
        .create_portal(&user.id, &form.portal_name, &form.display_name)
        .await
    {
        Ok(portal) => see_other(&format!("/desk/{}", portal.portal_name)),
        Err(e) if is_form_error(&e) => {
            let err = FormError::new(&ctx, &e);
            render(&state, &ctx, &user, &form, Some(&err)).await
        }
        Err(e) => fail(&ctx, e),
    }
}

async fn render(
    state: &AppState,
    ctx: &PageContext,
    user: &User,
    form: &PortalForm,
    err: Option<&FormError>,
) -> Response {
    let portals = match state.desk.portals_of(&user.id).await {
        Ok(p) => p,
        Err(e) => return fail(ctx, e),
    };
    let title = ctx.t("deskui-portals-title");
    let body = page_with(
        ctx,
        &title,
        html! {
            (crate::assets::stylesheet("desk.css"))
            (crate::assets::script("desk.js"))
        },
        html! {
            section.desk-portals {
                h1 { (title) }
                p.lead { (ctx.t("deskui-portals-lead")) }
                @if portals.is_empty() {
                    p.card.muted #no-portals { (ctx.t("deskui-portals-empty")) }
                } @else {
                    table #portal-list {
                        thead { tr {
                            th { (ctx.t("deskui-field-display-name")) }
                            th { (ctx.t("deskui-field-portal-name")) }
                            th { (ctx.t("deskui-role")) }
                            th { (ctx.t("deskui-created")) }
                        } }
                        tbody {
                            @for p in &portals {
                                tr data-portal=(p.portal_name) {
                                    td { a href={ "/desk/" (p.portal_name) } { strong { (p.display_name) } } }
                                    td { code { (p.portal_name) } }
                                    td { (role_label(ctx, p.role)) }
                                    td { (time(&p.created_time)) }
                                }
                            }
                        }
                    }
                }
                section.card #create-portal {
                    h2 { (ctx.t("deskui-portal-create")) }
                    (form_alert(err, &["portalName", "displayName"]))
                    form.stack method="post" action="/desk" {
                        (csrf_field(ctx))
                        div.row {
                            label { (ctx.t("deskui-field-portal-name"))
                                input type="text" name="portalName" value=(form.portal_name) required
                                    minlength="3" maxlength="40" pattern="[a-z0-9]([a-z0-9\\-]*[a-z0-9])?"
                                    autocomplete="off" spellcheck="false" placeholder="acme";
                                small.hint { (ctx.t("deskui-portal-name-rules")) }
                                (field_error(err, "portalName"))
                            }
                            label { (ctx.t("deskui-field-display-name"))
                                input type="text" name="displayName" value=(form.display_name) required maxlength="100";
                                small.hint { (ctx.t("deskui-display-name-hint")) }
                                (field_error(err, "displayName"))
                            }
                        }
                        button.primary type="submit" { (ctx.t("deskui-portal-create")) }
                    }
                }
            }
        },
    );
    let status = if err.is_some() {
        FORM_ERROR_STATUS
    } else {
        StatusCode::OK
    };
    (status, body).into_response()
}
