//! Contracts (SPEC D2): an account under an SLA. An account's active contract is its
//! latest one; a contact's SLA and contract come from it.

pub(crate) mod store;

use crate::access::Member;
use crate::sql::Ref;
use crate::Desk;
use madoguchi_core::ids::new_id;
use madoguchi_core::time::rfc3339;
use madoguchi_core::Result;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contract {
    pub id: String,
    pub contract_name: String,
    pub account_id: String,
    pub sla_id: String,
    pub created_time: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewContract {
    pub contract_name: String,
    pub account_id: String,
    pub sla_id: String,
}

impl Desk {
    pub async fn contracts(&self, member: &Member) -> Result<Vec<Contract>> {
        store::list(self.db.pool(), &member.portal_id).await
    }

    /// Adds a contract; the account and SLA must be the portal's (400 naming
    /// `accountId` / `slaId`). It becomes the account's active contract.
    pub async fn create_contract(&self, member: &Member, new: &NewContract) -> Result<Contract> {
        let contract_name = crate::required_text(
            "contractName",
            &new.contract_name,
            200,
            "desk-error-contract-name",
        )?;
        let id = new_id();
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        Ref::Account
            .check(tx.conn(), &member.portal_id, &new.account_id)
            .await?;
        Ref::Sla
            .check(tx.conn(), &member.portal_id, &new.sla_id)
            .await?;
        let contract = Contract {
            id,
            contract_name,
            account_id: new.account_id.clone(),
            sla_id: new.sla_id.clone(),
            created_time: rfc3339(now),
        };
        store::insert(tx.conn(), &member.portal_id, &contract, now).await?;
        tx.commit().await?;
        Ok(contract)
    }
}
