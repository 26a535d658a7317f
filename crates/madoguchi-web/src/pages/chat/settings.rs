//! `GET /chat/{portal}/settings`: plan (C1), wait limit (C5), routing (O3), file size
//! (V3), business hours (V2), departments and operators (C2) and the widget's embed tag
//! (C3). Admins change them; others read them. Each form posts back under this page
//! (`crate::pages::forms`): `…/settings/plan`, `/general`, `/hours`, `/departments`,
//! `/operators`, and the I13 notice's undo `…/departments/{id}/association/delete`.

use super::{chat_pages_js, console_css, day, plan_label, role_label};
use crate::pages::forms::{
    csrf_field, field_message, form_status, invalid, is_form_error, see_other, CsrfForm, FormError,
    Posted, PostedForm,
};
use crate::pages::layout::{page_with, table_head};
use crate::pages::PageQuery;
use crate::pages::{ChatPage, PageError};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use madoguchi_chat::visitor_experience::{BusinessHours, WEEKDAYS};
use madoguchi_chat::{Availability, NewOperator, OperatorCtx, Plan, Role, SettingsPatch};
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::HashMap;

const PLANS: [Plan; 4] = [
    Plan::Free,
    Plan::Standard,
    Plan::Professional,
    Plan::Enterprise,
];
const ROLES: [Role; 3] = [Role::Operator, Role::Supervisor, Role::Admin];

/// C1: the plan form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PlanForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    plan: String,
}

/// C5, O3, V3: the general settings, as typed (numbers are parsed by [`GeneralForm::patch`]).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct GeneralForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    missed_after_seconds: String,
    idle_end_after_seconds: String,
    routing: String,
    max_chats_per_operator: String,
    /// In MB, as the form shows it.
    max_attachment_bytes: String,
}

/// A number the service would refuse: text that is no number gets the service's own
/// message for the field (which says the allowed range) rather than a vaguer one.
const NOT_A_NUMBER: i64 = 0;

fn int(v: &str) -> Option<i64> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.parse().unwrap_or(NOT_A_NUMBER))
}

impl GeneralForm {
    fn patch(&self) -> SettingsPatch {
        let mb = self.max_attachment_bytes.trim().replace(',', ".");
        SettingsPatch {
            missed_after_seconds: int(&self.missed_after_seconds),
            idle_end_after_seconds: int(&self.idle_end_after_seconds),
            routing: Some(self.routing.trim().to_owned()).filter(|r| !r.is_empty()),
            // Empty removes the cap (O3).
            max_chats_per_operator: Some(int(&self.max_chats_per_operator)),
            max_attachment_bytes: (!mb.is_empty()).then(|| match mb.parse::<f64>() {
                Ok(v) if v.is_finite() => (v * 1_048_576.0).round() as i64,
                _ => NOT_A_NUMBER,
            }),
        }
    }
}

/// V2: one text field per weekday (`day-mon`: "09:00-12:00, 13:00-18:00", empty:
/// closed) and the closed dates, one a line.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HoursForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    closed_dates: String,
    #[serde(flatten)]
    days: HashMap<String, String>,
}

impl HoursForm {
    fn day(&self, day: &str) -> &str {
        self.days
            .get(&format!("day-{day}"))
            .map_or("", String::as_str)
    }

    fn hours(&self) -> BusinessHours {
        let weekly = WEEKDAYS
            .iter()
            .filter_map(|d| {
                let ranges = parse_ranges(self.day(d));
                (!ranges.is_empty()).then(|| ((*d).to_owned(), ranges))
            })
            .collect();
        BusinessHours {
            time_zone: self.time_zone.trim().to_owned(),
            weekly,
            closed_dates: self
                .closed_dates
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// "09:00-12:00, 13:00〜18:00" → `[["09:00","12:00"],["13:00","18:00"]]`; people type
/// Japanese commas and wave dashes too. A malformed range goes to the service as typed,
/// which names the field.
fn parse_ranges(v: &str) -> Vec<[String; 2]> {
    v.split([',', '、', '，'])
        .filter_map(|part| {
            let mut ends = part.trim().split(['-', '–', '〜', '~']).map(str::trim);
            let from = ends.next().unwrap_or_default().to_owned();
            let to = ends.next().unwrap_or_default().to_owned();
            (!from.is_empty() || !to.is_empty()).then_some([from, to])
        })
        .collect()
}

/// C2: a new department.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct DepartmentForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    name: String,
}

/// C2: a new operator. The department checkboxes repeat `departmentIds`, which a struct
/// cannot take from a form body: the pairs are read as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub(crate) struct OperatorForm(Vec<(String, String)>);

impl OperatorForm {
    fn value(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn department_ids(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == "departmentIds")
            .map(|(_, v)| v.clone())
            .collect()
    }
}

impl Posted for OperatorForm {
    fn csrf(&self) -> &str {
        self.value("_csrf")
    }
}

crate::pages::forms::posted_forms!(PlanForm, GeneralForm, HoursForm, DepartmentForm);

/// The form sent back with its error, what was typed kept.
enum Sent {
    Plan(PlanForm),
    General(GeneralForm),
    Hours(HoursForm),
    Department(DepartmentForm),
    Operator(OperatorForm),
}

struct Failed {
    sent: Sent,
    error: FormError,
}

/// What the page says after a redirect: the I13 notice for a department just
/// auto-associated, or that its association was removed.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SettingsQuery {
    associated: Option<String>,
    undone: Option<String>,
}

fn page_path(op: &OperatorCtx) -> String {
    format!("/chat/{}/settings", op.portal.name)
}

/// The page after a change: back to it (`then`), or the page again with the form's error.
async fn answer<T>(
    state: &AppState,
    page: &ChatPage,
    done: madoguchi_core::Result<T>,
    then: impl FnOnce(T) -> String,
    sent: Sent,
) -> Response {
    match done {
        Ok(v) => see_other(&then(v)),
        Err(e) if is_form_error(&e) => {
            let error = FormError::new(&page.ctx, &e);
            let failed = Failed { sent, error };
            render(state, page, &SettingsQuery::default(), Some(failed)).await
        }
        Err(e) => PageError::from_error(&page.ctx, e).into_response(),
    }
}

/// `POST /chat/{portal}/settings/plan` (C1).
pub async fn set_plan(
    State(state): State<AppState>,
    page: ChatPage,
    PostedForm(form): PostedForm<PlanForm>,
) -> Response {
    let done = state.chat.set_plan(&page.op, form.plan.trim()).await;
    let to = page_path(&page.op);
    answer(&state, &page, done, |_| to, Sent::Plan(form)).await
}

/// `POST /chat/{portal}/settings/general` (C5, O3, V3).
pub async fn update_general(
    State(state): State<AppState>,
    page: ChatPage,
    PostedForm(form): PostedForm<GeneralForm>,
) -> Response {
    let done = state.chat.update_settings(&page.op, form.patch()).await;
    let to = page_path(&page.op);
    answer(&state, &page, done, |_| to, Sent::General(form)).await
}

/// `POST /chat/{portal}/settings/hours` (V2).
pub async fn set_hours(
    State(state): State<AppState>,
    page: ChatPage,
    PostedForm(form): PostedForm<HoursForm>,
) -> Response {
    let done = state.chat.set_hours(&page.op, form.hours()).await;
    let to = format!("{}#hours", page_path(&page.op));
    answer(&state, &page, done, |_| to, Sent::Hours(form)).await
}

/// `POST /chat/{portal}/settings/departments` (C2); an auto-association (I13) is said
/// on the page the redirect leads to.
pub async fn create_department(
    State(state): State<AppState>,
    page: ChatPage,
    PostedForm(form): PostedForm<DepartmentForm>,
) -> Response {
    let done = state
        .chat
        .create_department(&page.op, form.name.trim(), page.ctx.lang)
        .await;
    let base = page_path(&page.op);
    let then = |d: madoguchi_chat::DepartmentView| match d.desk_mapping.notice {
        Some(_) => {
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("associated", &d.id)
                .finish();
            format!("{base}?{query}")
        }
        None => format!("{base}#departments"),
    };
    answer(&state, &page, done, then, Sent::Department(form)).await
}

/// `POST /chat/{portal}/settings/operators` (C2).
pub async fn add_operator(
    State(state): State<AppState>,
    page: ChatPage,
    PostedForm(form): PostedForm<OperatorForm>,
) -> Response {
    let new = NewOperator {
        email: form.value("email").trim().to_owned(),
        role: form.value("role").trim().to_owned(),
        department_ids: Some(form.department_ids()),
    };
    let done = state.chat.add_operator(&page.op, new).await;
    let to = format!("{}#operators", page_path(&page.op));
    answer(&state, &page, done, |_| to, Sent::Operator(form)).await
}

/// `POST /chat/{portal}/settings/departments/{id}/association/delete`: the I13 notice's
/// "click here".
pub async fn remove_association(
    State(state): State<AppState>,
    page: ChatPage,
    Path((_, id)): Path<(String, String)>,
    _csrf: PostedForm<CsrfForm>,
) -> Response {
    match state
        .integration
        .remove_association(&page.op, &page.user, &id, page.ctx.lang)
        .await
    {
        Ok(_) => see_other(&format!("{}?undone=1", page_path(&page.op))),
        Err(e) => PageError::from_error(&page.ctx, e).into_response(),
    }
}

pub async fn settings_page(
    State(state): State<AppState>,
    page: ChatPage,
    PageQuery(query): PageQuery<SettingsQuery>,
) -> Response {
    render(&state, &page, &query, None).await
}

/// The message of an error about none of `fields`, at the end of the form.
fn other_message(err: Option<&FormError>, fields: &[&str]) -> Markup {
    match err {
        Some(e) if !e.field.as_deref().is_some_and(|f| fields.contains(&f)) => html! {
            p.alert.error.form-error role="alert" { (e.message) }
        },
        _ => html! {},
    }
}

/// The I13 notice: its "click here" words are the button of the undo form (outside the
/// paragraph, which may not hold a form; `form=` ties them).
fn association_notice(page: &ChatPage, department_id: &str) -> Markup {
    let ctx = &page.ctx;
    let text = ctx.t("integ-notice-auto-associated");
    let link = ctx.t("integ-notice-undo-link");
    let (before, after) = match text.find(&link) {
        Some(at) => (&text[..at], Some(&text[at + link.len()..])),
        None => (text.as_str(), None),
    };
    let action = format!(
        "{}/departments/{}/association/delete",
        page_path(&page.op),
        form_urlencoded::byte_serialize(department_id.as_bytes()).collect::<String>()
    );
    html! {
        form #undo-association method="post" action=(action) { (csrf_field(ctx)) }
        p.alert.ok.flash role="status" {
            (before)
            @if after.is_none() { " " }
            button.link.undo-association type="submit" form="undo-association" { (link) }
            @if let Some(after) = after { (after) }
        }
    }
}

async fn render(
    state: &AppState,
    page: &ChatPage,
    query: &SettingsQuery,
    failed: Option<Failed>,
) -> Response {
    let ChatPage { ctx, op, .. } = page;
    let (departments, operators, hours) = match tokio::try_join!(
        state.chat.departments(&op.portal.id),
        state.chat.list_operators(op),
        state.chat.hours(&op.portal.id),
    ) {
        Ok(v) => v,
        Err(e) => return PageError::from_error(ctx, e).into_response(),
    };
    // I13: the notice only while the department is still auto-associated (a reload
    // after the undo, or an old address, says nothing).
    let associated = match &query.associated {
        Some(id) => match state.chat.department_views(op, ctx.lang).await {
            Ok(views) => views
                .into_iter()
                .find(|d| {
                    &d.id == id && d.desk_mapping.auto_associated && d.desk_mapping.mode == "mapped"
                })
                .map(|d| d.id),
            Err(e) => return PageError::from_error(ctx, e).into_response(),
        },
        None => None,
    };
    let portal = &op.portal;
    let now = state.clock.now_ms();
    let plan = portal.effective_plan(now);
    let admin = op.is_admin();
    let base = page_path(op);
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
    let err = failed.as_ref().map(|f| &f.error);
    let sent = failed.as_ref().map(|f| &f.sent);
    let plan_err = err.filter(|_| matches!(sent, Some(Sent::Plan(_))));
    let general = match sent {
        Some(Sent::General(g)) => Some(g),
        _ => None,
    };
    let general_err = err.filter(|_| general.is_some());
    let hours_sent = match sent {
        Some(Sent::Hours(h)) => Some(h),
        _ => None,
    };
    let hours_err = err.filter(|_| hours_sent.is_some());
    let dept_sent = match sent {
        Some(Sent::Department(d)) => Some(d),
        _ => None,
    };
    let dept_err = err.filter(|_| dept_sent.is_some());
    let op_sent = match sent {
        Some(Sent::Operator(o)) => Some(o),
        _ => None,
    };
    let op_err = err.filter(|_| op_sent.is_some());
    let chosen_plan = match sent {
        Some(Sent::Plan(p)) => p.plan.clone(),
        _ => plan.as_str().to_owned(),
    };
    let typed = |f: fn(&GeneralForm) -> &String, saved: String| -> String {
        general.map_or(saved, |g| f(g).clone())
    };
    let missed = typed(
        |g| &g.missed_after_seconds,
        (portal.missed_after_ms / 1000).to_string(),
    );
    let idle = typed(
        |g| &g.idle_end_after_seconds,
        (portal.idle_after_ms / 1000).to_string(),
    );
    let routing = typed(|g| &g.routing, portal.routing.as_str().to_owned());
    let cap = typed(
        |g| &g.max_chats_per_operator,
        portal
            .max_chats_per_operator
            .map(|n| n.to_string())
            .unwrap_or_default(),
    );
    let max_file = typed(|g| &g.max_attachment_bytes, mb(portal.max_attachment_bytes));
    let title = ctx.t("chatui-settings-title");
    // Without admin rights every control is shown disabled: people see what exists.
    let disabled = !admin;
    let body = page_with(
        ctx,
        &format!("{title} · {}", portal.display_name),
        html! {
            (console_css()) (chat_pages_js())
        },
        html! {
            @if let Some(id) = &associated {
                (association_notice(page, id))
            }
            @if query.undone.is_some() {
                p.alert.ok.flash role="status" { (ctx.t("integ-notice-undone")) }
            }
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
                        strong #current-plan { (plan_label(ctx, plan)) }
                        @if let Some(end) = portal.trial_ends_at.filter(|_| portal.on_trial(now)) {
                            " " span.badge #trial { (ctx.t_args("chatui-trial-until", &[("date", &day(end))])) }
                        }
                    }
                    @if portal.on_trial(now) {
                        p.hint { (ctx.t("chatui-trial-note")) }
                    }
                    form.row method="post" action={ (base) "/plan" } novalidate {
                        (csrf_field(ctx))
                        label { (ctx.t("chatui-plan"))
                            select name="plan" disabled[disabled] aria-invalid=[invalid(plan_err, "plan")] {
                                @for p in PLANS {
                                    option value=(p.as_str()) selected[p.as_str() == chosen_plan] { (plan_label(ctx, p)) }
                                }
                            }
                            (field_message(plan_err, "plan"))
                        }
                        button.primary type="submit" disabled[disabled] { (ctx.t("chatui-plan-change")) }
                        (other_message(plan_err, &["plan"]))
                    }
                }

                section.card #general {
                    h2 { (ctx.t("chatui-general")) }
                    form.row method="post" action={ (base) "/general" } novalidate {
                        (csrf_field(ctx))
                        label { (ctx.t("chatui-missed-after"))
                            input type="number" name="missedAfterSeconds" min="1" required
                                value=(missed) disabled[disabled]
                                aria-invalid=[invalid(general_err, "missedAfterSeconds")];
                            small.hint { (ctx.t("chatui-missed-after-hint")) }
                            (field_message(general_err, "missedAfterSeconds"))
                        }
                        label { (ctx.t("chatui-idle-after"))
                            input type="number" name="idleEndAfterSeconds" min="1" required
                                value=(idle) disabled[disabled]
                                aria-invalid=[invalid(general_err, "idleEndAfterSeconds")];
                            small.hint { (ctx.t("chatui-idle-after-hint")) }
                            (field_message(general_err, "idleEndAfterSeconds"))
                        }
                        // O3: routing and the cap of concurrent chats.
                        label { (ctx.t("chatui-routing"))
                            select name="routing" disabled[disabled]
                                aria-invalid=[invalid(general_err, "routing")] {
                                @for r in ["broadcast", "round_robin", "least_busy"] {
                                    option value=(r) selected[routing == r] {
                                        (ctx.t(&format!("chatui-routing-{r}")))
                                    }
                                }
                            }
                            small.hint { (ctx.t("chatui-routing-hint")) }
                            (field_message(general_err, "routing"))
                        }
                        label { (ctx.t("chatui-max-chats"))
                            input type="number" name="maxChatsPerOperator" min="1" max="1000"
                                value=(cap) disabled[disabled]
                                aria-invalid=[invalid(general_err, "maxChatsPerOperator")];
                            small.hint { (ctx.t("chatui-max-chats-hint")) }
                            (field_message(general_err, "maxChatsPerOperator"))
                        }
                        // V3: the file size limit, shown in MB (sent in MB, kept in bytes).
                        label { (ctx.t("chatui-max-attachment"))
                            input type="number" name="maxAttachmentBytes" min="0.001" max="50" step="any"
                                value=(max_file) disabled[disabled]
                                aria-invalid=[invalid(general_err, "maxAttachmentBytes")];
                            small.hint { (ctx.t("chatui-max-attachment-hint")) }
                            (field_message(general_err, "maxAttachmentBytes"))
                        }
                        button.primary type="submit" disabled[disabled] { (ctx.t("chatui-save")) }
                        (other_message(general_err, &["missedAfterSeconds", "idleEndAfterSeconds", "routing", "maxChatsPerOperator", "maxAttachmentBytes"]))
                    }
                }

                // V2: business hours and closed dates.
                section.card #hours {
                    h2 { (ctx.t("chatui-hours")) }
                    p.muted { (ctx.t("chatui-hours-help")) }
                    form.stack.hours-form method="post" action={ (base) "/hours" } novalidate {
                        (csrf_field(ctx))
                        label { (ctx.t("chatui-time-zone"))
                            input type="text" name="timeZone" required disabled[disabled]
                                value=(hours_sent.map_or(hours.time_zone.as_str(), |h| h.time_zone.as_str()))
                                aria-invalid=[invalid(hours_err, "timeZone")];
                            (field_message(hours_err, "timeZone"))
                        }
                        @for (day, key) in WEEKDAYS.iter().map(|d| (*d, format!("chatui-day-{d}"))) {
                            label { (ctx.t(&key))
                                input type="text" name={ "day-" (day) }
                                    value=(hours_sent.map_or_else(|| day_ranges(&hours, day), |h| h.day(day).to_owned()))
                                    placeholder=(ctx.t("chatui-hours-closed")) disabled[disabled]
                                    aria-invalid=[invalid(hours_err, "weekly")];
                            }
                        }
                        small.hint { (ctx.t("chatui-hours-ranges-help")) }
                        (field_message(hours_err, "weekly"))
                        label { (ctx.t("chatui-closed-dates"))
                            textarea name="closedDates" rows="3" disabled[disabled]
                                aria-invalid=[invalid(hours_err, "closedDates")] {
                                (hours_sent.map_or_else(|| hours.closed_dates.join("\n"), |h| h.closed_dates.clone()))
                            }
                            small.hint { (ctx.t("chatui-closed-dates-help")) }
                            (field_message(hours_err, "closedDates"))
                        }
                        (other_message(hours_err, &["timeZone", "weekly", "closedDates"]))
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
                        form.row method="post" action={ (base) "/departments" } novalidate {
                            (csrf_field(ctx))
                            label { (ctx.t("chatui-department-name"))
                                input type="text" name="name" required maxlength="100"
                                    value=(dept_sent.map_or("", |d| d.name.as_str()))
                                    aria-invalid=[invalid(dept_err, "name")];
                                (field_message(dept_err, "name"))
                            }
                            button type="submit" { (ctx.t("chatui-department-add")) }
                            (other_message(dept_err, &["name"]))
                        }
                    }
                }

                section.card #operators {
                    h2 { (ctx.t("chatui-operators")) }
                    table #operator-list {
                        (table_head(ctx, &["chatui-field-name", "chatui-field-email", "chatui-role", "chatui-operator-departments", "chatui-status"]))
                        tbody {
                            @for o in &operators {
                                tr data-email=(o.email) {
                                    td { (o.name) }
                                    td { (o.email) }
                                    td { (role_label(ctx, o.role)) }
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
                        form.stack method="post" action={ (base) "/operators" } novalidate {
                            (csrf_field(ctx))
                            p.hint { (ctx.t("chatui-operator-add-hint")) }
                            @let chosen_role = op_sent.map_or(Role::Operator.as_str(), |o| o.value("role"));
                            @let checked = op_sent.map(|o| o.department_ids()).unwrap_or_default();
                            div.row {
                                label { (ctx.t("chatui-field-email"))
                                    input type="email" name="email" required autocomplete="off"
                                        value=(op_sent.map_or("", |o| o.value("email")))
                                        aria-invalid=[invalid(op_err, "email")];
                                    (field_message(op_err, "email"))
                                }
                                label { (ctx.t("chatui-role"))
                                    select name="role" aria-invalid=[invalid(op_err, "role")] {
                                        @for r in ROLES {
                                            option value=(r.as_str()) selected[r.as_str() == chosen_role] { (role_label(ctx, r)) }
                                        }
                                    }
                                    (field_message(op_err, "role"))
                                }
                            }
                            @if !departments.is_empty() {
                                fieldset.checks {
                                    legend { (ctx.t("chatui-operator-departments")) }
                                    @for d in &departments {
                                        label.check {
                                            input type="checkbox" name="departmentIds" value=(d.id)
                                                checked[checked.contains(&d.id)];
                                            " " (d.name)
                                        }
                                    }
                                    (field_message(op_err, "departmentIds"))
                                }
                            }
                            (other_message(op_err, &["email", "role", "departmentIds"]))
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
    );
    let status = form_status(failed.is_some());
    (status, body).into_response()
}

/// A byte count in MB as the settings form shows it ("10", "2.5", "0.002").
fn mb(bytes: i64) -> String {
    let mb = bytes as f64 / 1_048_576.0;
    let s = format!("{mb:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A weekday's ranges as typed in the form: `09:00-12:00, 13:00-18:00`.
fn day_ranges(hours: &BusinessHours, day: &str) -> String {
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
