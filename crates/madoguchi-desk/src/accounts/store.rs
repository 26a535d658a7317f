//! SQL of accounts.

use super::Account;
use madoguchi_core::time::rfc3339;
use madoguchi_core::Result;
use sqlx::{AnyExecutor, Row};

fn account_from_row(row: &sqlx::any::AnyRow) -> Result<Account> {
    Ok(Account {
        id: row.try_get("id")?,
        account_name: row.try_get("account_name")?,
        created_time: rfc3339(row.try_get("created_at")?),
    })
}

pub(crate) async fn list(e: impl AnyExecutor<'_>, portal_id: &str) -> Result<Vec<Account>> {
    let rows = sqlx::query(
        "select id, account_name, created_at from desk_accounts where portal_id = $1 \
         order by created_at, id",
    )
    .bind(portal_id)
    .fetch_all(e)
    .await?;
    rows.iter().map(account_from_row).collect()
}

pub(crate) async fn get(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    id: &str,
) -> Result<Option<Account>> {
    let row = sqlx::query(
        "select id, account_name, created_at from desk_accounts where portal_id = $1 and id = $2",
    )
    .bind(portal_id)
    .bind(id)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(account_from_row).transpose()
}

pub(crate) async fn insert(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    id: &str,
    account_name: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into desk_accounts (id, portal_id, account_name, created_at, updated_at) \
         values ($1, $2, $3, $4, $4)",
    )
    .bind(id)
    .bind(portal_id)
    .bind(account_name)
    .bind(now)
    .execute(e)
    .await?;
    Ok(())
}
