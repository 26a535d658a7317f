//! SLAs (SPEC D2): service levels that contracts refer to.

pub(crate) mod store;

use crate::access::Member;
use crate::Desk;
use madoguchi_core::ids::new_id;
use madoguchi_core::time::rfc3339;
use madoguchi_core::Result;
use serde::{Deserialize, Serialize};
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
        store::list(self.db.pool(), &member.portal_id).await
    }

    /// Adds an SLA (admin only).
    pub async fn create_sla(&self, member: &Member, name: &str) -> Result<Sla> {
        member.require_admin()?;
        let name = crate::required_text("name", name, 200, "desk-error-sla-name")?;
        let id = new_id();
        let now = self.clock.now_ms();
        store::insert(self.db.pool(), &member.portal_id, &id, &name, now).await?;
        Ok(Sla {
            id,
            name,
            created_time: rfc3339(now),
        })
    }
}
