//! The integration's background worker (SPEC I7, I11, I18, Q2).
//!
//! One loop, woken by Chat's lifecycle hook and by new jobs, and every
//! [`POLL_INTERVAL`] anyway:
//! 1. **Events → jobs.** Read Chat's durable `chat_events` after our cursor; for each
//!    chat that became missed or ended in a mode that covers it, enqueue one
//!    "auto-ticket:{chatId}" job with the decision taken at that moment (settings,
//!    department, email), and move the cursor — jobs and cursor in one transaction, so
//!    an event is turned into work exactly once, also across restarts and nodes.
//! 2. **Open links → append jobs.** A chat converted or associated while it goes on
//!    gets its new messages appended to the ticket's chat thread (I11).
//! 3. **Jobs.** Claim due jobs (a lease, so two nodes never run one job at once), run
//!    them, and on failure retry with exponential backoff — forever for Desk being
//!    away, since nothing may be lost.
//!
//! Running a job twice has the effect of running it once: a chat's ticket is created
//! with the idempotency key `chat:{chatId}` (Desk answers the ticket an earlier attempt
//! made), it is linked in one write with the conversion claim, and chat threads are
//! appended by `seq`.

use crate::chat_desk::{conversion_ticket, subject_of, ticket_key};
use crate::desk_client::{ActingOperator, NewTicket};
use crate::model::{ChatOutcome, DeptMode};
use crate::outbox::{self, ConversionTicket, Done, Job, Task};
use crate::store::{self, ChatTicket};
use crate::Integration;
use futures::StreamExt;
use madoguchi_chat::live::LiveEvent;
use madoguchi_chat::{AutoTicketStatus, ChatState, ChatView, Outcome};
use madoguchi_core::ids::DepartmentId;
use madoguchi_core::{Error, ErrorCode, Lang, Result};
use std::time::Duration;
use tokio::sync::watch;

const CURSOR: &str = "chat_events";
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
const EVENT_BATCH: i64 = 200;
const JOB_BATCH: i64 = 20;
/// Transcripts are written to Desk in the default language (Japanese).
const TRANSCRIPT_LANG: Lang = Lang::Ja;

/// What the worker did in one pass (tests, logs).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub events: usize,
    pub jobs_done: usize,
    pub jobs_retried: usize,
}

/// How a run of a job ended.
enum Outcome2 {
    Done(Done),
    Retry(String),
    Failed(String),
}

fn retryable(e: &Error) -> bool {
    matches!(
        e.code,
        ErrorCode::DeskUnavailable
            | ErrorCode::Internal
            | ErrorCode::InvalidServiceKey
            | ErrorCode::NotDeskAdmin
            | ErrorCode::NotDeskAdminEmail
            | ErrorCode::DeskPortalNotFound
            | ErrorCode::RateLimited
            | ErrorCode::RequestTimeout
            | ErrorCode::Conflict
    )
}

impl Integration {
    /// Starts the worker; it stops when `shutdown` turns true.
    pub fn spawn_worker(&self, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let integ = self.clone();
        tokio::spawn(async move {
            tracing::info!(desk = integ.desk.transport(), "integration worker started");
            loop {
                if *shutdown.borrow() {
                    let _ = integ.closing.send(true);
                    break;
                }
                match integ.run_pass().await {
                    Ok(pass) if pass != Pass::default() => {
                        tracing::debug!(?pass, "integration pass")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "integration pass failed"),
                }
                tokio::select! {
                    () = integ.wake.notified() => {}
                    () = tokio::time::sleep(POLL_INTERVAL) => {}
                    _ = shutdown.changed() => {}
                }
            }
            tracing::info!("integration worker stopped");
        })
    }

    /// One pass of the worker: events, open links, due jobs.
    pub async fn run_pass(&self) -> Result<Pass> {
        let mut pass = Pass {
            events: self.consume_events().await?,
            ..Pass::default()
        };
        self.rearm_open_links().await?;
        let now = self.clock.now_ms();
        for job in outbox::claim_due(&self.db, now, JOB_BATCH).await? {
            let result = self.run_job(&job).await;
            let now = self.clock.now_ms();
            match result {
                Ok(Outcome2::Done(done)) => {
                    outbox::complete(&self.db, &job, &done, now).await?;
                    pass.jobs_done += 1;
                }
                Ok(Outcome2::Retry(why)) => {
                    let at = outbox::retry_later(&self.db, &job, &why, now).await?;
                    tracing::info!(job = %job.idem_key, attempts = job.attempts, retry_in_ms = at - now, reason = %why, "integration job will be retried");
                    pass.jobs_retried += 1;
                }
                Ok(Outcome2::Failed(why)) => {
                    tracing::warn!(job = %job.idem_key, reason = %why, "integration job failed for good");
                    outbox::fail(&self.db, &job, &why, now).await?;
                }
                Err(e) if retryable(&e) => {
                    let at = outbox::retry_later(&self.db, &job, &e.to_string(), now).await?;
                    tracing::info!(job = %job.idem_key, attempts = job.attempts, retry_in_ms = at - now, error = %e, "integration job will be retried");
                    pass.jobs_retried += 1;
                }
                Err(e) => {
                    tracing::warn!(job = %job.idem_key, error = %e, "integration job failed for good");
                    outbox::fail(&self.db, &job, &e.to_string(), now).await?;
                }
            }
        }
        Ok(pass)
    }

    /// Step 1: lifecycle events → auto-ticket jobs, exactly once (cursor + jobs in one
    /// transaction).
    async fn consume_events(&self) -> Result<usize> {
        let from = store::cursor(&self.db, CURSOR).await?;
        let events = self.chat.events_after(from, EVENT_BATCH).await?;
        let Some(last) = events.last().map(|e| e.id) else {
            return Ok(0);
        };
        let mut jobs: Vec<(String, Task)> = Vec::new();
        let mut finished: Vec<String> = Vec::new();
        for ev in &events {
            let outcome = match ev.kind.as_str() {
                "missed" => Some(ChatOutcome::Missed),
                "ended" => {
                    finished.push(ev.chat_id.clone());
                    Some(ChatOutcome::Attended)
                }
                _ => None,
            };
            let Some(mut outcome) = outcome else { continue };
            let Some(chat) = self.chat.chat_by_id(&ev.chat_id).await? else {
                continue;
            };
            if ev.kind == "ended" {
                match chat.outcome {
                    // A missed chat was decided when it became missed.
                    Some(Outcome::Missed) | None => continue,
                    Some(Outcome::Attended) => outcome = ChatOutcome::Attended,
                }
            }
            if let Some(task) = self.decide(&chat, outcome).await? {
                jobs.push((ev.portal_id.clone(), task));
            }
        }
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        for (portal_id, task) in &jobs {
            outbox::enqueue(tx.conn(), portal_id, task, now, now).await?;
        }
        if !store::advance_cursor(tx.conn(), CURSOR, from, last, now).await? {
            // Another node handled these events first.
            return Ok(0);
        }
        tx.commit().await?;
        // Ended chats: append what is left to their tickets now.
        for chat_id in finished {
            for link in store::chat_tickets(&self.db, &chat_id).await? {
                self.rearm_sync(&link).await?;
            }
        }
        Ok(events.len())
    }

    /// The decision for a chat that became missed or ended (I7, I8, I18), frozen into
    /// the job; `None` when no automatic ticket applies.
    async fn decide(&self, chat: &ChatView, outcome: ChatOutcome) -> Result<Option<Task>> {
        let row = store::portal(&self.db, &chat.portal_id).await?;
        // V2: a message from the widget's offline form always becomes a ticket (with
        // the integration on), whatever the auto-ticket mode: nobody else will answer it.
        let covered = row.auto_ticket.covers(outcome) || chat.offline_message;
        if !row.is_linked() || !row.enabled || !covered {
            return Ok(None);
        }
        if !self.chat.integration_available_for(&chat.portal_id).await? {
            return Ok(None);
        }
        let mapping = self
            .mode_of(&chat.portal_id, chat.department_id.as_deref())
            .await?;
        // No integration and View only: never (I7, I9).
        if matches!(mapping.mode, DeptMode::None | DeptMode::ViewOnly) {
            return Ok(None);
        }
        let has_email = chat
            .visitor
            .email
            .as_deref()
            .is_some_and(|e| !e.trim().is_empty());
        // Tickets from attended chats are always Open (I8).
        let status = match outcome {
            ChatOutcome::Attended => "Open",
            // V2: an offline message waits for its answer.
            ChatOutcome::Missed if chat.offline_message => "Open",
            ChatOutcome::Missed => row.ticket_status.as_str(),
        };
        Ok(Some(Task::AutoTicket {
            chat_id: chat.id.clone(),
            outcome: match outcome {
                ChatOutcome::Attended => "attended",
                ChatOutcome::Missed => "missed",
            }
            .into(),
            create: has_email,
            reason: (!has_email).then(|| "integ-skip-no-email".to_owned()),
            status: status.into(),
            // Choose as needed: the Desk default department (I7).
            desk_department_id: if mapping.mode == DeptMode::Mapped {
                mapping.desk_department_id
            } else {
                None
            },
        }))
    }

    /// Step 2: links whose chat has messages the ticket's thread does not hold yet; a
    /// chat still going on is also watched live, so its messages follow at once.
    async fn rearm_open_links(&self) -> Result<()> {
        for link in store::open_chat_tickets(&self.db, 500).await? {
            let Some(chat) = self.chat.chat_by_id(&link.chat_id).await? else {
                let now = self.clock.now_ms();
                store::mark_synced(
                    &self.db,
                    &link.chat_id,
                    &link.ticket_id,
                    link.synced_seq,
                    true,
                    now,
                )
                .await?;
                continue;
            };
            if chat.state != ChatState::Ended {
                self.watch_chat(&link.chat_id);
            }
            if chat.last_seq > link.synced_seq || chat.state == ChatState::Ended {
                self.rearm_sync(&link).await?;
            }
        }
        Ok(())
    }

    /// I11: follows a linked chat's live events (the bus, after commit) and has each new
    /// message appended to its tickets within moments; the durable outbox does the
    /// work, so a lost bus event only delays it to the next pass.
    pub(crate) fn watch_chat(&self, chat_id: &str) {
        {
            let mut watching = self.watching.lock().unwrap_or_else(|p| p.into_inner());
            if !watching.insert(chat_id.to_owned()) {
                return;
            }
        }
        let integ = self.clone();
        let chat_id = chat_id.to_owned();
        let mut closing = self.closing.subscribe();
        tokio::spawn(async move {
            match integ.chat.subscribe_chat(&chat_id).await {
                Ok(mut events) => loop {
                    let event = tokio::select! {
                        e = events.next() => e,
                        _ = closing.wait_for(|c| *c) => None,
                    };
                    let ended = match event.as_deref() {
                        None => break,
                        Some(LiveEvent::Message { .. }) => false,
                        Some(LiveEvent::Chat { event, .. }) if event == "chat.ended" => true,
                        Some(_) => continue,
                    };
                    match store::chat_tickets(&integ.db, &chat_id).await {
                        Ok(links) => {
                            for link in links {
                                if let Err(e) = integ.rearm_sync(&link).await {
                                    tracing::warn!(error = %e, "re-arming a chat thread append");
                                }
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "reading chat links"),
                    }
                    integ.wake.notify_one();
                    if ended {
                        break;
                    }
                },
                Err(e) => tracing::warn!(error = %e, "watching a linked chat"),
            }
            integ
                .watching
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&chat_id);
        });
    }

    pub(crate) async fn rearm_sync(&self, link: &ChatTicket) -> Result<()> {
        let now = self.clock.now_ms();
        let task = Task::SyncThread {
            chat_id: link.chat_id.clone(),
            ticket_id: link.ticket_id.clone(),
        };
        let mut tx = self.db.begin_write().await?;
        outbox::enqueue_or_rearm(tx.conn(), &link.chat_portal_id, &task, now).await?;
        tx.commit().await
    }

    async fn run_job(&self, job: &Job) -> Result<Outcome2> {
        match &job.task {
            Task::AutoTicket {
                chat_id,
                create,
                reason,
                status,
                desk_department_id,
                ..
            } => {
                let skip_reason =
                    (!create).then(|| reason.as_deref().unwrap_or("integ-skip-no-email"));
                self.run_auto_ticket(chat_id, skip_reason, status, desk_department_id.as_ref())
                    .await
            }
            Task::SyncThread { chat_id, ticket_id } => self.run_sync(chat_id, ticket_id).await,
            Task::Contact { visitor_id } => self.run_contact(&job.chat_portal_id, visitor_id).await,
            Task::Conversion {
                chat_id,
                ticket,
                acting,
            } => self.run_conversion(chat_id, ticket, acting.clone()).await,
        }
    }

    async fn set_auto(
        &self,
        chat: &ChatView,
        status: AutoTicketStatus,
        reason: Option<&str>,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        store::set_auto_ticket(tx.conn(), &chat.id, &chat.portal_id, status, reason, now).await?;
        tx.commit().await
    }

    async fn skip(&self, chat: &ChatView, reason: &str) -> Result<Outcome2> {
        self.set_auto(chat, AutoTicketStatus::Skipped, Some(reason))
            .await?;
        Ok(Outcome2::Done(Done::Skipped {
            reason: reason.to_owned(),
        }))
    }

    /// An automatic ticket (I7, I8, I10's ticket contents, I18's skip).
    async fn run_auto_ticket(
        &self,
        chat_id: &str,
        skip_reason: Option<&str>,
        status: &str,
        desk_department_id: Option<&DepartmentId>,
    ) -> Result<Outcome2> {
        let Some(chat) = self.chat.chat_by_id(chat_id).await? else {
            return Ok(Outcome2::Failed("the chat is gone".into()));
        };
        if let Some(reason) = skip_reason {
            return self.skip(&chat, reason).await;
        }
        let row = store::portal(&self.db, &chat.portal_id).await?;
        let auth = match row.auth() {
            Some(auth) if row.enabled => auth,
            _ => return self.skip(&chat, "integ-skip-disabled").await,
        };
        if chat.auto_ticket.status == AutoTicketStatus::None {
            self.set_auto(&chat, AutoTicketStatus::Pending, None)
                .await?;
        }
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let (_, conv) =
            store::claim_conversion(tx.conn(), chat_id, &chat.portal_id, "auto", now).await?;
        tx.commit().await?;
        if conv.origin == "convert" {
            if conv.ticket_id.is_some() {
                return self.skip(&chat, "integ-skip-linked").await;
            }
            // Its request, or the job that finishes it, records the ticket.
            return Ok(Outcome2::Retry("a manual conversion is in progress".into()));
        }
        let ticket_id = match conv.ticket_id {
            Some(id) => id,
            None => {
                if !chat.desk_ticket_ids.is_empty() {
                    // Associated with a ticket during the chat: no second ticket (I11).
                    let mut tx = self.db.begin_write().await?;
                    store::release_conversion(tx.conn(), chat_id, "auto").await?;
                    tx.commit().await?;
                    return self.skip(&chat, "integ-skip-linked").await;
                }
                let email = chat.visitor.email.clone().unwrap_or_default();
                let new = NewTicket {
                    subject: subject_of(&chat, TRANSCRIPT_LANG),
                    description: Some(chat.question.clone()),
                    department_id: desk_department_id.cloned(),
                    contact_id: None,
                    status: Some(status.to_owned()),
                    priority: None,
                    classification: None,
                    channel: Some("Chat".into()),
                    idempotency_key: Some(ticket_key(chat_id)),
                };
                let ticket = match self
                    .create_chat_ticket(&auth, &chat, &email, new.clone())
                    .await
                {
                    // The mapped department was deleted in Desk: use the default.
                    Err(e)
                        if e.code == ErrorCode::InvalidRequest
                            && e.field.as_deref() == Some("departmentId") =>
                    {
                        let new = NewTicket {
                            department_id: None,
                            ..new
                        };
                        self.create_chat_ticket(&auth, &chat, &email, new).await?
                    }
                    other => other?,
                };
                ticket.id.into_string()
            }
        };
        // The transcript first: "created" is shown once the ticket holds it. A crash
        // before the link is recorded retries with the same key and the same ticket.
        let messages = self.chat.messages_after(chat_id, 0, i64::MAX).await?;
        let last = self
            .append_to_thread(&auth, &ticket_id, chat_id, &messages, TRANSCRIPT_LANG)
            .await?
            .unwrap_or(0);
        let link = ChatTicket {
            chat_id: chat_id.to_owned(),
            ticket_id: ticket_id.clone(),
            chat_portal_id: chat.portal_id.clone(),
            desk_portal_name: auth.portal.to_string(),
            origin: "auto".into(),
            synced_seq: last,
        };
        let mut tx = self.db.begin_write().await?;
        store::record_ticket(tx.conn(), &link, self.clock.now_ms()).await?;
        tx.commit().await?;
        store::mark_synced(
            &self.db,
            chat_id,
            &ticket_id,
            last,
            chat.state == ChatState::Ended && last >= chat.last_seq,
            self.clock.now_ms(),
        )
        .await?;
        if chat.state != ChatState::Ended {
            self.watch_chat(chat_id);
        }
        tracing::info!(chat = %chat_id, ticket = %ticket_id, "automatic ticket created");
        Ok(Outcome2::Done(Done::Ticket { ticket_id }))
    }

    /// Finishes a conversion by hand whose request did not record its ticket (it died
    /// after claiming the chat, I10): the same key makes Desk answer the ticket the
    /// request may have made, and the link is recorded once.
    async fn run_conversion(
        &self,
        chat_id: &str,
        wanted: &ConversionTicket,
        acting: Option<ActingOperator>,
    ) -> Result<Outcome2> {
        let Some(chat) = self.chat.chat_by_id(chat_id).await? else {
            return Ok(Outcome2::Failed("the chat is gone".into()));
        };
        let conv = {
            let mut conn = self.db.pool().acquire().await?;
            store::conversion(&mut conn, chat_id).await?
        };
        match conv {
            // Given back (Desk refused), or taken by the automatic ticket first.
            None => return Ok(Outcome2::Done(Done::Nothing)),
            Some(c) if c.origin != "convert" => return Ok(Outcome2::Done(Done::Nothing)),
            Some(c) => {
                if let Some(id) = c
                    .ticket_id
                    .filter(|id| chat.desk_ticket_ids.iter().any(|t| t == id))
                {
                    return Ok(Outcome2::Done(Done::Ticket { ticket_id: id }));
                }
            }
        }
        let row = store::portal(&self.db, &chat.portal_id).await?;
        let Some(mut auth) = row.auth() else {
            return Ok(Outcome2::Failed("the integration was unlinked".into()));
        };
        if !row.enabled {
            return Ok(Outcome2::Retry("the integration is disabled".into()));
        }
        if let Some(op) = acting {
            auth = auth.acting_for(op);
        }
        let Some(email) = chat.visitor.email.clone().filter(|e| !e.trim().is_empty()) else {
            return Ok(Outcome2::Failed("the visitor has no email".into()));
        };
        let ticket = self
            .create_chat_ticket(&auth, &chat, &email, conversion_ticket(&chat, wanted))
            .await?;
        let link = ChatTicket {
            chat_id: chat_id.to_owned(),
            ticket_id: ticket.id.to_string(),
            chat_portal_id: chat.portal_id.clone(),
            desk_portal_name: auth.portal.to_string(),
            origin: "convert".into(),
            synced_seq: 0,
        };
        let mut tx = self.db.begin_write().await?;
        store::record_ticket(tx.conn(), &link, self.clock.now_ms()).await?;
        tx.commit().await?;
        // The transcript follows through the sync job.
        self.rearm_sync(&link).await?;
        if chat.state != ChatState::Ended {
            self.watch_chat(chat_id);
        }
        tracing::info!(chat = %chat_id, ticket = %ticket.id, "conversion finished by the worker");
        Ok(Outcome2::Done(Done::Ticket {
            ticket_id: ticket.id.into_string(),
        }))
    }

    /// Appends a linked chat's new messages to the ticket's chat thread (I11).
    async fn run_sync(&self, chat_id: &str, ticket_id: &str) -> Result<Outcome2> {
        let Some(link) = store::chat_tickets(&self.db, chat_id)
            .await?
            .into_iter()
            .find(|l| l.ticket_id == ticket_id)
        else {
            return Ok(Outcome2::Failed("no such link".into()));
        };
        let now = self.clock.now_ms();
        let Some(chat) = self.chat.chat_by_id(chat_id).await? else {
            store::mark_synced(&self.db, chat_id, ticket_id, link.synced_seq, true, now).await?;
            return Ok(Outcome2::Failed("the chat is gone".into()));
        };
        let row = store::portal(&self.db, &chat.portal_id).await?;
        let auth = match row.auth() {
            Some(a) if a.portal == link.desk_portal_name => a,
            // The link moved to another Desk portal: that ticket is out of reach.
            Some(_) | None => {
                store::mark_synced(&self.db, chat_id, ticket_id, link.synced_seq, true, now)
                    .await?;
                return Ok(Outcome2::Failed("the link changed".into()));
            }
        };
        if !row.enabled {
            return Ok(Outcome2::Retry("the integration is disabled".into()));
        }
        // Everything from the start: the thread keeps what it has by seq, and a
        // thread that an earlier attempt failed to create gets the whole chat.
        let after = if link.synced_seq > 0 {
            link.synced_seq
        } else {
            0
        };
        let messages = self.chat.messages_after(chat_id, after, i64::MAX).await?;
        let mut last = link.synced_seq;
        if !messages.is_empty() || link.synced_seq == 0 {
            let appended = self
                .append_to_thread(&auth, ticket_id, chat_id, &messages, TRANSCRIPT_LANG)
                .await?;
            last = appended.unwrap_or(last);
        }
        let closed = chat.state == ChatState::Ended && last >= chat.last_seq;
        store::mark_synced(&self.db, chat_id, ticket_id, last, closed, now).await?;
        Ok(Outcome2::Done(Done::Synced { synced_seq: last }))
    }

    /// A visitor edit that could not reach Desk at the time (C6, I18).
    async fn run_contact(&self, chat_portal_id: &str, visitor_id: &str) -> Result<Outcome2> {
        let Some(visitor) = self.chat.visitor_by_id(chat_portal_id, visitor_id).await? else {
            return Ok(Outcome2::Failed("the visitor is gone".into()));
        };
        let Some(email) = visitor.email.as_deref().filter(|e| !e.trim().is_empty()) else {
            return Ok(Outcome2::Done(Done::Nothing));
        };
        let row = store::portal(&self.db, chat_portal_id).await?;
        let Some(auth) = row.auth().filter(|_| row.enabled) else {
            return Ok(Outcome2::Done(Done::Nothing));
        };
        let contact = self.sync_contact(&auth, email, &visitor).await?;
        Ok(Outcome2::Done(Done::Contact {
            contact_id: contact.id.into_string(),
        }))
    }
}
