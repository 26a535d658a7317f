//! [`DeskClient`] in this process: calls the Desk context's services directly. Every
//! call is authorised exactly as over HTTP: the link's service key, admin email and
//! portal name are verified first ([`Desk::verify_service_key`]), so a regenerated key
//! stops the link at once in both transports.

use super::{
    ChatFile, ChatLine, ContactDetails, DeskAttachment, DeskAuth, DeskClient, DeskContact,
    DeskDepartment, DeskThread, DeskTicket, NewTicket, ServiceKey,
};
use async_trait::async_trait;
use madoguchi_core::identity::User;
use madoguchi_core::ids::{ChatId, ContactId, DepartmentId, PortalName, TicketId};
use madoguchi_core::{Error, ErrorCode, Result};
use madoguchi_desk::{
    ChatMessageIn, Desk, Member, NewThread, SearchQuery, ThreadAuthor, ThreadKind, TicketFilter,
    TicketPatch, TicketStatus,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Clone)]
pub struct InProcessDesk {
    desk: Desk,
}

impl InProcessDesk {
    pub fn new(desk: Desk) -> Self {
        Self { desk }
    }

    async fn member(&self, auth: &DeskAuth) -> Result<Member> {
        let member = self
            .desk
            .verify_service_key(&auth.portal, &auth.admin_email, &auth.service_key)
            .await?;
        match &auth.acting {
            Some(op) => self.desk.acting_for(member, &op.email, &op.name).await,
            None => Ok(member),
        }
    }
}

/// Desk's view types serialise to the JSON of API.md, which ours read: one shape for
/// both transports.
fn convert<T: Serialize, U: DeserializeOwned>(value: T) -> Result<U> {
    serde_json::to_value(value)
        .and_then(serde_json::from_value)
        .map_err(|e| Error::internal(anyhow::anyhow!("converting a Desk value: {e}")))
}

fn convert_all<T: Serialize, U: DeserializeOwned>(values: Vec<T>) -> Result<Vec<U>> {
    values.into_iter().map(convert).collect()
}

fn parse_enum<T>(
    field: &'static str,
    value: Option<&str>,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>> {
    value
        .map(|v| {
            parse(v).ok_or_else(|| {
                Error::invalid(field, "error-invalid_request-field").with_arg("field", field)
            })
        })
        .transpose()
}

#[async_trait]
impl DeskClient for InProcessDesk {
    fn transport(&self) -> &'static str {
        "in_process"
    }

    async fn admin_portals(&self, user: &User) -> Result<Vec<PortalName>> {
        Ok(self
            .desk
            .admin_portals(&user.id)
            .await?
            .into_iter()
            .map(|p| PortalName::from(p.portal_name))
            .collect())
    }

    async fn ensure_service_key(&self, user: &User, portal: &PortalName) -> Result<ServiceKey> {
        let member = self.desk.member(portal, &user.id).await?;
        if !member.is_admin() {
            return Err(Error::new(ErrorCode::NotDeskAdmin));
        }
        let key = self.desk.service_key_get_or_create(&member).await?;
        Ok(ServiceKey {
            admin_email: key.admin_email,
            service_key: key.service_key,
        })
    }

    async fn verify(&self, auth: &DeskAuth) -> Result<()> {
        self.member(auth)
            .await
            .map(|_| ())
            .map_err(super::link_error)
    }

    async fn departments(&self, auth: &DeskAuth) -> Result<Vec<DeskDepartment>> {
        let member = self.member(auth).await?;
        convert_all(self.desk.departments(&member).await?)
    }

    async fn classifications(&self, auth: &DeskAuth) -> Result<Vec<String>> {
        let member = self.member(auth).await?;
        self.desk.classifications(&member).await
    }

    async fn find_contact_by_email(
        &self,
        auth: &DeskAuth,
        email: &str,
    ) -> Result<Option<DeskContact>> {
        let member = self.member(auth).await?;
        self.desk
            .contact_by_email(&member, email)
            .await?
            .map(convert)
            .transpose()
    }

    async fn upsert_contact(
        &self,
        auth: &DeskAuth,
        email: &str,
        last_name: Option<&str>,
        phone: Option<&str>,
    ) -> Result<DeskContact> {
        let member = self.member(auth).await?;
        convert(
            self.desk
                .upsert_contact_by_email(&member, email, None, last_name, phone)
                .await?,
        )
    }

    async fn contact_details(
        &self,
        _auth: &DeskAuth,
        contact: &DeskContact,
    ) -> Result<ContactDetails> {
        // Desk's contact view already carries the names (one query, I15).
        Ok(ContactDetails {
            account_name: contact.extra_str(&["accountName"]),
            sla_name: contact.extra_str(&["slaName"]),
            contract_name: contact.extra_str(&["contractName"]),
            contact_owner: contact.extra_str(&["contactOwner", "ownerName"]),
        })
    }

    async fn create_ticket(&self, auth: &DeskAuth, ticket: &NewTicket) -> Result<DeskTicket> {
        let member = self.member(auth).await?;
        let new = madoguchi_desk::NewTicket {
            subject: ticket.subject.clone(),
            description: ticket.description.clone(),
            department_id: ticket.department_id.as_ref().map(DepartmentId::to_string),
            contact_id: ticket.contact_id.as_ref().map(ContactId::to_string),
            status: parse_enum(
                "status",
                ticket.status.as_deref(),
                madoguchi_desk::TicketStatus::parse,
            )?,
            priority: parse_enum(
                "priority",
                ticket.priority.as_deref(),
                madoguchi_desk::Priority::parse,
            )?,
            classification: ticket.classification.clone(),
            channel: parse_enum(
                "channel",
                ticket.channel.as_deref(),
                madoguchi_desk::Channel::parse,
            )?,
            assignee_id: None,
        };
        match ticket.idempotency_key.as_deref() {
            Some(key) => convert(self.desk.create_ticket_once(&member, &new, key).await?.0),
            None => convert(self.desk.create_ticket(&member, &new).await?),
        }
    }

    async fn ticket(&self, auth: &DeskAuth, ticket_id: &TicketId) -> Result<DeskTicket> {
        let member = self.member(auth).await?;
        convert(self.desk.ticket_with_threads(&member, ticket_id).await?)
    }

    async fn contact_tickets(
        &self,
        auth: &DeskAuth,
        contact_id: &ContactId,
        limit: u32,
        departments: Option<&[DepartmentId]>,
    ) -> Result<Vec<DeskTicket>> {
        let member = self.member(auth).await?;
        let filter = TicketFilter {
            contact_id: Some(contact_id.to_string()),
            limit: Some(i64::from(limit)),
            department_ids: departments.map(department_strings),
            ..TicketFilter::default()
        };
        convert_all(self.desk.tickets(&member, &filter).await?)
    }

    async fn search_tickets(
        &self,
        auth: &DeskAuth,
        q: &str,
        departments: Option<&[DepartmentId]>,
    ) -> Result<Vec<DeskTicket>> {
        let member = self.member(auth).await?;
        let query = SearchQuery {
            q: q.to_owned(),
            limit: None,
            offset: None,
            department_ids: departments.map(department_strings),
        };
        convert_all(self.desk.search_tickets(&member, &query).await?)
    }

    async fn set_ticket_status(
        &self,
        auth: &DeskAuth,
        ticket_id: &TicketId,
        status: &str,
    ) -> Result<DeskTicket> {
        let member = self.member(auth).await?;
        let patch = TicketPatch {
            status: Some(
                TicketStatus::parse(status)
                    .ok_or_else(|| Error::invalid("status", "integ-error-status"))?,
            ),
            ..TicketPatch::default()
        };
        convert(self.desk.patch_ticket(&member, ticket_id, &patch).await?)
    }

    async fn reply(
        &self,
        auth: &DeskAuth,
        ticket_id: &TicketId,
        content: &str,
        author: Option<&str>,
    ) -> Result<DeskThread> {
        let member = self.member(auth).await?;
        let new = NewThread {
            kind: ThreadKind::Reply,
            content: content.to_owned(),
        };
        let author = author.map(|name| ThreadAuthor {
            id: None,
            name: name.to_owned(),
        });
        convert(
            self.desk
                .add_thread_as(&member, ticket_id, &new, author)
                .await?,
        )
    }

    async fn acting_is_member(&self, auth: &DeskAuth) -> Result<bool> {
        if auth.acting.is_none() {
            return Ok(false);
        }
        Ok(self.member(auth).await?.acting_member_id().is_some())
    }

    async fn upsert_chat_thread(
        &self,
        auth: &DeskAuth,
        ticket_id: &TicketId,
        chat_id: &ChatId,
        lines: &[ChatLine],
    ) -> Result<DeskThread> {
        let member = self.member(auth).await?;
        let messages: Vec<ChatMessageIn> = convert_all(lines.to_vec())?;
        convert(
            self.desk
                .upsert_chat_thread(&member, ticket_id, chat_id, &messages)
                .await?,
        )
    }

    async fn add_chat_attachment(
        &self,
        auth: &DeskAuth,
        ticket_id: &TicketId,
        chat_id: &ChatId,
        file: &ChatFile,
    ) -> Result<DeskAttachment> {
        let member = self.member(auth).await?;
        let file = madoguchi_desk::ChatAttachmentIn {
            key: file.key.clone(),
            seq: file.seq,
            name: file.name.clone(),
            content_type: file.content_type.clone(),
            data: file.data.clone(),
        };
        convert(
            self.desk
                .add_chat_attachment(&member, ticket_id, chat_id, &file)
                .await?,
        )
    }

    async fn tickets_with_chat(
        &self,
        auth: &DeskAuth,
        chat_id: &ChatId,
        _contact_email: Option<&str>,
    ) -> Result<Vec<DeskTicket>> {
        let member = self.member(auth).await?;
        let mut out = Vec::new();
        for id in self.desk.tickets_for_chat(&member, chat_id).await? {
            out.push(convert(self.desk.ticket(&member, &id).await?)?);
        }
        Ok(out)
    }
}

/// Desk's services take department ids as the strings they store.
fn department_strings(ids: &[DepartmentId]) -> Vec<String> {
    ids.iter().map(DepartmentId::to_string).collect()
}
