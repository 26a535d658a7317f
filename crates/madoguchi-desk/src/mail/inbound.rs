//! The import of a decoded mail (E2, E3, E7): one transaction with the mailbox's UID
//! cursor, so a mail is imported exactly once.

use super::{
    clip, domain_of, mailbox_member, normalize_message_id, store, subject_token, ImportOutcome,
    IncomingMail, MailboxConfig, OutgoingMail,
};
use crate::tickets::{Channel, NewTicket};
use crate::Desk;
use madoguchi_core::ids::new_id;
use madoguchi_core::Result;

impl Desk {
    /// Imports the mail with `uid` of a mailbox in one transaction with the mailbox's
    /// cursor (E2, E3, E7): a UID at or below the cursor, or a Message-ID the portal
    /// knows, changes nothing; a delivery report marks our reply failed; a reply joins
    /// its ticket (In-Reply-To/References, else a `[#N]` subject token); an automatic
    /// mail with no ticket is only recorded; anything else is a new ticket, with an
    /// acknowledgement queued when the mailbox asks for one.
    pub async fn import_mail(
        &self,
        cfg: &MailboxConfig,
        uid: i64,
        mail: &IncomingMail,
    ) -> Result<ImportOutcome> {
        let now = self.clock.now_ms();
        let portal_id = &cfg.portal_id;
        let mut tx = self.db.begin_write().await?;
        if store::advance_cursor(tx.conn(), &cfg.id, uid).await? == 0 {
            return Ok(ImportOutcome::Duplicate);
        }
        let message_id = normalize_message_id(&mail.message_id);
        let known = store::ticket_of_message_id(tx.conn(), portal_id, &message_id).await?;
        if known.is_some() {
            tx.commit().await?;
            return Ok(ImportOutcome::Duplicate);
        }
        // A delivery report of one of our mails: that reply failed.
        if !mail.bounce_of.is_empty() {
            let mut failed = Vec::new();
            for id in &mail.bounce_of {
                let sent = store::thread_of_sent_message_id(
                    tx.conn(),
                    portal_id,
                    &normalize_message_id(id),
                )
                .await?;
                if let Some(thread_id) = sent {
                    let reason = mail
                        .bounce_reason
                        .clone()
                        .unwrap_or_else(|| "bounced".into());
                    store::mark_bounced(tx.conn(), &thread_id, &clip(&reason, 1000), now).await?;
                    failed.push(thread_id);
                }
            }
            if !failed.is_empty() {
                tx.commit().await?;
                return Ok(ImportOutcome::Bounce { thread_ids: failed });
            }
        }
        // Threading: the ids it answers, newest reference first, else the subject token.
        let mut ticket_id: Option<String> = None;
        let mut candidates: Vec<String> = mail.in_reply_to.clone();
        candidates.extend(mail.references.iter().rev().cloned());
        for c in &candidates {
            let found =
                store::ticket_of_message_id(tx.conn(), portal_id, &normalize_message_id(c)).await?;
            if found.is_some() {
                ticket_id = found;
                break;
            }
        }
        if ticket_id.is_none() {
            if let Some(number) = subject_token(&mail.subject) {
                ticket_id = store::ticket_by_number(tx.conn(), portal_id, number).await?;
            }
        }
        let subject = {
            let s = clip(mail.subject.trim(), 255);
            if s.trim().is_empty() {
                "(件名なし / no subject)".to_owned()
            } else {
                s
            }
        };
        let text = clip(mail.text.trim(), 100_000);
        let from = match &mail.from_name {
            Some(n) if !n.trim().is_empty() => format!("{} <{}>", n.trim(), mail.from_address),
            _ => mail.from_address.clone(),
        };
        let (ticket_id, outcome) = match ticket_id {
            Some(t) => (t.clone(), ImportOutcome::Thread { ticket_id: t }),
            None if mail.automatic => {
                tx.commit().await?;
                return Ok(ImportOutcome::Ignored);
            }
            None => {
                let member = mailbox_member(cfg);
                let contact_id = find_or_create_contact(
                    tx.conn(),
                    portal_id,
                    &mail.from_address,
                    mail.from_name.as_deref(),
                    now,
                )
                .await?;
                let new = NewTicket {
                    subject: subject.clone(),
                    description: Some(text.clone()),
                    department_id: cfg.department_id.clone(),
                    contact_id,
                    channel: Some(Channel::Email),
                    ..NewTicket::default()
                };
                let prepared = self
                    .prepare_ticket(tx.conn(), &member, &new, &mut Default::default())
                    .await?;
                let number =
                    crate::tickets::store::reserve_numbers(tx.conn(), portal_id, 1).await?;
                let id = crate::tickets::store::insert_ticket(
                    tx.conn(),
                    &member,
                    &prepared,
                    number,
                    now,
                )
                .await?;
                let acknowledged = cfg.acknowledge;
                (
                    id.clone(),
                    ImportOutcome::NewTicket {
                        ticket_id: id,
                        ticket_number: number,
                        acknowledged,
                    },
                )
            }
        };
        let thread_id = new_id();
        let quoted = mail.quoted.as_deref().map(|q| clip(q, 100_000));
        let thread = store::InboundThread {
            id: &thread_id,
            portal_id,
            ticket_id: &ticket_id,
            content: &text,
            author_name: &clip(mail.from_name.as_deref().unwrap_or(&mail.from_address), 200),
            mail_from: &clip(&from, 500),
            mail_to: &clip(&mail.to, 500),
            subject: &subject,
            message_id: &message_id,
            mailbox_id: &cfg.id,
            quoted: quoted.as_deref(),
        };
        store::insert_inbound_thread(tx.conn(), &thread, now).await?;
        store::record_message_id(
            tx.conn(),
            portal_id,
            &message_id,
            &ticket_id,
            &thread_id,
            store::Direction::In,
            now,
        )
        .await?;
        for a in &mail.attachments {
            store::insert_attachment(
                tx.conn(),
                portal_id,
                &ticket_id,
                &thread_id,
                &clip(&a.name, 255),
                &clip(&a.content_type, 255),
                &a.data,
                now,
            )
            .await?;
        }
        crate::threads::store::touch_ticket(tx.conn(), portal_id, &ticket_id, now).await?;
        if let ImportOutcome::NewTicket {
            ticket_number,
            acknowledged: true,
            ..
        } = &outcome
        {
            let lang = mail.lang;
            let ack_id = format!("{}@{}", new_id(), domain_of(&cfg.address));
            let args = [("number", ticket_number.to_string())];
            let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let body = madoguchi_core::i18n::t_args(lang, "desk-mail-ack-body", &args);
            let ack = OutgoingMail {
                from_address: cfg.address.clone(),
                from_name: cfg.display_name.clone(),
                to_address: mail.from_address.clone(),
                to_name: mail.from_name.clone(),
                subject: format!("[#{ticket_number}] {subject}"),
                text: body,
                message_id: ack_id.clone(),
                in_reply_to: Some(message_id.clone()),
                references: vec![message_id.clone()],
                kind: "ack".into(),
            };
            store::record_ack_message_id(tx.conn(), portal_id, &ack_id, &ticket_id, now).await?;
            store::enqueue(
                tx.conn(),
                portal_id,
                &cfg.id,
                &format!("ack:{ticket_id}"),
                None,
                &ack,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        if matches!(
            outcome,
            ImportOutcome::NewTicket {
                acknowledged: true,
                ..
            }
        ) {
            self.mail_notify.notify_one();
        }
        Ok(outcome)
    }
}

/// The contact with this email, or a new one named after the sender (the local part
/// when the mail gives no name). Answers its id; `None` when the address is unusable.
async fn find_or_create_contact(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    address: &str,
    name: Option<&str>,
    now: i64,
) -> Result<Option<String>> {
    let Ok(email) = madoguchi_core::identity::Email::parse("email", address) else {
        return Ok(None);
    };
    if let Some(id) = store::contact_by_email_lower(&mut *conn, portal_id, &email.lower()).await? {
        return Ok(Some(id));
    }
    let last = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| clip(n, 100))
        .unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("").to_owned());
    let id = new_id();
    let search_key = crate::contacts::search_key(None, &last, Some(email.as_str()), None);
    store::insert_sender_contact(
        &mut *conn,
        &id,
        portal_id,
        &last,
        email.as_str(),
        &email.lower(),
        &search_key,
        now,
    )
    .await?;
    Ok(Some(id))
}
