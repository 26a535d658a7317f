//! SQL of tickets: the row and its joins, numbers, idempotency keys, history.

use super::{Channel, HistoryEntry, Prepared, Priority, Ticket, TicketFilter, TicketStatus};
use crate::access::Member;
use crate::search::{ticket_grams, update_postings};
use crate::sql::{Arg, Sql};
use crate::Desk;
use madoguchi_core::ids::new_id;
use madoguchi_core::time::rfc3339;
use madoguchi_core::Result;
use sqlx::{AnyExecutor, Row};

pub(crate) const TICKET_COLUMNS: &str = "select t.id, t.ticket_number, t.subject, t.description, \
     t.status, t.priority, t.classification, t.channel, t.department_id, d.name as department_name, \
     t.contact_id, c.first_name as contact_first_name, c.last_name as contact_last_name, \
     c.email as contact_email, t.assignee_id, u.name as assignee_name, t.created_at, t.updated_at";

/// The joins after `desk_tickets t`.
pub(crate) const TICKET_FROM: &str = "join desk_departments d on d.id = t.department_id \
     left join desk_contacts c on c.id = t.contact_id \
     left join users u on u.id = t.assignee_id";

pub(crate) fn ticket_select() -> String {
    format!("{TICKET_COLUMNS} from desk_tickets t {TICKET_FROM}")
}

pub(crate) fn ticket_from_row(
    row: &sqlx::any::AnyRow,
    desk: &Desk,
    portal_name: &str,
) -> Result<Ticket> {
    let number: i64 = row.try_get("ticket_number")?;
    let status: String = row.try_get("status")?;
    let priority: String = row.try_get("priority")?;
    let channel: String = row.try_get("channel")?;
    let last: Option<String> = row.try_get("contact_last_name")?;
    let first: Option<String> = row.try_get("contact_first_name")?;
    Ok(Ticket {
        id: row.try_get("id")?,
        ticket_number: number,
        subject: row.try_get("subject")?,
        description: row.try_get("description")?,
        status: TicketStatus::from_db(&status)?,
        priority: Priority::from_db(&priority)?,
        classification: row.try_get("classification")?,
        channel: Channel::from_db(&channel)?,
        department_id: row.try_get("department_id")?,
        contact_id: row.try_get("contact_id")?,
        contact_name: last.map(|l| crate::contacts::full_name(first.as_deref(), &l)),
        email: row.try_get("contact_email")?,
        assignee_id: row.try_get("assignee_id")?,
        web_url: desk.ticket_url(portal_name, number),
        created_time: rfc3339(row.try_get("created_at")?),
        modified_time: rfc3339(row.try_get("updated_at")?),
        department_name: row.try_get("department_name")?,
        assignee_name: row.try_get("assignee_name")?,
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn record(
    conn: &mut sqlx::AnyConnection,
    member: &Member,
    ticket_id: &str,
    field: &str,
    old: Option<&str>,
    new: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into desk_ticket_history (id, portal_id, ticket_id, field, old_value, new_value, \
         actor_id, actor_name, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_id())
    .bind(&member.portal_id)
    .bind(ticket_id)
    .bind(field)
    .bind(old)
    .bind(new)
    // The mail importer acts as no user (an empty id).
    .bind(member.actor_id().filter(|u| !u.is_empty()))
    .bind(member.actor_name())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The ticket an earlier create with `key` made, if any.
pub(crate) async fn ticket_for_key(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    key: &str,
) -> Result<Option<String>> {
    let row = sqlx::query(
        "select k.ticket_id from desk_ticket_keys k join desk_tickets t on t.id = k.ticket_id \
         where k.portal_id = $1 and k.idem_key = $2",
    )
    .bind(portal_id)
    .bind(key)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.try_get("ticket_id")).transpose()?)
}

pub(crate) async fn record_ticket_key(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    key: &str,
    ticket_id: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into desk_ticket_keys (portal_id, idem_key, ticket_id, created_at) values ($1, $2, $3, $4)",
    )
    .bind(portal_id)
    .bind(key)
    .bind(ticket_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes the next `count` ticket numbers of the portal; answers the last one. The
/// portal row stays locked until the transaction ends, so numbers never repeat.
pub(crate) async fn reserve_numbers(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    count: i64,
) -> Result<i64> {
    Ok(sqlx::query(
        "update desk_portals set ticket_seq = ticket_seq + $1 where id = $2 returning ticket_seq",
    )
    .bind(count)
    .bind(portal_id)
    .fetch_one(conn)
    .await?
    .try_get("ticket_seq")?)
}

/// Inserts a ticket with its search postings and its first history entry.
pub(crate) async fn insert_ticket(
    conn: &mut sqlx::AnyConnection,
    member: &Member,
    p: &Prepared,
    number: i64,
    now: i64,
) -> Result<String> {
    let id = new_id();
    sqlx::query(
        "insert into desk_tickets (id, portal_id, ticket_number, subject, description, status, priority, \
         classification, channel, department_id, contact_id, assignee_id, search_subject, search_contact, \
         created_by, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)",
    )
    .bind(&id)
    .bind(&member.portal_id)
    .bind(number)
    .bind(&p.subject)
    .bind(&p.description)
    .bind(p.status.as_str())
    .bind(p.priority.as_str())
    .bind(&p.classification)
    .bind(p.channel.as_str())
    .bind(&p.department_id)
    .bind(&p.contact_id)
    .bind(&p.assignee_id)
    .bind(&p.search_subject)
    .bind(&p.search_contact)
    .bind(
        Some(member.actor_id().unwrap_or(&member.user_id)).filter(|u| !u.is_empty()),
    )
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let grams = ticket_grams(&p.search_subject, &p.search_contact);
    update_postings(
        &mut *conn,
        &member.portal_id,
        number,
        &Default::default(),
        &grams,
    )
    .await?;
    record(
        &mut *conn,
        member,
        &id,
        "status",
        None,
        Some(p.status.as_str()),
        now,
    )
    .await?;
    Ok(id)
}

/// One ticket of the portal by `key`: `"t.id"` or `"t.ticket_number"`.
pub(crate) async fn get(
    e: impl AnyExecutor<'_>,
    desk: &Desk,
    member: &Member,
    key: &'static str,
    value: impl Into<Arg>,
) -> Result<Option<Ticket>> {
    let mut sql = Sql::new(&ticket_select());
    sql.push(" where t.portal_id = ")
        .bind(&member.portal_id)
        .push(" and ")
        .push(key)
        .push(" = ")
        .bind(value);
    let row = sql.query().fetch_optional(e).await?;
    row.map(|row| ticket_from_row(&row, desk, &member.portal_name))
        .transpose()
}

/// The portal's tickets matching `filter`, newest first (`limit`, `offset` checked).
pub(crate) async fn list(
    e: impl AnyExecutor<'_>,
    desk: &Desk,
    member: &Member,
    filter: &TicketFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<Ticket>> {
    let mut sql = Sql::new(&ticket_select());
    sql.push(" where t.portal_id = ").bind(&member.portal_id);
    if let Some(status) = filter.status {
        sql.push(" and t.status = ").bind(status.as_str());
    }
    if let Some(d) = filter.department_id.as_deref().filter(|s| !s.is_empty()) {
        sql.push(" and t.department_id = ").bind(d);
    }
    if let Some(c) = filter.contact_id.as_deref().filter(|s| !s.is_empty()) {
        sql.push(" and t.contact_id = ").bind(c);
    }
    if let Some(a) = filter.assignee_id.as_deref().filter(|s| !s.is_empty()) {
        sql.push(" and t.assignee_id = ").bind(a);
    }
    if let Some(e) = filter
        .contact_email
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        sql.push(" and t.contact_id = (select c2.id from desk_contacts c2 where c2.portal_id = ")
            .bind(&member.portal_id)
            .push(" and c2.email_lower = ")
            .bind(e.to_lowercase())
            .push(")");
    }
    if let Some(chat) = filter.chat_id.as_deref().filter(|s| !s.is_empty()) {
        sql.push(" and t.id in (select th.ticket_id from desk_threads th where th.portal_id = ")
            .bind(&member.portal_id)
            .push(" and th.chat_id = ")
            .bind(chat)
            .push(")");
    }
    if let Some(ids) = &filter.department_ids {
        if ids.is_empty() {
            sql.push(" and 1 = 0");
        } else {
            sql.push(" and t.department_id in ").bind_list(ids.iter());
        }
    }
    sql.push(" order by t.ticket_number desc limit ")
        .bind(limit)
        .push(" offset ")
        .bind(offset);
    let rows = sql.query().fetch_all(e).await?;
    rows.iter()
        .map(|row| ticket_from_row(row, desk, &member.portal_name))
        .collect()
}

/// The stored fields of a ticket that a change compares against.
pub(crate) struct Stored {
    pub number: i64,
    pub subject: String,
    pub description: String,
    pub status: TicketStatus,
    pub priority: Priority,
    pub classification: Option<String>,
    pub department_id: String,
    pub contact_id: Option<String>,
    pub assignee_id: Option<String>,
    pub search_subject: String,
    pub search_contact: String,
}

/// Locks the ticket's row for the rest of the write transaction (a no-op update
/// first: on PostgreSQL it locks the row for the read) and reads it; `None` when the
/// portal has no such ticket.
pub(crate) async fn lock(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    id: &str,
) -> Result<Option<Stored>> {
    if !crate::sql::lock_row(&mut *conn, "desk_tickets", portal_id, id).await? {
        return Ok(None);
    }
    let row = sqlx::query(
        "select ticket_number, subject, description, status, priority, classification, department_id, \
         contact_id, assignee_id, search_subject, search_contact from desk_tickets where portal_id = $1 and id = $2",
    )
    .bind(portal_id)
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Some(Stored {
        number: row.try_get("ticket_number")?,
        subject: row.try_get("subject")?,
        description: row.try_get("description")?,
        status: TicketStatus::from_db(&row.try_get::<String, _>("status")?)?,
        priority: Priority::from_db(&row.try_get::<String, _>("priority")?)?,
        classification: row.try_get("classification")?,
        department_id: row.try_get("department_id")?,
        contact_id: row.try_get("contact_id")?,
        assignee_id: row.try_get("assignee_id")?,
        search_subject: row.try_get("search_subject")?,
        search_contact: row.try_get("search_contact")?,
    }))
}

/// Writes the changeable fields of a ticket; the search postings follow when the
/// searchable texts changed from `before`.
pub(crate) async fn update(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    id: &str,
    before: &Stored,
    after: &Stored,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "update desk_tickets set subject = $1, description = $2, status = $3, priority = $4, \
         classification = $5, department_id = $6, contact_id = $7, assignee_id = $8, search_subject = $9, \
         search_contact = $10, updated_at = $11 where portal_id = $12 and id = $13",
    )
    .bind(&after.subject)
    .bind(&after.description)
    .bind(after.status.as_str())
    .bind(after.priority.as_str())
    .bind(&after.classification)
    .bind(&after.department_id)
    .bind(&after.contact_id)
    .bind(&after.assignee_id)
    .bind(&after.search_subject)
    .bind(&after.search_contact)
    .bind(now)
    .bind(portal_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if after.search_subject != before.search_subject
        || after.search_contact != before.search_contact
    {
        let old = ticket_grams(&before.search_subject, &before.search_contact);
        let new = ticket_grams(&after.search_subject, &after.search_contact);
        update_postings(&mut *conn, portal_id, before.number, &old, &new).await?;
    }
    Ok(())
}

/// The ticket's history, oldest first.
pub(crate) async fn history(
    e: impl AnyExecutor<'_>,
    portal_id: &str,
    ticket_id: &str,
) -> Result<Vec<HistoryEntry>> {
    let rows = sqlx::query(
        "select id, field, old_value, new_value, actor_id, actor_name, created_at from desk_ticket_history \
         where portal_id = $1 and ticket_id = $2 order by created_at, id",
    )
    .bind(portal_id)
    .bind(ticket_id)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(HistoryEntry {
                id: row.try_get("id")?,
                field: row.try_get("field")?,
                old_value: row.try_get("old_value")?,
                new_value: row.try_get("new_value")?,
                actor_id: row.try_get("actor_id")?,
                actor_name: row.try_get("actor_name")?,
                created_at: rfc3339(row.try_get("created_at")?),
            })
        })
        .collect()
}
