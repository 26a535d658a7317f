//! The durable outbox (SPEC Q2): work for Desk is written to `integ_outbox` in our own
//! database, then done by a worker that retries with exponential backoff while Desk
//! is unreachable. Enqueueing is idempotent by `idem_key` (one "auto-ticket:{chatId}"
//! job per chat, ever), and every job is written so that running it twice has the
//! effect of running it once (see `worker.rs`), because a crash can always happen
//! between doing the work and recording it.

use madoguchi_core::ids::new_id;
use madoguchi_core::{Db, Result};
use serde_json::Value;
use sqlx::{AnyConnection, Row};

/// The first retry waits this long; each next one twice as long, up to [`MAX_BACKOFF_MS`].
pub const FIRST_BACKOFF_MS: i64 = 1_000;
pub const MAX_BACKOFF_MS: i64 = 5 * 60 * 1_000;
/// How long a worker owns a job it claimed (another node takes it over after that).
pub const LEASE_MS: i64 = 60_000;

#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub chat_portal_id: String,
    pub kind: String,
    pub idem_key: String,
    pub payload: Value,
    pub attempts: i64,
}

/// The delay before attempt `attempts + 1`, after `attempts` failed ones.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 20) - 1;
    FIRST_BACKOFF_MS
        .saturating_mul(1_i64 << exp)
        .min(MAX_BACKOFF_MS)
}

/// Enqueues a job unless one with this key exists. Answers true when it was new.
pub async fn enqueue(
    conn: &mut AnyConnection,
    chat_portal_id: &str,
    kind: &str,
    idem_key: &str,
    payload: &Value,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "insert into integ_outbox (id, chat_portal_id, kind, idem_key, payload, state, attempts, \
         next_attempt_at, locked_until, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, 'pending', 0, $6, 0, $6, $6) on conflict (idem_key) do nothing",
    )
    .bind(new_id())
    .bind(chat_portal_id)
    .bind(kind)
    .bind(idem_key)
    .bind(payload.to_string())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Enqueues a job, or makes the existing one with this key due again (coalescing work
/// such as "append the chat's new messages to the ticket").
pub async fn enqueue_or_rearm(
    conn: &mut AnyConnection,
    chat_portal_id: &str,
    kind: &str,
    idem_key: &str,
    payload: &Value,
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
    .bind(kind)
    .bind(idem_key)
    .bind(payload.to_string())
    .bind(now)
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
        let payload: String = row.try_get("payload")?;
        jobs.push(Job {
            id,
            chat_portal_id: row.try_get("chat_portal_id")?,
            kind: row.try_get("kind")?,
            idem_key: row.try_get("idem_key")?,
            payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
            attempts: row.try_get::<i64, _>("attempts")? + 1,
        });
    }
    tx.commit().await?;
    Ok(jobs)
}

/// The job is done. A job re-armed while it ran stays pending (due at once).
pub async fn complete(db: &Db, job: &Job, result: Option<&Value>, now: i64) -> Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "update integ_outbox set state = case when rearmed = 1 then 'pending' else 'done' end, \
         attempts = case when rearmed = 1 then 0 else attempts end, rearmed = 0, \
         locked_until = 0, last_error = null, result = $1, updated_at = $2 where id = $3",
    )
    .bind(result.map(Value::to_string))
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
}
