//! SQLite only: one connection on a thread of its own for the hottest write, the
//! chat message batches (Q2). Through sqlx every statement is a hand-off to the
//! connection's thread and back; under load those hand-offs, not SQLite, were most
//! of a batch's time. Here a whole transaction is one hand-off.
//!
//! The same file, the same SQL as the sqlx path; writers still take the process-wide
//! write lock of [`crate::Db`], so this connection is one writer among the others.
//! The connection's thread and its queue of closures are `tokio-rusqlite`'s.

use std::sync::mpsc;

pub(crate) struct SqliteWriter {
    conn: tokio_rusqlite::Connection,
    /// Dropped with the writer: the checkpointer thread then ends.
    _checkpointer: Option<mpsc::Sender<()>>,
}

/// The WAL size (pages of 4 KiB, 64 MiB) at which the writer checkpoints itself, so
/// that the WAL starts over; the checkpointer has copied nearly all of it by then.
/// That checkpoint still syncs both files and holds up the committing batch for a few
/// ms; at 4,096 pages it came every 0.16 s at 10,000 messages/s and was most of the
/// ack p99 (33 ms against 17–19 ms at this size, same runs interleaved).
const WRITER_CHECKPOINT_PAGES: u32 = 16384;
/// How often the checkpointer copies the WAL into the database. Often enough that the
/// writer's own checkpoint finds little left to copy and sync: at 10,000 messages/s
/// 200 ms left up to 20 MB unsynced, and its fsync (4–7 ms here) stalled a commit.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// A thread with a connection of its own that checkpoints the WAL (passive: it copies
/// what no reader still needs and never blocks a writer) every [`CHECKPOINT_EVERY`],
/// until the returned sender is dropped.
fn spawn_checkpointer(path: &str, sync: crate::db::SqliteSync) -> anyhow::Result<mpsc::Sender<()>> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(&crate::db::sqlite_pragmas(sync))?;
    // Only this thread's explicit checkpoints; it reads no pages to keep.
    conn.execute_batch("pragma wal_autocheckpoint = 0;")?;
    conn.execute_batch(crate::db::READER_CACHE)?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("sqlite-checkpointer".into())
        .spawn(move || loop {
            match stopped.recv_timeout(CHECKPOINT_EVERY) {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let checkpoint =
                        conn.query_row("pragma wal_checkpoint(passive)", [], |_| Ok(()));
                    if let Err(e) = checkpoint {
                        tracing::debug!(error = %e, "a background checkpoint did not run");
                    }
                }
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        })?;
    Ok(stop)
}

impl SqliteWriter {
    /// Opens the database file on a new thread (read-only when the database URL says
    /// `mode=ro`, as the pool does); `None` for an in-memory database (another
    /// connection would not see it).
    pub(crate) async fn open(
        path: &str,
        read_only: bool,
        sync: crate::db::SqliteSync,
    ) -> anyhow::Result<Option<Self>> {
        if path.is_empty() || path.contains(":memory:") || path.contains("mode=memory") {
            return Ok(None);
        }
        let conn = if read_only {
            tokio_rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .await?
        } else {
            tokio_rusqlite::Connection::open(path).await?
        };
        let pragmas = crate::db::sqlite_pragmas(sync);
        // Checkpoints: a checkpoint syncs the WAL and the database file (2–10 ms each
        // here, 50 ms at worst), and under load the committing writer ran one every few
        // dozen batches, holding up that batch's acks. The checkpointer thread below
        // now copies the WAL every moment, with its own connection (a passive checkpoint
        // never blocks the writer). The WAL starts over from its beginning only after a
        // checkpoint by the writer itself, with nothing committed in between (a
        // checkpointer elsewhere is always a commit behind: alone it let the WAL grow
        // past 1.6 GB under steady writes), so the writer still checkpoints, but rarely:
        // when the WAL reaches [`WRITER_CHECKPOINT_PAGES`]. By then almost everything is
        // copied and synced, and its checkpoint is short.
        conn.call(move |conn| {
            conn.execute_batch(&pragmas)?;
            conn.execute_batch(&format!(
                "pragma wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES};"
            ))?;
            conn.set_prepared_statement_cache_capacity(64);
            Ok(())
        })
        .await?;
        let checkpointer = if read_only {
            None
        } else {
            Some(spawn_checkpointer(path, sync)?)
        };
        Ok(Some(Self {
            conn,
            _checkpointer: checkpointer,
        }))
    }

    /// Runs `work` in an immediate transaction on the writer thread and commits it
    /// when `work` answers `Ok(Ok(_))`; anything else rolls back.
    pub(crate) async fn transaction<T, E>(
        &self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<Result<T, E>> + Send + 'static,
    ) -> crate::Result<Result<T, E>>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let answer = self
            .conn
            .call(move |conn| {
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let outcome = work(&tx)?;
                if outcome.is_ok() {
                    tx.commit()?;
                }
                Ok(outcome)
            })
            .await;
        match answer {
            Ok(outcome) => Ok(outcome),
            Err(tokio_rusqlite::Error::Rusqlite(e)) => Err(crate::Error::from(e)),
            Err(e) => Err(crate::Error::internal(anyhow::anyhow!(
                "the SQLite writer stopped: {e}"
            ))),
        }
    }
}
