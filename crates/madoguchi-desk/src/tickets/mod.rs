//! Tickets (SPEC D3, D5): per-portal `ticketNumber` from 101 (a counter on the portal
//! row, incremented in the creating transaction, so concurrent creates never share a
//! number), the enumerations of API.md, a history of every change, filters, paging.

pub(crate) mod store;

use crate::access::Member;
use crate::search::contact_text;
use crate::sql::Ref;
use crate::threads::Thread;
use crate::Desk;
use madoguchi_core::{Error, Result};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The ticket enumerations: written as API.md spells them (strum and serde agree,
/// pinned by the crate's wire tests), with `ALL`, `from_db` and `Display`.
macro_rules! ticket_enum {
    ($(
        $(#[$meta:meta])*
        pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }
    )+) => {$(
        madoguchi_core::wire_enum! {
            $(#[$meta])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
            pub enum $name { $($(#[$vmeta])* $variant),+ }
        }

        impl $name {
            pub const ALL: &'static [$name] = <$name as strum::VariantArray>::VARIANTS;

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
    )+};
}

ticket_enum! {
    /// "Open" | "On Hold" | "Escalated" | "Closed".
    pub enum TicketStatus {
        Open,
        #[serde(rename = "On Hold")]
        #[strum(serialize = "On Hold")]
        OnHold,
        Escalated,
        Closed,
    }

    /// "High" | "Medium" | "Low".
    pub enum Priority { High, Medium, Low }

    /// "Chat" | "Web" | "Email" | "Phone".
    pub enum Channel { Chat, Web, Email, Phone }
}

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

/// A validated new ticket.
pub(crate) struct Prepared {
    pub(crate) subject: String,
    pub(crate) description: String,
    pub(crate) status: TicketStatus,
    pub(crate) priority: Priority,
    pub(crate) channel: Channel,
    pub(crate) department_id: String,
    pub(crate) contact_id: Option<String>,
    pub(crate) classification: Option<String>,
    pub(crate) assignee_id: Option<String>,
    pub(crate) search_subject: String,
    pub(crate) search_contact: String,
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
                Ref::Department.check(&mut *conn, portal_id, &d).await?;
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
        let number = store::reserve_numbers(tx.conn(), &member.portal_id, 1).await?;
        let id = store::insert_ticket(tx.conn(), member, &prepared, number, now).await?;
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
        let known = store::ticket_for_key(tx.conn(), &member.portal_id, key).await?;
        let (id, made) = match known {
            Some(id) => (id, false),
            None => {
                let prepared = self
                    .prepare_ticket(tx.conn(), member, new, &mut Default::default())
                    .await?;
                let number = store::reserve_numbers(tx.conn(), &member.portal_id, 1).await?;
                let id = store::insert_ticket(tx.conn(), member, &prepared, number, now).await?;
                store::record_ticket_key(tx.conn(), &member.portal_id, key, &id, now).await?;
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
        let last = store::reserve_numbers(tx.conn(), &member.portal_id, count).await?;
        let mut numbers = Vec::with_capacity(prepared.len());
        for (number, p) in (last - count + 1..).zip(&prepared) {
            store::insert_ticket(tx.conn(), member, p, number, now).await?;
            numbers.push(number);
        }
        tx.commit().await?;
        Ok(numbers)
    }

    /// One ticket by id; 404 `not_found`.
    pub async fn ticket(&self, member: &Member, id: &str) -> Result<Ticket> {
        store::get(self.db.pool(), self, member, "t.id", id)
            .await?
            .ok_or_else(Error::not_found)
    }

    /// One ticket by its number; 404 `not_found`.
    pub async fn ticket_by_number(&self, member: &Member, number: i64) -> Result<Ticket> {
        store::get(self.db.pool(), self, member, "t.ticket_number", number)
            .await?
            .ok_or_else(Error::not_found)
    }

    /// A ticket with its threads, oldest first.
    pub async fn ticket_with_threads(
        &self,
        member: &Member,
        id: &madoguchi_core::ids::TicketId,
    ) -> Result<TicketWithThreads> {
        let ticket = self.ticket(member, id).await?;
        let threads = self.threads(member, id).await?;
        Ok(TicketWithThreads { ticket, threads })
    }

    /// The portal's tickets, newest first, filtered; `limit` 1–200 (default 50).
    pub async fn tickets(&self, member: &Member, filter: &TicketFilter) -> Result<Vec<Ticket>> {
        let (limit, offset) = crate::search::page(filter.limit, filter.offset)?;
        store::list(self.db.pool(), self, member, filter, limit, offset).await
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
        let old = store::lock(tx.conn(), portal_id, id)
            .await?
            .ok_or_else(Error::not_found)?;

        let new_subject = match &patch.subject {
            Some(s) => subject(s)?,
            None => old.subject.clone(),
        };
        let new_description = match &patch.description {
            Some(d) => description(Some(d))?,
            None => old.description.clone(),
        };
        let new_classification = match &patch.classification {
            Some(Some(c)) if !c.trim().is_empty() => Some(
                crate::classifications::check(tx.conn(), portal_id, c, "classification").await?,
            ),
            Some(_) => None,
            None => old.classification.clone(),
        };
        let new_department = match &patch.department_id {
            Some(d) => {
                Ref::Department.check(tx.conn(), portal_id, d).await?;
                d.clone()
            }
            None => old.department_id.clone(),
        };
        let new_assignee = match &patch.assignee_id {
            Some(Some(a)) if !a.is_empty() => {
                check_assignee(tx.conn(), portal_id, a).await?;
                Some(a.clone())
            }
            Some(_) => None,
            None => old.assignee_id.clone(),
        };
        let (new_contact, new_search_contact) = match &patch.contact_id {
            Some(Some(c)) if old.contact_id.as_deref() == Some(c.as_str()) => {
                (old.contact_id.clone(), old.search_contact.clone())
            }
            Some(Some(c)) if !c.is_empty() => {
                let text =
                    crate::contacts::contact_search_text(tx.conn(), portal_id, c, "contactId")
                        .await?;
                (Some(c.clone()), text)
            }
            Some(_) => (None, contact_text(None, None)),
            None => (old.contact_id.clone(), old.search_contact.clone()),
        };
        let new = store::Stored {
            number: old.number,
            search_subject: crate::search::normalize(&new_subject),
            subject: new_subject,
            description: new_description,
            status: patch.status.unwrap_or(old.status),
            priority: patch.priority.unwrap_or(old.priority),
            classification: new_classification,
            department_id: new_department,
            contact_id: new_contact,
            assignee_id: new_assignee,
            search_contact: new_search_contact,
        };

        let changes: Vec<(&str, Option<&str>, Option<&str>)> = [
            (
                "status",
                Some(old.status.as_str()),
                Some(new.status.as_str()),
            ),
            (
                "priority",
                Some(old.priority.as_str()),
                Some(new.priority.as_str()),
            ),
            (
                "classification",
                old.classification.as_deref(),
                new.classification.as_deref(),
            ),
            (
                "departmentId",
                Some(&*old.department_id),
                Some(&*new.department_id),
            ),
            ("subject", Some(&*old.subject), Some(&*new.subject)),
            (
                "description",
                Some(&*old.description),
                Some(&*new.description),
            ),
            (
                "assigneeId",
                old.assignee_id.as_deref(),
                new.assignee_id.as_deref(),
            ),
            (
                "contactId",
                old.contact_id.as_deref(),
                new.contact_id.as_deref(),
            ),
        ]
        .into_iter()
        .filter(|(_, old, new)| old != new)
        .collect();
        if changes.is_empty() {
            tx.commit().await?;
            return self.ticket(member, id).await;
        }
        store::update(tx.conn(), portal_id, id, &old, &new, now).await?;
        for (field, old, new) in changes {
            if field == "description" {
                // Long text: the history notes the change, not the text.
                store::record(tx.conn(), member, id, field, None, None, now).await?;
            } else {
                store::record(tx.conn(), member, id, field, old, new, now).await?;
            }
        }
        tx.commit().await?;
        self.ticket(member, id).await
    }

    /// The ticket's history, oldest first; 404 `not_found` for an unknown ticket.
    pub async fn ticket_history(&self, member: &Member, id: &str) -> Result<Vec<HistoryEntry>> {
        self.ticket(member, id).await?;
        store::history(self.db.pool(), &member.portal_id, id).await
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
