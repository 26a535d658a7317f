//! Ticket classifications (SPEC D3): each portal has its own list, admins edit it.

pub(crate) mod store;

use crate::access::Member;
use crate::Desk;
use madoguchi_core::{Error, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A new portal's classifications.
pub const DEFAULT_CLASSIFICATIONS: &[&str] = &["Question", "Problem", "Feature Request", "Others"];

const MAX_CLASSIFICATIONS: usize = 100;
const MAX_CLASSIFICATION_CHARS: usize = 100;

/// `{classifications:[…]}`, the body of GET and PUT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Classifications {
    pub classifications: Vec<String>,
}

impl Desk {
    /// The portal's classifications, in order.
    pub async fn classifications(&self, member: &Member) -> Result<Vec<String>> {
        store::load(self.db.pool(), &member.portal_id).await
    }

    /// Replaces the list (admin only): at least one, each non-empty (trimmed) and
    /// unique regardless of case; else 400 naming `classifications`. Tickets keep the
    /// classification they have.
    pub async fn set_classifications(
        &self,
        member: &Member,
        classifications: &[String],
    ) -> Result<Vec<String>> {
        member.require_admin()?;
        let invalid = || Error::invalid("classifications", "desk-error-classifications");
        if classifications.is_empty() || classifications.len() > MAX_CLASSIFICATIONS {
            return Err(invalid());
        }
        let mut list: Vec<String> = Vec::with_capacity(classifications.len());
        for c in classifications {
            let c = c.trim();
            if c.is_empty()
                || c.chars().count() > MAX_CLASSIFICATION_CHARS
                || list.iter().any(|x| x.to_lowercase() == c.to_lowercase())
            {
                return Err(invalid());
            }
            list.push(c.to_owned());
        }
        store::save(
            self.db.pool(),
            &member.portal_id,
            &list,
            self.clock.now_ms(),
        )
        .await?;
        Ok(list)
    }
}

/// The portal's spelling of `value` when it is one of its classifications (any
/// case); else 400 naming `field`.
pub(crate) async fn check(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    value: &str,
    field: &'static str,
) -> Result<String> {
    let wanted = value.trim().to_lowercase();
    store::load(conn, portal_id)
        .await?
        .into_iter()
        .find(|c| c.to_lowercase() == wanted)
        .ok_or_else(|| Error::invalid(field, "desk-error-unknown-classification"))
}
