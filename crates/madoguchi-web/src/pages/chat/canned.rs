//! `GET /chat/{portal}/settings/canned-responses` (O1): the canned responses the
//! operator may use, by set, with forms for the ones they may change (admins the shared
//! set, admins and supervisors the departments', everyone their own). The forms post
//! back here (`crate::pages::forms`): add, save one, delete one.

use super::console_css;
use crate::pages::forms::{
    csrf_field, form_status, invalid, is_form_error, see_other, CsrfForm, FormError, PostedForm,
};
use crate::pages::layout::page_with;
use crate::pages::{ChatPage, PageError};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use madoguchi_chat::canned::{CannedInput, CannedResponse, CannedScope};
use madoguchi_chat::OperatorCtx;
use maud::{html, Markup};
use serde::Deserialize;

/// The add form and the edit form of a row (which sends no scope nor department).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct CannedForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    shortcut: String,
    text: String,
    scope: String,
    department_id: String,
}

impl CannedForm {
    /// What the service gets: the edit form of a row changes only shortcut and text.
    fn input(&self, new: bool) -> CannedInput {
        CannedInput {
            shortcut: Some(self.shortcut.trim().to_owned()),
            text: Some(self.text.trim().to_owned()),
            department_id: non_empty(&self.department_id).filter(|_| new).map(Some),
            scope: non_empty(&self.scope).filter(|_| new),
        }
    }
}

crate::pages::forms::posted_forms!(CannedForm);

/// A form sent back with its error: the add form (`id` None) or a row's edit form.
struct Sent<'a> {
    id: Option<&'a str>,
    form: &'a CannedForm,
    error: FormError,
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn page_path(op: &OperatorCtx) -> String {
    format!("/chat/{}/settings/canned-responses", op.portal.name)
}

/// The page after a change: back to it, or the page again with the form's error.
async fn answer(
    state: &AppState,
    page: &ChatPage,
    id: Option<&str>,
    form: &CannedForm,
    done: madoguchi_core::Result<()>,
) -> Response {
    match done {
        Ok(()) => see_other(&page_path(&page.op)),
        Err(e) if is_form_error(&e) => {
            let error = FormError::new(&page.ctx, &e);
            render(state, page, Some(Sent { id, form, error })).await
        }
        Err(e) => PageError::from_error(&page.ctx, e).into_response(),
    }
}

/// `POST /chat/{portal}/settings/canned-responses`: adds one.
pub async fn create_canned(
    State(state): State<AppState>,
    page: ChatPage,
    PostedForm(form): PostedForm<CannedForm>,
) -> Response {
    let done = state
        .chat
        .create_canned(&page.op, form.input(true))
        .await
        .map(|_| ());
    answer(&state, &page, None, &form, done).await
}

/// `POST /chat/{portal}/settings/canned-responses/{id}`: saves a row's shortcut and text.
pub async fn update_canned(
    State(state): State<AppState>,
    page: ChatPage,
    Path((_, id)): Path<(String, String)>,
    PostedForm(form): PostedForm<CannedForm>,
) -> Response {
    let done = state
        .chat
        .update_canned(&page.op, &id, form.input(false))
        .await
        .map(|_| ());
    answer(&state, &page, Some(&id), &form, done).await
}

/// `POST /chat/{portal}/settings/canned-responses/{id}/delete`.
pub async fn delete_canned(
    State(state): State<AppState>,
    page: ChatPage,
    Path((_, id)): Path<(String, String)>,
    _csrf: PostedForm<CsrfForm>,
) -> Response {
    match state.chat.delete_canned(&page.op, &id).await {
        Ok(()) => see_other(&page_path(&page.op)),
        Err(e) => PageError::from_error(&page.ctx, e).into_response(),
    }
}

/// The error of a form, shown in it (and the field it names marked).
fn form_error(err: Option<&FormError>) -> Markup {
    match err {
        Some(e) => html! { p.alert.error.form-error role="alert" { (e.message) } },
        None => html! {},
    }
}

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

pub async fn canned_page(State(state): State<AppState>, page: ChatPage) -> Response {
    render(&state, &page, None).await
}

async fn render(state: &AppState, page: &ChatPage, sent: Option<Sent<'_>>) -> Response {
    let ChatPage { ctx, op, .. } = page;
    let (responses, departments) = match tokio::try_join!(
        state.chat.canned_responses(op),
        state.chat.departments(&op.portal.id),
    ) {
        Ok(v) => v,
        Err(e) => return PageError::from_error(ctx, e).into_response(),
    };
    let base = page_path(op);
    // The form sent back with an error shows what was typed and the message.
    let sent_to = |id: Option<&str>| sent.as_ref().filter(|s| s.id == id);
    let new_sent = sent_to(None);
    let new_err = new_sent.map(|s| &s.error);
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
        .filter(|s| may_write(op, *s))
        .filter(|s| *s != CannedScope::Department || !departments.is_empty())
        .collect();
    let chosen_scope = new_sent
        .map(|s| s.form.scope.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or(CannedScope::Personal.as_str());
    let department_select = |selected: Option<&str>| -> Markup {
        html! {
            label { (ctx.t("chatui-canned-department"))
                select name="departmentId" aria-invalid=[invalid(new_err, "departmentId")] {
                    option value="" { "—" }
                    @for d in &departments {
                        option value=(d.id) selected[selected == Some(d.id.as_str())] { (d.name) }
                    }
                }
            }
        }
    };
    let row = |c: &CannedResponse| -> Markup {
        let editable = may_write(op, c.scope);
        let mine = sent_to(Some(c.id.as_str()));
        let err = mine.map(|s| &s.error);
        let shortcut = mine.map_or(c.shortcut.as_str(), |s| s.form.shortcut.as_str());
        let text = mine.map_or(c.text.as_str(), |s| s.form.text.as_str());
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
                    form.stack.canned-edit method="post" action={ (base) "/" (c.id) } {
                        (csrf_field(ctx))
                        div.row {
                            label { (ctx.t("chatui-canned-shortcut"))
                                input type="text" name="shortcut" required maxlength="31" value=(shortcut)
                                    aria-invalid=[invalid(err, "shortcut")]; }
                        }
                        label { (ctx.t("chatui-canned-text"))
                            textarea name="text" rows="2" required maxlength="5000"
                                aria-invalid=[invalid(err, "text")] { (text) } }
                        (form_error(err))
                        div.row {
                            button.primary type="submit" { (ctx.t("chatui-save")) }
                        }
                    }
                    form.canned-delete method="post" action={ (base) "/" (c.id) "/delete" } {
                        (csrf_field(ctx))
                        button.danger type="submit" { (ctx.t("chatui-canned-delete")) }
                    }
                } @else {
                    p.canned-body { (c.text) }
                }
            }
        }
    };
    let title = ctx.t("chatui-canned-title");
    let body = page_with(
        ctx,
        &format!("{title} · {}", op.portal.display_name),
        html! { (console_css()) },
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
                    form.stack method="post" action=(base) {
                        (csrf_field(ctx))
                        div.row {
                            label { (ctx.t("chatui-canned-shortcut"))
                                input type="text" name="shortcut" required maxlength="31" placeholder="hello"
                                    value=(new_sent.map_or("", |s| s.form.shortcut.as_str()))
                                    aria-invalid=[invalid(new_err, "shortcut")]; }
                            label { (ctx.t("chatui-canned-scope"))
                                select name="scope" aria-invalid=[invalid(new_err, "scope")] {
                                    @for s in &writable {
                                        option value=(s.as_str()) selected[s.as_str() == chosen_scope] { (scope_label(*s)) }
                                    }
                                }
                            }
                            @if writable.contains(&CannedScope::Department) {
                                (department_select(new_sent.map(|s| s.form.department_id.as_str())))
                            }
                        }
                        label { (ctx.t("chatui-canned-text"))
                            textarea name="text" rows="3" required maxlength="5000"
                                aria-invalid=[invalid(new_err, "text")] {
                                (new_sent.map_or("", |s| s.form.text.as_str()))
                            } }
                        (form_error(new_err))
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
    );
    let status = form_status(sent.is_some());
    (status, body).into_response()
}
