//! `madoguchi bench chat`: simulated visitors and operators over real WebSockets on
//! loopback (issue "Chat app" §7). The server under test runs as a child process
//! (`madoguchi serve`), so its peak RSS is its own; the same load also runs against a
//! bare WebSocket relay with no storage (`madoguchi bench-relay`) and our throughput is
//! printed as a ratio of it.

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

pub mod mail;

#[derive(clap::Args, Debug, Clone)]
pub struct ChatBenchArgs {
    /// Visitors that send messages (one chat each, one message in flight each).
    #[arg(long, default_value_t = 200)]
    pub visitors: usize,
    /// Extra visitor connections held open and idle while the load runs.
    #[arg(long, default_value_t = 2000)]
    pub idle: usize,
    /// Messages each active visitor sends.
    #[arg(long, default_value_t = 25)]
    pub messages: usize,
    /// Offered load in messages/s over all active visitors (open loop, for latency at
    /// that rate); without it each visitor sends as soon as its last message is acked.
    #[arg(long)]
    pub rate: Option<u64>,
    /// Also run against PostgreSQL (a database the bench may fill).
    #[arg(long, env = "MADOGUCHI_BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Also print latency per quarter second of the run (to see stalls, not just
    /// that the tail is long).
    #[arg(long)]
    pub timeline: bool,
    /// Also run SQLite with `serve --sync full` (an fsync per group commit), printed
    /// beside the default `normal`.
    #[arg(long)]
    pub sync_full: bool,
}

struct Figures {
    label: String,
    connections: usize,
    messages: u64,
    elapsed: Duration,
    /// Visitor → operator delivery, sorted.
    latencies_us: Vec<u64>,
    /// Visitor send → its ack (the message is committed), sorted.
    acks_us: Vec<u64>,
    /// Messages the operator never received, and ones it received twice.
    lost: u64,
    duplicated: u64,
    peak_rss_kib: Option<u64>,
    /// The server's use while the messages were sent: CPU µs and storage bytes a message.
    cpu_us_per_message: Option<f64>,
    disk_bytes_per_message: Option<f64>,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The `p` quantile of sorted µs samples, in ms.
fn pct(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    sorted_us[i] as f64 / 1000.0
}

/// A child server process, killed when dropped.
struct ServerProcess {
    child: Child,
    base: String,
    /// Under a profiler: stopped with SIGTERM, so that the profiler writes its output.
    wrapped: bool,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.wrapped {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    async fn start(args: &[String], port: u16) -> anyhow::Result<Self> {
        Self::start_wrapped(args, port, None).await
    }

    /// Starts the server, under `wrapper` (a command line such as `valgrind
    /// --tool=callgrind`) when given: the product's server, to profile it on the
    /// bench's load (README "Where a message's time goes").
    async fn start_wrapped(
        args: &[String],
        port: u16,
        wrapper: Option<&str>,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the madoguchi executable")?;
        let mut command = match wrapper.map(|w| w.split_whitespace().collect::<Vec<_>>()) {
            Some(words) if !words.is_empty() => {
                let mut c = Command::new(words[0]);
                c.args(&words[1..]).arg(exe);
                c
            }
            _ => Command::new(exe),
        };
        // A profiler slows start-up (the migrations) many times over.
        let ready_within = Duration::from_secs(if wrapper.is_some() { 600 } else { 30 });
        let child = command
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("MADOGUCHI_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the server under test")?;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + ready_within;
        while Instant::now() < deadline {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
                if r.status().is_success() {
                    let wrapped = wrapper.is_some();
                    return Ok(Self {
                        child,
                        base,
                        wrapped,
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the server under test did not become ready")
    }

    /// What the server has used so far: CPU (user + system) and bytes it sent to storage.
    fn usage(&self) -> Option<Usage> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // The fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name;
        // Linux counts them in 100 Hz ticks whatever the kernel's own tick rate.
        let cpu_us = (ticks(11)? + ticks(12)?) * 10_000;
        let io = std::fs::read_to_string(format!("/proc/{}/io", self.child.id())).ok()?;
        let write_bytes = io
            .lines()
            .find_map(|l| l.strip_prefix("write_bytes:"))
            .and_then(|v| v.trim().parse().ok())?;
        Some(Usage {
            cpu_us,
            write_bytes,
        })
    }

    fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }
}

/// A server's resource use at one moment ([`ServerProcess::usage`]).
#[derive(Clone, Copy)]
struct Usage {
    cpu_us: u64,
    write_bytes: u64,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Where the load goes: the product's routes, or the relay's.
struct Target {
    visitor_ws: Vec<String>,
    idle_ws: Vec<String>,
    operator_ws: String,
}

pub async fn run_chat(args: ChatBenchArgs) -> anyhow::Result<()> {
    println!(
        "madoguchi bench chat: {} active visitors x {} messages, {} idle visitor connections, {}",
        args.visitors,
        args.messages,
        args.idle,
        match args.rate {
            Some(rate) => format!("offered {rate} messages/s (open loop)"),
            None => "closed loop".to_owned(),
        }
    );
    let mut results = Vec::new();

    let port = free_port()?;
    let relay = ServerProcess::start(
        &[
            "bench-relay".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
        ],
        port,
    )
    .await?;
    let target = relay_target(&relay.base, &args);
    let mut figures = drive(&target, &args, &relay)
        .await
        .context("driving the bare relay")?;
    figures.label = "bare relay (no storage)".into();
    figures.peak_rss_kib = relay.peak_rss_kib();
    drop(relay);
    results.push(figures);

    let mut backends = vec![("SQLite".to_owned(), None, "normal")];
    if args.sync_full {
        backends.push(("SQLite, --sync full".to_owned(), None, "full"));
    }
    if let Some(url) = &args.database_url {
        backends.push(("PostgreSQL".to_owned(), Some(url.clone()), "normal"));
    }
    for (label, url, sync) in backends {
        let port = free_port()?;
        let dir =
            std::env::temp_dir().join(format!("madoguchi-bench-{}-{port}", std::process::id()));
        let mut serve_args = vec![
            "serve".to_owned(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--data-dir".into(),
            dir.display().to_string(),
            "--widget-rate-limit".into(),
            "off".into(),
            "--sync".into(),
            sync.into(),
        ];
        if let Some(url) = &url {
            serve_args.push("--database-url".into());
            serve_args.push(url.clone());
        }
        let wrapper = std::env::var("MADOGUCHI_BENCH_WRAP").ok();
        let server = ServerProcess::start_wrapped(&serve_args, port, wrapper.as_deref()).await?;
        let target = product_target(&server.base, &args).await?;
        let mut figures = drive(&target, &args, &server)
            .await
            .with_context(|| format!("driving madoguchi on {label}"))?;
        figures.label = format!("madoguchi on {label}");
        figures.peak_rss_kib = server.peak_rss_kib();
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
        results.push(figures);
    }

    println!();
    println!(
        "{:<28} {:>11} {:>10} {:>8} {:>8} {:>8} {:>9} {:>9} {:>6} {:>6} {:>9} {:>6} {:>8} {:>8}",
        "target",
        "connections",
        "msgs/s",
        "ack p50",
        "ack p99",
        "ack p999",
        "deliv p50",
        "deliv p99",
        "lost",
        "dup",
        "RSS MiB",
        "ratio",
        "CPU µs",
        "disk KiB"
    );
    let relay_rate = results.first().map(Figures::rate).unwrap_or(f64::NAN);
    for f in &results {
        println!(
            "{:<28} {:>11} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>9.2} {:>6} {:>6} {:>9} {:>6.2} {:>8} {:>8}",
            f.label,
            f.connections,
            f.rate(),
            pct(&f.acks_us, 0.50),
            pct(&f.acks_us, 0.99),
            pct(&f.acks_us, 0.999),
            pct(&f.latencies_us, 0.50),
            pct(&f.latencies_us, 0.99),
            f.lost,
            f.duplicated,
            f.peak_rss_kib
                .map(|k| format!("{:.1}", k as f64 / 1024.0))
                .unwrap_or_else(|| "n/a".into()),
            f.rate() / relay_rate,
            f.cpu_us_per_message
                .map(|c| format!("{c:.0}"))
                .unwrap_or_else(|| "n/a".into()),
            f.disk_bytes_per_message
                .map(|d| format!("{:.1}", d / 1024.0))
                .unwrap_or_else(|| "n/a".into()),
        );
    }
    println!("(latencies in ms; ack: the visitor's send to its ack, which follows the commit; deliv: to the operator's socket;");
    println!(" CPU µs and disk KiB: the server's user + system CPU and bytes sent to storage while sending, per message)");
    Ok(())
}

fn relay_target(base: &str, args: &ChatBenchArgs) -> Target {
    let ws = base.replacen("http", "ws", 1);
    Target {
        visitor_ws: (0..args.visitors)
            .map(|i| format!("{ws}/relay/visitor/{i}"))
            .collect(),
        idle_ws: (0..args.idle)
            .map(|i| format!("{ws}/relay/visitor/idle-{i}"))
            .collect(),
        operator_ws: format!("{ws}/relay/operator"),
    }
}

async fn api(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Value,
) -> anyhow::Result<Value> {
    let mut req = http.request(method, &url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.with_context(|| url.clone())?;
    let status = res.status();
    let value: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{url}: {status} {value}");
    }
    Ok(value)
}

/// Sets up a portal with an available operator and one chat per visitor, accepted.
async fn product_target(base: &str, args: &ChatBenchArgs) -> anyhow::Result<Target> {
    use reqwest::Method;
    let http = reqwest::Client::new();
    let signup = api(
        &http,
        Method::POST,
        format!("{base}/api/v1/auth/signup"),
        None,
        json!({"email": "bench@example.jp", "password": "bench password", "name": "Bench"}),
    )
    .await?;
    let token = signup["token"].as_str().context("token")?.to_owned();
    let portal = "bench";
    api(
        &http,
        Method::POST,
        format!("{base}/chat/api/v1/portals"),
        Some(&token),
        json!({"portalName": portal, "displayName": "Bench"}),
    )
    .await?;
    let chat_api = format!("{base}/chat/api/v1/portals/{portal}");
    api(
        &http,
        Method::POST,
        format!("{chat_api}/departments"),
        Some(&token),
        json!({"name": "Support"}),
    )
    .await?;
    // The idle visitors wait unanswered for the whole run: messaging is measured, not
    // the timer turning thousands of waiting chats missed at the default 2 minutes.
    api(
        &http,
        Method::PATCH,
        format!("{chat_api}/settings"),
        Some(&token),
        json!({"missedAfterSeconds": 3600}),
    )
    .await?;
    api(
        &http,
        Method::PUT,
        format!("{chat_api}/me/availability"),
        Some(&token),
        json!({"status": "available"}),
    )
    .await?;

    let total = args.visitors + args.idle;
    eprintln!("  starting {total} chats");
    let created: Arc<Mutex<Vec<(usize, String, String)>>> = Arc::default();
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    let active = args.visitors;
    for _ in 0..32 {
        let (http, base, created, next, token) = (
            http.clone(),
            base.to_owned(),
            created.clone(),
            next.clone(),
            token.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= total {
                    return anyhow::Ok(());
                }
                let chat = api(&http, Method::POST, format!("{base}/chat/widget/v1/{portal}/chats"), None,
                    json!({"question": format!("bench visitor {i}"), "clientMessageId": format!("q-{i}")})).await?;
                let id = chat["chatId"].as_str().context("chatId")?.to_owned();
                let vt = chat["visitorToken"].as_str().context("visitorToken")?.to_owned();
                // Only the active visitors' chats are accepted; idle ones stay in the queue.
                if i < active {
                    api(&http, Method::POST, format!("{base}/chat/api/v1/portals/{portal}/chats/{id}/accept"), Some(&token), json!({})).await?;
                }
                created.lock().unwrap_or_else(|p| p.into_inner()).push((i, id, vt));
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    let mut created = std::mem::take(&mut *created.lock().unwrap_or_else(|p| p.into_inner()));
    created.sort_by_key(|(i, _, _)| *i);
    let ws = base.replacen("http", "ws", 1);
    let url = |(_, id, vt): &(usize, String, String)| {
        format!("{ws}/chat/widget/v1/{portal}/chats/{id}/ws?token={vt}&afterSeq=1")
    };
    Ok(Target {
        visitor_ws: created[..args.visitors].iter().map(url).collect(),
        idle_ws: created[args.visitors..].iter().map(url).collect(),
        operator_ws: format!("{ws}/chat/api/v1/portals/{portal}/ws?token={token}"),
    })
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The bench's sockets' read buffer (see [`connect`]).
const CLIENT_READ_BUFFER_BYTES: usize = 4096;

async fn connect(url: &str) -> anyhow::Result<Ws> {
    // tungstenite zeroes its whole read buffer (128 KiB by default) for every read: at
    // 10,000 messages/s that was a third of the load generator's CPU, taken from the
    // server it shares the cores with. Frames here are a few hundred bytes.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(CLIENT_READ_BUFFER_BYTES);
    // The client keeps Nagle, as in the load the issue measured.
    let disable_nagle = false;
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(config), disable_nagle)
            .await
            .with_context(|| format!("connecting {url}"))?;
    // Wait for {type:"ready"}.
    while let Some(msg) = ws.next().await {
        if let Message::Text(t) = msg? {
            let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
            if v["type"] == "ready" {
                return Ok(ws);
            }
        }
    }
    bail!("{url} closed before ready")
}

async fn connect_all(urls: &[String]) -> anyhow::Result<Vec<Ws>> {
    let mut out = Vec::with_capacity(urls.len());
    for chunk in urls.chunks(64) {
        let conns = futures::future::join_all(chunk.iter().map(|u| connect(u))).await;
        for c in conns {
            out.push(c?);
        }
    }
    Ok(out)
}

async fn drive(
    target: &Target,
    args: &ChatBenchArgs,
    server: &ServerProcess,
) -> anyhow::Result<Figures> {
    eprintln!(
        "  connecting {} sockets",
        target.idle_ws.len() + target.visitor_ws.len() + 1
    );
    let idle = connect_all(&target.idle_ws).await?;
    let operator = connect(&target.operator_ws).await?;
    let visitors = connect_all(&target.visitor_ws).await?;
    let connections = idle.len() + visitors.len() + 1;

    let epoch = Instant::now();
    // (sent at, latency), µs since `epoch`.
    let latencies: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let expected = (args.visitors * args.messages) as u64;
    let received = Arc::new(AtomicU64::new(0));
    let duplicated = Arc::new(AtomicU64::new(0));
    let (_op_tx, mut op_rx) = operator.split();
    let reader = {
        let latencies = latencies.clone();
        let received = received.clone();
        let duplicated = duplicated.clone();
        tokio::spawn(async move {
            let mut seen: HashMap<String, u64> = HashMap::new();
            while let Some(Ok(msg)) = op_rx.next().await {
                let Message::Text(t) = msg else { continue };
                let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                if v["type"] != "message" || v["message"]["sender"] != "visitor" {
                    continue;
                }
                let text = v["message"]["text"].as_str().unwrap_or("");
                let Some(sent_us) = text
                    .strip_prefix("bench:")
                    .and_then(|s| s.split(':').next())
                    .and_then(|s| s.parse::<u64>().ok())
                else {
                    continue;
                };
                let key = v["chatId"].as_str().unwrap_or("").to_owned();
                let seq = v["message"]["seq"].as_u64().unwrap_or(0);
                if seen.get(&key).is_some_and(|s| *s >= seq) {
                    duplicated.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                seen.insert(key, seq);
                let now = epoch.elapsed().as_micros() as u64;
                latencies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((sent_us, now.saturating_sub(sent_us)));
                if received.fetch_add(1, Ordering::Relaxed) + 1 >= expected {
                    return;
                }
            }
        })
    };

    eprintln!("  sending");
    let before = server.usage();
    let started = Instant::now();
    // Open loop (`--rate`): each visitor sends on its own clock, staggered, whether or
    // not earlier messages were acknowledged, so latency is measured at that load.
    // Closed loop: each visitor waits for the ack of one message before the next.
    let pace = args
        .rate
        .map(|rate| Duration::from_secs_f64(args.visitors as f64 / rate.max(1) as f64));
    let visitor_count = visitors.len().max(1) as u32;
    let mut senders = Vec::new();
    for (v, ws) in visitors.into_iter().enumerate() {
        let messages = args.messages;
        senders.push(tokio::spawn(async move {
            let (mut sink, mut stream) = ws.split();
            // The reader counts acks and tells the sender about each one.
            let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
            let acks = tokio::spawn(async move {
                let mut acked = 0;
                let mut ack_us = Vec::with_capacity(messages);
                while acked < messages {
                    match stream.next().await {
                        Some(Ok(Message::Text(t))) => {
                            let a: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                            match a["type"].as_str() {
                                Some("ack") => {
                                    acked += 1;
                                    // The client message id ends with its send time.
                                    let sent = a["clientMessageId"]
                                        .as_str()
                                        .and_then(|c| c.rsplit('-').next())
                                        .and_then(|s| s.parse::<u64>().ok());
                                    if let Some(sent) = sent {
                                        let now = epoch.elapsed().as_micros() as u64;
                                        ack_us.push(now.saturating_sub(sent));
                                    }
                                    let _ = acked_tx.send(());
                                }
                                Some("error") => bail!("visitor {v}: {a}"),
                                _ => {}
                            }
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            return Err(anyhow::anyhow!(e))
                                .with_context(|| format!("visitor {v} waiting for acks"))
                        }
                        None => bail!("visitor {v}: socket closed"),
                    }
                }
                anyhow::Ok((stream, ack_us))
            });
            let mut ticks = pace.map(|pace| {
                let offset = pace * (v as u32 % visitor_count) / visitor_count;
                tokio::time::interval_at(tokio::time::Instant::now() + offset, pace)
            });
            for m in 0..messages {
                if let Some(ticks) = ticks.as_mut() {
                    ticks.tick().await;
                }
                let sent = epoch.elapsed().as_micros() as u64;
                let cid = format!("b-{v}-{m}-{sent}");
                let frame = json!({"type": "message", "text": format!("bench:{sent}:{v}"), "clientMessageId": cid});
                sink.send(Message::Text(frame.to_string().into()))
                    .await
                    .with_context(|| format!("visitor {v} sending message {m}"))?;
                if pace.is_none() && acked_rx.recv().await.is_none() {
                    // The reader stopped: its error says why.
                    break;
                }
            }
            let (stream, ack_us) = acks.await??;
            let ws = sink.reunite(stream).map_err(|e| anyhow::anyhow!("{e}"))?;
            anyhow::Ok((ws, ack_us))
        }));
    }
    let mut keep = Vec::new();
    let mut acks_us = Vec::new();
    for s in senders {
        let (ws, ack_us) = s.await??;
        keep.push(ws);
        acks_us.extend(ack_us);
    }
    acks_us.sort_unstable();
    let acked_elapsed = started.elapsed();
    let _ = tokio::time::timeout(Duration::from_secs(30), reader).await;
    let used = before.zip(server.usage()).map(|(a, b)| {
        let per = |x: u64, y: u64| y.saturating_sub(x) as f64 / expected.max(1) as f64;
        (per(a.cpu_us, b.cpu_us), per(a.write_bytes, b.write_bytes))
    });
    let samples = std::mem::take(&mut *latencies.lock().unwrap_or_else(|p| p.into_inner()));
    if args.timeline {
        print_timeline(&samples);
    }
    let mut latencies_us: Vec<u64> = samples.iter().map(|(_, l)| *l).collect();
    latencies_us.sort_unstable();
    drop(idle);
    drop(keep);
    let received = received.load(Ordering::Relaxed);
    Ok(Figures {
        label: String::new(),
        connections,
        messages: expected,
        elapsed: acked_elapsed,
        latencies_us,
        acks_us,
        lost: expected.saturating_sub(received),
        duplicated: duplicated.load(Ordering::Relaxed),
        peak_rss_kib: None,
        cpu_us_per_message: used.map(|u| u.0),
        disk_bytes_per_message: used.map(|u| u.1),
    })
}

/// Latency by quarter second of sending time: count, p50, max.
fn print_timeline(samples: &[(u64, u64)]) {
    const WINDOW_US: u64 = 250_000;
    let mut windows: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
    for (at, latency) in samples {
        windows.entry(at / WINDOW_US).or_default().push(*latency);
    }
    println!("{:>8} {:>7} {:>9} {:>9}", "t s", "sent", "p50 ms", "max ms");
    for (window, mut latencies) in windows {
        latencies.sort_unstable();
        println!(
            "{:>8.2} {:>7} {:>9.2} {:>9.2}",
            (window * WINDOW_US) as f64 / 1e6,
            latencies.len(),
            latencies[latencies.len() / 2] as f64 / 1000.0,
            latencies[latencies.len() - 1] as f64 / 1000.0
        );
    }
}

/// The baseline: a WebSocket relay that acknowledges and forwards with no storage.
pub async fn run_relay(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    use axum::extract::ws::{Message as AxMessage, WebSocket, WebSocketUpgrade};
    use axum::extract::{Path, State};
    use axum::routing::get;
    use madoguchi_web::chat::ws::small_buffers;
    use tokio::sync::broadcast;

    let (tx, _) = broadcast::channel::<String>(65536);
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/relay/visitor/{id}",
            get(|Path(id): Path<String>, State(tx): State<broadcast::Sender<String>>, ws: WebSocketUpgrade| async move {
                small_buffers(ws).on_upgrade(move |mut socket: WebSocket| async move {
                    let _ = socket.send(AxMessage::Text(r#"{"type":"ready"}"#.into())).await;
                    let mut seq = 1u64;
                    while let Some(Ok(AxMessage::Text(t))) = socket.recv().await {
                        let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                        if v["type"] != "message" {
                            continue;
                        }
                        seq += 1;
                        let ack = json!({"type": "ack", "clientMessageId": v["clientMessageId"], "seq": seq});
                        let _ = socket.send(AxMessage::Text(ack.to_string().into())).await;
                        let ev = json!({"type": "message", "chatId": id, "message": {"seq": seq, "sender": "visitor", "text": v["text"]}});
                        let _ = tx.send(ev.to_string());
                    }
                })
            }),
        )
        .route(
            "/relay/operator",
            get(|State(tx): State<broadcast::Sender<String>>, ws: WebSocketUpgrade| async move {
                small_buffers(ws).on_upgrade(move |mut socket: WebSocket| async move {
                    let mut rx = tx.subscribe();
                    let _ = socket.send(AxMessage::Text(r#"{"type":"ready"}"#.into())).await;
                    loop {
                        match rx.recv().await {
                            Ok(ev) => {
                                if socket.send(AxMessage::Text(ev.into())).await.is_err() {
                                    return;
                                }
                            }
                            Err(broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(_) => return,
                        }
                    }
                })
            }),
        )
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
