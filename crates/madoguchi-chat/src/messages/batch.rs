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
use crate::chats::ChatState;
use crate::Chat;
use madoguchi_core::{Error, Result};
use tokio::sync::{mpsc, oneshot};

/// At most this many messages share a commit (bounds a batch's latency).
const MAX_BATCH: usize = 256;
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
    /// The same client message id was stored before (a resend).
    Existing(Message),
    /// The chat is not in a state that takes messages (answered after the commit).
    NotWritable,
    /// A concurrent resend on another node won and is not visible yet: read it after
    /// the commit.
    Raced,
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
                    Outcome::Existing(message) => Ok(message),
                    Outcome::NotWritable => Err(chat.not_writable(&pending.chat_id).await),
                    Outcome::Raced => chat.resent(&pending).await,
                };
                let _ = pending.reply.send(answer);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, size = batch.len(), "batch of messages failed; storing one by one");
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

async fn store_batch(chat: &Chat, batch: &[Pending]) -> Result<Vec<Outcome>> {
    let now = chat.clock.now_ms();
    let mut tx = chat.db.begin_write().await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for p in batch {
        let client_key = format!("{}:{}", p.author.key, p.client_id);
        // Resends are rare: the insert recognises them (on conflict), and only then is
        // the stored message read, instead of a lookup before every message.
        let Some(seq) = crate::chats::store::next_seq(&mut tx, &p.chat_id, p.allowed, now).await?
        else {
            // A resend of a message stored before the chat ended is still answered.
            outcomes.push(
                match store::by_client_key(tx.conn(), &p.chat_id, &client_key).await? {
                    Some(existing) => Outcome::Existing(existing),
                    None => Outcome::NotWritable,
                },
            );
            continue;
        };
        let message = Message {
            id: madoguchi_core::ids::new_id(),
            chat_id: p.chat_id.clone(),
            seq,
            sender: p.author.sender,
            sender_user_id: p.author.user_id.clone(),
            sender_name: p.author.name.clone(),
            text: p.text.clone(),
            system_kind: None,
            system_arg: None,
            created_at: now,
        };
        if store::insert_unless_resent(&mut tx, &message, &client_key).await? {
            outcomes.push(Outcome::Stored(message));
        } else {
            // Stored before (a resend), in this batch or earlier, or by another node
            // meanwhile. This transaction holds the chat's row since `next_seq`, so
            // giving the seq back leaves no gap.
            crate::chats::store::give_back_seq(&mut tx, &p.chat_id).await?;
            outcomes.push(
                match store::by_client_key(tx.conn(), &p.chat_id, &client_key).await? {
                    Some(existing) => Outcome::Existing(existing),
                    None => Outcome::Raced,
                },
            );
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}

impl Chat {
    /// The stored message a lost race was about.
    async fn resent(&self, p: &Pending) -> Result<Message> {
        let client_key = format!("{}:{}", p.author.key, p.client_id);
        store::by_client_key(
            &mut *self.db.pool().acquire().await?,
            &p.chat_id,
            &client_key,
        )
        .await?
        .ok_or_else(|| Error::new(madoguchi_core::ErrorCode::Conflict))
    }
}
