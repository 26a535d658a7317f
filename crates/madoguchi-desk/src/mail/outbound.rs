//! The outbox (E4–E6): the mail of a reply thread, its claims by the sender, the
//! outcome of each attempt, and a thread's attachments.

use super::{
    backoff_ms, clip, domain_of, store, subject_token, AttachmentFile, MailboxConfig, OutboxJob,
    OutgoingMail, Unmailable, CLAIM_MS, MAX_ATTEMPTS,
};
use crate::access::Member;
use crate::Desk;
use madoguchi_core::{Error, Result};

impl Desk {
    /// Why a reply on this ticket would not be mailed, if it would not.
    pub async fn reply_unmailable(
        &self,
        member: &Member,
        ticket_id: &str,
    ) -> Result<Option<Unmailable>> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(
            match reply_route(&mut conn, &member.portal_id, ticket_id).await? {
                Route::Mail { .. } => None,
                Route::NoEmail => Some(Unmailable::NoContactEmail),
                Route::NoMailbox => Some(Unmailable::NoMailbox),
            },
        )
    }

    /// The outgoing mail of a reply thread being written in `conn` (E4): when the
    /// ticket's contact has an email and the portal a mailbox, the thread gets its
    /// mail fields (one Message-ID, forever) and the outbox a row. Answers whether it
    /// will be mailed.
    pub(crate) async fn plan_reply_mail(
        &self,
        conn: &mut sqlx::AnyConnection,
        portal_id: &str,
        ticket_id: &str,
        thread_id: &str,
        content: &str,
        now: i64,
    ) -> Result<bool> {
        let Route::Mail {
            mailbox,
            to_address,
            to_name,
            ticket_number,
            subject,
        } = reply_route(conn, portal_id, ticket_id).await?
        else {
            return Ok(false);
        };
        let mut references = store::ticket_message_ids(&mut *conn, portal_id, ticket_id).await?;
        let in_reply_to = references.last().cloned();
        if references.len() > 20 {
            references.drain(..references.len() - 20);
        }
        let message_id = format!("{}@{}", thread_id, domain_of(&mailbox.address));
        let subject = if subject_token(&subject) == Some(ticket_number) {
            subject
        } else {
            format!("[#{ticket_number}] {subject}")
        };
        let subject = if subject.starts_with("Re:") || subject.starts_with("RE:") {
            subject
        } else {
            format!("Re: {subject}")
        };
        let to = match &to_name {
            Some(n) => format!("{n} <{to_address}>"),
            None => to_address.clone(),
        };
        let mail = OutgoingMail {
            from_address: mailbox.address.clone(),
            from_name: mailbox.display_name.clone(),
            to_address: to_address.clone(),
            to_name,
            subject: subject.clone(),
            text: content.to_owned(),
            message_id: message_id.clone(),
            in_reply_to,
            references,
            kind: "reply".into(),
        };
        let fields = store::ReplyMail {
            mail_from: &format!("{} <{}>", mailbox.display_name, mailbox.address),
            mail_to: &to,
            subject: &subject,
            message_id: &message_id,
            mailbox_id: &mailbox.id,
        };
        store::set_reply_mail(&mut *conn, thread_id, &fields).await?;
        store::record_message_id(
            &mut *conn,
            portal_id,
            &message_id,
            ticket_id,
            thread_id,
            store::Direction::Out,
            now,
        )
        .await?;
        store::enqueue(
            conn,
            portal_id,
            &mailbox.id,
            &format!("reply:{thread_id}"),
            Some(thread_id),
            &mail,
            now,
        )
        .await?;
        Ok(true)
    }

    /// Sends a failed reply again (the page's retry button): the same mail, the same
    /// Message-ID, attempts counted from zero.
    pub async fn retry_mail(
        &self,
        member: &Member,
        ticket_id: &str,
        thread_id: &str,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let done =
            store::requeue_failed(tx.conn(), &member.portal_id, ticket_id, thread_id, now).await?;
        if done == 0 {
            return Err(Error::not_found());
        }
        store::thread_requeued(tx.conn(), thread_id).await?;
        tx.commit().await?;
        self.mail_notify.notify_one();
        Ok(())
    }

    /// Claims up to `limit` due outgoing mails for [`CLAIM_MS`] (a conditional update
    /// per row, so two nodes never send the same one at once).
    pub async fn claim_mail(&self, limit: i64) -> Result<Vec<OutboxJob>> {
        let now = self.clock.now_ms();
        let rows = store::due_mail(self.db.pool(), now, limit).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut jobs = Vec::new();
        let mut tx = self.db.begin_write().await?;
        for row in rows {
            if store::claim(tx.conn(), &row.id, now + CLAIM_MS, now).await? == 0 {
                continue;
            }
            let mail: OutgoingMail = serde_json::from_str(&row.message)
                .map_err(|e| Error::internal(anyhow::Error::new(e)))?;
            jobs.push(OutboxJob {
                id: row.id,
                portal_id: row.portal_id,
                mailbox_id: row.mailbox_id,
                thread_id: row.thread_id,
                mail,
                attempts: row.attempts + 1,
            });
        }
        tx.commit().await?;
        Ok(jobs)
    }

    /// The mailbox a claimed mail goes out through; `None` when it was deleted.
    pub async fn outbox_mailbox(&self, job: &OutboxJob) -> Result<Option<MailboxConfig>> {
        self.mailbox_config_by_id(&job.mailbox_id).await
    }

    /// The mail went out: the row and the thread say `sent`.
    pub async fn mail_sent(&self, job: &OutboxJob) -> Result<()> {
        self.mail_outcome(job, "sent", None, None).await
    }

    /// The attempt failed: `permanent` (or too many attempts) makes it `failed`, else
    /// it is due again after the backoff and the thread stays `queued` with the reason.
    pub async fn mail_failed(&self, job: &OutboxJob, error: &str, permanent: bool) -> Result<()> {
        if permanent || job.attempts >= MAX_ATTEMPTS {
            self.mail_outcome(job, "failed", Some(error), None).await
        } else {
            let at = self.clock.now_ms() + backoff_ms(job.attempts);
            self.mail_outcome(job, "pending", Some(error), Some(at))
                .await
        }
    }

    async fn mail_outcome(
        &self,
        job: &OutboxJob,
        state: &str,
        error: Option<&str>,
        next_at: Option<i64>,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        let error = error.map(|e| clip(e, 1000));
        let mut tx = self.db.begin_write().await?;
        store::set_outbox_outcome(tx.conn(), &job.id, state, error.as_deref(), next_at, now)
            .await?;
        if let Some(thread_id) = &job.thread_id {
            let shown = if state == "pending" { "queued" } else { state };
            store::set_thread_delivery(
                tx.conn(),
                thread_id,
                shown,
                error.as_deref(),
                job.attempts,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Counts of outgoing mails by state (metrics, tests).
    pub async fn mail_outbox_counts(&self) -> Result<Vec<(String, i64)>> {
        store::outbox_counts(self.db.pool()).await
    }

    /// An attachment of a ticket's thread with its bytes; 404 `not_found`.
    pub async fn attachment(
        &self,
        member: &Member,
        ticket_id: &str,
        attachment_id: &str,
    ) -> Result<AttachmentFile> {
        store::attachment(self.db.pool(), &member.portal_id, ticket_id, attachment_id)
            .await?
            .ok_or_else(Error::not_found)
    }
}

/// Where a reply on a ticket goes.
enum Route {
    Mail {
        mailbox: Box<MailboxConfig>,
        to_address: String,
        to_name: Option<String>,
        ticket_number: i64,
        subject: String,
    },
    NoEmail,
    NoMailbox,
}

/// The contact's address and the mailbox of a reply (API.md: the mailbox the ticket's
/// mail came through, else the ticket department's, else the portal's first).
async fn reply_route(
    conn: &mut sqlx::AnyConnection,
    portal_id: &str,
    ticket_id: &str,
) -> Result<Route> {
    let ticket = store::route_ticket(&mut *conn, portal_id, ticket_id)
        .await?
        .ok_or_else(Error::not_found)?;
    let Some(email) = ticket.email.filter(|e| !e.is_empty()) else {
        return Ok(Route::NoEmail);
    };
    let to_name = ticket
        .last_name
        .map(|l| crate::contacts::full_name(ticket.first_name.as_deref(), &l));
    let chosen =
        store::reply_mailbox_id(&mut *conn, portal_id, ticket_id, &ticket.department_id).await?;
    let Some(id) = chosen else {
        return Ok(Route::NoMailbox);
    };
    let mailbox = store::config_one(&mut *conn, &id).await?;
    Ok(Route::Mail {
        mailbox: Box::new(mailbox),
        to_address: email,
        to_name,
        ticket_number: store::ticket_number(&mut *conn, portal_id, ticket_id).await?,
        subject: store::ticket_subject(&mut *conn, ticket_id).await?,
    })
}
