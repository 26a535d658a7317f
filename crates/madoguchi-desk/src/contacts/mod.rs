//! Contacts (SPEC D2): name, email (unique per portal, any case), phone, account and
//! owner (a member). A contact's SLA and contract come from its account's active
//! contract (the latest); the view resolves account, SLA, contract and owner names in
//! one query (I15).

pub(crate) mod store;

use crate::access::Member;
use crate::search::{contact_text, normalize, MAX_QUERY_CHARS};
use crate::sql::Ref;
use crate::Desk;
use madoguchi_core::error::OnConflict;
use madoguchi_core::identity::Email;
use madoguchi_core::ids::new_id;
use madoguchi_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: String,
    /// First and last name as shown (`contactName` of tickets).
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    pub contract_id: Option<String>,
    pub contract_name: Option<String>,
    pub sla_id: Option<String>,
    pub sla_name: Option<String>,
    pub owner_id: Option<String>,
    /// The owner's display name (`contactOwner` in the chat's desk panel).
    pub owner_name: Option<String>,
    pub created_time: String,
    pub modified_time: String,
}

/// `{firstName?, lastName, email?, phone?, accountId?, ownerId?}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewContact {
    #[serde(default)]
    pub first_name: Option<String>,
    pub last_name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub owner_id: Option<String>,
}

/// PATCH: absent fields stay; `null` clears an optional one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactPatch {
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<String>)]
    pub first_name: Option<Option<String>>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<String>)]
    pub account_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<String>)]
    pub owner_id: Option<Option<String>>,
}

/// `?email=&q=&limit=&offset=` of the contact list.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ContactFilter {
    /// Exact email, any case.
    pub email: Option<String>,
    /// Search (up to 200 characters): part of the name in either order, the email or
    /// the phone. Width (全角/半角), case and spaces do not matter; `%` and `_` are
    /// literal.
    pub q: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

const NAME_MAX: usize = 200;
const PHONE_MAX: usize = 50;

/// "First Last", or the last name alone.
pub fn full_name(first: Option<&str>, last: &str) -> String {
    match first.map(str::trim).filter(|f| !f.is_empty()) {
        // Japanese (and Chinese, Korean) names read family name first: 鈴木 一郎.
        Some(first) if is_cjk_name(first) || is_cjk_name(last) => {
            format!("{} {first}", last.trim())
        }
        Some(first) => format!("{first} {}", last.trim()),
        None => last.trim().to_owned(),
    }
}

fn is_cjk_name(s: &str) -> bool {
    s.chars().any(|c| {
        matches!(c as u32,
            0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xAC00..=0xD7AF | 0xFF66..=0xFF9F)
    })
}

/// The normalised text the contact list search (`q`) matches: the name in both
/// orders ("firstlast", "lastfirst"), the email, the phone and the phone's digits,
/// each [`normalize`]d (width and case folded) and [`squeeze`]d of whitespace, one per
/// line. The needle is normalised and squeezed the same way, so 「鈴木一郎」,
/// 「ｽｽﾞｷ」 or "ichiro suzuki" find 鈴木 一郎 / スズキ, and it never holds a line
/// break, so a match never spans two parts. Written with every insert and update.
pub(crate) fn search_key(
    first: Option<&str>,
    last: &str,
    email: Option<&str>,
    phone: Option<&str>,
) -> String {
    let first = first.map(|f| squeeze(&normalize(f))).unwrap_or_default();
    let last = squeeze(&normalize(last));
    let mut parts = vec![format!("{first}{last}"), format!("{last}{first}")];
    if let Some(email) = email {
        parts.push(squeeze(&normalize(email)));
    }
    if let Some(phone) = phone {
        let phone = squeeze(&normalize(phone));
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        parts.push(phone);
        parts.push(digits);
    }
    parts.retain(|p| !p.is_empty());
    parts.dedup();
    parts.join("\n")
}

/// `s` without whitespace.
fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn email_taken() -> Error {
    Error::new(ErrorCode::EmailTaken)
        .with_field("email")
        .with_message("desk-error-contact-email-taken")
}

fn parse_email(email: Option<&str>) -> Result<Option<Email>> {
    match email.map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => Ok(Some(Email::parse("email", e)?)),
        None => Ok(None),
    }
}

/// Validated contact fields, whole.
pub(crate) struct ContactFields {
    pub(crate) first_name: Option<String>,
    pub(crate) last_name: String,
    pub(crate) email: Option<Email>,
    pub(crate) phone: Option<String>,
    pub(crate) account_id: Option<String>,
    pub(crate) owner_id: Option<String>,
}

impl ContactFields {
    pub(crate) fn search_key(&self) -> String {
        search_key(
            self.first_name.as_deref(),
            &self.last_name,
            self.email.as_ref().map(Email::as_str),
            self.phone.as_deref(),
        )
    }
}

impl Desk {
    async fn check_contact_refs(
        &self,
        conn: &mut sqlx::AnyConnection,
        member: &Member,
        fields: &ContactFields,
    ) -> Result<()> {
        if let Some(account_id) = &fields.account_id {
            Ref::Account
                .check(&mut *conn, &member.portal_id, account_id)
                .await?;
        }
        if let Some(owner_id) = &fields.owner_id {
            if !crate::access::is_member(conn, &member.portal_id, owner_id).await? {
                return Err(Error::invalid("ownerId", "desk-error-not-a-member"));
            }
        }
        Ok(())
    }

    /// Adds a contact; 409 `email_taken` (field `email`) when the portal has a contact
    /// with that email in any case; 400 naming `accountId` / `ownerId` when they are
    /// not the portal's.
    pub async fn create_contact(&self, member: &Member, new: &NewContact) -> Result<Contact> {
        let fields = ContactFields {
            first_name: crate::optional_text(
                "firstName",
                new.first_name.as_deref(),
                NAME_MAX,
                "desk-error-first-name",
            )?,
            last_name: crate::required_text(
                "lastName",
                &new.last_name,
                NAME_MAX,
                "desk-error-last-name",
            )?,
            email: parse_email(new.email.as_deref())?,
            phone: crate::optional_text(
                "phone",
                new.phone.as_deref(),
                PHONE_MAX,
                "desk-error-phone",
            )?,
            account_id: new.account_id.clone().filter(|s| !s.is_empty()),
            owner_id: new.owner_id.clone().filter(|s| !s.is_empty()),
        };
        let id = new_id();
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        self.check_contact_refs(tx.conn(), member, &fields).await?;
        store::save(tx.conn(), &member.portal_id, &id, &fields, now, true)
            .await
            .on_conflict(email_taken)?;
        tx.commit().await?;
        self.contact(member, &id).await
    }

    /// One contact with its account, SLA, contract and owner names; 404 `not_found`.
    pub async fn contact(&self, member: &Member, id: &str) -> Result<Contact> {
        store::get(self.db.pool(), &member.portal_id, "c.id", id)
            .await?
            .ok_or_else(Error::not_found)
    }

    /// The contact with this email (any case), if any.
    pub async fn contact_by_email(&self, member: &Member, email: &str) -> Result<Option<Contact>> {
        let email = email.trim().to_lowercase();
        store::get(self.db.pool(), &member.portal_id, "c.email_lower", &email).await
    }

    /// The portal's contacts, newest first; `email` finds the one with that email, `q`
    /// those whose name, email or phone holds it (see [`search_key`]).
    pub async fn contacts(&self, member: &Member, filter: &ContactFilter) -> Result<Vec<Contact>> {
        let (limit, offset) = crate::search::page(filter.limit, filter.offset)?;
        let q = filter.q.as_deref().map(str::trim).unwrap_or("");
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(Error::invalid("q", "desk-error-query"));
        }
        let needle = squeeze(&normalize(q));
        let email = filter
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_lowercase);
        store::list(
            self.db.pool(),
            &member.portal_id,
            email.as_deref(),
            &needle,
            limit,
            offset,
        )
        .await
    }

    /// Changes a contact; the search index of its tickets follows a new name or email
    /// in the same transaction.
    pub async fn patch_contact(
        &self,
        member: &Member,
        id: &str,
        patch: &ContactPatch,
    ) -> Result<Contact> {
        let mut tx = self.db.begin_write().await?;
        let old = store::lock(tx.conn(), &member.portal_id, id)
            .await?
            .ok_or_else(Error::not_found)?;
        let fields = ContactFields {
            first_name: match &patch.first_name {
                Some(v) => crate::optional_text(
                    "firstName",
                    v.as_deref(),
                    NAME_MAX,
                    "desk-error-first-name",
                )?,
                None => old.first_name.clone(),
            },
            last_name: match &patch.last_name {
                Some(v) => crate::required_text("lastName", v, NAME_MAX, "desk-error-last-name")?,
                None => old.last_name.clone(),
            },
            email: match &patch.email {
                Some(v) => parse_email(v.as_deref())?,
                None => parse_email(old.email.as_deref())?,
            },
            phone: match &patch.phone {
                Some(v) => {
                    crate::optional_text("phone", v.as_deref(), PHONE_MAX, "desk-error-phone")?
                }
                None => old.phone.clone(),
            },
            account_id: match &patch.account_id {
                Some(v) => v.clone().filter(|s| !s.is_empty()),
                None => old.account_id.clone(),
            },
            owner_id: match &patch.owner_id {
                Some(v) => v.clone().filter(|s| !s.is_empty()),
                None => old.owner_id.clone(),
            },
        };
        self.check_contact_refs(tx.conn(), member, &fields).await?;
        let now = self.clock.now_ms();
        store::save(tx.conn(), &member.portal_id, id, &fields, now, false)
            .await
            .on_conflict(email_taken)?;
        let old_text = contact_text(
            Some(&full_name(old.first_name.as_deref(), &old.last_name)),
            old.email.as_deref(),
        );
        let new_text = contact_text(
            Some(&full_name(fields.first_name.as_deref(), &fields.last_name)),
            fields.email.as_ref().map(Email::as_str),
        );
        if old_text != new_text {
            store::reindex_contact_tickets(tx.conn(), &member.portal_id, id, &new_text).await?;
        }
        tx.commit().await?;
        self.contact(member, id).await
    }

    /// Finds the contact with `email` (any case) and updates the names and phone that
    /// are given, or creates it (`lastName` defaults to the email's local part).
    /// For a visitor saved in the chat (C6, I18) and for converting a chat (I10).
    pub async fn upsert_contact_by_email(
        &self,
        member: &Member,
        email: &str,
        first_name: Option<&str>,
        last_name: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Contact> {
        let parsed = Email::parse("email", email)?;
        let non_empty = |s: Option<&str>| {
            s.map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        for _ in 0..2 {
            if let Some(existing) = self.contact_by_email(member, parsed.as_str()).await? {
                let patch = ContactPatch {
                    first_name: non_empty(first_name).map(Some),
                    last_name: non_empty(last_name),
                    phone: non_empty(phone).map(Some),
                    ..ContactPatch::default()
                };
                if patch.first_name.is_none() && patch.last_name.is_none() && patch.phone.is_none()
                {
                    return Ok(existing);
                }
                return self.patch_contact(member, &existing.id, &patch).await;
            }
            let local = parsed.as_str().split('@').next().unwrap_or("").to_owned();
            let new = NewContact {
                first_name: non_empty(first_name),
                last_name: non_empty(last_name).unwrap_or(local),
                email: Some(parsed.as_str().to_owned()),
                phone: non_empty(phone),
                account_id: None,
                owner_id: None,
            };
            match self.create_contact(member, &new).await {
                Err(e) if e.code == ErrorCode::EmailTaken => continue,
                other => return other,
            }
        }
        Err(email_taken())
    }
}

/// Contacts given their `search_key` per statement by [`Desk::fill_contact_search_keys`].
const FILL_BATCH: usize = 200;

impl Desk {
    /// Writes the missing `search_key` of contacts stored before the column existed
    /// (migration 0101); answers how many. The server calls it once at startup, before
    /// it serves, so that a search never misses an old contact. The key is made by Rust
    /// code (SQL cannot fold half-width kana on both backends), and later writes always
    /// set it, so with nothing to fill this is one index lookup. Each batch is one
    /// `update … case id when … end` statement; a row changed meanwhile already has
    /// its key and is left alone.
    pub async fn fill_contact_search_keys(&self) -> Result<u64> {
        let backend = self.db.backend();
        let mut filled = 0;
        loop {
            let missing = store::missing_search_keys(self.db.pool(), FILL_BATCH as i64).await?;
            if missing.is_empty() {
                return Ok(filled);
            }
            let keys: Vec<(String, String)> = missing
                .into_iter()
                .map(|c| {
                    let key = search_key(
                        c.first_name.as_deref(),
                        &c.last_name,
                        c.email.as_deref(),
                        c.phone.as_deref(),
                    );
                    (c.id, key)
                })
                .collect();
            filled += store::set_search_keys(self.db.pool(), backend, &keys).await?;
        }
    }
}

/// The normalised search text of a contact, for a ticket being created or moved. The
/// contact row is touched first, so that on PostgreSQL a concurrent rename waits for
/// this transaction (and then reindexes this ticket too) instead of missing it.
pub(crate) async fn contact_search_text(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    contact_id: &str,
    field: &'static str,
) -> Result<String> {
    let c = store::lock(conn, portal_id, contact_id)
        .await?
        .ok_or_else(|| Error::invalid(field, "desk-error-unknown-contact"))?;
    Ok(contact_text(
        Some(&full_name(c.first_name.as_deref(), &c.last_name)),
        c.email.as_deref(),
    ))
}

#[cfg(test)]
mod name_tests {
    use super::{full_name, search_key};

    #[test]
    fn d2_the_search_key_holds_both_name_orders_email_and_phone_folded_one_per_line() {
        assert_eq!(
            search_key(
                Some("ﾊﾅｺ"),
                "鈴木",
                Some("Hanako@Example.JP"),
                Some("03-1234 5678")
            ),
            "ハナコ鈴木\n鈴木ハナコ\nhanako@example.jp\n03-12345678\n0312345678"
        );
        assert_eq!(search_key(None, "Ｓｍｉｔｈ", None, None), "smith");
        assert_eq!(
            search_key(Some("Mary Ann"), "Lee", None, Some("5550100")),
            "maryannlee\nleemaryann\n5550100"
        );
    }

    #[test]
    fn d2_japanese_names_read_family_name_first_and_others_given_name_first() {
        assert_eq!(full_name(Some("一郎"), "鈴木"), "鈴木 一郎");
        assert_eq!(full_name(Some("John"), "Smith"), "John Smith");
        assert_eq!(full_name(None, "鈴木"), "鈴木");
        assert_eq!(full_name(Some(" "), "Smith"), "Smith");
    }
}
