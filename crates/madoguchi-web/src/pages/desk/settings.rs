//! Settings (admins only; D1, D2, D3, D6): departments, members, classifications,
//! accounts, SLAs, contracts, and API — the service key beside the admin's email,
//! hidden until 表示 (show), with copy, generate and generate-a-new-key (confirmed
//! first; the old key stops working at once). Agents get a 403 page for all of them.

use super::{
    csrf_field, fail, field_error, form_alert, frame_with_status, is_form_error, posted,
    role_label, see_other, time, DeskAdmin, DeskPage, FormError, Nav, FORM_ERROR_STATUS,
};
use crate::state::AppState;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use madoguchi_core::ErrorCode;
use madoguchi_desk::{NewContract, Role, ServiceKey};
use maud::{html, Markup};
use serde::Deserialize;

crate::pages::forms::posted_forms!(SettingsForm);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Departments,
    Members,
    Classifications,
    Accounts,
    Slas,
    Contracts,
    Api,
    /// Channels > Email (SPEC E1), see `mail.rs`.
    Email,
}

impl Section {
    pub const ALL: &'static [Section] = &[
        Section::Departments,
        Section::Members,
        Section::Classifications,
        Section::Accounts,
        Section::Slas,
        Section::Contracts,
        Section::Api,
        Section::Email,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Section::Departments => "departments",
            Section::Members => "members",
            Section::Classifications => "classifications",
            Section::Accounts => "accounts",
            Section::Slas => "slas",
            Section::Contracts => "contracts",
            Section::Api => "api",
            Section::Email => "email",
        }
    }

    pub fn label_key(self) -> &'static str {
        match self {
            Section::Departments => "deskui-settings-departments",
            Section::Members => "deskui-settings-members",
            Section::Classifications => "deskui-settings-classifications",
            Section::Accounts => "deskui-settings-accounts",
            Section::Slas => "deskui-settings-slas",
            Section::Contracts => "deskui-settings-contracts",
            Section::Api => "deskui-settings-api",
            Section::Email => "deskui-settings-email",
        }
    }

    fn parse(slug: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.slug() == slug)
    }
}

/// Every settings form posts these (each section reads its own).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    classifications: String,
    #[serde(default)]
    account_name: String,
    #[serde(default)]
    contract_name: String,
    #[serde(default)]
    account_id: String,
    #[serde(default)]
    sla_id: String,
    /// Settings > API: "generate" or "reveal".
    #[serde(default)]
    action: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct SettingsQuery {
    saved: Option<String>,
    generated: Option<String>,
    /// Channels > Email: the mailbox whose edit form is shown.
    edit: Option<String>,
}

/// The page shown after a post that did not redirect.
#[derive(Default)]
struct Shown<'a> {
    form: Option<&'a SettingsForm>,
    err: Option<&'a FormError>,
    saved: bool,
    generated: bool,
    reveal: bool,
    edit: Option<&'a str>,
}

/// `GET /desk/{portal}/settings`: the first section.
pub async fn settings_home(DeskAdmin(dp): DeskAdmin) -> Response {
    see_other(&dp.href("/settings/departments"))
}

pub async fn settings_page(
    State(state): State<AppState>,
    DeskAdmin(dp): DeskAdmin,
    Path((_, section)): Path<(String, String)>,
    query: Result<Query<SettingsQuery>, QueryRejection>,
) -> Response {
    let Some(section) = Section::parse(&section) else {
        return fail(&dp.ctx, madoguchi_core::Error::not_found());
    };
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let shown = Shown {
        saved: q.saved.is_some(),
        generated: q.generated.is_some(),
        edit: q.edit.as_deref(),
        ..Shown::default()
    };
    render(&state, &dp, section, shown).await
}

pub async fn settings_submit(
    State(state): State<AppState>,
    DeskAdmin(dp): DeskAdmin,
    Path((_, section)): Path<(String, String)>,
    form: Result<Form<SettingsForm>, FormRejection>,
) -> Response {
    let Some(section) = Section::parse(&section) else {
        return fail(&dp.ctx, madoguchi_core::Error::not_found());
    };
    let form = match posted(&dp.ctx, form) {
        Ok(f) => f,
        Err(page) => return page,
    };
    let desk = &state.desk;
    let m = &dp.member;
    let done = match section {
        Section::Departments => desk.create_department(m, &form.name).await.map(|_| ()),
        Section::Members => match Role::parse(form.role.trim()) {
            Some(role) => desk.add_member(m, &form.email, role).await.map(|_| ()),
            None => Err(madoguchi_core::Error::invalid(
                "role",
                "deskui-error-choice",
            )),
        },
        Section::Classifications => {
            let list: Vec<String> = form
                .classifications
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            desk.set_classifications(m, &list).await.map(|_| ())
        }
        Section::Accounts => desk.create_account(m, &form.account_name).await.map(|_| ()),
        Section::Slas => desk.create_sla(m, &form.name).await.map(|_| ()),
        Section::Contracts => desk
            .create_contract(
                m,
                &NewContract {
                    contract_name: form.contract_name.clone(),
                    account_id: form.account_id.clone(),
                    sla_id: form.sla_id.clone(),
                },
            )
            .await
            .map(|_| ()),
        Section::Api if form.action == "reveal" => {
            let shown = Shown {
                reveal: true,
                ..Shown::default()
            };
            return render(&state, &dp, section, shown).await;
        }
        Section::Api => desk.regenerate_service_key(m).await.map(|_| ()),
        Section::Email => return see_other(&dp.href("/settings/email")),
    };
    let back = dp.href(&format!("/settings/{}", section.slug()));
    match done {
        Ok(()) if section == Section::Api => see_other(&format!("{back}?generated=1")),
        Ok(()) => see_other(&format!("{back}?saved=1")),
        Err(e) if is_form_error(&e) => {
            let err = FormError::new(&dp.ctx, &e);
            let shown = Shown {
                form: Some(&form),
                err: Some(&err),
                ..Shown::default()
            };
            render(&state, &dp, section, shown).await
        }
        Err(e) => fail(&dp.ctx, e),
    }
}

async fn render(state: &AppState, dp: &DeskPage, section: Section, shown: Shown<'_>) -> Response {
    let ctx = &dp.ctx;
    let empty = SettingsForm::default();
    let form = shown.form.unwrap_or(&empty);
    let err = shown.err;
    let body = match section {
        Section::Departments => departments(state, dp, form, err).await,
        Section::Members => members(state, dp, form, err).await,
        Section::Classifications => classifications(state, dp, form, err).await,
        Section::Accounts => accounts(state, dp, form, err).await,
        Section::Slas => slas(state, dp, form, err).await,
        Section::Contracts => contracts(state, dp, form, err).await,
        Section::Api => api(state, dp, &shown).await,
        Section::Email => super::mail::section(state, dp, None, None, shown.edit).await,
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => return fail(ctx, e),
    };
    let title = ctx.t(section.label_key());
    let content = html! {
        div.page-head {
            h1 { (ctx.t("deskui-nav-settings")) " › " (title) }
        }
        @if shown.saved {
            p.alert.ok role="status" #saved { (ctx.t("deskui-saved")) }
        }
        div.settings id={ "settings-" (section.slug()) } { (body) }
    };
    let status = if err.is_some() {
        FORM_ERROR_STATUS
    } else {
        StatusCode::OK
    };
    frame_with_status(dp, Nav::Settings(section), &title, content, status)
}

/// The Email section re-rendered with its own form's error (`mail.rs`).
pub(crate) async fn render_email(
    state: &AppState,
    dp: &DeskPage,
    form: Option<&super::mail::MailboxForm>,
    err: Option<&FormError>,
    edit: Option<&str>,
) -> Response {
    let ctx = &dp.ctx;
    let body = match super::mail::section(state, dp, form, err, edit).await {
        Ok(b) => b,
        Err(e) => return fail(ctx, e),
    };
    let title = ctx.t(Section::Email.label_key());
    let content = html! {
        div.page-head { h1 { (ctx.t("deskui-nav-settings")) " › " (title) } }
        div.settings id="settings-email" { (body) }
    };
    frame_with_status(
        dp,
        Nav::Settings(Section::Email),
        &title,
        content,
        FORM_ERROR_STATUS,
    )
}

type Body = madoguchi_core::Result<Markup>;

async fn departments(
    state: &AppState,
    dp: &DeskPage,
    form: &SettingsForm,
    err: Option<&FormError>,
) -> Body {
    let ctx = &dp.ctx;
    let list = state.desk.departments(&dp.member).await?;
    Ok(html! {
        section.card {
            p.hint { (ctx.t("deskui-departments-help")) }
            table #department-list {
                thead { tr { th { (ctx.t("deskui-field-name")) } th {} } }
                tbody {
                    @for d in &list {
                        tr data-id=(d.id) {
                            td { (d.name) }
                            td { @if d.is_default { span.badge { (ctx.t("deskui-default")) } } }
                        }
                    }
                }
            }
            h2 { (ctx.t("deskui-department-add")) }
            (form_alert(err, &["name"]))
            form.row method="post" action=(dp.href("/settings/departments")) {
                (csrf_field(ctx))
                label { (ctx.t("deskui-field-name"))
                    input type="text" name="name" value=(form.name) required maxlength="100";
                    (field_error(err, "name"))
                }
                button.primary type="submit" { (ctx.t("deskui-add")) }
            }
        }
    })
}

async fn members(
    state: &AppState,
    dp: &DeskPage,
    form: &SettingsForm,
    err: Option<&FormError>,
) -> Body {
    let ctx = &dp.ctx;
    let list = state.desk.members(&dp.member).await?;
    Ok(html! {
        section.card {
            table #member-list {
                thead { tr {
                    th { (ctx.t("deskui-field-name")) }
                    th { (ctx.t("deskui-field-email")) }
                    th { (ctx.t("deskui-role")) }
                    th { (ctx.t("deskui-joined")) }
                } }
                tbody {
                    @for m in &list {
                        tr data-email=(m.email) {
                            td { (m.name) @if m.id == dp.member.user_id { " " span.badge { (ctx.t("deskui-me")) } } }
                            td { (m.email) }
                            td { (role_label(ctx, m.role)) }
                            td { (time(&m.created_time)) }
                        }
                    }
                }
            }
            h2 { (ctx.t("deskui-member-add")) }
            p.hint { (ctx.t("deskui-member-add-hint")) }
            (form_alert(err, &["email", "role"]))
            form.row method="post" action=(dp.href("/settings/members")) {
                (csrf_field(ctx))
                label { (ctx.t("deskui-field-email"))
                    input type="email" name="email" value=(form.email) required autocomplete="off";
                    (field_error(err, "email"))
                }
                label { (ctx.t("deskui-role"))
                    select name="role" {
                        @for r in [Role::Agent, Role::Admin] {
                            option value=(r.as_str()) selected[form.role == r.as_str()] { (role_label(ctx, r)) }
                        }
                    }
                    (field_error(err, "role"))
                }
                button.primary type="submit" { (ctx.t("deskui-add")) }
            }
        }
    })
}

async fn classifications(
    state: &AppState,
    dp: &DeskPage,
    form: &SettingsForm,
    err: Option<&FormError>,
) -> Body {
    let ctx = &dp.ctx;
    let list = state.desk.classifications(&dp.member).await?;
    let text = if err.is_some() {
        form.classifications.clone()
    } else {
        list.join("\n")
    };
    Ok(html! {
        section.card {
            ul.chips #classification-list {
                @for c in &list {
                    li { (super::classification_label(ctx, c)) }
                }
            }
            (form_alert(err, &["classifications"]))
            form.stack method="post" action=(dp.href("/settings/classifications")) {
                (csrf_field(ctx))
                label { (ctx.t("deskui-classifications-edit"))
                    textarea name="classifications" rows=(list.len().max(4) + 2) { (text) }
                    small.hint { (ctx.t("deskui-classifications-hint")) }
                    (field_error(err, "classifications"))
                }
                button.primary type="submit" { (ctx.t("deskui-save")) }
            }
        }
    })
}

async fn accounts(
    state: &AppState,
    dp: &DeskPage,
    form: &SettingsForm,
    err: Option<&FormError>,
) -> Body {
    let ctx = &dp.ctx;
    let list = state.desk.accounts(&dp.member).await?;
    Ok(html! {
        section.card {
            @if list.is_empty() { p.muted { (ctx.t("deskui-none-yet")) } } @else {
                table #account-list {
                    thead { tr { th { (ctx.t("deskui-field-account")) } th { (ctx.t("deskui-field-created")) } } }
                    tbody { @for a in &list { tr data-id=(a.id) { td { (a.account_name) } td { (time(&a.created_time)) } } } }
                }
            }
            h2 { (ctx.t("deskui-account-add")) }
            (form_alert(err, &["accountName"]))
            form.row method="post" action=(dp.href("/settings/accounts")) {
                (csrf_field(ctx))
                label { (ctx.t("deskui-field-account"))
                    input type="text" name="accountName" value=(form.account_name) required maxlength="200";
                    (field_error(err, "accountName"))
                }
                button.primary type="submit" { (ctx.t("deskui-add")) }
            }
        }
    })
}

async fn slas(
    state: &AppState,
    dp: &DeskPage,
    form: &SettingsForm,
    err: Option<&FormError>,
) -> Body {
    let ctx = &dp.ctx;
    let list = state.desk.slas(&dp.member).await?;
    Ok(html! {
        section.card {
            @if list.is_empty() { p.muted { (ctx.t("deskui-none-yet")) } } @else {
                table #sla-list {
                    thead { tr { th { (ctx.t("deskui-field-sla")) } th { (ctx.t("deskui-field-created")) } } }
                    tbody { @for s in &list { tr data-id=(s.id) { td { (s.name) } td { (time(&s.created_time)) } } } }
                }
            }
            h2 { (ctx.t("deskui-sla-add")) }
            (form_alert(err, &["name"]))
            form.row method="post" action=(dp.href("/settings/slas")) {
                (csrf_field(ctx))
                label { (ctx.t("deskui-field-sla"))
                    input type="text" name="name" value=(form.name) required maxlength="200";
                    (field_error(err, "name"))
                }
                button.primary type="submit" { (ctx.t("deskui-add")) }
            }
        }
    })
}

async fn contracts(
    state: &AppState,
    dp: &DeskPage,
    form: &SettingsForm,
    err: Option<&FormError>,
) -> Body {
    let ctx = &dp.ctx;
    let (list, accounts, slas) = tokio::try_join!(
        state.desk.contracts(&dp.member),
        state.desk.accounts(&dp.member),
        state.desk.slas(&dp.member),
    )?;
    let account_name = |id: &str| {
        accounts
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.account_name.clone())
            .unwrap_or_default()
    };
    let sla_name = |id: &str| {
        slas.iter()
            .find(|s| s.id == id)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    };
    Ok(html! {
        section.card {
            p.hint { (ctx.t("deskui-contracts-help")) }
            @if list.is_empty() { p.muted { (ctx.t("deskui-none-yet")) } } @else {
                table #contract-list {
                    thead { tr {
                        th { (ctx.t("deskui-field-contract")) }
                        th { (ctx.t("deskui-field-account")) }
                        th { (ctx.t("deskui-field-sla")) }
                        th { (ctx.t("deskui-field-created")) }
                    } }
                    tbody { @for k in &list { tr data-id=(k.id) {
                        td { (k.contract_name) }
                        td { (account_name(&k.account_id)) }
                        td { (sla_name(&k.sla_id)) }
                        td { (time(&k.created_time)) }
                    } } }
                }
            }
            h2 { (ctx.t("deskui-contract-add")) }
            @if accounts.is_empty() || slas.is_empty() {
                p.alert.warn { (ctx.t("deskui-contract-needs")) }
            }
            (form_alert(err, &["contractName", "accountId", "slaId"]))
            form.row method="post" action=(dp.href("/settings/contracts")) {
                (csrf_field(ctx))
                label { (ctx.t("deskui-field-contract"))
                    input type="text" name="contractName" value=(form.contract_name) required maxlength="200";
                    (field_error(err, "contractName"))
                }
                label { (ctx.t("deskui-field-account"))
                    select name="accountId" required {
                        @for a in &accounts { option value=(a.id) selected[a.id == form.account_id] { (a.account_name) } }
                    }
                    (field_error(err, "accountId"))
                }
                label { (ctx.t("deskui-field-sla"))
                    select name="slaId" required {
                        @for s in &slas { option value=(s.id) selected[s.id == form.sla_id] { (s.name) } }
                    }
                    (field_error(err, "slaId"))
                }
                button.primary type="submit" { (ctx.t("deskui-add")) }
            }
        }
    })
}

/// `••••…3f9a`: only the last four characters.
fn masked(key: &str) -> String {
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{}{tail}", "•".repeat(16))
}

async fn api(state: &AppState, dp: &DeskPage, shown: &Shown<'_>) -> Body {
    let ctx = &dp.ctx;
    let key: Option<ServiceKey> = match state.desk.service_key(&dp.member).await {
        Ok(k) => Some(k),
        Err(e) if e.code == ErrorCode::NoServiceKey => None,
        Err(e) => return Err(e),
    };
    let action = dp.href("/settings/api");
    let api = format!(
        "/desk/api/v1/portals/{}/settings/service-key",
        dp.portal.portal_name
    );
    Ok(html! {
        section.card #service-key-card data-api=(api) {
            h2 { (ctx.t("deskui-service-key")) }
            p.hint { (ctx.t("deskui-service-key-help")) }
            @if shown.generated {
                p.alert.ok role="status" #generated { (ctx.t("deskui-service-key-generated")) }
            }
            @if let Some(key) = &key {
                dl.facts.key-facts {
                    dt { (ctx.t("deskui-desk-admin")) }
                    dd #service-key-admin { (key.admin_email) }
                    dt { (ctx.t("deskui-service-key")) }
                    dd {
                        code.secret #service-key data-masked=(masked(&key.service_key)) data-shown=(if shown.reveal { "1" } else { "0" }) {
                            @if shown.reveal { (key.service_key) } @else { (masked(&key.service_key)) }
                        }
                        div.key-actions {
                            form.inline #reveal-form method="post" action=(action) {
                                (csrf_field(ctx))
                                input type="hidden" name="action" value="reveal";
                                button #reveal-key type="submit" data-show=(ctx.t("deskui-show")) data-hide=(ctx.t("deskui-hide")) {
                                    @if shown.reveal { (ctx.t("deskui-hide")) } @else { (ctx.t("deskui-show")) }
                                }
                            }
                            " "
                            button #copy-key type="button" data-copied=(ctx.t("deskui-copied")) data-failed=(ctx.t("deskui-copy-failed")) {
                                (ctx.t("deskui-copy"))
                            }
                        }
                    }
                }
                form #generate-form method="post" action=(action) data-confirm=(ctx.t("deskui-service-key-confirm")) {
                    (csrf_field(ctx))
                    input type="hidden" name="action" value="generate";
                    button.danger #generate-key type="submit" { (ctx.t("deskui-service-key-regenerate")) }
                    " " small.hint { (ctx.t("deskui-service-key-regenerate-hint")) }
                }
            } @else {
                p.muted #no-service-key { (ctx.t("deskui-service-key-none")) }
                form #generate-form method="post" action=(action) {
                    (csrf_field(ctx))
                    input type="hidden" name="action" value="generate";
                    button.primary #generate-key type="submit" { (ctx.t("deskui-service-key-generate")) }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_key_shows_only_its_last_four_characters() {
        let m = masked("mdgsk_abcdef3f9a");
        assert!(m.ends_with("3f9a"));
        assert!(!m.contains("mdgsk"));
        for s in Section::ALL {
            assert_eq!(Section::parse(s.slug()), Some(*s));
        }
    }
}
