//! `GET /chat/{portal}/settings`: plan (C1), wait limit (C5), departments and operators
//! (C2) and the widget's embed tag (C3). Admins change them; others read them.

use super::{chat_pages_js, console_css, day, plan_label, role_label};
use crate::pages::layout::page_with;
use crate::pages::{ChatPage, PageError};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use madoguchi_chat::{Availability, Plan, Role};
use maud::html;

const PLANS: [Plan; 4] = [
    Plan::Free,
    Plan::Standard,
    Plan::Professional,
    Plan::Enterprise,
];
const ROLES: [Role; 3] = [Role::Operator, Role::Supervisor, Role::Admin];

pub async fn settings_page(State(state): State<AppState>, page: ChatPage) -> Response {
    let ChatPage { ctx, op, .. } = page;
    let (departments, operators, hours) = match tokio::try_join!(
        state.chat.departments(&op.portal.id),
        state.chat.list_operators(&op),
        state.chat.hours(&op.portal.id),
    ) {
        Ok(v) => v,
        Err(e) => return PageError::from_error(&ctx, e).into_response(),
    };
    let portal = &op.portal;
    let now = state.clock.now_ms();
    let plan = portal.effective_plan(now);
    let admin = op.is_admin();
    let api = format!("/chat/api/v1/portals/{}", portal.name);
    let snippet = format!(
        "<script src=\"{}/chat/widget.js\" data-portal=\"{}\" async></script>",
        state.settings.public_url.trim_end_matches('/'),
        portal.name
    );
    let dept_name = |id: &str| {
        departments
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.name.clone())
            .unwrap_or_default()
    };
    let title = ctx.t("chatui-settings-title");
    // Without admin rights every control is shown disabled: people see what exists.
    let disabled = !admin;
    page_with(
        &ctx,
        &format!("{title} · {}", portal.display_name),
        html! {
            (console_css()) (chat_pages_js())
            (crate::assets::script("chat-hours.js"))
        },
        html! {
            div.chat-settings data-portal=(portal.name) {
                div.page-head {
                    div {
                        h1 { (title) }
                        p.muted { (portal.display_name) " · " code { (portal.name) } }
                    }
                    div.spacer {}
                    a.button.primary href={ "/chat/" (portal.name) } { (ctx.t("chatui-open-console")) }
                }
                @if !admin {
                    p.alert.warn { (ctx.t("chatui-admin-only")) }
                }

                section.card #plan {
                    h2 { (ctx.t("chatui-plan")) }
                    p {
                        strong #current-plan { (plan_label(&ctx, plan)) }
                        @if let Some(end) = portal.trial_ends_at.filter(|_| portal.on_trial(now)) {
                            " " span.badge #trial { (ctx.t_args("chatui-trial-until", &[("date", &day(end))])) }
                        }
                    }
                    @if portal.on_trial(now) {
                        p.hint { (ctx.t("chatui-trial-note")) }
                    }
                    form.row data-api={ (api) "/plan" } data-method="PUT" data-then="reload" {
                        label { (ctx.t("chatui-plan"))
                            select name="plan" disabled[disabled] {
                                @for p in PLANS {
                                    option value=(p.as_str()) selected[p == plan] { (plan_label(&ctx, p)) }
                                }
                            }
                        }
                        button.primary type="submit" disabled[disabled] { (ctx.t("chatui-plan-change")) }
                        p.alert.error.form-error role="alert" hidden {}
                    }
                }

                section.card #general {
                    h2 { (ctx.t("chatui-general")) }
                    form.row data-api={ (api) "/settings" } data-method="PATCH" data-then="reload" {
                        label { (ctx.t("chatui-missed-after"))
                            input type="number" name="missedAfterSeconds" data-type="int" min="1" required
                                value=(portal.missed_after_ms / 1000) disabled[disabled];
                            small.hint { (ctx.t("chatui-missed-after-hint")) }
                        }
                        label { (ctx.t("chatui-idle-after"))
                            input type="number" name="idleEndAfterSeconds" data-type="int" min="1" required
                                value=(portal.idle_after_ms / 1000) disabled[disabled];
                            small.hint { (ctx.t("chatui-idle-after-hint")) }
                        }
                        // O3: routing and the cap of concurrent chats.
                        label { (ctx.t("chatui-routing"))
                            select name="routing" disabled[disabled] {
                                @for r in ["broadcast", "round_robin", "least_busy"] {
                                    option value=(r) selected[portal.routing.as_str() == r] {
                                        (ctx.t(&format!("chatui-routing-{r}")))
                                    }
                                }
                            }
                            small.hint { (ctx.t("chatui-routing-hint")) }
                        }
                        label { (ctx.t("chatui-max-chats"))
                            input type="number" name="maxChatsPerOperator" data-type="int" min="1" max="1000"
                                value=[portal.max_chats_per_operator] disabled[disabled];
                            small.hint { (ctx.t("chatui-max-chats-hint")) }
                        }
                        // V3: the file size limit, shown in MB.
                        label { (ctx.t("chatui-max-attachment"))
                            input type="number" name="maxAttachmentBytes" data-type="mb" min="0.001" max="50" step="any"
                                value=(mb(portal.max_attachment_bytes)) disabled[disabled];
                            small.hint { (ctx.t("chatui-max-attachment-hint")) }
                        }
                        button.primary type="submit" disabled[disabled] { (ctx.t("chatui-save")) }
                        p.alert.error.form-error role="alert" hidden {}
                    }
                }

                // V2: business hours and closed dates (chat-hours.js speaks the JSON API).
                section.card #hours {
                    h2 { (ctx.t("chatui-hours")) }
                    p.muted { (ctx.t("chatui-hours-help")) }
                    form.stack.hours-form data-hours-api={ (api) "/settings/hours" } novalidate {
                        label { (ctx.t("chatui-time-zone"))
                            input type="text" name="timeZone" value=(hours.time_zone) required disabled[disabled];
                        }
                        @for (day, key) in madoguchi_chat::visitor_experience::WEEKDAYS.iter().map(|d| (*d, format!("chatui-day-{d}"))) {
                            label { (ctx.t(&key))
                                input type="text" name={ "day-" (day) } value=(day_ranges(&hours, day))
                                    placeholder=(ctx.t("chatui-hours-closed")) disabled[disabled];
                            }
                        }
                        small.hint { (ctx.t("chatui-hours-ranges-help")) }
                        label { (ctx.t("chatui-closed-dates"))
                            textarea name="closedDates" rows="3" disabled[disabled] { (hours.closed_dates.join("\n")) }
                            small.hint { (ctx.t("chatui-closed-dates-help")) }
                        }
                        p.alert.error.form-error role="alert" hidden {}
                        p.alert.ok.saved-note hidden { (ctx.t("chatui-saved")) }
                        button.primary type="submit" disabled[disabled] { (ctx.t("chatui-save")) }
                    }
                }

                section.card #departments {
                    h2 { (ctx.t("chatui-departments")) }
                    @if departments.is_empty() {
                        p.muted { (ctx.t("chatui-departments-empty")) }
                    } @else {
                        ul.plain-list #department-list {
                            @for d in &departments {
                                li data-id=(d.id) { (d.name) }
                            }
                        }
                    }
                    @if admin {
                        form.row data-api={ (api) "/departments" } data-method="POST" data-then="reload"
                            data-notice="deskMapping.notice"
                            data-notice-undo={ (api) "/integrations/desk/departments/{id}/association" }
                            data-notice-link=(ctx.t("integ-notice-undo-link"))
                            data-notice-done=(ctx.t("integ-notice-undone")) {
                            label { (ctx.t("chatui-department-name"))
                                input type="text" name="name" required maxlength="100";
                            }
                            button type="submit" { (ctx.t("chatui-department-add")) }
                            p.alert.error.form-error role="alert" hidden {}
                        }
                    }
                }

                section.card #operators {
                    h2 { (ctx.t("chatui-operators")) }
                    table #operator-list {
                        thead { tr {
                            th { (ctx.t("chatui-field-name")) }
                            th { (ctx.t("chatui-field-email")) }
                            th { (ctx.t("chatui-role")) }
                            th { (ctx.t("chatui-operator-departments")) }
                            th { (ctx.t("chatui-status")) }
                        } }
                        tbody {
                            @for o in &operators {
                                tr data-email=(o.email) {
                                    td { (o.name) }
                                    td { (o.email) }
                                    td { (role_label(&ctx, o.role)) }
                                    td {
                                        @for (i, id) in o.department_ids.iter().enumerate() {
                                            @if i > 0 { "、" }
                                            (dept_name(id))
                                        }
                                    }
                                    td {
                                        @if o.status == Availability::Available {
                                            span.badge.available { (ctx.t("chatui-available")) }
                                        } @else {
                                            span.badge.closed { (ctx.t("chatui-away")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if admin {
                        h3 { (ctx.t("chatui-operator-add")) }
                        form.stack data-api={ (api) "/operators" } data-method="POST" data-then="reload" {
                            p.hint { (ctx.t("chatui-operator-add-hint")) }
                            div.row {
                                label { (ctx.t("chatui-field-email"))
                                    input type="email" name="email" required autocomplete="off";
                                }
                                label { (ctx.t("chatui-role"))
                                    select name="role" {
                                        @for r in ROLES {
                                            option value=(r.as_str()) { (role_label(&ctx, r)) }
                                        }
                                    }
                                }
                            }
                            @if !departments.is_empty() {
                                fieldset.checks {
                                    legend { (ctx.t("chatui-operator-departments")) }
                                    @for d in &departments {
                                        label.check {
                                            input type="checkbox" name="departmentIds" value=(d.id) data-type="array";
                                            " " (d.name)
                                        }
                                    }
                                }
                            }
                            p.alert.error.form-error role="alert" hidden {}
                            button.primary type="submit" { (ctx.t("chatui-operator-add")) }
                        }
                    }
                }

                // O1: canned responses have their own page (everyone keeps a personal set).
                section.card #canned {
                    h2 { (ctx.t("chatui-canned-title")) }
                    p { (ctx.t("chatui-canned-lead")) }
                    a.button href={ "/chat/" (portal.name) "/settings/canned-responses" } { (ctx.t("chatui-canned-title")) }
                }

                // Settings > Integrations > Desk (I1–I14) is the integration's page.
                section.card #integrations {
                    h2 { (ctx.t("chatui-integrations")) }
                    p { (ctx.t("chatui-integrations-lead")) }
                    a.button href={ "/chat/" (portal.name) "/settings/integrations/desk" } {
                        (ctx.t("chatui-settings")) " > " (ctx.t("chatui-integrations")) " > " (ctx.t("nav-desk"))
                    }
                }

                section.card #embed {
                    h2 { (ctx.t("chatui-embed")) }
                    p { (ctx.t("chatui-embed-help")) }
                    div.snippet {
                        pre { code #embed-code { (snippet) } }
                        button type="button" data-copy="#embed-code" data-copied=(ctx.t("chatui-copied")) {
                            (ctx.t("chatui-copy"))
                        }
                    }
                    p {
                        a.button.preview-link href={ "/chat/" (portal.name) "/preview" } target="_blank" rel="noopener" {
                            (ctx.t("chatui-preview-open"))
                        }
                        " " span.muted { (ctx.t("chatui-preview-help")) }
                    }
                }
            }
        },
    )
    .into_response()
}

/// A weekday's ranges as typed in the form: `09:00-12:00, 13:00-18:00`.
/// A byte count in MB as the settings form shows it ("10", "2.5", "0.002").
fn mb(bytes: i64) -> String {
    let mb = bytes as f64 / 1_048_576.0;
    let s = format!("{mb:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn day_ranges(hours: &madoguchi_chat::visitor_experience::BusinessHours, day: &str) -> String {
    hours
        .weekly
        .get(day)
        .map(|ranges| {
            ranges
                .iter()
                .map(|[a, b]| format!("{a}-{b}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}
