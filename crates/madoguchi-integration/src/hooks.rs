//! The integration seen from Chat: the [`DeskMappingHook`] Chat calls for a
//! department's `deskMapping` (I9, I13), a chat's links (`deskTicketIds`, `autoTicket`:
//! the integration's tables are their only home), after a visitor edit (C6, I18), and
//! after each lifecycle transition (a wake-up for the outbox worker, I7).

use crate::model::DeptMode;
use crate::store::{self, MappingRow};
use crate::Integration;
use async_trait::async_trait;
use madoguchi_chat::{ChatEvent, ChatLinks, DeskMapping, DeskMappingHook, Visitor};
use madoguchi_core::{i18n, ErrorCode, Lang, Result};

pub struct ChatHooks {
    integ: Integration,
}

impl ChatHooks {
    pub fn new(integ: Integration) -> Self {
        Self { integ }
    }
}

fn mapping_view(m: &MappingRow, notice: Option<String>) -> DeskMapping {
    DeskMapping {
        mode: m.mode.as_str().to_owned(),
        desk_department_id: m.desk_department_id.clone(),
        auto_associated: m.auto_associated,
        notice,
    }
}

impl Integration {
    /// I13: a new Chat department is mapped to the same-named Desk department of the
    /// linked portal, with the notice; otherwise it is `choose`.
    pub async fn department_created(
        &self,
        chat_portal_id: &str,
        department_id: &str,
        name: &str,
        lang: Lang,
    ) -> Result<DeskMapping> {
        let row = store::portal(&self.db, chat_portal_id).await?;
        let choose = MappingRow::choose(department_id);
        let Some(auth) = row.auth() else {
            // Never linked: no integration (once linked, unmapped departments are `choose`).
            return Ok(DeskMapping::none());
        };
        let desk_departments = match self.desk.departments(&auth).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "desk departments unavailable; new department is choose");
                return Ok(mapping_view(&choose, None));
            }
        };
        let wanted = name.trim().to_lowercase();
        let Some(desk) = desk_departments
            .iter()
            .find(|d| d.name.trim().to_lowercase() == wanted)
        else {
            return Ok(mapping_view(&choose, None));
        };
        let m = MappingRow {
            chat_department_id: department_id.to_owned(),
            mode: DeptMode::Mapped,
            desk_department_id: Some(desk.id.clone()),
            auto_associated: true,
        };
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        store::ensure_portal(tx.conn(), chat_portal_id, now).await?;
        store::save_mapping(tx.conn(), chat_portal_id, &m, now).await?;
        tx.commit().await?;
        Ok(mapping_view(
            &m,
            Some(i18n::t(lang, "integ-notice-auto-associated")),
        ))
    }

    /// A department's current `deskMapping`: "none" while the portal was never linked.
    pub async fn department_mapping(
        &self,
        chat_portal_id: &str,
        department_id: &str,
    ) -> Result<DeskMapping> {
        if !store::portal(&self.db, chat_portal_id).await?.is_linked() {
            return Ok(DeskMapping::none());
        }
        let m = self.mode_of(chat_portal_id, Some(department_id)).await?;
        Ok(mapping_view(&m, None))
    }

    /// C6, I18: with the integration enabled, the Desk contact with the visitor's
    /// email is created or updated before the visitor edit answers. When Desk cannot
    /// be reached the sync waits in the outbox (it is retried until it succeeds).
    pub async fn visitor_updated(&self, chat_portal_id: &str, visitor: &Visitor) -> Result<()> {
        let Some(email) = visitor.email.as_deref().filter(|e| !e.trim().is_empty()) else {
            return Ok(());
        };
        let row = store::portal(&self.db, chat_portal_id).await?;
        let Some(auth) = row.auth().filter(|_| row.enabled) else {
            return Ok(());
        };
        if !self.chat.integration_available_for(chat_portal_id).await? {
            return Ok(());
        }
        match self.sync_contact(&auth, email, visitor).await {
            Ok(_) => Ok(()),
            Err(e) if e.code == ErrorCode::DeskUnavailable || e.code == ErrorCode::Internal => {
                tracing::warn!(error = %e, "desk unreachable: the contact sync waits in the outbox");
                let task = crate::outbox::Task::Contact {
                    visitor_id: visitor.id.clone(),
                };
                let now = self.clock.now_ms();
                let mut tx = self.db.begin_write().await?;
                crate::outbox::enqueue_or_rearm(tx.conn(), chat_portal_id, &task, now).await?;
                tx.commit().await?;
                self.wake.notify_one();
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// The words of a name, in any order ("鈴木 一郎" is "一郎 鈴木").
fn name_words(name: &str) -> Vec<String> {
    let mut words: Vec<String> = name.split_whitespace().map(str::to_lowercase).collect();
    words.sort();
    words
}

impl Integration {
    /// Creates or updates the visitor's Desk contact (C6, I18). An existing contact
    /// keeps a name that already says the same (Desk stores first and last names), so
    /// saving a visitor never garbles a contact an agent wrote.
    pub(crate) async fn sync_contact(
        &self,
        auth: &crate::desk_client::DeskAuth,
        email: &str,
        visitor: &Visitor,
    ) -> Result<crate::desk_client::DeskContact> {
        let name = visitor
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        let phone = visitor
            .phone
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty());
        let Some(existing) = self.desk.find_contact_by_email(auth, email).await? else {
            return self.desk.upsert_contact(auth, email, name, phone).await;
        };
        let name = name.filter(|n| {
            let words = name_words(n);
            words != name_words(&existing.display_name())
                && words != name_words(&existing.last_name)
        });
        let phone = phone.filter(|p| existing.phone.as_deref() != Some(*p));
        if name.is_none() && phone.is_none() {
            return Ok(existing);
        }
        self.desk.upsert_contact(auth, email, name, phone).await
    }
}

#[async_trait]
impl DeskMappingHook for ChatHooks {
    async fn on_department_created(
        &self,
        portal_id: &str,
        department_id: &str,
        name: &str,
        lang: Lang,
    ) -> Result<DeskMapping> {
        self.integ
            .department_created(portal_id, department_id, name, lang)
            .await
    }

    async fn mapping(
        &self,
        portal_id: &str,
        department_id: &str,
        _lang: Lang,
    ) -> Result<DeskMapping> {
        self.integ
            .department_mapping(portal_id, department_id)
            .await
    }

    async fn on_visitor_updated(
        &self,
        portal_id: &str,
        visitor: &Visitor,
        _lang: Lang,
    ) -> Result<()> {
        self.integ.visitor_updated(portal_id, visitor).await
    }

    async fn chat_links(
        &self,
        chat_ids: &[madoguchi_core::ids::ChatId],
    ) -> Result<std::collections::HashMap<madoguchi_core::ids::ChatId, ChatLinks>> {
        crate::store::chat_links(&self.integ.db, chat_ids).await
    }

    fn on_chat_event(&self, _event: &ChatEvent) {
        self.integ.wake.notify_one();
    }

    /// V5: the rating's transcript line follows the chat to its tickets.
    fn on_chat_rated(&self, chat: &madoguchi_chat::ChatView) {
        let integ = self.integ.clone();
        let chat_id = chat.id.clone();
        tokio::spawn(async move {
            match store::chat_tickets(&integ.db, &chat_id).await {
                Ok(links) => {
                    for link in links {
                        if let Err(e) = integ.rearm_sync(&link).await {
                            tracing::warn!(error = %e, "queueing the rating for the ticket failed");
                        }
                    }
                    integ.wake.notify_one();
                }
                Err(e) => tracing::warn!(error = %e, "reading the chat's tickets failed"),
            }
        });
    }
}
