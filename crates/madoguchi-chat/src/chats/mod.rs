//! C3/C5: chats and their lifecycle.
//!
//! ```text
//! waiting ──accept──▶ attended ──end / idle / visitor left──▶ ended
//!    │                                                        ▲
//!    └─ wait limit / visitor left / nobody could take it ─▶ missed ─┘ (end / idle / visitor left)
//! ```
//! Every transition is one write transaction: the conditional state update (so two
//! operators accepting at once get one winner), a system line in the transcript and a
//! row in `chat_events`; after commit it is published to the consoles and the
//! integration's hook is woken. `outcome` is set on attended/missed and kept.

pub(crate) mod store;

use crate::events::{self, ChatEvent};
use crate::messages::{self, Message, MessageView, Sender, SystemKind};
use crate::operators::OperatorCtx;
use crate::portals::Portal;
use crate::visitors::{self, Visitor, VisitorFields};
use crate::Chat;
use madoguchi_core::error::is_unique_violation;
use madoguchi_core::ids::{hash_secret, new_id};
use madoguchi_core::{Error, ErrorCode, Lang, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

madoguchi_core::wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    #[strum(serialize_all = "lowercase")]
    pub enum ChatState {
        Waiting,
        Attended,
        Missed,
        Ended,
    }
}

madoguchi_core::wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    #[strum(serialize_all = "lowercase")]
    pub enum Outcome {
        Attended,
        Missed,
    }
}

madoguchi_core::wire_enum! {
    /// I7/I18: what became of the automatic ticket (written by the integration).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    #[strum(serialize_all = "lowercase")]
    pub enum AutoTicketStatus {
        Created,
        Skipped,
        Pending,
        None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoTicket {
    pub status: AutoTicketStatus,
    /// Why it was skipped, in the reader's language, or null. Stored as a message key
    /// of the catalog (e.g. `integ-skip-no-email`); see [`AutoTicket::localized`].
    pub reason: Option<String>,
}

impl AutoTicket {
    /// The view for a reader of `lang`: the stored reason key becomes its text. What
    /// is stored stays a key, so every reader gets their own language.
    pub fn localized(mut self, lang: Lang) -> Self {
        self.reason = self.reason.map(|r| localized_reason(&r, lang));
        self
    }
}

/// The text of a stored auto-ticket reason in `lang`; a reason that is no message key
/// (written by an older version) is shown as stored.
pub fn localized_reason(reason: &str, lang: Lang) -> String {
    if madoguchi_core::i18n::has(reason) {
        madoguchi_core::i18n::t(lang, reason)
    } else {
        reason.to_owned()
    }
}

/// [`AutoTicket::localized`] for a chat view already serialised (a live event's
/// `chat`, shared by every console of the portal whatever their language).
pub fn localize_chat_json(chat: &mut serde_json::Value, lang: Lang) {
    if let Some(reason) = chat.pointer_mut("/autoTicket/reason") {
        if let Some(text) = reason.as_str().map(|r| localized_reason(r, lang)) {
            *reason = serde_json::Value::String(text);
        }
    }
}

/// A chat in the API (API.md "Chat").
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatView {
    pub id: String,
    #[serde(skip)]
    pub portal_id: String,
    pub state: ChatState,
    /// Set when the chat becomes attended or missed, kept after it ends.
    pub outcome: Option<Outcome>,
    pub department_id: Option<String>,
    pub department_name: Option<String>,
    pub operator_id: Option<String>,
    pub operator_name: Option<String>,
    pub visitor: Visitor,
    /// The visitor's first message (seq 1).
    pub question: String,
    #[schema(value_type = Vec<String>)]
    pub desk_ticket_ids: Vec<madoguchi_core::ids::TicketId>,
    /// O4: supervisors and admins who joined the chat besides its owner (`operatorId`).
    pub participant_ids: Vec<String>,
    /// O2: the latest hand-over of the chat, with the note for the receiver.
    pub transfer: Option<crate::toolkit::TransferView>,
    /// O3: the operator a waiting chat is offered to (round_robin / least_busy).
    pub offered_to: Option<String>,
    pub auto_ticket: AutoTicket,
    /// The highest message seq so far.
    pub last_seq: i64,
    #[serde(serialize_with = "crate::serde_time::ms")]
    #[schema(value_type = String)]
    pub created_at: i64,
    #[serde(serialize_with = "crate::serde_time::opt_ms")]
    #[schema(value_type = Option<String>)]
    pub accepted_at: Option<i64>,
    #[serde(serialize_with = "crate::serde_time::opt_ms")]
    #[schema(value_type = Option<String>)]
    pub missed_at: Option<i64>,
    #[serde(serialize_with = "crate::serde_time::opt_ms")]
    #[schema(value_type = Option<String>)]
    pub ended_at: Option<i64>,
    /// V2: the chat came from the widget's offline form.
    pub offline_message: bool,
    /// V5: the visitor's rating, once the chat ended.
    pub rating: Option<crate::visitor_experience::Rating>,
    /// With `GET …/chats/{id}`: the transcript ordered by seq.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<MessageView>>,
}

impl ChatView {
    /// The view for a reader of `lang` (the auto-ticket reason; see
    /// [`AutoTicket::localized`]). Every place that serves a chat calls it.
    pub fn localized(mut self, lang: Lang) -> Self {
        self.auto_ticket = self.auto_ticket.localized(lang);
        self
    }
}

/// A visitor starting a chat from the widget (`POST …/chats`).
#[derive(Debug, Clone, Default)]
pub struct NewChat {
    pub department_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub question: String,
    pub client_message_id: String,
    /// The client's address, for the new-chat limit.
    pub client_address: Option<String>,
    /// New chats per address per minute; `None`: no limit.
    pub rate_limit: Option<u32>,
    /// V2: a message left with the widget's offline form: the chat is missed at once
    /// and marked as such (the integration makes it a ticket).
    pub offline: bool,
    /// V4: the widget's id of the visitor's browser (same browser, same visitor).
    pub browser_id: Option<String>,
}

/// The answer to a started chat.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartedChat {
    pub chat_id: String,
    pub visitor_id: String,
    /// The visitor's secret for this chat (Bearer for the widget calls). Only its hash
    /// is stored; an idempotent retry answers a fresh token for the same chat.
    pub visitor_token: String,
}

/// A visitor authenticated by their token, on their chat.
#[derive(Debug, Clone)]
pub struct VisitorSession {
    pub portal_id: String,
    pub chat_id: String,
    pub visitor_id: String,
    pub department_id: Option<String>,
    pub state: ChatState,
}

/// `GET …/chats` filters.
#[derive(Debug, Clone, Default)]
pub struct ChatListFilter {
    pub state: Option<String>,
    /// History search: visitor name, email, message text (substring).
    pub q: Option<String>,
    pub limit: Option<i64>,
}

/// One lifecycle transition.
struct Move<'a> {
    from: &'static [ChatState],
    to: ChatState,
    outcome: Option<Outcome>,
    operator_id: Option<&'a str>,
    system: Option<(SystemKind, Option<String>)>,
    /// Events recorded, in order (e.g. "missed", "ended" when a waiting chat is ended).
    kinds: &'static [&'static str],
    actor_id: Option<&'a str>,
}

/// A chat's start may be retried (same `clientMessageId`, same client address) this
/// long after it started.
pub const START_RETRY_WINDOW_MS: i64 = 10 * 60 * 1000;

pub const DEFAULT_LIST_LIMIT: i64 = 100;
pub const MAX_LIST_LIMIT: i64 = 500;

impl Chat {
    /// C3: a visitor starts a chat. The question is message seq 1 from the visitor.
    /// If no available operator may take it now, the chat is missed at once (C5) and
    /// the message kept. Idempotent by `clientMessageId` per portal.
    #[tracing::instrument(skip_all, fields(portal = %portal.name))]
    pub async fn start_chat(&self, portal: &Portal, new: NewChat) -> Result<StartedChat> {
        let question = messages::parse_text("question", &new.question)?;
        let client_id = messages::parse_client_id(&new.client_message_id)?.to_owned();
        let address = new.client_address.as_deref();
        if let Some(started) = self.existing_chat(&portal.id, &client_id, address).await? {
            return Ok(started);
        }
        let fields = VisitorFields {
            name: visitors::parse_name(new.name.as_deref())?,
            email: visitors::parse_email(new.email.as_deref())?,
            phone: visitors::parse_phone(new.phone.as_deref())?,
        };
        let departments = self.departments(&portal.id).await?;
        let department_id = match new
            .department_id
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            Some(id) => match departments.iter().find(|d| d.id == id) {
                Some(d) => Some(d.id.clone()),
                None => {
                    return Err(Error::invalid(
                        "departmentId",
                        "chat-error-department-unknown",
                    ))
                }
            },
            // With one department there is nothing to choose.
            None if departments.len() == 1 => Some(departments[0].id.clone()),
            None => None,
        };
        let now = self.clock.now_ms();
        if let (Some(limit), Some(address)) = (new.rate_limit, new.client_address.as_deref()) {
            if !self.limits.allow_new_chat(address, limit, now) {
                return Err(Error::new(ErrorCode::RateLimited));
            }
        }
        let can_take = !new.offline
            && self
                .someone_can_take(&portal.id, department_id.as_deref())
                .await?;
        let browser_id = crate::visitor_experience::parse_browser_id(new.browser_id.as_deref())?;
        let chat_id = new_id();
        let visitor_id = new_id();
        let token = self.visitor_token(&chat_id).await?;
        let mut tx = self.db.begin_write().await?;
        visitors::store::insert(&mut tx, &visitor_id, &portal.id, &fields, now).await?;
        let row = store::NewChatRow {
            id: &chat_id,
            portal_id: &portal.id,
            department_id: department_id.as_deref(),
            visitor_id: &visitor_id,
            state: if can_take {
                ChatState::Waiting
            } else {
                ChatState::Missed
            },
            question: &question,
            client_message_id: &client_id,
            last_seq: if can_take { 1 } else { 2 },
            client_address: new.client_address.as_deref(),
            now,
        };
        match store::insert(&mut tx, &row).await {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => {
                // A concurrent retry of the same chat won.
                drop(tx);
                return self
                    .existing_chat(&portal.id, &client_id, address)
                    .await?
                    .ok_or_else(|| Error::new(ErrorCode::Conflict));
            }
            Err(e) => return Err(e.into()),
        }
        let first = Message {
            id: new_id(),
            chat_id: chat_id.clone(),
            seq: 1,
            sender: Sender::Visitor,
            sender_user_id: None,
            sender_name: fields.name.clone(),
            text: question.clone(),
            system_kind: None,
            system_arg: None,
            attachment: None,
            created_at: now,
        };
        messages::store::insert(&mut tx, &first, Some(&format!("visitor:{client_id}"))).await?;
        if !can_take {
            let kind = if new.offline {
                SystemKind::Offline
            } else {
                SystemKind::Missed
            };
            let missed = system_message(&chat_id, 2, kind, None, now);
            messages::store::insert(&mut tx, &missed, None).await?;
        }
        if new.offline {
            crate::visitor_experience::store::insert_offline(
                &mut tx, &chat_id, &portal.id, &client_id, now,
            )
            .await?;
        }
        if let Some(browser) = &browser_id {
            crate::visitor_experience::store::insert_browser(
                &mut tx, &chat_id, &portal.id, browser, now,
            )
            .await?;
        }
        store::insert_token(&mut tx, &hash_secret(&token), &chat_id, now).await?;
        if can_take {
            // O3: one operator at a time, when the portal routes so.
            crate::toolkit::offer_in(
                &mut tx,
                &portal.id,
                portal.routing,
                portal.max_chats_per_operator,
                &chat_id,
                department_id.as_deref(),
            )
            .await?;
        }
        let mut recorded =
            vec![events::record(&mut tx, &portal.id, &chat_id, "waiting", None, now).await?];
        if !can_take {
            recorded
                .push(events::record(&mut tx, &portal.id, &chat_id, "missed", None, now).await?);
        }
        tx.commit().await?;
        self.after_transition(&chat_id, None, &recorded).await?;
        Ok(StartedChat {
            chat_id,
            visitor_id,
            visitor_token: token,
        })
    }

    /// The chat a retry refers to, answered exactly as the first time, with its visitor
    /// token: only to the client address that started it and within
    /// [`START_RETRY_WINDOW_MS`] of its start (a retry after a lost answer comes at
    /// once). Anyone else who learnt the `clientMessageId` gets 409 `conflict`, not the
    /// visitor's token.
    async fn existing_chat(
        &self,
        portal_id: &str,
        client_id: &str,
        client_address: Option<&str>,
    ) -> Result<Option<StartedChat>> {
        let Some(found) = store::by_client_id(&self.db, portal_id, client_id).await? else {
            return Ok(None);
        };
        let same_client = found.client_address.as_deref() == client_address;
        let recent = self.clock.now_ms() - found.created_at <= START_RETRY_WINDOW_MS;
        if !(same_client && recent) {
            return Err(Error::new(ErrorCode::Conflict)
                .with_field("clientMessageId")
                .with_message("chat-error-client-id-used"));
        }
        let token = self.visitor_token(&found.chat_id).await?;
        Ok(Some(StartedChat {
            chat_id: found.chat_id,
            visitor_id: found.visitor_id,
            visitor_token: token,
        }))
    }

    /// The visitor holding `token` on chat `chat_id` of portal `portal_name`: 401 for
    /// an unknown token, 403 for a token of another chat, 404 for another portal.
    pub async fn visitor_session(
        &self,
        portal_name: &str,
        chat_id: &str,
        token: &str,
    ) -> Result<VisitorSession> {
        // A token works until its chat has been ended for the configured time (the
        // returning visitor reads the transcript meanwhile); then it is unknown.
        let ended_after = self.clock.now_ms() - self.visitor_token_ttl_ms;
        let (session, portal_name_of_chat) =
            store::session_by_token(&self.db, &hash_secret(token), ended_after)
                .await?
                .ok_or_else(|| Error::new(ErrorCode::Unauthenticated))?;
        if portal_name_of_chat != portal_name {
            return Err(Error::not_found());
        }
        if session.chat_id != chat_id {
            return Err(Error::forbidden());
        }
        Ok(session)
    }

    /// C5: the visitor leaves. Waiting → missed; attended or missed → ended.
    pub async fn visitor_leave(&self, session: &VisitorSession) -> Result<ChatState> {
        for _ in 0..3 {
            let state = store::state_of(&self.db, &session.chat_id)
                .await?
                .ok_or_else(Error::not_found)?;
            let mv = match state {
                ChatState::Ended => return Ok(state),
                ChatState::Waiting => Move {
                    from: &[ChatState::Waiting],
                    to: ChatState::Missed,
                    outcome: Some(Outcome::Missed),
                    operator_id: None,
                    system: Some((SystemKind::Left, None)),
                    kinds: &["missed"],
                    actor_id: None,
                },
                ChatState::Attended | ChatState::Missed => Move {
                    from: &[ChatState::Attended, ChatState::Missed],
                    to: ChatState::Ended,
                    outcome: None,
                    operator_id: None,
                    system: Some((SystemKind::Left, None)),
                    kinds: &["ended"],
                    actor_id: None,
                },
            };
            if let Some(chat) = self.apply(&session.chat_id, mv).await? {
                return Ok(chat.state);
            }
        }
        Err(Error::new(ErrorCode::Conflict))
    }

    /// C2/C5: an operator who may take the chat accepts it; the first wins, a second
    /// accept gets 409 `conflict`.
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn accept_chat(&self, op: &OperatorCtx, chat_id: &str) -> Result<ChatView> {
        let chat = self.chat_for_operator(op, chat_id).await?;
        let mv = Move {
            from: &[ChatState::Waiting],
            to: ChatState::Attended,
            outcome: Some(Outcome::Attended),
            operator_id: Some(&op.user_id),
            system: Some((SystemKind::Joined, Some(op.name.clone()))),
            kinds: &["attended"],
            actor_id: Some(&op.user_id),
        };
        if chat.state == ChatState::Waiting {
            self.check_accept(op, &chat).await?;
        }
        self.apply(&chat.id, mv)
            .await?
            .ok_or_else(|| Error::new(ErrorCode::Conflict).with_message("chat-error-not-waiting"))
    }

    /// C5: an operator ends a chat. A waiting chat is recorded as missed, then ended.
    /// Ending an ended chat answers it unchanged.
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn end_chat(&self, op: &OperatorCtx, chat_id: &str) -> Result<ChatView> {
        for _ in 0..3 {
            let chat = self.chat_for_operator(op, chat_id).await?;
            crate::toolkit::require_closer(op, &chat)?;
            let mv = match chat.state {
                ChatState::Ended => return Ok(chat),
                ChatState::Waiting => Move {
                    from: &[ChatState::Waiting],
                    to: ChatState::Ended,
                    outcome: Some(Outcome::Missed),
                    operator_id: None,
                    system: Some((SystemKind::Ended, None)),
                    kinds: &["missed", "ended"],
                    actor_id: Some(&op.user_id),
                },
                ChatState::Attended | ChatState::Missed => Move {
                    from: &[ChatState::Attended, ChatState::Missed],
                    to: ChatState::Ended,
                    outcome: None,
                    operator_id: None,
                    system: Some((SystemKind::Ended, None)),
                    kinds: &["ended"],
                    actor_id: Some(&op.user_id),
                },
            };
            if let Some(chat) = self.apply(&chat.id, mv).await? {
                return Ok(chat);
            }
        }
        Err(Error::new(ErrorCode::Conflict))
    }

    /// C5 timer: waiting chats past their portal's wait limit become missed. Called
    /// every ~250 ms by the web layer's background task; safe on several nodes (the
    /// conditional update lets one win). Answers how many changed.
    pub async fn mark_overdue_missed(&self) -> Result<usize> {
        let ids = store::overdue_waiting(&self.db, self.clock.now_ms()).await?;
        let mv = Move {
            from: &[ChatState::Waiting],
            to: ChatState::Missed,
            outcome: Some(Outcome::Missed),
            operator_id: None,
            system: Some((SystemKind::Missed, None)),
            kinds: &["missed"],
            actor_id: None,
        };
        self.apply_to_each(&ids, &mv).await
    }

    /// Idle chats: attended or missed chats without activity for the portal's idle
    /// limit end.
    pub async fn end_idle_chats(&self) -> Result<usize> {
        let ids = store::idle_open(&self.db, self.clock.now_ms()).await?;
        let mv = Move {
            from: &[ChatState::Attended, ChatState::Missed],
            to: ChatState::Ended,
            outcome: None,
            operator_id: None,
            system: Some((SystemKind::EndedIdle, None)),
            kinds: &["ended"],
            actor_id: None,
        };
        self.apply_to_each(&ids, &mv).await
    }

    /// Applies a transition; `None` when the chat was not in a `from` state.
    async fn apply(&self, chat_id: &str, mv: Move<'_>) -> Result<Option<ChatView>> {
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let Some(done) = apply_in(&mut tx, chat_id, &mv, now).await? else {
            return Ok(None);
        };
        tx.commit().await?;
        self.after_transition(chat_id, done.message.as_ref(), &done.recorded)
            .await
            .map(Some)
    }

    /// The timers' transitions: [`TIMER_BATCH`] chats per write transaction, so that
    /// a burst (thousands of chats overdue at once) neither takes a commit per chat
    /// nor holds the writer long enough to delay messages much. Answers how many
    /// chats changed.
    async fn apply_to_each(&self, ids: &[String], mv: &Move<'_>) -> Result<usize> {
        let mut ids = ids.to_vec();
        ids.sort();
        let mut changed = 0;
        for chunk in ids.chunks(TIMER_BATCH) {
            let now = self.clock.now_ms();
            let mut tx = self.db.begin_write().await?;
            // All chat rows first, in id order, then lines and events (the events
            // counter last): the lock order of message batches and of single
            // transitions, so transactions of PostgreSQL nodes cannot deadlock.
            let mut moved = Vec::with_capacity(chunk.len());
            for id in chunk {
                if let Some(m) = move_in(&mut tx, id, mv, now).await? {
                    moved.push((id, m));
                }
            }
            let mut done = Vec::with_capacity(moved.len());
            for (id, m) in moved {
                done.push((id, record_in(&mut tx, id, m, mv, now).await?));
            }
            tx.commit().await?;
            for (id, d) in done {
                match self
                    .after_transition(id, d.message.as_ref(), &d.recorded)
                    .await
                {
                    Ok(_) => changed += 1,
                    Err(e) => {
                        tracing::warn!(chat = %id, error = %e, "publishing a timer transition failed")
                    }
                }
            }
        }
        Ok(changed)
    }

    /// After commit: publish the system line, then the chat's new state (in this
    /// order, so a console never sees a state before its line), then wake the hook.
    async fn after_transition(
        &self,
        chat_id: &str,
        message: Option<&Message>,
        recorded: &[ChatEvent],
    ) -> Result<ChatView> {
        let chat = self
            .chat_by_id(chat_id)
            .await?
            .ok_or_else(Error::not_found)?;
        if let Some(m) = message {
            self.publish_message(&chat.portal_id, chat.department_id.as_deref(), m)
                .await;
        }
        let event_id = recorded.last().map_or(0, |e| e.id);
        self.publish_chat_state(&chat, event_id).await;
        let hook = self.desk_hook();
        for event in recorded {
            hook.on_chat_event(event);
        }
        Ok(chat)
    }

    /// The seq of the chat's newest message; `None` for an unknown chat.
    pub async fn last_seq(&self, chat_id: &str) -> Result<Option<i64>> {
        store::last_seq(&self.db, chat_id).await
    }

    /// A chat by id, in any portal (for the integration and the timers).
    pub async fn chat_by_id(&self, chat_id: &str) -> Result<Option<ChatView>> {
        let Some(chat) = store::view(&self.db, None, chat_id).await? else {
            return Ok(None);
        };
        let mut chats = [chat];
        self.fill_links(&mut chats).await?;
        let [mut chat] = chats;
        chat.visitor.pages = crate::visitor_experience::store::pages(&self.db, chat_id).await?;
        Ok(Some(chat))
    }

    /// A chat of the operator's portal they may see: 404 unknown (or another portal's),
    /// 403 another department's.
    pub async fn chat_for_operator(&self, op: &OperatorCtx, chat_id: &str) -> Result<ChatView> {
        let chat = store::view(&self.db, Some(&op.portal.id), chat_id)
            .await?
            .ok_or_else(Error::not_found)?;
        if !op.may_see_department(chat.department_id.as_deref()) {
            return Err(Error::forbidden());
        }
        let mut chats = [chat];
        self.fill_links(&mut chats).await?;
        let [mut chat] = chats;
        chat.visitor.pages = crate::visitor_experience::store::pages(&self.db, chat_id).await?;
        Ok(chat)
    }

    /// `deskTicketIds` and `autoTicket` from the integration, which keeps them.
    async fn fill_links(&self, chats: &mut [ChatView]) -> Result<()> {
        if chats.is_empty() {
            return Ok(());
        }
        let ids: Vec<madoguchi_core::ids::ChatId> =
            chats.iter().map(|c| c.id.as_str().into()).collect();
        let mut links = self.desk_hook().chat_links(&ids).await?;
        for chat in chats.iter_mut() {
            let l = links.remove(chat.id.as_str()).unwrap_or_default();
            chat.desk_ticket_ids = l.desk_ticket_ids;
            chat.auto_ticket = l.auto_ticket;
        }
        // O2, O4: participants and the latest transfer.
        crate::toolkit::fill(&self.db, chats).await?;
        Ok(())
    }

    /// `GET …/chats/{id}`: the chat with its transcript, both in `lang`.
    pub async fn chat_detail(
        &self,
        op: &OperatorCtx,
        chat_id: &str,
        lang: Lang,
    ) -> Result<ChatView> {
        let mut chat = self.chat_for_operator(op, chat_id).await?;
        let messages = self.transcript(chat_id).await?;
        let reader = self.operator_reader(&op.portal.name);
        chat.messages = Some(messages.iter().map(|m| m.view(lang, &reader)).collect());
        Ok(chat.localized(lang))
    }

    /// C4: the chats the operator may see, by state; `q` searches the history by
    /// visitor name or email and message text.
    pub async fn list_chats(
        &self,
        op: &OperatorCtx,
        filter: ChatListFilter,
    ) -> Result<Vec<ChatView>> {
        let state = match filter
            .state
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(s) => Some(
                ChatState::parse(s).ok_or_else(|| Error::invalid("state", "chat-error-state"))?,
            ),
            None => None,
        };
        let limit = filter.limit.unwrap_or(DEFAULT_LIST_LIMIT);
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            return Err(Error::invalid("limit", "chat-error-limit")
                .with_arg("max", MAX_LIST_LIMIT.to_string()));
        }
        let restrict_to = (!op.role.sees_all_departments()).then_some(op.user_id.as_str());
        let q = filter.q.as_deref().map(str::trim).unwrap_or("");
        let mut chats = store::list(&self.db, &op.portal.id, state, restrict_to, q, limit).await?;
        self.fill_links(&mut chats).await?;
        Ok(chats)
    }

    /// The open chats the operator may see with their last seq (console catch-up).
    pub async fn open_chat_seqs(&self, op: &OperatorCtx) -> Result<Vec<(String, i64)>> {
        let restrict_to = (!op.role.sees_all_departments()).then_some(op.user_id.as_str());
        store::open_seqs(&self.db, &op.portal.id, restrict_to).await
    }
}

/// Chats per write transaction of the timers (see [`Chat::apply_to_each`]).
const TIMER_BATCH: usize = 16;

/// What a transition stored, to publish after commit.
struct Applied {
    message: Option<Message>,
    recorded: Vec<ChatEvent>,
}

/// A transition inside the caller's write transaction: the state change, its system
/// line and its events; `None` when the chat was not in a `from` state.
async fn apply_in(
    tx: &mut madoguchi_core::WriteTx,
    chat_id: &str,
    mv: &Move<'_>,
    now: i64,
) -> Result<Option<Applied>> {
    match move_in(tx, chat_id, mv, now).await? {
        Some(moved) => Ok(Some(record_in(tx, chat_id, moved, mv, now).await?)),
        None => Ok(None),
    }
}

/// The conditional state change; answers (portal id, last seq) when it happened.
async fn move_in(
    tx: &mut madoguchi_core::WriteTx,
    chat_id: &str,
    mv: &Move<'_>,
    now: i64,
) -> Result<Option<(String, i64)>> {
    store::transition(
        tx,
        chat_id,
        mv.from,
        mv.to,
        mv.outcome,
        mv.operator_id,
        mv.system.is_some(),
        now,
    )
    .await
}

/// The system line and the events of a transition that happened.
async fn record_in(
    tx: &mut madoguchi_core::WriteTx,
    chat_id: &str,
    (portal_id, last_seq): (String, i64),
    mv: &Move<'_>,
    now: i64,
) -> Result<Applied> {
    let message = match &mv.system {
        Some((kind, arg)) => {
            let m = system_message(chat_id, last_seq, *kind, arg.clone(), now);
            messages::store::insert(tx, &m, None).await?;
            Some(m)
        }
        None => None,
    };
    let mut recorded = Vec::new();
    for kind in mv.kinds {
        recorded.push(events::record(tx, &portal_id, chat_id, kind, mv.actor_id, now).await?);
    }
    Ok(Applied { message, recorded })
}

pub(crate) fn system_message(
    chat_id: &str,
    seq: i64,
    kind: SystemKind,
    arg: Option<String>,
    now: i64,
) -> Message {
    let mut m = Message {
        id: new_id(),
        chat_id: chat_id.to_owned(),
        seq,
        sender: Sender::System,
        sender_user_id: None,
        sender_name: None,
        text: String::new(),
        system_kind: Some(kind.as_str().to_owned()),
        system_arg: arg,
        attachment: None,
        created_at: now,
    };
    // The stored text is the Japanese line (the default language); readers get theirs.
    m.text = m.text_in(Lang::Ja);
    m
}

#[cfg(test)]
mod auto_ticket_tests {
    use super::{localize_chat_json, AutoTicket, AutoTicketStatus};
    use madoguchi_core::{i18n, Lang};
    use serde_json::json;

    #[test]
    fn i18_the_stored_reason_key_is_shown_in_the_readers_language() {
        let stored = AutoTicket {
            status: AutoTicketStatus::Skipped,
            reason: Some("integ-skip-no-email".into()),
        };
        for lang in [Lang::Ja, Lang::En] {
            let text = i18n::t(lang, "integ-skip-no-email");
            assert_ne!(text, "integ-skip-no-email");
            assert_eq!(stored.clone().localized(lang).reason, Some(text.clone()));
            // A live event's chat, already serialised.
            let mut chat = json!({"id": "c", "autoTicket": {"status": "skipped", "reason": "integ-skip-no-email"}});
            localize_chat_json(&mut chat, lang);
            assert_eq!(chat["autoTicket"]["reason"], text.as_str());
        }
        // No reason, or one that is no key, stays as it is.
        let mut chat = json!({"autoTicket": {"status": "none", "reason": null}});
        localize_chat_json(&mut chat, Lang::En);
        assert_eq!(chat["autoTicket"]["reason"], serde_json::Value::Null);
        let free = AutoTicket {
            status: AutoTicketStatus::Skipped,
            reason: Some("written by hand".into()),
        };
        assert_eq!(
            free.localized(Lang::En).reason.as_deref(),
            Some("written by hand")
        );
    }
}
