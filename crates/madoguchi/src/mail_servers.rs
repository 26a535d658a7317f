//! A throwaway Dovecot IMAP server on a loopback port, run standalone from a config in
//! a temp dir: what `madoguchi bench mail` fetches from when no `--imap-host` is given,
//! and what the email tests (`tests/api/mail_servers.rs`) start per test. Debian's
//! `dovecot-imapd` (2.3); it must run as root (it drops to `dovecot`/`dovenull` itself).

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub const DOVECOT: &str = "/usr/sbin/dovecot";

/// Whether the Dovecot binary is installed here.
pub fn dovecot_installed() -> bool {
    Path::new(DOVECOT).exists()
}

/// `dovecot --version`, e.g. `2.3.19.1 (9b53102964)`.
pub fn dovecot_version() -> Option<String> {
    let out = Command::new(DOVECOT).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(what: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "madoguchi-{what}-{}",
        madoguchi_core::ids::new_id()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Waits (at most 20 s) until something listens on the loopback `port`.
pub async fn wait_port(port: u16, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if Instant::now() >= deadline {
            bail!("{what} did not start on port {port}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// A Dovecot IMAP server on a loopback port (plain IMAP, no TLS) whose users all have
/// one password; stopped and its files removed when dropped.
pub struct Dovecot {
    pub port: u16,
    password: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl Dovecot {
    /// Starts Dovecot with Maildir mailboxes for `users`, each logging in with `password`.
    pub async fn start(users: &[&str], password: &str) -> anyhow::Result<Self> {
        if !dovecot_installed() {
            bail!("{DOVECOT} is missing (Debian: apt-get install dovecot-imapd)");
        }
        let dir = temp_dir("dovecot")?;
        let port = free_port()?;
        let mail = dir.join("mail");
        std::fs::create_dir_all(&mail).context("creating the mail directory")?;
        // The mail processes run as `dovecot` (the static userdb below).
        let _ = Command::new("chown")
            .args(["-R", "dovecot:dovecot"])
            .arg(&mail)
            .status();
        let passwd: String = users
            .iter()
            .map(|u| format!("{u}:{{PLAIN}}{password}\n"))
            .collect();
        std::fs::write(dir.join("passwd"), passwd).context("writing the passwd file")?;
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
        std::fs::create_dir_all(dir.join("state")).context("creating the state directory")?;
        let conf_path = dir.join("dovecot.conf");
        std::fs::write(&conf_path, conf).context("writing dovecot.conf")?;
        let child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting dovecot")?;
        let server = Self {
            port,
            password: password.to_owned(),
            dir,
            child: Some(child),
        };
        wait_port(port, "dovecot").await.with_context(|| {
            format!(
                "(its log: {})",
                server.dir.join("dovecot.log").to_string_lossy()
            )
        })?;
        Ok(server)
    }

    /// Adds a mail to `user`'s INBOX with IMAP APPEND on a connection of its own, as an
    /// MTA delivering it would.
    pub async fn append(&self, user: &str, raw: &[u8]) -> anyhow::Result<()> {
        let stream = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .context("connecting to dovecot")?;
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        expect(&mut lines, "* OK").await?;
        write
            .write_all(format!("a LOGIN {user} {}\r\n", self.password).as_bytes())
            .await?;
        expect(&mut lines, "a").await?;
        write
            .write_all(format!("b APPEND INBOX {{{}}}\r\n", raw.len()).as_bytes())
            .await?;
        expect(&mut lines, "+").await?;
        write.write_all(raw).await?;
        write.write_all(b"\r\n").await?;
        expect(&mut lines, "b").await?;
        write.write_all(b"c LOGOUT\r\n").await?;
        Ok(())
    }

    /// The file names (with their flags) of every mail in `user`'s INBOX.
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
async fn expect(lines: &mut Lines, tag: &str) -> anyhow::Result<()> {
    loop {
        let line = lines
            .next_line()
            .await
            .context("reading from dovecot")?
            .context("dovecot closed the connection")?;
        if line.starts_with(tag) {
            if tag == "+" || tag == "* OK" || line.starts_with(&format!("{tag} OK")) {
                return Ok(());
            }
            bail!("IMAP said {line}");
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
