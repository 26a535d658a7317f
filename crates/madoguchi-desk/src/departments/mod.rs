//! Departments (SPEC D2): names unique per portal (any case); exactly one is the
//! default, the one made with the portal.

pub(crate) mod store;

use crate::access::Member;
use crate::Desk;
use madoguchi_core::ids::new_id;
use madoguchi_core::{Error, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Department {
    pub id: String,
    pub name: String,
    pub is_default: bool,
}

impl Desk {
    /// The portal's departments, the default first, then in the order made.
    pub async fn departments(&self, member: &Member) -> Result<Vec<Department>> {
        store::list(self.db.pool(), &member.portal_id).await
    }

    /// Adds a department (admin only); 409 `conflict` (field `name`) when the portal
    /// already has one of that name.
    pub async fn create_department(&self, member: &Member, name: &str) -> Result<Department> {
        member.require_admin()?;
        let department = Department {
            id: new_id(),
            name: crate::required_text("name", name, 100, "desk-error-department-name")?,
            is_default: false,
        };
        store::insert(
            self.db.pool(),
            &member.portal_id,
            &department,
            self.clock.now_ms(),
        )
        .await?;
        Ok(department)
    }
}

/// The portal's default department.
pub(crate) async fn default_department_id(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
) -> Result<String> {
    store::default_id(conn, portal_id).await?.ok_or_else(|| {
        Error::internal(anyhow::anyhow!(
            "portal {portal_id} has no default department"
        ))
    })
}
