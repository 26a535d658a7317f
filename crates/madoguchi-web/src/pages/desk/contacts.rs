//! Contacts (D2, D5): the list with a search by name or email, a form to add one, and
//! the contact page with its account, SLA, contract, owner and tickets.

use super::tickets::ticket_table;
use super::{
    after_post, csrf_field, fail, form_alert, form_status, frame_with_status, labelled, table_head,
    time, DeskPage, FormError, Nav, Paging, PostedForm,
};
use crate::pages::PageQuery;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use madoguchi_desk::{
    Account, Contact, ContactFilter, ContactPatch, MemberView, NewContact, TicketFilter,
};
use maud::{html, Markup};
use serde::Deserialize;

crate::pages::forms::posted_forms!(ContactForm);

const CONTACT_FIELDS: [&str; 6] = [
    "firstName",
    "lastName",
    "email",
    "phone",
    "accountId",
    "ownerId",
];

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContactForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    first_name: String,
    last_name: String,
    email: String,
    phone: String,
    account_id: String,
    owner_id: String,
}

/// `GET /desk/{portal}/contacts?q=`.
pub async fn list_page(
    State(state): State<AppState>,
    dp: DeskPage,
    PageQuery(q): PageQuery<ListQuery>,
) -> Response {
    render_list(&state, &dp, &q, &ContactForm::default(), None).await
}

/// `POST /desk/{portal}/contacts`: adds a contact and opens its page.
pub async fn create_contact(
    State(state): State<AppState>,
    dp: DeskPage,
    PostedForm(form): PostedForm<ContactForm>,
) -> Response {
    let new = NewContact {
        first_name: Some(form.first_name.clone()),
        last_name: form.last_name.clone(),
        email: Some(form.email.clone()),
        phone: Some(form.phone.clone()),
        account_id: Some(form.account_id.clone()),
        owner_id: Some(form.owner_id.clone()),
    };
    let done = state.desk.create_contact(&dp.member, &new).await;
    let to = |c: Contact| dp.href(&format!("/contacts/{}", c.id));
    after_post(&dp.ctx, done, to, async |err| {
        render_list(&state, &dp, &ListQuery::default(), &form, Some(&err)).await
    })
    .await
}

/// The page of contacts to show (the Desk store searches by name, email and phone)
/// and whether there are more.
async fn find_contacts(
    state: &AppState,
    dp: &DeskPage,
    q: &str,
    paging: Paging,
) -> madoguchi_core::Result<(Vec<Contact>, bool)> {
    let filter = ContactFilter {
        q: Some(q.to_owned()),
        limit: Some(paging.limit + 1),
        offset: Some(paging.offset),
        ..ContactFilter::default()
    };
    let mut list = state.desk.contacts(&dp.member, &filter).await?;
    let more = list.len() as i64 > paging.limit;
    list.truncate(paging.limit as usize);
    Ok((list, more))
}

async fn render_list(
    state: &AppState,
    dp: &DeskPage,
    q: &ListQuery,
    form: &ContactForm,
    err: Option<&FormError>,
) -> Response {
    let ctx = &dp.ctx;
    let paging = Paging::from_query(q.limit.as_deref(), q.offset.as_deref());
    let search = q.q.clone().unwrap_or_default();
    let loaded = tokio::try_join!(
        find_contacts(state, dp, &search, paging),
        state.desk.accounts(&dp.member),
        state.desk.members(&dp.member),
    );
    let ((contacts, more), accounts, members) = match loaded {
        Ok(v) => v,
        Err(e) => return fail(ctx, e),
    };
    let title = ctx.t("deskui-contacts-title");
    let keep = [("q", search.trim().to_owned())];
    let content = html! {
        div.page-head {
            h1 { (title) }
            div.spacer {}
            a.button.primary href="#create-contact" { "＋ " (ctx.t("deskui-contact-create")) }
        }
        form.filters.row role="search" method="get" action=(dp.href("/contacts")) {
            label { (ctx.t("deskui-contact-search"))
                input type="search" name="q" value=(search) maxlength="200" placeholder=(ctx.t("deskui-contact-search-placeholder"));
            }
            div.filter-actions {
                button type="submit" { (ctx.t("deskui-search")) }
                @if !search.trim().is_empty() {
                    " " a href=(dp.href("/contacts")) { (ctx.t("deskui-filter-clear")) }
                }
            }
        }
        @if contacts.is_empty() {
            p.card.muted #no-contacts {
                @if search.trim().is_empty() && paging.offset == 0 { (ctx.t("deskui-contacts-empty")) }
                @else { (ctx.t("deskui-contacts-none-match")) }
            }
        } @else {
            table #contact-list {
                (table_head(ctx, &["deskui-field-name", "deskui-field-email", "deskui-field-phone", "deskui-field-account", "deskui-field-owner", "deskui-field-created"]))
                tbody {
                    @for c in &contacts {
                        tr data-contact-id=(c.id) {
                            td { a href=(dp.href(&format!("/contacts/{}", c.id))) { strong { (c.name) } } }
                            td { (c.email.as_deref().unwrap_or("")) }
                            td { (c.phone.as_deref().unwrap_or("")) }
                            td { (c.account_name.as_deref().unwrap_or("")) }
                            td { (c.owner_name.as_deref().unwrap_or("")) }
                            td.time { (time(&c.created_time)) }
                        }
                    }
                }
            }
        }
        (paging.pager(ctx, &dp.href("/contacts"), &keep, contacts.len(), more))
        section.card #create-contact {
            h2 { (ctx.t("deskui-contact-create")) }
            (contact_form(dp, &dp.href("/contacts"), form, err, &accounts, &members, &ctx.t("deskui-contact-create")))
        }
    };
    let status = form_status(err.is_some());
    frame_with_status(dp, Nav::Contacts, &title, content, status)
}

#[derive(Debug, Default, Deserialize)]
pub struct ContactQuery {
    saved: Option<String>,
}

/// `GET /desk/{portal}/contacts/{id}`.
pub async fn contact_page(
    State(state): State<AppState>,
    dp: DeskPage,
    Path((_, id)): Path<(String, String)>,
    PageQuery(q): PageQuery<ContactQuery>,
) -> Result<Response, Response> {
    let contact = load_contact(&state, &dp, &id).await?;
    let saved = q.saved.is_some();
    Ok(render_contact(&state, &dp, &contact, None, saved).await)
}

async fn load_contact(state: &AppState, dp: &DeskPage, id: &str) -> Result<Contact, Response> {
    let contact = state.desk.contact(&dp.member, id).await;
    contact.map_err(|e| fail(&dp.ctx, e))
}

/// `POST /desk/{portal}/contacts/{id}`: the edit form; back to the page.
pub async fn update_contact(
    State(state): State<AppState>,
    dp: DeskPage,
    Path((_, id)): Path<(String, String)>,
    PostedForm(form): PostedForm<ContactForm>,
) -> Result<Response, Response> {
    let contact = load_contact(&state, &dp, &id).await?;
    let opt = |v: &str| Some(Some(v.trim().to_owned()).filter(|v| !v.is_empty()));
    let patch = ContactPatch {
        first_name: opt(&form.first_name),
        last_name: Some(form.last_name.clone()),
        email: opt(&form.email),
        phone: opt(&form.phone),
        account_id: opt(&form.account_id),
        owner_id: opt(&form.owner_id),
    };
    let done = state
        .desk
        .patch_contact(&dp.member, &contact.id, &patch)
        .await;
    let to = |c: Contact| dp.href(&format!("/contacts/{}?saved=1", c.id));
    let again = async |err| render_contact(&state, &dp, &contact, Some((&form, &err)), false).await;
    Ok(after_post(&dp.ctx, done, to, again).await)
}

async fn render_contact(
    state: &AppState,
    dp: &DeskPage,
    contact: &Contact,
    failed: Option<(&ContactForm, &FormError)>,
    saved: bool,
) -> Response {
    let ctx = &dp.ctx;
    let filter = TicketFilter {
        contact_id: Some(contact.id.clone()),
        limit: Some(100),
        ..TicketFilter::default()
    };
    let loaded = tokio::try_join!(
        state.desk.tickets(&dp.member, &filter),
        state.desk.accounts(&dp.member),
        state.desk.members(&dp.member),
    );
    let (tickets, accounts, members) = match loaded {
        Ok(v) => v,
        Err(e) => return fail(ctx, e),
    };
    let current = ContactForm {
        csrf: String::new(),
        first_name: contact.first_name.clone().unwrap_or_default(),
        last_name: contact.last_name.clone(),
        email: contact.email.clone().unwrap_or_default(),
        phone: contact.phone.clone().unwrap_or_default(),
        account_id: contact.account_id.clone().unwrap_or_default(),
        owner_id: contact.owner_id.clone().unwrap_or_default(),
    };
    let (form, err) = match failed {
        Some((f, e)) => (f, Some(e)),
        None => (&current, None),
    };
    let dash = || html! { span.muted { "—" } };
    let content = html! {
        div.page-head {
            div {
                h1 #contact-name { (contact.name) }
                @if let Some(e) = &contact.email { p.muted { a href={ "mailto:" (e) } { (e) } } }
            }
            div.spacer {}
            a.button.primary href=(dp.href(&format!("/tickets/new?contactId={}", contact.id))) { "＋ " (ctx.t("deskui-ticket-new")) }
        }
        @if saved {
            p.alert.ok role="status" #saved { (ctx.t("deskui-saved")) }
        }
        section.card #contact-facts {
            dl.facts {
                dt { (ctx.t("deskui-field-email")) } dd { @match &contact.email { Some(e) => (e), None => (dash()) } }
                dt { (ctx.t("deskui-field-phone")) } dd { @match &contact.phone { Some(p) => (p), None => (dash()) } }
                dt { (ctx.t("deskui-field-account")) } dd #contact-account { @match &contact.account_name { Some(a) => (a), None => (dash()) } }
                dt { (ctx.t("deskui-field-sla")) } dd #contact-sla { @match &contact.sla_name { Some(s) => (s), None => (dash()) } }
                dt { (ctx.t("deskui-field-contract")) } dd #contact-contract { @match &contact.contract_name { Some(k) => (k), None => (dash()) } }
                dt { (ctx.t("deskui-field-owner")) } dd #contact-owner { @match &contact.owner_name { Some(o) => (o), None => (dash()) } }
                dt { (ctx.t("deskui-field-created")) } dd { (time(&contact.created_time)) }
            }
            details #contact-edit open[err.is_some()] {
                summary { (ctx.t("deskui-contact-edit")) }
                (contact_form(dp, &dp.href(&format!("/contacts/{}", contact.id)), form, err, &accounts, &members, &ctx.t("deskui-save")))
            }
        }
        h2 { (ctx.t("deskui-contact-tickets")) " " span.muted.count { "(" (tickets.len()) ")" } }
        @if tickets.is_empty() {
            p.card.muted { (ctx.t("deskui-contact-no-tickets")) }
        } @else {
            (ticket_table(dp, &tickets, "contact-tickets"))
        }
    };
    let status = form_status(err.is_some());
    frame_with_status(dp, Nav::Contacts, &contact.name, content, status)
}

/// The contact fields (add and edit), posted to `action`.
fn contact_form(
    dp: &DeskPage,
    action: &str,
    form: &ContactForm,
    err: Option<&FormError>,
    accounts: &[Account],
    members: &[MemberView],
    submit: &str,
) -> Markup {
    let ctx = &dp.ctx;
    html! {
        (form_alert(err, &CONTACT_FIELDS))
        form.stack method="post" action=(action) {
            (csrf_field(ctx))
            div.row {
                (labelled(dp, "deskui-field-last-name", "lastName", err, html! {
                    input type="text" name="lastName" value=(form.last_name) required maxlength="200";
                }))
                (labelled(dp, "deskui-field-first-name", "firstName", err, html! {
                    input type="text" name="firstName" value=(form.first_name) maxlength="200";
                }))
            }
            div.row {
                (labelled(dp, "deskui-field-email", "email", err, html! {
                    input type="email" name="email" value=(form.email) autocomplete="off";
                }))
                (labelled(dp, "deskui-field-phone", "phone", err, html! {
                    input type="tel" name="phone" value=(form.phone) maxlength="50";
                }))
            }
            div.row {
                (labelled(dp, "deskui-field-account", "accountId", err, html! {
                    select name="accountId" {
                        option value="" { "—" }
                        @for a in accounts {
                            option value=(a.id) selected[a.id == form.account_id] { (a.account_name) }
                        }
                    }
                }))
                (labelled(dp, "deskui-field-owner", "ownerId", err, html! {
                    select name="ownerId" {
                        option value="" { "—" }
                        @for m in members {
                            option value=(m.id) selected[m.id == form.owner_id] { (m.name) }
                        }
                    }
                }))
            }
            button.primary type="submit" { (submit) }
        }
    }
}
