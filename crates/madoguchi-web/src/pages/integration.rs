//! Integration pages (SPEC I1–I14, UI.md "Chat: Settings > Integrations > Desk") and the
//! desk panel's script for the operator console (I10, I11, I15–I20).
//!
//! The settings page renders what the integration service answers; its forms post
//! below the page's address (`crate::pages::forms`) and call the same service methods
//! as the JSON API, so the messages are the API's, in the page's language.
//!
//! `/assets/desk-panel.js` is the console's Desk panel. Contract with the console
//! (`console.js`): the page includes the script and holds `<div id="desk-panel">`; the
//! console dispatches `madoguchi:chat-selected` / `madoguchi:chat-updated` on `document`
//! with `detail {portal, chat}`. The panel can also be driven directly:
//! `window.MadoguchiDeskPanel.show(portal, chatId)` and `.hide()`. Its words come from
//! the catalog (`integ-panel-*`), prepended to the script for both languages.

use super::extract::OperatorWords;
use super::forms::{
    csrf_field, field_message, form_status, invalid, is_form_error, see_other, CsrfForm, FormError,
    PostedForm,
};
use super::layout::{page_with, table_head};
use super::{ChatPage, PageContext, PageError};
use crate::pages::PageQuery;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use madoguchi_chat::OperatorCtx;
use madoguchi_core::{i18n, ErrorCode, Lang};
use madoguchi_integration::link::{EnableRequest, LinkRequest, SettingsPatch};
use madoguchi_integration::{AutoTicket, DeptMode, IntegrationView, LinkStatus, ViewScope};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

/// Words of the desk panel (`integ-panel-<key>`).
const PANEL_LABELS: &[&str] = &[
    "title",
    "account-name",
    "sla-name",
    "contract-name",
    "contact-owner",
    "contact",
    "no-contact",
    "related",
    "search",
    "search-placeholder",
    "search-results",
    "no-tickets",
    "linked",
    "convert",
    "associate",
    "associated",
    "view-details",
    "view-details-not-member",
    "read-only",
    "back",
    "ticket",
    "ticket-number",
    "subject",
    "priority",
    "status",
    "classification",
    "department",
    "default-department",
    "created",
    "create",
    "cancel",
    "threads",
    "chat-transcript",
    "reply",
    "reply-placeholder",
    "send",
    "no-email",
    "auto-pending",
    "auto-created",
    "loading",
    "visitor",
    "operator",
    "system",
    "status-open",
    "status-on-hold",
    "status-escalated",
    "status-closed",
    "priority-high",
    "priority-medium",
    "priority-low",
    "class-question",
    "class-problem",
    "class-feature-request",
    "class-others",
    "none",
];

/// The panel script (`assets/desk-panel.js`) with its ja/en words in front: the
/// catalog is static, so `crate::assets` builds it once.
pub(crate) fn with_panel_labels(script: &'static str) -> String {
    let mut langs = serde_json::Map::new();
    for lang in Lang::ALL {
        let mut words = serde_json::Map::new();
        for key in PANEL_LABELS {
            words.insert(
                (*key).to_owned(),
                json!(i18n::t(lang, &format!("integ-panel-{key}"))),
            );
        }
        langs.insert(lang.code().to_owned(), serde_json::Value::Object(words));
    }
    format!(
        "window.MadoguchiDeskPanelLabels = {};\n{script}",
        serde_json::Value::Object(langs)
    )
}

/// The integration page's words for an unknown portal and a non-operator.
pub struct IntegrationWords;

impl OperatorWords for IntegrationWords {
    const UNKNOWN_PORTAL: &'static str = "integ-ui-unknown-portal";
    const NOT_OPERATOR: &'static str = "integ-ui-not-operator";
}

/// The settings page's forms (below `…/settings/integrations/desk`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct LinkForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    /// Which enable form was sent: "first" (I2), "choose" (I4), "manual" (I3).
    via: String,
    admin_email: String,
    service_key: String,
    desk_portal_name: String,
}

fn filled(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// I7, I8, I14.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct SettingsForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    auto_ticket: String,
    ticket_status: String,
    view_scope: String,
}

/// I9: the menu's value is a mode, or `mapped:<desk department id>`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct DepartmentForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    mode: String,
}

crate::pages::forms::posted_forms!(LinkForm, SettingsForm, DepartmentForm);

/// What the page shows besides the saved state: after a post that did not go through.
enum Shown {
    Nothing,
    /// I3: the message and the three fields (with the error of a try).
    Manual(LinkForm, Option<FormError>),
    /// I4: the Desk portals the user administers.
    Choose(Vec<String>),
    /// I5: the change form, open with its error.
    Change(LinkForm, FormError),
    /// An error of a button (disable, a department's mode…), above the page.
    Alert(FormError),
}

/// `?saved=1` after a change; `?change=1` opens the change form (I5).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DeskSettingsQuery {
    saved: Option<String>,
    change: Option<String>,
}

fn page_path(op: &OperatorCtx) -> String {
    format!("/chat/{}/settings/integrations/desk", op.portal.name)
}

fn saved_path(op: &OperatorCtx) -> String {
    format!("{}?saved=1", page_path(op))
}

type DeskPage = ChatPage<IntegrationWords>;

/// `GET /chat/{portal}/settings/integrations/desk` (UI.md diagram).
pub(crate) async fn desk_settings_page(
    State(state): State<AppState>,
    page: DeskPage,
    PageQuery(query): PageQuery<DeskSettingsQuery>,
) -> Response {
    render(&state, &page, &query, Shown::Nothing).await
}

/// The page after a change: `to`, or the page again with `shown` (an error a form
/// shows), or an error page.
async fn answer<T>(
    state: &AppState,
    page: &DeskPage,
    done: madoguchi_core::Result<T>,
    to: String,
    shown: impl FnOnce(FormError) -> Shown,
) -> Response {
    match done {
        Ok(_) => see_other(&to),
        Err(e) if is_form_error(&e) => {
            let error = FormError::new(&page.ctx, &e);
            render(state, page, &DeskSettingsQuery::default(), shown(error)).await
        }
        Err(e) => PageError::from_error(&page.ctx, e).into_response(),
    }
}

/// `POST …/integrations/desk/enable`: I2 (the big button, no fields), I4 (a chosen
/// portal), I3 (the three fields), I6 (enable again).
pub(crate) async fn enable(
    State(state): State<AppState>,
    page: DeskPage,
    PostedForm(form): PostedForm<LinkForm>,
) -> Response {
    let req = EnableRequest {
        desk_portal_name: filled(&form.desk_portal_name),
        admin_email: filled(&form.admin_email),
        service_key: filled(&form.service_key),
    };
    let req =
        (req.desk_portal_name.is_some() || req.admin_email.is_some() || req.service_key.is_some())
            .then_some(req);
    let done = state
        .integration
        .enable(&page.op, &page.user, req, page.ctx.lang)
        .await;
    let shown = match done {
        Ok(_) => return see_other(&page_path(&page.op)),
        Err(e) if e.code == ErrorCode::NotDeskAdmin => Shown::Manual(LinkForm::default(), None),
        Err(e) if e.code == ErrorCode::ChooseDeskPortal => {
            let candidates = e
                .extra
                .get("candidates")
                .and_then(|c| c.as_array())
                .map(|c| {
                    c.iter()
                        .filter_map(|n| n.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            Shown::Choose(candidates)
        }
        Err(e) if is_form_error(&e) => {
            let error = FormError::new(&page.ctx, &e);
            if form.via == "manual" {
                Shown::Manual(form, Some(error))
            } else {
                Shown::Alert(error)
            }
        }
        Err(e) => return PageError::from_error(&page.ctx, e).into_response(),
    };
    render(&state, &page, &DeskSettingsQuery::default(), shown).await
}

/// `POST …/integrations/desk/link` (I5).
pub(crate) async fn update_link(
    State(state): State<AppState>,
    page: DeskPage,
    PostedForm(form): PostedForm<LinkForm>,
) -> Response {
    let req = LinkRequest {
        admin_email: filled(&form.admin_email),
        service_key: filled(&form.service_key),
        desk_portal_name: filled(&form.desk_portal_name),
    };
    let done = state
        .integration
        .update_link(&page.op, &page.user, req, page.ctx.lang)
        .await;
    let to = page_path(&page.op);
    answer(&state, &page, done, to, |e| Shown::Change(form, e)).await
}

/// `POST …/integrations/desk/disable` (I6).
pub(crate) async fn disable(
    State(state): State<AppState>,
    page: DeskPage,
    _csrf: PostedForm<CsrfForm>,
) -> Response {
    let done = state
        .integration
        .disable(&page.op, &page.user, page.ctx.lang)
        .await;
    let to = page_path(&page.op);
    answer(&state, &page, done, to, Shown::Alert).await
}

/// `POST …/integrations/desk/settings` (I7, I8, I14).
pub(crate) async fn update_settings(
    State(state): State<AppState>,
    page: DeskPage,
    PostedForm(form): PostedForm<SettingsForm>,
) -> Response {
    let patch = SettingsPatch {
        auto_ticket: filled(&form.auto_ticket),
        ticket_status: filled(&form.ticket_status),
        view_scope: filled(&form.view_scope),
    };
    let done = state
        .integration
        .update_settings(&page.op, &page.user, patch, page.ctx.lang)
        .await;
    let to = saved_path(&page.op);
    answer(&state, &page, done, to, Shown::Alert).await
}

/// `POST …/integrations/desk/departments/{id}` (I9).
pub(crate) async fn update_department(
    State(state): State<AppState>,
    page: DeskPage,
    Path((_, id)): Path<(String, String)>,
    PostedForm(form): PostedForm<DepartmentForm>,
) -> Response {
    let value = form.mode.trim();
    let (mode, desk_department) = match value.strip_prefix("mapped:") {
        Some(desk) => ("mapped", Some(desk)),
        None => (value, None),
    };
    let done = state
        .integration
        .set_department(
            &page.op,
            &page.user,
            &id,
            mode,
            desk_department,
            page.ctx.lang,
        )
        .await;
    let to = saved_path(&page.op);
    answer(&state, &page, done, to, Shown::Alert).await
}

/// `POST …/integrations/desk/departments/{id}/association/delete` (I13).
pub(crate) async fn remove_association(
    State(state): State<AppState>,
    page: DeskPage,
    Path((_, id)): Path<(String, String)>,
    _csrf: PostedForm<CsrfForm>,
) -> Response {
    let done = state
        .integration
        .remove_association(&page.op, &page.user, &id, page.ctx.lang)
        .await;
    let to = saved_path(&page.op);
    answer(&state, &page, done, to, Shown::Alert).await
}

async fn render(
    state: &AppState,
    page: &DeskPage,
    query: &DeskSettingsQuery,
    shown: Shown,
) -> Response {
    let ChatPage { ctx, user, op, .. } = page;
    let view = match state.integration.view(op, user, ctx.lang).await {
        Ok(v) => Some(v),
        Err(e) if e.code == ErrorCode::PlanRequired => None,
        Err(e) => return PageError::from_error(ctx, e).into_response(),
    };
    let admin = op.is_admin();
    let base = page_path(op);
    let title = format!(
        "{} > {} > {}",
        ctx.t("integ-ui-settings"),
        ctx.t("integ-ui-integrations"),
        ctx.t("integ-ui-desk")
    );
    let status = form_status(!matches!(shown, Shown::Nothing));
    let body = html! {
        div.desk-integration #desk-integration data-portal=(op.portal.name) {
            div.page-head {
                div {
                    nav.crumbs {
                        a href={ "/chat/" (op.portal.name) "/settings" } { (ctx.t("integ-ui-settings")) }
                        " › " (ctx.t("integ-ui-integrations")) " › "
                    }
                    h1 { (ctx.t("integ-ui-desk")) }
                    p.muted { (op.portal.display_name) " · " code { (op.portal.name) } }
                }
                div.spacer {}
                @if let Some(v) = &view {
                    (status_badge(ctx, v.status))
                    @if admin {
                        @match v.status {
                            LinkStatus::Enabled | LinkStatus::Broken => {
                                form.inline method="post" action={ (base) "/disable" } {
                                    (csrf_field(ctx))
                                    button.danger #disable type="submit" { (ctx.t("integ-ui-disable")) }
                                }
                            }
                            LinkStatus::Disabled => {
                                form.inline method="post" action={ (base) "/enable" } {
                                    (csrf_field(ctx))
                                    input type="hidden" name="via" value="again";
                                    button.primary #enable type="submit" { (ctx.t("integ-ui-enable")) }
                                }
                            }
                            LinkStatus::NotLinked => {}
                        }
                    }
                }
            }
            @if let Shown::Alert(e) = &shown {
                p.alert.error.page-error role="alert" { (e.message) }
            }
            @if query.saved.is_some() {
                p.alert.ok.page-saved role="status" { (ctx.t("integ-ui-saved")) }
            }
            @if !admin {
                p.alert.warn { (ctx.t("integ-ui-admin-only")) }
            }
            @match &view {
                None => (upgrade(ctx, &op.portal.name, admin)),
                Some(v) if v.status == LinkStatus::NotLinked => (not_linked(ctx, &base, admin, &shown)),
                Some(v) => (linked(ctx, &base, v, admin, query.change.is_some(), &shown)),
            }
        }
    };
    let body = page_with(
        ctx,
        &title,
        html! {
            (crate::assets::stylesheet("console.css"))
            (crate::assets::stylesheet("desk-integration.css"))
        },
        body,
    );
    (status, body).into_response()
}

fn status_badge(ctx: &PageContext, status: LinkStatus) -> Markup {
    let (class, key) = match status {
        LinkStatus::Enabled => ("badge open", "enabled"),
        LinkStatus::Disabled => ("badge closed", "disabled"),
        LinkStatus::Broken => ("badge escalated", "broken"),
        LinkStatus::NotLinked => ("badge closed", "not_linked"),
    };
    html! { span #integration-status class=(class) data-status=(key) { (ctx.t(&format!("integ-ui-status-{key}"))) } }
}

/// I1: Free or Standard — the upgrade instead of the settings.
fn upgrade(ctx: &PageContext, portal: &str, admin: bool) -> Markup {
    html! {
        section.card.upgrade #upgrade {
            h2 { (ctx.t("integ-ui-upgrade-title")) }
            p { (ctx.t("integ-ui-upgrade-lead")) }
            @if admin {
                a.button.primary href={ "/chat/" (portal) "/settings#plan" } { (ctx.t("integ-ui-upgrade")) }
            }
        }
    }
}

const LINK_FIELDS: [&str; 3] = ["adminEmail", "serviceKey", "deskPortalName"];

/// The three fields of I3 (`…/enable`) and I5 (`…/link`). The service key is never
/// sent back into the page.
fn link_fields(
    ctx: &PageContext,
    base: &str,
    action: &str,
    submit: &str,
    values: (Option<&str>, Option<&str>),
    err: Option<&FormError>,
) -> Markup {
    let (admin_email, desk_portal) = values;
    html! {
        form.stack.link-form method="post" action={ (base) "/" (action) } data-action=(action) novalidate {
            (csrf_field(ctx))
            input type="hidden" name="via" value="manual";
            label { (ctx.t("integ-ui-admin"))
                input type="email" name="adminEmail" required autocomplete="off"
                    value=[admin_email] aria-invalid=[invalid(err, "adminEmail")];
                (field_message(err, "adminEmail"))
            }
            label { (ctx.t("integ-ui-service-key"))
                input type="text" name="serviceKey" required autocomplete="off" spellcheck="false"
                    aria-invalid=[invalid(err, "serviceKey")];
                small.hint { (ctx.t("integ-ui-service-key-hint")) }
                (field_message(err, "serviceKey"))
            }
            label { (ctx.t("integ-ui-portal-name"))
                input type="text" name="deskPortalName" required autocomplete="off"
                    value=[desk_portal] aria-invalid=[invalid(err, "deskPortalName")];
                (field_message(err, "deskPortalName"))
            }
            @if let Some(e) = err.filter(|e| !e.field.as_deref().is_some_and(|f| LINK_FIELDS.contains(&f))) {
                p.alert.error.form-error role="alert" { (e.message) }
            }
            div.row {
                button.primary type="submit" { (submit) }
                @if action == "link" {
                    a.button.cancel-change href=(base) { (ctx.t("integ-ui-cancel")) }
                }
            }
        }
    }
}

/// I3: the message, whose last words ("登録してください" / "sign up") link to the signup page.
fn not_desk_admin_message(ctx: &PageContext) -> Markup {
    let text = madoguchi_integration::link::not_desk_admin().message(ctx.lang);
    let words = ctx.t("integ-ui-signup-link");
    let (before, after) = match text.rfind(&words).filter(|_| !words.is_empty()) {
        Some(at) => (text[..at].to_owned(), &text[at + words.len()..]),
        None => (format!("{text} "), ""),
    };
    html! {
        p.alert.warn #not-desk-admin-message {
            (before) a.signup-link href="/signup" { (words) } (after)
        }
    }
}

/// Not linked: one big button (I2); the I3 message with three fields, or the I4
/// chooser, when enabling said so.
fn not_linked(ctx: &PageContext, base: &str, admin: bool, shown: &Shown) -> Markup {
    html! {
        section.card.not-linked #not-linked {
            p.lead { (ctx.t("integ-ui-lead")) }
            @if admin {
                form method="post" action={ (base) "/enable" } {
                    (csrf_field(ctx))
                    input type="hidden" name="via" value="first";
                    button.primary.big #enable-first type="submit" { (ctx.t("integ-ui-enable-first")) }
                }
            }
            @if let Shown::Choose(candidates) = shown {
                div #choose-portal {
                    p { (ctx.t("integ-ui-choose-portal")) }
                    form.stack.choose-form method="post" action={ (base) "/enable" } {
                        (csrf_field(ctx))
                        input type="hidden" name="via" value="choose";
                        div.candidates {
                            @for (i, name) in candidates.iter().enumerate() {
                                label.check {
                                    input type="radio" name="deskPortalName" value=(name) checked[i == 0];
                                    " " (name)
                                }
                                br;
                            }
                        }
                        button.primary type="submit" { (ctx.t("integ-ui-choose")) }
                    }
                }
            }
            @if let Shown::Manual(form, err) = shown {
                div #manual-link {
                    (not_desk_admin_message(ctx))
                    (link_fields(ctx, base, "enable", &ctx.t("integ-ui-enable"),
                        (filled(&form.admin_email).as_deref(), filled(&form.desk_portal_name).as_deref()),
                        err.as_ref()))
                }
            }
        }
    }
}

fn linked(
    ctx: &PageContext,
    base: &str,
    v: &IntegrationView,
    admin: bool,
    change: bool,
    shown: &Shown,
) -> Markup {
    let disabled = !admin;
    let broken = v.status == LinkStatus::Broken;
    let (change_sent, change_err) = match shown {
        Shown::Change(form, e) => (Some(form), Some(e)),
        _ => (None, None),
    };
    let open = broken || change || change_sent.is_some();
    let link = v.link.as_ref();
    let typed = |f: fn(&LinkForm) -> &String, saved: Option<&str>| -> Option<String> {
        match change_sent {
            Some(form) => filled(f(form)),
            None => saved.map(str::to_owned),
        }
    };
    let admin_email = typed(|f| &f.admin_email, link.map(|l| l.admin_email.as_str()));
    let desk_portal = typed(
        |f| &f.desk_portal_name,
        link.map(|l| l.desk_portal_name.as_str()),
    );
    html! {
        @if broken {
            div.alert.error #broken-banner role="alert" {
                strong { (ctx.t("integ-ui-broken")) }
                @if let Some(reason) = &v.broken_reason { " " span.reason { (reason) } }
                " " (ctx.t("integ-ui-broken-fix"))
            }
        }
        @if v.status == LinkStatus::Disabled {
            p.alert.warn #disabled-note { (ctx.t("integ-ui-disabled-note")) }
        }
        @if !v.desk_reachable {
            p.alert.warn #unreachable { (ctx.t("integ-ui-unreachable")) }
        }
        @if v.pending_jobs > 0 {
            p.alert.warn #pending-jobs {
                (ctx.t_args("integ-ui-pending-jobs", &[("count", &v.pending_jobs.to_string())]))
            }
        }
        section.card.link-card #link {
            @if let Some(link) = link {
                dl.facts.link-facts {
                    dt { (ctx.t("integ-ui-admin")) }
                    dd #desk-admin {
                        @if link.is_me {
                            strong { (ctx.t("integ-ui-me")) } " (" (link.admin_email) ")"
                        } @else {
                            (link.admin_email)
                        }
                        @if admin && !open {
                            " " a.link #change-link href={ (base) "?change=1#change-form" } { (ctx.t("integ-ui-change")) }
                        }
                    }
                    dt { (ctx.t("integ-ui-service-key")) }
                    dd #service-key { code { (link.service_key_masked) } }
                    dt { (ctx.t("integ-ui-portal-name")) }
                    dd #desk-portal-name { (link.desk_portal_name) }
                }
            }
            @if admin {
                div #change-form hidden[!open] {
                    (link_fields(ctx, base, "link", &ctx.t("integ-ui-save"),
                        (admin_email.as_deref(), desk_portal.as_deref()), change_err))
                }
            }
        }
        section.card #settings {
            form.stack #settings-form method="post" action={ (base) "/settings" } {
                (csrf_field(ctx))
                fieldset.radios #auto-ticket disabled[disabled] {
                    legend { (ctx.t("integ-ui-auto-ticket")) }
                    @for a in [AutoTicket::All, AutoTicket::Attended, AutoTicket::Missed, AutoTicket::None] {
                        label.check {
                            input type="radio" name="autoTicket" value=(a.as_str()) checked[v.settings.auto_ticket == a];
                            " " (ctx.t(&format!("integ-ui-auto-{}", a.as_str())))
                        }
                    }
                    small.hint { (ctx.t("integ-ui-auto-none-hint")) }
                }
                div.row.settings-row {
                    label { (ctx.t("integ-ui-ticket-status"))
                        select name="ticketStatus" #ticket-status disabled[disabled] {
                            option value="Open" selected[v.settings.ticket_status.as_str() == "Open"] { (ctx.t("integ-panel-status-open")) }
                            option value="Closed" selected[v.settings.ticket_status.as_str() == "Closed"] { (ctx.t("integ-panel-status-closed")) }
                        }
                        small.hint { (ctx.t("integ-ui-ticket-status-hint")) }
                    }
                    label { (ctx.t("integ-ui-view-scope"))
                        select name="viewScope" #view-scope disabled[disabled] {
                            option value="all" selected[v.settings.view_scope == ViewScope::All] { (ctx.t("integ-ui-scope-all")) }
                            option value="associated" selected[v.settings.view_scope == ViewScope::Associated] { (ctx.t("integ-ui-scope-associated")) }
                        }
                        small.hint { (ctx.t("integ-ui-view-scope-hint")) }
                    }
                }
                div.row {
                    button.primary type="submit" disabled[disabled] { (ctx.t("integ-ui-save")) }
                }
            }
        }
        section.card #departments {
            h2 { (ctx.t("integ-ui-departments")) }
            p.muted { (ctx.t("integ-ui-departments-lead")) }
            @if v.departments.is_empty() {
                p.muted { (ctx.t("integ-ui-no-departments")) }
            } @else {
                table #department-settings {
                    (table_head(ctx, &["integ-ui-chat-department", "integ-ui-desk-department"]))
                    tbody {
                        @for d in &v.departments {
                            @let path = format!("{base}/departments/{}", form_urlencoded::byte_serialize(d.chat_department_id.as_bytes()).collect::<String>());
                            tr data-id=(d.chat_department_id) {
                                td { (d.chat_department_name) }
                                td {
                                    form.inline.dept-form method="post" action=(path) {
                                        (csrf_field(ctx))
                                        select.dept-mode name="mode" aria-label=(d.chat_department_name) disabled[disabled] {
                                            @for dd in &v.desk_departments {
                                                option value={ "mapped:" (dd.id) }
                                                    selected[d.mode == DeptMode::Mapped && d.desk_department_id.as_deref() == Some(dd.id.as_str())] {
                                                    (dd.name)
                                                }
                                            }
                                            // A mapping to a Desk department this page cannot list (Desk away).
                                            @if d.mode == DeptMode::Mapped && !v.desk_departments.iter().any(|dd| Some(dd.id.as_str()) == d.desk_department_id.as_deref()) {
                                                option value={ "mapped:" (d.desk_department_id.clone().unwrap_or_default()) } selected {
                                                    (d.desk_department_id.clone().unwrap_or_default())
                                                }
                                            }
                                            @for m in [DeptMode::None, DeptMode::ViewOnly, DeptMode::Choose] {
                                                option value=(m.as_str()) selected[d.mode == m] {
                                                    (ctx.t(&format!("integ-ui-mode-{}", m.as_str())))
                                                }
                                            }
                                        }
                                        @if admin {
                                            " " button.dept-save type="submit" { (ctx.t("integ-ui-save")) }
                                        }
                                    }
                                    @if d.auto_associated && d.mode == DeptMode::Mapped {
                                        " " span.badge.auto { (ctx.t("integ-ui-auto-associated")) }
                                        @if admin {
                                            form.inline method="post" action={ (path) "/association/delete" } {
                                                (csrf_field(ctx))
                                                button.link.remove-association type="submit" { (ctx.t("integ-ui-remove-association")) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
