//! Copying every table of one installation's database into another's, row by row, for
//! `backup` of a PostgreSQL server and `migrate` to PostgreSQL.
//!
//! Both backends hold the same tables (the migrations of each create them alike), and
//! every column is `text` or `bigint` (docs/CONVENTIONS.md), so a row is copied as a list
//! of optional integers and strings with no per-table code. The table order is SQLite's
//! creation order, which is the migrations' order: a table comes after the tables it
//! references, so foreign keys hold while rows arrive.

use anyhow::Context;
use futures::TryStreamExt;
use madoguchi_core::Backend;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;
use std::time::Instant;

/// PostgreSQL takes at most 65,535 bind arguments in one statement.
const MAX_ARGUMENTS: usize = 30_000;
const MAX_ROWS_PER_INSERT: usize = 500;
/// A batch is written once its text passes this many bytes, so tables of large rows
/// (files, V3 and E6) are copied a few rows at a time instead of 500 files at once.
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub columns: Vec<(String, Kind)>,
}

enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

/// Row counts by table name.
pub type Counts = BTreeMap<String, u64>;

/// The installation's tables, as a SQLite database of it declares them, in creation
/// order (sqlx's own bookkeeping table left out: each database keeps its own).
pub async fn sqlite_tables(conn: &mut AnyConnection) -> anyhow::Result<Vec<Table>> {
    let names: Vec<String> = sqlx::query_scalar(
        "select name from sqlite_master where type = 'table' \
         and name not like 'sqlite_%' and name <> '_sqlx_migrations' order by rowid",
    )
    .fetch_all(&mut *conn)
    .await
    .context("listing the tables")?;
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let rows = sqlx::query("select name, type from pragma_table_info($1) order by cid")
            .bind(&name)
            .fetch_all(&mut *conn)
            .await
            .with_context(|| format!("reading the columns of {name}"))?;
        let mut columns = Vec::with_capacity(rows.len());
        for row in rows {
            let column: String = row.try_get(0)?;
            let declared: String = row.try_get(1)?;
            let kind = match declared.to_ascii_lowercase().as_str() {
                "bigint" | "integer" => Kind::Int,
                "text" => Kind::Text,
                other => anyhow::bail!(
                    "{name}.{column} is declared `{other}`: only text and bigint columns can \
                     be copied (docs/CONVENTIONS.md)"
                ),
            };
            columns.push((column, kind));
        }
        tables.push(Table { name, columns });
    }
    Ok(tables)
}

/// Row counts of `tables` in the database behind `conn`.
pub async fn count_rows(conn: &mut AnyConnection, tables: &[Table]) -> anyhow::Result<Counts> {
    let mut counts = Counts::new();
    for t in tables {
        let n: i64 = sqlx::query_scalar(&format!("select count(*) from {}", quoted(&t.name)))
            .fetch_one(&mut *conn)
            .await
            .with_context(|| format!("counting the rows of {}", t.name))?;
        counts.insert(t.name.clone(), u64::try_from(n).unwrap_or(0));
    }
    Ok(counts)
}

/// Replaces the rows of every table in `dst` (inside the caller's transaction) with
/// those of `src` (read inside the caller's transaction, so from one snapshot), saying
/// how far it got on stderr. Answers the rows copied per table.
pub async fn copy_tables(
    src: &mut AnyConnection,
    dst: &mut AnyConnection,
    dst_backend: Backend,
    tables: &[Table],
    totals: &Counts,
) -> anyhow::Result<Counts> {
    let mut copied = Counts::new();
    let all: u64 = totals.values().sum();
    let mut done_all = 0u64;
    let started = Instant::now();
    for table in tables {
        let total = totals.get(&table.name).copied().unwrap_or(0);
        // Rows the migrations seeded (counters) come with the source's values.
        sqlx::query(&format!("delete from {}", quoted(&table.name)))
            .execute(&mut *dst)
            .await
            .with_context(|| format!("emptying {}", table.name))?;
        let n = copy_table(src, dst, dst_backend, table, total, |n| {
            eprintln!(
                "  {}: {n} of {total} rows ({} of {all} in all, {:.1} s)",
                table.name,
                done_all + n,
                started.elapsed().as_secs_f64()
            );
        })
        .await?;
        done_all += n;
        if n > 0 {
            eprintln!("  {}: {n} rows", table.name);
        }
        copied.insert(table.name.clone(), n);
    }
    Ok(copied)
}

async fn copy_table(
    src: &mut AnyConnection,
    dst: &mut AnyConnection,
    dst_backend: Backend,
    table: &Table,
    total: u64,
    progress: impl Fn(u64),
) -> anyhow::Result<u64> {
    let columns = table
        .columns
        .iter()
        .map(|(c, _)| quoted(c))
        .collect::<Vec<_>>()
        .join(", ");
    let select = format!("select {columns} from {}", quoted(&table.name));
    let per_insert = (MAX_ARGUMENTS / table.columns.len().max(1)).clamp(1, MAX_ROWS_PER_INSERT);
    let mut rows = sqlx::query(&select).fetch(&mut *src);
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(per_insert);
    let mut batch_bytes = 0usize;
    let mut n = 0u64;
    let report_every = (total / 10).max(50_000);
    while let Some(row) = rows
        .try_next()
        .await
        .with_context(|| format!("reading {}", table.name))?
    {
        let mut values = Vec::with_capacity(table.columns.len());
        for (i, (column, kind)) in table.columns.iter().enumerate() {
            let read = |e: sqlx::Error| {
                anyhow::Error::from(e).context(format!("reading {}.{column}", table.name))
            };
            let value = match kind {
                Kind::Int => Value::Int(row.try_get(i).map_err(read)?),
                Kind::Text => {
                    let text: Option<String> = row.try_get(i).map_err(read)?;
                    batch_bytes += text.as_ref().map_or(0, String::len);
                    Value::Text(text)
                }
            };
            values.push(value);
        }
        batch.push(values);
        if batch.len() == per_insert || batch_bytes >= MAX_BATCH_BYTES {
            let written = batch.len() as u64;
            insert(dst, dst_backend, table, &columns, &mut batch).await?;
            batch_bytes = 0;
            let before = n;
            n += written;
            if n / report_every != before / report_every {
                progress(n);
            }
        }
    }
    n += batch.len() as u64;
    insert(dst, dst_backend, table, &columns, &mut batch).await?;
    Ok(n)
}

/// Inserts and clears `batch`, one multi-row statement.
async fn insert(
    dst: &mut AnyConnection,
    backend: Backend,
    table: &Table,
    columns: &str,
    batch: &mut Vec<Vec<Value>>,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let width = table.columns.len();
    let mut sql = format!("insert into {} ({columns}) values ", quoted(&table.name));
    for r in 0..batch.len() {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        sql.push_str(&backend.placeholders(1 + r * width, width));
        sql.push(')');
    }
    let mut query = sqlx::query(&sql);
    for row in batch.drain(..) {
        for value in row {
            query = match value {
                Value::Int(v) => query.bind(v),
                Value::Text(v) => query.bind(v),
            };
        }
    }
    query
        .execute(&mut *dst)
        .await
        .with_context(|| format!("writing {}", table.name))?;
    Ok(())
}

/// Table and column names come from the database's own catalog; quoting keeps a name
/// that is also an SQL word (`name`, `value`) a name.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
