//! SQL of visitors.

use super::{Visitor, VisitorFields};
use madoguchi_core::identity::Email;
use madoguchi_core::{Db, Result, WriteTx};
use sqlx::Row;

pub(crate) async fn insert(
    tx: &mut WriteTx,
    id: &str,
    portal_id: &str,
    f: &VisitorFields,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into chat_visitors (id, portal_id, name, email, email_lower, phone, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(id)
    .bind(portal_id)
    .bind(f.name.as_deref())
    .bind(f.email.as_ref().map(Email::as_str))
    .bind(f.email.as_ref().map(Email::lower))
    .bind(f.phone.as_deref())
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub(crate) async fn get(db: &Db, portal_id: &str, id: &str) -> Result<Option<Visitor>> {
    let row = sqlx::query(
        "select id, name, email, phone from chat_visitors where portal_id = $1 and id = $2",
    )
    .bind(portal_id)
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(Visitor {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            email: r.try_get("email")?,
            phone: r.try_get("phone")?,
            pages: Vec::new(),
        })
    })
    .transpose()
}

/// The departments of the visitor's chats; `None` when the visitor is not in the portal.
pub(crate) async fn department_ids_of_chats(
    db: &Db,
    portal_id: &str,
    visitor_id: &str,
) -> Result<Option<Vec<Option<String>>>> {
    if get(db, portal_id, visitor_id).await?.is_none() {
        return Ok(None);
    }
    let rows = sqlx::query(
        "select department_id from chat_chats where portal_id = $1 and visitor_id = $2",
    )
    .bind(portal_id)
    .bind(visitor_id)
    .fetch_all(db.pool())
    .await?;
    Ok(Some(
        rows.iter()
            .map(|r| r.try_get("department_id"))
            .collect::<Result<_, _>>()?,
    ))
}

/// Sets the given fields: `Some(None)` clears, `None` keeps.
pub(crate) async fn update(
    db: &Db,
    portal_id: &str,
    id: &str,
    name: Option<Option<String>>,
    email: Option<Option<Email>>,
    phone: Option<Option<String>>,
    now: i64,
) -> Result<()> {
    // One statement per field keeps the SQL static; a visitor edit is rare.
    let mut tx = db.begin_write().await?;
    if let Some(name) = name {
        sqlx::query(
            "update chat_visitors set name = $1, updated_at = $2 where portal_id = $3 and id = $4",
        )
        .bind(name)
        .bind(now)
        .bind(portal_id)
        .bind(id)
        .execute(tx.conn())
        .await?;
    }
    if let Some(email) = email {
        sqlx::query(
            "update chat_visitors set email = $1, email_lower = $2, updated_at = $3 where portal_id = $4 and id = $5",
        )
        .bind(email.as_ref().map(Email::as_str))
        .bind(email.as_ref().map(Email::lower))
        .bind(now)
        .bind(portal_id)
        .bind(id)
        .execute(tx.conn())
        .await?;
    }
    if let Some(phone) = phone {
        sqlx::query(
            "update chat_visitors set phone = $1, updated_at = $2 where portal_id = $3 and id = $4",
        )
        .bind(phone)
        .bind(now)
        .bind(portal_id)
        .bind(id)
        .execute(tx.conn())
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
