//! The email channel of the Desk (SPEC E1–E8), the protocol half: IMAP fetching
//! (async-imap), MIME decoding (mail-parser) and building (mail-builder), SMTP sending
//! (lettre). What is stored and decided — mailboxes, the import transaction, threading,
//! the outbox rows — is `madoguchi_desk::mail`; this crate moves bytes.
//!
//! Every node runs [`Mail::spawn`]: a supervisor that takes each mailbox's lease in
//! the database (E8; one node fetches a mailbox, a dead node's lease runs out within
//! [`LEASE_MS`]), a fetcher per mailbox it holds (IDLE when offered, else polling every
//! [`POLL_MS`]), and the sender of the outbox. A mail is imported in one transaction
//! with the mailbox's UID cursor and only then marked `\Seen` (E3), so a crash at any
//! point imports it exactly once.

pub mod decode;
pub mod net;
pub mod smtp;

use futures::TryStreamExt;
use madoguchi_core::i18n::{t, Lang};
use madoguchi_desk::{Desk, ImportOutcome, MailboxConfig};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a node's fetch lease lasts; renewed every [`RENEW_MS`].
pub const LEASE_MS: i64 = 20_000;
pub const RENEW_MS: u64 = 2_000;
/// Polling interval for servers without IDLE, and the longest an IDLE waits before the
/// fetcher looks again.
pub const POLL_MS: u64 = 2_000;
pub const IDLE_MS: u64 = 4_000;

/// `MADOGUCHI_FAULT` (tests only): `mail-after-fetch` aborts the process after a mail
/// was fetched and before its import commits; `mail-after-commit` after the commit
/// and before the server is told.
fn fault(point: &str) {
    if std::env::var("MADOGUCHI_FAULT").is_ok_and(|f| f == point) {
        tracing::warn!(point, "fault injection: aborting");
        std::process::abort();
    }
}

/// `{ok, error}` of one server in a connection test.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Check {
    pub ok: bool,
    pub error: Option<String>,
}

/// `{imap:{ok, error}, smtp:{ok, error}}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestResult {
    pub imap: Check,
    pub smtp: Check,
}

fn check(result: Result<(), net::Failure>, lang: Lang) -> Check {
    match result {
        Ok(()) => Check {
            ok: true,
            error: None,
        },
        Err(f) => Check {
            ok: false,
            error: Some(format!("{} ({})", t(lang, f.key()), f.detail())),
        },
    }
}

/// Logs in to the IMAP server and opens the folder.
async fn test_imap(cfg: &MailboxConfig) -> Result<(), net::Failure> {
    let mut session = net::imap_login(
        &cfg.imap.host,
        cfg.imap.port,
        cfg.imap.security,
        &cfg.imap.username,
        &cfg.imap_password,
    )
    .await?;
    let selected = session
        .examine(&cfg.imap.folder)
        .await
        .map_err(|e| net::Failure::Folder(e.to_string()));
    let _ = session.logout().await;
    selected.map(|_| ())
}

/// The connection test of a mailbox (E1): both servers, failures named in `lang`.
pub async fn test_connection(cfg: &MailboxConfig, lang: Lang) -> TestResult {
    let (imap, smtp) = tokio::join!(test_imap(cfg), smtp::test(cfg));
    TestResult {
        imap: check(imap, lang),
        smtp: check(smtp, lang),
    }
}

/// The email channel of one node.
#[derive(Clone)]
pub struct Mail {
    desk: Desk,
    node: String,
}

impl Mail {
    pub fn new(desk: Desk) -> Self {
        Self {
            desk,
            node: madoguchi_core::ids::new_id(),
        }
    }

    /// This node's name in mailbox leases.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Starts the lease supervisor (with its fetchers) and the outbox sender; both stop
    /// when `shutdown` turns true.
    pub fn spawn(&self, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let supervisor = {
            let me = self.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move { me.supervise(shutdown).await })
        };
        let sender = {
            let me = self.clone();
            tokio::spawn(async move { me.send_loop(shutdown).await })
        };
        vec![supervisor, sender]
    }

    async fn supervise(&self, mut shutdown: watch::Receiver<bool>) {
        let mut running: HashMap<String, JoinHandle<()>> = HashMap::new();
        loop {
            match self.desk.all_mailbox_configs().await {
                Ok(configs) => {
                    let ids: Vec<String> = configs.iter().map(|c| c.id.clone()).collect();
                    running.retain(|id, task| {
                        let keep = ids.contains(id) && !task.is_finished();
                        if !keep {
                            task.abort();
                        }
                        keep
                    });
                    for cfg in configs {
                        let held = self
                            .desk
                            .acquire_mailbox_lease(&cfg.id, &self.node, LEASE_MS)
                            .await
                            .unwrap_or(false);
                        match (held, running.contains_key(&cfg.id)) {
                            (true, false) => {
                                tracing::info!(mailbox = %cfg.address, node = %self.node, "fetching mailbox");
                                let me = self.clone();
                                let id = cfg.id.clone();
                                running.insert(
                                    cfg.id.clone(),
                                    tokio::spawn(async move { me.fetch_loop(id).await }),
                                );
                            }
                            (false, true) => {
                                if let Some(task) = running.remove(&cfg.id) {
                                    task.abort();
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "listing mailboxes failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(RENEW_MS)) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        for (id, task) in running {
            task.abort();
            let _ = self.desk.release_mailbox_lease(&id, &self.node).await;
        }
    }

    /// Fetches one mailbox for as long as this node holds its lease.
    async fn fetch_loop(&self, mailbox_id: String) {
        loop {
            let cfg = match self.desk.mailbox_config_by_id(&mailbox_id).await {
                Ok(Some(cfg)) => cfg,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "reading a mailbox failed");
                    tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
                    continue;
                }
            };
            if let Err(failure) = self.session(&cfg).await {
                tracing::warn!(mailbox = %cfg.address, error = %failure, "mailbox fetch failed");
                let text = format!("{} ({})", t(Lang::En, failure.key()), failure.detail());
                let _ = self.desk.set_mailbox_status(&cfg.id, Some(&text)).await;
                tokio::time::sleep(Duration::from_millis(POLL_MS * 2)).await;
            }
        }
    }

    /// One IMAP session: fetch what is new, then wait (IDLE or a pause), again.
    async fn session(&self, first: &MailboxConfig) -> Result<(), net::Failure> {
        let mut session = net::imap_login(
            &first.imap.host,
            first.imap.port,
            first.imap.security,
            &first.imap.username,
            &first.imap_password,
        )
        .await?;
        let idle = session
            .capabilities()
            .await
            .map(|c| c.has_str("IDLE"))
            .unwrap_or(false);
        loop {
            let selected = session
                .select(&first.imap.folder)
                .await
                .map_err(|e| net::Failure::Folder(e.to_string()))?;
            let Some(cfg) = self
                .desk
                .mailbox_config_by_id(&first.id)
                .await
                .map_err(|e| net::Failure::Protocol(e.to_string()))?
            else {
                return Ok(());
            };
            if cfg.imap.host != first.imap.host
                || cfg.imap.port != first.imap.port
                || cfg.imap.username != first.imap.username
                || cfg.imap.folder != first.imap.folder
                || cfg.imap_password != first.imap_password
            {
                let _ = session.logout().await;
                return Ok(());
            }
            let validity = i64::from(selected.uid_validity.unwrap_or(0));
            let cfg = if cfg.uid_validity != Some(validity) {
                self.desk
                    .reset_mailbox_cursor(&cfg.id, validity)
                    .await
                    .map_err(|e| net::Failure::Protocol(e.to_string()))?;
                self.desk
                    .mailbox_config_by_id(&cfg.id)
                    .await
                    .map_err(|e| net::Failure::Protocol(e.to_string()))?
                    .ok_or_else(|| net::Failure::Protocol("mailbox deleted".into()))?
            } else {
                cfg
            };
            if selected.exists > 0 {
                self.fetch_new(&mut session, &cfg).await?;
            }
            let _ = self.desk.set_mailbox_status(&cfg.id, None).await;
            if idle {
                let mut handle = session.idle();
                handle
                    .init()
                    .await
                    .map_err(|e| net::Failure::Protocol(e.to_string()))?;
                let (wait, _stop) = handle.wait_with_timeout(Duration::from_millis(IDLE_MS));
                let _ = wait.await;
                session = handle
                    .done()
                    .await
                    .map_err(|e| net::Failure::Protocol(e.to_string()))?;
            } else {
                tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
            }
        }
    }

    /// Fetches every mail above the cursor (without touching its flags: `BODY.PEEK`),
    /// imports each in its own transaction, then marks it `\Seen`.
    async fn fetch_new(
        &self,
        session: &mut net::Session,
        cfg: &MailboxConfig,
    ) -> Result<(), net::Failure> {
        let protocol = |e: async_imap::error::Error| net::Failure::Protocol(e.to_string());
        let range = format!("{}:*", cfg.last_uid + 1);
        let fetched: Vec<(i64, Vec<u8>)> = {
            let stream = session
                .uid_fetch(&range, "(UID BODY.PEEK[])")
                .await
                .map_err(protocol)?;
            let all: Vec<_> = stream.try_collect().await.map_err(protocol)?;
            all.iter()
                .filter_map(|f| Some((i64::from(f.uid?), f.body()?.to_vec())))
                .filter(|(uid, _)| *uid > cfg.last_uid)
                .collect()
        };
        for (uid, raw) in fetched {
            fault("mail-after-fetch");
            let mail = decode::decode(&raw);
            let outcome = self
                .desk
                .import_mail(cfg, uid, &mail)
                .await
                .map_err(|e| net::Failure::Protocol(e.to_string()))?;
            fault("mail-after-commit");
            if outcome != ImportOutcome::Duplicate {
                tracing::info!(mailbox = %cfg.address, uid, outcome = ?outcome, "mail imported");
            }
            // Only now is the server told.
            if let Ok(stream) = session.uid_store(uid.to_string(), "+FLAGS (\\Seen)").await {
                let _: Result<Vec<_>, _> = stream.try_collect().await;
            }
        }
        Ok(())
    }

    async fn send_loop(&self, mut shutdown: watch::Receiver<bool>) {
        let notify = self.desk.mail_outbox_notify();
        loop {
            let jobs = match self.desk.claim_mail(10).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming outgoing mail failed");
                    Vec::new()
                }
            };
            let idle = jobs.is_empty();
            for job in jobs {
                let outcome = match self.desk.outbox_mailbox(&job).await {
                    Ok(Some(cfg)) => {
                        smtp::send(&cfg, &job.mail, madoguchi_core::time::system_now_ms()).await
                    }
                    Ok(None) => Err(smtp::SendError {
                        message: "the mailbox was deleted".into(),
                        permanent: true,
                    }),
                    Err(e) => Err(smtp::SendError {
                        message: e.to_string(),
                        permanent: false,
                    }),
                };
                let recorded = match outcome {
                    Ok(()) => {
                        tracing::info!(to = %job.mail.to_address, message_id = %job.mail.message_id, "mail sent");
                        self.desk.mail_sent(&job).await
                    }
                    Err(e) => {
                        tracing::warn!(to = %job.mail.to_address, error = %e.message, attempts = job.attempts, "mail not sent");
                        self.desk.mail_failed(&job, &e.message, e.permanent).await
                    }
                };
                if let Err(e) = recorded {
                    tracing::warn!(error = %e, "recording a mail outcome failed");
                }
            }
            if idle {
                tokio::select! {
                    _ = notify.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
        }
    }
}
