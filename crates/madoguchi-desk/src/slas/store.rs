//! SQL of SLAs.

use super::Sla;
use madoguchi_core::time::rfc3339;
use madoguchi_core::Result;
use sqlx::{AnyExecutor, Row};

pub(crate) async fn list(e: impl AnyExecutor<'_>, portal_id: &str) -> Result<Vec<Sla>> {
    let rows = sqlx::query(
        "select id, name, created_at from desk_slas where portal_id = $1 order by created_at, id",
    )
    .bind(portal_id)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Sla {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                created_time: rfc3339(row.try_get("created_at")?),
            })
        })
        .collect()
}

pub(crate) async fn insert(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    id: &str,
    name: &str,
    now: i64,
) -> Result<()> {
    sqlx::query("insert into desk_slas (id, portal_id, name, created_at) values ($1, $2, $3, $4)")
        .bind(id)
        .bind(portal_id)
        .bind(name)
        .bind(now)
        .execute(e)
        .await?;
    Ok(())
}
