//! SQL of threads: replies, notes and mails, chat transcripts with their messages,
//! and the files kept on them.

use super::{
    ChatMessage, ChatMessageIn, ChatThread, SystemLine, TextThread, Thread, ThreadAuthor,
    ThreadKind,
};
use madoguchi_core::ids::new_id;
use madoguchi_core::time::rfc3339;
use madoguchi_core::Result;
use sqlx::{AnyExecutor, Row};
use std::collections::HashMap;

/// True when the portal has the ticket.
pub(crate) async fn ticket_exists(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    ticket_id: &str,
) -> Result<bool> {
    let row = sqlx::query("select id from desk_tickets where portal_id = $1 and id = $2")
        .bind(portal_id)
        .bind(ticket_id)
        .fetch_optional(e)
        .await?;
    Ok(row.is_some())
}

/// Inserts a reply or a note.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_text(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    ticket_id: &str,
    id: &str,
    kind: ThreadKind,
    content: &str,
    author: &ThreadAuthor,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into desk_threads (id, portal_id, ticket_id, kind, content, author_id, author_name, \
         chat_id, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, null, $8, $8)",
    )
    .bind(id)
    .bind(portal_id)
    .bind(ticket_id)
    .bind(kind.as_str())
    .bind(content)
    .bind(&author.id)
    .bind(&author.name)
    .bind(now)
    .execute(e)
    .await?;
    Ok(())
}

/// Inserts the ticket's thread for `chat_id` unless it has one; answers 1 when it
/// was made, 0 when it existed.
pub(crate) async fn insert_chat_thread(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    ticket_id: &str,
    chat_id: &str,
    now: i64,
) -> Result<u64> {
    Ok(sqlx::query(
        "insert into desk_threads (id, portal_id, ticket_id, kind, content, author_id, author_name, \
         chat_id, created_at, updated_at) values ($1, $2, $3, 'chat', null, null, null, $4, $5, $5) \
         on conflict (ticket_id, chat_id) do nothing",
    )
    .bind(new_id())
    .bind(portal_id)
    .bind(ticket_id)
    .bind(chat_id)
    .bind(now)
    .execute(e)
    .await?
    .rows_affected())
}

/// The id of the ticket's thread for `chat_id`.
pub(crate) async fn chat_thread_id(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    ticket_id: &str,
    chat_id: &str,
) -> Result<Option<String>> {
    let row = sqlx::query(
        "select id from desk_threads where portal_id = $1 and ticket_id = $2 and chat_id = $3",
    )
    .bind(portal_id)
    .bind(ticket_id)
    .bind(chat_id)
    .fetch_optional(e)
    .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

/// Adds a chat message (created at `at` ms) unless the thread holds its `seq`;
/// answers how many were added (0 or 1).
pub(crate) async fn insert_message(
    e: impl AnyExecutor<'_>,
    thread_id: &str,
    m: &ChatMessageIn,
    at: i64,
) -> Result<u64> {
    let done = sqlx::query(
        "insert into desk_thread_messages (thread_id, seq, sender, sender_name, text, created_at, \
         system_kind, system_arg) values ($1, $2, $3, $4, $5, $6, $7, $8) \
         on conflict (thread_id, seq) do nothing",
    )
    .bind(thread_id)
    .bind(m.seq)
    .bind(&m.sender)
    .bind(&m.sender_name)
    .bind(&m.text)
    .bind(at)
    .bind(m.system.as_ref().map(|sys| sys.kind.clone()))
    .bind(m.system.as_ref().and_then(|sys| sys.arg.clone()))
    .execute(e)
    .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn touch_thread(e: impl AnyExecutor<'_>, thread_id: &str, now: i64) -> Result<()> {
    sqlx::query("update desk_threads set updated_at = $1 where id = $2")
        .bind(now)
        .bind(thread_id)
        .execute(e)
        .await?;
    Ok(())
}

/// A chat file to keep on a thread (already checked).
pub(crate) struct NewFile<'a> {
    pub key: &'a str,
    pub seq: i64,
    pub name: &'a str,
    pub content_type: &'a str,
    pub data_base64: &'a str,
    pub size: i64,
}

/// Keeps a chat file on the thread unless it holds one with the same key; answers
/// how many were added (0 or 1).
pub(crate) async fn insert_file(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    ticket_id: &str,
    thread_id: &str,
    file: &NewFile<'_>,
    now: i64,
) -> Result<u64> {
    Ok(sqlx::query(
        "insert into desk_thread_attachments (id, portal_id, ticket_id, thread_id, name, content_type, \
         size, data_base64, created_at, source_key, chat_seq) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         on conflict (thread_id, source_key) do nothing",
    )
    .bind(new_id())
    .bind(portal_id)
    .bind(ticket_id)
    .bind(thread_id)
    .bind(file.name)
    .bind(file.content_type)
    .bind(file.size)
    .bind(file.data_base64)
    .bind(now)
    .bind(file.key)
    .bind(file.seq)
    .execute(e)
    .await?
    .rows_affected())
}

/// `(id, name, content_type, size)` of the thread's file with `key`.
pub(crate) async fn file_by_key(
    e: impl AnyExecutor<'_>,
    thread_id: &str,
    key: &str,
) -> Result<(String, String, String, i64)> {
    let row = sqlx::query(
        "select id, name, content_type, size from desk_thread_attachments \
         where thread_id = $1 and source_key = $2",
    )
    .bind(thread_id)
    .bind(key)
    .fetch_one(e)
    .await?;
    Ok((
        row.try_get("id")?,
        row.try_get("name")?,
        row.try_get("content_type")?,
        row.try_get("size")?,
    ))
}

/// The ticket's threads, oldest first, chat threads with every message by `seq`
/// and every thread with its files (`url_prefix` + id is a file's URL).
pub(crate) async fn list(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    ticket_id: &str,
    url_prefix: &str,
) -> Result<Vec<Thread>> {
    let rows = sqlx::query(
            "select id, kind, content, author_id, author_name, chat_id, created_at, direction, mail_from, \
             mail_to, mail_subject, message_id, quoted, delivery_state, delivery_error, delivery_attempts \
             from desk_threads where portal_id = $1 and ticket_id = $2 order by created_at, id",
        )
        .bind(portal_id)
        .bind(ticket_id)
        .fetch_all(&mut *conn)
        .await?;
    let messages = sqlx::query(
            "select m.thread_id, m.seq, m.sender, m.sender_name, m.text, m.created_at, m.system_kind, m.system_arg \
             from desk_thread_messages m join desk_threads th on th.id = m.thread_id \
             where th.portal_id = $1 and th.ticket_id = $2 order by m.thread_id, m.seq",
        )
        .bind(portal_id)
        .bind(ticket_id)
        .fetch_all(&mut *conn)
        .await?;
    let files = sqlx::query(
        "select id, thread_id, name, content_type, size, chat_seq from desk_thread_attachments \
             where portal_id = $1 and ticket_id = $2 order by chat_seq, created_at, id",
    )
    .bind(portal_id)
    .bind(ticket_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut attachments: HashMap<String, Vec<crate::mail::AttachmentRef>> = HashMap::new();
    // V3: a chat's files by (thread, seq of the message that sent them).
    let mut by_seq: HashMap<(String, i64), crate::mail::AttachmentRef> = HashMap::new();
    for f in &files {
        let id: String = f.try_get("id")?;
        let thread_id: String = f.try_get("thread_id")?;
        let file = crate::mail::AttachmentRef {
            url: format!("{url_prefix}{id}"),
            id,
            name: f.try_get("name")?,
            content_type: f.try_get("content_type")?,
            size: f.try_get("size")?,
        };
        if let Some(seq) = f.try_get::<Option<i64>, _>("chat_seq")? {
            by_seq.insert((thread_id.clone(), seq), file.clone());
        }
        attachments.entry(thread_id).or_default().push(file);
    }
    let mut by_thread: HashMap<String, Vec<ChatMessage>> = HashMap::new();
    for m in &messages {
        let thread_id: String = m.try_get("thread_id")?;
        let seq: i64 = m.try_get("seq")?;
        let attachment = by_seq.remove(&(thread_id.clone(), seq));
        by_thread.entry(thread_id).or_default().push(ChatMessage {
            seq,
            sender: m.try_get("sender")?,
            sender_name: m.try_get("sender_name")?,
            text: m.try_get("text")?,
            created_at: rfc3339(m.try_get("created_at")?),
            system: m
                .try_get::<Option<String>, _>("system_kind")?
                .map(|kind| -> Result<SystemLine> {
                    Ok(SystemLine {
                        kind,
                        arg: m.try_get("system_arg")?,
                    })
                })
                .transpose()?,
            attachment,
        });
    }
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            let kind = ThreadKind::from_db(&row.try_get::<String, _>("kind")?)?;
            let created_at = rfc3339(row.try_get("created_at")?);
            Ok(match kind {
                ThreadKind::Chat => Thread::Chat(ChatThread {
                    messages: by_thread.remove(&id).unwrap_or_default(),
                    attachments: attachments.remove(&id).unwrap_or_default(),
                    id,
                    kind,
                    chat_id: row
                        .try_get::<Option<String>, _>("chat_id")?
                        .unwrap_or_default(),
                    created_at,
                }),
                _ => Thread::Text(TextThread {
                    attachments: attachments.remove(&id).unwrap_or_default(),
                    id,
                    kind,
                    content: row
                        .try_get::<Option<String>, _>("content")?
                        .unwrap_or_default(),
                    author_id: row.try_get("author_id")?,
                    author_name: row.try_get("author_name")?,
                    direction: row.try_get("direction")?,
                    from: row.try_get("mail_from")?,
                    to: row.try_get("mail_to")?,
                    subject: row.try_get("mail_subject")?,
                    message_id: row.try_get("message_id")?,
                    delivery: match row.try_get::<Option<String>, _>("delivery_state")? {
                        Some(state) => Some(crate::mail::Delivery {
                            state,
                            error: row.try_get("delivery_error")?,
                            attempts: row
                                .try_get::<Option<i64>, _>("delivery_attempts")?
                                .unwrap_or(0),
                        }),
                        None => None,
                    },
                    quoted: row.try_get("quoted")?,
                    created_at,
                }),
            })
        })
        .collect()
}

/// The ids of the tickets holding a transcript of chat `chat_id`, oldest first.
pub(crate) async fn tickets_for_chat(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    chat_id: &str,
) -> Result<Vec<madoguchi_core::ids::TicketId>> {
    let rows = sqlx::query(
        "select ticket_id from desk_threads where portal_id = $1 and chat_id = $2 order by created_at, id",
    )
    .bind(portal_id)
    .bind(chat_id)
    .fetch_all(e)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("ticket_id")?)).collect()
}

pub(crate) async fn touch_ticket(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    ticket_id: &str,
    now: i64,
) -> Result<()> {
    sqlx::query("update desk_tickets set updated_at = $1 where portal_id = $2 and id = $3")
        .bind(now)
        .bind(portal_id)
        .bind(ticket_id)
        .execute(conn)
        .await?;
    Ok(())
}
