//! Contacts (SPEC D2): name, email (unique per portal, any case), phone, account and
//! owner (a member). A contact's SLA and contract come from its account's active
//! contract (the latest); the view resolves account, SLA, contract and owner names in
//! one query (I15).

use crate::access::Member;
use crate::search::{contact_text, normalize, ticket_grams, update_postings, MAX_QUERY_CHARS};
use crate::sql::contains_pattern;
use crate::Desk;
use madoguchi_core::error::OnConflict;
use madoguchi_core::identity::Email;
use madoguchi_core::ids::new_id;
use madoguchi_core::time::rfc3339;
use madoguchi_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use sqlx::Row;
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

pub(crate) const CONTACT_SELECT: &str = "select c.id, c.first_name, c.last_name, c.email, c.phone, \
     c.account_id, a.account_name, k.id as contract_id, k.contract_name, s.id as sla_id, s.name as sla_name, \
     c.owner_id, u.name as owner_name, c.created_at, c.updated_at \
     from desk_contacts c \
     left join desk_accounts a on a.id = c.account_id \
     left join desk_contracts k on k.id = (select k2.id from desk_contracts k2 \
         where k2.account_id = c.account_id order by k2.created_at desc, k2.id desc limit 1) \
     left join desk_slas s on s.id = k.sla_id \
     left join users u on u.id = c.owner_id";

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

fn contact_from_row(row: &sqlx::any::AnyRow) -> Result<Contact> {
    let first_name: Option<String> = row.try_get("first_name")?;
    let last_name: String = row.try_get("last_name")?;
    Ok(Contact {
        id: row.try_get("id")?,
        name: full_name(first_name.as_deref(), &last_name),
        first_name,
        last_name,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        account_id: row.try_get("account_id")?,
        account_name: row.try_get("account_name")?,
        contract_id: row.try_get("contract_id")?,
        contract_name: row.try_get("contract_name")?,
        sla_id: row.try_get("sla_id")?,
        sla_name: row.try_get("sla_name")?,
        owner_id: row.try_get("owner_id")?,
        owner_name: row.try_get("owner_name")?,
        created_time: rfc3339(row.try_get("created_at")?),
        modified_time: rfc3339(row.try_get("updated_at")?),
    })
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
struct ContactFields {
    first_name: Option<String>,
    last_name: String,
    email: Option<Email>,
    phone: Option<String>,
    account_id: Option<String>,
    owner_id: Option<String>,
}

impl ContactFields {
    fn search_key(&self) -> String {
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
            crate::accounts::check_account(conn, &member.portal_id, account_id, "accountId")
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
        sqlx::query(
            "insert into desk_contacts (id, portal_id, first_name, last_name, email, email_lower, phone, \
             account_id, owner_id, created_at, updated_at, search_key) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)",
        )
        .bind(&id)
        .bind(&member.portal_id)
        .bind(&fields.first_name)
        .bind(&fields.last_name)
        .bind(fields.email.as_ref().map(Email::as_str))
        .bind(fields.email.as_ref().map(Email::lower))
        .bind(&fields.phone)
        .bind(&fields.account_id)
        .bind(&fields.owner_id)
        .bind(now)
        .bind(fields.search_key())
        .execute(tx.conn())
        .await
        .on_conflict(email_taken)?;
        tx.commit().await?;
        self.contact(member, &id).await
    }

    /// One contact with its account, SLA, contract and owner names; 404 `not_found`.
    pub async fn contact(&self, member: &Member, id: &str) -> Result<Contact> {
        let row = sqlx::query(&format!(
            "{CONTACT_SELECT} where c.portal_id = $1 and c.id = $2"
        ))
        .bind(&member.portal_id)
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(Error::not_found)?;
        contact_from_row(&row)
    }

    /// The contact with this email (any case), if any.
    pub async fn contact_by_email(&self, member: &Member, email: &str) -> Result<Option<Contact>> {
        let row = sqlx::query(&format!(
            "{CONTACT_SELECT} where c.portal_id = $1 and c.email_lower = $2"
        ))
        .bind(&member.portal_id)
        .bind(email.trim().to_lowercase())
        .fetch_optional(self.db.pool())
        .await?;
        row.as_ref().map(contact_from_row).transpose()
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
        let mut sql = crate::sql::Sql::new(CONTACT_SELECT);
        sql.push(" where c.portal_id = ").bind(&member.portal_id);
        if let Some(email) = filter
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            sql.push(" and c.email_lower = ").bind(email.to_lowercase());
        }
        if !needle.is_empty() {
            sql.push(" and c.search_key like ")
                .bind(contains_pattern(&needle))
                .push(" escape '\\'");
        }
        sql.push(" order by c.created_at desc, c.id desc limit ")
            .bind(limit)
            .push(" offset ")
            .bind(offset);
        let rows = sql.query().fetch_all(self.db.pool()).await?;
        rows.iter().map(contact_from_row).collect()
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
        // Touch first: on PostgreSQL this locks the row for the read below.
        let touched = sqlx::query(
            "update desk_contacts set updated_at = updated_at where portal_id = $1 and id = $2",
        )
        .bind(&member.portal_id)
        .bind(id)
        .execute(tx.conn())
        .await?;
        if touched.rows_affected() == 0 {
            return Err(Error::not_found());
        }
        let row = sqlx::query(
            "select first_name, last_name, email, phone, account_id, owner_id from desk_contacts \
             where portal_id = $1 and id = $2",
        )
        .bind(&member.portal_id)
        .bind(id)
        .fetch_one(tx.conn())
        .await?;
        let old_first: Option<String> = row.try_get("first_name")?;
        let old_last: String = row.try_get("last_name")?;
        let old_email: Option<String> = row.try_get("email")?;
        let fields = ContactFields {
            first_name: match &patch.first_name {
                Some(v) => crate::optional_text(
                    "firstName",
                    v.as_deref(),
                    NAME_MAX,
                    "desk-error-first-name",
                )?,
                None => old_first.clone(),
            },
            last_name: match &patch.last_name {
                Some(v) => crate::required_text("lastName", v, NAME_MAX, "desk-error-last-name")?,
                None => old_last.clone(),
            },
            email: match &patch.email {
                Some(v) => parse_email(v.as_deref())?,
                None => parse_email(old_email.as_deref())?,
            },
            phone: match &patch.phone {
                Some(v) => {
                    crate::optional_text("phone", v.as_deref(), PHONE_MAX, "desk-error-phone")?
                }
                None => row.try_get("phone")?,
            },
            account_id: match &patch.account_id {
                Some(v) => v.clone().filter(|s| !s.is_empty()),
                None => row.try_get("account_id")?,
            },
            owner_id: match &patch.owner_id {
                Some(v) => v.clone().filter(|s| !s.is_empty()),
                None => row.try_get("owner_id")?,
            },
        };
        self.check_contact_refs(tx.conn(), member, &fields).await?;
        sqlx::query(
            "update desk_contacts set first_name = $1, last_name = $2, email = $3, email_lower = $4, \
             phone = $5, account_id = $6, owner_id = $7, updated_at = $8, search_key = $9 \
             where portal_id = $10 and id = $11",
        )
        .bind(&fields.first_name)
        .bind(&fields.last_name)
        .bind(fields.email.as_ref().map(Email::as_str))
        .bind(fields.email.as_ref().map(Email::lower))
        .bind(&fields.phone)
        .bind(&fields.account_id)
        .bind(&fields.owner_id)
        .bind(self.clock.now_ms())
        .bind(fields.search_key())
        .bind(&member.portal_id)
        .bind(id)
        .execute(tx.conn())
        .await
        .on_conflict(email_taken)?;
        let old_text = contact_text(
            Some(&full_name(old_first.as_deref(), &old_last)),
            old_email.as_deref(),
        );
        let new_text = contact_text(
            Some(&full_name(fields.first_name.as_deref(), &fields.last_name)),
            fields.email.as_ref().map(Email::as_str),
        );
        if old_text != new_text {
            reindex_contact_tickets(tx.conn(), &member.portal_id, id, &new_text).await?;
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
            let rows = sqlx::query(
                "select id, first_name, last_name, email, phone from desk_contacts \
                 where search_key is null limit $1",
            )
            .bind(FILL_BATCH as i64)
            .fetch_all(self.db.pool())
            .await?;
            if rows.is_empty() {
                return Ok(filled);
            }
            let mut keys: Vec<(String, String)> = Vec::with_capacity(rows.len());
            for row in &rows {
                let first: Option<String> = row.try_get("first_name")?;
                let last: String = row.try_get("last_name")?;
                let email: Option<String> = row.try_get("email")?;
                let phone: Option<String> = row.try_get("phone")?;
                let key = search_key(first.as_deref(), &last, email.as_deref(), phone.as_deref());
                keys.push((row.try_get("id")?, key));
            }
            let n = keys.len();
            let mut sql = String::from("update desk_contacts set search_key = case id");
            for i in 0..n {
                sql.push_str(" when ");
                sql.push_str(&backend.placeholders(2 * i + 1, 1));
                sql.push_str(" then ");
                sql.push_str(&backend.placeholders(2 * i + 2, 1));
            }
            sql.push_str(" end where search_key is null and id in (");
            sql.push_str(&backend.placeholders(2 * n + 1, n));
            sql.push(')');
            let mut query = sqlx::query(&sql);
            for (id, key) in &keys {
                query = query.bind(id).bind(key);
            }
            for (id, _) in &keys {
                query = query.bind(id);
            }
            filled += query.execute(self.db.pool()).await?.rows_affected();
        }
    }
}

/// Moves the search postings of every ticket of a contact to its new text.
async fn reindex_contact_tickets(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    contact_id: &str,
    new_text: &str,
) -> Result<()> {
    let rows = sqlx::query(
        "select ticket_number, search_subject, search_contact from desk_tickets \
         where portal_id = $1 and contact_id = $2",
    )
    .bind(portal_id)
    .bind(contact_id)
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let number: i64 = row.try_get("ticket_number")?;
        let subject: String = row.try_get("search_subject")?;
        let old: String = row.try_get("search_contact")?;
        let before = ticket_grams(&subject, &old);
        let after = ticket_grams(&subject, new_text);
        update_postings(&mut *conn, portal_id, number, &before, &after).await?;
    }
    sqlx::query(
        "update desk_tickets set search_contact = $1 where portal_id = $2 and contact_id = $3",
    )
    .bind(new_text)
    .bind(portal_id)
    .bind(contact_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
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
    sqlx::query(
        "update desk_contacts set updated_at = updated_at where portal_id = $1 and id = $2",
    )
    .bind(portal_id)
    .bind(contact_id)
    .execute(&mut *conn)
    .await?;
    let row = sqlx::query(
        "select first_name, last_name, email from desk_contacts where portal_id = $1 and id = $2",
    )
    .bind(portal_id)
    .bind(contact_id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| Error::invalid(field, "desk-error-unknown-contact"))?;
    let first: Option<String> = row.try_get("first_name")?;
    let last: String = row.try_get("last_name")?;
    let email: Option<String> = row.try_get("email")?;
    Ok(contact_text(
        Some(&full_name(first.as_deref(), &last)),
        email.as_deref(),
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
