//! SQL of departments.

use super::Department;
use madoguchi_core::error::OnConflict;
use madoguchi_core::{Db, Error, ErrorCode, Result};
use sqlx::Row;

pub(crate) async fn insert(db: &Db, portal_id: &str, d: &Department, now: i64) -> Result<()> {
    sqlx::query(
        "insert into chat_departments (id, portal_id, name, name_lower, created_at) values ($1, $2, $3, $4, $5)",
    )
    .bind(&d.id)
    .bind(portal_id)
    .bind(&d.name)
    .bind(d.name.to_lowercase())
    .bind(now)
    .execute(db.pool())
    .await
    .on_conflict(|| Error::new(ErrorCode::Conflict))?;
    Ok(())
}

pub(crate) async fn list(db: &Db, portal_id: &str) -> Result<Vec<Department>> {
    let rows = sqlx::query(
        "select id, name from chat_departments where portal_id = $1 order by name_lower, id",
    )
    .bind(portal_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Department {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
            })
        })
        .collect()
}

pub(crate) async fn get(db: &Db, portal_id: &str, id: &str) -> Result<Option<Department>> {
    let row = sqlx::query("select id, name from chat_departments where portal_id = $1 and id = $2")
        .bind(portal_id)
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| {
        Ok(Department {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
        })
    })
    .transpose()
}

pub(crate) async fn exists(db: &Db, portal_id: &str, id: &str) -> Result<bool> {
    Ok(get(db, portal_id, id).await?.is_some())
}
