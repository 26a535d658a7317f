//! Contracts (SPEC D2): an account under an SLA. An account's active contract is its
//! latest one; a contact's SLA and contract come from it.

use crate::access::Member;
use crate::Desk;
use madoguchi_core::ids::new_id;
use madoguchi_core::time::rfc3339;
use madoguchi_core::Result;
use serde::{Deserialize, Serialize};
use sqlx::Row;
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
        let rows = sqlx::query(
            "select id, contract_name, account_id, sla_id, created_at from desk_contracts \
             where portal_id = $1 order by created_at, id",
        )
        .bind(&member.portal_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Contract {
                    id: row.try_get("id")?,
                    contract_name: row.try_get("contract_name")?,
                    account_id: row.try_get("account_id")?,
                    sla_id: row.try_get("sla_id")?,
                    created_time: rfc3339(row.try_get("created_at")?),
                })
            })
            .collect()
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
        crate::accounts::check_account(tx.conn(), &member.portal_id, &new.account_id, "accountId")
            .await?;
        crate::slas::check_sla(tx.conn(), &member.portal_id, &new.sla_id, "slaId").await?;
        sqlx::query(
            "insert into desk_contracts (id, portal_id, contract_name, account_id, sla_id, created_at) \
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(&member.portal_id)
        .bind(&contract_name)
        .bind(&new.account_id)
        .bind(&new.sla_id)
        .bind(now)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(Contract {
            id,
            contract_name,
            account_id: new.account_id.clone(),
            sla_id: new.sla_id.clone(),
            created_time: rfc3339(now),
        })
    }
}
