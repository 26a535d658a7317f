//! Settings > Channels > Email (設定 > チャネル > メール; SPEC E1): the portal's
//! mailboxes with their state (last fetched, last error), a form to add one and the
//! same form to edit one (`?edit={id}`; posted back, like every settings form; a
//! password left blank is kept), delete, and "Test connection", which
//! `/assets/desk-mail.js` runs through the JSON API and shows per server.

use super::{
    after_post, csrf_field, field_error, form_alert, see_other, table_head, time, DeskAdmin,
    DeskPage, FormError, PostedForm,
};
use crate::pages::forms::CsrfForm;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use madoguchi_desk::mail::{ImapInput, SmtpInput};
use madoguchi_desk::MailboxInput;
use maud::{html, Markup};
use serde::Deserialize;

crate::pages::forms::posted_forms!(MailboxForm);

/// The add-a-mailbox form.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MailboxForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    address: String,
    display_name: String,
    department_id: String,
    acknowledge: Option<String>,
    imap_host: String,
    imap_port: String,
    imap_security: String,
    imap_username: String,
    imap_password: String,
    imap_folder: String,
    smtp_host: String,
    smtp_port: String,
    smtp_security: String,
    smtp_username: String,
    smtp_password: String,
}

impl MailboxForm {
    /// The edit form of `m` (passwords are never shown: blank keeps them).
    fn of(m: &madoguchi_desk::Mailbox) -> Self {
        Self {
            address: m.address.clone(),
            display_name: m.display_name.clone(),
            department_id: m.department_id.clone().unwrap_or_default(),
            acknowledge: m.acknowledge.then(|| "1".to_owned()),
            imap_host: m.imap.host.clone(),
            imap_port: m.imap.port.to_string(),
            imap_security: m.imap.security.as_str().to_owned(),
            imap_username: m.imap.username.clone(),
            imap_folder: m.imap.folder.clone(),
            smtp_host: m.smtp.host.clone(),
            smtp_port: m.smtp.port.to_string(),
            smtp_security: m.smtp.security.as_str().to_owned(),
            smtp_username: m.smtp.username.clone().unwrap_or_default(),
            ..Self::default()
        }
    }

    /// The PATCH of the edit form: a blank password keeps the stored one, a blank SMTP
    /// username clears it.
    fn patch(&self) -> MailboxInput {
        let mut input = self.input();
        if let Some(smtp) = input.smtp.as_mut() {
            smtp.username = Some(self.smtp_username.trim().to_owned());
            smtp.password = Some(self.smtp_password.clone()).filter(|p| !p.is_empty());
        }
        if let Some(imap) = input.imap.as_mut() {
            imap.password = Some(self.imap_password.clone()).filter(|p| !p.is_empty());
        }
        input
    }
}

fn port(s: &str) -> Option<i64> {
    s.trim().parse().ok()
}

impl MailboxForm {
    fn input(&self) -> MailboxInput {
        let opt = |s: &str| Some(s.trim().to_owned()).filter(|v| !v.is_empty());
        MailboxInput {
            address: Some(self.address.clone()),
            display_name: Some(self.display_name.clone()),
            department_id: Some(opt(&self.department_id)),
            acknowledge: Some(self.acknowledge.is_some()),
            imap: Some(ImapInput {
                host: Some(self.imap_host.clone()),
                port: port(&self.imap_port),
                security: Some(self.imap_security.clone()),
                username: Some(self.imap_username.clone()),
                password: Some(self.imap_password.clone()),
                folder: opt(&self.imap_folder),
            }),
            smtp: Some(SmtpInput {
                host: Some(self.smtp_host.clone()),
                port: port(&self.smtp_port),
                security: Some(self.smtp_security.clone()),
                username: opt(&self.smtp_username),
                password: opt(&self.smtp_password),
            }),
        }
    }
}

fn security_select(dp: &DeskPage, name: &str, value: &str) -> Markup {
    let ctx = &dp.ctx;
    html! {
        select name=(name) {
            @for (v, key) in [("none", "deskui-mail-security-none"), ("starttls", "deskui-mail-security-starttls"), ("tls", "deskui-mail-security-tls")] {
                option value=(v) selected[value == v] { (ctx.t(key)) }
            }
        }
    }
}

/// The body of the Email section; `edit` names the mailbox whose form is shown.
pub(crate) async fn section(
    state: &AppState,
    dp: &DeskPage,
    form: Option<&MailboxForm>,
    err: Option<&FormError>,
    edit: Option<&str>,
) -> madoguchi_core::Result<Markup> {
    let ctx = &dp.ctx;
    let list = state.desk.mailboxes(&dp.member).await?;
    let departments = state.desk.departments(&dp.member).await?;
    let editing = match edit {
        Some(id) => Some(
            list.iter()
                .find(|m| m.id == id)
                .ok_or_else(madoguchi_core::Error::not_found)?,
        ),
        None => None,
    };
    let empty = match editing {
        Some(m) => MailboxForm::of(m),
        None => MailboxForm {
            imap_port: "993".into(),
            imap_security: "tls".into(),
            smtp_port: "587".into(),
            smtp_security: "starttls".into(),
            ..MailboxForm::default()
        },
    };
    let f = form.unwrap_or(&empty);
    let action = match editing {
        Some(m) => dp.href(&format!("/settings/email/mailboxes/{}", m.id)),
        None => dp.href("/settings/email/mailboxes"),
    };
    let api = format!("/desk/api/v1/portals/{}/mailboxes", dp.portal.portal_name);
    let fields = [
        "address",
        "displayName",
        "imap",
        "imap.host",
        "imap.port",
        "imap.security",
        "imap.username",
        "imap.password",
        "imap.folder",
        "smtp",
        "smtp.host",
        "smtp.port",
        "smtp.security",
        "smtp.username",
        "smtp.password",
        "departmentId",
    ];
    Ok(html! {
        (crate::assets::script("desk-mail.js"))
        section.card #mailboxes data-api=(api) {
            p.hint { (ctx.t("deskui-mail-help")) }
            @if list.is_empty() {
                p.muted #no-mailboxes { (ctx.t("deskui-mail-none")) }
            } @else {
                table #mailbox-list {
                    (table_head(ctx, &["deskui-mail-address", "deskui-mail-servers", "deskui-mail-state", "deskui-mail-last-fetch", ""]))
                    tbody {
                        @for m in &list {
                            tr.mailbox data-id=(m.id) data-state=(m.status.state) {
                                td { strong { (m.display_name) } br; code { (m.address) } }
                                td.small {
                                    "IMAP " (m.imap.host) ":" (m.imap.port) " (" (m.imap.security.as_str()) ")" br;
                                    "SMTP " (m.smtp.host) ":" (m.smtp.port) " (" (m.smtp.security.as_str()) ")"
                                }
                                td {
                                    @let key = match m.status.state.as_str() { "ok" => "deskui-mail-state-ok", "error" => "deskui-mail-state-error", _ => "deskui-mail-state-pending" };
                                    span class={ "badge " (m.status.state) } { (ctx.t(key)) }
                                    @if let Some(e) = &m.status.error { br; small.field-error.mailbox-error { (e) } }
                                }
                                td { @match &m.status.last_fetch_at { Some(at) => (time(at)), None => "—" } }
                                td.actions {
                                    button.test-connection type="button" data-id=(m.id) { (ctx.t("deskui-mail-test")) }
                                    a.button.edit-mailbox href=(dp.href(&format!("/settings/email?edit={}", m.id))) { (ctx.t("deskui-mail-edit")) }
                                    form.inline method="post" action=(dp.href(&format!("/settings/email/mailboxes/{}/delete", m.id))) {
                                        (csrf_field(ctx))
                                        button.danger type="submit" { (ctx.t("deskui-mail-delete")) }
                                    }
                                    div.test-result hidden {}
                                }
                            }
                        }
                    }
                }
            }
            h2 #mailbox-form-title { (ctx.t(if editing.is_some() { "deskui-mail-edit-title" } else { "deskui-mail-add" })) }
            (form_alert(err, &fields))
            form.stack #mailbox-form method="post" action=(action) data-editing=[editing.map(|m| m.id.as_str())] {
                (csrf_field(ctx))
                div.row {
                    label { (ctx.t("deskui-mail-address")) input type="email" name="address" value=(f.address) required; (field_error(err, "address")) }
                    label { (ctx.t("deskui-mail-display-name")) input type="text" name="displayName" value=(f.display_name) required maxlength="255"; (field_error(err, "displayName")) }
                    label { (ctx.t("deskui-field-department"))
                        select name="departmentId" {
                            option value="" { "—" }
                            @for d in &departments { option value=(d.id) selected[f.department_id == d.id] { (d.name) } }
                        }
                    }
                }
                fieldset {
                    legend { (ctx.t("deskui-mail-imap")) }
                    div.row {
                        label { (ctx.t("deskui-mail-host")) input type="text" name="imapHost" value=(f.imap_host) required; (field_error(err, "imap.host")) }
                        label { (ctx.t("deskui-mail-port")) input type="number" name="imapPort" value=(f.imap_port) min="1" max="65535" required; (field_error(err, "imap.port")) }
                        label { (ctx.t("deskui-mail-security")) (security_select(dp, "imapSecurity", &f.imap_security)) (field_error(err, "imap.security")) }
                    }
                    div.row {
                        label { (ctx.t("deskui-mail-username")) input type="text" name="imapUsername" value=(f.imap_username) required; (field_error(err, "imap.username")) }
                        label { (ctx.t("deskui-mail-password")) input type="password" name="imapPassword" autocomplete="new-password" required[editing.is_none()] placeholder=[editing.map(|_| ctx.t("deskui-mail-password-keep"))]; (field_error(err, "imap.password")) }
                        label { (ctx.t("deskui-mail-folder")) input type="text" name="imapFolder" value=(f.imap_folder) placeholder="INBOX"; }
                    }
                }
                fieldset {
                    legend { (ctx.t("deskui-mail-smtp")) }
                    div.row {
                        label { (ctx.t("deskui-mail-host")) input type="text" name="smtpHost" value=(f.smtp_host) required; (field_error(err, "smtp.host")) }
                        label { (ctx.t("deskui-mail-port")) input type="number" name="smtpPort" value=(f.smtp_port) min="1" max="65535" required; (field_error(err, "smtp.port")) }
                        label { (ctx.t("deskui-mail-security")) (security_select(dp, "smtpSecurity", &f.smtp_security)) }
                    }
                    div.row {
                        label { (ctx.t("deskui-mail-username")) input type="text" name="smtpUsername" value=(f.smtp_username); }
                        label { (ctx.t("deskui-mail-password")) input type="password" name="smtpPassword" autocomplete="new-password" placeholder=[editing.map(|_| ctx.t("deskui-mail-password-keep"))]; }
                    }
                }
                label.check { input type="checkbox" name="acknowledge" value="1" checked[f.acknowledge.is_some()]; " " (ctx.t("deskui-mail-acknowledge")) }
                div.row {
                    @if editing.is_some() {
                        button.primary type="submit" { (ctx.t("deskui-save")) }
                        a.button href=(dp.href("/settings/email")) { (ctx.t("deskui-mail-cancel")) }
                    } @else {
                        button.primary type="submit" { (ctx.t("deskui-add")) }
                    }
                }
            }
        }
    })
}

/// The Email section saying "saved".
fn saved_path(dp: &DeskPage) -> String {
    dp.href("/settings/email?saved=1")
}

/// `POST /desk/{portal}/settings/email/mailboxes`: adds a mailbox.
pub async fn create_mailbox(
    State(state): State<AppState>,
    DeskAdmin(dp): DeskAdmin,
    PostedForm(form): PostedForm<MailboxForm>,
) -> Response {
    let done = state.desk.create_mailbox(&dp.member, &form.input()).await;
    after_post(
        &dp.ctx,
        done,
        |_| saved_path(&dp),
        async |err| super::settings::render_email(&state, &dp, Some(&form), Some(&err), None).await,
    )
    .await
}

/// `POST /desk/{portal}/settings/email/mailboxes/{id}`: saves the edit form.
pub async fn update_mailbox(
    State(state): State<AppState>,
    DeskAdmin(dp): DeskAdmin,
    Path((_, id)): Path<(String, String)>,
    PostedForm(form): PostedForm<MailboxForm>,
) -> Response {
    let done = state
        .desk
        .patch_mailbox(&dp.member, &id, &form.patch())
        .await;
    after_post(
        &dp.ctx,
        done,
        |_| saved_path(&dp),
        async |err| {
            super::settings::render_email(&state, &dp, Some(&form), Some(&err), Some(&id)).await
        },
    )
    .await
}

/// `POST /desk/{portal}/settings/email/mailboxes/{id}/delete`.
pub async fn delete_mailbox(
    State(state): State<AppState>,
    DeskAdmin(dp): DeskAdmin,
    Path((_, id)): Path<(String, String)>,
    _csrf: PostedForm<CsrfForm>,
) -> Response {
    match state.desk.delete_mailbox(&dp.member, &id).await {
        Ok(_) => see_other(&dp.href("/settings/email?saved=1")),
        Err(e) => super::fail(&dp.ctx, e),
    }
}
