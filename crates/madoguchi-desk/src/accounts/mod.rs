//! Accounts (SPEC D2): the organisations contacts belong to.

pub(crate) mod store;

use crate::access::Member;
use crate::Desk;
use madoguchi_core::ids::new_id;
use madoguchi_core::time::rfc3339;
use madoguchi_core::{Error, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: String,
    pub account_name: String,
    pub created_time: String,
}

impl Desk {
    pub async fn accounts(&self, member: &Member) -> Result<Vec<Account>> {
        store::list(self.db.pool(), &member.portal_id).await
    }

    /// One account; 404 `not_found`.
    pub async fn account(&self, member: &Member, id: &str) -> Result<Account> {
        store::get(self.db.pool(), &member.portal_id, id)
            .await?
            .ok_or_else(Error::not_found)
    }

    pub async fn create_account(&self, member: &Member, account_name: &str) -> Result<Account> {
        let account_name =
            crate::required_text("accountName", account_name, 200, "desk-error-account-name")?;
        let id = new_id();
        let now = self.clock.now_ms();
        store::insert(self.db.pool(), &member.portal_id, &id, &account_name, now).await?;
        Ok(Account {
            id,
            account_name,
            created_time: rfc3339(now),
        })
    }
}
