//! Tickets (D3–D5): the list with filters and paging (the portal's home page), the new
//! ticket form, and the ticket page — the deep link of every ticket's `webUrl` — with
//! its fields, an edit form, the threads (replies, notes, chat transcripts read like a
//! chat), the reply/note form and the history.

use super::{
    after_post, channel_label, classification_label, csrf_field, fail, field_error, form_alert,
    form_status, frame, frame_with_status, labelled, priority_label, see_other, status_badge,
    status_label, time, DeskPage, FormError, Nav, Paging, PostedForm,
};
use crate::pages::forms::CsrfForm;
use crate::pages::PageQuery;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use madoguchi_desk::{
    Channel, ChatThread, Contact, ContactFilter, Department, HistoryEntry, MemberView, NewThread,
    NewTicket, Priority, TextThread, Thread, ThreadKind, Ticket, TicketFilter, TicketPatch,
    TicketStatus,
};
use maud::{html, Markup};
use serde::Deserialize;

crate::pages::forms::posted_forms!(NewTicketForm, EditForm, ThreadForm);

// ---------------------------------------------------------------------------------
// The list

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    status: Option<String>,
    department_id: Option<String>,
    assignee_id: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

/// `GET /desk/{portal}/tickets` is the list too (the canonical address is the portal's).
pub async fn list_redirect(Path(portal): Path<String>) -> Response {
    see_other(&format!("/desk/{portal}"))
}

/// `GET /desk/{portal}`: the ticket list, newest first.
pub async fn list_page(
    State(state): State<AppState>,
    dp: DeskPage,
    PageQuery(q): PageQuery<ListQuery>,
) -> Response {
    let paging = Paging::from_query(q.limit.as_deref(), q.offset.as_deref());
    let status = q.status.as_deref().and_then(TicketStatus::parse);
    let department_id = q.department_id.clone().unwrap_or_default();
    let assignee = q.assignee_id.clone().unwrap_or_default();
    let assignee_id = if assignee == "me" {
        dp.member.user_id.clone()
    } else {
        assignee.clone()
    };
    let filter = TicketFilter {
        status,
        department_id: Some(department_id.clone()).filter(|s| !s.is_empty()),
        assignee_id: Some(assignee_id).filter(|s| !s.is_empty()),
        limit: Some(paging.limit + 1),
        offset: Some(paging.offset),
        ..TicketFilter::default()
    };
    let loaded = tokio::try_join!(
        state.desk.tickets(&dp.member, &filter),
        state.desk.departments(&dp.member),
        state.desk.members(&dp.member),
    );
    let (mut tickets, departments, members) = match loaded {
        Ok(v) => v,
        Err(e) => return fail(&dp.ctx, e),
    };
    let more = tickets.len() as i64 > paging.limit;
    tickets.truncate(paging.limit as usize);
    let keep = [
        (
            "status",
            status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        ),
        ("departmentId", department_id.clone()),
        ("assigneeId", assignee.clone()),
    ];
    let filtered = keep.iter().any(|(_, v)| !v.is_empty());
    let ctx = &dp.ctx;
    let title = ctx.t("deskui-tickets-title");
    let content = html! {
        div.page-head {
            h1 { (title) }
            div.spacer {}
            a.button.primary href=(dp.href("/tickets/new")) { "＋ " (ctx.t("deskui-ticket-new")) }
        }
        form.filters.row method="get" action=(dp.href("")) {
            label { (ctx.t("deskui-field-status"))
                select name="status" data-autosubmit {
                    option value="" { (ctx.t("deskui-all")) }
                    @for s in TicketStatus::ALL {
                        option value=(s.as_str()) selected[status == Some(*s)] { (status_label(ctx, *s)) }
                    }
                }
            }
            label { (ctx.t("deskui-field-department"))
                select name="departmentId" data-autosubmit {
                    option value="" { (ctx.t("deskui-all")) }
                    @for d in &departments {
                        option value=(d.id) selected[d.id == department_id] { (d.name) }
                    }
                }
            }
            label { (ctx.t("deskui-field-assignee"))
                select name="assigneeId" data-autosubmit {
                    option value="" { (ctx.t("deskui-all")) }
                    option value="me" selected[assignee == "me"] { (ctx.t("deskui-me")) }
                    @for m in &members {
                        option value=(m.id) selected[m.id == assignee] { (m.name) }
                    }
                }
            }
            div.filter-actions {
                button type="submit" { (ctx.t("deskui-filter")) }
                @if filtered {
                    " " a href=(dp.href("")) { (ctx.t("deskui-filter-clear")) }
                }
            }
        }
        @if tickets.is_empty() {
            p.card.muted #no-tickets {
                @if filtered || paging.offset > 0 { (ctx.t("deskui-tickets-none-match")) }
                @else { (ctx.t("deskui-tickets-empty")) }
            }
        } @else {
            (ticket_table(&dp, &tickets, "ticket-list"))
        }
        (paging.pager(ctx, &dp.href(""), &keep, tickets.len(), more))
    };
    frame(&dp, Nav::Tickets, &title, content)
}

/// A table of tickets with the list's columns.
pub(crate) fn ticket_table(dp: &DeskPage, tickets: &[Ticket], id: &str) -> Markup {
    let ctx = &dp.ctx;
    html! {
        table.tickets id=(id) {
            thead { tr {
                th.num { (ctx.t("deskui-field-ticket-number")) }
                th { (ctx.t("deskui-field-subject")) }
                th { (ctx.t("deskui-field-contact")) }
                th { (ctx.t("deskui-field-status")) }
                th { (ctx.t("deskui-field-priority")) }
                th { (ctx.t("deskui-field-department")) }
                th { (ctx.t("deskui-field-assignee")) }
                th { (ctx.t("deskui-field-modified")) }
            } }
            tbody {
                @for t in tickets {
                    @let href = dp.href(&format!("/tickets/{}", t.ticket_number));
                    tr data-ticket-number=(t.ticket_number) {
                        td.num { a href=(href) { "#" (t.ticket_number) } }
                        td.subject { a href=(href) { (t.subject) } }
                        td {
                            @if let (Some(id), Some(name)) = (&t.contact_id, &t.contact_name) {
                                a href=(dp.href(&format!("/contacts/{id}"))) { (name) }
                            } @else { span.muted { "—" } }
                        }
                        td { (status_badge(ctx, t.status)) }
                        td { span class={ "priority " (t.priority.as_str().to_ascii_lowercase()) } { (priority_label(ctx, t.priority)) } }
                        td { (t.department_name.as_deref().unwrap_or("—")) }
                        td { @if let Some(a) = &t.assignee_name { (a) } @else { span.muted { (ctx.t("deskui-unassigned")) } } }
                        td.time { (time(&t.modified_time)) }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// A new ticket

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NewTicketForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    subject: String,
    description: String,
    contact_id: String,
    contact_email: String,
    department_id: String,
    status: String,
    priority: String,
    classification: String,
    channel: String,
    assignee_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTicketQuery {
    contact_id: Option<String>,
}

/// `GET /desk/{portal}/tickets/new` (`?contactId=` from a contact's page).
pub async fn new_ticket_page(
    State(state): State<AppState>,
    dp: DeskPage,
    PageQuery(q): PageQuery<NewTicketQuery>,
) -> Response {
    let form = NewTicketForm {
        contact_id: q.contact_id.unwrap_or_default(),
        ..NewTicketForm::default()
    };
    render_new(&state, &dp, &form, None).await
}

/// `POST /desk/{portal}/tickets`: creates the ticket and opens its page.
pub async fn create_ticket(
    State(state): State<AppState>,
    dp: DeskPage,
    PostedForm(form): PostedForm<NewTicketForm>,
) -> Response {
    let new = match new_ticket(&state, &dp, &form).await {
        Ok(new) => new,
        Err(err) => return render_new(&state, &dp, &form, Some(&err)).await,
    };
    let done = state.desk.create_ticket(&dp.member, &new).await;
    let to = |t: Ticket| dp.href(&format!("/tickets/{}", t.ticket_number));
    after_post(&dp.ctx, done, to, async |err| {
        render_new(&state, &dp, &form, Some(&err)).await
    })
    .await
}

/// A choice from a menu: empty is none; anything not on the menu names its field.
fn choice<T>(
    dp: &DeskPage,
    field: &str,
    value: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>, FormError> {
    match value.trim() {
        "" => Ok(None),
        v => parse(v)
            .map(Some)
            .ok_or_else(|| FormError::field(field, dp.t("deskui-error-choice"))),
    }
}

async fn new_ticket(
    state: &AppState,
    dp: &DeskPage,
    form: &NewTicketForm,
) -> Result<NewTicket, FormError> {
    let contact_id = if !form.contact_id.trim().is_empty() {
        Some(form.contact_id.trim().to_owned())
    } else if !form.contact_email.trim().is_empty() {
        match state
            .desk
            .contact_by_email(&dp.member, &form.contact_email)
            .await
        {
            Ok(Some(c)) => Some(c.id),
            Ok(None) => {
                return Err(FormError::field(
                    "contactEmail",
                    dp.t("deskui-error-contact-email-unknown"),
                ))
            }
            Err(e) => return Err(FormError::new(&dp.ctx, &e)),
        }
    } else {
        None
    };
    Ok(NewTicket {
        subject: form.subject.clone(),
        description: Some(form.description.clone()),
        department_id: Some(form.department_id.clone()),
        contact_id,
        status: choice(dp, "status", &form.status, TicketStatus::parse)?,
        priority: choice(dp, "priority", &form.priority, Priority::parse)?,
        classification: Some(form.classification.clone()),
        channel: choice(dp, "channel", &form.channel, Channel::parse)?,
        assignee_id: Some(form.assignee_id.clone()),
    })
}

async fn render_new(
    state: &AppState,
    dp: &DeskPage,
    form: &NewTicketForm,
    err: Option<&FormError>,
) -> Response {
    let ctx = &dp.ctx;
    let recent = ContactFilter {
        limit: Some(200),
        ..ContactFilter::default()
    };
    let loaded = tokio::try_join!(
        state.desk.departments(&dp.member),
        state.desk.members(&dp.member),
        state.desk.classifications(&dp.member),
        state.desk.contacts(&dp.member, &recent),
    );
    let (departments, members, classifications, contacts) = match loaded {
        Ok(v) => v,
        Err(e) => return fail(ctx, e),
    };
    let chosen_contact: Option<&Contact> = contacts.iter().find(|c| c.id == form.contact_id);
    let fields = [
        "subject",
        "description",
        "contactId",
        "contactEmail",
        "departmentId",
        "status",
        "priority",
        "classification",
        "channel",
        "assigneeId",
    ];
    let title = ctx.t("deskui-ticket-new");
    let content = html! {
        h1 { (title) }
        section.card #new-ticket {
            (form_alert(err, &fields))
            form.stack method="post" action=(dp.href("/tickets")) {
                (csrf_field(ctx))
                label { (ctx.t("deskui-field-subject"))
                    input type="text" name="subject" value=(form.subject) required maxlength="255" autofocus;
                    (field_error(err, "subject"))
                }
                label { (ctx.t("deskui-field-description"))
                    textarea name="description" rows="6" { (form.description) }
                    (field_error(err, "description"))
                }
                @if let Some(c) = chosen_contact {
                    div.field {
                        span.label { (ctx.t("deskui-field-contact")) }
                        input type="hidden" name="contactId" value=(c.id);
                        p { strong { (c.name) } @if let Some(e) = &c.email { " <" (e) ">" } }
                        (field_error(err, "contactId"))
                    }
                } @else {
                    label { (ctx.t("deskui-field-contact-email"))
                        input type="email" name="contactEmail" value=(form.contact_email) list="contact-emails" autocomplete="off";
                        datalist #contact-emails {
                            @for c in &contacts {
                                @if let Some(e) = &c.email { option value=(e) { (c.name) } }
                            }
                        }
                        small.hint { (ctx.t("deskui-contact-email-hint")) " " a href=(dp.href("/contacts#create-contact")) { (ctx.t("deskui-contact-create")) } }
                        (field_error(err, "contactEmail"))
                        (field_error(err, "contactId"))
                    }
                }
                div.row {
                    (labelled(dp, "deskui-field-department", "departmentId", err,
                        department_select(&departments, |d| d.id == form.department_id || (form.department_id.is_empty() && d.is_default))))
                    (labelled(dp, "deskui-field-assignee", "assigneeId", err, assignee_select(dp, &members, &form.assignee_id)))
                }
                div.row {
                    (labelled(dp, "deskui-field-status", "status", err,
                        status_select(dp, if form.status.is_empty() { TicketStatus::default().as_str() } else { &form.status })))
                    (labelled(dp, "deskui-field-priority", "priority", err,
                        priority_select(dp, if form.priority.is_empty() { Priority::default().as_str() } else { &form.priority })))
                    (labelled(dp, "deskui-field-classification", "classification", err,
                        classification_select(dp, &classifications, &form.classification)))
                    (labelled(dp, "deskui-field-channel", "channel", err, html! {
                        select name="channel" {
                            @for c in Channel::ALL {
                                option value=(c.as_str()) selected[c.as_str() == form.channel || (form.channel.is_empty() && *c == Channel::default())] { (channel_label(ctx, *c)) }
                            }
                        }
                    }))
                }
                button.primary type="submit" { (ctx.t("deskui-ticket-create")) }
            }
        }
    };
    let status = form_status(err.is_some());
    frame_with_status(dp, Nav::NewTicket, &title, content, status)
}

fn department_select(departments: &[Department], selected: impl Fn(&Department) -> bool) -> Markup {
    html! {
        select name="departmentId" {
            @for d in departments {
                option value=(d.id) selected[selected(d)] { (d.name) }
            }
        }
    }
}

fn assignee_select(dp: &DeskPage, members: &[MemberView], selected: &str) -> Markup {
    html! {
        select name="assigneeId" {
            option value="" { (dp.t("deskui-unassigned")) }
            @for m in members {
                option value=(m.id) selected[m.id == selected] { (m.name) }
            }
        }
    }
}

fn status_select(dp: &DeskPage, selected: &str) -> Markup {
    html! {
        select name="status" {
            @for s in TicketStatus::ALL {
                option value=(s.as_str()) selected[s.as_str() == selected] { (status_label(&dp.ctx, *s)) }
            }
        }
    }
}

fn priority_select(dp: &DeskPage, selected: &str) -> Markup {
    html! {
        select name="priority" {
            @for p in Priority::ALL {
                option value=(p.as_str()) selected[p.as_str() == selected] { (priority_label(&dp.ctx, *p)) }
            }
        }
    }
}

/// The portal's classifications; a ticket's value that left the list stays choosable.
fn classification_select(dp: &DeskPage, list: &[String], selected: &str) -> Markup {
    let missing = !selected.is_empty() && !list.iter().any(|c| c == selected);
    html! {
        select name="classification" {
            option value="" { "—" }
            @for c in list {
                option value=(c) selected[c == selected] { (classification_label(&dp.ctx, c)) }
            }
            @if missing {
                option value=(selected) selected { (classification_label(&dp.ctx, selected)) }
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// The ticket page

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EditForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    status: String,
    priority: String,
    classification: String,
    department_id: String,
    assignee_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ThreadForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    content: String,
    kind: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct TicketQuery {
    saved: Option<String>,
}

/// What the ticket page shows after a failed post: the submitted form and its error.
enum Failed<'a> {
    None,
    Edit(&'a EditForm, &'a FormError),
    Thread(&'a ThreadForm, &'a FormError),
}

/// `GET /desk/{portal}/tickets/{ticketNumber}`: the deep link of `webUrl`.
pub async fn ticket_page(
    State(state): State<AppState>,
    dp: DeskPage,
    Path((_, number)): Path<(String, String)>,
    PageQuery(q): PageQuery<TicketQuery>,
) -> Result<Response, Response> {
    let ticket = load_ticket(&state, &dp, &number).await?;
    let saved = q.saved.is_some();
    Ok(render_ticket(&state, &dp, ticket, Failed::None, saved).await)
}

async fn load_ticket(state: &AppState, dp: &DeskPage, number: &str) -> Result<Ticket, Response> {
    let Ok(number) = number.trim().trim_start_matches('#').parse::<i64>() else {
        return Err(fail(&dp.ctx, madoguchi_core::Error::not_found()));
    };
    state
        .desk
        .ticket_by_number(&dp.member, number)
        .await
        .map_err(|e| fail(&dp.ctx, e))
}

/// `POST /desk/{portal}/tickets/{ticketNumber}`: status, priority, classification,
/// department and assignee; back to the page.
pub async fn update_ticket(
    State(state): State<AppState>,
    dp: DeskPage,
    Path((_, number)): Path<(String, String)>,
    PostedForm(form): PostedForm<EditForm>,
) -> Result<Response, Response> {
    let ticket = load_ticket(&state, &dp, &number).await?;
    let patch = match edit_patch(&dp, &form) {
        Ok(p) => p,
        Err(err) => {
            return Ok(render_ticket(&state, &dp, ticket, Failed::Edit(&form, &err), false).await)
        }
    };
    let done = state
        .desk
        .patch_ticket(&dp.member, &ticket.id, &patch)
        .await;
    let to = |t: Ticket| dp.href(&format!("/tickets/{}?saved=1", t.ticket_number));
    let again =
        async |err| render_ticket(&state, &dp, ticket, Failed::Edit(&form, &err), false).await;
    Ok(after_post(&dp.ctx, done, to, again).await)
}

fn edit_patch(dp: &DeskPage, form: &EditForm) -> Result<TicketPatch, FormError> {
    let department_id = form.department_id.trim();
    Ok(TicketPatch {
        status: choice(dp, "status", &form.status, TicketStatus::parse)?,
        priority: choice(dp, "priority", &form.priority, Priority::parse)?,
        classification: Some(Some(form.classification.trim().to_owned()).filter(|c| !c.is_empty())),
        department_id: Some(department_id.to_owned()).filter(|d| !d.is_empty()),
        assignee_id: Some(Some(form.assignee_id.trim().to_owned()).filter(|a| !a.is_empty())),
        ..TicketPatch::default()
    })
}

/// `POST /desk/{portal}/tickets/{ticketNumber}/threads`: a reply or a note.
pub async fn add_thread(
    State(state): State<AppState>,
    dp: DeskPage,
    Path((_, number)): Path<(String, String)>,
    PostedForm(form): PostedForm<ThreadForm>,
) -> Result<Response, Response> {
    let ticket = load_ticket(&state, &dp, &number).await?;
    let kind = match form.kind.as_str() {
        "note" => ThreadKind::Note,
        _ => ThreadKind::Reply,
    };
    let new = NewThread {
        kind,
        content: form.content.clone(),
    };
    let done = state.desk.add_thread(&dp.member, &ticket.id, &new).await;
    let number = ticket.ticket_number;
    let to = |thread: Thread| dp.href(&format!("/tickets/{number}#thread-{}", thread.id()));
    let again =
        async |err| render_ticket(&state, &dp, ticket, Failed::Thread(&form, &err), false).await;
    Ok(after_post(&dp.ctx, done, to, again).await)
}

async fn render_ticket(
    state: &AppState,
    dp: &DeskPage,
    ticket: Ticket,
    failed: Failed<'_>,
    saved: bool,
) -> Response {
    let ctx = &dp.ctx;
    let loaded = tokio::try_join!(
        state.desk.threads(&dp.member, &ticket.id),
        state.desk.ticket_history(&dp.member, &ticket.id),
        state.desk.departments(&dp.member),
        state.desk.members(&dp.member),
        state.desk.classifications(&dp.member),
        state.desk.reply_unmailable(&dp.member, &ticket.id),
    );
    let (mut threads, history, departments, members, classifications, unmailable) = match loaded {
        Ok(v) => v,
        Err(e) => return fail(ctx, e),
    };
    madoguchi_desk::localize_threads(&mut threads, ctx.lang);
    let (edit, edit_err) = match &failed {
        Failed::Edit(f, e) => (
            EditForm {
                csrf: String::new(),
                status: f.status.clone(),
                priority: f.priority.clone(),
                classification: f.classification.clone(),
                department_id: f.department_id.clone(),
                assignee_id: f.assignee_id.clone(),
            },
            Some(*e),
        ),
        _ => (
            EditForm {
                csrf: String::new(),
                status: ticket.status.as_str().to_owned(),
                priority: ticket.priority.as_str().to_owned(),
                classification: ticket.classification.clone().unwrap_or_default(),
                department_id: ticket.department_id.clone(),
                assignee_id: ticket.assignee_id.clone().unwrap_or_default(),
            },
            None,
        ),
    };
    let (thread_form, thread_err) = match &failed {
        Failed::Thread(f, e) => ((f.content.as_str(), f.kind.as_str()), Some(*e)),
        _ => (("", "reply"), None),
    };
    let href = dp.href(&format!("/tickets/{}", ticket.ticket_number));
    let title = format!("#{} {}", ticket.ticket_number, ticket.subject);
    let content = html! {
        article.ticket data-ticket-number=(ticket.ticket_number) {
            header.ticket-head {
                div.ticket-title {
                    span.ticket-number title=(ctx.t("deskui-field-ticket-number")) { "#" (ticket.ticket_number) }
                    h1 #ticket-subject { (ticket.subject) }
                    span #ticket-status { (status_badge(ctx, ticket.status)) }
                }
                dl.ticket-facts #ticket-facts {
                    div { dt { (ctx.t("deskui-field-priority")) } dd #ticket-priority { (priority_label(ctx, ticket.priority)) } }
                    div { dt { (ctx.t("deskui-field-classification")) } dd #ticket-classification {
                        @match &ticket.classification { Some(c) => (classification_label(ctx, c)), None => span.muted { "—" } }
                    } }
                    div { dt { (ctx.t("deskui-field-department")) } dd #ticket-department { (ticket.department_name.as_deref().unwrap_or("—")) } }
                    div { dt { (ctx.t("deskui-field-contact")) } dd #ticket-contact {
                        @if let (Some(id), Some(name)) = (&ticket.contact_id, &ticket.contact_name) {
                            a href=(dp.href(&format!("/contacts/{id}"))) { (name) }
                            @if let Some(e) = &ticket.email { " " small.muted { (e) } }
                        } @else { span.muted { "—" } }
                    } }
                    div { dt { (ctx.t("deskui-field-assignee")) } dd #ticket-assignee {
                        @match &ticket.assignee_name { Some(a) => (a), None => span.muted { (ctx.t("deskui-unassigned")) } }
                    } }
                    div { dt { (ctx.t("deskui-field-channel")) } dd #ticket-channel { (channel_label(ctx, ticket.channel)) } }
                    div { dt { (ctx.t("deskui-field-created")) } dd { (time(&ticket.created_time)) } }
                    div { dt { (ctx.t("deskui-field-modified")) } dd { (time(&ticket.modified_time)) } }
                }
            }
            @if saved {
                p.alert.ok role="status" #saved { (ctx.t("deskui-saved")) }
            }
            div.ticket-layout {
                div.ticket-main {
                    section.card.description {
                        h2.sr-only { (ctx.t("deskui-field-description")) }
                        @if ticket.description.is_empty() {
                            p.muted { (ctx.t("deskui-no-description")) }
                        } @else {
                            div.text { (ticket.description) }
                        }
                    }
                    section #threads {
                        h2 { (ctx.t("deskui-threads")) " " span.muted.count { "(" (threads.len()) ")" } }
                        @if threads.is_empty() {
                            p.muted { (ctx.t("deskui-threads-empty")) }
                        }
                        @for thread in &threads {
                            (thread_markup(dp, &href, thread))
                        }
                    }
                    section.card #reply {
                        h2 { (ctx.t("deskui-reply-title")) }
                        @if let Some(why) = unmailable {
                            // E4: said before the reply is written, not after.
                            p.alert.warn #reply-not-mailed data-reason=(match why {
                                madoguchi_desk::Unmailable::NoContactEmail => "no-contact-email",
                                madoguchi_desk::Unmailable::NoMailbox => "no-mailbox",
                            }) {
                                (ctx.t(match why {
                                    madoguchi_desk::Unmailable::NoContactEmail => "deskui-mail-not-mailed-no-email",
                                    madoguchi_desk::Unmailable::NoMailbox => "deskui-mail-not-mailed-no-mailbox",
                                }))
                            }
                        }
                        (form_alert(thread_err, &["content", "kind"]))
                        form.stack method="post" action={ (href) "/threads" } {
                            (csrf_field(ctx))
                            label { span.sr-only { (ctx.t("deskui-field-content")) }
                                textarea name="content" rows="5" required placeholder=(ctx.t("deskui-reply-placeholder")) { (thread_form.0) }
                                (field_error(thread_err, "content"))
                            }
                            div.row.reply-actions {
                                button.primary type="submit" name="kind" value="reply" { (ctx.t("deskui-send-reply")) }
                                button.note type="submit" name="kind" value="note" { (ctx.t("deskui-add-note")) }
                                small.hint { (ctx.t("deskui-note-hint")) }
                            }
                        }
                    }
                }
                aside.ticket-side {
                    section.card #properties {
                        h2 { (ctx.t("deskui-properties")) }
                        (form_alert(edit_err, &["status", "priority", "classification", "departmentId", "assigneeId"]))
                        form.stack #ticket-edit method="post" action=(href) {
                            (csrf_field(ctx))
                            (labelled(dp, "deskui-field-status", "status", edit_err, status_select(dp, &edit.status)))
                            (labelled(dp, "deskui-field-priority", "priority", edit_err, priority_select(dp, &edit.priority)))
                            (labelled(dp, "deskui-field-classification", "classification", edit_err,
                                classification_select(dp, &classifications, &edit.classification)))
                            (labelled(dp, "deskui-field-department", "departmentId", edit_err,
                                department_select(&departments, |d| d.id == edit.department_id)))
                            (labelled(dp, "deskui-field-assignee", "assigneeId", edit_err, assignee_select(dp, &members, &edit.assignee_id)))
                            button.primary type="submit" { (ctx.t("deskui-save")) }
                        }
                    }
                    section.card #history {
                        h2 { (ctx.t("deskui-history")) }
                        ol.history {
                            @for h in history.iter().rev() {
                                li data-field=(h.field) {
                                    (history_text(dp, &ticket, h, &departments, &members))
                                    div.meta {
                                        (time(&h.created_at))
                                        @if let Some(a) = &h.actor_name { " · " (a) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let status = form_status(!matches!(failed, Failed::None));
    frame_with_status(dp, Nav::Tickets, &title, content, status)
}

fn thread_markup(dp: &DeskPage, href: &str, thread: &Thread) -> Markup {
    match thread {
        Thread::Text(t) => text_thread(dp, href, t),
        Thread::Chat(c) => chat_thread(dp, c),
    }
}

fn text_thread(dp: &DeskPage, href: &str, t: &TextThread) -> Markup {
    let ctx = &dp.ctx;
    let (class, label) = match t.kind {
        ThreadKind::Note => ("thread note", ctx.t("deskui-thread-note")),
        ThreadKind::Email => ("thread email", ctx.t("deskui-thread-email")),
        _ => ("thread reply", ctx.t("deskui-thread-reply")),
    };
    html! {
        div class=(class) id={ "thread-" (t.id) } data-kind=(t.kind.as_str())
            data-direction=(t.direction.as_deref().unwrap_or("")) {
            div.thread-head {
                strong { (t.author_name.as_deref().unwrap_or("—")) }
                " " span.badge.kind { (label) }
                @if let Some(d) = &t.delivery {
                    @let key = match d.state.as_str() { "sent" => "deskui-mail-sent", "failed" => "deskui-mail-failed", _ => "deskui-mail-queued" };
                    " " span class={ "badge delivery " (d.state) } data-delivery=(d.state) { (ctx.t(key)) }
                }
                span.spacer {}
                span.meta { (time(&t.created_at)) }
            }
            @if t.from.is_some() || t.to.is_some() {
                div.meta.mail-head {
                    @if let Some(from) = &t.from { span { (ctx.t("deskui-mail-from")) ": " (from) } " " }
                    @if let Some(to) = &t.to { span { (ctx.t("deskui-mail-to")) ": " (to) } " " }
                    @if let Some(subject) = &t.subject { span { (ctx.t("deskui-mail-subject")) ": " (subject) } }
                }
            }
            div.text { (t.content) }
            @if let Some(q) = &t.quoted {
                details.quoted {
                    summary { (ctx.t("deskui-mail-quoted")) }
                    div.text { (q) }
                }
            }
            @if !t.attachments.is_empty() {
                ul.attachments {
                    @for a in &t.attachments {
                        li { a href=(a.url.find("/desk/api").map_or(a.url.as_str(), |i| &a.url[i..])) download=(a.name) { (a.name) } " " small.muted { "(" (a.size) " B)" } }
                    }
                }
            }
            @if let Some(d) = &t.delivery {
                @if d.state == "failed" {
                    form.retry method="post" action={ (href) "/threads/" (t.id) "/retry" } {
                        (csrf_field(ctx))
                        @if let Some(e) = &d.error { p.field-error.delivery-error { (e) } }
                        button type="submit" { (ctx.t("deskui-mail-retry")) }
                    }
                } @else if let Some(e) = &d.error {
                    p.muted.delivery-error { (e) }
                }
            }
        }
    }
}

/// `POST /desk/{portal}/tickets/{ticketNumber}/threads/{threadId}/retry`: sends a
/// failed mail again (E4).
pub async fn retry_mail(
    State(state): State<AppState>,
    dp: DeskPage,
    Path((_, number, thread_id)): Path<(String, String, String)>,
    _csrf: PostedForm<CsrfForm>,
) -> Result<Response, Response> {
    let ticket = load_ticket(&state, &dp, &number).await?;
    let done = state
        .desk
        .retry_mail(&dp.member, &ticket.id, &thread_id)
        .await;
    done.map_err(|e| fail(&dp.ctx, e))?;
    let number = ticket.ticket_number;
    Ok(see_other(
        &dp.href(&format!("/tickets/{number}#thread-{thread_id}")),
    ))
}

/// A chat transcript read like a chat: who said what, when, in bubbles.
fn chat_thread(dp: &DeskPage, c: &ChatThread) -> Markup {
    let ctx = &dp.ctx;
    html! {
        div.thread.chat id={ "thread-" (c.id) } data-kind="chat" data-chat-id=(c.chat_id) {
            div.thread-head {
                strong { (ctx.t("deskui-thread-chat")) }
                " " span.meta { (ctx.t_args("deskui-chat-messages", &[("count", &c.messages.len().to_string())])) }
                span.spacer {}
                span.meta { (time(&c.created_at)) }
            }
            div.transcript {
                @for m in &c.messages {
                    @let sender = match m.sender.as_str() { "visitor" => "visitor", "operator" => "operator", _ => "system" };
                    div class={ "msg " (sender) } data-seq=(m.seq) {
                        @if sender != "system" {
                            div.meta { strong { (m.sender_name) } " · " (time(&m.created_at)) }
                        }
                        div class={ "bubble " (sender) } {
                            @if let Some(a) = &m.attachment {
                                // V3: a file of the chat, kept on the ticket.
                                @let href = a.url.find("/desk/api").map_or(a.url.as_str(), |i| &a.url[i..]);
                                @if madoguchi_chat::attachments::INLINE_IMAGES.contains(&a.content_type.as_str()) {
                                    a.file-thumb href=(href) target="_blank" rel="noopener" title=(a.name) {
                                        img src=(href) alt=(a.name) loading="lazy";
                                    }
                                } @else {
                                    a.file-link href=(href) download=(a.name) { (a.name) } " " small { "(" (a.size) " B)" }
                                }
                            } @else {
                                (m.text)
                            }
                            @if sender == "system" { " · " (time(&m.created_at)) }
                        }
                    }
                }
            }
        }
    }
}

/// One history entry in words: "状態: 未完了 → 完了".
fn history_text(
    dp: &DeskPage,
    ticket: &Ticket,
    h: &HistoryEntry,
    departments: &[Department],
    members: &[MemberView],
) -> Markup {
    let ctx = &dp.ctx;
    let value = |v: &Option<String>| -> String {
        let Some(v) = v else {
            return "—".to_owned();
        };
        match h.field.as_str() {
            "status" => TicketStatus::parse(v).map_or_else(|| v.clone(), |s| status_label(ctx, s)),
            "priority" => Priority::parse(v).map_or_else(|| v.clone(), |p| priority_label(ctx, p)),
            "classification" => classification_label(ctx, v),
            "departmentId" => departments
                .iter()
                .find(|d| &d.id == v)
                .map_or_else(|| ctx.t("deskui-removed"), |d| d.name.clone()),
            "assigneeId" => members
                .iter()
                .find(|m| &m.id == v)
                .map_or_else(|| ctx.t("deskui-removed"), |m| m.name.clone()),
            "contactId" if ticket.contact_id.as_deref() == Some(v) => {
                ticket.contact_name.clone().unwrap_or_default()
            }
            "contactId" => ctx.t("deskui-other-contact"),
            _ => v.clone(),
        }
    };
    let field = match h.field.as_str() {
        "status" => ctx.t("deskui-field-status"),
        "priority" => ctx.t("deskui-field-priority"),
        "classification" => ctx.t("deskui-field-classification"),
        "departmentId" => ctx.t("deskui-field-department"),
        "assigneeId" => ctx.t("deskui-field-assignee"),
        "contactId" => ctx.t("deskui-field-contact"),
        "subject" => ctx.t("deskui-field-subject"),
        "description" => ctx.t("deskui-field-description"),
        other => other.to_owned(),
    };
    html! {
        @if h.field == "status" && h.old_value.is_none() {
            span { (ctx.t_args("deskui-history-created", &[("status", &value(&h.new_value))])) }
        } @else if h.field == "description" {
            span { (ctx.t("deskui-history-description")) }
        } @else {
            span { strong { (field) } ": " (value(&h.old_value)) " → " strong.new { (value(&h.new_value)) } }
        }
    }
}
