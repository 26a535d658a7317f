//! Service keys (SPEC D6, D7; the seed's ZSC key): one per portal, shown to admins
//! beside the email of the admin who generated it. A new key replaces the old one in
//! the same row, so the old one stops working at once. Calls are verified against the
//! key's SHA-256 hash in constant time ([`Desk::verify_service_key`]); the key itself
//! is kept only so that admins can read it again in Settings > API.

pub(crate) mod store;

use crate::access::Member;
use crate::Desk;
use madoguchi_core::ids::random_secret;
use madoguchi_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `{adminEmail, serviceKey}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceKey {
    pub admin_email: String,
    pub service_key: String,
}

fn new_key() -> String {
    format!("mdgsk_{}", random_secret(24))
}

impl Desk {
    /// The portal's key (admin only); 404 `no_service_key` before one is generated.
    pub async fn service_key(&self, member: &Member) -> Result<ServiceKey> {
        member.require_admin()?;
        let (key, email) = store::get(self.db.pool(), &member.portal_id)
            .await?
            .ok_or_else(Error::not_found)?;
        match key {
            Some(service_key) => Ok(ServiceKey {
                admin_email: email.unwrap_or_else(|| member.email.clone()),
                service_key,
            }),
            None => Err(Error::new(ErrorCode::NoServiceKey)),
        }
    }

    /// Generates a new key (admin only), replacing the old one at once.
    pub async fn regenerate_service_key(&self, member: &Member) -> Result<ServiceKey> {
        member.require_admin()?;
        let key = new_key();
        let now = self.clock.now_ms();
        store::set(
            self.db.pool(),
            &member.portal_id,
            &key,
            &member.user_id,
            now,
            false,
        )
        .await?;
        Ok(ServiceKey {
            admin_email: member.email.clone(),
            service_key: key,
        })
    }

    /// The current key, or a new one when there is none (admin only; I2: enabling the
    /// integration as a desk admin).
    pub async fn service_key_get_or_create(&self, member: &Member) -> Result<ServiceKey> {
        match self.service_key(member).await {
            Err(e) if e.code == ErrorCode::NoServiceKey => {
                member.require_admin()?;
                let now = self.clock.now_ms();
                // Only when still missing, so two concurrent callers agree on one key.
                store::set(
                    self.db.pool(),
                    &member.portal_id,
                    &new_key(),
                    &member.user_id,
                    now,
                    true,
                )
                .await?;
                self.service_key(member).await
            }
            other => other,
        }
    }
}
