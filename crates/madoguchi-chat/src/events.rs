//! C5: the durable record of lifecycle transitions (`chat_events`). Each transition of
//! a chat (waiting, attended, missed, ended) is inserted in the transaction that makes
//! it, with an id from a counter row whose lock orders ids by commit. A consumer (the
//! integration's auto-ticket worker, I7) keeps "the last id I handled" and reads
//! [`crate::Chat::events_after`]; nothing is skipped and a restart resumes.
//!
//! The operator console uses the same ids as its lifecycle cursor (C3/C4): its socket
//! says where the record stands ([`crate::Chat::last_event_id`]) and a reconnecting
//! console asks for the chats that changed since ([`crate::Chat::chats_changed`]).

use crate::chats::ChatView;
use crate::operators::OperatorCtx;
use crate::Chat;
use madoguchi_core::{ErrorCode, Result, WriteTx};
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;

/// [`Chat::chats_changed`] reads the record in pages of this many events.
const CHANGED_PAGE: i64 = 1000;

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

    /// The newest lifecycle event id (0 when there is none). Every event up to it is
    /// committed: the counter row's lock makes ids visible in commit order.
    pub async fn last_event_id(&self) -> Result<i64> {
        let row = sqlx::query("select value from chat_counters where name = 'events'")
            .fetch_optional(self.db.pool())
            .await?;
        Ok(match row {
            Some(row) => row.try_get("value")?,
            None => 0,
        })
    }

    /// Lifecycle events of one portal with `after_id < id <= up_to`, oldest first, at
    /// most `limit`.
    pub async fn portal_events_after(
        &self,
        portal_id: &str,
        after_id: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<ChatEvent>> {
        let rows = sqlx::query(
            "select id, portal_id, chat_id, kind, actor_id, created_at from chat_events \
             where portal_id = $1 and id > $2 and id <= $3 order by id limit $4",
        )
        .bind(portal_id)
        .bind(after_id)
        .bind(up_to)
        .bind(limit.max(0))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// A reconnecting console's lifecycle catch-up: every chat of the operator's portal
    /// they may see that has events with `after_id < id <= up_to`, as its current view
    /// with the newest such event id, ordered by that id.
    pub async fn chats_changed(
        &self,
        op: &OperatorCtx,
        after_id: i64,
        up_to: i64,
    ) -> Result<Vec<(i64, ChatView)>> {
        let mut newest: HashMap<String, i64> = HashMap::new();
        let mut from = after_id;
        loop {
            let page = self
                .portal_events_after(&op.portal.id, from, up_to, CHANGED_PAGE)
                .await?;
            for event in &page {
                newest.insert(event.chat_id.clone(), event.id);
                from = event.id;
            }
            if (page.len() as i64) < CHANGED_PAGE {
                break;
            }
        }
        let mut order: Vec<(i64, String)> = newest.into_iter().map(|(c, id)| (id, c)).collect();
        order.sort_unstable();
        let mut changed = Vec::with_capacity(order.len());
        for (id, chat_id) in order {
            match self.chat_for_operator(op, &chat_id).await {
                Ok(chat) => changed.push((id, chat)),
                Err(e) if matches!(e.code, ErrorCode::Forbidden | ErrorCode::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(changed)
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
