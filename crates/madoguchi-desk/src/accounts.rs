//! Accounts (SPEC D2): the organisations contacts belong to.

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
pub struct Account {
    pub id: String,
    pub account_name: String,
    pub created_time: String,
}

fn account_from_row(row: &sqlx::any::AnyRow) -> Result<Account> {
    Ok(Account {
        id: row.try_get("id")?,
        account_name: row.try_get("account_name")?,
        created_time: rfc3339(row.try_get("created_at")?),
    })
}

impl Desk {
    pub async fn accounts(&self, member: &Member) -> Result<Vec<Account>> {
        let rows = sqlx::query(
            "select id, account_name, created_at from desk_accounts where portal_id = $1 \
             order by created_at, id",
        )
        .bind(&member.portal_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(account_from_row).collect()
    }

    /// One account; 404 `not_found`.
    pub async fn account(&self, member: &Member, id: &str) -> Result<Account> {
        let row = sqlx::query(
            "select id, account_name, created_at from desk_accounts where portal_id = $1 and id = $2",
        )
        .bind(&member.portal_id)
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(Error::not_found)?;
        account_from_row(&row)
    }

    pub async fn create_account(&self, member: &Member, account_name: &str) -> Result<Account> {
        let account_name =
            crate::required_text("accountName", account_name, 200, "desk-error-account-name")?;
        let id = new_id();
        let now = self.clock.now_ms();
        sqlx::query(
            "insert into desk_accounts (id, portal_id, account_name, created_at, updated_at) \
             values ($1, $2, $3, $4, $4)",
        )
        .bind(&id)
        .bind(&member.portal_id)
        .bind(&account_name)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(Account {
            id,
            account_name,
            created_time: rfc3339(now),
        })
    }
}

/// 400 naming `field` unless `id` is an account of the portal.
pub(crate) async fn check_account(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    id: &str,
    field: &'static str,
) -> Result<()> {
    let row = sqlx::query("select id from desk_accounts where portal_id = $1 and id = $2")
        .bind(portal_id)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    match row {
        Some(_) => Ok(()),
        None => Err(Error::invalid(field, "desk-error-unknown-account")),
    }
}
