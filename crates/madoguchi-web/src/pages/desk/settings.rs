//! Settings (admins only; D1, D2, D3, D6): departments, members, classifications,
//! accounts, SLAs, contracts, and API — the service key beside the admin's email,
//! hidden until 表示 (show), with copy, generate and generate-a-new-key (confirmed
//! first; the old key stops working at once). Agents get a 403 page for all of them.

use super::{
    csrf_field, fail, field_error, form_alert, form_status, frame_with_status, is_form_error,
    posted, role_label, see_other, table_head, time, DeskAdmin, DeskPage, FormError, Nav,
    FORM_ERROR_STATUS,
};
use crate::pages::PageQuery;
use crate::state::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
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
#[serde(default, rename_all = "camelCase")]
pub struct SettingsForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    name: String,
    email: String,
    role: String,
    classifications: String,
    account_name: String,
    contract_name: String,
    account_id: String,
    sla_id: String,
    /// Settings > API: "generate" or "reveal".
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
    PageQuery(q): PageQuery<SettingsQuery>,
) -> Response {
    let Some(section) = Section::parse(&section) else {
        return fail(&dp.ctx, madoguchi_core::Error::not_found());
    };
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
    let empty = SettingsForm::default();
    let s = Drawn {
        state,
        dp,
        form: shown.form.unwrap_or(&empty),
        err: shown.err,
    };
    let body = match section {
        Section::Departments => departments(&s).await,
        Section::Members => members(&s).await,
        Section::Classifications => classifications(&s).await,
        Section::Accounts => accounts(&s).await,
        Section::Slas => slas(&s).await,
        Section::Contracts => contracts(&s).await,
        Section::Api => api(state, dp, &shown).await,
        Section::Email => super::mail::section(state, dp, None, None, shown.edit).await,
    };
    let status = form_status(s.err.is_some());
    settings_frame(dp, section, body, shown.saved, status)
}

/// The Email section re-rendered with its own form's error (`mail.rs`).
pub(crate) async fn render_email(
    state: &AppState,
    dp: &DeskPage,
    form: Option<&super::mail::MailboxForm>,
    err: Option<&FormError>,
    edit: Option<&str>,
) -> Response {
    let body = super::mail::section(state, dp, form, err, edit).await;
    settings_frame(dp, Section::Email, body, false, FORM_ERROR_STATUS)
}

/// A section's body in the settings frame (its title, the "saved" note), or the error
/// page when the body could not be read.
fn settings_frame(
    dp: &DeskPage,
    section: Section,
    body: Body,
    saved: bool,
    status: StatusCode,
) -> Response {
    let ctx = &dp.ctx;
    let body = match body {
        Ok(b) => b,
        Err(e) => return fail(ctx, e),
    };
    let title = ctx.t(section.label_key());
    let content = html! {
        div.page-head {
            h1 { (ctx.t("deskui-nav-settings")) " › " (title) }
        }
        @if saved {
            p.alert.ok role="status" #saved { (ctx.t("deskui-saved")) }
        }
        div.settings id={ "settings-" (section.slug()) } { (body) }
    };
    frame_with_status(dp, Nav::Settings(section), &title, content, status)
}

type Body = madoguchi_core::Result<Markup>;

/// What a section with a form is drawn from: the page, and the form as posted (or
/// empty) with its error.
struct Drawn<'a> {
    state: &'a AppState,
    dp: &'a DeskPage,
    form: &'a SettingsForm,
    err: Option<&'a FormError>,
}

/// A section whose rows are added by one text field (departments, accounts, SLAs).
struct OneField {
    section: Section,
    heading: &'static str,
    label: &'static str,
    field: &'static str,
    maxlength: &'static str,
}

impl Drawn<'_> {
    fn t(&self, key: &str) -> String {
        self.dp.ctx.t(key)
    }

    /// The add form of a [`OneField`] section, with the posted `value`.
    fn add_form(&self, add: &OneField, value: &str) -> Markup {
        let (ctx, err) = (&self.dp.ctx, self.err);
        html! {
            h2 { (ctx.t(add.heading)) }
            (form_alert(err, &[add.field]))
            form.row method="post" action=(self.dp.href(&format!("/settings/{}", add.section.slug()))) {
                (csrf_field(ctx))
                label { (ctx.t(add.label))
                    input type="text" name=(add.field) value=(value) required maxlength=(add.maxlength);
                    (field_error(err, add.field))
                }
                button.primary type="submit" { (ctx.t("deskui-add")) }
            }
        }
    }

    /// Named rows with their creation time (accounts, SLAs), or "none yet", then the
    /// form that adds one by its name. `rows` are (id, name, created).
    fn named_rows(
        &self,
        add: &OneField,
        list_id: &str,
        rows: &[(&str, &str, &str)],
        value: &str,
    ) -> Markup {
        html! {
            section.card {
                @if rows.is_empty() { p.muted { (self.t("deskui-none-yet")) } } @else {
                    table id=(list_id) {
                        (table_head(&self.dp.ctx, &[add.label, "deskui-field-created"]))
                        tbody { @for (id, name, created) in rows { tr data-id=(id) { td { (name) } td { (time(created)) } } } }
                    }
                }
                (self.add_form(add, value))
            }
        }
    }
}

async fn departments(s: &Drawn<'_>) -> Body {
    let list = s.state.desk.departments(&s.dp.member).await?;
    let add = OneField {
        section: Section::Departments,
        heading: "deskui-department-add",
        label: "deskui-field-name",
        field: "name",
        maxlength: "100",
    };
    Ok(html! {
        section.card {
            p.hint { (s.t("deskui-departments-help")) }
            table #department-list {
                (table_head(&s.dp.ctx, &["deskui-field-name", ""]))
                tbody {
                    @for d in &list {
                        tr data-id=(d.id) {
                            td { (d.name) }
                            td { @if d.is_default { span.badge { (s.t("deskui-default")) } } }
                        }
                    }
                }
            }
            (s.add_form(&add, &s.form.name))
        }
    })
}

async fn members(s: &Drawn<'_>) -> Body {
    let (ctx, dp, form, err) = (&s.dp.ctx, s.dp, s.form, s.err);
    let list = s.state.desk.members(&dp.member).await?;
    Ok(html! {
        section.card {
            table #member-list {
                (table_head(ctx, &["deskui-field-name", "deskui-field-email", "deskui-role", "deskui-joined"]))
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

async fn classifications(s: &Drawn<'_>) -> Body {
    let (ctx, dp, err) = (&s.dp.ctx, s.dp, s.err);
    let list = s.state.desk.classifications(&dp.member).await?;
    let text = if err.is_some() {
        s.form.classifications.clone()
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

async fn accounts(s: &Drawn<'_>) -> Body {
    let list = s.state.desk.accounts(&s.dp.member).await?;
    let rows: Vec<_> = list
        .iter()
        .map(|a| {
            (
                a.id.as_str(),
                a.account_name.as_str(),
                a.created_time.as_str(),
            )
        })
        .collect();
    let add = OneField {
        section: Section::Accounts,
        heading: "deskui-account-add",
        label: "deskui-field-account",
        field: "accountName",
        maxlength: "200",
    };
    Ok(s.named_rows(&add, "account-list", &rows, &s.form.account_name))
}

async fn slas(s: &Drawn<'_>) -> Body {
    let list = s.state.desk.slas(&s.dp.member).await?;
    let rows: Vec<_> = list
        .iter()
        .map(|l| (l.id.as_str(), l.name.as_str(), l.created_time.as_str()))
        .collect();
    let add = OneField {
        section: Section::Slas,
        heading: "deskui-sla-add",
        label: "deskui-field-sla",
        field: "name",
        maxlength: "200",
    };
    Ok(s.named_rows(&add, "sla-list", &rows, &s.form.name))
}

async fn contracts(s: &Drawn<'_>) -> Body {
    let (ctx, dp, form, err) = (&s.dp.ctx, s.dp, s.form, s.err);
    let (list, accounts, slas) = tokio::try_join!(
        s.state.desk.contracts(&dp.member),
        s.state.desk.accounts(&dp.member),
        s.state.desk.slas(&dp.member),
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
                    (table_head(ctx, &["deskui-field-contract", "deskui-field-account", "deskui-field-sla", "deskui-field-created"]))
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
