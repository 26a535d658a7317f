//! `GET /chat`: the chat portals I belong to, and a form to create one (C1).

use super::{chat_pages_js, console_css, day, plan_label, role_label};
use crate::pages::layout::page_with;
use crate::pages::SignedIn;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

pub async fn portals_page(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    let SignedIn { ctx, user } = signed_in;
    let portals = match state.chat.my_portals(&user.id).await {
        Ok(p) => p,
        Err(e) => return crate::ApiError(e).into_response(),
    };
    let now = state.clock.now_ms();
    let title = ctx.t("chatui-portals-title");
    page_with(
        &ctx,
        &title,
        html! { (console_css()) (chat_pages_js()) },
        html! {
            section.chat-portals {
                h1 { (title) }
                p.lead { (ctx.t("chatui-portals-lead")) }
                @if portals.is_empty() {
                    p.card.muted #no-portals { (ctx.t("chatui-portals-empty")) }
                } @else {
                    table #portal-list {
                        thead { tr {
                            th { (ctx.t("chatui-field-display-name")) }
                            th { (ctx.t("chatui-field-portal-name")) }
                            th { (ctx.t("chatui-role")) }
                            th { (ctx.t("chatui-plan")) }
                            th {}
                        } }
                        tbody {
                            @for (portal, role) in &portals {
                                tr data-portal=(portal.name) {
                                    td { a href={ "/chat/" (portal.name) } { strong { (portal.display_name) } } }
                                    td { code { (portal.name) } }
                                    td { (role_label(&ctx, *role)) }
                                    td {
                                        (plan_label(&ctx, portal.effective_plan(now)))
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
                    form.stack data-api="/chat/api/v1/portals" data-method="POST"
                        data-then="/chat/{portalName}/settings" novalidate {
                        div.row {
                            label { (ctx.t("chatui-field-portal-name"))
                                input type="text" name="portalName" required minlength="3" maxlength="40"
                                    pattern="[a-z0-9][a-z0-9-]*" autocomplete="off" spellcheck="false";
                                small.hint { (ctx.t("chatui-field-portal-name-hint")) }
                            }
                            label { (ctx.t("chatui-field-display-name"))
                                input type="text" name="displayName" required maxlength="200";
                                small.hint { (ctx.t("chatui-field-display-name-hint")) }
                            }
                        }
                        p.alert.error.form-error role="alert" hidden {}
                        button.primary type="submit" { (ctx.t("chatui-portal-create")) }
                    }
                }
            }
        },
    )
    .into_response()
}
