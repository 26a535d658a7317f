//! SQLite only: one connection on a thread of its own for the hottest write, the
//! chat message batches (Q2). Through sqlx every statement is a hand-off to the
//! connection's thread and back; under load those hand-offs, not SQLite, were most
//! of a batch's time. Here a whole transaction is one hand-off.
//!
//! The same file, the same SQL as the sqlx path; writers still take the process-wide
//! write lock of [`crate::Db`], so this connection is one writer among the others.

use std::sync::mpsc;

type Job = Box<dyn FnOnce(&mut rusqlite::Connection) + Send>;

pub(crate) struct SqliteWriter {
    jobs: mpsc::Sender<Job>,
}

impl SqliteWriter {
    /// Opens the database file on a new thread (read-only when the database URL says
    /// `mode=ro`, as the pool does); `None` for an in-memory database (another
    /// connection would not see it).
    pub(crate) fn open(
        path: &str,
        read_only: bool,
        sync: crate::db::SqliteSync,
    ) -> anyhow::Result<Option<Self>> {
        if path.is_empty() || path.contains(":memory:") || path.contains("mode=memory") {
            return Ok(None);
        }
        let mut conn = if read_only {
            rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?
        } else {
            rusqlite::Connection::open(path)?
        };
        conn.execute_batch(&crate::db::sqlite_pragmas(sync))?;
        conn.execute_batch("pragma wal_autocheckpoint = 256;")?;
        // Checkpoints stay on the committing writer (checkpointing elsewhere let the
        // WAL grow without bound under steady writes: it never got fully copied
        // before the next commit), but at a quarter of SQLite's default size, so the
        // commit that runs one holds up its batch's acks for less time.
        conn.set_prepared_statement_cache_capacity(64);
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                // Ends when the last sender (the Db) is dropped.
                while let Ok(job) = queue.recv() {
                    job(&mut conn);
                }
            })?;
        Ok(Some(Self { jobs }))
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
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let run = || -> rusqlite::Result<Result<T, E>> {
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let outcome = work(&tx)?;
                if outcome.is_ok() {
                    tx.commit()?;
                }
                Ok(outcome)
            };
            let _ = reply.send(run());
        });
        self.jobs
            .send(job)
            .map_err(|_| crate::Error::internal(anyhow::anyhow!("the SQLite writer stopped")))?;
        match answer.await {
            Ok(result) => result.map_err(crate::Error::from),
            Err(_) => Err(crate::Error::internal(anyhow::anyhow!(
                "the SQLite writer stopped"
            ))),
        }
    }
}
