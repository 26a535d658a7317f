//! The `madoguchi` binary itself: start-up, readiness and clean shutdown (Q1, Q5).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test]
async fn q1_serve_answers_healthz_within_a_second_and_stops_cleanly_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("madoguchi-cli-{}", uuid::Uuid::now_v7().simple()));
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .arg("--data-dir")
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting madoguchi");
    let started = Instant::now();
    let http = reqwest::Client::new();
    let mut ready = None;
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok(res) = http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
        {
            if res.status() == 200 {
                ready = Some(started.elapsed());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready = ready.expect("serve never answered /healthz");
    assert!(ready < Duration::from_secs(1), "ready after {ready:?}");
    assert!(
        dir.join("madoguchi.db").exists(),
        "SQLite database in --data-dir"
    );

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("sending SIGTERM");
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for madoguchi") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "madoguchi did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status:?}");
    let mut out = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("reading logs");
    // JSON logs: every line is an object.
    assert!(out.lines().count() >= 2, "{out}");
    for line in out.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn q1_help_lists_the_commands_and_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args(["serve", "--help"])
        .output()
        .expect("running madoguchi");
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--data-dir",
        "--public-url",
        "--database-url",
        "--nats-url",
        "--desk-url",
        "--log-format",
        "--widget-rate-limit",
    ] {
        assert!(text.contains(flag), "{flag} missing from help:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q1_the_demo_seeds_desk_chat_and_the_integration_and_can_seed_again() {
    let app = crate::helpers::TestApp::spawn(crate::helpers::Backend::Sqlite)
        .await
        .expect("sqlite");
    madoguchi::demo::seed(&app.base)
        .await
        .expect("first seeding");
    madoguchi::demo::seed(&app.base)
        .await
        .expect("seeding again changes nothing");
    let login = app
        .log_in("admin@example.jp", madoguchi::demo::DEMO_PASSWORD)
        .await;
    login.assert_status(200);
    let token = login["token"].as_str().expect("token").to_owned();
    let tickets = app
        .get("/desk/api/v1/portals/acme/tickets", Some(&token))
        .await;
    tickets.assert_status(200);
    assert_eq!(tickets["data"].as_array().map(Vec::len), Some(5));
    let found = app
        .get(
            "/desk/api/v1/portals/acme/tickets/search?q=%E3%83%91%E3%82%B9%E3%83%AF%E3%83%BC%E3%83%89",
            Some(&token),
        )
        .await;
    assert_eq!(
        found["data"][0]["subject"],
        "パスワードのリセットができない"
    );
    let integration = app
        .get("/chat/api/v1/portals/acme/integrations/desk", Some(&token))
        .await;
    integration.assert_status(200);
    assert_eq!(integration["status"], "enabled");
    assert_eq!(integration["link"]["isMe"], true);
    assert_eq!(integration["link"]["deskPortalName"], "acme");
}
