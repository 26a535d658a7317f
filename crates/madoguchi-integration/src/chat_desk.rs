//! The desk panel of a chat (SPEC I10, I11, I15–I20): the visitor's Desk contact with
//! account, SLA, contract and owner; recent and linked tickets; search within the view
//! scope; convert the chat to a ticket; associate it with a ticket; reply; reopen or
//! close. The department's mode decides what is allowed, here on the server (I9).

use crate::desk_client::{
    ActingOperator, ChatFile, ChatLine, ChatLineSystem, DeskAuth, DeskThread, DeskTicket, NewTicket,
};
use crate::model::{in_view_scope, DeptMode, Permissions, ViewScope};
use crate::outbox::{self, ConversionTicket, Done, Task};
use crate::store::{self, ChatTicket, MappingRow, PortalRow};
use crate::Integration;
use madoguchi_chat::{ChatState, ChatView, Message, OperatorCtx};
use madoguchi_core::ids::{ChatId, DepartmentId, TicketId};
use madoguchi_core::{fault, i18n, Error, ErrorCode, Lang, Result};
use serde::Serialize;
use utoipa::ToSchema;

/// How many recent tickets the panel shows (I16).
pub const RECENT_TICKETS: u32 = 10;
const SUBJECT_MAX: usize = 255;
const PRIORITIES: &[&str] = &["High", "Medium", "Low"];
const STATUSES: &[&str] = &["Open", "On Hold", "Escalated", "Closed"];
/// A conversion request has this long to record its ticket; after that the worker
/// finishes it (the request died, or is very slow: both record the same ticket).
pub const CONVERSION_GRACE_MS: i64 = 10_000;

/// Desk's idempotency key for the ticket of a chat: one ticket per chat, whoever makes
/// it (a conversion by hand, its recovery, the automatic ticket) and however often.
pub(crate) fn ticket_key(chat_id: &str) -> String {
    format!("chat:{chat_id}")
}

/// The ticket an operator's conversion asks for (I10).
pub(crate) fn conversion_ticket(chat: &ChatView, wanted: &ConversionTicket) -> NewTicket {
    NewTicket {
        subject: wanted.subject.clone(),
        description: Some(chat.question.clone()),
        department_id: wanted.department_id.clone(),
        contact_id: None,
        status: Some(wanted.status.clone()),
        priority: Some(wanted.priority.clone()),
        classification: wanted.classification.clone(),
        channel: Some("Chat".into()),
        idempotency_key: Some(ticket_key(&chat.id)),
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactView {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub account_name: Option<String>,
    pub sla_name: Option<String>,
    pub contract_name: Option<String>,
    /// The owner's display name.
    pub contact_owner: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoTicketView {
    pub status: String,
    /// Why no ticket was made, in the caller's language (I18).
    pub reason: Option<String>,
}

/// `GET …/chats/{id}/desk`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatDeskView {
    pub permissions: Permissions,
    pub contact: Option<ContactView>,
    pub recent_tickets: Vec<DeskTicket>,
    pub linked_tickets: Vec<DeskTicket>,
    /// The department's mode (what the buttons follow).
    pub mode: DeptMode,
    pub auto_ticket: AutoTicketView,
    /// The Desk portal's classifications and departments, for the convert dialog.
    pub classifications: Vec<String>,
    pub desk_departments: Vec<crate::desk_client::DeskDepartment>,
    /// The desk department a conversion goes to by default (mapped departments).
    #[schema(value_type = Option<String>)]
    pub default_desk_department_id: Option<DepartmentId>,
    pub visitor_email: Option<String>,
    /// O6: the operator is a member of the Desk portal, so a ticket's `webUrl` opens
    /// for them; otherwise the panel's read-only ticket view is theirs and it says why.
    pub desk_member: bool,
}

/// `POST …/chats/{id}/desk/tickets` (I10).
#[derive(Debug, Clone, Default)]
pub struct ConvertRequest {
    pub priority: Option<String>,
    pub status: Option<String>,
    pub classification: Option<String>,
    pub department_id: Option<String>,
}

/// What a chat and the department it belongs to allow.
pub(crate) struct ChatCtx {
    pub chat: ChatView,
    pub row: PortalRow,
    pub auth: DeskAuth,
    pub mapping: MappingRow,
    pub perms: Permissions,
}

/// Errors of the link itself (a revoked key, a removed admin) mean the integration
/// cannot work right now: 409 `integration_disabled` saying why, never a 401 that
/// would look like the operator's own login failed.
pub(crate) fn desk_error(e: Error, lang: Lang) -> Error {
    match e.code {
        ErrorCode::InvalidServiceKey
        | ErrorCode::NotDeskAdmin
        | ErrorCode::NotDeskAdminEmail
        | ErrorCode::DeskPortalNotFound => Error::new(ErrorCode::IntegrationDisabled)
            .with_message("integ-broken")
            .with_arg("reason", e.message(lang)),
        _ => e,
    }
}

fn forbidden_by_mode() -> Error {
    Error::new(ErrorCode::ForbiddenByDepartmentMode)
}

/// A chat message as a line of the Desk chat thread (D4).
pub(crate) fn line(m: &Message, lang: Lang) -> ChatLine {
    ChatLine {
        seq: m.seq,
        sender: m.sender.as_str().to_owned(),
        sender_name: m.sender_name_in(lang),
        text: m.text_in(lang),
        created_at: madoguchi_core::time::rfc3339(m.created_at),
        system: m.system_kind.clone().map(|kind| ChatLineSystem {
            kind,
            arg: m.system_arg.clone(),
        }),
    }
}

/// I10: the ticket's subject is the visitor's first question (trimmed to Desk's limit).
pub(crate) fn subject_of(chat: &ChatView, lang: Lang) -> String {
    let q = chat
        .question
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let q = if q.is_empty() {
        let name = chat
            .visitor
            .name
            .clone()
            .unwrap_or_else(|| i18n::t(lang, "integ-visitor"));
        i18n::t_args(lang, "integ-subject-fallback", &[("name", &name)])
    } else {
        q
    };
    if q.chars().count() > SUBJECT_MAX {
        let mut s: String = q.chars().take(SUBJECT_MAX - 1).collect();
        s.push('…');
        s
    } else {
        q
    }
}

fn strip_threads(mut t: DeskTicket) -> DeskTicket {
    t.threads = None;
    t
}

impl Integration {
    /// Appends `messages` to the ticket's chat thread of `chat_id`, then copies the
    /// files they sent onto it (V3): both are idempotent (by `seq`, by the file's id),
    /// so a retry after a failure part-way repeats nothing. Answers the last seq.
    pub(crate) async fn append_to_thread(
        &self,
        auth: &DeskAuth,
        ticket_id: &str,
        chat_id: &str,
        messages: &[Message],
        lang: Lang,
    ) -> Result<Option<i64>> {
        let lines: Vec<ChatLine> = messages.iter().map(|m| line(m, lang)).collect();
        let (ticket_id, chat_id) = (&TicketId::from(ticket_id), &ChatId::from(chat_id));
        self.desk
            .upsert_chat_thread(auth, ticket_id, chat_id, &lines)
            .await?;
        for m in messages {
            let Some(a) = &m.attachment else {
                continue;
            };
            // One file in memory at a time.
            let Some(file) = self.chat.attachment_file(chat_id, &a.id).await? else {
                continue;
            };
            let file = ChatFile {
                key: a.id.clone(),
                seq: m.seq,
                name: file.attachment.name,
                content_type: file.attachment.content_type,
                data: file.data,
            };
            self.desk
                .add_chat_attachment(auth, ticket_id, chat_id, &file)
                .await?;
        }
        Ok(lines.last().map(|l| l.seq))
    }

    /// The chat as the operator may see it, with the link and the department's mode.
    /// 404/403 for the chat, 403 `plan_required`, 409 `integration_disabled`, 403
    /// `forbidden_by_department_mode` for a No integration department.
    pub(crate) async fn chat_ctx(&self, op: &OperatorCtx, chat_id: &str) -> Result<ChatCtx> {
        let chat = self.chat.chat_for_operator(op, chat_id).await?;
        self.require_plan(op)?;
        let row = store::portal(&self.db, &op.portal.id).await?;
        let auth = match row.auth() {
            // O6: whatever the operator does here is recorded under them in Desk.
            Some(auth) if row.enabled => auth.acting_for(ActingOperator {
                email: op.email.clone(),
                name: op.name.clone(),
            }),
            _ => return Err(Error::new(ErrorCode::IntegrationDisabled)),
        };
        let mapping = self
            .mode_of(&op.portal.id, chat.department_id.as_deref())
            .await?;
        if mapping.mode == DeptMode::None {
            return Err(forbidden_by_mode());
        }
        let perms = mapping.mode.permissions();
        Ok(ChatCtx {
            chat,
            row,
            auth,
            mapping,
            perms,
        })
    }

    /// I14: with "associated departments", a mapped department sees only tickets of
    /// the Desk departments mapped to some Chat department; View only and Choose as
    /// needed always see all.
    pub(crate) async fn scope(&self, ctx: &ChatCtx) -> Result<Option<Vec<DepartmentId>>> {
        if ctx.row.view_scope != ViewScope::Associated || ctx.mapping.mode != DeptMode::Mapped {
            return Ok(None);
        }
        let mut ids: Vec<DepartmentId> = store::mappings(&self.db, &ctx.row.chat_portal_id)
            .await?
            .into_iter()
            .filter(|m| m.mode == DeptMode::Mapped)
            .filter_map(|m| m.desk_department_id)
            .collect();
        ids.sort();
        ids.dedup();
        Ok(Some(ids))
    }

    /// I14 on one ticket: the ticket as this chat may reach it. Every per-ticket route
    /// (details, status, replies, associate) goes through here, so a ticket the lists
    /// hide is 404 `not_found` by id too. Reachable: a ticket within the view scope
    /// (the lists' rule, [`in_view_scope`]), or one already linked to this chat (the
    /// panel lists those whatever the scope).
    async fn scoped_ticket(&self, ctx: &ChatCtx, ticket_id: &str) -> Result<DeskTicket> {
        let ticket = self
            .desk
            .ticket(&ctx.auth, &TicketId::from(ticket_id))
            .await?;
        if ctx.chat.desk_ticket_ids.contains(&ticket.id) {
            return Ok(ticket);
        }
        let scope = self.scope(ctx).await?;
        if in_view_scope(ticket.department_id.as_ref(), scope.as_deref()) {
            Ok(ticket)
        } else {
            Err(Error::not_found())
        }
    }

    /// `GET …/chats/{id}/desk` (I11, I15, I16).
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn chat_desk(
        &self,
        op: &OperatorCtx,
        chat_id: &str,
        lang: Lang,
    ) -> Result<ChatDeskView> {
        let ctx = self.chat_ctx(op, chat_id).await?;
        self.chat_desk_view(&ctx, lang)
            .await
            .map_err(|e| desk_error(e, lang))
    }

    async fn chat_desk_view(&self, ctx: &ChatCtx, lang: Lang) -> Result<ChatDeskView> {
        let auth = &ctx.auth;
        let email = ctx
            .chat
            .visitor
            .email
            .clone()
            .filter(|e| !e.trim().is_empty());
        let scope = self.scope(ctx).await?;
        let mut contact = None;
        let mut recent_tickets = Vec::new();
        if let Some(email) = &email {
            if let Some(c) = self.desk.find_contact_by_email(auth, email).await? {
                let details = self.desk.contact_details(auth, &c).await?;
                recent_tickets = self
                    .desk
                    .contact_tickets(auth, &c.id, RECENT_TICKETS, scope.as_deref())
                    .await?
                    .into_iter()
                    .map(strip_threads)
                    .collect();
                contact = Some(ContactView {
                    id: c.id.to_string(),
                    name: c.extra_str(&["name"]).unwrap_or_else(|| c.display_name()),
                    email: c.email.clone(),
                    account_name: details.account_name,
                    sla_name: details.sla_name,
                    contract_name: details.contract_name,
                    contact_owner: details.contact_owner,
                });
            }
        }
        let mut linked_tickets = Vec::new();
        for id in &ctx.chat.desk_ticket_ids {
            match self.desk.ticket(auth, id).await {
                Ok(t) => linked_tickets.push(strip_threads(t)),
                Err(e) if e.code == ErrorCode::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let (classifications, desk_departments) = if ctx.perms.create {
            (
                self.desk.classifications(auth).await?,
                self.desk.departments(auth).await?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let reason = ctx
            .chat
            .auto_ticket
            .reason
            .as_deref()
            .map(|r| madoguchi_chat::localized_reason(r, lang));
        Ok(ChatDeskView {
            permissions: ctx.perms,
            contact,
            recent_tickets,
            linked_tickets,
            mode: ctx.mapping.mode,
            auto_ticket: AutoTicketView {
                status: ctx.chat.auto_ticket.status.as_str().to_owned(),
                reason,
            },
            classifications,
            desk_departments,
            default_desk_department_id: ctx.mapping.desk_department_id.clone(),
            visitor_email: email,
            desk_member: self.desk.acting_is_member(auth).await?,
        })
    }

    /// `POST …/chats/{id}/desk/tickets` (I10): convert by hand.
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn convert(
        &self,
        op: &OperatorCtx,
        chat_id: &str,
        req: ConvertRequest,
        lang: Lang,
    ) -> Result<DeskTicket> {
        let ctx = self.chat_ctx(op, chat_id).await?;
        if !ctx.perms.create {
            return Err(forbidden_by_mode());
        }
        self.convert_in(&ctx, req, lang)
            .await
            .map_err(|e| desk_error(e, lang))
    }

    async fn convert_in(
        &self,
        ctx: &ChatCtx,
        req: ConvertRequest,
        lang: Lang,
    ) -> Result<DeskTicket> {
        let auth = &ctx.auth;
        let chat = &ctx.chat;
        let priority = match req.priority.as_deref().map(str::trim) {
            None | Some("") => madoguchi_desk::Priority::default().as_str().to_owned(),
            Some(p) if PRIORITIES.contains(&p) => p.to_owned(),
            Some(_) => return Err(Error::invalid("priority", "integ-error-priority")),
        };
        let status = match req.status.as_deref().map(str::trim) {
            None | Some("") => madoguchi_desk::TicketStatus::default().as_str().to_owned(),
            Some(s) if STATUSES.contains(&s) => s.to_owned(),
            Some(_) => return Err(Error::invalid("status", "integ-error-status")),
        };
        let classification = match req.classification.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) => {
                let list = self.desk.classifications(auth).await?;
                match list.iter().find(|x| x.as_str() == c) {
                    Some(x) => Some(x.clone()),
                    None => {
                        return Err(Error::invalid(
                            "classification",
                            "integ-error-classification",
                        ))
                    }
                }
            }
        };
        let department_id = match req.department_id.as_deref().map(str::trim) {
            None | Some("") => ctx.mapping.desk_department_id.clone(),
            Some(d) => {
                let list = self.desk.departments(auth).await?;
                if !list.iter().any(|x| x.id == d) {
                    return Err(Error::invalid(
                        "departmentId",
                        "integ-error-desk-department",
                    ));
                }
                Some(DepartmentId::from(d))
            }
        };
        if !chat.desk_ticket_ids.is_empty() {
            return Err(Error::new(ErrorCode::AlreadyConverted));
        }
        let Some(email) = chat.visitor.email.clone().filter(|e| !e.trim().is_empty()) else {
            return Err(Error::new(ErrorCode::VisitorEmailRequired));
        };
        let wanted = ConversionTicket {
            subject: subject_of(chat, lang),
            status,
            priority,
            classification,
            department_id,
        };
        let task = Task::Conversion {
            chat_id: chat.id.clone(),
            ticket: wanted.clone(),
            acting: auth.acting.clone(),
        };
        // The claim and the job that finishes it in one write: should this request die
        // after Desk made the ticket, the worker links that ticket (same key) later.
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let (claimed, _) =
            store::claim_conversion(tx.conn(), &chat.id, &ctx.row.chat_portal_id, "convert", now)
                .await?;
        if !claimed {
            return Err(Error::new(ErrorCode::AlreadyConverted));
        }
        outbox::enqueue(
            tx.conn(),
            &ctx.row.chat_portal_id,
            &task,
            now,
            now + CONVERSION_GRACE_MS,
        )
        .await?;
        tx.commit().await?;
        let new = conversion_ticket(chat, &wanted);
        let ticket = match self.create_chat_ticket(auth, chat, &email, new).await {
            Ok(t) => t,
            Err(e) => {
                // The chat may be converted again. Had Desk made the ticket without
                // answering, the next conversion (same key) gets that one.
                let mut tx = self.db.begin_write().await?;
                store::release_conversion(tx.conn(), &chat.id, "convert").await?;
                outbox::cancel(tx.conn(), &task.idem_key()).await?;
                tx.commit().await?;
                return Err(e);
            }
        };
        fault::point("integ-after-ticket-created");
        self.link_ticket(ctx, &ticket.id, "convert", lang, Some(&task.idem_key()))
            .await?;
        Ok(ticket)
    }

    /// Finds or creates the visitor's contact and creates the ticket (channel Chat).
    pub(crate) async fn create_chat_ticket(
        &self,
        auth: &DeskAuth,
        chat: &ChatView,
        email: &str,
        mut new: NewTicket,
    ) -> Result<DeskTicket> {
        let contact = match self.desk.find_contact_by_email(auth, email).await? {
            Some(c) => c,
            None => {
                self.desk
                    .upsert_contact(
                        auth,
                        email,
                        chat.visitor.name.as_deref(),
                        chat.visitor.phone.as_deref(),
                    )
                    .await?
            }
        };
        new.contact_id = Some(contact.id);
        self.desk.create_ticket(auth, &new).await
    }

    /// Puts the chat's transcript so far into the ticket's chat thread and records the
    /// link, so later messages are appended (I11). When Desk fails after the ticket
    /// exists, the outbox appends the transcript later.
    pub(crate) async fn link_ticket(
        &self,
        ctx: &ChatCtx,
        ticket_id: &str,
        origin: &str,
        lang: Lang,
        settles: Option<&str>,
    ) -> Result<()> {
        let chat = &ctx.chat;
        let link = ChatTicket {
            chat_id: chat.id.clone(),
            ticket_id: ticket_id.to_owned(),
            chat_portal_id: ctx.row.chat_portal_id.clone(),
            desk_portal_name: ctx.auth.portal.to_string(),
            origin: origin.to_owned(),
            synced_seq: 0,
        };
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        store::record_ticket(tx.conn(), &link, now).await?;
        if let Some(key) = settles {
            let done = Done::Ticket {
                ticket_id: ticket_id.to_owned(),
            };
            outbox::settle(tx.conn(), key, &done, now).await?;
        }
        tx.commit().await?;
        if chat.state != ChatState::Ended {
            self.watch_chat(&chat.id);
        }
        let messages = self.chat.transcript(&chat.id).await?;
        match self
            .append_to_thread(&ctx.auth, ticket_id, &chat.id, &messages, lang)
            .await
        {
            Ok(last) => {
                let last = last.unwrap_or(0);
                let closed = chat.state == ChatState::Ended && last >= chat.last_seq;
                store::mark_synced(
                    &self.db,
                    &chat.id,
                    ticket_id,
                    last,
                    closed,
                    self.clock.now_ms(),
                )
                .await?;
            }
            Err(e) => {
                tracing::warn!(error = %e, "chat thread not appended yet; the outbox retries");
            }
        }
        self.wake.notify_one();
        Ok(())
    }

    /// `POST …/chats/{id}/desk/associate` (I11): the chat's transcript joins an
    /// existing ticket at once; idempotent.
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn associate(
        &self,
        op: &OperatorCtx,
        chat_id: &str,
        ticket_id: &str,
        lang: Lang,
    ) -> Result<DeskTicket> {
        let ctx = self.chat_ctx(op, chat_id).await?;
        if !ctx.perms.associate {
            return Err(forbidden_by_mode());
        }
        let ticket_id = ticket_id.trim();
        if ticket_id.is_empty() {
            return Err(Error::invalid("ticketId", "integ-error-ticket"));
        }
        async {
            let ticket = self.scoped_ticket(&ctx, ticket_id).await?;
            self.link_ticket(&ctx, &ticket.id, "associate", lang, None)
                .await?;
            self.desk.ticket(&ctx.auth, &ticket.id).await
        }
        .await
        .map_err(|e| desk_error(e, lang))
    }

    /// `GET …/chats/{id}/desk/tickets/search?q=` (I19) within the view scope (I14).
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn search(
        &self,
        op: &OperatorCtx,
        chat_id: &str,
        q: &str,
        lang: Lang,
    ) -> Result<Vec<DeskTicket>> {
        let ctx = self.chat_ctx(op, chat_id).await?;
        if !ctx.perms.view {
            return Err(forbidden_by_mode());
        }
        let q = q.trim();
        if q.is_empty() {
            return Err(Error::invalid("q", "integ-error-query"));
        }
        async {
            let scope = self.scope(&ctx).await?;
            Ok(self
                .desk
                .search_tickets(&ctx.auth, q, scope.as_deref())
                .await?
                .into_iter()
                .map(strip_threads)
                .collect())
        }
        .await
        .map_err(|e| desk_error(e, lang))
    }

    /// `GET …/chats/{id}/desk/tickets/{ticketId}` (I16, I17): with threads and webUrl.
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn ticket(
        &self,
        op: &OperatorCtx,
        chat_id: &str,
        ticket_id: &str,
        lang: Lang,
    ) -> Result<DeskTicket> {
        let ctx = self.chat_ctx(op, chat_id).await?;
        if !ctx.perms.view {
            return Err(forbidden_by_mode());
        }
        self.scoped_ticket(&ctx, ticket_id)
            .await
            .map_err(|e| desk_error(e, lang))
    }

    /// `PATCH …/chats/{id}/desk/tickets/{ticketId}` (I20): reopen or close.
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn set_status(
        &self,
        op: &OperatorCtx,
        chat_id: &str,
        ticket_id: &str,
        status: &str,
        lang: Lang,
    ) -> Result<DeskTicket> {
        let ctx = self.chat_ctx(op, chat_id).await?;
        if !ctx.perms.change_status {
            return Err(forbidden_by_mode());
        }
        let status = status.trim();
        if status != "Open" && status != "Closed" {
            return Err(Error::invalid("status", "integ-error-status-open-closed"));
        }
        async {
            let ticket = self.scoped_ticket(&ctx, ticket_id).await?;
            self.desk
                .set_ticket_status(&ctx.auth, &ticket.id, status)
                .await
        }
        .await
        .map_err(|e| desk_error(e, lang))
    }

    /// `POST …/chats/{id}/desk/tickets/{ticketId}/replies`: a reply on the ticket,
    /// written by the operator.
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn reply(
        &self,
        op: &OperatorCtx,
        chat_id: &str,
        ticket_id: &str,
        content: &str,
        lang: Lang,
    ) -> Result<DeskThread> {
        let ctx = self.chat_ctx(op, chat_id).await?;
        if !ctx.perms.reply {
            return Err(forbidden_by_mode());
        }
        if content.trim().is_empty() {
            return Err(Error::invalid("content", "integ-error-content"));
        }
        async {
            let ticket = self.scoped_ticket(&ctx, ticket_id).await?;
            self.desk
                .reply(&ctx.auth, &ticket.id, content, Some(&op.name))
                .await
        }
        .await
        .map_err(|e| desk_error(e, lang))
    }
}
