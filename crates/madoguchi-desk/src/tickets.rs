//! Tickets (SPEC D3, D5): per-portal `ticketNumber` from 101 (a counter on the portal
//! row, incremented in the creating transaction, so concurrent creates never share a
//! number), the enumerations of API.md, a history of every change, filters, paging.

use crate::access::Member;
use crate::search::{contact_text, ticket_grams, update_postings};
use crate::sql::Sql;
use crate::threads::Thread;
use crate::Desk;
use madoguchi_core::ids::new_id;
use madoguchi_core::time::rfc3339;
use madoguchi_core::{Error, Result};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }

            pub(crate) fn from_db(s: &str) -> Result<Self> {
                Self::parse(s).ok_or_else(|| {
                    Error::internal(anyhow::anyhow!(concat!("unknown ", stringify!($name), " {:?}"), s))
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// "Open" | "On Hold" | "Escalated" | "Closed".
    TicketStatus { Open = "Open", OnHold = "On Hold", Escalated = "Escalated", Closed = "Closed" }
);
string_enum!(
    /// "High" | "Medium" | "Low".
    Priority { High = "High", Medium = "Medium", Low = "Low" }
);
string_enum!(
    /// "Chat" | "Web" | "Email" | "Phone".
    Channel { Chat = "Chat", Web = "Web", Email = "Email", Phone = "Phone" }
);

// What a new ticket is when its creator does not say (API.md: status, priority and
// channel are optional on create); the pages preselect the same values. Written out:
// `string_enum!` makes the enums, and would have to learn `#[default]` to derive them.
#[allow(clippy::derivable_impls)]
impl Default for TicketStatus {
    fn default() -> Self {
        Self::Open
    }
}

#[allow(clippy::derivable_impls)]
impl Default for Priority {
    fn default() -> Self {
        Self::Medium
    }
}

#[allow(clippy::derivable_impls)]
impl Default for Channel {
    fn default() -> Self {
        Self::Web
    }
}

/// A ticket exactly as API.md has it, plus the names of its department and assignee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub id: String,
    pub ticket_number: i64,
    pub subject: String,
    pub description: String,
    pub status: TicketStatus,
    pub priority: Priority,
    pub classification: Option<String>,
    pub channel: Channel,
    pub department_id: String,
    pub contact_id: Option<String>,
    pub contact_name: Option<String>,
    /// The contact's email.
    pub email: Option<String>,
    pub assignee_id: Option<String>,
    pub web_url: String,
    pub created_time: String,
    pub modified_time: String,
    #[serde(default)]
    pub department_name: Option<String>,
    #[serde(default)]
    pub assignee_name: Option<String>,
}

/// A ticket with its threads, oldest first (the integration's ticket view, I16).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketWithThreads {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub threads: Vec<Thread>,
}

/// `{subject, description?, departmentId?, contactId?, status?, priority?,
/// classification?, channel?, assigneeId?}`; defaults: Open, Medium, Web, the
/// default department.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewTicket {
    pub subject: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub department_id: Option<String>,
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub status: Option<TicketStatus>,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub classification: Option<String>,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub assignee_id: Option<String>,
}

/// PATCH: any of these; `null` clears `classification`, `assigneeId`, `contactId`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketPatch {
    #[serde(default)]
    pub status: Option<TicketStatus>,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<String>)]
    pub classification: Option<Option<String>>,
    #[serde(default)]
    pub department_id: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<String>)]
    pub assignee_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<String>)]
    pub contact_id: Option<Option<String>>,
}

/// `?status=&departmentId=&contactId=&assigneeId=&contactEmail=&chatId=&limit=&offset=`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct TicketFilter {
    pub status: Option<TicketStatus>,
    pub department_id: Option<String>,
    pub contact_id: Option<String>,
    pub assignee_id: Option<String>,
    /// Tickets of the contact with this email (any case).
    pub contact_email: Option<String>,
    /// Tickets holding a transcript of this chat.
    pub chat_id: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    /// Only these departments (the integration's view scope, I14); not an HTTP
    /// parameter.
    #[serde(skip)]
    #[param(ignore)]
    #[schema(ignore)]
    pub department_ids: Option<Vec<String>>,
}

/// One recorded change of a ticket (`field` is the API field name; `null` old value
/// for the creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub id: String,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub created_at: String,
}

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

const SUBJECT_MAX: usize = 255;
const DESCRIPTION_MAX: usize = 100_000;

fn subject(value: &str) -> Result<String> {
    crate::required_text("subject", value, SUBJECT_MAX, "desk-error-subject")
}

fn description(value: Option<&str>) -> Result<String> {
    let v = value.unwrap_or("").trim();
    if v.chars().count() > DESCRIPTION_MAX {
        return Err(Error::invalid("description", "desk-error-description"));
    }
    Ok(v.to_owned())
}

async fn check_assignee(conn: &mut sqlx::AnyConnection, portal_id: &str, id: &str) -> Result<()> {
    if crate::access::is_member(conn, portal_id, id).await? {
        Ok(())
    } else {
        Err(Error::invalid("assigneeId", "desk-error-not-a-member"))
    }
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

/// A validated new ticket.
pub(crate) struct Prepared {
    subject: String,
    description: String,
    status: TicketStatus,
    priority: Priority,
    channel: Channel,
    department_id: String,
    contact_id: Option<String>,
    classification: Option<String>,
    assignee_id: Option<String>,
    search_subject: String,
    search_contact: String,
}

/// The ticket an earlier create with `key` made, if any.
async fn ticket_for_key(
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

async fn record_ticket_key(
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

impl Desk {
    /// Validates a new ticket against the portal inside the write transaction.
    pub(crate) async fn prepare_ticket(
        &self,
        conn: &mut sqlx::AnyConnection,
        member: &Member,
        new: &NewTicket,
        contact_texts: &mut std::collections::HashMap<String, String>,
    ) -> Result<Prepared> {
        let subject = subject(&new.subject)?;
        let description = description(new.description.as_deref())?;
        let non_empty = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let portal_id = &member.portal_id;
        let department_id = match non_empty(&new.department_id) {
            Some(d) => {
                crate::departments::check_department(&mut *conn, portal_id, &d, "departmentId")
                    .await?;
                d
            }
            None => crate::departments::default_department_id(&mut *conn, portal_id).await?,
        };
        let contact_id = non_empty(&new.contact_id);
        let search_contact = match &contact_id {
            Some(c) => match contact_texts.get(c) {
                Some(text) => text.clone(),
                None => {
                    let text =
                        crate::contacts::contact_search_text(&mut *conn, portal_id, c, "contactId")
                            .await?;
                    contact_texts.insert(c.clone(), text.clone());
                    text
                }
            },
            None => String::new(),
        };
        let classification = match non_empty(&new.classification) {
            Some(c) => Some(
                crate::classifications::check(&mut *conn, portal_id, &c, "classification").await?,
            ),
            None => None,
        };
        // O6: a ticket converted by a Chat operator who is a member is theirs.
        let assignee_id =
            non_empty(&new.assignee_id).or_else(|| member.acting_member_id().map(str::to_owned));
        if let Some(a) = &assignee_id {
            check_assignee(&mut *conn, portal_id, a).await?;
        }
        Ok(Prepared {
            search_subject: crate::search::normalize(&subject),
            subject,
            description,
            status: new.status.unwrap_or_default(),
            priority: new.priority.unwrap_or_default(),
            channel: new.channel.unwrap_or_default(),
            department_id,
            contact_id,
            search_contact,
            classification,
            assignee_id,
        })
    }

    /// Creates a ticket with the next number of the portal (101, 102, …; never
    /// repeated, also under concurrent creates). The department, contact, assignee
    /// and classification must be the portal's (400 naming the field).
    pub async fn create_ticket(&self, member: &Member, new: &NewTicket) -> Result<Ticket> {
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let prepared = self
            .prepare_ticket(tx.conn(), member, new, &mut Default::default())
            .await?;
        let number = reserve_numbers(tx.conn(), &member.portal_id, 1).await?;
        let id = insert_ticket(tx.conn(), member, &prepared, number, now).await?;
        tx.commit().await?;
        self.ticket(member, &id).await
    }

    /// [`Desk::create_ticket`] for a caller that may retry: the first create with `key`
    /// makes the ticket and records the key in the same transaction; every later one
    /// answers that ticket (`true` when this call made it). A key is at most 200
    /// characters (400 `invalid_request`, field `Idempotency-Key`).
    pub async fn create_ticket_once(
        &self,
        member: &Member,
        new: &NewTicket,
        key: &str,
    ) -> Result<(Ticket, bool)> {
        let key = key.trim();
        if key.is_empty() || key.chars().count() > 200 {
            return Err(Error::invalid(
                "Idempotency-Key",
                "desk-error-idempotency-key",
            ));
        }
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let known = ticket_for_key(tx.conn(), &member.portal_id, key).await?;
        let (id, made) = match known {
            Some(id) => (id, false),
            None => {
                let prepared = self
                    .prepare_ticket(tx.conn(), member, new, &mut Default::default())
                    .await?;
                let number = reserve_numbers(tx.conn(), &member.portal_id, 1).await?;
                let id = insert_ticket(tx.conn(), member, &prepared, number, now).await?;
                record_ticket_key(tx.conn(), &member.portal_id, key, &id, now).await?;
                (id, true)
            }
        };
        tx.commit().await?;
        Ok((self.ticket(member, &id).await?, made))
    }

    /// Imports many tickets in one transaction (admin only): each is validated as by
    /// [`Desk::create_ticket`] (an error carries `index`, the position of the ticket
    /// at fault, and nothing is imported), they get consecutive numbers in order, and
    /// are indexed for search. Answers their numbers. For migrations from another help
    /// desk and for load tests.
    pub async fn import_tickets(&self, member: &Member, tickets: &[NewTicket]) -> Result<Vec<i64>> {
        member.require_admin()?;
        if tickets.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let mut contact_texts = std::collections::HashMap::new();
        let mut prepared = Vec::with_capacity(tickets.len());
        for (i, new) in tickets.iter().enumerate() {
            let p = self
                .prepare_ticket(tx.conn(), member, new, &mut contact_texts)
                .await
                .map_err(|e| e.with_extra("index", i))?;
            prepared.push(p);
        }
        let count =
            i64::try_from(prepared.len()).map_err(|e| Error::internal(anyhow::Error::new(e)))?;
        let last = reserve_numbers(tx.conn(), &member.portal_id, count).await?;
        let mut numbers = Vec::with_capacity(prepared.len());
        for (number, p) in (last - count + 1..).zip(&prepared) {
            insert_ticket(tx.conn(), member, p, number, now).await?;
            numbers.push(number);
        }
        tx.commit().await?;
        Ok(numbers)
    }

    /// One ticket by id; 404 `not_found`.
    pub async fn ticket(&self, member: &Member, id: &str) -> Result<Ticket> {
        let row = sqlx::query(&format!(
            "{} where t.portal_id = $1 and t.id = $2",
            ticket_select()
        ))
        .bind(&member.portal_id)
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(Error::not_found)?;
        ticket_from_row(&row, self, &member.portal_name)
    }

    /// One ticket by its number; 404 `not_found`.
    pub async fn ticket_by_number(&self, member: &Member, number: i64) -> Result<Ticket> {
        let row = sqlx::query(&format!(
            "{} where t.portal_id = $1 and t.ticket_number = $2",
            ticket_select()
        ))
        .bind(&member.portal_id)
        .bind(number)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(Error::not_found)?;
        ticket_from_row(&row, self, &member.portal_name)
    }

    /// A ticket with its threads, oldest first.
    pub async fn ticket_with_threads(
        &self,
        member: &Member,
        id: &str,
    ) -> Result<TicketWithThreads> {
        let ticket = self.ticket(member, id).await?;
        let threads = self.threads(member, id).await?;
        Ok(TicketWithThreads { ticket, threads })
    }

    /// The portal's tickets, newest first, filtered; `limit` 1–200 (default 50).
    pub async fn tickets(&self, member: &Member, filter: &TicketFilter) -> Result<Vec<Ticket>> {
        let (limit, offset) = crate::search::page(filter.limit, filter.offset)?;
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
            sql.push(
                " and t.contact_id = (select c2.id from desk_contacts c2 where c2.portal_id = ",
            )
            .bind(&member.portal_id)
            .push(" and c2.email_lower = ")
            .bind(e.to_lowercase())
            .push(")");
        }
        if let Some(chat) = filter.chat_id.as_deref().filter(|s| !s.is_empty()) {
            sql.push(
                " and t.id in (select th.ticket_id from desk_threads th where th.portal_id = ",
            )
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
        let rows = sql.query().fetch_all(self.db.pool()).await?;
        rows.iter()
            .map(|row| ticket_from_row(row, self, &member.portal_name))
            .collect()
    }

    /// The recent tickets of the contact with `email` (I16), newest first, optionally
    /// only in `department_ids` (I14).
    pub async fn tickets_by_contact_email(
        &self,
        member: &Member,
        email: &str,
        limit: i64,
        department_ids: Option<Vec<String>>,
    ) -> Result<Vec<Ticket>> {
        if email.trim().is_empty() {
            return Ok(Vec::new());
        }
        self.tickets(
            member,
            &TicketFilter {
                contact_email: Some(email.to_owned()),
                limit: Some(limit.clamp(1, crate::search::MAX_LIMIT)),
                department_ids,
                ..TicketFilter::default()
            },
        )
        .await
    }

    /// Changes any of status, priority, classification, department, subject,
    /// description, assignee and contact; each change is recorded in the history.
    pub async fn patch_ticket(
        &self,
        member: &Member,
        id: &str,
        patch: &TicketPatch,
    ) -> Result<Ticket> {
        let now = self.clock.now_ms();
        let portal_id = &member.portal_id;
        let mut tx = self.db.begin_write().await?;
        // Touch first: on PostgreSQL this locks the row for the read below.
        let touched = sqlx::query(
            "update desk_tickets set updated_at = updated_at where portal_id = $1 and id = $2",
        )
        .bind(portal_id)
        .bind(id)
        .execute(tx.conn())
        .await?;
        if touched.rows_affected() == 0 {
            return Err(Error::not_found());
        }
        let row = sqlx::query(
            "select ticket_number, subject, description, status, priority, classification, department_id, \
             contact_id, assignee_id, search_subject, search_contact from desk_tickets where portal_id = $1 and id = $2",
        )
        .bind(portal_id)
        .bind(id)
        .fetch_one(tx.conn())
        .await?;
        let number: i64 = row.try_get("ticket_number")?;
        let old_subject: String = row.try_get("subject")?;
        let old_description: String = row.try_get("description")?;
        let old_status = TicketStatus::from_db(&row.try_get::<String, _>("status")?)?;
        let old_priority = Priority::from_db(&row.try_get::<String, _>("priority")?)?;
        let old_classification: Option<String> = row.try_get("classification")?;
        let old_department: String = row.try_get("department_id")?;
        let old_contact: Option<String> = row.try_get("contact_id")?;
        let old_assignee: Option<String> = row.try_get("assignee_id")?;
        let old_search_subject: String = row.try_get("search_subject")?;
        let old_search_contact: String = row.try_get("search_contact")?;

        let new_subject = match &patch.subject {
            Some(s) => subject(s)?,
            None => old_subject.clone(),
        };
        let new_description = match &patch.description {
            Some(d) => description(Some(d))?,
            None => old_description.clone(),
        };
        let new_status = patch.status.unwrap_or(old_status);
        let new_priority = patch.priority.unwrap_or(old_priority);
        let new_classification = match &patch.classification {
            Some(Some(c)) if !c.trim().is_empty() => Some(
                crate::classifications::check(tx.conn(), portal_id, c, "classification").await?,
            ),
            Some(_) => None,
            None => old_classification.clone(),
        };
        let new_department = match &patch.department_id {
            Some(d) => {
                crate::departments::check_department(tx.conn(), portal_id, d, "departmentId")
                    .await?;
                d.clone()
            }
            None => old_department.clone(),
        };
        let new_assignee = match &patch.assignee_id {
            Some(Some(a)) if !a.is_empty() => {
                check_assignee(tx.conn(), portal_id, a).await?;
                Some(a.clone())
            }
            Some(_) => None,
            None => old_assignee.clone(),
        };
        let (new_contact, new_search_contact) = match &patch.contact_id {
            Some(Some(c)) if old_contact.as_deref() == Some(c.as_str()) => {
                (old_contact.clone(), old_search_contact.clone())
            }
            Some(Some(c)) if !c.is_empty() => {
                let text =
                    crate::contacts::contact_search_text(tx.conn(), portal_id, c, "contactId")
                        .await?;
                (Some(c.clone()), text)
            }
            Some(_) => (None, contact_text(None, None)),
            None => (old_contact.clone(), old_search_contact.clone()),
        };
        let new_search_subject = crate::search::normalize(&new_subject);

        let changes: Vec<(&str, Option<String>, Option<String>)> = [
            (
                "status",
                Some(old_status.as_str().to_owned()),
                Some(new_status.as_str().to_owned()),
            ),
            (
                "priority",
                Some(old_priority.as_str().to_owned()),
                Some(new_priority.as_str().to_owned()),
            ),
            (
                "classification",
                old_classification,
                new_classification.clone(),
            ),
            (
                "departmentId",
                Some(old_department),
                Some(new_department.clone()),
            ),
            ("subject", Some(old_subject), Some(new_subject.clone())),
            (
                "description",
                Some(old_description),
                Some(new_description.clone()),
            ),
            ("assigneeId", old_assignee, new_assignee.clone()),
            ("contactId", old_contact, new_contact.clone()),
        ]
        .into_iter()
        .filter(|(_, old, new)| old != new)
        .collect();
        if changes.is_empty() {
            tx.commit().await?;
            return self.ticket(member, id).await;
        }
        sqlx::query(
            "update desk_tickets set subject = $1, description = $2, status = $3, priority = $4, \
             classification = $5, department_id = $6, contact_id = $7, assignee_id = $8, search_subject = $9, \
             search_contact = $10, updated_at = $11 where portal_id = $12 and id = $13",
        )
        .bind(&new_subject)
        .bind(&new_description)
        .bind(new_status.as_str())
        .bind(new_priority.as_str())
        .bind(&new_classification)
        .bind(&new_department)
        .bind(&new_contact)
        .bind(&new_assignee)
        .bind(&new_search_subject)
        .bind(&new_search_contact)
        .bind(now)
        .bind(portal_id)
        .bind(id)
        .execute(tx.conn())
        .await?;
        if new_search_subject != old_search_subject || new_search_contact != old_search_contact {
            let before = ticket_grams(&old_search_subject, &old_search_contact);
            let after = ticket_grams(&new_search_subject, &new_search_contact);
            update_postings(tx.conn(), portal_id, number, &before, &after).await?;
        }
        for (field, old, new) in &changes {
            if *field == "description" {
                // Long text: the history notes the change, not the text.
                record(tx.conn(), member, id, field, None, None, now).await?;
            } else {
                record(
                    tx.conn(),
                    member,
                    id,
                    field,
                    old.as_deref(),
                    new.as_deref(),
                    now,
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.ticket(member, id).await
    }

    /// The ticket's history, oldest first; 404 `not_found` for an unknown ticket.
    pub async fn ticket_history(&self, member: &Member, id: &str) -> Result<Vec<HistoryEntry>> {
        self.ticket(member, id).await?;
        let rows = sqlx::query(
            "select id, field, old_value, new_value, actor_id, actor_name, created_at from desk_ticket_history \
             where portal_id = $1 and ticket_id = $2 order by created_at, id",
        )
        .bind(&member.portal_id)
        .bind(id)
        .fetch_all(self.db.pool())
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
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn enumerations_are_written_as_in_the_api() {
        assert_eq!(
            serde_json::to_string(&TicketStatus::OnHold).unwrap(),
            "\"On Hold\""
        );
        assert_eq!(
            TicketStatus::parse("Escalated"),
            Some(TicketStatus::Escalated)
        );
        assert_eq!(TicketStatus::parse("open"), None);
        assert_eq!(Priority::ALL.len(), 3);
        assert_eq!(Channel::parse("Chat"), Some(Channel::Chat));
    }
}
