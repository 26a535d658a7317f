//! The durable outbox (SPEC Q2): work for Desk is written to `integ_outbox` in our own
//! database, then done by a worker that retries with exponential backoff while Desk
//! is unreachable. Enqueueing is idempotent by `idem_key` (one "auto-ticket:{chatId}"
//! job per chat, ever), and every job is written so that running it twice has the
//! effect of running it once (see `worker.rs`), because a crash can always happen
//! between doing the work and recording it.
//!
//! A job is a [`Task`] (its `kind` is the serde tag, also kept in its own column for
//! queries) and ends with a [`Done`] kept in `result`.

use madoguchi_core::ids::{new_id, DepartmentId};
use madoguchi_core::{Db, Result};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

/// The first retry waits this long; each next one twice as long, up to [`MAX_BACKOFF_MS`].
pub const FIRST_BACKOFF_MS: i64 = 1_000;
pub const MAX_BACKOFF_MS: i64 = 5 * 60 * 1_000;
/// How long a worker owns a job it claimed (another node takes it over after that).
pub const LEASE_MS: i64 = 60_000;

/// Work for Desk. Stored as JSON with its `kind` tag; rows written before the tag was
/// part of the payload are read with the `kind` column's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Task {
    /// The automatic ticket of a chat that became missed or ended (I7, I8, I18), with
    /// the decision frozen when the event was read.
    AutoTicket {
        chat_id: String,
        /// "attended" | "missed"
        outcome: String,
        /// false: no ticket, record `reason` (I18)
        create: bool,
        #[serde(default)]
        reason: Option<String>,
        status: String,
        #[serde(default)]
        desk_department_id: Option<DepartmentId>,
    },
    /// Append a linked chat's messages to the ticket's chat thread (I11).
    SyncThread { chat_id: String, ticket_id: String },
    /// A visitor edit that could not reach Desk at the time (C6, I18).
    Contact { visitor_id: String },
    /// Finishes a conversion by hand (I10) whose request died after it claimed the
    /// chat: due a little later, and made moot when the request records its ticket.
    Conversion {
        chat_id: String,
        ticket: ConversionTicket,
        /// O6: the operator who asked, so a recovered conversion is theirs in Desk too
        /// (absent in jobs written before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        acting: Option<crate::desk_client::ActingOperator>,
    },
}

/// What an operator asked a conversion's ticket to be (I10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversionTicket {
    pub subject: String,
    pub status: String,
    pub priority: String,
    pub classification: Option<String>,
    pub department_id: Option<DepartmentId>,
}

impl Task {
    pub fn kind(&self) -> &'static str {
        match self {
            Task::AutoTicket { .. } => "auto_ticket",
            Task::SyncThread { .. } => "sync_thread",
            Task::Contact { .. } => "contact",
            Task::Conversion { .. } => "conversion",
        }
    }

    /// One job per key, ever (enqueueing it again changes nothing or re-arms it).
    pub fn idem_key(&self) -> String {
        match self {
            Task::AutoTicket { chat_id, .. } => format!("auto-ticket:{chat_id}"),
            Task::SyncThread { chat_id, ticket_id } => format!("sync:{chat_id}:{ticket_id}"),
            Task::Contact { visitor_id } => format!("contact:{visitor_id}"),
            Task::Conversion { chat_id, .. } => format!("convert:{chat_id}"),
        }
    }

    fn decode(kind: &str, payload: &str) -> serde_json::Result<Self> {
        let mut value: serde_json::Value = serde_json::from_str(payload)?;
        if let Some(obj) = value.as_object_mut() {
            obj.entry("kind")
                .or_insert_with(|| serde_json::Value::String(kind.to_owned()));
        }
        serde_json::from_value(value)
    }
}

/// How a job ended, kept in its `result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "outcome",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Done {
    /// The chat's ticket (made now or found).
    Ticket {
        ticket_id: String,
    },
    /// No ticket, for this reason (a catalog key).
    Skipped {
        reason: String,
    },
    Synced {
        synced_seq: i64,
    },
    Contact {
        contact_id: String,
    },
    /// Nothing was left to do.
    Nothing,
}

#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub chat_portal_id: String,
    pub idem_key: String,
    pub task: Task,
    pub attempts: i64,
}

/// The delay before attempt `attempts + 1`, after `attempts` failed ones.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 20) - 1;
    FIRST_BACKOFF_MS
        .saturating_mul(1_i64 << exp)
        .min(MAX_BACKOFF_MS)
}

/// Enqueues a job due at `due_at` unless one with its key exists. Answers true when it
/// was new.
pub async fn enqueue(
    conn: &mut AnyConnection,
    chat_portal_id: &str,
    task: &Task,
    now: i64,
    due_at: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "insert into integ_outbox (id, chat_portal_id, kind, idem_key, payload, state, attempts, \
         next_attempt_at, locked_until, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, 'pending', 0, $6, 0, $7, $7) on conflict (idem_key) do nothing",
    )
    .bind(new_id())
    .bind(chat_portal_id)
    .bind(task.kind())
    .bind(task.idem_key())
    .bind(payload(task)?)
    .bind(due_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

fn payload(task: &Task) -> Result<String> {
    to_json(task)
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| madoguchi_core::Error::internal(anyhow::Error::new(e)))
}

/// Enqueues a job, or makes the existing one with its key due again (coalescing work
/// such as "append the chat's new messages to the ticket").
pub async fn enqueue_or_rearm(
    conn: &mut AnyConnection,
    chat_portal_id: &str,
    task: &Task,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into integ_outbox (id, chat_portal_id, kind, idem_key, payload, state, attempts, \
         next_attempt_at, locked_until, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, 'pending', 0, $6, 0, $6, $6) \
         on conflict (idem_key) do update set \
         rearmed = case when integ_outbox.state = 'pending' then 1 else 0 end, \
         next_attempt_at = case when integ_outbox.state = 'pending' then integ_outbox.next_attempt_at else excluded.next_attempt_at end, \
         attempts = case when integ_outbox.state = 'pending' then integ_outbox.attempts else 0 end, \
         state = 'pending', updated_at = excluded.updated_at",
    )
    .bind(new_id())
    .bind(chat_portal_id)
    .bind(task.kind())
    .bind(task.idem_key())
    .bind(payload(task)?)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the job with `idem_key` done with `result` inside the caller's transaction
/// (the work it stood for was just recorded there).
pub async fn settle(
    conn: &mut AnyConnection,
    idem_key: &str,
    result: &Done,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "update integ_outbox set state = 'done', locked_until = 0, last_error = null, result = $1, \
         updated_at = $2 where idem_key = $3 and state = 'pending'",
    )
    .bind(to_json(result)?)
    .bind(now)
    .bind(idem_key)
    .execute(conn)
    .await?;
    Ok(())
}

/// Drops a job that was never started (its work was given back).
pub async fn cancel(conn: &mut AnyConnection, idem_key: &str) -> Result<()> {
    sqlx::query(
        "delete from integ_outbox where idem_key = $1 and state = 'pending' and attempts = 0",
    )
    .bind(idem_key)
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims up to `limit` due jobs for `LEASE_MS`. Each claim is a conditional update,
/// so two nodes never run the same job at once.
pub async fn claim_due(db: &Db, now: i64, limit: i64) -> Result<Vec<Job>> {
    let rows = sqlx::query(
        "select id, chat_portal_id, kind, idem_key, payload, attempts from integ_outbox \
         where state = 'pending' and next_attempt_at <= $1 and locked_until <= $1 \
         order by next_attempt_at, created_at limit $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut jobs = Vec::with_capacity(rows.len());
    let mut tx = db.begin_write().await?;
    for row in rows {
        let id: String = row.try_get("id")?;
        let claimed = sqlx::query(
            "update integ_outbox set locked_until = $1, attempts = attempts + 1, rearmed = 0, updated_at = $2 \
             where id = $3 and state = 'pending' and locked_until <= $2",
        )
        .bind(now + LEASE_MS)
        .bind(now)
        .bind(&id)
        .execute(tx.conn())
        .await?;
        if claimed.rows_affected() == 0 {
            continue;
        }
        let kind: String = row.try_get("kind")?;
        let payload: String = row.try_get("payload")?;
        let task = match Task::decode(&kind, &payload) {
            Ok(task) => task,
            Err(e) => {
                // Never runnable: keep it, failed, for a person to look at.
                sqlx::query(
                    "update integ_outbox set state = 'failed', locked_until = 0, last_error = $1, \
                     updated_at = $2 where id = $3",
                )
                .bind(format!("unreadable {kind} job: {e}"))
                .bind(now)
                .bind(&id)
                .execute(tx.conn())
                .await?;
                continue;
            }
        };
        jobs.push(Job {
            id,
            chat_portal_id: row.try_get("chat_portal_id")?,
            idem_key: row.try_get("idem_key")?,
            task,
            attempts: row.try_get::<i64, _>("attempts")? + 1,
        });
    }
    tx.commit().await?;
    Ok(jobs)
}

/// The job is done. A job re-armed while it ran stays pending (due at once).
pub async fn complete(db: &Db, job: &Job, result: &Done, now: i64) -> Result<()> {
    let result = to_json(result)?;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "update integ_outbox set state = case when rearmed = 1 then 'pending' else 'done' end, \
         attempts = case when rearmed = 1 then 0 else attempts end, rearmed = 0, \
         locked_until = 0, last_error = null, result = $1, updated_at = $2 where id = $3",
    )
    .bind(result)
    .bind(now)
    .bind(&job.id)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The job failed this time: try again after the backoff.
pub async fn retry_later(db: &Db, job: &Job, error: &str, now: i64) -> Result<i64> {
    let at = now + backoff_ms(job.attempts);
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "update integ_outbox set next_attempt_at = $1, locked_until = 0, last_error = $2, updated_at = $3 \
         where id = $4 and state = 'pending'",
    )
    .bind(at)
    .bind(error)
    .bind(now)
    .bind(&job.id)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(at)
}

/// The job can never succeed (e.g. the chat is gone): keep it, marked failed.
pub async fn fail(db: &Db, job: &Job, error: &str, now: i64) -> Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "update integ_outbox set state = 'failed', locked_until = 0, last_error = $1, updated_at = $2 where id = $3",
    )
    .bind(error)
    .bind(now)
    .bind(&job.id)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Pending and failed jobs of one Chat portal.
pub async fn portal_counts(db: &Db, chat_portal_id: &str) -> Result<(i64, i64)> {
    let row = sqlx::query(
        "select coalesce(sum(case when state = 'pending' then 1 else 0 end), 0) as pending, \
         coalesce(sum(case when state = 'failed' then 1 else 0 end), 0) as failed \
         from integ_outbox where chat_portal_id = $1",
    )
    .bind(chat_portal_id)
    .fetch_one(db.pool())
    .await?;
    Ok((row.try_get("pending")?, row.try_get("failed")?))
}

/// Counts of jobs by state (metrics, tests).
pub async fn counts(db: &Db) -> Result<Vec<(String, i64)>> {
    let rows =
        sqlx::query("select state, count(*) as n from integ_outbox group by state order by state")
            .fetch_all(db.pool())
            .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn q2_backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(5), 16_000);
        assert_eq!(backoff_ms(30), MAX_BACKOFF_MS);
    }

    #[test]
    fn q2_jobs_written_before_the_tag_still_decode() {
        // Payloads of earlier releases carry no `kind`: the column gives it.
        let old = r#"{"chatId":"c1","outcome":"missed","create":false,"reason":"integ-skip-no-email","status":"Open","deskDepartmentId":null}"#;
        let task = Task::decode("auto_ticket", old).unwrap();
        assert_eq!(
            task,
            Task::AutoTicket {
                chat_id: "c1".into(),
                outcome: "missed".into(),
                create: false,
                reason: Some("integ-skip-no-email".into()),
                status: "Open".into(),
                desk_department_id: None,
            }
        );
        let contact = r#"{"visitorId":"v1","email":"a@example.jp","name":null,"phone":null}"#;
        assert_eq!(
            Task::decode("contact", contact).unwrap(),
            Task::Contact {
                visitor_id: "v1".into()
            }
        );
        let sync = Task::SyncThread {
            chat_id: "c1".into(),
            ticket_id: "t1".into(),
        };
        let stored = payload(&sync).unwrap();
        assert!(stored.contains(r#""kind":"sync_thread""#), "{stored}");
        assert_eq!(Task::decode("sync_thread", &stored).unwrap(), sync);
        assert_eq!(sync.idem_key(), "sync:c1:t1");
        assert!(Task::decode("teleport", r#"{"chatId":"c1"}"#).is_err());
    }
}
