//! C5: the durable record of lifecycle transitions (`chat_events`). Each transition of
//! a chat (waiting, attended, missed, ended) is inserted in the transaction that makes
//! it, with an id from a counter row whose lock orders ids by commit. A consumer (the
//! integration's auto-ticket worker, I7) keeps "the last id I handled" and reads
//! [`crate::Chat::events_after`]; nothing is skipped and a restart resumes.

use crate::Chat;
use madoguchi_core::{Result, WriteTx};
use serde::Serialize;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatEvent {
    pub id: i64,
    pub portal_id: String,
    pub chat_id: String,
    /// "waiting" | "attended" | "missed" | "ended".
    pub kind: String,
    /// The operator who caused it (accept, end), if any.
    pub actor_id: Option<String>,
    pub created_at: i64,
}

pub(crate) async fn record(
    tx: &mut WriteTx,
    portal_id: &str,
    chat_id: &str,
    kind: &str,
    actor_id: Option<&str>,
    now: i64,
) -> Result<ChatEvent> {
    let id: i64 = sqlx::query(
        "update chat_counters set value = value + 1 where name = 'events' returning value",
    )
    .fetch_one(tx.conn())
    .await?
    .try_get("value")?;
    sqlx::query(
        "insert into chat_events (id, portal_id, chat_id, kind, actor_id, created_at) values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(portal_id)
    .bind(chat_id)
    .bind(kind)
    .bind(actor_id)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(ChatEvent {
        id,
        portal_id: portal_id.to_owned(),
        chat_id: chat_id.to_owned(),
        kind: kind.to_owned(),
        actor_id: actor_id.map(str::to_owned),
        created_at: now,
    })
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<ChatEvent> {
    Ok(ChatEvent {
        id: r.try_get("id")?,
        portal_id: r.try_get("portal_id")?,
        chat_id: r.try_get("chat_id")?,
        kind: r.try_get("kind")?,
        actor_id: r.try_get("actor_id")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Chat {
    /// Lifecycle events with `id > after_id`, oldest first, at most `limit` (all portals).
    pub async fn events_after(&self, after_id: i64, limit: i64) -> Result<Vec<ChatEvent>> {
        let rows = sqlx::query(
            "select id, portal_id, chat_id, kind, actor_id, created_at from chat_events \
             where id > $1 order by id limit $2",
        )
        .bind(after_id)
        .bind(limit.max(0))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The history of one chat, oldest first.
    pub async fn chat_history(&self, chat_id: &str) -> Result<Vec<ChatEvent>> {
        let rows = sqlx::query(
            "select id, portal_id, chat_id, kind, actor_id, created_at from chat_events \
             where chat_id = $1 order by id",
        )
        .bind(chat_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }
}
