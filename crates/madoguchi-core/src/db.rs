//! The database handle.
//!
//! One codebase serves SQLite (default, embedded, zero configuration) and PostgreSQL
//! (the scale-out path). We chose sqlx's `Any` driver with one portable SQL dialect
//! over a store trait per backend: the domain SQL is written once (lowercase, `$n`
//! placeholders, `on conflict`, `returning`), ids are TEXT, times are BIGINT
//! milliseconds and flags are BIGINT 0/1, which both backends store and decode alike.
//! Only the migrations differ per backend (`migrations/sqlite`, `migrations/postgres`),
//! and they create the same tables with the same semantics. The alternative, two typed
//! stores, would double every query for no behaviour the product needs.
//!
//! SQLite allows one writer at a time. A deferred transaction that reads and then
//! writes can fail with "database is locked" without waiting, so every multi-statement
//! write goes through [`Db::begin_write`], which serialises writers inside the process
//! (readers are never blocked under WAL).

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `count` bind placeholders for arguments `first..first + count`, comma-separated,
    /// for statements whose length varies (multi-row inserts, `in` lists). SQLite gets
    /// anonymous `?` (numbered ones are looked up by name per argument, quadratic in a
    /// long statement), so the arguments must be bound in the order they appear.
    pub fn placeholders(self, first: usize, count: usize) -> String {
        let one = |n: usize| match self {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${n}"),
        };
        (first..first + count)
            .map(one)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    writer: Arc<Mutex<()>>,
    /// SQLite file databases: the connection of [`Db::sqlite_transaction`].
    sqlite_writer: Option<Arc<crate::sqlite_writer::SqliteWriter>>,
}

/// A write transaction; on SQLite it also holds the process's writer lock.
pub struct WriteTx {
    backend: Backend,
    tx: Transaction<'static, Any>,
    _writer: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> crate::Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The migrations this binary runs on `backend`, oldest first.
pub fn migrator(backend: Backend) -> &'static sqlx::migrate::Migrator {
    match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    }
}

/// The newest schema version this binary knows on `backend`.
pub fn schema_version(backend: Backend) -> i64 {
    migrator(backend)
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

impl Db {
    /// Opens the embedded SQLite database `madoguchi.db` inside `data_dir`.
    pub async fn open_sqlite(data_dir: &std::path::Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let path = data_dir.join("madoguchi.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::connect(&url).await
    }

    /// Connects to `sqlite://…` or `postgres://…` and runs the migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL (use sqlite:// or postgres://)");
        };
        let options = AnyConnectOptions::from_str(url).context("parsing database URL")?;
        let pool = match backend {
            Backend::Sqlite => {
                // WAL lets readers run beside the writer; synchronous=NORMAL under WAL
                // survives a process crash (kill -9) and only risks the last commits on
                // power loss. sqlx already turns foreign keys on and waits 5 s when busy.
                // An embedded file's connections cannot go stale, so they are not
                // pinged on every acquire (sqlx's default costs each query an extra
                // round trip to the connection's thread).
                AnyPoolOptions::new()
                    .max_connections(8)
                    .test_before_acquire(false)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "pragma journal_mode = wal; pragma synchronous = normal; \
                                 pragma foreign_keys = on; pragma busy_timeout = 10000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
                    .context("opening the SQLite database")?
            }
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .context("connecting to PostgreSQL")?,
        };
        let sqlite_writer = match backend {
            Backend::Sqlite => {
                let path = url
                    .trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:");
                let path = path.split('?').next().unwrap_or_default();
                crate::sqlite_writer::SqliteWriter::open(path)
                    .context("opening the SQLite writer connection")?
                    .map(Arc::new)
            }
            Backend::Postgres => None,
        };
        let db = Self {
            pool,
            backend,
            writer: Arc::new(Mutex::new(())),
            sqlite_writer,
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        match migrator(self.backend).run(&self.pool).await {
            Ok(()) => Ok(()),
            // Migrations only run forward: a schema this binary does not know came from
            // a newer release, and running on it could lose what that release stores.
            Err(sqlx::migrate::MigrateError::VersionMissing(version)) => anyhow::bail!(
                "the database was upgraded by a newer Madoguchi (it has schema version \
                 {version}; this binary knows up to {}): run that release or a newer one, \
                 or restore a backup made with this one",
                schema_version(self.backend)
            ),
            Err(e) => Err(e).context("running database migrations"),
        }
    }

    /// The newest schema version applied to this database (0 before any).
    pub async fn applied_schema_version(&self) -> crate::Result<i64> {
        let version: Option<i64> =
            sqlx::query_scalar("select max(version) from _sqlx_migrations where success")
                .fetch_one(&self.pool)
                .await?;
        Ok(version.unwrap_or(0))
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn begin_write(&self) -> crate::Result<WriteTx> {
        let (writer, tx) = match self.backend {
            // `begin immediate` takes SQLite's write lock up front (waiting on the busy
            // timeout), so a transaction never has to upgrade a stale read snapshot,
            // which SQLite refuses at once; this also covers writers outside the
            // process-wide lock (single autocommit statements, other processes).
            Backend::Sqlite => {
                let writer = self.writer.clone().lock_owned().await;
                (Some(writer), self.pool.begin_with("begin immediate").await?)
            }
            Backend::Postgres => (None, self.pool.begin().await?),
        };
        Ok(WriteTx {
            backend: self.backend,
            tx,
            _writer: writer,
        })
    }

    /// SQLite: runs `work` as one immediate write transaction on a connection of its
    /// own thread, under the process-wide write lock, and commits it when `work`
    /// answers `Ok(Ok(_))` (a whole transaction is one thread hand-off; see
    /// `sqlite_writer`). `None` on PostgreSQL or an in-memory database: use
    /// [`Db::begin_write`]. For the hottest writes only; SQL stays the portable dialect
    /// with `?` placeholders.
    pub async fn sqlite_transaction<T, E>(
        &self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<Result<T, E>> + Send + 'static,
    ) -> Option<crate::Result<Result<T, E>>>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let writer = self.sqlite_writer.as_ref()?;
        let _lock = self.writer.lock().await;
        Some(writer.transaction(work).await)
    }

    /// The server key named `name`, created (random) on first use. Every node sharing
    /// the database gets the same key: the first writer wins and the others read it.
    pub async fn server_key(&self, name: &str) -> crate::Result<String> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "insert into server_keys (name, value, created_at) values ($1, $2, $3) \
             on conflict (name) do nothing",
        )
        .bind(name)
        .bind(crate::ids::random_secret(32))
        .bind(crate::time::system_now_ms())
        .execute(tx.conn())
        .await?;
        let value: String = sqlx::query_scalar("select value from server_keys where name = $1")
            .bind(name)
            .fetch_one(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(value)
    }

    /// Checks the database answers (used by `/healthz`).
    pub async fn ping(&self) -> crate::Result<()> {
        let mut conn = self.pool.acquire().await?;
        conn.ping().await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::Db;

    /// The writer connection commits what its work answers `Ok` for, rolls back the
    /// rest, and the pool's connections see the same file.
    #[tokio::test]
    async fn q2_sqlite_writer_transactions_commit_or_roll_back_as_answered() {
        let dir = std::env::temp_dir().join(format!("madoguchi-writer-{}", crate::ids::new_id()));
        let db = Db::open_sqlite(&dir).await.expect("open");
        let count = || async {
            sqlx::query_scalar::<_, i64>("select count(*) from server_keys where name like 'w-%'")
                .fetch_one(db.pool())
                .await
                .expect("count")
        };
        let insert = |name: &'static str| {
            move |tx: &rusqlite::Transaction<'_>| {
                tx.execute(
                    "insert into server_keys (name, value, created_at) values (?, 'v', 0)",
                    [name],
                )
            }
        };
        let kept = db
            .sqlite_transaction(move |tx| insert("w-kept")(tx).map(Ok::<usize, ()>))
            .await
            .expect("a SQLite file has a writer");
        assert_eq!(kept.expect("ran").expect("ok"), 1);
        assert_eq!(count().await, 1);
        let dropped = db
            .sqlite_transaction(move |tx| insert("w-dropped")(tx).map(|_| Err::<(), _>("no")))
            .await
            .expect("a SQLite file has a writer");
        assert_eq!(dropped.expect("ran"), Err("no"));
        assert_eq!(count().await, 1, "work answering Err is rolled back");
        db.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
