//! C3 / Q2: durable messages. Every chat has a gap-free `seq` from 1: the counter on the
//! chat row is incremented in the same write transaction that inserts the message, so
//! a rolled-back write leaves no hole. The client's message id is unique per chat and
//! sender, so a resend returns the stored row instead of a second message. Messages
//! are stored before they are acknowledged and published to the bus after commit.

pub(crate) mod batch;
pub(crate) mod store;

use crate::chats::{ChatState, VisitorSession};
use crate::operators::OperatorCtx;
use crate::Chat;
use madoguchi_core::error::is_unique_violation;
use madoguchi_core::{i18n, Error, ErrorCode, Lang, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const MAX_TEXT_CHARS: usize = 10_000;
pub const MAX_CLIENT_ID_CHARS: usize = 100;

madoguchi_core::wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    #[strum(serialize_all = "lowercase")]
    pub enum Sender {
        Visitor,
        Operator,
        System,
    }
}

madoguchi_core::wire_enum! {
    /// System lines of the transcript (C5), rendered in each reader's language.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[strum(serialize_all = "snake_case")]
    pub enum SystemKind {
        /// An operator accepted the chat (argument: the operator's name).
        Joined,
        /// Nobody could take the chat or nobody accepted it in time.
        Missed,
        /// The visitor left.
        Left,
        /// An operator ended the chat.
        Ended,
        /// The chat ended after a time without messages.
        EndedIdle,
        /// V2: the visitor left a message with the offline form.
        Offline,
        /// V5: the visitor rated the chat (argument: the rating, then a newline and the
        /// comment, if any).
        Rated,
        /// O4: a supervisor or admin joined a chat someone else owns (argument: their name).
        Participant,
        /// O2: the chat was handed to another operator (argument: the receiver's name).
        Transferred,
    }
}

impl SystemKind {
    /// The catalog key of a stored system kind (also for readers outside this crate,
    /// such as the Desk transcript).
    pub fn key(kind: &str) -> &'static str {
        madoguchi_core::transcript::system_key(kind)
    }
}

/// A stored message, as the domain and the bus carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub chat_id: String,
    pub seq: i64,
    pub sender: Sender,
    pub sender_user_id: Option<String>,
    /// The visitor's or operator's name when the message was sent.
    pub sender_name: Option<String>,
    /// The text (for system lines, the Japanese rendering).
    pub text: String,
    pub system_kind: Option<String>,
    pub system_arg: Option<String>,
    /// V3: the file this message sent (its text is the file's name); boxed, as most
    /// messages have none.
    #[serde(default)]
    pub attachment: Option<Box<crate::attachments::Attachment>>,
    pub created_at: i64,
}

impl Message {
    /// The text as a reader in `lang` sees it (system lines are localised).
    pub fn text_in(&self, lang: Lang) -> String {
        match &self.system_kind {
            Some(kind) => system_text(lang, kind, self.system_arg.as_deref()),
            None => self.text.clone(),
        }
    }
}

/// The text of a system line of `kind` with its argument, in `lang`.
pub fn system_text(lang: Lang, kind: &str, arg: Option<&str>) -> String {
    madoguchi_core::transcript::system_text(lang, kind, arg)
}

impl Message {
    /// The sender's name for a reader in `lang` ("Visitor"/"System" when unnamed).
    pub fn sender_name_in(&self, lang: Lang) -> String {
        match (&self.sender_name, self.sender) {
            (Some(n), _) if !n.is_empty() => n.clone(),
            (_, Sender::System) => i18n::t(lang, "chat-system"),
            (_, Sender::Visitor) => i18n::t(lang, "chat-visitor"),
            (_, Sender::Operator) => i18n::t(lang, "chat-operator"),
        }
    }

    /// The message as `reader` sees it (their language, their URL of a file).
    pub fn view(&self, lang: Lang, reader: &crate::attachments::Reader) -> MessageView {
        MessageView {
            attachment: self
                .attachment
                .as_ref()
                .map(|a| reader.view(&self.chat_id, a)),
            id: self.id.clone(),
            seq: self.seq,
            sender: self.sender,
            sender_name: self.sender_name_in(lang),
            text: self.text_in(lang),
            created_at: madoguchi_core::time::rfc3339(self.created_at),
            system_kind: self.system_kind.clone(),
        }
    }
}

/// A message in the API (API.md "Chat": `{id, seq, sender, senderName, text, createdAt}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: String,
    pub seq: i64,
    pub sender: Sender,
    pub sender_name: String,
    pub text: String,
    pub created_at: String,
    /// System lines: what happened ("joined", "missed", "left", "ended", "ended_idle",
    /// "offline"), so a client can follow the chat's state (V6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_kind: Option<String>,
    /// V3: the file the message sent, `{id, name, contentType, size, url}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment: Option<crate::attachments::AttachmentView>,
}

/// Who writes a message.
#[derive(Clone)]
pub(crate) struct Author {
    pub sender: Sender,
    pub user_id: Option<String>,
    /// An operator's name; a visitor's is read from the visitor when storing.
    pub name: Option<String>,
    /// Prefix of the idempotency key: resends are recognised per sender.
    pub key: String,
}

impl Author {
    /// The sender name to store, given the visitor's name read with the write.
    pub(crate) fn name_with(&self, visitor_name: Option<String>) -> Option<String> {
        match self.sender {
            Sender::Visitor => visitor_name,
            _ => self.name.clone(),
        }
    }
}

pub(crate) fn parse_text(field: &str, raw: &str) -> Result<String> {
    if raw.trim().is_empty() {
        return Err(Error::invalid(field, "chat-error-text-empty"));
    }
    if raw.chars().count() > MAX_TEXT_CHARS {
        return Err(Error::invalid(field, "chat-error-text-long")
            .with_arg("max", MAX_TEXT_CHARS.to_string()));
    }
    Ok(raw.to_owned())
}

pub(crate) fn parse_client_id(raw: &str) -> Result<&str> {
    let id = raw.trim();
    if id.is_empty() || id.chars().count() > MAX_CLIENT_ID_CHARS {
        return Err(Error::invalid(
            "clientMessageId",
            "chat-error-client-message-id",
        ));
    }
    Ok(id)
}

impl Chat {
    /// C3: a visitor's message (Bearer visitor token). Same `clientMessageId` → the
    /// stored message. Allowed until the chat ended; at least 20 messages/s per chat
    /// are always accepted (Q3), a flood beyond the burst gets 429.
    #[tracing::instrument(skip_all, fields(chat = %session.chat_id))]
    pub async fn post_visitor_message(
        &self,
        session: &VisitorSession,
        text: &str,
        client_message_id: &str,
    ) -> Result<Message> {
        let text = parse_text("text", text)?;
        let client_id = parse_client_id(client_message_id)?;
        if !self
            .limits
            .allow_message(&session.chat_id, self.clock.now_ms())
        {
            return Err(Error::new(ErrorCode::RateLimited));
        }
        let author = Author {
            sender: Sender::Visitor,
            user_id: None,
            // Read with the write (the operator may have just corrected it).
            name: None,
            key: "visitor".into(),
        };
        self.post(
            &session.portal_id,
            &session.chat_id,
            session.department_id.as_deref(),
            author,
            &text,
            client_id,
            &[ChatState::Waiting, ChatState::Attended, ChatState::Missed],
        )
        .await
    }

    /// C4: an operator's reply. The chat must be accepted first (attended) or missed
    /// (a follow-up); the operator must see its department.
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn post_operator_message(
        &self,
        op: &OperatorCtx,
        chat_id: &str,
        text: &str,
        client_message_id: &str,
    ) -> Result<Message> {
        let text = parse_text("text", text)?;
        let client_id = parse_client_id(client_message_id)?;
        let chat = self.chat_for_operator(op, chat_id).await?;
        crate::toolkit::require_writer(op, &chat)?;
        let author = Author {
            sender: Sender::Operator,
            user_id: Some(op.user_id.clone()),
            name: Some(op.name.clone()),
            key: format!("op:{}", op.user_id),
        };
        self.post(
            &op.portal.id,
            &chat.id,
            chat.department_id.as_deref(),
            author,
            &text,
            client_id,
            &[ChatState::Attended, ChatState::Missed],
        )
        .await
    }

    /// Store (with whatever else is being posted: [`batch`]), then publish. Answers
    /// the stored message (the earlier one for a resend).
    #[allow(clippy::too_many_arguments)]
    async fn post(
        &self,
        portal_id: &str,
        chat_id: &str,
        department_id: Option<&str>,
        author: Author,
        text: &str,
        client_id: &str,
        allowed: &'static [ChatState],
    ) -> Result<Message> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let pending = batch::Pending {
            portal_id: portal_id.to_owned(),
            chat_id: chat_id.to_owned(),
            department_id: department_id.map(str::to_owned),
            author,
            text: text.to_owned(),
            client_id: client_id.to_owned(),
            allowed,
            reply,
        };
        let writers = self
            .message_writer
            .get_or_init(|| batch::Writers::spawn(self));
        if writers.of(chat_id).send(pending).await.is_err() {
            return Err(Error::internal(anyhow::anyhow!(
                "the message writer stopped"
            )));
        }
        answer.await.unwrap_or_else(|_| {
            Err(Error::internal(anyhow::anyhow!(
                "the message writer stopped"
            )))
        })
    }

    /// Stores one message in a transaction of its own, then publishes it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn post_one(
        &self,
        portal_id: &str,
        chat_id: &str,
        department_id: Option<&str>,
        author: &Author,
        text: &str,
        client_id: &str,
        allowed: &[ChatState],
    ) -> Result<Message> {
        let client_key = format!("{}:{}", author.key, client_id);
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        if let Some(existing) = store::by_client_key(tx.conn(), chat_id, &client_key).await? {
            return Ok(existing);
        }
        let Some(next) = crate::chats::store::next_seq(&mut tx, chat_id, allowed, now).await?
        else {
            drop(tx);
            return Err(self.not_writable(chat_id).await);
        };
        let message = Message {
            id: madoguchi_core::ids::new_id(),
            chat_id: chat_id.to_owned(),
            seq: next.seq,
            sender: author.sender,
            sender_user_id: author.user_id.clone(),
            sender_name: author.name_with(next.visitor_name),
            text: text.to_owned(),
            system_kind: None,
            system_arg: None,
            attachment: None,
            created_at: now,
        };
        match store::insert(&mut tx, &message, Some(&client_key)).await {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => {
                // A concurrent resend of the same message won: answer that one.
                drop(tx);
                return store::by_client_key(
                    &mut *self.db.pool().acquire().await?,
                    chat_id,
                    &client_key,
                )
                .await?
                .ok_or_else(|| Error::new(ErrorCode::Conflict));
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        self.publish_message(portal_id, department_id, &message)
            .await;
        Ok(message)
    }

    pub(crate) async fn not_writable(&self, chat_id: &str) -> Error {
        match crate::chats::store::state_of(&self.db, chat_id).await {
            Ok(Some(ChatState::Ended)) => {
                Error::new(ErrorCode::Conflict).with_message("chat-error-ended")
            }
            Ok(Some(ChatState::Waiting)) => {
                Error::new(ErrorCode::Conflict).with_message("chat-error-not-accepted")
            }
            Ok(Some(_)) => Error::new(ErrorCode::Conflict),
            Ok(None) => Error::not_found(),
            Err(e) => e,
        }
    }

    /// Messages of a chat with `seq > after_seq`, in order, at most `limit`.
    pub async fn messages_after(
        &self,
        chat_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<Message>> {
        store::after(&self.db, chat_id, after_seq, limit).await
    }

    /// Every message of a chat, in order (transcripts).
    pub async fn transcript(&self, chat_id: &str) -> Result<Vec<Message>> {
        store::after(&self.db, chat_id, 0, i64::MAX).await
    }
}
