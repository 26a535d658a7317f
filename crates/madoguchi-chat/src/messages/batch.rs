//! Group commit of chat messages (Q2). Messages posted at the same time are stored by
//! one writer task in one transaction: on SQLite there is one writer anyway, and a
//! commit costs far more than an insert, so under load many messages share a commit
//! instead of queueing for one each. Nothing is acknowledged before its commit.
//!
//! The writer takes whatever is queued when it is free (no timer: an idle server
//! writes a lone message at once). Within a batch a chat's messages keep their arrival
//! order, so seq follows the order clients were answered in. If a batch fails as a
//! whole, each of its messages is retried in a transaction of its own, so one bad
//! message cannot fail the others.

use super::{store, Author, Message};
use crate::chats::store::NextSeq;
use crate::chats::ChatState;
use crate::Chat;
use madoguchi_core::db::Backend;
use madoguchi_core::rusqlite;
use madoguchi_core::{Error, Result};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// At most this many messages share a commit (bounds a batch's latency).
const MAX_BATCH: usize = 256;
/// Rows per multi-row statement: few distinct statement shapes, so they stay in the
/// prepared-statement cache.
const STATEMENT_ROWS: usize = 32;
/// Posts waiting for the writer; more wait on the channel (backpressure).
const QUEUE: usize = 4096;

/// One message to store, and where to answer.
pub(crate) struct Pending {
    pub portal_id: String,
    pub chat_id: String,
    pub department_id: Option<String>,
    pub author: Author,
    pub text: String,
    pub client_id: String,
    pub allowed: &'static [ChatState],
    pub reply: oneshot::Sender<Result<Message>>,
}

/// What storing one message of a batch came to.
enum Outcome {
    Stored(Message),
    /// The chat is not in a state that takes messages: answered after the commit
    /// (with the stored message if this was a resend of one, else an error).
    NotWritable,
}

pub(crate) fn spawn_writer(chat: Chat) -> mpsc::Sender<Pending> {
    let (tx, mut rx) = mpsc::channel::<Pending>(QUEUE);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            write_batch(&chat, std::mem::take(&mut batch)).await;
        }
    });
    tx
}

async fn write_batch(chat: &Chat, mut batch: Vec<Pending>) {
    // One lock order for every batch (by chat), so batches of two PostgreSQL nodes
    // cannot deadlock; the sort is stable, so each chat keeps its arrival order.
    batch.sort_by(|a, b| a.chat_id.cmp(&b.chat_id));
    match store_batch(chat, &batch).await {
        Ok(outcomes) => {
            // Every message is committed: answer them all first, then publish. The
            // publishing (an encoding and two bus sends a message) must not hold up the
            // acks of the batch's later messages.
            let mut published = Vec::with_capacity(batch.len());
            for (pending, outcome) in batch.into_iter().zip(outcomes) {
                let answer = match outcome {
                    Outcome::Stored(message) => {
                        published.push((pending.portal_id, pending.department_id, message.clone()));
                        Ok(message)
                    }
                    Outcome::NotWritable => match chat.resent(&pending).await {
                        Ok(Some(message)) => Ok(message),
                        Ok(None) => Err(chat.not_writable(&pending.chat_id).await),
                        Err(e) => Err(e),
                    },
                };
                let _ = pending.reply.send(answer);
            }
            for (portal_id, department_id, message) in published {
                chat.publish_message(&portal_id, department_id.as_deref(), &message)
                    .await;
            }
        }
        Err(e) => {
            // A resend in the batch (expected now and then) or a database error.
            tracing::debug!(error = %e, size = batch.len(), "batch not stored as one; storing one by one");
            for pending in batch {
                let answer = chat
                    .post_one(
                        &pending.portal_id,
                        &pending.chat_id,
                        pending.department_id.as_deref(),
                        &pending.author,
                        &pending.text,
                        &pending.client_id,
                        pending.allowed,
                    )
                    .await;
                let _ = pending.reply.send(answer);
            }
        }
    }
}

/// Stores a batch with a handful of statements whatever its size: per round, one
/// `update … returning` advances the seq of every chat that has a message left (one
/// message per chat per round, so two messages of one chat get consecutive seqs in
/// arrival order), then one multi-row insert stores them all. A resend makes the
/// insert store fewer rows than it was given; the batch is then rolled back and
/// retried one by one, which answers resends exactly. On a SQLite file the whole
/// transaction runs on the database's writer thread (one hand-off instead of one per
/// statement); elsewhere through sqlx.
async fn store_batch(chat: &Chat, batch: &[Pending]) -> Result<Vec<Outcome>> {
    let now = chat.clock.now_ms();
    // Shared with the SQLite writer thread, which needs owned data.
    let rows: Arc<[Row]> = batch.iter().map(Row::of).collect();
    let rounds: Arc<[Vec<usize>]> = rounds(&rows).into();
    let resent = || Error::internal(anyhow::anyhow!("a resend in the batch: storing one by one"));
    let work = {
        let (rows, rounds) = (rows.clone(), rounds.clone());
        move |tx: &rusqlite::Transaction<'_>| store_batch_sqlite(tx, &rows, &rounds, now)
    };
    if let Some(result) = chat.db.sqlite_transaction(work).await {
        return result?.map_err(|Resent| resent());
    }
    let mut tx = chat.db.begin_write().await?;
    let mut outcomes = Outcomes::new(&rows);
    for round in rounds.iter() {
        let mut seqs = std::collections::HashMap::new();
        for (states, ids) in by_states(&rows, round) {
            for chunk in ids.chunks(STATEMENT_ROWS) {
                for next in crate::chats::store::next_seqs(&mut tx, chunk, states, now).await? {
                    seqs.insert(next.chat_id.clone(), next);
                }
            }
        }
        outcomes.round(&rows, round, seqs, now);
    }
    let mut inserted = 0;
    for chunk in outcomes.stored_rows(&rows).chunks(STATEMENT_ROWS) {
        inserted += store::insert_many_unless_resent(&mut tx, chunk).await?;
    }
    if inserted != outcomes.stored_count() {
        drop(tx);
        return Err(resent());
    }
    tx.commit().await?;
    Ok(outcomes.finish())
}

/// [`store_batch`] on the SQLite writer thread; `Err(Resent)` rolls back. Here each
/// chat's seq and each row take a statement of their own: in process a statement costs
/// no round trip, and two shapes stay prepared, where multi-row statements of every
/// size had to be written out and parsed again and again.
fn store_batch_sqlite(
    tx: &rusqlite::Transaction<'_>,
    rows: &[Row],
    rounds: &[Vec<usize>],
    now: i64,
) -> rusqlite::Result<Result<Vec<Outcome>, Resent>> {
    let mut outcomes = Outcomes::new(rows);
    for round in rounds {
        let mut seqs = std::collections::HashMap::new();
        for (states, ids) in by_states(rows, round) {
            let sql = crate::chats::store::next_seqs_sql(Backend::Sqlite, 1, states);
            let mut statement = tx.prepare_cached(&sql)?;
            for id in ids {
                let mut answered = statement.query(rusqlite::params![now, now, id])?;
                if let Some(r) = answered.next()? {
                    let next = NextSeq {
                        chat_id: r.get("id")?,
                        seq: r.get("last_seq")?,
                        visitor_name: r.get("visitor_name")?,
                    };
                    seqs.insert(next.chat_id.clone(), next);
                }
            }
        }
        outcomes.round(rows, round, seqs, now);
    }
    let mut statement = tx.prepare_cached(&store::insert_many_sql(Backend::Sqlite, 1))?;
    let mut inserted = 0;
    for (m, client_key) in outcomes.stored_rows(rows) {
        inserted += statement.execute(rusqlite::params_from_iter(store::message_row(
            m,
            Some(client_key),
        )))?;
    }
    if inserted != outcomes.stored_count() {
        return Ok(Err(Resent));
    }
    Ok(Ok(outcomes.finish()))
}

/// A resend in the batch: the batch is rolled back and stored one by one.
struct Resent;

/// What storing needs of a pending message (owned: the SQLite writer runs on its
/// own thread).
struct Row {
    chat_id: String,
    allowed: &'static [ChatState],
    author: Author,
    text: String,
    client_key: String,
}

impl Row {
    fn of(p: &Pending) -> Self {
        Row {
            chat_id: p.chat_id.clone(),
            allowed: p.allowed,
            author: p.author.clone(),
            text: p.text.clone(),
            client_key: format!("{}:{}", p.author.key, p.client_id),
        }
    }
}

/// The rounds of a batch sorted by chat: each round holds the next remaining message
/// of every chat that has one.
fn rounds(rows: &[Row]) -> Vec<Vec<usize>> {
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut depth = 0;
    for (i, row) in rows.iter().enumerate() {
        let same_chat = i > 0 && rows[i - 1].chat_id == row.chat_id;
        depth = if same_chat { depth + 1 } else { 0 };
        if rounds.len() <= depth {
            rounds.push(Vec::new());
        }
        rounds[depth].push(i);
    }
    rounds
}

/// The chats of a round grouped by the states they may be written in (visitors and
/// operators differ): one statement per group.
fn by_states<'a>(rows: &'a [Row], round: &[usize]) -> Vec<(&'static [ChatState], Vec<&'a str>)> {
    let mut groups: Vec<(&'static [ChatState], Vec<&str>)> = Vec::new();
    for &i in round {
        let row = &rows[i];
        match groups.iter_mut().find(|(states, _)| *states == row.allowed) {
            Some((_, ids)) => ids.push(&row.chat_id),
            None => groups.push((row.allowed, vec![&row.chat_id])),
        }
    }
    groups
}

/// The messages of a batch as the rounds store them.
struct Outcomes {
    outcomes: Vec<Option<Outcome>>,
    stored: Vec<(usize, Message)>,
}

impl Outcomes {
    fn new(rows: &[Row]) -> Self {
        Self {
            outcomes: rows.iter().map(|_| None).collect(),
            stored: Vec::with_capacity(rows.len()),
        }
    }

    /// Records a round given the seqs the update answered (a chat without one was not
    /// in a state that takes the message).
    fn round(
        &mut self,
        rows: &[Row],
        round: &[usize],
        mut seqs: std::collections::HashMap<String, NextSeq>,
        now: i64,
    ) {
        for &i in round {
            let row = &rows[i];
            match seqs.remove(row.chat_id.as_str()) {
                Some(next) => self.stored.push((
                    i,
                    Message {
                        id: madoguchi_core::ids::new_id(),
                        chat_id: row.chat_id.clone(),
                        seq: next.seq,
                        sender: row.author.sender,
                        sender_user_id: row.author.user_id.clone(),
                        sender_name: row.author.name_with(next.visitor_name),
                        text: row.text.clone(),
                        system_kind: None,
                        system_arg: None,
                        attachment: None,
                        created_at: now,
                    },
                )),
                None => self.outcomes[i] = Some(Outcome::NotWritable),
            }
        }
    }

    fn stored_count(&self) -> usize {
        self.stored.len()
    }

    /// The messages to insert with their client keys.
    fn stored_rows<'a>(&'a self, rows: &'a [Row]) -> Vec<(&'a Message, &'a str)> {
        self.stored
            .iter()
            .map(|(i, m)| (m, rows[*i].client_key.as_str()))
            .collect()
    }

    fn finish(mut self) -> Vec<Outcome> {
        for (i, message) in self.stored {
            self.outcomes[i] = Some(Outcome::Stored(message));
        }
        self.outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::NotWritable))
            .collect()
    }
}

impl Chat {
    /// The message stored earlier with the client id of `p`, if any.
    async fn resent(&self, p: &Pending) -> Result<Option<Message>> {
        let client_key = format!("{}:{}", p.author.key, p.client_id);
        store::by_client_key(
            &mut *self.db.pool().acquire().await?,
            &p.chat_id,
            &client_key,
        )
        .await
    }
}
