//! SQL of business hours, offline messages, pages, browsers and ratings (V2, V4, V5).

use super::{BusinessHours, VisitorPage};
use madoguchi_core::{Db, Result, WriteTx};
use sqlx::Row;

pub(crate) async fn hours(db: &Db, portal_id: &str) -> Result<Option<BusinessHours>> {
    let row =
        sqlx::query("select time_zone, weekly, closed_dates from chat_hours where portal_id = $1")
            .bind(portal_id)
            .fetch_optional(db.pool())
            .await?;
    let Some(r) = row else { return Ok(None) };
    let weekly: String = r.try_get("weekly")?;
    let closed: String = r.try_get("closed_dates")?;
    Ok(Some(BusinessHours {
        time_zone: r.try_get("time_zone")?,
        weekly: serde_json::from_str(&weekly).unwrap_or_default(),
        closed_dates: serde_json::from_str(&closed).unwrap_or_default(),
    }))
}

pub(crate) async fn set_hours(
    db: &Db,
    portal_id: &str,
    hours: &BusinessHours,
    now: i64,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "insert into chat_hours (portal_id, time_zone, weekly, closed_dates, updated_at) \
         values ($1, $2, $3, $4, $5) on conflict (portal_id) do update set \
         time_zone = excluded.time_zone, weekly = excluded.weekly, \
         closed_dates = excluded.closed_dates, updated_at = excluded.updated_at",
    )
    .bind(portal_id)
    .bind(&hours.time_zone)
    .bind(serde_json::to_string(&hours.weekly).unwrap_or_else(|_| "{}".into()))
    .bind(serde_json::to_string(&hours.closed_dates).unwrap_or_else(|_| "[]".into()))
    .bind(now)
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

pub(crate) async fn insert_offline(
    tx: &mut WriteTx,
    chat_id: &str,
    portal_id: &str,
    client_message_id: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into chat_offline_messages (chat_id, portal_id, client_message_id, created_at) \
         values ($1, $2, $3, $4)",
    )
    .bind(chat_id)
    .bind(portal_id)
    .bind(client_message_id)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub(crate) async fn insert_browser(
    tx: &mut WriteTx,
    chat_id: &str,
    portal_id: &str,
    browser_id: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into chat_browsers (chat_id, portal_id, browser_id, created_at) values ($1, $2, $3, $4)",
    )
    .bind(chat_id)
    .bind(portal_id)
    .bind(browser_id)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub(crate) async fn browser_of(db: &Db, chat_id: &str) -> Result<Option<String>> {
    let row = sqlx::query("select browser_id from chat_browsers where chat_id = $1")
        .bind(chat_id)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| r.try_get("browser_id").map_err(Into::into))
        .transpose()
}

/// Chats of the portal other than `chat_id` whose visitor has the email (any case) or
/// whose widget had the browser id, newest first (at most 50).
pub(crate) async fn same_visitor_chats(
    db: &Db,
    portal_id: &str,
    chat_id: &str,
    email_lower: Option<String>,
    browser_id: Option<String>,
) -> Result<Vec<String>> {
    if email_lower.is_none() && browser_id.is_none() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "select c.id from chat_chats c join chat_visitors v on v.id = c.visitor_id \
         where c.portal_id = $1 and c.id <> $2 and ((v.portal_id = $1 and v.email_lower = $3) \
         or c.id in (select b.chat_id from chat_browsers b where b.portal_id = $1 and b.browser_id = $4)) \
         order by c.created_at desc limit 50",
    )
    .bind(portal_id)
    .bind(chat_id)
    .bind(email_lower.unwrap_or_default())
    .bind(browser_id.unwrap_or_default())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("id").map_err(Into::into))
        .collect()
}

pub(crate) async fn pages(db: &Db, chat_id: &str) -> Result<Vec<VisitorPage>> {
    let rows = sqlx::query(
        "select url, title, referrer, at from chat_pages where chat_id = $1 order by at, id",
    )
    .bind(chat_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(VisitorPage {
                url: r.try_get("url")?,
                title: r.try_get("title")?,
                referrer: r.try_get("referrer")?,
                at: madoguchi_core::time::rfc3339(r.try_get("at")?),
            })
        })
        .collect()
}

pub(crate) async fn insert_page(
    db: &Db,
    chat_id: &str,
    url: &str,
    title: &str,
    referrer: Option<&str>,
    now: i64,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    // Ids sort by creation (v7), so pages of the same millisecond keep their order.
    sqlx::query(
        "insert into chat_pages (id, chat_id, url, title, referrer, at) values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(madoguchi_core::ids::new_id())
    .bind(chat_id)
    .bind(url)
    .bind(title)
    .bind(referrer)
    .bind(now)
    .execute(tx.conn())
    .await?;
    // Keep the newest pages only.
    sqlx::query(
        "delete from chat_pages where chat_id = $1 and id not in \
         (select id from chat_pages where chat_id = $1 order by at desc, id desc limit $2)",
    )
    .bind(chat_id)
    .bind(super::MAX_PAGES_PER_CHAT)
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

/// Inserts the rating unless the chat has one; answers whether it was new.
pub(crate) async fn insert_rating(
    tx: &mut WriteTx,
    chat_id: &str,
    rating: &str,
    comment: Option<&str>,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "insert into chat_ratings (chat_id, rating, comment, created_at) values ($1, $2, $3, $4) \
         on conflict (chat_id) do nothing",
    )
    .bind(chat_id)
    .bind(rating)
    .bind(comment)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() > 0)
}
