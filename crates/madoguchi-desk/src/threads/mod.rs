//! Threads on a ticket (SPEC D4): replies, notes, and chat transcripts. A chat thread
//! is one per (ticket, chat); its messages keep the chat's `seq`, so appending the
//! same messages again changes nothing (I11: later messages join the same thread).

pub(crate) mod store;

use crate::access::Member;
use crate::Desk;
use madoguchi_core::ids::{new_id, ChatId, TicketId};
use madoguchi_core::time::parse_rfc3339;
use madoguchi_core::{Error, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

madoguchi_core::wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    #[strum(serialize_all = "lowercase")]
    pub enum ThreadKind {
        Reply,
        Note,
        Chat,
        /// A mail received (or, for imported history, sent) through a mailbox (E2).
        Email,
    }
}

impl ThreadKind {
    pub(crate) fn from_db(s: &str) -> Result<Self> {
        Self::parse(s).ok_or_else(|| Error::internal(anyhow::anyhow!("unknown thread kind {s:?}")))
    }
}

/// A reply, a note or a mail: `{id, kind, content, authorId, authorName, direction,
/// from, to, subject, messageId, delivery, attachments, quoted, createdAt}` (the mail
/// fields are null for notes and for replies that were not mailed, E4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TextThread {
    pub id: String,
    pub kind: ThreadKind,
    pub content: String,
    pub author_id: Option<String>,
    pub author_name: Option<String>,
    /// "in" (received) | "out" (mailed) | null.
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub delivery: Option<crate::mail::Delivery>,
    #[serde(default)]
    pub attachments: Vec<crate::mail::AttachmentRef>,
    /// The quoted history under a received mail's new text (folded on the page).
    #[serde(default)]
    pub quoted: Option<String>,
    pub created_at: String,
}

/// A chat transcript: `{id, kind:"chat", chatId, messages:[…], createdAt}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatThread {
    pub id: String,
    pub kind: ThreadKind,
    pub chat_id: String,
    pub messages: Vec<ChatMessage>,
    /// V3: the files sent in the chat, `{id, name, contentType, size, url}`
    /// (downloaded through the ticket's attachment route); left out when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::mail::AttachmentRef>,
    pub created_at: String,
}

/// `{seq, sender, senderName, text, createdAt}`; `sender` is "visitor", "operator"
/// or "system" as in the chat. A message that sent a file (V3) shows it as
/// `attachment` once the file was copied (ignored when storing messages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    pub seq: i64,
    pub sender: String,
    pub sender_name: String,
    /// For a system line, its text in the reader's language (see [`localize_threads`]).
    pub text: String,
    pub created_at: String,
    /// A system line's event, stored so that it reads in the reader's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<crate::mail::AttachmentRef>,
}

/// The event behind a system line of a transcript: `kind` ("joined", "ended",
/// "rated"…) and its argument (a name, or a rating and comment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SystemLine {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arg: Option<String>,
}

/// Renders the system lines of chat threads in `lang` (they are stored as events,
/// with the text of the language they were written in as a fallback).
pub fn localize_threads(threads: &mut [Thread], lang: madoguchi_core::Lang) {
    for thread in threads {
        if let Thread::Chat(chat) = thread {
            for m in &mut chat.messages {
                if let Some(sys) = &m.system {
                    m.text = madoguchi_core::transcript::system_text(
                        lang,
                        &sys.kind,
                        sys.arg.as_deref(),
                    );
                    if m.sender == "system" {
                        m.sender_name = madoguchi_core::i18n::t(lang, "chat-system");
                    }
                }
            }
        }
    }
}

/// V3: a file of a chat to keep on the ticket's chat thread: `key` is the chat's id
/// of the file (a repeated copy finds the first), `seq` the message it was sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatAttachmentIn {
    pub key: String,
    pub seq: i64,
    pub name: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// The largest chat file Desk keeps (the largest limit a Chat portal may set).
pub const CHAT_ATTACHMENT_MAX_BYTES: usize = 50 * 1024 * 1024;

/// A content type as sent, when it is a plain `type/subtype` (with an optional
/// charset); anything else is kept as `application/octet-stream`.
fn plain_content_type(raw: &str) -> String {
    let t = raw.trim().to_ascii_lowercase();
    let (essence, params) = match t.split_once(';') {
        Some((e, p)) => (e.trim().to_owned(), Some(p.trim().to_owned())),
        None => (t.clone(), None),
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
    };
    let ok = essence
        .split_once('/')
        .is_some_and(|(a, b)| token(a) && token(b));
    match (ok, params.as_deref()) {
        (true, None) => essence,
        (true, Some("charset=utf-8")) => format!("{essence}; charset=utf-8"),
        (true, Some(_)) => essence,
        (false, _) => "application/octet-stream".into(),
    }
}

/// A chat message to store: the same shape, `createdAt` in RFC 3339.
pub type ChatMessageIn = ChatMessage;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
// A ticket holds few threads and they are moved, not copied in bulk: boxing the text
// variant would only change every caller's patterns.
#[allow(clippy::large_enum_variant)]
pub enum Thread {
    Chat(ChatThread),
    Text(TextThread),
}

impl Thread {
    pub fn id(&self) -> &str {
        match self {
            Thread::Chat(t) => &t.id,
            Thread::Text(t) => &t.id,
        }
    }
}

/// `{kind:"reply"|"note", content}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewThread {
    pub kind: ThreadKind,
    pub content: String,
}

/// Who wrote a reply when it is not the acting member (an operator replying from the
/// chat, I20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadAuthor {
    pub id: Option<String>,
    pub name: String,
}

const CONTENT_MAX: usize = 100_000;
const SENDERS: &[&str] = &["visitor", "operator", "system"];

async fn check_ticket(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    ticket_id: &str,
) -> Result<()> {
    if store::ticket_exists(conn, portal_id, ticket_id).await? {
        Ok(())
    } else {
        Err(Error::not_found())
    }
}

fn check_messages(messages: &[ChatMessageIn]) -> Result<Vec<(i64, &ChatMessageIn)>> {
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let field = |name: &str| format!("messages[{i}].{name}");
        if m.seq < 1 {
            return Err(Error::invalid(field("seq"), "desk-error-chat-message"));
        }
        if !SENDERS.contains(&m.sender.as_str()) {
            return Err(Error::invalid(field("sender"), "desk-error-chat-message"));
        }
        if m.text.chars().count() > CONTENT_MAX || m.sender_name.chars().count() > 200 {
            return Err(Error::invalid(field("text"), "desk-error-chat-message"));
        }
        if m.system.as_ref().is_some_and(|sys| {
            sys.kind.is_empty()
                || sys.kind.len() > 40
                || sys.arg.as_ref().is_some_and(|a| a.chars().count() > 2000)
        }) {
            return Err(Error::invalid(field("system"), "desk-error-chat-message"));
        }
        let at = parse_rfc3339(&m.created_at)
            .ok_or_else(|| Error::invalid(field("createdAt"), "desk-error-chat-message"))?;
        out.push((at, m));
    }
    Ok(out)
}

impl Desk {
    /// Adds a reply or a note written by the acting member; 404 `not_found` for an
    /// unknown ticket; `kind` "chat" is refused (400 naming `kind`): transcripts come
    /// through [`Desk::upsert_chat_thread`].
    pub async fn add_thread(
        &self,
        member: &Member,
        ticket_id: &str,
        new: &NewThread,
    ) -> Result<Thread> {
        self.add_thread_as(member, ticket_id, new, None).await
    }

    /// [`Desk::add_thread`] naming another author (an operator replying from the chat).
    pub async fn add_thread_as(
        &self,
        member: &Member,
        ticket_id: &str,
        new: &NewThread,
        author: Option<ThreadAuthor>,
    ) -> Result<Thread> {
        if matches!(new.kind, ThreadKind::Chat | ThreadKind::Email) {
            return Err(Error::invalid("kind", "desk-error-thread-kind"));
        }
        let content =
            crate::required_text("content", &new.content, CONTENT_MAX, "desk-error-content")?;
        // O6: the operator a service-key call acts for is the author.
        let author = match author {
            Some(a) if member.actor.is_none() => a,
            _ => ThreadAuthor {
                id: member.actor_id().map(str::to_owned),
                name: member.actor_name().to_owned(),
            },
        };
        let id = new_id();
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        check_ticket(tx.conn(), &member.portal_id, ticket_id).await?;
        store::insert_text(
            tx.conn(),
            &member.portal_id,
            ticket_id,
            &id,
            new.kind,
            &content,
            &author,
            now,
        )
        .await?;
        store::touch_ticket(tx.conn(), &member.portal_id, ticket_id, now).await?;
        if member.actor.is_some() {
            // O6: a reply written from the chat is in the history under the operator.
            crate::tickets::store::record(
                tx.conn(),
                member,
                ticket_id,
                new.kind.as_str(),
                None,
                Some(&id),
                now,
            )
            .await?;
        }
        // A reply reaches the contact by mail when it can (E4).
        let mailed = new.kind == ThreadKind::Reply
            && self
                .plan_reply_mail(tx.conn(), &member.portal_id, ticket_id, &id, &content, now)
                .await?;
        tx.commit().await?;
        if mailed {
            self.mail_notify.notify_one();
        }
        self.threads(member, ticket_id)
            .await?
            .into_iter()
            .find(|t| t.id() == id)
            .ok_or_else(Error::not_found)
    }

    /// Creates the ticket's thread for chat `chat_id` if it has none, and adds the
    /// messages it does not hold yet (by `seq`); idempotent, so a retried or repeated
    /// append never duplicates. Answers the whole thread.
    pub async fn upsert_chat_thread(
        &self,
        member: &Member,
        ticket_id: &TicketId,
        chat_id: &ChatId,
        messages: &[ChatMessageIn],
    ) -> Result<Thread> {
        let chat_id = crate::required_text("chatId", chat_id, 200, "desk-error-chat-id")?;
        let checked = check_messages(messages)?;
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        check_ticket(tx.conn(), &member.portal_id, ticket_id).await?;
        let created =
            store::insert_chat_thread(tx.conn(), &member.portal_id, ticket_id, &chat_id, now)
                .await?;
        if created > 0 && member.actor.is_some() {
            // O6: an operator associated the chat with the ticket.
            crate::tickets::store::record(
                tx.conn(),
                member,
                ticket_id,
                "chatThread",
                None,
                Some(&chat_id),
                now,
            )
            .await?;
        }
        let thread_id = store::chat_thread_id(tx.conn(), &member.portal_id, ticket_id, &chat_id)
            .await?
            .ok_or_else(Error::not_found)?;
        let mut added = 0;
        for (at, m) in checked {
            added += store::insert_message(tx.conn(), &thread_id, m, at).await?;
        }
        if added > 0 {
            store::touch_thread(tx.conn(), &thread_id, now).await?;
            store::touch_ticket(tx.conn(), &member.portal_id, ticket_id, now).await?;
        }
        tx.commit().await?;
        self.threads(member, ticket_id)
            .await?
            .into_iter()
            .find(|t| t.id() == thread_id)
            .ok_or_else(Error::not_found)
    }

    /// V3: keeps a file of chat `chat_id` on the ticket's chat thread for it (made by
    /// [`Desk::upsert_chat_thread`] first: 404 `not_found` without one). Idempotent by
    /// `file.key`: copying the same file again answers the stored one.
    pub async fn add_chat_attachment(
        &self,
        member: &Member,
        ticket_id: &TicketId,
        chat_id: &ChatId,
        file: &ChatAttachmentIn,
    ) -> Result<crate::mail::AttachmentRef> {
        use base64::Engine;
        let key = crate::required_text("key", &file.key, 200, "desk-error-chat-id")?;
        if file.data.len() > CHAT_ATTACHMENT_MAX_BYTES {
            return Err(Error::new(madoguchi_core::ErrorCode::FileTooLarge));
        }
        let name: String = file
            .name
            .chars()
            .filter(|c| !c.is_control())
            .take(255)
            .collect();
        let name = if name.trim().is_empty() {
            "file".to_owned()
        } else {
            name.trim().to_owned()
        };
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        check_ticket(tx.conn(), &member.portal_id, ticket_id).await?;
        let thread_id = store::chat_thread_id(tx.conn(), &member.portal_id, ticket_id, chat_id)
            .await?
            .ok_or_else(Error::not_found)?;
        let file = store::NewFile {
            key: &key,
            seq: file.seq,
            name: &name,
            content_type: &plain_content_type(&file.content_type),
            data_base64: &base64::engine::general_purpose::STANDARD.encode(&file.data),
            size: file.data.len() as i64,
        };
        if store::insert_file(
            tx.conn(),
            &member.portal_id,
            ticket_id,
            &thread_id,
            &file,
            now,
        )
        .await?
            > 0
        {
            store::touch_ticket(tx.conn(), &member.portal_id, ticket_id, now).await?;
        }
        let (id, name, content_type, size) =
            store::file_by_key(tx.conn(), &thread_id, &key).await?;
        tx.commit().await?;
        Ok(crate::mail::AttachmentRef {
            url: format!("{}{id}", self.attachment_url_prefix(member, ticket_id)),
            id,
            name,
            content_type,
            size,
        })
    }

    /// `…/tickets/{ticketId}/attachments/`: the start of a file's download URL.
    fn attachment_url_prefix(&self, member: &Member, ticket_id: &str) -> String {
        format!(
            "{}/desk/api/v1/portals/{}/tickets/{ticket_id}/attachments/",
            self.public_url, member.portal_name
        )
    }

    /// The ticket's threads, oldest first, chat threads with every message by `seq`;
    /// 404 `not_found` for an unknown ticket.
    pub async fn threads(&self, member: &Member, ticket_id: &str) -> Result<Vec<Thread>> {
        let mut conn = self.db.pool().acquire().await?;
        check_ticket(&mut conn, &member.portal_id, ticket_id).await?;
        let url_prefix = self.attachment_url_prefix(member, ticket_id);
        store::list(&mut conn, &member.portal_id, ticket_id, &url_prefix).await
    }

    /// The ids of the tickets holding a transcript of chat `chat_id`, oldest first.
    pub async fn tickets_for_chat(
        &self,
        member: &Member,
        chat_id: &ChatId,
    ) -> Result<Vec<TicketId>> {
        store::tickets_for_chat(self.db.pool(), &member.portal_id, chat_id).await
    }
}
