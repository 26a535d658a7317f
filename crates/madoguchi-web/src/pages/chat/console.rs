//! `GET /chat/{portal}`: the operator console (C4, C6; UI.md "operator console").
//!
//! The page is a frame of three columns — queue, chat, visitor — that `console.js`
//! fills from the JSON API and keeps live over the operator WebSocket. The right column
//! ends with `<div id="desk-panel">`, the place of the Desk panel (I15–I20): its script
//! (`/assets/desk-panel.js`, served by the integration) listens for the console's
//! `madoguchi:chat-selected` events (see the top of `console.js`).

use super::{role_label, script_json};
use crate::pages::layout::page_with;
use crate::pages::{ChatPage, PageContext, PageError};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use madoguchi_chat::Availability;
use maud::html;
use serde_json::json;

/// A bell drawn in SVG: emoji fonts are not everywhere (e.g. a bare Linux desktop).
const BELL_SVG: &str = r#"<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9"/><path d="M13.7 21a2 2 0 0 1-3.4 0"/></svg>"#;

/// A paper clip (the attach button, V3).
const CLIP_SVG: &str = r#"<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48"/></svg>"#;

/// Words the console's script shows (`chatui-<key>` in the catalog).
const LABELS: &[&str] = &[
    "queue-waiting",
    "queue-attended",
    "queue-missed",
    "queue-history",
    "queue-empty",
    "history-empty",
    "accept",
    "send",
    "end-chat",
    "end-confirm",
    "visitor",
    "visitor-typing",
    "select-chat",
    "field-name",
    "field-email",
    "field-phone",
    "edit-visitor",
    "save",
    "cancel",
    "saved",
    "no-department",
    "chat-ended",
    "chat-missed",
    "accept-first",
    "reconnecting",
    "new-waiting",
    "pending",
    "stored",
    "failed",
    "operator",
    "waited",
    "question",
    "network-error",
    "retry",
    // V3: files.
    "attach",
    "drop-here",
    "file-sending",
    "file-failed",
    "open-image",
    "download",
    // Operator toolkit (O1–O5).
    "taken",
    "join",
    "transfer",
    "transfer-any",
    "transfer-keep",
    "transfer-none-online",
    "transfer-note-label",
    "panel-open",
    "panel-close",
    "notifications",
    "canned-empty",
];

fn labels(ctx: &PageContext) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for key in LABELS {
        map.insert((*key).to_owned(), json!(ctx.t(&format!("chatui-{key}"))));
    }
    // Templates with arguments: the script replaces `{name}`.
    map.insert(
        "visitor-honorific".into(),
        json!(ctx.t_args("chatui-visitor-honorific", &[("name", "{name}")])),
    );
    map.insert(
        "file-too-large".into(),
        json!(ctx.t_args("chatui-file-too-large", &[("max", "{max}")])),
    );
    map.insert(
        "operator-typing".into(),
        json!(ctx.t_args("chatui-operator-typing", &[("name", "{name}")])),
    );
    for key in [
        "taken-by",
        "taken-by-operator",
        "transferred-to-you",
        "transferred-away",
        "notify-new-chat",
        "notify-transferred",
    ] {
        map.insert(
            key.into(),
            json!(ctx.t_args(&format!("chatui-{key}"), &[("name", "{name}")])),
        );
    }
    serde_json::Value::Object(map)
}

/// What visitor-panel.js needs: the API and its words (V4, V5).
fn visitor_panel_config(ctx: &PageContext, portal: &str) -> serde_json::Value {
    let mut labels = serde_json::Map::new();
    for key in [
        "current-page",
        "pages-visited",
        "past-chats",
        "no-past-chats",
        "rating",
        "rating-good",
        "rating-neutral",
        "rating-bad",
    ] {
        labels.insert(key.to_owned(), json!(ctx.t(&format!("chatui-{key}"))));
    }
    json!({
        "api": format!("/chat/api/v1/portals/{portal}"),
        "lang": ctx.lang.code(),
        "labels": labels,
    })
}

pub async fn console_page(State(state): State<AppState>, page: ChatPage) -> Response {
    let ChatPage { ctx, user, op, .. } = page;
    let (me, departments) = match tokio::try_join!(
        state.chat.operator(&op.portal.id, &user.id),
        state.chat.departments(&op.portal.id),
    ) {
        Ok(v) => v,
        Err(e) => return PageError::from_error(&ctx, e).into_response(),
    };
    let portal = &op.portal;
    let config = json!({
        "portal": portal.name,
        "displayName": portal.display_name,
        "api": format!("/chat/api/v1/portals/{}", portal.name),
        "lang": ctx.lang.code(),
        "me": {
            "id": user.id,
            "name": me.name,
            "role": op.role.as_str(),
            "status": me.status.as_str(),
        },
        "departments": departments
            .iter()
            .map(|d| json!({"id": d.id, "name": d.name}))
            .collect::<Vec<_>>(),
        // O3: at this many attended chats the console offers no waiting ones.
        "maxChatsPerOperator": portal.max_chats_per_operator,
        "labels": labels(&ctx),
        // V3: checked before a file is sent.
        "maxAttachmentBytes": portal.max_attachment_bytes,
    });
    let available = me.status == Availability::Available;
    let title = ctx.t("chatui-console-title");
    page_with(
        &ctx,
        &format!("{} · {}", portal.display_name, title),
        html! {
            (super::console_css())
            (crate::assets::script("console.js"))
            (crate::assets::stylesheet("desk-panel.css"))
            (crate::assets::script("desk-panel.js"))
            (crate::assets::script("visitor-panel.js"))
        },
        html! {
            script type="application/json" #console-config { (script_json(&config)) }
            div.console #console data-portal=(portal.name) {
                aside.queue #console-queue aria-label=(ctx.t("chatui-console-title")) {
                    div.queue-head {
                        div.portal-title {
                            // One h1 per page (axe page-has-heading-one).
                            h1.portal-name { (portal.display_name) }
                            small.muted { (role_label(&ctx, op.role)) }
                        }
                        a.settings-link href={ "/chat/" (portal.name) "/settings" } title=(ctx.t("chatui-settings"))
                            aria-label=(ctx.t("chatui-settings")) { "⚙" }
                    }
                    div.availability {
                        label {
                            span.status-dot.available[available] {}
                            select #availability aria-label=(ctx.t("chatui-availability")) {
                                option value="available" selected[available] { (ctx.t("chatui-available")) }
                                option value="away" selected[!available] { (ctx.t("chatui-away")) }
                            }
                        }
                        label.sound-toggle title=(ctx.t("chatui-sound")) {
                            input type="checkbox" #sound checked;
                            (maud::PreEscaped(BELL_SVG))
                            (ctx.t("chatui-sound"))
                        }
                        // O5: desktop notifications, off until the operator turns them on.
                        label.notify-toggle title=(ctx.t("chatui-notifications")) {
                            input type="checkbox" #notify;
                            (ctx.t("chatui-notifications"))
                        }
                    }
                    div.queue-lists {
                        section.q-section.waiting data-state="waiting" {
                            h2 { span.dot {} (ctx.t("chatui-queue-waiting")) " " span.count { "(0)" } }
                            @if let Some(max) = portal.max_chats_per_operator {
                                p.cap-notice role="status" hidden {
                                    (ctx.t_args("chatui-cap-reached", &[("max", &max.to_string())]))
                                }
                            }
                            ul.q-list {}
                        }
                        section.q-section.attended data-state="attended" {
                            h2 { span.dot {} (ctx.t("chatui-queue-attended")) " " span.count { "(0)" } }
                            ul.q-list {}
                        }
                        section.q-section.missed data-state="missed" {
                            h2 { span.dot {} (ctx.t("chatui-queue-missed")) " " span.count { "(0)" } }
                            ul.q-list {}
                        }
                        section.q-section.history data-state="ended" {
                            h2 { (ctx.t("chatui-queue-history")) }
                            input type="search" #history-search placeholder=(ctx.t("chatui-history-search"))
                                aria-label=(ctx.t("chatui-history-search"));
                            ul.q-list {}
                        }
                    }
                }
                section.chat-pane {
                    div.conn-banner hidden { (ctx.t("chatui-reconnecting")) }
                    div.toast role="alert" hidden {}
                    div.chat-empty { p { (ctx.t("chatui-select-chat")) } }
                    header.chat-head hidden {
                        // O5: on a phone the queue is a drawer too.
                        button.link.queue-toggle type="button" aria-controls="console-queue"
                            aria-expanded="false" { "☰ " (ctx.t("chatui-queue-open")) }
                        div.chat-title {
                            h2.visitor-title {}
                            span.department.badge {}
                            span.state.badge {}
                        }
                        div.chat-actions {
                            button.primary.accept type="button" hidden { (ctx.t("chatui-accept")) }
                            button.join type="button" hidden { (ctx.t("chatui-join")) }
                            button.transfer-open type="button" hidden aria-controls="transfer-form"
                                aria-expanded="false" { (ctx.t("chatui-transfer")) }
                            button.danger.end type="button" hidden { (ctx.t("chatui-end-chat")) }
                            // O5: below 1000 px the visitor/desk panel is a drawer.
                            button.panel-toggle type="button" aria-controls="visitor-pane"
                                aria-expanded="false" { (ctx.t("chatui-panel-open")) }
                        }
                    }
                    // O2: hand the chat over, with a note for the receiver.
                    form.transfer-form.stack #transfer-form hidden aria-label=(ctx.t("chatui-transfer-title")) {
                        h2.transfer-title { (ctx.t("chatui-transfer-title")) }
                        div.row {
                            label { (ctx.t("chatui-transfer-operator"))
                                select name="operatorId" {} }
                            label { (ctx.t("chatui-transfer-department"))
                                select name="departmentId" {} }
                        }
                        label { (ctx.t("chatui-transfer-note"))
                            textarea name="note" rows="2" maxlength="1000" {} }
                        p.alert.error.form-error role="alert" hidden {}
                        div.row {
                            button.primary type="submit" { (ctx.t("chatui-transfer-submit")) }
                            button.cancel type="button" { (ctx.t("chatui-cancel")) }
                        }
                    }
                    div.transcripts {}
                    div.chat-notice hidden {}
                    div.typing-line aria-live="polite" {}
                    form.composer hidden {
                        // O1: "/" opens the canned responses above the box.
                        ul.canned-list #canned-list role="listbox" hidden aria-label=(ctx.t("chatui-canned-hint")) {}
                        // V3: a file by the button, by drag-and-drop or by pasting.
                        button.attach type="button" title=(ctx.t("chatui-attach"))
                            aria-label=(ctx.t("chatui-attach")) { (maud::PreEscaped(CLIP_SVG)) }
                        input.file-input type="file" multiple hidden;
                        textarea name="text" rows="2" placeholder=(ctx.t("chatui-message-placeholder"))
                            aria-label=(ctx.t("chatui-message-placeholder"))
                            aria-controls="canned-list" title=(ctx.t("chatui-canned-hint")) {}
                        button.primary.send type="submit" { (ctx.t("chatui-send")) }
                    }
                }
                aside.visitor-pane #visitor-pane aria-label=(ctx.t("chatui-panel-open")) {
                    button.link.panel-close type="button" { "✕ " (ctx.t("chatui-panel-close")) }
                    div.visitor-card hidden {
                        div.visitor-view {
                            h3 {
                                span.v-name {}
                                " "
                                button.link.pencil type="button" title=(ctx.t("chatui-edit-visitor"))
                                    aria-label=(ctx.t("chatui-edit-visitor")) { "✎" }
                            }
                            dl.facts {
                                dt { (ctx.t("chatui-field-email")) } dd.v-email {}
                                dt { (ctx.t("chatui-field-phone")) } dd.v-phone {}
                                dt { (ctx.t("chatui-department")) } dd.v-department {}
                                dt { (ctx.t("chatui-question")) } dd.v-question {}
                            }
                        }
                        form.visitor-edit.stack hidden novalidate {
                            label { (ctx.t("chatui-field-name")) input type="text" name="name" maxlength="200"; }
                            label { (ctx.t("chatui-field-email")) input type="email" name="email" maxlength="320"; }
                            label { (ctx.t("chatui-field-phone")) input type="tel" name="phone" maxlength="50"; }
                            p.alert.error.form-error role="alert" hidden {}
                            div.row {
                                button.primary type="submit" { (ctx.t("chatui-save")) }
                                button.cancel type="button" { (ctx.t("chatui-cancel")) }
                            }
                        }
                        p.alert.ok.saved-note hidden { (ctx.t("chatui-saved")) }
                    }
                    // V4/V5: the visitor's page, trail, past chats and rating
                    // (visitor-panel.js).
                    script type="application/json" #visitor-panel-config { (script_json(&visitor_panel_config(&ctx, &portal.name))) }
                    section.visitor-extra #visitor-extra aria-label=(ctx.t("chatui-current-page")) hidden {}
                    // The Desk panel (I15–I20) renders here; see the module comment.
                    div #desk-panel data-portal=(portal.name) {}
                }
            }
        },
    )
    .into_response()
}
