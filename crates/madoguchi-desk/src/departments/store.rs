//! SQL of departments.

use super::Department;
use madoguchi_core::error::OnConflict;
use madoguchi_core::{Error, ErrorCode, Result};
use sqlx::{AnyExecutor, Row};

fn department_from_row(row: &sqlx::any::AnyRow) -> Result<Department> {
    let is_default: i64 = row.try_get("is_default")?;
    Ok(Department {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        is_default: is_default != 0,
    })
}

/// The default first, then in the order made.
pub(crate) async fn list(e: impl AnyExecutor<'_>, portal_id: &str) -> Result<Vec<Department>> {
    let rows = sqlx::query(
        "select id, name, is_default from desk_departments where portal_id = $1 \
         order by is_default desc, created_at, id",
    )
    .bind(portal_id)
    .fetch_all(e)
    .await?;
    rows.iter().map(department_from_row).collect()
}

/// 409 `conflict` (field `name`) when the portal has a department of that name.
pub(crate) async fn insert(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    d: &Department,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into desk_departments (id, portal_id, name, name_lower, is_default, created_at) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&d.id)
    .bind(portal_id)
    .bind(&d.name)
    .bind(d.name.to_lowercase())
    .bind(i64::from(d.is_default))
    .bind(now)
    .execute(e)
    .await
    .on_conflict(|| {
        Error::new(ErrorCode::Conflict)
            .with_field("name")
            .with_message("desk-error-department-name-taken")
    })?;
    Ok(())
}

pub(crate) async fn default_id(e: impl AnyExecutor<'_>, portal_id: &str) -> Result<Option<String>> {
    let row = sqlx::query(
        "select id from desk_departments where portal_id = $1 and is_default = 1 order by created_at limit 1",
    )
    .bind(portal_id)
    .fetch_optional(e)
    .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}
