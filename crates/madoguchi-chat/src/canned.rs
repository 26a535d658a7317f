//! O1: canned responses. Three sets: the portal's (shared; admins write them), a
//! department's (admins and supervisors write them; its operators use them) and each
//! operator's own (personal). In the console's message box `/` and a shortcut pick one;
//! the console fills `{visitor.name}` and `{operator.name}` in.

use crate::operators::OperatorCtx;
use crate::Chat;
use madoguchi_core::error::OnConflict;
use madoguchi_core::ids::new_id;
use madoguchi_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use utoipa::ToSchema;

pub const MAX_SHORTCUT_CHARS: usize = 30;
pub const MAX_TEXT_CHARS: usize = 5000;

madoguchi_core::wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    #[strum(serialize_all = "lowercase")]
    pub enum CannedScope {
        Portal,
        Department,
        Personal,
    }
}

/// A canned response in the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CannedResponse {
    pub id: String,
    /// Typed after `/` in the message box (without the slash).
    pub shortcut: String,
    /// May hold `{visitor.name}` and `{operator.name}`.
    pub text: String,
    pub scope: CannedScope,
    pub department_id: Option<String>,
    /// The operator a personal response belongs to.
    pub owner_id: Option<String>,
    #[serde(serialize_with = "crate::serde_time::ms")]
    #[schema(value_type = String)]
    pub created_at: i64,
    #[serde(serialize_with = "crate::serde_time::ms")]
    #[schema(value_type = String)]
    pub updated_at: i64,
}

/// A new canned response, or a change (absent fields stay).
#[derive(Debug, Clone, Default)]
pub struct CannedInput {
    pub shortcut: Option<String>,
    pub text: Option<String>,
    /// `Some(None)`: no department (a change of scope away from department).
    pub department_id: Option<Option<String>>,
    pub scope: Option<String>,
}

const COLUMNS: &str = "id, scope, department_id, owner_id, shortcut, body, created_at, updated_at";

fn from_row(r: &AnyRow) -> Result<CannedResponse> {
    let scope: String = r.try_get("scope")?;
    Ok(CannedResponse {
        id: r.try_get("id")?,
        shortcut: r.try_get("shortcut")?,
        text: r.try_get("body")?,
        scope: CannedScope::parse(&scope).unwrap_or(CannedScope::Personal),
        department_id: r.try_get("department_id")?,
        owner_id: r.try_get("owner_id")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// `/Hello` → `Hello`: 1–30 characters without spaces.
fn parse_shortcut(raw: &str) -> Result<String> {
    let s = raw.trim().trim_start_matches('/');
    if s.is_empty()
        || s.chars().count() > MAX_SHORTCUT_CHARS
        || s.chars().any(|c| c.is_whitespace() || c == '/')
    {
        return Err(Error::invalid("shortcut", "chat-error-canned-shortcut")
            .with_arg("max", MAX_SHORTCUT_CHARS.to_string()));
    }
    Ok(s.to_owned())
}

fn parse_text(raw: &str) -> Result<String> {
    if raw.trim().is_empty() || raw.chars().count() > MAX_TEXT_CHARS {
        return Err(Error::invalid("text", "chat-error-canned-text")
            .with_arg("max", MAX_TEXT_CHARS.to_string()));
    }
    Ok(raw.to_owned())
}

/// Who may write a response of `scope` (and department).
fn may_write(op: &OperatorCtx, scope: CannedScope, owner: Option<&str>) -> bool {
    match scope {
        CannedScope::Portal => op.is_admin(),
        CannedScope::Department => op.role.sees_all_departments(),
        CannedScope::Personal => owner.is_none_or(|o| o == op.user_id),
    }
}

/// Whether the operator uses (sees) the response.
fn may_use(op: &OperatorCtx, c: &CannedResponse) -> bool {
    match c.scope {
        CannedScope::Portal => true,
        CannedScope::Department => op.may_see_department(c.department_id.as_deref()),
        CannedScope::Personal => c.owner_id.as_deref() == Some(op.user_id.as_str()),
    }
}

impl Chat {
    /// The canned responses the operator may use: the portal's, their departments' (every
    /// department's for admins and supervisors) and their own, by shortcut.
    pub async fn canned_responses(&self, op: &OperatorCtx) -> Result<Vec<CannedResponse>> {
        let rows = sqlx::query(&format!(
            "select {COLUMNS} from chat_canned_responses where portal_id = $1 \
             and (scope <> 'personal' or owner_id = $2) order by shortcut_lower, scope, id"
        ))
        .bind(&op.portal.id)
        .bind(&op.user_id)
        .fetch_all(self.db.pool())
        .await?;
        let all: Vec<CannedResponse> = rows.iter().map(from_row).collect::<Result<_>>()?;
        Ok(all.into_iter().filter(|c| may_use(op, c)).collect())
    }

    async fn canned_by_id(&self, op: &OperatorCtx, id: &str) -> Result<CannedResponse> {
        let row = sqlx::query(&format!(
            "select {COLUMNS} from chat_canned_responses where portal_id = $1 and id = $2"
        ))
        .bind(&op.portal.id)
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        let c = row
            .as_ref()
            .map(from_row)
            .transpose()?
            .ok_or_else(Error::not_found)?;
        // Someone else's personal response does not exist for the caller.
        if c.scope == CannedScope::Personal && c.owner_id.as_deref() != Some(&op.user_id) {
            return Err(Error::not_found());
        }
        Ok(c)
    }

    /// Checks a scope and department against the portal and the caller's role;
    /// answers (scope, department, owner, scope key).
    async fn canned_place(
        &self,
        op: &OperatorCtx,
        scope: CannedScope,
        department_id: Option<String>,
    ) -> Result<(Option<String>, Option<String>, String)> {
        let department_id = department_id.filter(|d| !d.trim().is_empty());
        let place = match scope {
            CannedScope::Department => {
                let Some(d) = department_id else {
                    return Err(Error::invalid(
                        "departmentId",
                        "chat-error-canned-department",
                    ));
                };
                if self.department(&op.portal.id, &d).await?.is_none() {
                    return Err(Error::invalid(
                        "departmentId",
                        "chat-error-department-unknown",
                    ));
                }
                let key = format!("department:{d}");
                (Some(d), None, key)
            }
            _ if department_id.is_some() => {
                return Err(Error::invalid(
                    "departmentId",
                    "chat-error-canned-no-department",
                ))
            }
            CannedScope::Portal => (None, None, "portal".to_owned()),
            CannedScope::Personal => (
                None,
                Some(op.user_id.clone()),
                format!("personal:{}", op.user_id),
            ),
        };
        if !may_write(op, scope, place.1.as_deref()) {
            return Err(Error::forbidden().with_message("chat-error-canned-role"));
        }
        Ok(place)
    }

    /// O1: a new canned response (409 `conflict` naming `shortcut` when the set already
    /// has it, whatever the case).
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn create_canned(
        &self,
        op: &OperatorCtx,
        input: CannedInput,
    ) -> Result<CannedResponse> {
        let scope = match input.scope.as_deref().map(str::trim) {
            Some(s) => CannedScope::parse(s)
                .ok_or_else(|| Error::invalid("scope", "chat-error-canned-scope"))?,
            None => return Err(Error::invalid("scope", "chat-error-canned-scope")),
        };
        let shortcut = parse_shortcut(input.shortcut.as_deref().unwrap_or(""))?;
        let text = parse_text(input.text.as_deref().unwrap_or(""))?;
        let (department_id, owner_id, key) = self
            .canned_place(op, scope, input.department_id.flatten())
            .await?;
        let now = self.clock.now_ms();
        let id = new_id();
        sqlx::query(
            "insert into chat_canned_responses (id, portal_id, scope, scope_key, department_id, \
             owner_id, shortcut, shortcut_lower, body, created_by, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(&id)
        .bind(&op.portal.id)
        .bind(scope.as_str())
        .bind(&key)
        .bind(&department_id)
        .bind(&owner_id)
        .bind(&shortcut)
        .bind(shortcut.to_lowercase())
        .bind(&text)
        .bind(&op.user_id)
        .bind(now)
        .execute(self.db.pool())
        .await
        .on_conflict(|| {
            Error::new(ErrorCode::Conflict)
                .with_field("shortcut")
                .with_message("chat-error-canned-taken")
        })?;
        self.canned_by_id(op, &id).await
    }

    /// O1: changes a canned response (its writer's rule applies to the old and the new
    /// place).
    pub async fn update_canned(
        &self,
        op: &OperatorCtx,
        id: &str,
        input: CannedInput,
    ) -> Result<CannedResponse> {
        let old = self.canned_by_id(op, id).await?;
        if !may_write(op, old.scope, old.owner_id.as_deref()) {
            return Err(Error::forbidden().with_message("chat-error-canned-role"));
        }
        let scope = match input.scope.as_deref().map(str::trim) {
            Some(s) => CannedScope::parse(s)
                .ok_or_else(|| Error::invalid("scope", "chat-error-canned-scope"))?,
            None => old.scope,
        };
        let department_id = match input.department_id {
            Some(d) => d,
            None if scope == CannedScope::Department => old.department_id.clone(),
            None => None,
        };
        let shortcut = match &input.shortcut {
            Some(s) => parse_shortcut(s)?,
            None => old.shortcut.clone(),
        };
        let text = match &input.text {
            Some(t) => parse_text(t)?,
            None => old.text.clone(),
        };
        let (department_id, owner_id, key) = self.canned_place(op, scope, department_id).await?;
        sqlx::query(
            "update chat_canned_responses set scope = $1, scope_key = $2, department_id = $3, \
             owner_id = $4, shortcut = $5, shortcut_lower = $6, body = $7, updated_at = $8 \
             where portal_id = $9 and id = $10",
        )
        .bind(scope.as_str())
        .bind(&key)
        .bind(&department_id)
        .bind(&owner_id)
        .bind(&shortcut)
        .bind(shortcut.to_lowercase())
        .bind(&text)
        .bind(self.clock.now_ms())
        .bind(&op.portal.id)
        .bind(id)
        .execute(self.db.pool())
        .await
        .on_conflict(|| {
            Error::new(ErrorCode::Conflict)
                .with_field("shortcut")
                .with_message("chat-error-canned-taken")
        })?;
        self.canned_by_id(op, id).await
    }

    /// O1: deletes a canned response.
    pub async fn delete_canned(&self, op: &OperatorCtx, id: &str) -> Result<()> {
        let old = self.canned_by_id(op, id).await?;
        if !may_write(op, old.scope, old.owner_id.as_deref()) {
            return Err(Error::forbidden().with_message("chat-error-canned-role"));
        }
        sqlx::query("delete from chat_canned_responses where portal_id = $1 and id = $2")
            .bind(&op.portal.id)
            .bind(id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn o1_shortcuts_are_1_to_30_characters_without_spaces_and_lose_a_leading_slash() {
        assert_eq!(parse_shortcut("/hello").ok().as_deref(), Some("hello"));
        assert_eq!(parse_shortcut(" お礼 ").ok().as_deref(), Some("お礼"));
        for bad in ["", "/", "two words", &"x".repeat(31), "a/b"] {
            assert!(parse_shortcut(bad).is_err(), "{bad:?}");
        }
    }
}
