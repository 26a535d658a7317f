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
use madoguchi_core::{Error, Result};
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
            for (pending, outcome) in batch.into_iter().zip(outcomes) {
                let answer = match outcome {
                    Outcome::Stored(message) => {
                        chat.publish_message(
                            &pending.portal_id,
                            pending.department_id.as_deref(),
                            &message,
                        )
                        .await;
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

/// Stores a batch with a handful of statements whatever its size (on SQLite each
/// statement is a round trip to the database thread, which costs far more than the
/// write itself): per round, one `update … returning` advances the seq of every chat
/// that has a message left (one message per chat per round, so two messages of one
/// chat get consecutive seqs in arrival order), then one multi-row insert stores them
/// all. A resend makes the insert store fewer rows than it was given; the batch is
/// then rolled back and retried one by one, which answers resends exactly.
async fn store_batch(chat: &Chat, batch: &[Pending]) -> Result<Vec<Outcome>> {
    let now = chat.clock.now_ms();
    let mut tx = chat.db.begin_write().await?;
    let mut outcomes: Vec<Option<Outcome>> = batch.iter().map(|_| None).collect();
    let mut stored: Vec<(usize, Message)> = Vec::with_capacity(batch.len());
    let mut left: Vec<usize> = (0..batch.len()).collect();
    while !left.is_empty() {
        // The first remaining message of each chat (batch is sorted by chat).
        let mut round: Vec<usize> = Vec::new();
        let mut later: Vec<usize> = Vec::new();
        for &i in &left {
            match round.last() {
                Some(&j) if batch[j].chat_id == batch[i].chat_id => later.push(i),
                _ => round.push(i),
            }
        }
        let mut seqs = advance_seqs(&mut tx, batch, &round, now).await?;
        for &i in &round {
            let p = &batch[i];
            match seqs.remove(p.chat_id.as_str()) {
                Some(next) => stored.push((
                    i,
                    Message {
                        id: madoguchi_core::ids::new_id(),
                        chat_id: p.chat_id.clone(),
                        seq: next.seq,
                        sender: p.author.sender,
                        sender_user_id: p.author.user_id.clone(),
                        sender_name: p.author.name_with(next.visitor_name),
                        text: p.text.clone(),
                        system_kind: None,
                        system_arg: None,
                        created_at: now,
                    },
                )),
                None => outcomes[i] = Some(Outcome::NotWritable),
            }
        }
        left = later;
    }
    if !stored.is_empty() {
        let rows: Vec<(&Message, String)> = stored
            .iter()
            .map(|(i, m)| {
                (
                    m,
                    format!("{}:{}", batch[*i].author.key, batch[*i].client_id),
                )
            })
            .collect();
        let mut inserted = 0;
        for chunk in rows.chunks(STATEMENT_ROWS) {
            inserted += store::insert_many_unless_resent(&mut tx, chunk).await?;
        }
        if inserted != rows.len() {
            drop(tx);
            return Err(Error::internal(anyhow::anyhow!(
                "a resend in the batch: storing one by one"
            )));
        }
    }
    tx.commit().await?;
    for (i, message) in stored {
        outcomes[i] = Some(Outcome::Stored(message));
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::NotWritable))
        .collect())
}

/// Advances the seq of each chat of `round` (distinct chats) whose state allows the
/// message; answers chat id → its new seq.
async fn advance_seqs(
    tx: &mut madoguchi_core::WriteTx,
    batch: &[Pending],
    round: &[usize],
    now: i64,
) -> Result<std::collections::HashMap<String, NextSeq>> {
    let mut seqs = std::collections::HashMap::new();
    // Visitors and operators may write in different states: one statement per set.
    let mut by_states: Vec<(&'static [ChatState], Vec<&str>)> = Vec::new();
    for &i in round {
        let p = &batch[i];
        match by_states
            .iter_mut()
            .find(|(states, _)| *states == p.allowed)
        {
            Some((_, ids)) => ids.push(&p.chat_id),
            None => by_states.push((p.allowed, vec![&p.chat_id])),
        }
    }
    for (states, ids) in by_states {
        for chunk in ids.chunks(STATEMENT_ROWS) {
            for next in crate::chats::store::next_seqs(tx, chunk, states, now).await? {
                seqs.insert(next.chat_id.clone(), next);
            }
        }
    }
    Ok(seqs)
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
