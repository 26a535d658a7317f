//! `GET /chat/{portal}/settings/canned-responses` (O1): the canned responses the
//! operator may use, by set, with forms for the ones they may change (admins the shared
//! set, admins and supervisors the departments', everyone their own). Every change goes
//! through the JSON API (`chat-pages.js`).

use super::{chat_pages_js, console_css, operator_or_page};
use crate::pages::layout::page_with;
use crate::pages::SignedIn;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use madoguchi_chat::canned::{CannedResponse, CannedScope};
use madoguchi_chat::OperatorCtx;
use maud::{html, Markup};

fn may_write(op: &OperatorCtx, scope: CannedScope) -> bool {
    match scope {
        CannedScope::Portal => op.is_admin(),
        CannedScope::Department => op.role.sees_all_departments(),
        CannedScope::Personal => true,
    }
}

const SCOPES: [CannedScope; 3] = [
    CannedScope::Portal,
    CannedScope::Department,
    CannedScope::Personal,
];

pub async fn canned_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(portal): Path<String>,
) -> Response {
    let SignedIn { ctx, user } = signed_in;
    let op = match operator_or_page(&state, &ctx, &user.id, &portal).await {
        Ok(op) => op,
        Err(page) => return page,
    };
    let (responses, departments) = match tokio::try_join!(
        state.chat.canned_responses(&op),
        state.chat.departments(&op.portal.id),
    ) {
        Ok(v) => v,
        Err(e) => return crate::ApiError(e).into_response(),
    };
    let api = format!("/chat/api/v1/portals/{}/canned-responses", op.portal.name);
    let dept_name = |id: Option<&str>| {
        departments
            .iter()
            .find(|d| Some(d.id.as_str()) == id)
            .map(|d| d.name.clone())
            .unwrap_or_default()
    };
    let scope_label = |s: CannedScope| ctx.t(&format!("chatui-canned-scope-{}", s.as_str()));
    let writable: Vec<CannedScope> = SCOPES
        .into_iter()
        .filter(|s| may_write(&op, *s))
        .filter(|s| *s != CannedScope::Department || !departments.is_empty())
        .collect();
    let department_select = |selected: Option<&str>| -> Markup {
        html! {
            label { (ctx.t("chatui-canned-department"))
                select name="departmentId" {
                    option value="" { "—" }
                    @for d in &departments {
                        option value=(d.id) selected[selected == Some(d.id.as_str())] { (d.name) }
                    }
                }
            }
        }
    };
    let row = |c: &CannedResponse| -> Markup {
        let editable = may_write(&op, c.scope);
        html! {
            li.canned-row data-id=(c.id) data-scope=(c.scope.as_str()) {
                div.canned-head {
                    code.canned-shortcut { "/" (c.shortcut) }
                    " " span.badge { (scope_label(c.scope)) }
                    @if c.scope == CannedScope::Department {
                        " " span.muted { (dept_name(c.department_id.as_deref())) }
                    }
                }
                @if editable {
                    form.stack.canned-edit data-api={ (api) "/" (c.id) } data-method="PATCH" data-then="reload" {
                        div.row {
                            label { (ctx.t("chatui-canned-shortcut"))
                                input type="text" name="shortcut" required maxlength="31" value=(c.shortcut); }
                        }
                        label { (ctx.t("chatui-canned-text"))
                            textarea name="text" rows="2" required maxlength="5000" { (c.text) } }
                        p.alert.error.form-error role="alert" hidden {}
                        div.row {
                            button.primary type="submit" { (ctx.t("chatui-save")) }
                        }
                    }
                    form.canned-delete data-api={ (api) "/" (c.id) } data-method="DELETE" data-then="reload" {
                        button.danger type="submit" { (ctx.t("chatui-canned-delete")) }
                        p.alert.error.form-error role="alert" hidden {}
                    }
                } @else {
                    p.canned-body { (c.text) }
                }
            }
        }
    };
    let title = ctx.t("chatui-canned-title");
    page_with(
        &ctx,
        &format!("{title} · {}", op.portal.display_name),
        html! { (console_css()) (chat_pages_js()) },
        html! {
            div.chat-settings.canned-settings data-portal=(op.portal.name) {
                div.page-head {
                    div {
                        h1 { (title) }
                        p.muted { (op.portal.display_name) }
                    }
                    div.spacer {}
                    a.button href={ "/chat/" (op.portal.name) "/settings" } { (ctx.t("chatui-settings")) }
                    a.button.primary href={ "/chat/" (op.portal.name) } { (ctx.t("chatui-open-console")) }
                }
                section.card #canned-help {
                    p { (ctx.t("chatui-canned-lead")) }
                    p.hint { (ctx.t("chatui-canned-placeholders")) }
                }
                section.card #canned-new {
                    h2 { (ctx.t("chatui-canned-new")) }
                    form.stack data-api=(api) data-method="POST" data-then="reload" {
                        div.row {
                            label { (ctx.t("chatui-canned-shortcut"))
                                input type="text" name="shortcut" required maxlength="31" placeholder="hello"; }
                            label { (ctx.t("chatui-canned-scope"))
                                select name="scope" {
                                    @for s in &writable {
                                        option value=(s.as_str()) selected[*s == CannedScope::Personal] { (scope_label(*s)) }
                                    }
                                }
                            }
                            @if writable.contains(&CannedScope::Department) {
                                (department_select(None))
                            }
                        }
                        label { (ctx.t("chatui-canned-text"))
                            textarea name="text" rows="3" required maxlength="5000" {} }
                        p.alert.error.form-error role="alert" hidden {}
                        button.primary type="submit" { (ctx.t("chatui-canned-add")) }
                    }
                }
                @for scope in SCOPES {
                    section.card.canned-set id={ "canned-" (scope.as_str()) } {
                        h2 { (scope_label(scope)) }
                        @let set: Vec<&CannedResponse> = responses.iter().filter(|c| c.scope == scope).collect();
                        @if set.is_empty() {
                            p.muted { (ctx.t("chatui-canned-none")) }
                        } @else {
                            ul.canned-rows {
                                @for c in set { (row(c)) }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}
