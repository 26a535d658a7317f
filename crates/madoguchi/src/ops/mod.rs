//! Operations (SPEC Q7): `backup`, `restore` and `migrate`.
//!
//! A backup is one tar file: `manifest.json` first (format, versions, the schema
//! version, row counts per table, the size and SHA-256 of every file), then
//! `madoguchi.db`, a SQLite database holding the installation, then `attachments/…`
//! when the data directory has any. One format for both backends:
//! - an embedded server is snapshotted with SQLite's `vacuum into`, which reads in one
//!   transaction, so the copy is consistent while the server keeps writing (WAL readers
//!   never block the writer);
//! - a PostgreSQL server is read in one repeatable-read, read-only transaction and its
//!   rows are copied into a fresh SQLite file ([`copy`]). No `pg_dump` of a matching
//!   version is needed, and the backup restores into a data directory, from which
//!   `migrate` brings it back to PostgreSQL.
//!
//! `restore` checks every file's checksum and the schema version before it writes the
//! target, which it requires to be new or empty; `migrate` copies a stopped embedded
//! installation into an empty PostgreSQL database in one transaction, so a failure
//! leaves it empty.

pub mod copy;

use anyhow::{bail, Context};
use clap::Args;
use madoguchi_core::db::{schema_version, Backend};
use madoguchi_core::Db;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Connection, Executor};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

const FORMAT: &str = "madoguchi-backup";
const FORMAT_VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";
const DATABASE: &str = "madoguchi.db";
/// Files kept beside the database in the data directory (uploads).
const ATTACHMENTS: &str = "attachments";

#[derive(Args, Debug, Clone)]
pub struct BackupArgs {
    /// Data directory of the embedded server to back up (it may be running).
    #[arg(long, env = "MADOGUCHI_DATA_DIR", default_value = "./madoguchi-data")]
    pub data_dir: PathBuf,
    /// Back up this PostgreSQL database instead of the data directory's SQLite.
    #[arg(long, env = "MADOGUCHI_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The backup file to write (replaced only once complete).
    #[arg(long)]
    pub output: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct RestoreArgs {
    /// A file written by `madoguchi backup`.
    #[arg(long)]
    pub input: PathBuf,
    /// The data directory to create (must not exist or be empty); then
    /// `madoguchi serve --data-dir` it.
    #[arg(long)]
    pub data_dir: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct MigrateArgs {
    /// Data directory of the stopped embedded server to copy.
    #[arg(long, env = "MADOGUCHI_DATA_DIR", default_value = "./madoguchi-data")]
    pub data_dir: PathBuf,
    /// The empty PostgreSQL database to copy into (postgres://user@host/db).
    #[arg(long)]
    pub to: String,
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub madoguchi_version: String,
    /// The newest migration applied to the data.
    pub schema_version: i64,
    /// Every migration applied to the data (the schema, exactly).
    pub migrations: Vec<i64>,
    pub created_at: String,
    /// "sqlite" or "postgres": where the data came from.
    pub source: String,
    pub files: Vec<FileEntry>,
    pub rows: copy::Counts,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// `madoguchi backup`.
pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let output = args.output.clone();
    let staging_dir = staging_beside(&output)?;
    std::fs::create_dir_all(&staging_dir)
        .with_context(|| format!("creating {}", staging_dir.display()))?;
    let result = async {
        let snapshot = staging_dir.join(DATABASE);
        let source = match &args.database_url {
            Some(url) => {
                snapshot_postgres(url, &staging_dir.join("from-postgres"), &snapshot).await?;
                "postgres"
            }
            None => {
                snapshot_sqlite(&args.data_dir, &snapshot).await?;
                "sqlite"
            }
        };
        let (migrations, rows) = describe(&snapshot).await?;
        let mut files = vec![file_entry(&snapshot, DATABASE)?];
        let attachments = if args.database_url.is_none() {
            collect_files(&args.data_dir.join(ATTACHMENTS), ATTACHMENTS)?
        } else {
            Vec::new()
        };
        for (path, name) in &attachments {
            files.push(file_entry(path, name)?);
        }
        let manifest = Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            madoguchi_version: env!("CARGO_PKG_VERSION").into(),
            schema_version: migrations.iter().copied().max().unwrap_or(0),
            migrations,
            created_at: madoguchi_core::time::rfc3339(madoguchi_core::time::system_now_ms()),
            source: source.into(),
            files,
            rows,
        };
        let partial = staging_dir.join("backup.tar");
        write_archive(&partial, &manifest, &snapshot, &attachments)?;
        std::fs::rename(&partial, &output)
            .with_context(|| format!("moving the backup to {}", output.display()))?;
        Ok::<_, anyhow::Error>(manifest)
    }
    .await;
    let _ = std::fs::remove_dir_all(&staging_dir);
    let manifest = result?;
    let size = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
    let rows: u64 = manifest.rows.values().sum();
    println!(
        "wrote {} ({}, {} rows in {} tables, {} files, schema version {}, from {}) in {:.1} s",
        output.display(),
        human_bytes(size),
        rows,
        manifest.rows.len(),
        manifest.files.len(),
        manifest.schema_version,
        manifest.source,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `madoguchi restore`.
pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let target = args.data_dir.clone();
    if target.exists() {
        let mut entries =
            std::fs::read_dir(&target).with_context(|| format!("reading {}", target.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty: restore only into a new or empty data directory \
                 (nothing was changed)",
                target.display()
            );
        }
    }
    let staging = staging_beside(&target)?;
    let input = args.input.clone();
    let staged = staging.clone();
    let unpacked = tokio::task::spawn_blocking(move || unpack(&input, &staged)).await?;
    let manifest = match unpacked {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if target.exists() {
        std::fs::remove_dir(&target).with_context(|| format!("replacing {}", target.display()))?;
    }
    std::fs::rename(&staging, &target)
        .with_context(|| format!("moving the restored data to {}", target.display()))?;
    // Opening runs the migrations of this binary: an older backup comes up to date.
    let db = Db::open_sqlite(&target)
        .await
        .context("opening the restored database")?;
    if manifest.migrations == known_migrations(Backend::Sqlite) {
        let mut conn = db.pool().acquire().await?;
        let tables = copy::sqlite_tables(&mut conn).await?;
        let counts = copy::count_rows(&mut conn, &tables).await?;
        for (table, expected) in &manifest.rows {
            let found = counts.get(table).copied().unwrap_or(0);
            if found != *expected {
                bail!("restored {table} has {found} rows, the backup says {expected}");
            }
        }
    }
    db.close().await;
    let rows: u64 = manifest.rows.values().sum();
    println!(
        "restored {} ({} rows, {} files, made {} by Madoguchi {}) into {} in {:.1} s; \
         start it with: madoguchi serve --data-dir {}",
        args.input.display(),
        rows,
        manifest.files.len(),
        manifest.created_at,
        manifest.madoguchi_version,
        target.display(),
        started.elapsed().as_secs_f64(),
        target.display()
    );
    Ok(())
}

/// `madoguchi migrate`.
pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if !args.to.starts_with("postgres:") && !args.to.starts_with("postgresql:") {
        bail!("--to takes a PostgreSQL URL (postgres://user@host/db)");
    }
    if !args.data_dir.join(DATABASE).exists() {
        bail!(
            "{} holds no Madoguchi database ({} is missing)",
            args.data_dir.display(),
            DATABASE
        );
    }
    // Opening the data directory as the server does brings its schema up to date and
    // refuses while a server uses it: a running server's later writes would be lost.
    let source = Db::open_sqlite(&args.data_dir)
        .await
        .with_context(|| format!("opening {}", args.data_dir.display()))?;
    let target = Db::connect(&args.to)
        .await
        .context("connecting to the target PostgreSQL database")?;
    let mut src = source.pool().acquire().await?;
    let tables = copy::sqlite_tables(&mut src).await?;
    let totals = copy::count_rows(&mut src, &tables).await?;
    refuse_non_empty(&target, &tables).await?;
    let all: u64 = totals.values().sum();
    eprintln!(
        "copying {all} rows in {} tables from {} to PostgreSQL",
        tables.len(),
        args.data_dir.display()
    );
    let mut dst = target.pool().acquire().await?;
    let mut tx = dst.begin().await?;
    let copied = copy::copy_tables(&mut src, &mut tx, Backend::Postgres, &tables, &totals).await?;
    tx.commit().await.context("committing the copy")?;
    drop(dst);
    // PostgreSQL plans from statistics: gather them now rather than after the first
    // slow queries.
    target
        .pool()
        .execute("analyze")
        .await
        .context("analysing the copied tables")?;
    for (table, n) in &totals {
        let got = copied.get(table).copied().unwrap_or(0);
        if got != *n {
            bail!("{table}: copied {got} of {n} rows");
        }
    }
    drop(src);
    source.close().await;
    target.close().await;
    println!(
        "migrated {all} rows in {} tables to PostgreSQL in {:.1} s; \
         start it with: madoguchi serve --database-url <the same URL>",
        tables.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A PostgreSQL database is empty when no table holds more than what the migrations
/// put there (seeded counters), which a fresh embedded database shows.
async fn refuse_non_empty(target: &Db, tables: &[copy::Table]) -> anyhow::Result<()> {
    let fresh_dir =
        std::env::temp_dir().join(format!("madoguchi-fresh-{}", madoguchi_core::ids::new_id()));
    let fresh = Db::open_sqlite(&fresh_dir).await?;
    let seeded = {
        let mut conn = fresh.pool().acquire().await?;
        copy::count_rows(&mut conn, tables).await?
    };
    fresh.close().await;
    let _ = std::fs::remove_dir_all(&fresh_dir);
    let mut conn = target.pool().acquire().await?;
    let found = copy::count_rows(&mut conn, tables).await?;
    let busy: Vec<String> = found
        .iter()
        // `/healthz` of a server that ran on it once wrote its probe row: not data.
        .filter(|(t, _)| t.as_str() != "health_probe")
        .filter(|(t, n)| **n > seeded.get(*t).copied().unwrap_or(0))
        .map(|(t, n)| format!("{t} ({n} rows)"))
        .collect();
    if !busy.is_empty() {
        bail!(
            "the target database is not empty: {}; migrate only into an empty database \
             (nothing was changed)",
            busy.join(", ")
        );
    }
    Ok(())
}

/// `vacuum into` from a connection of our own: one read transaction, so a consistent
/// copy while the server writes, and compacted. Progress is the copy's growing size.
async fn snapshot_sqlite(data_dir: &Path, snapshot: &Path) -> anyhow::Result<()> {
    let db_path = data_dir.join(DATABASE);
    if !db_path.exists() {
        bail!(
            "{} holds no Madoguchi database ({} is missing)",
            data_dir.display(),
            DATABASE
        );
    }
    let pool = open_raw(&format!("sqlite://{}?mode=ro", db_path.display()))
        .await
        .with_context(|| format!("opening {}", db_path.display()))?;
    let size = std::fs::metadata(&db_path).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "copying {} ({}) while it may be in use",
        db_path.display(),
        human_bytes(size)
    );
    let target = sql_string(&snapshot.display().to_string());
    let statement = format!("vacuum into {target}");
    let vacuum = pool.execute(sqlx::raw_sql(&statement));
    tokio::pin!(vacuum);
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.tick().await;
    loop {
        tokio::select! {
            done = &mut vacuum => {
                done.context("copying the database")?;
                break;
            }
            _ = tick.tick() => {
                let written = std::fs::metadata(snapshot).map(|m| m.len()).unwrap_or(0);
                eprintln!("  {} of about {} written", human_bytes(written), human_bytes(size));
            }
        }
    }
    pool.close().await;
    Ok(())
}

/// Copies a PostgreSQL installation, read in one snapshot, into a new SQLite file.
async fn snapshot_postgres(url: &str, work_dir: &Path, snapshot: &Path) -> anyhow::Result<()> {
    let pool = open_raw(url).await.context("connecting to PostgreSQL")?;
    let applied = {
        let mut conn = pool.acquire().await?;
        applied_migrations(&mut conn)
            .await
            .context("reading the schema version (is this a Madoguchi database?)")?
    };
    if applied != known_migrations(Backend::Postgres) {
        bail!(
            "the database has schema version {} and this binary writes version {}: back \
             it up with the Madoguchi release that runs it",
            applied.iter().max().unwrap_or(&0),
            schema_version(Backend::Postgres)
        );
    }
    let copy_db = Db::open_sqlite(work_dir).await?;
    let mut dst = copy_db.pool().acquire().await?;
    let tables = copy::sqlite_tables(&mut dst).await?;
    let mut src = pool.acquire().await?;
    let mut read = src
        .begin_with("begin transaction isolation level repeatable read, read only")
        .await?;
    let totals = copy::count_rows(&mut read, &tables).await?;
    eprintln!(
        "copying {} rows in {} tables from PostgreSQL",
        totals.values().sum::<u64>(),
        tables.len()
    );
    let mut write = dst.begin().await?;
    copy::copy_tables(&mut read, &mut write, Backend::Sqlite, &tables, &totals).await?;
    write.commit().await?;
    read.rollback().await?;
    let target = sql_string(&snapshot.display().to_string());
    dst.execute(sqlx::raw_sql(&format!("vacuum into {target}")))
        .await
        .context("writing the snapshot")?;
    // A pool closes once every connection is back.
    drop(dst);
    drop(src);
    copy_db.close().await;
    pool.close().await;
    Ok(())
}

/// The migrations applied to a snapshot file, and its row counts.
async fn describe(snapshot: &Path) -> anyhow::Result<(Vec<i64>, copy::Counts)> {
    let pool = open_raw(&format!("sqlite://{}?mode=ro", snapshot.display())).await?;
    let mut conn = pool.acquire().await?;
    let migrations = applied_migrations(&mut conn).await?;
    let tables = copy::sqlite_tables(&mut conn).await?;
    let rows = copy::count_rows(&mut conn, &tables).await?;
    drop(conn);
    pool.close().await;
    Ok((migrations, rows))
}

/// Versions are numbered per context (core 00xx, desk 01xx, …), so a newer release
/// can add a version below the newest one: a schema is its set of migrations.
async fn applied_migrations(conn: &mut sqlx::AnyConnection) -> anyhow::Result<Vec<i64>> {
    let versions: Vec<i64> =
        sqlx::query_scalar("select version from _sqlx_migrations where success order by version")
            .fetch_all(&mut *conn)
            .await
            .context("reading the applied migrations")?;
    Ok(versions)
}

fn known_migrations(backend: Backend) -> Vec<i64> {
    let mut versions: Vec<i64> = madoguchi_core::db::migrator(backend)
        .iter()
        .map(|m| m.version)
        .collect();
    versions.sort_unstable();
    versions
}

/// One connection, no migrations: backups only read.
async fn open_raw(url: &str) -> anyhow::Result<AnyPool> {
    sqlx::any::install_default_drivers();
    Ok(AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await?)
}

fn write_archive(
    path: &Path,
    manifest: &Manifest,
    snapshot: &Path,
    attachments: &[(PathBuf, String)],
) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let json = serde_json::to_vec_pretty(manifest)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o644);
    header
        .set_mtime(u64::try_from(madoguchi_core::time::system_now_ms() / 1000).unwrap_or_default());
    header.set_cksum();
    tar.append_data(&mut header, MANIFEST, json.as_slice())?;
    tar.append_path_with_name(snapshot, DATABASE)?;
    for (path, name) in attachments {
        tar.append_path_with_name(path, name)?;
    }
    let mut out = tar.into_inner()?;
    out.flush()?;
    out.into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
        .context("syncing the backup file")?;
    Ok(())
}

/// Unpacks a backup into `dir`, checking the manifest and every file's checksum.
fn unpack(input: &Path, dir: &Path) -> anyhow::Result<Manifest> {
    let file =
        std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut entries = archive
        .entries()
        .with_context(|| format!("{} is not a Madoguchi backup", input.display()))?;
    let not_a_backup = || format!("{} is not a Madoguchi backup", input.display());
    let mut first = match entries.next() {
        Some(Ok(entry))
            if entry
                .path()
                .is_ok_and(|p| p.as_ref() == Path::new(MANIFEST)) =>
        {
            entry
        }
        _ => bail!(not_a_backup()),
    };
    let mut text = String::new();
    first.read_to_string(&mut text).with_context(not_a_backup)?;
    let manifest: Manifest = serde_json::from_str(&text).with_context(not_a_backup)?;
    if manifest.format != FORMAT {
        bail!(not_a_backup());
    }
    if manifest.format_version > FORMAT_VERSION {
        bail!(
            "the backup was written by a newer Madoguchi ({}; backup format {}): restore it \
             with that release or a newer one",
            manifest.madoguchi_version,
            manifest.format_version
        );
    }
    let known = known_migrations(Backend::Sqlite);
    if let Some(unknown) = manifest.migrations.iter().find(|v| !known.contains(v)) {
        bail!(
            "the backup has schema version {unknown}, which this binary does not know \
             (it knows up to {}): restore it with Madoguchi {} or newer",
            schema_version(Backend::Sqlite),
            manifest.madoguchi_version
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut seen = std::collections::BTreeSet::new();
    for entry in entries {
        let mut entry = entry.with_context(|| format!("reading {}", input.display()))?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let Some(expected) = manifest.files.iter().find(|f| f.path == name) else {
            bail!("the backup holds {name}, which its manifest does not list");
        };
        let relative = Path::new(&name);
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            bail!("the backup names a file outside its directory: {name}");
        }
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out =
            std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = entry.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            size += n as u64;
        }
        out.sync_all()?;
        let sha256 = hex::encode(hasher.finalize());
        if sha256 != expected.sha256 || size != expected.size {
            bail!("{name} in the backup is damaged (its checksum does not match the manifest)");
        }
        seen.insert(name);
    }
    if let Some(missing) = manifest.files.iter().find(|f| !seen.contains(&f.path)) {
        bail!("the backup is incomplete: {} is missing", missing.path);
    }
    Ok(manifest)
}

fn file_entry(path: &Path, name: &str) -> anyhow::Result<FileEntry> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    let size = std::io::copy(&mut file, &mut hasher)?;
    Ok(FileEntry {
        path: name.to_owned(),
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Every file under `root` (none when it does not exist), with its name in the archive.
fn collect_files(root: &Path, prefix: &str) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    if !root.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![(root.to_path_buf(), prefix.to_owned())];
    while let Some((dir, name)) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry?;
            let child = format!("{name}/{}", entry.file_name().to_string_lossy());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push((entry.path(), child));
            } else if kind.is_file() {
                out.push((entry.path(), child));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// A fresh working directory next to `path` (same file system, so the final rename is
/// atomic).
fn staging_beside(path: &Path) -> anyhow::Result<PathBuf> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "madoguchi".into());
    if !parent.is_dir() {
        bail!("{} does not exist", parent.display());
    }
    Ok(parent.join(format!(".{name}.partial-{}", madoguchi_core::ids::new_id())))
}

/// An SQL string literal.
fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
