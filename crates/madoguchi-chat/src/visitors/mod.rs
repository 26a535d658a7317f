//! C6: visitors. Each widget chat has a visitor (name, email, phone, all optional);
//! operators edit them from the info panel, and the integration syncs the Desk
//! contact through [`crate::DeskMappingHook::on_visitor_updated`] before answering.

pub(crate) mod store;

use crate::operators::OperatorCtx;
use crate::Chat;
use madoguchi_core::identity::Email;
use madoguchi_core::{Error, Lang, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Visitor {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// V4: the pages the visitor saw during the chat, newest last (in a chat's view,
    /// once the widget reported one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<crate::visitor_experience::VisitorPage>,
}

/// Visitor fields as typed: `None` keeps a field; `Some("")` clears it.
#[derive(Debug, Clone, Default)]
pub struct VisitorPatch {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// Validated visitor fields (`None`: absent or cleared).
#[derive(Debug, Clone, Default)]
pub(crate) struct VisitorFields {
    pub name: Option<String>,
    pub email: Option<Email>,
    pub phone: Option<String>,
}

fn clean(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

pub(crate) fn parse_name(raw: Option<&str>) -> Result<Option<String>> {
    match clean(raw) {
        Some(n) if n.chars().count() > 200 => Err(Error::invalid("name", "error-invalid-name")),
        other => Ok(other.map(str::to_owned)),
    }
}

pub(crate) fn parse_email(raw: Option<&str>) -> Result<Option<Email>> {
    clean(raw).map(|e| Email::parse("email", e)).transpose()
}

/// Digits (half- or full-width), spaces and the usual separators: 03-1234-5678,
/// +81 (3) 1234 5678, ０３－１２３４－５６７８.
fn is_phone_char(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c) || " +-().#　－ー（）＋".contains(c)
}

pub(crate) fn parse_phone(raw: Option<&str>) -> Result<Option<String>> {
    match clean(raw) {
        Some(p) if p.chars().count() > 40 || !p.chars().all(is_phone_char) => {
            Err(Error::invalid("phone", "chat-error-phone"))
        }
        other => Ok(other.map(str::to_owned)),
    }
}

impl Chat {
    pub async fn visitor_by_id(
        &self,
        portal_id: &str,
        visitor_id: &str,
    ) -> Result<Option<Visitor>> {
        store::get(&self.db, portal_id, visitor_id).await
    }

    /// C6: an operator edits a visitor they can see (through one of the visitor's
    /// chats); email validated. Then the integration hook syncs Desk (I18).
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn update_visitor(
        &self,
        op: &OperatorCtx,
        visitor_id: &str,
        patch: VisitorPatch,
        lang: Lang,
    ) -> Result<Visitor> {
        let visible = store::department_ids_of_chats(&self.db, &op.portal.id, visitor_id).await?;
        let Some(depts) = visible else {
            return Err(Error::not_found());
        };
        if !depts.iter().any(|d| op.may_see_department(d.as_deref())) {
            return Err(Error::forbidden());
        }
        let name = patch
            .name
            .as_deref()
            .map(|n| parse_name(Some(n)))
            .transpose()?;
        let email = patch
            .email
            .as_deref()
            .map(|e| parse_email(Some(e)))
            .transpose()?;
        let phone = patch
            .phone
            .as_deref()
            .map(|p| parse_phone(Some(p)))
            .transpose()?;
        store::update(
            &self.db,
            &op.portal.id,
            visitor_id,
            name,
            email,
            phone,
            self.clock.now_ms(),
        )
        .await?;
        let visitor = self
            .visitor_by_id(&op.portal.id, visitor_id)
            .await?
            .ok_or_else(Error::not_found)?;
        self.desk_hook()
            .on_visitor_updated(&op.portal.id, &visitor, lang)
            .await?;
        Ok(visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_take_digits_and_separators_in_either_width() {
        for ok in [
            "03-1234-5678",
            "+81 (3) 1234 5678",
            "０３－１２３４－５６７８",
        ] {
            assert!(parse_phone(Some(ok)).is_ok(), "{ok}");
        }
        for bad in ["call me", "03-1234-5678 ext. 9", &"1".repeat(41)] {
            assert!(parse_phone(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(parse_phone(Some("  ")).ok().flatten(), None);
    }
}
