//! `GET /desk`: the Desk portals I belong to, and `POST /desk` to create one (D1).

use super::{
    after_post, csrf_field, fail, field_error, form_alert, form_status, role_label, table_head,
    time, FormError, PostedForm,
};
use crate::pages::forms::PortalForm;
use crate::pages::layout::page_with;
use crate::pages::{PageContext, SignedIn};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use madoguchi_core::identity::User;
use madoguchi_desk::Portal;
use maud::html;

pub async fn portals_page(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    let SignedIn { ctx, user } = signed_in;
    render(&state, &ctx, &user, &PortalForm::default(), None).await
}

pub async fn create_portal(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PostedForm(form): PostedForm<PortalForm>,
) -> Response {
    let SignedIn { ctx, user } = signed_in;
    let done = state
        .desk
        .create_portal(&user.id, &form.portal_name, &form.display_name)
        .await;
    let to = |portal: Portal| format!("/desk/{}", portal.portal_name);
    after_post(&ctx, done, to, async |err| {
        render(&state, &ctx, &user, &form, Some(&err)).await
    })
    .await
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
                        (table_head(ctx, &["deskui-field-display-name", "deskui-field-portal-name", "deskui-role", "deskui-created"]))
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
    let status = form_status(err.is_some());
    (status, body).into_response()
}
