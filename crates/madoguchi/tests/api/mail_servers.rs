//! Real mail servers for the email tests (SPEC E): Dovecot (IMAP) run standalone from a
//! config in a temp dir, and aiosmtpd (SMTP) writing each received mail into a
//! Maildir. Missing binaries skip the test loudly, or fail it when
//! `MADOGUCHI_REQUIRE_MAIL=1` (CI).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub const DOVECOT: &str = "/usr/sbin/dovecot";
pub const PASSWORD: &str = "secret-pass";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn required() -> bool {
    std::env::var("MADOGUCHI_REQUIRE_MAIL").is_ok_and(|v| v == "1")
}

/// Whether the mail servers can run here; says SKIPPED (or fails under
/// `MADOGUCHI_REQUIRE_MAIL=1`) when not.
pub fn available() -> bool {
    let dovecot = Path::new(DOVECOT).exists();
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
    let dir = std::env::temp_dir().join(format!(
        "madoguchi-{what}-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

async fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "{what} did not start on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Dovecot IMAP server on a loopback port with users `support`, `sales` and `other`
/// (all with [`PASSWORD`]).
pub struct Dovecot {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Dovecot {
    pub async fn start() -> Self {
        let dir = temp_dir("dovecot");
        let port = free_port();
        let mail = dir.join("mail");
        std::fs::create_dir_all(&mail).expect("mail dir");
        let _ = Command::new("chown")
            .args(["-R", "dovecot:dovecot"])
            .arg(&mail)
            .status();
        let users: String = ["support", "sales", "other"]
            .iter()
            .map(|u| format!("{u}:{{PLAIN}}{PASSWORD}\n"))
            .collect();
        std::fs::write(dir.join("passwd"), users).expect("passwd file");
        let d = dir.display();
        // Dovecot 2.3 syntax (Debian bookworm: 2.3.19).
        let conf = format!(
            "protocols = imap\n\
             listen = 127.0.0.1\n\
             base_dir = {d}/run\n\
             state_dir = {d}/state\n\
             instance_name = madoguchi-{port}\n\
             default_login_user = dovenull\n\
             default_internal_user = dovecot\n\
             first_valid_uid = 1\n\
             ssl = no\n\
             disable_plaintext_auth = no\n\
             auth_mechanisms = plain login\n\
             log_path = {d}/dovecot.log\n\
             mail_location = maildir:{d}/mail/%u\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid=dovecot gid=dovecot home={d}/mail/%u\n}}\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\n\
             service stats {{\n  unix_listener stats-writer {{\n    mode = 0666\n  }}\n}}\n"
        );
        std::fs::create_dir_all(dir.join("state")).expect("state dir");
        let conf_path = dir.join("dovecot.conf");
        std::fs::write(&conf_path, conf).expect("dovecot.conf");
        let child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting dovecot");
        wait_port(port, "dovecot").await;
        Self {
            port,
            dir,
            child: Some(child),
        }
    }

    /// Adds a mail to `user`'s INBOX with IMAP APPEND, as an MTA delivering it would.
    pub async fn append(&self, user: &str, raw: &[u8]) {
        let stream = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connecting to dovecot");
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        expect(&mut lines, "* OK").await;
        write
            .write_all(format!("a LOGIN {user} {PASSWORD}\r\n").as_bytes())
            .await
            .expect("login");
        expect(&mut lines, "a").await;
        write
            .write_all(format!("b APPEND INBOX {{{}}}\r\n", raw.len()).as_bytes())
            .await
            .expect("append");
        expect(&mut lines, "+").await;
        write.write_all(raw).await.expect("the mail");
        write.write_all(b"\r\n").await.expect("end");
        expect(&mut lines, "b").await;
        write.write_all(b"c LOGOUT\r\n").await.expect("logout");
    }

    /// The flags of every mail in `user`'s INBOX (to see nothing is touched early).
    pub fn maildir_files(&self, user: &str) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.dir.join("mail").join(user).join(sub)) {
                for e in entries.flatten() {
                    out.push(e.file_name().to_string_lossy().into_owned());
                }
            }
        }
        out
    }
}

type Lines = tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>;

/// Reads until the line starting with `tag`; a tagged answer must be OK.
async fn expect(lines: &mut Lines, tag: &str) {
    loop {
        let line = lines
            .next_line()
            .await
            .expect("reading from dovecot")
            .expect("dovecot closed the connection");
        if line.starts_with(tag) {
            assert!(
                tag == "+" || tag == "* OK" || line.starts_with(&format!("{tag} OK")),
                "IMAP said {line}"
            );
            return;
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
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
