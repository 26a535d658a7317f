//! SLAs (SPEC D2): service levels that contracts refer to.

use crate::access::Member;
use crate::Desk;
use madoguchi_core::ids::new_id;
use madoguchi_core::time::rfc3339;
use madoguchi_core::{Error, Result};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sla {
    pub id: String,
    pub name: String,
    pub created_time: String,
}

impl Desk {
    pub async fn slas(&self, member: &Member) -> Result<Vec<Sla>> {
        let rows = sqlx::query(
            "select id, name, created_at from desk_slas where portal_id = $1 order by created_at, id",
        )
        .bind(&member.portal_id)
        .fetch_all(self.db.pool())
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

    /// Adds an SLA (admin only).
    pub async fn create_sla(&self, member: &Member, name: &str) -> Result<Sla> {
        member.require_admin()?;
        let name = crate::required_text("name", name, 200, "desk-error-sla-name")?;
        let id = new_id();
        let now = self.clock.now_ms();
        sqlx::query(
            "insert into desk_slas (id, portal_id, name, created_at) values ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(&member.portal_id)
        .bind(&name)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(Sla {
            id,
            name,
            created_time: rfc3339(now),
        })
    }
}

/// 400 naming `field` unless `id` is an SLA of the portal.
pub(crate) async fn check_sla(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    id: &str,
    field: &'static str,
) -> Result<()> {
    let row = sqlx::query("select id from desk_slas where portal_id = $1 and id = $2")
        .bind(portal_id)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    match row {
        Some(_) => Ok(()),
        None => Err(Error::invalid(field, "desk-error-unknown-sla")),
    }
}
