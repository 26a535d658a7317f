//! [`DeskClient`] over the Desk HTTP API of API.md (`serve --desk-url`): the Chat
//! process and the Desk process share nothing but HTTP and the service key.

use super::{
    ChatFile, ChatLine, ContactDetails, DeskAttachment, DeskAuth, DeskClient, DeskContact,
    DeskDepartment, DeskThread, DeskTicket, NewTicket, ServiceKey,
};
use async_trait::async_trait;
use madoguchi_core::identity::User;
use madoguchi_core::ids::{ChatId, ContactId, DepartmentId, PortalName, TicketId};
use madoguchi_core::{Error, ErrorCode, Result};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Clone)]
pub struct HttpDesk {
    base: Url,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct List<T> {
    data: Vec<T>,
}

impl HttpDesk {
    /// `base_url` is the Desk server's root (`http://desk.internal:8080`).
    pub fn new(base_url: &str) -> anyhow::Result<Self> {
        let mut base = Url::parse(base_url.trim())
            .map_err(|e| anyhow::anyhow!("--desk-url {base_url:?} is not a URL: {e}"))?;
        if base.cannot_be_a_base() {
            anyhow::bail!("--desk-url {base_url:?} cannot be a base URL");
        }
        // Joined paths below are absolute under the base path.
        let path = base.path().trim_end_matches('/').to_owned();
        base.set_path(&path);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .build()?;
        Ok(Self { base, http })
    }

    /// `…/desk/api/v1/portals/{portal}/{segments…}`, each segment percent-encoded.
    fn url(&self, portal: &str, segments: &[&str]) -> Result<Url> {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| Error::internal(anyhow::anyhow!("desk URL cannot be a base")))?;
            path.pop_if_empty()
                .extend(["desk", "api", "v1", "portals", portal])
                .extend(segments);
        }
        Ok(url)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        auth: &DeskAuth,
        method: Method,
        url: Url,
        body: Option<Value>,
    ) -> Result<T> {
        self.call_with(auth, method, url, body, &[]).await
    }

    /// [`Self::call`] with extra request headers.
    async fn call_with<T: DeserializeOwned>(
        &self,
        auth: &DeskAuth,
        method: Method,
        url: Url,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Result<T> {
        let mut req = self.request(auth, method, url);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Self::answer(req).await
    }

    /// A request with the link's credentials (and the acting operator, O6).
    fn request(&self, auth: &DeskAuth, method: Method, url: Url) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, url)
            .header("X-Service-Key", &auth.service_key)
            .header("X-Service-Admin", &auth.admin_email)
            .header("Accept-Language", "en");
        if let Some(op) = &auth.acting {
            // O6: who the change is for; the name as UTF-8, percent-encoded.
            let name: String = form_urlencoded::byte_serialize(op.name.as_bytes()).collect();
            req = req
                .header("X-Acting-Operator-Email", &op.email)
                .header("X-Acting-Operator-Name", name);
        }
        req
    }

    /// Sends `req`; a success's JSON, or Desk's error.
    async fn answer<T: DeserializeOwned>(req: reqwest::RequestBuilder) -> Result<T> {
        let res = req.send().await.map_err(unavailable)?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(unavailable)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                Error::internal(anyhow::anyhow!("unexpected Desk answer ({status}): {e}"))
            });
        }
        Err(error_from(status, &bytes))
    }

    async fn get<T: DeserializeOwned>(&self, auth: &DeskAuth, url: Url) -> Result<T> {
        self.call(auth, Method::GET, url, None).await
    }
}

fn unavailable(e: reqwest::Error) -> Error {
    let mut err = Error::new(ErrorCode::DeskUnavailable);
    err.source = Some(anyhow::anyhow!("calling Desk: {e}"));
    err
}

/// Desk's error JSON back into an [`Error`] with the same code and field; a 5xx or an
/// unreadable answer means Desk is not available right now.
fn error_from(status: StatusCode, body: &[u8]) -> Error {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v["error"]["code"].as_str())
        .and_then(ErrorCode::parse);
    match code {
        Some(code) if status.is_client_error() => {
            let mut e = Error::new(code);
            if let Some(field) = parsed.as_ref().and_then(|v| v["error"]["field"].as_str()) {
                e = e.with_field(field);
            }
            e
        }
        _ => {
            let mut e = Error::new(ErrorCode::DeskUnavailable);
            e.source = Some(anyhow::anyhow!("Desk answered {status}"));
            e
        }
    }
}

/// Maps the errors of a service-key call to the link errors of API.md (I3, I5).
pub(crate) fn link_error(e: Error) -> Error {
    match e.code {
        ErrorCode::NotFound => {
            Error::new(ErrorCode::DeskPortalNotFound).with_field("deskPortalName")
        }
        ErrorCode::InvalidServiceKey => {
            Error::new(ErrorCode::InvalidServiceKey).with_field("serviceKey")
        }
        ErrorCode::NotDeskAdmin | ErrorCode::NotDeskAdminEmail | ErrorCode::Forbidden => {
            Error::new(ErrorCode::NotDeskAdminEmail).with_field("adminEmail")
        }
        _ => e,
    }
}

/// The most a filtered list asks Desk for (Desk's own maximum page).
const MAX_FETCH: u32 = 200;

fn in_departments(
    tickets: Vec<DeskTicket>,
    departments: Option<&[DepartmentId]>,
    limit: u32,
) -> Vec<DeskTicket> {
    tickets
        .into_iter()
        .filter(|t| crate::model::in_view_scope(t.department_id.as_ref(), departments))
        .take(limit as usize)
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Named {
    id: String,
    #[serde(default, alias = "accountName", alias = "contractName")]
    name: String,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    sla_id: Option<String>,
    #[serde(default)]
    created_time: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
}

#[async_trait]
impl DeskClient for HttpDesk {
    fn transport(&self) -> &'static str {
        "http"
    }

    async fn admin_portals(&self, _user: &User) -> Result<Vec<PortalName>> {
        // The Chat process has no Desk credentials for the user: enabling without a
        // body answers `not_desk_admin` with the three fields (I3) in this mode.
        Ok(Vec::new())
    }

    async fn ensure_service_key(&self, _user: &User, _portal: &PortalName) -> Result<ServiceKey> {
        Err(Error::new(ErrorCode::NotDeskAdmin))
    }

    async fn verify(&self, auth: &DeskAuth) -> Result<()> {
        let url = self.url(&auth.portal, &["departments"])?;
        self.get::<Value>(auth, url).await.map_err(link_error)?;
        Ok(())
    }

    async fn departments(&self, auth: &DeskAuth) -> Result<Vec<DeskDepartment>> {
        let url = self.url(&auth.portal, &["departments"])?;
        Ok(self.get::<List<DeskDepartment>>(auth, url).await?.data)
    }

    async fn classifications(&self, auth: &DeskAuth) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Classifications {
            classifications: Vec<String>,
        }
        let url = self.url(&auth.portal, &["classifications"])?;
        Ok(self
            .get::<Classifications>(auth, url)
            .await?
            .classifications)
    }

    async fn find_contact_by_email(
        &self,
        auth: &DeskAuth,
        email: &str,
    ) -> Result<Option<DeskContact>> {
        let mut url = self.url(&auth.portal, &["contacts"])?;
        url.query_pairs_mut().append_pair("email", email);
        let list = self.get::<List<DeskContact>>(auth, url).await?.data;
        let wanted = email.trim().to_lowercase();
        Ok(list.into_iter().find(|c| {
            c.email
                .as_deref()
                .is_some_and(|e| e.trim().to_lowercase() == wanted)
        }))
    }

    async fn upsert_contact(
        &self,
        auth: &DeskAuth,
        email: &str,
        last_name: Option<&str>,
        phone: Option<&str>,
    ) -> Result<DeskContact> {
        let non_empty = |s: Option<&str>| {
            s.map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let (last_name, phone) = (non_empty(last_name), non_empty(phone));
        for _ in 0..2 {
            if let Some(existing) = self.find_contact_by_email(auth, email).await? {
                let mut patch = serde_json::Map::new();
                if let Some(l) = &last_name {
                    patch.insert("lastName".into(), json!(l));
                }
                if let Some(p) = &phone {
                    patch.insert("phone".into(), json!(p));
                }
                if patch.is_empty() {
                    return Ok(existing);
                }
                let url = self.url(&auth.portal, &["contacts", &existing.id])?;
                return self
                    .call(auth, Method::PATCH, url, Some(Value::Object(patch)))
                    .await;
            }
            let local = email.trim().split('@').next().unwrap_or("").to_owned();
            let body = json!({
                "lastName": last_name.clone().unwrap_or(local),
                "email": email.trim(),
                "phone": phone,
            });
            let url = self.url(&auth.portal, &["contacts"])?;
            match self.call(auth, Method::POST, url, Some(body)).await {
                // Someone created it meanwhile: update that one.
                Err(e) if e.code == ErrorCode::EmailTaken => continue,
                other => return other,
            }
        }
        Err(Error::new(ErrorCode::EmailTaken).with_field("email"))
    }

    async fn contact_details(
        &self,
        auth: &DeskAuth,
        contact: &DeskContact,
    ) -> Result<ContactDetails> {
        // Desk may already show the names on the contact; otherwise look them up.
        let mut details = ContactDetails {
            account_name: contact.extra_str(&["accountName"]),
            sla_name: contact.extra_str(&["slaName"]),
            contract_name: contact.extra_str(&["contractName"]),
            contact_owner: contact.extra_str(&["contactOwner", "ownerName"]),
        };
        let Some(account_id) = contact.account_id.as_deref() else {
            return Ok(details);
        };
        if details.account_name.is_none() {
            let url = self.url(&auth.portal, &["accounts"])?;
            let accounts = self.get::<List<Named>>(auth, url).await?.data;
            details.account_name = accounts
                .into_iter()
                .find(|a| a.id == account_id)
                .map(|a| a.name);
        }
        if details.contract_name.is_none() || details.sla_name.is_none() {
            let url = self.url(&auth.portal, &["contracts"])?;
            let contracts = self.get::<List<Named>>(auth, url).await?.data;
            // The active contract is the account's latest one (D2).
            let active = contracts
                .into_iter()
                .filter(|c| c.account_id.as_deref() == Some(account_id))
                .max_by(|a, b| {
                    let ta = a.created_time.as_ref().or(a.created_at.as_ref());
                    let tb = b.created_time.as_ref().or(b.created_at.as_ref());
                    ta.cmp(&tb).then_with(|| a.id.cmp(&b.id))
                });
            if let Some(contract) = active {
                if details.sla_name.is_none() {
                    if let Some(sla_id) = contract.sla_id.as_deref() {
                        let url = self.url(&auth.portal, &["slas"])?;
                        let slas = self.get::<List<Named>>(auth, url).await?.data;
                        details.sla_name =
                            slas.into_iter().find(|s| s.id == sla_id).map(|s| s.name);
                    }
                }
                details.contract_name.get_or_insert(contract.name);
            }
        }
        Ok(details)
    }

    async fn create_ticket(&self, auth: &DeskAuth, ticket: &NewTicket) -> Result<DeskTicket> {
        let url = self.url(&auth.portal, &["tickets"])?;
        let key = ticket.idempotency_key.as_deref();
        let headers: Vec<(&str, &str)> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
        self.call_with(auth, Method::POST, url, Some(json!(ticket)), &headers)
            .await
    }

    async fn ticket(&self, auth: &DeskAuth, ticket_id: &TicketId) -> Result<DeskTicket> {
        let url = self.url(&auth.portal, &["tickets", ticket_id])?;
        let mut ticket: DeskTicket = self.get(auth, url).await?;
        let url = self.url(&auth.portal, &["tickets", ticket_id, "threads"])?;
        let threads = self.get::<List<DeskThread>>(auth, url).await?.data;
        ticket.threads = Some(threads);
        Ok(ticket)
    }

    async fn contact_tickets(
        &self,
        auth: &DeskAuth,
        contact_id: &ContactId,
        limit: u32,
        departments: Option<&[DepartmentId]>,
    ) -> Result<Vec<DeskTicket>> {
        // The HTTP API filters by one department at a time: over-fetch, then filter.
        let fetch = if departments.is_some() {
            MAX_FETCH
        } else {
            limit
        };
        let mut url = self.url(&auth.portal, &["tickets"])?;
        url.query_pairs_mut()
            .append_pair("contactId", contact_id)
            .append_pair("limit", &fetch.to_string());
        let tickets = self.get::<List<DeskTicket>>(auth, url).await?.data;
        Ok(in_departments(tickets, departments, limit))
    }

    async fn search_tickets(
        &self,
        auth: &DeskAuth,
        q: &str,
        departments: Option<&[DepartmentId]>,
    ) -> Result<Vec<DeskTicket>> {
        let mut url = self.url(&auth.portal, &["tickets", "search"])?;
        url.query_pairs_mut().append_pair("q", q);
        if departments.is_some() {
            url.query_pairs_mut()
                .append_pair("limit", &MAX_FETCH.to_string());
        }
        let tickets = self.get::<List<DeskTicket>>(auth, url).await?.data;
        Ok(in_departments(tickets, departments, MAX_FETCH))
    }

    async fn set_ticket_status(
        &self,
        auth: &DeskAuth,
        ticket_id: &TicketId,
        status: &str,
    ) -> Result<DeskTicket> {
        let url = self.url(&auth.portal, &["tickets", ticket_id])?;
        self.call(auth, Method::PATCH, url, Some(json!({ "status": status })))
            .await
    }

    async fn reply(
        &self,
        auth: &DeskAuth,
        ticket_id: &TicketId,
        content: &str,
        author: Option<&str>,
    ) -> Result<DeskThread> {
        let url = self.url(&auth.portal, &["tickets", ticket_id, "threads"])?;
        self.call(
            auth,
            Method::POST,
            url,
            Some(json!({ "kind": "reply", "content": content, "authorName": author })),
        )
        .await
    }

    async fn acting_is_member(&self, auth: &DeskAuth) -> Result<bool> {
        #[derive(Deserialize)]
        struct Member {
            email: String,
        }
        let Some(op) = &auth.acting else {
            return Ok(false);
        };
        let url = self.url(&auth.portal, &["members"])?;
        let wanted = op.email.trim().to_lowercase();
        Ok(self
            .get::<List<Member>>(auth, url)
            .await?
            .data
            .iter()
            .any(|m| m.email.trim().to_lowercase() == wanted))
    }

    async fn upsert_chat_thread(
        &self,
        auth: &DeskAuth,
        ticket_id: &TicketId,
        chat_id: &ChatId,
        lines: &[ChatLine],
    ) -> Result<DeskThread> {
        let url = self.url(&auth.portal, &["tickets", ticket_id, "chat-threads"])?;
        self.call(
            auth,
            Method::POST,
            url,
            Some(json!({ "chatId": chat_id, "messages": lines })),
        )
        .await
    }

    async fn add_chat_attachment(
        &self,
        auth: &DeskAuth,
        ticket_id: &TicketId,
        chat_id: &ChatId,
        file: &ChatFile,
    ) -> Result<DeskAttachment> {
        let mut url = self.url(
            &auth.portal,
            &[
                "tickets",
                ticket_id,
                "chat-threads",
                chat_id,
                "attachments",
                &file.key,
            ],
        )?;
        url.query_pairs_mut()
            .append_pair("seq", &file.seq.to_string())
            .append_pair("name", &file.name);
        let req = self
            .request(auth, Method::PUT, url)
            .header(reqwest::header::CONTENT_TYPE, &file.content_type)
            // A large file on a slow link takes longer than a JSON call.
            .timeout(Duration::from_secs(300))
            .body(file.data.clone());
        Self::answer(req).await
    }

    async fn tickets_with_chat(
        &self,
        auth: &DeskAuth,
        chat_id: &ChatId,
        contact_email: Option<&str>,
    ) -> Result<Vec<DeskTicket>> {
        // The HTTP API has no lookup by chat: the chat's ticket, if any, is one of the
        // visitor's recent Chat-channel tickets; their threads tell.
        let Some(email) = contact_email else {
            return Ok(Vec::new());
        };
        let Some(contact) = self.find_contact_by_email(auth, email).await? else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for ticket in self.contact_tickets(auth, &contact.id, 50, None).await? {
            if ticket.channel.as_deref().is_some_and(|c| c != "Chat") {
                continue;
            }
            let url = self.url(&auth.portal, &["tickets", &ticket.id, "threads"])?;
            let threads = self.get::<List<DeskThread>>(auth, url).await?.data;
            if threads
                .iter()
                .any(|t| t.chat_id.as_deref() == Some(chat_id.as_str()))
            {
                found.push(ticket);
            }
        }
        found.reverse();
        Ok(found)
    }
}
