//! SQL of classifications: a JSON list in the portal's row.

use madoguchi_core::{Error, Result};
use sqlx::{AnyExecutor, Row};

pub(crate) async fn load(e: impl AnyExecutor<'_>, portal_id: &str) -> Result<Vec<String>> {
    let row = sqlx::query("select classifications from desk_portals where id = $1")
        .bind(portal_id)
        .fetch_optional(e)
        .await?
        .ok_or_else(Error::not_found)?;
    let json: String = row.try_get("classifications")?;
    serde_json::from_str(&json).map_err(|e| Error::internal(anyhow::Error::new(e)))
}

pub(crate) async fn save(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    list: &[String],
    now: i64,
) -> Result<()> {
    let json = serde_json::to_string(list).map_err(|e| Error::internal(anyhow::Error::new(e)))?;
    sqlx::query("update desk_portals set classifications = $1, updated_at = $2 where id = $3")
        .bind(&json)
        .bind(now)
        .bind(portal_id)
        .execute(e)
        .await?;
    Ok(())
}
