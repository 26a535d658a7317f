//! One Desk client, two transports (SPEC Q1, D7).
//!
//! The integration reaches Desk only through [`DeskClient`]. [`InProcessDesk`] calls the
//! Desk context's services in this process; [`HttpDesk`] calls the Desk HTTP API of
//! API.md at `--desk-url`, authenticating each call with the linked portal's service key
//! (`X-Service-Key`, `X-Service-Admin`). Both verify the service key on every call, so a
//! regenerated key breaks the link at once whichever transport is in use (I5).
//!
//! The value types mirror the JSON of API.md exactly (camelCase); anything Desk adds
//! beyond the fields we use is kept in `extra` and passed through, so the chat panel
//! shows what Desk shows.

mod http;
mod in_process;

pub(crate) use http::link_error;
pub use http::HttpDesk;
pub use in_process::InProcessDesk;

use async_trait::async_trait;
use madoguchi_core::identity::User;
use madoguchi_core::ids::{ChatId, ContactId, DepartmentId, PortalName, TicketId};
use madoguchi_core::Result;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The credentials of a link: which Desk portal, as which admin, with which key.
#[derive(Clone, PartialEq, Eq)]
pub struct DeskAuth {
    pub portal: PortalName,
    pub admin_email: String,
    pub service_key: String,
    /// O6: the Chat operator a change is made for (from the chat's desk panel); Desk
    /// records them in the ticket's history instead of the key's admin. `None`: the
    /// integration itself (automatic tickets, transcript sync).
    pub acting: Option<ActingOperator>,
}

/// The operator behind a call (SPEC O6): Desk finds its member with this email, or
/// records the name alone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActingOperator {
    pub email: String,
    pub name: String,
}

impl DeskAuth {
    /// The same link, acting for `operator`.
    pub fn acting_for(mut self, operator: ActingOperator) -> Self {
        self.acting = Some(operator);
        self
    }
}

impl std::fmt::Debug for DeskAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never log the key.
        f.debug_struct("DeskAuth")
            .field("portal", &self.portal)
            .field("admin_email", &self.admin_email)
            .field("acting", &self.acting)
            .finish_non_exhaustive()
    }
}

/// A Desk portal's service key with the admin email beside it (D6).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceKey {
    pub admin_email: String,
    pub service_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeskDepartment {
    #[schema(value_type = String)]
    pub id: DepartmentId,
    pub name: String,
    #[serde(default)]
    pub is_default: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeskContact {
    #[schema(value_type = String)]
    pub id: ContactId,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub owner_id: Option<String>,
    /// Whatever else Desk shows (account name, SLA, contract, owner name…).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

impl DeskContact {
    /// "first last" as Desk shows it, or the last name alone.
    pub fn display_name(&self) -> String {
        match self.first_name.as_deref().map(str::trim) {
            Some(first) if !first.is_empty() => format!("{} {}", first, self.last_name),
            _ => self.last_name.clone(),
        }
    }

    /// A string member Desk added to the contact, when present and not empty.
    pub fn extra_str(&self, names: &[&str]) -> Option<String> {
        names.iter().find_map(|n| {
            self.extra
                .get(*n)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        })
    }
}

/// The account, SLA, contract and owner of a contact, by name (I15).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContactDetails {
    pub account_name: Option<String>,
    pub sla_name: Option<String>,
    pub contract_name: Option<String>,
    pub contact_owner: Option<String>,
}

/// A ticket as API.md shows it; `threads` only on the detail view.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeskTicket {
    #[schema(value_type = String)]
    pub id: TicketId,
    pub ticket_number: i64,
    pub subject: String,
    #[serde(default)]
    pub description: Option<String>,
    pub status: String,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub classification: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub department_id: Option<DepartmentId>,
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub contact_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub assignee_id: Option<String>,
    #[serde(default)]
    pub web_url: String,
    #[serde(default)]
    pub created_time: Option<String>,
    #[serde(default)]
    pub modified_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<Vec<DeskThread>>,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

/// A message of a chat thread (D4).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChatLine {
    /// The chat message's `seq`: appending is idempotent by it.
    pub seq: i64,
    pub sender: String,
    pub sender_name: String,
    pub text: String,
    pub created_at: String,
    /// A system line's event, so Desk shows it in its reader's language (V6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<ChatLineSystem>,
}

/// `{kind, arg}` of a system line (Desk's `SystemLine`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChatLineSystem {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arg: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeskThread {
    pub id: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<ChatLine>>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

/// V3: a file sent in a chat, to keep on the ticket's chat thread. `key` is the
/// chat's id of the file (a repeated copy finds the first), `seq` the message's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatFile {
    pub key: String,
    pub seq: i64,
    pub name: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// A file on a ticket: `{id, name, contentType, size, url}` (the Desk route).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeskAttachment {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub url: String,
}

/// A new ticket (D3): `None` leaves Desk's default.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTicket {
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department_id: Option<DepartmentId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<ContactId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Makes the create safe to retry: Desk answers the ticket an earlier create with
    /// this key made (sent as the `Idempotency-Key` header over HTTP).
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

/// Everything the integration asks of Desk.
///
/// Errors are [`madoguchi_core::Error`]s with API.md codes: `desk_portal_not_found`,
/// `invalid_service_key`, `not_desk_admin_email` (with `field`) from [`verify`](Self::verify)
/// and every call; `not_found` for an unknown id; `desk_unavailable` when Desk cannot be
/// reached (the outbox retries those).
#[async_trait]
pub trait DeskClient: Send + Sync + 'static {
    /// "in_process" or "http" (logs, the contract tests).
    fn transport(&self) -> &'static str;

    /// Desk portals `user` administers (I2, I4). Over HTTP the Chat process holds no
    /// Desk credentials for the user, so this is always empty there.
    async fn admin_portals(&self, user: &User) -> Result<Vec<PortalName>>;

    /// The portal's current service key, generating one if it has none (I2);
    /// `user` must administer the portal.
    async fn ensure_service_key(&self, user: &User, portal: &PortalName) -> Result<ServiceKey>;

    /// Checks a link (I3, I5): `desk_portal_not_found` (field `deskPortalName`),
    /// `invalid_service_key` (field `serviceKey`), `not_desk_admin_email` (field `adminEmail`).
    async fn verify(&self, auth: &DeskAuth) -> Result<()>;

    async fn departments(&self, auth: &DeskAuth) -> Result<Vec<DeskDepartment>>;
    async fn classifications(&self, auth: &DeskAuth) -> Result<Vec<String>>;

    async fn find_contact_by_email(
        &self,
        auth: &DeskAuth,
        email: &str,
    ) -> Result<Option<DeskContact>>;
    /// Finds the contact with `email` (any case) and updates the last name and phone
    /// given, or creates it; a contact made without a name gets the email's local part
    /// as `lastName` (C6, I10, I18).
    async fn upsert_contact(
        &self,
        auth: &DeskAuth,
        email: &str,
        last_name: Option<&str>,
        phone: Option<&str>,
    ) -> Result<DeskContact>;
    /// Account, SLA, contract and owner names of a contact (I15).
    async fn contact_details(
        &self,
        auth: &DeskAuth,
        contact: &DeskContact,
    ) -> Result<ContactDetails>;

    async fn create_ticket(&self, auth: &DeskAuth, ticket: &NewTicket) -> Result<DeskTicket>;
    /// A ticket with its `threads` (oldest first).
    async fn ticket(&self, auth: &DeskAuth, ticket_id: &TicketId) -> Result<DeskTicket>;
    /// A contact's tickets, newest first, at most `limit`; only in `departments` when
    /// given (the view scope, I14).
    async fn contact_tickets(
        &self,
        auth: &DeskAuth,
        contact_id: &ContactId,
        limit: u32,
        departments: Option<&[DepartmentId]>,
    ) -> Result<Vec<DeskTicket>>;
    /// D5 search: ticket number, contact name, contact email, subject; only in
    /// `departments` when given (I14, I19).
    async fn search_tickets(
        &self,
        auth: &DeskAuth,
        q: &str,
        departments: Option<&[DepartmentId]>,
    ) -> Result<Vec<DeskTicket>>;
    async fn set_ticket_status(
        &self,
        auth: &DeskAuth,
        ticket_id: &TicketId,
        status: &str,
    ) -> Result<DeskTicket>;
    /// A reply on the ticket, shown as written by `author` (the operator) when given.
    async fn reply(
        &self,
        auth: &DeskAuth,
        ticket_id: &TicketId,
        content: &str,
        author: Option<&str>,
    ) -> Result<DeskThread>;

    /// O6: whether the operator the link acts for (`auth.acting`) is a member of the
    /// Desk portal (so "view details" may open the ticket in the Desk app).
    async fn acting_is_member(&self, auth: &DeskAuth) -> Result<bool>;

    /// Creates the ticket's chat thread for `chat_id`, or appends to it the lines whose
    /// `seq` it does not hold yet: calling it again with the same lines changes nothing.
    async fn upsert_chat_thread(
        &self,
        auth: &DeskAuth,
        ticket_id: &TicketId,
        chat_id: &ChatId,
        lines: &[ChatLine],
    ) -> Result<DeskThread>;

    /// V3: keeps `file` on the ticket's chat thread of `chat_id` (made first with
    /// [`upsert_chat_thread`](Self::upsert_chat_thread); `not_found` without it).
    /// Calling it again with the same `file.key` answers the file stored the first time.
    async fn add_chat_attachment(
        &self,
        auth: &DeskAuth,
        ticket_id: &TicketId,
        chat_id: &ChatId,
        file: &ChatFile,
    ) -> Result<DeskAttachment>;

    /// The tickets holding a chat thread of `chat_id` (oldest first): lets a retried
    /// automatic conversion find the ticket an earlier attempt made. `contact_email`
    /// narrows the search where Desk cannot look chats up directly (HTTP).
    async fn tickets_with_chat(
        &self,
        auth: &DeskAuth,
        chat_id: &ChatId,
        contact_email: Option<&str>,
    ) -> Result<Vec<DeskTicket>>;
}
