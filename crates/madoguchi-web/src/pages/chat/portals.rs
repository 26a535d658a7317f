//! `GET /chat`: the chat portals I belong to, and a form to create one (C1), posted
//! back to `POST /chat` (`crate::pages::forms`).

use super::{console_css, day, plan_label, role_label};
use crate::pages::forms::{
    csrf_field, form_status, invalid, is_form_error, see_other, FormError, PortalForm, PostedForm,
};
use crate::pages::layout::{page_with, table_head};
use crate::pages::{PageError, SignedIn};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

pub async fn portals_page(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    render(&state, &signed_in, None).await
}

/// `POST /chat`: creates the portal and opens its settings.
pub async fn create_portal(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PostedForm(form): PostedForm<PortalForm>,
) -> Response {
    let ctx = &signed_in.ctx;
    let created = state
        .chat
        .create_portal(
            &signed_in.user.id,
            form.portal_name.trim(),
            Some(form.display_name.trim()),
        )
        .await;
    match created {
        Ok(portal) => see_other(&format!("/chat/{}/settings", portal.name)),
        Err(e) if is_form_error(&e) => {
            let err = FormError::new(ctx, &e);
            render(&state, &signed_in, Some((&form, err))).await
        }
        Err(e) => PageError::from_error(ctx, e).into_response(),
    }
}

async fn render(
    state: &AppState,
    signed_in: &SignedIn,
    sent: Option<(&PortalForm, FormError)>,
) -> Response {
    let SignedIn { ctx, user } = signed_in;
    let form = sent.as_ref().map(|(f, _)| *f);
    let err = sent.as_ref().map(|(_, e)| e);
    let portals = match state.chat.my_portals(&user.id).await {
        Ok(p) => p,
        Err(e) => return PageError::from_error(ctx, e).into_response(),
    };
    let now = state.clock.now_ms();
    let title = ctx.t("chatui-portals-title");
    let body = page_with(
        ctx,
        &title,
        html! { (console_css()) },
        html! {
            section.chat-portals {
                h1 { (title) }
                p.lead { (ctx.t("chatui-portals-lead")) }
                @if portals.is_empty() {
                    p.card.muted #no-portals { (ctx.t("chatui-portals-empty")) }
                } @else {
                    table #portal-list {
                        (table_head(ctx, &["chatui-field-display-name", "chatui-field-portal-name", "chatui-role", "chatui-plan", ""]))
                        tbody {
                            @for (portal, role) in &portals {
                                tr data-portal=(portal.name) {
                                    td { a href={ "/chat/" (portal.name) } { strong { (portal.display_name) } } }
                                    td { code { (portal.name) } }
                                    td { (role_label(ctx, *role)) }
                                    td {
                                        (plan_label(ctx, portal.effective_plan(now)))
                                        @if let Some(end) = portal.trial_ends_at.filter(|_| portal.on_trial(now)) {
                                            br;
                                            small.muted { (ctx.t_args("chatui-trial-until", &[("date", &day(end))])) }
                                        }
                                    }
                                    td.actions {
                                        a.button.primary href={ "/chat/" (portal.name) } { (ctx.t("chatui-open-console")) }
                                        " "
                                        a.button href={ "/chat/" (portal.name) "/settings" } { (ctx.t("chatui-settings")) }
                                    }
                                }
                            }
                        }
                    }
                }
                section.card #create-portal {
                    h2 { (ctx.t("chatui-portal-create")) }
                    form.stack method="post" action="/chat" novalidate {
                        (csrf_field(ctx))
                        div.row {
                            label { (ctx.t("chatui-field-portal-name"))
                                input type="text" name="portalName" required minlength="3" maxlength="40"
                                    pattern="[a-z0-9][a-z0-9-]*" autocomplete="off" spellcheck="false"
                                    value=(form.map_or("", |f| f.portal_name.as_str()))
                                    aria-invalid=[invalid(err, "portalName")];
                                small.hint { (ctx.t("chatui-field-portal-name-hint")) }
                            }
                            label { (ctx.t("chatui-field-display-name"))
                                input type="text" name="displayName" required maxlength="200"
                                    value=(form.map_or("", |f| f.display_name.as_str()))
                                    aria-invalid=[invalid(err, "displayName")];
                                small.hint { (ctx.t("chatui-field-display-name-hint")) }
                            }
                        }
                        @if let Some(e) = err {
                            p.alert.error.form-error role="alert" { (e.message) }
                        }
                        button.primary type="submit" { (ctx.t("chatui-portal-create")) }
                    }
                }
            }
        },
    );
    let status = form_status(err.is_some());
    (status, body).into_response()
}
