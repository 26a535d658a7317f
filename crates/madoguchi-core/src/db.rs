//! The database handle.
//!
//! One codebase serves SQLite (default, embedded, zero configuration) and PostgreSQL
//! (the scale-out path). We chose sqlx's `Any` driver with one portable SQL dialect
//! over a store trait per backend: the domain SQL is written once (lowercase, `$n`
//! placeholders, `on conflict`, `returning`), ids are TEXT, times are BIGINT
//! milliseconds and flags are BIGINT 0/1, which both backends store and decode alike.
//! The migrations (`migrations/`) are written once too, in SQLite's text; PostgreSQL runs
//! them with the few dialect lines of [`postgres_line`] rewritten, so the two backends
//! cannot drift apart. The alternative, two typed
//! stores, would double every query for no behaviour the product needs.
//!
//! SQLite allows one writer at a time. A deferred transaction that reads and then
//! writes can fail with "database is locked" without waiting, so every multi-statement
//! write goes through [`Db::begin_write`], which serialises writers inside the process
//! (readers are never blocked under WAL).

use crate::error::StorageFailure;
use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};
use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The lock file in a SQLite data directory (Q6).
pub const LOCK_FILE: &str = "madoguchi.lock";
/// How long `/healthz` reuses the last write probe's answer.
const HEALTH_CACHE: Duration = Duration::from_secs(2);
/// A write probe slower than this counts as a failure.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

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
    /// SQLite file databases: the data directory's exclusive lock, held until
    /// [`Db::close`] (the process's lifetime for `serve`); the OS drops it when the
    /// process ends, however it ends.
    dir_lock: Arc<std::sync::Mutex<Option<std::fs::File>>>,
    /// The last write probe of [`Db::check_writable`] and when it ran.
    health: Arc<Mutex<Option<HealthProbe>>>,
    /// SQLite file databases: the file, whose file system [`Db::check_writable`] checks
    /// for space.
    sqlite_file: Option<Arc<Path>>,
}

/// Below this much free space for the database file `/healthz` says the disk is full
/// (Q6). A small write may still succeed there (SQLite reuses the WAL file's space after
/// a checkpoint), but the next larger one will not.
const MIN_FREE_BYTES: u64 = 1 << 20;

/// The bytes an unprivileged writer may still use on the file system of `file`.
fn free_bytes(file: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(file).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Takes the exclusive lock of the data directory `dir` (Q6). Each SQLite server keeps
/// its own in-process live bus, so two processes on one directory would both work
/// yet never see each other's live events; the second one refuses to start instead.
/// The lock file holds the owner's process id, for the second one's message. Writing
/// it is also the first write of start-up, so an unwritable directory or a full disk
/// is named here rather than as a database timeout later.
fn lock_data_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    let unwritable = |e: std::io::Error| {
        anyhow::anyhow!("the data directory {} is not writable: {e}", dir.display())
    };
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(unwritable)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut owner = String::new();
            let _ = file.read_to_string(&mut owner);
            let owner = owner.trim();
            let process = if owner.is_empty() {
                String::new()
            } else {
                format!(" (process {owner})")
            };
            anyhow::bail!(
                "another madoguchi server{process} is using the data directory {}; \
                 stop it first or give this one another --data-dir (several nodes share \
                 one installation through PostgreSQL, --database-url)",
                dir.display()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(anyhow::Error::new(e).context(format!("locking {}", path.display())))
        }
    }
    file.set_len(0).map_err(unwritable)?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(unwritable)?;
    Ok(file)
}

/// A start-up database error with its storage cause in words, when it has one.
fn opening_error(e: sqlx::Error, what: String) -> anyhow::Error {
    match StorageFailure::of_sqlx(&e) {
        Some(f) => anyhow::Error::new(e).context(format!("{what}: {}", f.describe())),
        None => anyhow::Error::new(e).context(what),
    }
}

/// A write probe's answer and when it was taken.
type HealthProbe = (Instant, Result<(), String>);

/// A write transaction; on SQLite it also holds the process's writer lock.
pub struct WriteTx {
    backend: Backend,
    tx: Tx,
    _writer: Option<OwnedMutexGuard<()>>,
}

enum Tx {
    Postgres(Transaction<'static, Any>),
    /// SQLite: `begin immediate` and `commit` issued on a pooled connection by hand,
    /// not through sqlx's transaction. When SQLite fails a statement or the commit
    /// with SQLITE_FULL or SQLITE_IOERR it may roll the transaction back itself; sqlx's
    /// own rollback then fails ("no transaction is active"), its depth count stays
    /// at one and the pooled connection refuses every later `begin` ("non-zero
    /// transaction depth"): after a full disk the server stayed broken once space
    /// was freed. A transaction that ends without a commit closes its connection
    /// instead (closing rolls back whatever is left), so none goes back to the pool
    /// in an unknown state.
    Sqlite(SqliteTx),
}

/// The connection of an open SQLite write transaction; `None` once committed.
struct SqliteTx(Option<PoolConnection<Any>>);

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if let Some(conn) = &mut self.0 {
            conn.close_on_drop();
        }
    }
}

impl WriteTx {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn conn(&mut self) -> &mut AnyConnection {
        match &mut self.tx {
            Tx::Postgres(tx) => tx,
            Tx::Sqlite(conn) => conn
                .0
                .as_deref_mut()
                .expect("a write transaction is open until its commit"),
        }
    }

    pub async fn commit(self) -> crate::Result<()> {
        match self.tx {
            Tx::Postgres(tx) => tx.commit().await?,
            Tx::Sqlite(mut conn) => {
                if let Some(c) = conn.0.as_deref_mut() {
                    c.execute("commit").await?;
                }
                // Committed: the connection goes back to the pool.
                conn.0 = None;
            }
        }
        Ok(())
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
static POSTGRES_MIGRATIONS: LazyLock<sqlx::migrate::Migrator> = LazyLock::new(|| {
    // The source resolves without waiting (it maps migrations already in memory), so
    // blocking on it cannot stall a runtime.
    futures::executor::block_on(sqlx::migrate::Migrator::new(PostgresDialect))
        .expect("the PostgreSQL migrations derive from the embedded ones")
});

/// The one line of our SQLite text that PostgreSQL does not accept, and what it runs
/// instead: a composite-key table stored without SQLite's hidden rowid (half the size)
/// has no rowid to leave out on PostgreSQL. Everything else is the portable dialect.
/// The rewritten text must stay byte for byte what earlier releases ran, or upgraded
/// databases refuse the changed checksum (`tests/migrations_released.rs`).
pub fn postgres_line(line: &str) -> &str {
    match line {
        ") without rowid;" => ");",
        other => other,
    }
}

/// The embedded migrations in PostgreSQL's dialect.
#[derive(Debug)]
struct PostgresDialect;

impl sqlx::migrate::MigrationSource<'static> for PostgresDialect {
    fn resolve(
        self,
    ) -> futures::future::BoxFuture<
        'static,
        std::result::Result<Vec<sqlx::migrate::Migration>, sqlx::error::BoxDynError>,
    > {
        let migrations = SQLITE_MIGRATIONS
            .iter()
            .map(|m| {
                // split_inclusive keeps each line's own ending, so the text is unchanged
                // but for the rewritten lines.
                let sql: String = m
                    .sql
                    .split_inclusive('\n')
                    .map(|line| {
                        let body = line.trim_end_matches(['\r', '\n']);
                        let ending = &line[body.len()..];
                        format!("{}{ending}", postgres_line(body))
                    })
                    .collect();
                sqlx::migrate::Migration::new(
                    m.version,
                    m.description.clone(),
                    m.migration_type,
                    sql.into(),
                    m.no_tx,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

crate::wire_enum! {
    /// How SQLite makes a commit durable (`serve --sync`).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    #[strum(serialize_all = "snake_case")]
    pub enum SqliteSync {
        /// `synchronous=normal` under WAL: a commit survives a process crash (kill -9); on
        /// power loss the last commits before the next checkpoint may be lost.
        #[default]
        Normal,
        /// `synchronous=full`: the WAL is fsynced at every commit (every group commit of
        /// messages), so an acknowledged message survives power loss too, at some latency.
        Full,
    }
}

/// Every SQLite connection's settings, the pool's and the writer thread's alike: WAL
/// lets readers run beside the writer, `sync` says when a commit is on disk, writers
/// wait up to 10 s for the lock instead of failing. Statement journals (a multi-row
/// statement's undo, such as a message batch's) stay in memory: as temporary files they
/// cost every batch an open, an unlink and a close.
pub(crate) fn sqlite_pragmas(sync: SqliteSync) -> String {
    format!(
        "pragma journal_mode = wal; pragma synchronous = {}; pragma foreign_keys = on; \
         pragma busy_timeout = 10000; pragma temp_store = memory;",
        sync.as_str()
    )
}

/// The page cache of a pool connection (512 KiB instead of SQLite's 2 MB). Eight of
/// them held 14 MiB of the server's memory once warm; what they read again comes from
/// the OS's cache of the file. The message writer keeps the default: its pages are
/// the hot ones.
pub(crate) const READER_CACHE: &str = "pragma cache_size = -512;";

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
        Self::open_sqlite_with(data_dir, SqliteSync::default()).await
    }

    /// [`Db::open_sqlite`] with commits made durable as `sync` says.
    pub async fn open_sqlite_with(
        data_dir: &std::path::Path,
        sync: SqliteSync,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            anyhow::anyhow!(
                "the data directory {} cannot be created: {e}",
                data_dir.display()
            )
        })?;
        let path = data_dir.join("madoguchi.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::connect_with(&url, sync).await
    }

    /// Connects to `sqlite://…` or `postgres://…` and runs the migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, SqliteSync::default()).await
    }

    /// [`Db::connect`]; a SQLite database makes commits durable as `sync` says.
    pub async fn connect_with(url: &str, sync: SqliteSync) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL (use sqlite:// or postgres://)");
        };
        let options = AnyConnectOptions::from_str(url).context("parsing database URL")?;
        // A SQLite file: its path, whether the URL opens it read-only, and the lock of
        // its directory, taken before anything opens the file.
        let (sqlite_path, read_only) = match backend {
            Backend::Sqlite => {
                let rest = url
                    .trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:");
                let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
                let in_memory = path.is_empty()
                    || path.contains(":memory:")
                    || query.split('&').any(|p| p == "mode=memory");
                let read_only = query.split('&').any(|p| p == "mode=ro");
                ((!in_memory).then(|| path.to_owned()), read_only)
            }
            Backend::Postgres => (None, false),
        };
        let dir_lock = match &sqlite_path {
            Some(path) => {
                let dir = match Path::new(path).parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                };
                Some(lock_data_dir(dir)?)
            }
            None => None,
        };
        let pool = match backend {
            Backend::Sqlite => {
                // Settings: [`sqlite_pragmas`]. An embedded file's connections cannot go
                // stale, so they are not pinged on every acquire (sqlx's default costs
                // each query an extra round trip to the connection's thread).
                AnyPoolOptions::new()
                    .max_connections(8)
                    .test_before_acquire(false)
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            conn.execute(sqlite_pragmas(sync).as_str()).await?;
                            conn.execute(READER_CACHE).await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
                    .map_err(|e| {
                        opening_error(
                            e,
                            format!(
                                "opening the SQLite database {}",
                                sqlite_path.as_deref().unwrap_or(url)
                            ),
                        )
                    })?
            }
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(|e| opening_error(e, "connecting to PostgreSQL".into()))?,
        };
        let sqlite_writer = match &sqlite_path {
            Some(path) => crate::sqlite_writer::SqliteWriter::open(path, read_only, sync)
                .await
                .context("opening the SQLite writer connection")?
                .map(Arc::new),
            None => None,
        };
        let db = Self {
            pool,
            backend,
            writer: Arc::new(Mutex::new(())),
            sqlite_writer,
            dir_lock: Arc::new(std::sync::Mutex::new(dir_lock)),
            health: Arc::new(Mutex::new(None)),
            sqlite_file: sqlite_path.map(|p| Arc::from(Path::new(&p))),
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
            Err(sqlx::migrate::MigrateError::Execute(e)) => {
                Err(opening_error(e, "running database migrations".into()))
            }
            Err(e) => Err(anyhow::Error::new(e).context("running database migrations")),
        }
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
                let mut conn = self.pool.acquire().await?;
                if let Err(e) = conn.execute("begin immediate").await {
                    conn.close_on_drop();
                    return Err(e.into());
                }
                (Some(writer), Tx::Sqlite(SqliteTx(Some(conn))))
            }
            Backend::Postgres => (None, Tx::Postgres(self.pool.begin().await?)),
        };
        Ok(WriteTx {
            backend: self.backend,
            tx,
            _writer: writer,
        })
    }

    /// Whether [`Db::sqlite_transaction`] has a writer thread (a SQLite file).
    pub fn has_sqlite_writer(&self) -> bool {
        self.sqlite_writer.is_some()
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

    /// Whether the database takes writes (`/healthz`, Q6): a one-row upsert committed
    /// as every write is (on SQLite under the writer lock, `begin immediate`), so a
    /// read-only file or database, a full disk or an unreachable server shows here and
    /// not only as failing requests; a SQLite file's file system must also have
    /// [`MIN_FREE_BYTES`] free. The answer is reused for two seconds, so health
    /// checks stay cheap; concurrent checks share one probe. `Err` says why in words.
    pub async fn check_writable(&self) -> Result<(), String> {
        let mut last = self.health.lock().await;
        if let Some((at, answer)) = last.as_ref() {
            if at.elapsed() < HEALTH_CACHE {
                return answer.clone();
            }
        }
        let answer = match tokio::time::timeout(HEALTH_TIMEOUT, self.write_probe()).await {
            Ok(Ok(())) => match self.sqlite_file.as_deref().and_then(free_bytes) {
                Some(free) if free < MIN_FREE_BYTES => Err(format!(
                    "no space left on device ({} KiB free for the database)",
                    free / 1024
                )),
                _ => Ok(()),
            },
            Ok(Err(e)) => Err(match (e.code, &e.source) {
                // "no space left on device: error returned from database: (code: 13) …"
                (crate::ErrorCode::StorageUnavailable, Some(cause)) => cause
                    .chain()
                    .take(2)
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(": "),
                _ => format!("the database refused a write: {e}"),
            }),
            Err(_) => Err(format!(
                "the database did not complete a write within {} s",
                HEALTH_TIMEOUT.as_secs()
            )),
        };
        *last = Some((Instant::now(), answer.clone()));
        answer
    }

    async fn write_probe(&self) -> crate::Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "insert into health_probe (id, checked_at) values (1, $1) \
             on conflict (id) do update set checked_at = excluded.checked_at",
        )
        .bind(crate::time::system_now_ms())
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    /// Checks the database answers (a read; `/healthz` uses [`Db::check_writable`]).
    pub async fn ping(&self) -> crate::Result<()> {
        let mut conn = self.pool.acquire().await?;
        conn.ping().await?;
        Ok(())
    }

    /// Closes the pool and lets go of the data directory's lock, so another server
    /// (or this process again) may open it.
    pub async fn close(&self) {
        self.pool.close().await;
        if let Ok(mut lock) = self.dir_lock.lock() {
            lock.take();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Db;

    /// Q6: one data directory, one open database: a second open is refused naming
    /// the directory and this process, and `close` lets the next one in.
    #[tokio::test]
    async fn q6_the_data_dir_lock_refuses_a_second_open_until_close() {
        let dir = std::env::temp_dir().join(format!("madoguchi-lock-{}", crate::ids::new_id()));
        let db = Db::open_sqlite(&dir).await.expect("open");
        let err = match Db::open_sqlite(&dir).await {
            Ok(_) => panic!("a second open must fail"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains("another madoguchi server"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        assert!(err.contains(&dir.display().to_string()), "{err}");
        db.close().await;
        let again = Db::open_sqlite(&dir).await.expect("open after close");
        again.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Q2: `--sync full` makes every SQLite connection, the pool's and the message
    /// writer's, fsync at each commit; the default is `normal` (2 and 1 in SQLite's terms).
    #[tokio::test]
    async fn q2_sqlite_sync_mode_applies_to_the_pool_and_the_writer() {
        for (sync, expected) in [
            (super::SqliteSync::Normal, 1i64),
            (super::SqliteSync::Full, 2),
        ] {
            let dir = std::env::temp_dir().join(format!("madoguchi-sync-{}", crate::ids::new_id()));
            let db = Db::open_sqlite_with(&dir, sync).await.expect("open");
            let pooled: i64 = sqlx::query_scalar("pragma synchronous")
                .fetch_one(db.pool())
                .await
                .expect("pragma");
            assert_eq!(pooled, expected, "{sync:?} on the pool");
            let writer = db
                .sqlite_transaction(|tx| {
                    tx.query_row("pragma synchronous", [], |r| r.get::<_, i64>(0))
                        .map(Ok::<i64, ()>)
                })
                .await
                .expect("a SQLite file has a writer")
                .expect("ran")
                .expect("ok");
            assert_eq!(writer, expected, "{sync:?} on the writer");
            db.close().await;
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

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
