//! SQL of contracts.

use super::Contract;
use madoguchi_core::time::rfc3339;
use madoguchi_core::Result;
use sqlx::{AnyExecutor, Row};

pub(crate) async fn list(e: impl AnyExecutor<'_>, portal_id: &str) -> Result<Vec<Contract>> {
    let rows = sqlx::query(
        "select id, contract_name, account_id, sla_id, created_at from desk_contracts \
         where portal_id = $1 order by created_at, id",
    )
    .bind(portal_id)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Contract {
                id: row.try_get("id")?,
                contract_name: row.try_get("contract_name")?,
                account_id: row.try_get("account_id")?,
                sla_id: row.try_get("sla_id")?,
                created_time: rfc3339(row.try_get("created_at")?),
            })
        })
        .collect()
}

pub(crate) async fn insert(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    c: &Contract,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into desk_contracts (id, portal_id, contract_name, account_id, sla_id, created_at) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&c.id)
    .bind(portal_id)
    .bind(&c.contract_name)
    .bind(&c.account_id)
    .bind(&c.sla_id)
    .bind(now)
    .execute(e)
    .await?;
    Ok(())
}
