//! Departments (SPEC D2): names unique per portal (any case); exactly one is the
//! default, the one made with the portal.

use crate::access::Member;
use crate::Desk;
use madoguchi_core::error::OnConflict;
use madoguchi_core::ids::new_id;
use madoguchi_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Department {
    pub id: String,
    pub name: String,
    pub is_default: bool,
}

fn department_from_row(row: &sqlx::any::AnyRow) -> Result<Department> {
    let is_default: i64 = row.try_get("is_default")?;
    Ok(Department {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        is_default: is_default != 0,
    })
}

impl Desk {
    /// The portal's departments, the default first, then in the order made.
    pub async fn departments(&self, member: &Member) -> Result<Vec<Department>> {
        let rows = sqlx::query(
            "select id, name, is_default from desk_departments where portal_id = $1 \
             order by is_default desc, created_at, id",
        )
        .bind(&member.portal_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(department_from_row).collect()
    }

    /// Adds a department (admin only); 409 `conflict` (field `name`) when the portal
    /// already has one of that name.
    pub async fn create_department(&self, member: &Member, name: &str) -> Result<Department> {
        member.require_admin()?;
        let name = crate::required_text("name", name, 100, "desk-error-department-name")?;
        let id = new_id();
        sqlx::query(
            "insert into desk_departments (id, portal_id, name, name_lower, is_default, created_at) \
             values ($1, $2, $3, $4, 0, $5)",
        )
        .bind(&id)
        .bind(&member.portal_id)
        .bind(&name)
        .bind(name.to_lowercase())
        .bind(self.clock.now_ms())
        .execute(self.db.pool())
        .await
        .on_conflict(|| {
            Error::new(ErrorCode::Conflict)
                .with_field("name")
                .with_message("desk-error-department-name-taken")
        })?;
        Ok(Department {
            id,
            name,
            is_default: false,
        })
    }
}

/// The portal's default department.
pub(crate) async fn default_department_id(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
) -> Result<String> {
    let row = sqlx::query(
        "select id from desk_departments where portal_id = $1 and is_default = 1 order by created_at limit 1",
    )
    .bind(portal_id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| Error::internal(anyhow::anyhow!("portal {portal_id} has no default department")))?;
    Ok(row.try_get("id")?)
}

/// 400 naming `field` unless `id` is a department of the portal.
pub(crate) async fn check_department(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    id: &str,
    field: &'static str,
) -> Result<()> {
    let row = sqlx::query("select id from desk_departments where portal_id = $1 and id = $2")
        .bind(portal_id)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    match row {
        Some(_) => Ok(()),
        None => Err(Error::invalid(field, "desk-error-unknown-department")),
    }
}
