//! Integration pages (SPEC I1–I14, UI.md "Chat: Settings > Integrations > Desk") and the
//! desk panel's script for the operator console (I10, I11, I15–I20).
//!
//! The settings page renders what the integration service answers at load time; every
//! change goes through the JSON API from `/assets/desk-settings.js` (one contract, one
//! set of error messages, in the page's language), then the page reloads.
//!
//! `/assets/desk-panel.js` is the console's Desk panel. Contract with the console
//! (`console.js`): the page includes the script and holds `<div id="desk-panel">`; the
//! console dispatches `madoguchi:chat-selected` / `madoguchi:chat-updated` on `document`
//! with `detail {portal, chat}`. The panel can also be driven directly:
//! `window.MadoguchiDeskPanel.show(portal, chatId)` and `.hide()`. Its words come from
//! the catalog (`integ-panel-*`), prepended to the script for both languages.

use super::extract::OperatorWords;
use super::layout::page_with;
use super::{ChatPage, PageContext, PageError};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use madoguchi_core::{i18n, ErrorCode, Lang};
use madoguchi_integration::{AutoTicket, DeptMode, IntegrationView, LinkStatus, ViewScope};
use maud::{html, Markup};
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

/// `GET /chat/{portal}/settings/integrations/desk` (UI.md diagram).
pub async fn desk_settings_page(
    State(state): State<AppState>,
    page: ChatPage<IntegrationWords>,
) -> Response {
    let ChatPage { ctx, user, op, .. } = page;
    let view = match state.integration.view(&op, &user, ctx.lang).await {
        Ok(v) => Some(v),
        Err(e) if e.code == ErrorCode::PlanRequired => None,
        Err(e) => return PageError::from_error(&ctx, e).into_response(),
    };
    let admin = op.is_admin();
    let api = format!("/chat/api/v1/portals/{}/integrations/desk", op.portal.name);
    let title = format!(
        "{} > {} > {}",
        ctx.t("integ-ui-settings"),
        ctx.t("integ-ui-integrations"),
        ctx.t("integ-ui-desk")
    );
    let body = html! {
        div.desk-integration #desk-integration data-api=(api) data-portal=(op.portal.name)
            data-saved=(ctx.t("integ-ui-saved")) {
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
                    (status_badge(&ctx, v.status))
                    @if admin {
                        @match v.status {
                            LinkStatus::Enabled | LinkStatus::Broken => {
                                button.danger #disable type="button" { (ctx.t("integ-ui-disable")) }
                            }
                            LinkStatus::Disabled => {
                                button.primary #enable type="button" { (ctx.t("integ-ui-enable")) }
                            }
                            LinkStatus::NotLinked => {}
                        }
                    }
                }
            }
            p.alert.error.page-error role="alert" hidden {}
            p.alert.ok.page-saved role="status" hidden {}
            @if !admin {
                p.alert.warn { (ctx.t("integ-ui-admin-only")) }
            }
            @match &view {
                None => (upgrade(&ctx, &op.portal.name, admin)),
                Some(v) if v.status == LinkStatus::NotLinked => (not_linked(&ctx, admin)),
                Some(v) => (linked(&ctx, v, admin)),
            }
        }
    };
    page_with(
        &ctx,
        &title,
        html! {
            (crate::assets::stylesheet("console.css"))
            (crate::assets::stylesheet("desk-integration.css"))
            (crate::assets::script("desk-settings.js"))
        },
        body,
    )
    .into_response()
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

/// The three fields of I3/I5 (`data-action` says which call they make).
fn link_fields(
    ctx: &PageContext,
    action: &str,
    submit: &str,
    v: Option<&IntegrationView>,
) -> Markup {
    let link = v.and_then(|v| v.link.as_ref());
    html! {
        form.stack.link-form data-action=(action) novalidate {
            label { (ctx.t("integ-ui-admin"))
                input type="email" name="adminEmail" required autocomplete="off"
                    value=[link.map(|l| l.admin_email.as_str())];
            }
            label { (ctx.t("integ-ui-service-key"))
                input type="text" name="serviceKey" required autocomplete="off" spellcheck="false";
                small.hint { (ctx.t("integ-ui-service-key-hint")) }
            }
            label { (ctx.t("integ-ui-portal-name"))
                input type="text" name="deskPortalName" required autocomplete="off"
                    value=[link.map(|l| l.desk_portal_name.as_str())];
            }
            p.alert.error.form-error role="alert" hidden {}
            div.row {
                button.primary type="submit" { (submit) }
                @if action == "link" {
                    button.cancel-change type="button" { (ctx.t("integ-ui-cancel")) }
                }
            }
        }
    }
}

/// Not linked: one big button (I2); the I3 message with three fields, or the I4
/// chooser, appear when enabling says so.
fn not_linked(ctx: &PageContext, admin: bool) -> Markup {
    html! {
        section.card.not-linked #not-linked {
            p.lead { (ctx.t("integ-ui-lead")) }
            @if admin {
                button.primary.big #enable-first type="button" { (ctx.t("integ-ui-enable-first")) }
            }
            div #choose-portal hidden {
                p { (ctx.t("integ-ui-choose-portal")) }
                form.stack.choose-form {
                    div.candidates {}
                    button.primary type="submit" { (ctx.t("integ-ui-choose")) }
                    p.alert.error.form-error role="alert" hidden {}
                }
            }
            div #manual-link hidden {
                p.alert.warn #not-desk-admin-message data-signup-link=(ctx.t("integ-ui-signup-link")) {}
                (link_fields(ctx, "enable", &ctx.t("integ-ui-enable"), None))
            }
        }
    }
}

fn linked(ctx: &PageContext, v: &IntegrationView, admin: bool) -> Markup {
    let disabled = !admin;
    let broken = v.status == LinkStatus::Broken;
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
            @if let Some(link) = &v.link {
                dl.facts.link-facts {
                    dt { (ctx.t("integ-ui-admin")) }
                    dd #desk-admin {
                        @if link.is_me {
                            strong { (ctx.t("integ-ui-me")) } " (" (link.admin_email) ")"
                        } @else {
                            (link.admin_email)
                        }
                        @if admin {
                            " " button.link #change-link type="button" { (ctx.t("integ-ui-change")) }
                        }
                    }
                    dt { (ctx.t("integ-ui-service-key")) }
                    dd #service-key { code { (link.service_key_masked) } }
                    dt { (ctx.t("integ-ui-portal-name")) }
                    dd #desk-portal-name { (link.desk_portal_name) }
                }
            }
            @if admin {
                div #change-form hidden[!broken] {
                    (link_fields(ctx, "link", &ctx.t("integ-ui-save"), Some(v)))
                }
            }
        }
        section.card #settings {
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
        }
        section.card #departments {
            h2 { (ctx.t("integ-ui-departments")) }
            p.muted { (ctx.t("integ-ui-departments-lead")) }
            @if v.departments.is_empty() {
                p.muted { (ctx.t("integ-ui-no-departments")) }
            } @else {
                table #department-settings {
                    thead { tr {
                        th { (ctx.t("integ-ui-chat-department")) }
                        th { (ctx.t("integ-ui-desk-department")) }
                    } }
                    tbody {
                        @for d in &v.departments {
                            tr data-id=(d.chat_department_id) {
                                td { (d.chat_department_name) }
                                td {
                                    select.dept-mode aria-label=(d.chat_department_name) disabled[disabled] {
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
                                    @if d.auto_associated && d.mode == DeptMode::Mapped {
                                        " " span.badge.auto { (ctx.t("integ-ui-auto-associated")) }
                                        @if admin {
                                            " " button.link.remove-association type="button" { (ctx.t("integ-ui-remove-association")) }
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
