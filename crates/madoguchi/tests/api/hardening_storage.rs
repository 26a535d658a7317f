//! SPEC Q6 hardening, storage and scope: the integration's view scope holds on every
//! per-ticket route (I14), a second process on one SQLite data directory refuses to
//! start, and a database that cannot be written shows in `/healthz` and as 503
//! `storage_unavailable` rather than as `ok` and 500s.
#![allow(clippy::unwrap_used)]

use crate::both_backends;
use crate::helpers::{test_settings, Backend, Res, TestApp};
use crate::integration::{ScopeFixture, World};
use madoguchi_core::{Clock, Db};
use madoguchi_web::Application;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

both_backends!(q6_view_scope_hides_a_ticket_from_every_per_ticket_route);

/// I14 + Q6: with "associated departments", a ticket of an unmapped Desk department is
/// out of a mapped chat's reach by id as well as in the lists: details, status, replies
/// and associate answer 404 `not_found` and change nothing; an in-scope ticket works,
/// and Choose as needed (or the scope "all") reaches both.
async fn q6_view_scope_hides_a_ticket_from_every_per_ticket_route(app: TestApp) {
    let w = World::new(app).await;
    let ScopeFixture {
        chat_support,
        chat_choose,
        inside,
        outside,
    } = w.associated_scope().await;
    let mapped = w
        .start_chat(None, Some("ito@example.jp"), Some(&chat_support), "q")
        .await;
    let t = w.token();
    let ticket = |id: &str| w.desk_of(&mapped, &format!("/tickets/{id}"));
    let replies = |id: &str| w.desk_of(&mapped, &format!("/tickets/{id}/replies"));

    // Outside the scope: every per-ticket route is 404, as if the ticket did not exist.
    w.app
        .get(&ticket(&outside), t)
        .await
        .assert_error(404, "not_found");
    w.app
        .patch(&ticket(&outside), t, json!({"status": "Closed"}))
        .await
        .assert_error(404, "not_found");
    w.app
        .post(&replies(&outside), t, json!({"content": "漏れた返信"}))
        .await
        .assert_error(404, "not_found");
    w.app
        .post(
            &w.desk_of(&mapped, "/associate"),
            t,
            json!({"ticketId": outside}),
        )
        .await
        .assert_error(404, "not_found");
    // … and nothing happened to it.
    let desk_view = w
        .app
        .get(&w.desk_api(&format!("/tickets/{outside}")), t)
        .await;
    desk_view.assert_status(200);
    assert_eq!(desk_view["status"], "Open", "the status was not changed");
    let threads = w.threads(&outside).await;
    assert!(
        threads.iter().all(|th| th["kind"] != "reply"
            && th["content"].as_str().is_none_or(|c| !c.contains("漏れた"))),
        "no reply reached the ticket: {threads:?}"
    );
    assert!(
        threads.iter().all(|th| th["chatId"] != mapped.as_str()),
        "the chat was not associated: {threads:?}"
    );
    let panel = w.app.get(&w.desk_of(&mapped, ""), t).await;
    panel.assert_status(200);
    assert_eq!(panel["linkedTickets"], json!([]));

    // Inside the scope every route works.
    let shown = w.app.get(&ticket(&inside), t).await;
    shown.assert_status(200);
    assert_eq!(shown["subject"], "scope in");
    let closed = w
        .app
        .patch(&ticket(&inside), t, json!({"status": "Closed"}))
        .await;
    closed.assert_status(200);
    assert_eq!(closed["status"], "Closed");
    w.app
        .post(&replies(&inside), t, json!({"content": "返信です"}))
        .await
        .assert_status(201);
    let associated = w
        .app
        .post(
            &w.desk_of(&mapped, "/associate"),
            t,
            json!({"ticketId": inside}),
        )
        .await;
    associated.assert_status(200);
    assert_eq!(associated["id"], inside.as_str());

    // Choose as needed sees every department (I14), so it reaches the other ticket.
    let chosen = w
        .start_chat(None, Some("ito@example.jp"), Some(&chat_choose), "q")
        .await;
    w.app
        .get(&w.desk_of(&chosen, &format!("/tickets/{outside}")), t)
        .await
        .assert_status(200);
    // With the scope "all", the mapped chat reaches it too.
    w.settings(json!({"viewScope": "all"})).await;
    w.app.get(&ticket(&outside), t).await.assert_status(200);
}

/// A server of this process on `db`, stopped when dropped.
struct Node {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Node {
    async fn start(data_dir: PathBuf, database_url: Option<String>, db: Db) -> Self {
        let settings = test_settings(data_dir, database_url);
        let app = Application::build_with_db(settings, db, Clock::system())
            .await
            .expect("building the application");
        let base = format!("http://{}", app.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            stop: Some(stop),
            server: Some(server),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Res {
        Res::read(req.send().await.expect("request sent")).await
    }

    async fn get(&self, path: &str, token: &str) -> Res {
        let req = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(token);
        self.send(req).await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Res {
        let mut req = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    async fn healthz(&self) -> Res {
        self.send(reqwest::Client::new().get(format!("{}/healthz", self.base)))
            .await
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("clean shutdown");
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Polls `/healthz` (bounded) until it answers `status`; the probe's answer is cached
/// for up to two seconds.
async fn healthz_until(base: &str, status: u16) -> Res {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = reqwest::get(format!("{base}/healthz"))
            .await
            .expect("healthz");
        let code = res.status();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        if code.as_u16() == status {
            return Res {
                status: code,
                body,
                text,
            };
        }
        assert!(
            Instant::now() < deadline,
            "/healthz stayed {code}: {text} (expected {status})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Q6: a database the server may read but not write. SQLite opens a file it may not
/// write (permissions, a read-only mount) read-only and then refuses every write with
/// SQLITE_READONLY; tests run as root, whom `chmod` does not stop, so the file is
/// opened read-only by its URL (`mode=ro`), the same state by the front door. On
/// PostgreSQL the database turns read-only under the running server (as a demoted
/// primary does): `default_transaction_read_only` and its connections cut, so the pool
/// reconnects into read-only sessions. Either way `/healthz` says not ready with the
/// reason, writes are 503 `storage_unavailable`, and reads still work.
mod q6_a_read_only_database_is_not_ready_and_writes_are_storage_unavailable {
    use super::*;

    /// A user and a portal written while the database was writable; its token.
    async fn before(app: &Node) -> String {
        let admin = app
            .post(
                "/api/v1/auth/signup",
                None,
                json!({"email": "ro@example.jp", "password": "correct horse battery", "name": "RO"}),
            )
            .await;
        let token = admin.expect_str(201, "token");
        app.post(
            "/desk/api/v1/portals",
            Some(&token),
            json!({"portalName": "before", "displayName": "Before"}),
        )
        .await
        .assert_status(201);
        healthz_until(&app.base, 200).await;
        token
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        // The data is written by a real `serve` process, stopped cleanly (its exit
        // frees the directory lock), then opened read-only by a server of this test.
        let dir = std::env::temp_dir().join(format!("madoguchi-ro-{}", uuid::Uuid::now_v7()));
        let port = free_port();
        let mut writer = serve(&dir, port);
        ready(port, &mut writer).await;
        let pid = writer.id();
        let app = Node {
            base: format!("http://127.0.0.1:{port}"),
            stop: None,
            server: None,
        };
        let token = before(&app).await;
        terminate(pid);
        let (status, err) = exited(writer).await;
        assert!(status.success(), "clean stop: {status} {err}");
        let url = format!("sqlite://{}?mode=ro", dir.join("madoguchi.db").display());
        let db = Db::connect(&url).await.expect("opening read-only");
        let node = Node::start(dir.clone(), None, db).await;
        check_read_only(&node, &token).await;
        node.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(app) = TestApp::spawn(Backend::Postgres).await else {
            return;
        };
        let node = Node {
            base: app.base.clone(),
            stop: None,
            server: None,
        };
        let token = before(&node).await;
        let url = app.settings.database_url.clone().unwrap();
        let name = url.rsplit('/').next().unwrap().to_owned();
        let admin_url = std::env::var("MADOGUCHI_TEST_DATABASE_URL").unwrap();
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::query(&format!(
            "alter database \"{name}\" set default_transaction_read_only = on"
        ))
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::query(
            "select pg_terminate_backend(pid) from pg_stat_activity \
             where datname = $1 and pid <> pg_backend_pid()",
        )
        .bind(&name)
        .execute(&mut conn)
        .await
        .unwrap();
        check_read_only(&node, &token).await;
        sqlx::query(&format!(
            "alter database \"{name}\" reset default_transaction_read_only"
        ))
        .execute(&mut conn)
        .await
        .unwrap();
        let _ = conn.close().await;
    }
}

async fn check_read_only(node: &Node, token: &str) {
    let health = healthz_until(&node.base, 503).await;
    assert_eq!(health["status"], "unavailable", "{}", health.text);
    let reason = health["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("read-only"), "reason: {reason}");
    // A write through the sqlx pool and one through the SQLite writer's hot path.
    node.post(
        "/desk/api/v1/portals",
        Some(token),
        json!({"portalName": "after", "displayName": "After"}),
    )
    .await
    .assert_error(503, "storage_unavailable");
    node.post(
        "/api/v1/auth/signup",
        None,
        json!({"email": "new@example.jp", "password": "correct horse battery", "name": "N"}),
    )
    .await
    .assert_error(503, "storage_unavailable");
    // Reads still answer.
    let portals = node.get("/desk/api/v1/portals", token).await;
    portals.assert_status(200);
    assert!(portals.text.contains("before"), "{}", portals.text);
    assert_eq!(node.healthz().await.status.as_u16(), 503);
}

// ---------------------------------------------------------------------------------
// Real processes: one SQLite data directory, one server.

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn serve(data_dir: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            &data_dir.display().to_string(),
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting madoguchi")
}

async fn ready(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await {
            if r.status() == 200 {
                return;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("madoguchi exited before it was ready: {status}");
        }
        assert!(Instant::now() < deadline, "madoguchi did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (bounded) for `child` to exit; its status and standard error.
async fn exited(mut child: Child) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("waiting") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            return (status, err);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("madoguchi kept running");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGTERM, the clean stop.
fn terminate(pid: u32) {
    let sent = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
}

struct Killed(Option<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Q6: a second `serve` on the data directory of a running one exits non-zero saying
/// another server (with its process id) uses the directory; after the first stops
/// cleanly (SIGTERM), the directory's lock is free and a new server starts on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q6_a_second_server_on_one_sqlite_data_dir_refuses_to_start() {
    let dir = std::env::temp_dir().join(format!("madoguchi-lock-{}", uuid::Uuid::now_v7()));
    let port = free_port();
    let mut first = serve(&dir, port);
    ready(port, &mut first).await;
    let first_pid = first.id();
    let mut first = Killed(Some(first));

    let (status, err) = exited(serve(&dir, free_port())).await;
    assert!(!status.success(), "the second server must fail: {status}");
    assert!(
        err.contains("another madoguchi server")
            && err.contains(&dir.display().to_string())
            && err.contains(&first_pid.to_string()),
        "the message names the directory and the other process: {err}"
    );
    // The first one is unaffected.
    let r = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A clean stop releases the lock: a restart works.
    terminate(first_pid);
    let (status, _) = exited(first.0.take().unwrap()).await;
    assert!(status.success(), "clean stop: {status}");
    let port = free_port();
    let again = serve(&dir, port);
    let mut again = Killed(Some(again));
    ready(port, again.0.as_mut().unwrap()).await;
    drop(again);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Q6: start-up on a data directory that cannot be made says so, naming the path and
/// the operating system's reason, instead of a database timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q6_start_up_names_an_unusable_data_directory() {
    let base = std::env::temp_dir().join(format!("madoguchi-file-{}", uuid::Uuid::now_v7()));
    std::fs::write(&base, "a regular file").unwrap();
    let dir = base.join("data");
    let (status, err) = exited(serve(&dir, free_port())).await;
    assert!(!status.success());
    assert!(
        err.contains(&format!(
            "the data directory {} cannot be created",
            dir.display()
        )) && err.contains("Not a directory"),
        "{err}"
    );
    let _ = std::fs::remove_file(&base);
}

/// Q6: a disk that fills up under a running SQLite server: writes are 503
/// `storage_unavailable`, `/healthz` 503 "no space left on device"; once space is
/// freed both recover without a restart (before, a connection whose commit SQLite had
/// rolled back stayed unusable: "begin_with at non-zero transaction depth"). The data
/// directory is a small tmpfs, so this needs the right to mount one (root with
/// CAP_SYS_ADMIN, as CI here); elsewhere it says it is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q6_a_full_disk_is_storage_unavailable_and_recovers_when_space_is_freed() {
    let mnt = std::env::temp_dir().join(format!("madoguchi-full-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&mnt)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("q6_a_full_disk_…: cannot mount a tmpfs here (needs CAP_SYS_ADMIN), skipped");
        let _ = std::fs::remove_dir(&mnt);
        return;
    }
    let data = mnt.join("data");
    let d = data.clone();
    let app = TestApp::spawn_with(Backend::Sqlite, move |s| s.data_dir = d)
        .await
        .unwrap();
    let admin = app.signup("full@example.jp").await;
    madoguchi_testkit::desk::portal_by(&app, &admin.token, "full", "Full").await;
    let ticket = json!({"subject": "大きな問い合わせ", "description": "あ".repeat(10_000)});
    let create = || {
        app.post(
            "/desk/api/v1/portals/full/tickets",
            Some(&admin.token),
            ticket.clone(),
        )
    };
    create().await.assert_status(201);
    healthz_until(&app.base, 200).await;

    // Fill the file system.
    let filler = mnt.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).and_then(|()| f.sync_data()).is_ok() {}
    }
    let mut refused = None;
    for _ in 0..40 {
        let res = create().await;
        if res.status.as_u16() != 201 {
            refused = Some(res);
            break;
        }
    }
    let refused = refused.expect("a write fails once the disk is full");
    refused.assert_error(503, "storage_unavailable");
    let health = healthz_until(&app.base, 503).await;
    let reason = health["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("no space left on device"),
        "reason: {reason}"
    );

    // Space again: health and every pooled connection recover.
    std::fs::remove_file(&filler).unwrap();
    healthz_until(&app.base, 200).await;
    for _ in 0..12 {
        create().await.assert_status(201);
    }
    app.stop().await;
    let _ = Command::new("umount").arg("-l").arg(&mnt).status();
    let _ = std::fs::remove_dir_all(&mnt);
}
