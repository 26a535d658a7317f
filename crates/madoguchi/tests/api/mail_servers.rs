//! Real mail servers for the email tests (SPEC E): Dovecot (IMAP) run standalone from a
//! config in a temp dir (`madoguchi::mail_servers`, which `madoguchi bench mail` uses
//! too), and aiosmtpd (SMTP) writing each received mail into a
//! Maildir. Missing binaries skip the test loudly, or fail it when
//! `MADOGUCHI_REQUIRE_MAIL=1` (CI).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "secret-pass";

pub fn free_port() -> u16 {
    madoguchi::mail_servers::free_port().expect("a free port")
}

fn required() -> bool {
    std::env::var("MADOGUCHI_REQUIRE_MAIL").is_ok_and(|v| v == "1")
}

/// Whether the mail servers can run here; says SKIPPED (or fails under
/// `MADOGUCHI_REQUIRE_MAIL=1`) when not.
pub fn available() -> bool {
    let dovecot = madoguchi::mail_servers::dovecot_installed();
    let aiosmtpd = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if dovecot && aiosmtpd {
        return true;
    }
    let why = format!("mail servers missing (dovecot: {dovecot}, python3 aiosmtpd: {aiosmtpd})");
    assert!(!required(), "MADOGUCHI_REQUIRE_MAIL=1 but {why}");
    crate::helpers::say_skipped(&why);
    false
}

fn temp_dir(what: &str) -> PathBuf {
    madoguchi::mail_servers::temp_dir(what).expect("a temp dir")
}

async fn wait_port(port: u16, what: &str) {
    madoguchi::mail_servers::wait_port(port, what)
        .await
        .expect("the server listens");
}

/// The throwaway Dovecot of `madoguchi::mail_servers` with users `support`, `sales` and
/// `other` (all with [`PASSWORD`]); a failure fails the test.
pub struct Dovecot(madoguchi::mail_servers::Dovecot);

impl std::ops::Deref for Dovecot {
    type Target = madoguchi::mail_servers::Dovecot;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Dovecot {
    pub async fn start() -> Self {
        Self(
            madoguchi::mail_servers::Dovecot::start(&["support", "sales", "other"], PASSWORD)
                .await
                .expect("starting dovecot"),
        )
    }

    /// Adds a mail to `user`'s INBOX with IMAP APPEND, as an MTA delivering it would.
    pub async fn append(&self, user: &str, raw: &[u8]) {
        self.0.append(user, raw).await.expect("IMAP APPEND");
    }
}

/// An SMTP server (aiosmtpd) that stores every mail it receives in a Maildir.
pub struct SmtpSink {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::start_on(free_port()).await
    }

    pub async fn start_on(port: u16) -> Self {
        let dir = temp_dir("smtp");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.join("maildir"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting aiosmtpd");
        wait_port(port, "aiosmtpd").await;
        Self {
            port,
            dir,
            child: Some(child),
        }
    }

    /// Every mail received so far, as text.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.dir.join("maildir").join(sub)) {
                for e in entries.flatten() {
                    if let Ok(bytes) = std::fs::read(e.path()) {
                        out.push(String::from_utf8_lossy(&bytes).into_owned());
                    }
                }
            }
        }
        out
    }

    /// Waits until `n` mails arrived; answers them.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} mails, the SMTP server has {}",
                m.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
