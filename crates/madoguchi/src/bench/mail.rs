//! `madoguchi bench mail`: the email channel's import (SPEC E2, E3, E6) against a real
//! IMAP server. A `madoguchi serve` child process with a fresh data dir gets a mailbox
//! through the Desk API; the bench APPENDs mixed Japanese/English mails (ISO-2022-JP,
//! Shift_JIS, UTF-8 base64 and quoted-printable, HTML-only, attachments, replies to
//! earlier mails) into a folder of its own and polls the server's database for each
//! mail's import, the row committed in the same transaction as its ticket or thread.
//! It prints the import rate and the time from APPEND to ticket.

use super::{free_port, ServerProcess};
use anyhow::{bail, Context};
use base64::Engine;
use madoguchi_desk::Security;
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the bench looks in the database for newly imported mail.
const POLL: Duration = Duration::from_millis(10);

#[derive(clap::Args, Debug, Clone)]
pub struct MailBenchArgs {
    /// Mails to append; every fourth answers an earlier one (threading by In-Reply-To).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub count: u64,
    /// Offered load in mails/s (open loop, for latency at that rate); without it each
    /// mail is appended as soon as the server answered the last APPEND (a burst).
    #[arg(long)]
    pub rate: Option<f64>,
    /// An existing IMAP server instead of a throwaway Dovecot. The bench creates a folder
    /// of its own there (`madoguchi-bench-…`), appends into it, has madoguchi fetch from
    /// it and deletes it at the end. TLS certificates must verify against the public
    /// roots (as for any mailbox).
    #[arg(long, requires = "imap_user", requires = "imap_password")]
    pub imap_host: Option<String>,
    /// Default 143, or 993 with `--imap-security tls`.
    #[arg(long, requires = "imap_host")]
    pub imap_port: Option<u16>,
    #[arg(long, default_value = "none", value_parser = ["none", "starttls", "tls"], requires = "imap_host")]
    pub imap_security: String,
    #[arg(long, requires = "imap_host")]
    pub imap_user: Option<String>,
    #[arg(long, env = "MADOGUCHI_BENCH_IMAP_PASSWORD", requires = "imap_host")]
    pub imap_password: Option<String>,
    /// Also run against PostgreSQL (a database the bench may fill).
    #[arg(long, env = "MADOGUCHI_BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Stop waiting (and count the rest lost) after this long without a new import.
    #[arg(long, default_value_t = 60)]
    pub stall_seconds: u64,
}

/// Body encodings, in the order new mails cycle through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    English7bit,
    Utf8Base64,
    Utf8QuotedPrintable,
    Iso2022Jp,
    ShiftJisBase64,
    HtmlOnly,
}

const BODIES: [Body; 6] = [
    Body::English7bit,
    Body::Utf8Base64,
    Body::Utf8QuotedPrintable,
    Body::Iso2022Jp,
    Body::ShiftJisBase64,
    Body::HtmlOnly,
];

impl Body {
    fn japanese(self) -> bool {
        !matches!(self, Body::English7bit | Body::HtmlOnly)
    }

    fn label(self) -> &'static str {
        match self {
            Body::English7bit => "English 7bit",
            Body::Utf8Base64 => "UTF-8 base64",
            Body::Utf8QuotedPrintable => "UTF-8 quoted-printable",
            Body::Iso2022Jp => "ISO-2022-JP",
            Body::ShiftJisBase64 => "Shift_JIS base64",
            Body::HtmlOnly => "HTML only",
        }
    }
}

/// One mail of the run and what its import must show.
struct BenchMail {
    message_id: String,
    raw: Vec<u8>,
    /// The mail this one answers.
    parent: Option<usize>,
    /// The first mail of its conversation (whose ticket it must land on).
    root: usize,
    body: Body,
    attachment: bool,
    /// The decoded subject (what a new conversation's ticket must be called).
    subject: String,
    /// Text the decoded body must contain.
    marker: String,
}

const JA_TOPICS: [&str; 5] = [
    "請求書について",
    "パスワードの再設定",
    "配送状況の確認",
    "契約内容の変更",
    "ログインできません",
];
const EN_TOPICS: [&str; 5] = [
    "Invoice question",
    "Password reset",
    "Where is my order",
    "Change of plan",
    "Cannot sign in",
];
const JA_NAMES: [&str; 6] = [
    "山田 太郎",
    "佐藤 花子",
    "鈴木 一郎",
    "高橋 美咲",
    "田中 健",
    "伊藤 さくら",
];
const EN_NAMES: [&str; 4] = ["Alice Brown", "Bob Smith", "Carol White", "Dan Green"];

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Base64 in lines of 76 characters, as MIME bodies carry it.
fn b64_lines(bytes: &[u8]) -> String {
    let text = b64(bytes);
    let mut out = String::with_capacity(text.len() + text.len() / 76 * 2 + 2);
    for chunk in text.as_bytes().chunks(76) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push_str("\r\n");
    }
    out
}

/// Quoted-printable (RFC 2045) of UTF-8 text with CRLF line ends.
fn quoted_printable(text: &str) -> String {
    let mut out = String::new();
    for line in text.split("\r\n") {
        let mut width = 0;
        for &b in line.as_bytes() {
            let piece = if (b == b' ' || b.is_ascii_graphic()) && b != b'=' {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            if width + piece.len() > 75 {
                out.push_str("=\r\n");
                width = 0;
            }
            width += piece.len();
            out.push_str(&piece);
        }
        out.push_str("\r\n");
    }
    out
}

/// The header value of `text` in `body`'s charset (an encoded-word unless plain ASCII).
fn header_text(text: &str, body: Body) -> String {
    if text.is_ascii() {
        return text.to_owned();
    }
    match body {
        Body::Iso2022Jp => {
            let (bytes, _, _) = encoding_rs::ISO_2022_JP.encode(text);
            format!("=?ISO-2022-JP?B?{}?=", b64(&bytes))
        }
        Body::ShiftJisBase64 => {
            let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(text);
            format!("=?Shift_JIS?B?{}?=", b64(&bytes))
        }
        _ => format!("=?UTF-8?B?{}?=", b64(text.as_bytes())),
    }
}

/// Content-Type, Content-Transfer-Encoding and the encoded body of `text`.
fn body_part(text: &str, body: Body) -> String {
    match body {
        Body::English7bit => format!(
            "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{text}\r\n"
        ),
        Body::Utf8Base64 => format!(
            "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            b64_lines(text.as_bytes())
        ),
        Body::Utf8QuotedPrintable => format!(
            "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{}",
            quoted_printable(text)
        ),
        Body::Iso2022Jp => {
            let (bytes, _, _) = encoding_rs::ISO_2022_JP.encode(text);
            format!(
                "Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{}\r\n",
                String::from_utf8_lossy(&bytes)
            )
        }
        Body::ShiftJisBase64 => {
            let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(text);
            format!(
                "Content-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
                b64_lines(&bytes)
            )
        }
        Body::HtmlOnly => {
            let paragraphs: String = text
                .split("\r\n")
                .filter(|l| !l.is_empty())
                .map(|l| format!("<p>{l}</p>"))
                .collect();
            format!(
                "Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
                 <html><head><style>p {{ margin: 0 }}</style></head><body>{paragraphs}</body></html>\r\n"
            )
        }
    }
}

/// `count` mails of a run: three quarters start a conversation, every fourth answers a
/// recent one; the bodies cycle through [`BODIES`]; one in 40 carries a PDF.
fn generate(count: usize, run: &str) -> Vec<BenchMail> {
    let mut mails: Vec<BenchMail> = Vec::with_capacity(count);
    for i in 0..count {
        let parent = (i >= 4 && i % 4 == 3).then(|| {
            let window = i.min(40);
            i - 1 - (i * 7919) % window
        });
        let root = parent.map_or(i, |p| mails[p].root);
        let body = BODIES[i % BODIES.len()];
        let attachment = i % 40 == 17;
        let ja = body.japanese();
        let customer = root % 97;
        let (name, address) = if ja {
            (
                JA_NAMES[customer % JA_NAMES.len()],
                format!("kokyaku{customer}@customer{}.example.jp", customer % 7),
            )
        } else {
            (
                EN_NAMES[customer % EN_NAMES.len()],
                format!("customer{customer}@customer{}.example.com", customer % 7),
            )
        };
        let subject = match parent {
            Some(p) => format!("Re: {}", mails[mails[p].root].subject),
            None if ja => format!("{}（{}）", JA_TOPICS[i % JA_TOPICS.len()], i),
            None => format!("{} ({i})", EN_TOPICS[i % EN_TOPICS.len()]),
        };
        let marker = if ja {
            format!("お問い合わせ番号 {i} の件です")
        } else {
            format!("This is request number {i}")
        };
        let mut text = if ja {
            format!(
                "いつもお世話になっております。{name}です。\r\n{marker}。\r\n\r\n\
                 先日ご案内いただいた手続きについて、もう一度確認させてください。\r\n\
                 画面には「エラーが発生しました」と表示され、先へ進めません。\r\n\
                 お手数ですが、ご確認のほどよろしくお願いいたします。\r\n"
            )
        } else {
            format!(
                "Hello,\r\n\r\n{marker}.\r\n\r\nI followed the steps you sent last week, \
                 but the page still says \"something went wrong\".\r\nCould you have a look?\r\n\r\n\
                 Thanks,\r\n{name}\r\n"
            )
        };
        if let Some(p) = parent {
            text.push_str("\r\n");
            text.push_str(if ja {
                "2026年12月1日 10:00 サポート:\r\n"
            } else {
                "On Tue, Dec 1, 2026 at 10:00, Support wrote:\r\n"
            });
            text.push_str(&format!("> {}\r\n> \r\n", mails[p].marker));
        }
        let message_id = format!("bench-{run}-{i}@customer{}.example", customer % 7);
        let mut headers = format!(
            "From: {} <{address}>\r\nTo: Support <support@bench.example>\r\nSubject: {}\r\n\
             Message-ID: <{message_id}>\r\nDate: Tue, 01 Dec 2026 10:{:02}:{:02} +0900\r\nMIME-Version: 1.0\r\n",
            header_text(name, body),
            header_text(&subject, body),
            (i / 60) % 60,
            i % 60
        );
        if let Some(p) = parent {
            let root_id = &mails[root].message_id;
            let parent_id = &mails[p].message_id;
            headers.push_str(&format!("In-Reply-To: <{parent_id}>\r\n"));
            if root_id == parent_id {
                headers.push_str(&format!("References: <{root_id}>\r\n"));
            } else {
                headers.push_str(&format!("References: <{root_id}> <{parent_id}>\r\n"));
            }
        }
        let part = body_part(&text, body);
        let raw = if attachment {
            let pdf: Vec<u8> = b"%PDF-1.4\n"
                .iter()
                .copied()
                .chain((0..6000u32).map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8))
                .collect();
            let file = header_text(&format!("見積書-{i}.pdf"), Body::Utf8Base64);
            format!(
                "{headers}Content-Type: multipart/mixed; boundary=\"bench-{i}\"\r\n\r\n\
                 --bench-{i}\r\n{part}--bench-{i}\r\n\
                 Content-Type: application/pdf; name=\"{file}\"\r\n\
                 Content-Disposition: attachment; filename=\"{file}\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{}--bench-{i}--\r\n",
                b64_lines(&pdf)
            )
            .into_bytes()
        } else {
            format!("{headers}{part}").into_bytes()
        };
        mails.push(BenchMail {
            message_id,
            raw,
            parent,
            root,
            body,
            attachment,
            subject,
            marker,
        });
    }
    mails
}

/// Where the mails go: a throwaway Dovecot, or the server named on the command line.
struct Imap {
    host: String,
    port: u16,
    security: Security,
    user: String,
    password: String,
    label: String,
    _dovecot: Option<crate::mail_servers::Dovecot>,
}

impl Imap {
    async fn new(args: &MailBenchArgs) -> anyhow::Result<Self> {
        if let Some(host) = &args.imap_host {
            let security = Security::parse(&args.imap_security).context("--imap-security")?;
            let port = args.imap_port.unwrap_or(match security {
                Security::Tls => 993,
                _ => 143,
            });
            return Ok(Self {
                host: host.clone(),
                port,
                security,
                user: args.imap_user.clone().context("--imap-user")?,
                password: args.imap_password.clone().context("--imap-password")?,
                label: format!("the IMAP server at {host}:{port} ({})", security.as_str()),
                _dovecot: None,
            });
        }
        if !crate::mail_servers::dovecot_installed() {
            bail!(
                "no --imap-host given and {} is missing: install Debian's dovecot-imapd \
                 (the throwaway Dovecot runs as root), or name an IMAP server with \
                 --imap-host/--imap-port/--imap-user/--imap-password",
                crate::mail_servers::DOVECOT
            );
        }
        let password = madoguchi_core::ids::random_secret(12);
        let dovecot = crate::mail_servers::Dovecot::start(&["bench"], &password)
            .await
            .context("starting a throwaway Dovecot (it must run as root)")?;
        Ok(Self {
            host: "127.0.0.1".into(),
            port: dovecot.port,
            security: Security::None,
            user: "bench".into(),
            password,
            label: format!(
                "a throwaway Dovecot {} on 127.0.0.1:{} (plain IMAP)",
                crate::mail_servers::dovecot_version().unwrap_or_default(),
                dovecot.port
            ),
            _dovecot: Some(dovecot),
        })
    }

    async fn login(&self) -> anyhow::Result<madoguchi_mail::net::Session> {
        madoguchi_mail::net::imap_login(
            &self.host,
            i64::from(self.port),
            self.security,
            &self.user,
            &self.password,
        )
        .await
        .map_err(|f| anyhow::anyhow!("IMAP login to {}: {f}", self.label))
    }
}

/// What one backend's run measured.
struct Figures {
    label: String,
    appended: usize,
    imported: usize,
    /// APPEND answered → import seen, ms, sorted.
    latencies_ms: Vec<f64>,
    /// First APPEND sent → last import seen.
    elapsed: Duration,
    replies: usize,
    threaded: usize,
    conversations: usize,
    tickets: i64,
    attachments_expected: usize,
    attachments: i64,
    decoded: usize,
    peak_rss_kib: Option<u64>,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.imported as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn pct(&self, p: f64) -> f64 {
        if self.latencies_ms.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_ms.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_ms[i]
    }
}

pub async fn run_mail(args: MailBenchArgs) -> anyhow::Result<()> {
    let count = usize::try_from(args.count).context("--count")?;
    let run = madoguchi_core::ids::new_id()[..12].to_owned();
    let mails = generate(count, &run);
    let replies = mails.iter().filter(|m| m.parent.is_some()).count();
    let attachments = mails.iter().filter(|m| m.attachment).count();
    let mut by_body: Vec<String> = BODIES
        .iter()
        .map(|b| {
            let n = mails.iter().filter(|m| m.body == *b).count();
            format!("{n} {}", b.label())
        })
        .collect();
    by_body.retain(|s| !s.starts_with("0 "));
    let imap = Imap::new(&args).await?;
    println!(
        "madoguchi bench mail: {count} mails ({} new conversations, {replies} replies threading by \
         In-Reply-To onto earlier tickets, {attachments} with a PDF attachment; {}), {}",
        count - replies,
        by_body.join(", "),
        match args.rate {
            Some(rate) => format!("offered {rate} mails/s (open loop)"),
            None => "a burst (each APPEND as soon as the last one was answered)".to_owned(),
        }
    );
    println!(
        "setup: {} cores, {} build; IMAP: {}; madoguchi serve as a child process with a fresh data dir, \
         one mailbox (fetching with IDLE where the server offers it)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        imap.label
    );
    println!(
        "measured: APPEND answered -> the mail's row in desk_mail_message_ids (committed with its \
         ticket or thread), seen by polling the database every {} ms from the bench process",
        POLL.as_millis()
    );

    let mut backends = vec![("SQLite".to_owned(), None)];
    if let Some(url) = &args.database_url {
        backends.push(("PostgreSQL".to_owned(), Some(url.clone())));
    }
    let mut results = Vec::new();
    for (n, (label, url)) in backends.into_iter().enumerate() {
        eprintln!("  {label}");
        let figures = run_backend(&args, &imap, &mails, &run, n, url.as_deref())
            .await
            .with_context(|| format!("the run on {label}"))?;
        results.push(Figures { label, ..figures });
    }

    println!();
    println!(
        "{:<12} {:>9} {:>6} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10} {:>12} {:>10} {:>12}",
        "backend",
        "imported",
        "lost",
        "mails/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "threaded",
        "tickets",
        "attachments",
        "decoded",
        "peak RSS MiB"
    );
    for f in &results {
        println!(
            "{:<12} {:>9} {:>6} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>10} {:>10} {:>12} {:>10} {:>12}",
            f.label,
            f.imported,
            f.appended - f.imported,
            f.rate(),
            f.pct(0.50),
            f.pct(0.99),
            f.pct(1.0),
            format!("{}/{}", f.threaded, f.replies),
            format!("{}/{}", f.tickets, f.conversations),
            format!("{}/{}", f.attachments, f.attachments_expected),
            format!("{}/{}", f.decoded, f.appended),
            f.peak_rss_kib
                .map(|k| format!("{:.1}", k as f64 / 1024.0))
                .unwrap_or_else(|| "n/a".into()),
        );
    }
    println!();
    for f in &results {
        println!(
            "{}: imported {} of {}, lost {}, threaded {} of {}, tickets {} of {}, attachments {} of {}, decoded {} of {}",
            f.label,
            f.imported,
            f.appended,
            f.appended - f.imported,
            f.threaded,
            f.replies,
            f.tickets,
            f.conversations,
            f.attachments,
            f.attachments_expected,
            f.decoded,
            f.appended
        );
    }
    Ok(())
}

async fn run_backend(
    args: &MailBenchArgs,
    imap: &Imap,
    mails: &[BenchMail],
    run: &str,
    n: usize,
    database_url: Option<&str>,
) -> anyhow::Result<Figures> {
    // A folder of the run's own: empty, so the fetcher imports exactly these mails.
    let folder = format!("madoguchi-bench-{run}-{n}");
    let mut appender = imap.login().await?;
    appender
        .create(&folder)
        .await
        .with_context(|| format!("creating the IMAP folder {folder}"))?;

    let port = free_port()?;
    let dir = crate::mail_servers::temp_dir("bench-mail")?;
    let mut serve_args = vec![
        "serve".to_owned(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--data-dir".into(),
        dir.display().to_string(),
    ];
    if let Some(url) = database_url {
        serve_args.push("--database-url".into());
        serve_args.push(url.to_owned());
    }
    let server = ServerProcess::start(&serve_args, port).await?;
    let result = measure(args, imap, mails, run, &folder, &server, &dir, database_url).await;
    let peak_rss_kib = server.peak_rss_kib();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    if appender.delete(&folder).await.is_err() {
        eprintln!("  (could not delete the IMAP folder {folder})");
    }
    let _ = appender.logout().await;
    result.map(|f| Figures { peak_rss_kib, ..f })
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    args: &MailBenchArgs,
    imap: &Imap,
    mails: &[BenchMail],
    run: &str,
    folder: &str,
    server: &ServerProcess,
    dir: &std::path::Path,
    database_url: Option<&str>,
) -> anyhow::Result<Figures> {
    use reqwest::Method;
    let http = reqwest::Client::new();
    let base = &server.base;
    let signup = super::api(
        &http,
        Method::POST,
        format!("{base}/api/v1/auth/signup"),
        None,
        json!({"email": format!("bench-{run}@example.jp"), "password": "bench password", "name": "Bench"}),
    )
    .await?;
    let token = signup["token"].as_str().context("token")?.to_owned();
    let portal = format!("bench-{run}");
    super::api(
        &http,
        Method::POST,
        format!("{base}/desk/api/v1/portals"),
        Some(&token),
        json!({"portalName": portal, "displayName": "Bench"}),
    )
    .await?;
    let desk = format!("{base}/desk/api/v1/portals/{portal}");
    let mailbox = super::api(
        &http,
        Method::POST,
        format!("{desk}/mailboxes"),
        Some(&token),
        json!({
            "address": "support@bench.example",
            "displayName": "Bench サポート",
            "acknowledge": false,
            "imap": {"host": imap.host, "port": imap.port, "security": imap.security.as_str(),
                     "username": imap.user, "password": imap.password, "folder": folder},
            // Nothing is sent: no acknowledgements, no replies.
            "smtp": {"host": "127.0.0.1", "port": free_port()?, "security": "none"}
        }),
    )
    .await?;
    let mailbox_id = mailbox["id"].as_str().context("mailbox id")?.to_owned();
    // The fetcher is logged in and waiting before the first mail goes in.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = super::api(
            &http,
            Method::GET,
            format!("{desk}/mailboxes/{mailbox_id}"),
            Some(&token),
            Value::Null,
        )
        .await?;
        match m["status"]["state"].as_str() {
            Some("ok") => break,
            Some("error") => bail!("the mailbox reports {}", m["status"]["error"]),
            _ if Instant::now() > deadline => bail!("the mailbox did not start fetching"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }

    sqlx::any::install_default_drivers();
    let db_url = match database_url {
        Some(url) => url.to_owned(),
        None => format!("sqlite://{}?mode=ro", dir.join("madoguchi.db").display()),
    };
    let db = sqlx::any::AnyPoolOptions::new()
        .max_connections(2)
        .connect(&db_url)
        .await
        .context("opening the server's database to watch the imports")?;
    let portal_id: String =
        sqlx::query_scalar("select id from desk_portals where portal_name = $1")
            .bind(&portal)
            .fetch_one(&db)
            .await
            .context("the bench portal")?;

    // The watcher: first sight of each Message-ID, with its ticket.
    let seen: Arc<Mutex<HashMap<String, (Instant, String)>>> = Arc::default();
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let watcher = {
        let (db, seen, portal_id) = (db.clone(), seen.clone(), portal_id.clone());
        let total = mails.len();
        tokio::spawn(async move {
            // Rows carry the server's clock at import; a window of 5 s behind the newest
            // seen covers imports committing out of that order.
            let mut since: i64 = 0;
            loop {
                let rows = sqlx::query(
                    "select message_id, ticket_id, created_at from desk_mail_message_ids \
                     where portal_id = $1 and direction = 'in' and created_at >= $2",
                )
                .bind(&portal_id)
                .bind(since - 5_000)
                .fetch_all(&db)
                .await?;
                let now = Instant::now();
                let done = {
                    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                    for row in rows {
                        let id: String = row.try_get("message_id")?;
                        let ticket: String = row.try_get("ticket_id")?;
                        let at: i64 = row.try_get("created_at")?;
                        since = since.max(at);
                        seen.entry(id).or_insert((now, ticket));
                    }
                    seen.len() >= total
                };
                if done || *stop_rx.borrow() {
                    return anyhow::Ok(());
                }
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop_rx.changed() => {}
                }
            }
        })
    };

    // APPEND every mail on one connection, as fast as answered or at the offered rate.
    let mut appender = imap.login().await?;
    let mut appended_at: Vec<Instant> = Vec::with_capacity(mails.len());
    let started = Instant::now();
    let mut ticks = args
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| tokio::time::interval(Duration::from_secs_f64(1.0 / r)));
    for (i, mail) in mails.iter().enumerate() {
        if let Some(t) = ticks.as_mut() {
            t.tick().await;
        }
        appender
            .append(folder, None, None, &mail.raw)
            .await
            .with_context(|| format!("APPEND of mail {i}"))?;
        appended_at.push(Instant::now());
    }
    let _ = appender.logout().await;
    eprintln!(
        "    appended {} mails in {:.1} s; waiting for the imports",
        mails.len(),
        started.elapsed().as_secs_f64()
    );

    // Wait for every import, or until nothing new came for `stall_seconds`.
    let stall = Duration::from_secs(args.stall_seconds);
    let mut last = (0, Instant::now());
    loop {
        let n = seen.lock().unwrap_or_else(|p| p.into_inner()).len();
        if n >= mails.len() || watcher.is_finished() {
            break;
        }
        if n > last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() > stall {
            eprintln!("    no import for {} s: giving up", stall.as_secs());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(true);
    watcher.await.context("the database watcher")??;
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|p| p.into_inner()));

    let mut latencies_ms = Vec::with_capacity(mails.len());
    let mut last_seen = started;
    for (mail, appended) in mails.iter().zip(&appended_at) {
        if let Some((at, _)) = seen.get(&mail.message_id) {
            latencies_ms.push(at.saturating_duration_since(*appended).as_secs_f64() * 1000.0);
            last_seen = last_seen.max(*at);
        }
    }
    latencies_ms.sort_by(f64::total_cmp);
    let ticket_of = |i: usize| seen.get(&mails[i].message_id).map(|(_, t)| t.as_str());
    let threaded = mails
        .iter()
        .enumerate()
        .filter(|(i, m)| {
            m.parent.is_some() && ticket_of(*i).is_some() && ticket_of(*i) == ticket_of(m.root)
        })
        .count();

    // What the imports made: tickets, attachments, and the decoded text of each mail.
    let tickets: i64 = sqlx::query_scalar("select count(*) from desk_tickets where portal_id = $1")
        .bind(&portal_id)
        .fetch_one(&db)
        .await?;
    let attachments: i64 =
        sqlx::query_scalar("select count(*) from desk_thread_attachments where portal_id = $1")
            .bind(&portal_id)
            .fetch_one(&db)
            .await?;
    let rows = sqlx::query(
        "select m.message_id, t.content, k.subject from desk_mail_message_ids m \
         join desk_threads t on t.id = m.thread_id join desk_tickets k on k.id = m.ticket_id \
         where m.portal_id = $1 and m.direction = 'in'",
    )
    .bind(&portal_id)
    .fetch_all(&db)
    .await?;
    let mut texts: HashMap<String, (String, String)> = HashMap::new();
    for row in rows {
        texts.insert(
            row.try_get("message_id")?,
            (row.try_get("content")?, row.try_get("subject")?),
        );
    }
    let decoded = mails
        .iter()
        .filter(|m| {
            texts.get(&m.message_id).is_some_and(|(content, subject)| {
                content.contains(&m.marker)
                    && !content.contains("> ")
                    && *subject == mails[m.root].subject
            })
        })
        .count();
    db.close().await;
    let _ = super::api(
        &http,
        Method::DELETE,
        format!("{desk}/mailboxes/{mailbox_id}"),
        Some(&token),
        Value::Null,
    )
    .await;

    Ok(Figures {
        label: String::new(),
        appended: mails.len(),
        imported: seen.len().min(mails.len()),
        latencies_ms,
        elapsed: last_seen.saturating_duration_since(started),
        replies: mails.iter().filter(|m| m.parent.is_some()).count(),
        threaded,
        conversations: mails.iter().filter(|m| m.parent.is_none()).count(),
        tickets,
        attachments_expected: mails.iter().filter(|m| m.attachment).count(),
        attachments,
        decoded,
        peak_rss_kib: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_has_every_encoding_replies_and_attachments() {
        let mails = generate(40, "t");
        for b in BODIES {
            assert!(mails.iter().any(|m| m.body == b), "{b:?}");
        }
        assert_eq!(mails.iter().filter(|m| m.parent.is_some()).count(), 9);
        assert_eq!(mails.iter().filter(|m| m.attachment).count(), 1);
        for (i, m) in mails.iter().enumerate() {
            if let Some(p) = m.parent {
                assert!(p < i);
                assert!(m.subject.starts_with("Re: "));
            }
            assert!(m.raw.is_ascii() || m.body == Body::HtmlOnly, "mail {i}");
        }
    }

    #[test]
    fn the_mails_decode_to_what_they_say() {
        for m in generate(24, "t") {
            let parsed = mail_parser::MessageParser::default()
                .parse(&m.raw)
                .expect("a mail");
            assert_eq!(parsed.subject(), Some(m.subject.as_str()), "{:?}", m.body);
            let text = parsed
                .body_text(0)
                .map(|t| t.into_owned())
                .or_else(|| parsed.body_html(0).map(|t| t.into_owned()))
                .unwrap_or_default();
            assert!(text.contains(&m.marker), "{:?}: {text}", m.body);
        }
    }

    #[test]
    fn quoted_printable_keeps_lines_short_and_escapes_non_ascii() {
        let qp = quoted_printable(&"あ".repeat(40));
        assert!(qp.lines().all(|l| l.len() <= 76));
        assert!(qp.starts_with("=E3=81=82"));
    }
}
