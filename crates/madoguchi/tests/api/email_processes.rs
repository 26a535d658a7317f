//! The email channel in real `madoguchi serve` processes: killed with SIGKILL between
//! fetching a mail and committing its import (E3: each mail imported exactly once after
//! the restart), and a dead node's mailbox taken over by another (E8).

use crate::helpers::PgDatabase;
use crate::mail_servers::{available, Dovecot, SmtpSink, PASSWORD};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use madoguchi_testkit::process::Serve as Node;
use madoguchi_testkit::wait::until;

/// `madoguchi serve` of this build on `data_dir` (and PostgreSQL at `database_url`),
/// aborting at the fault point `fault`.
async fn node(data_dir: &Path, database_url: Option<&str>, fault: Option<&str>) -> Node {
    let extra: Vec<String> = database_url
        .map(|url| vec!["--database-url".into(), url.to_owned()])
        .unwrap_or_default();
    Node::start(env!("CARGO_BIN_EXE_madoguchi"), data_dir, &extra, fault).await
}

/// The tickets of portal `acme` on `node`.
async fn tickets(node: &Node, token: &str) -> Vec<Value> {
    let (_, body) = node
        .call(
            reqwest::Method::GET,
            "/desk/api/v1/portals/acme/tickets?limit=200",
            Some(token),
            None,
        )
        .await;
    body["data"].as_array().cloned().unwrap_or_default()
}

/// Signs up, makes portal `acme` and its mailbox on `imap`; answers the token.
async fn setup(node: &Node, imap: &Dovecot, smtp_port: u16) -> String {
    let (status, body) = node
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/signup",
            None,
            Some(json!({"email": "admin@acme.example", "password": "long-enough-pw", "name": "Admin"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, _) = node
        .call(
            reqwest::Method::POST,
            "/desk/api/v1/portals",
            Some(&token),
            Some(json!({"portalName": "acme", "displayName": "ACME"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = node
        .call(
            reqwest::Method::POST,
            "/desk/api/v1/portals/acme/mailboxes",
            Some(&token),
            Some(json!({
                "address": "support@acme.example", "displayName": "ACME",
                "imap": {"host": "127.0.0.1", "port": imap.port, "security": "none",
                         "username": "support", "password": PASSWORD},
                "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none"}
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    token
}

fn mail(n: u32) -> Vec<u8> {
    format!(
        "From: customer{n}@customer.example\r\nTo: support@acme.example\r\nSubject: Question {n}\r\n\
         Message-ID: <q{n}@customer.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n質問 {n}\r\n"
    )
    .into_bytes()
}

async fn wait_tickets(node: &Node, token: &str, n: usize, secs: u64) -> Vec<Value> {
    let what = format!("{n} tickets");
    until(Duration::from_secs(secs), &what, || async {
        let t = tickets(node, token).await;
        (t.len() >= n).then_some(t)
    })
    .await
}

fn data_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "madoguchi-mailproc-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).expect("data dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e3_a_server_killed_between_fetch_and_commit_imports_each_mail_exactly_once() {
    if !available() {
        return;
    }
    let imap = Dovecot::start().await;
    let smtp = SmtpSink::start().await;
    let dir = data_dir();
    let mut node = node(&dir, None, Some("mail-after-fetch")).await;
    let token = setup(&node, &imap, smtp.port).await;
    imap.append("support", &mail(1)).await;
    // The fetcher aborts the process after fetching, before the import commits.
    node.wait_exit().await;
    node.restart_with_fault(Some("mail-after-commit")).await;
    // Now it imports mail 1 and dies right after the commit, before telling the server.
    node.wait_exit().await;
    node.restart_with_fault(None).await;
    imap.append("support", &mail(2)).await;
    let t = wait_tickets(&node, &token, 2, 30).await;
    imap.append("support", &mail(3)).await;
    let t3 = wait_tickets(&node, &token, 3, 30).await;
    assert_eq!(t.len(), 2);
    assert_eq!(t3.len(), 3, "each mail exactly once");
    let subjects: Vec<&str> = t3.iter().filter_map(|t| t["subject"].as_str()).collect();
    for n in 1..=3 {
        assert_eq!(
            subjects
                .iter()
                .filter(|s| **s == format!("Question {n}"))
                .count(),
            1,
            "{subjects:?}"
        );
    }
    // Nothing was removed from the server.
    assert_eq!(imap.maildir_files("support").len(), 3);
    node.kill9();
    let _ = std::fs::remove_dir_all(&dir);
}

/// E8 on PostgreSQL: two nodes, one lease; the holder killed, the other fetches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e8_postgres_one_node_fetches_and_a_dead_nodes_mailbox_is_taken_over() {
    if !available() {
        return;
    }
    let Some(admin_url) = madoguchi_testkit::env_setting("MADOGUCHI_TEST_DATABASE_URL") else {
        crate::helpers::say_skipped("MADOGUCHI_TEST_DATABASE_URL is not set");
        return;
    };
    let pg = PgDatabase::create(&admin_url).await;
    let imap = Dovecot::start().await;
    let smtp = SmtpSink::start().await;
    let (dir_a, dir_b) = (data_dir(), data_dir());
    let mut a = node(&dir_a, Some(&pg.url), None).await;
    let token = setup(&a, &imap, smtp.port).await;
    imap.append("support", &mail(1)).await;
    wait_tickets(&a, &token, 1, 30).await;
    let db = madoguchi_core::Db::connect(&pg.url)
        .await
        .expect("the database");
    let owner = || async {
        let row: (Option<String>,) = sqlx::query_as("select lease_owner from desk_mailboxes")
            .fetch_one(db.pool())
            .await
            .expect("the lease");
        row.0
    };
    let first = owner().await.expect("node A holds the lease");
    let b = node(&dir_b, Some(&pg.url), None).await;
    // B sees the lease held and leaves the mailbox alone while A lives.
    imap.append("support", &mail(2)).await;
    wait_tickets(&b, &token, 2, 30).await;
    assert_eq!(
        owner().await.as_deref(),
        Some(first.as_str()),
        "exactly one node fetches"
    );
    a.kill9();
    imap.append("support", &mail(3)).await;
    let started = Instant::now();
    let t = wait_tickets(&b, &token, 3, 60).await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "handed over within a minute"
    );
    assert_eq!(t.len(), 3);
    let now = owner().await.expect("node B holds the lease");
    assert_ne!(now, first);
    db.close().await;
    drop(b);
    let _ = std::fs::remove_dir_all(&dir_a);
    let _ = std::fs::remove_dir_all(&dir_b);
}

/// E8 on SQLite (one node per data directory): a node killed with SIGKILL leaves its
/// lease behind; the next node on the data directory takes the mailbox over once the
/// lease ran out, well within a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e8_sqlite_a_dead_nodes_lease_runs_out_and_the_next_node_fetches() {
    if !available() {
        return;
    }
    let imap = Dovecot::start().await;
    let smtp = SmtpSink::start().await;
    let dir = data_dir();
    let mut node = node(&dir, None, None).await;
    let token = setup(&node, &imap, smtp.port).await;
    imap.append("support", &mail(1)).await;
    wait_tickets(&node, &token, 1, 30).await;
    node.kill9();
    node.restart_with_fault(None).await;
    imap.append("support", &mail(2)).await;
    let started = Instant::now();
    let t = wait_tickets(&node, &token, 2, 60).await;
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(t.len(), 2);
    node.kill9();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `madoguchi bench mail` (issue 11 "Done when") with 20 mails against its own throwaway
/// Dovecot: every mail imported once, the replies on their tickets, the legacy charsets
/// decoded; on SQLite and, when configured, PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2_bench_mail_imports_20_mixed_mails_and_loses_none() {
    if !available() {
        return;
    }
    let pg = match std::env::var("MADOGUCHI_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(PgDatabase::create(&url).await),
        _ => None,
    };
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_madoguchi"));
    cmd.args(["bench", "mail", "--count", "20", "--stall-seconds", "30"])
        .env_remove("MADOGUCHI_BENCH_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    if let Some(pg) = &pg {
        cmd.args(["--database-url", &pg.url]);
    }
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .expect("the bench finishes")
        .expect("the bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let mut backends = vec!["SQLite"];
    if pg.is_some() {
        backends.push("PostgreSQL");
    }
    for backend in backends {
        let line = format!(
            "{backend}: imported 20 of 20, lost 0, threaded 4 of 4, tickets 16 of 16, \
             attachments 1 of 1, decoded 20 of 20"
        );
        assert!(
            stdout.contains(&line),
            "expected «{line}» in\n{stdout}\n{stderr}"
        );
    }
    assert!(
        stdout.contains("p50 ms") && stdout.contains("mails/s"),
        "{stdout}"
    );
    assert!(stdout.contains("polling the database"), "{stdout}");
}
