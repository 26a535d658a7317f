//! SQL of contacts: the view with account, contract, SLA and owner names, the
//! search key column, and the ticket postings that follow a contact's name.

use super::{full_name, Contact, ContactFields};
use crate::search::{ticket_grams, update_postings};
use crate::sql::{contains_pattern, Sql};
use madoguchi_core::db::Backend;
use madoguchi_core::identity::Email;
use madoguchi_core::time::rfc3339;
use madoguchi_core::Result;
use sqlx::{AnyExecutor, Row};

pub(crate) const CONTACT_SELECT: &str = "select c.id, c.first_name, c.last_name, c.email, c.phone, \
     c.account_id, a.account_name, k.id as contract_id, k.contract_name, s.id as sla_id, s.name as sla_name, \
     c.owner_id, u.name as owner_name, c.created_at, c.updated_at \
     from desk_contacts c \
     left join desk_accounts a on a.id = c.account_id \
     left join desk_contracts k on k.id = (select k2.id from desk_contracts k2 \
         where k2.account_id = c.account_id order by k2.created_at desc, k2.id desc limit 1) \
     left join desk_slas s on s.id = k.sla_id \
     left join users u on u.id = c.owner_id";

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

/// Inserts the contact (`new`) or writes every field of it; a taken email is a
/// unique violation for the caller to map.
pub(crate) async fn save(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    id: &str,
    fields: &ContactFields,
    now: i64,
    new: bool,
) -> std::result::Result<sqlx::any::AnyQueryResult, sqlx::Error> {
    let sql = if new {
        "insert into desk_contacts (first_name, last_name, email, email_lower, phone, account_id, \
         owner_id, updated_at, search_key, portal_id, id, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $8)"
    } else {
        "update desk_contacts set first_name = $1, last_name = $2, email = $3, email_lower = $4, \
         phone = $5, account_id = $6, owner_id = $7, updated_at = $8, search_key = $9 \
         where portal_id = $10 and id = $11"
    };
    sqlx::query(sql)
        .bind(&fields.first_name)
        .bind(&fields.last_name)
        .bind(fields.email.as_ref().map(Email::as_str))
        .bind(fields.email.as_ref().map(Email::lower))
        .bind(&fields.phone)
        .bind(&fields.account_id)
        .bind(&fields.owner_id)
        .bind(now)
        .bind(fields.search_key())
        .bind(portal_id)
        .bind(id)
        .execute(e)
        .await
}

/// The portal's contact whose `key` (`"c.id"` or `"c.email_lower"`) is `value`.
pub(crate) async fn get(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    key: &'static str,
    value: &str,
) -> Result<Option<Contact>> {
    let mut sql = Sql::new(CONTACT_SELECT);
    sql.push(" where c.portal_id = ")
        .bind(portal_id)
        .push(" and ")
        .push(key)
        .push(" = ")
        .bind(value);
    let row = sql.query().fetch_optional(e).await?;
    row.as_ref().map(contact_from_row).transpose()
}

/// The portal's contacts, newest first: with `email_lower` when given, whose search
/// key holds `needle` when it is not empty.
pub(crate) async fn list(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    email_lower: Option<&str>,
    needle: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<Contact>> {
    let mut sql = Sql::new(CONTACT_SELECT);
    sql.push(" where c.portal_id = ").bind(portal_id);
    if let Some(email) = email_lower {
        sql.push(" and c.email_lower = ").bind(email);
    }
    if !needle.is_empty() {
        sql.push(" and c.search_key like ")
            .bind(contains_pattern(needle))
            .push(" escape '\\'");
    }
    sql.push(" order by c.created_at desc, c.id desc limit ")
        .bind(limit)
        .push(" offset ")
        .bind(offset);
    let rows = sql.query().fetch_all(e).await?;
    rows.iter().map(contact_from_row).collect()
}

/// The stored fields of a contact.
pub(crate) struct Stored {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub account_id: Option<String>,
    pub owner_id: Option<String>,
}

fn stored_from_row(row: &sqlx::any::AnyRow) -> Result<Stored> {
    Ok(Stored {
        id: row.try_get("id")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        account_id: row.try_get("account_id")?,
        owner_id: row.try_get("owner_id")?,
    })
}

/// Locks the contact's row for the rest of the write transaction (a no-op update
/// first: on PostgreSQL it locks the row for the read, and a concurrent rename waits)
/// and reads it; `None` when the portal has no such contact.
pub(crate) async fn lock(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    id: &str,
) -> Result<Option<Stored>> {
    if !crate::sql::lock_row(&mut *conn, "desk_contacts", portal_id, id).await? {
        return Ok(None);
    }
    let row = sqlx::query(
        "select id, first_name, last_name, email, phone, account_id, owner_id from desk_contacts \
         where portal_id = $1 and id = $2",
    )
    .bind(portal_id)
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    stored_from_row(&row).map(Some)
}

/// Up to `limit` contacts stored before the `search_key` column existed.
pub(crate) async fn missing_search_keys(
    e: impl AnyExecutor<'_>,
    limit: i64,
) -> Result<Vec<Stored>> {
    let rows = sqlx::query(
        "select id, first_name, last_name, email, phone, account_id, owner_id from desk_contacts \
         where search_key is null limit $1",
    )
    .bind(limit)
    .fetch_all(e)
    .await?;
    rows.iter().map(stored_from_row).collect()
}

/// Sets the `(id, key)` search keys still missing in one statement; answers how many.
pub(crate) async fn set_search_keys(
    e: impl AnyExecutor<'_>,
    backend: Backend,
    keys: &[(String, String)],
) -> Result<u64> {
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
    for (id, key) in keys {
        query = query.bind(id).bind(key);
    }
    for (id, _) in keys {
        query = query.bind(id);
    }
    Ok(query.execute(e).await?.rows_affected())
}

/// Moves the search postings of every ticket of a contact to its new text.
pub(crate) async fn reindex_contact_tickets(
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
