//! SPEC Q6, the WebSockets: a cookie-authenticated socket needs the public URL's
//! `Origin` (no cross-site WebSocket hijacking); open sockets are limited per chat,
//! visitor, client address, operator and node, the excess closed with 1013; a logout or
//! a revoked token closes every socket opened with it, on every node.

use crate::chat::{api, portal_with_admin, start_chat};
use crate::helpers::{Backend, TestApp};
use futures::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How a socket handshake went.
enum Opened {
    Socket(Box<WsStream>),
    /// Refused before the upgrade: the HTTP status and error code.
    Refused(u16, String),
}

/// Opens `path` with extra request headers (Origin, Cookie, X-Forwarded-For).
async fn open(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Opened {
    let mut req = app.ws_url(path).into_client_request().unwrap();
    for (name, value) in headers {
        req.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((stream, _)) => Opened::Socket(Box::new(stream)),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            let body: Value = res
                .body()
                .as_ref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Opened::Refused(
                res.status().as_u16(),
                body["error"]["code"].as_str().unwrap_or("").to_owned(),
            )
        }
        Err(e) => panic!("WebSocket {path}: {e}"),
    }
}

/// What a socket did first: a JSON frame, or closing (code and reason).
#[derive(Debug)]
enum First {
    Frame(Value),
    Closed(u16, String),
    Ended,
}

async fn next_event(ws: &mut WsStream, wait: Duration) -> First {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => panic!("nothing within {wait:?}"),
            Ok(None) | Ok(Some(Err(_))) => return First::Ended,
            Ok(Some(Ok(msg))) => msg,
        };
        match msg {
            WsMessage::Text(t) => return First::Frame(serde_json::from_str(t.as_str()).unwrap()),
            WsMessage::Close(Some(CloseFrame { code, reason })) => {
                return First::Closed(u16::from(code), reason.to_string())
            }
            WsMessage::Close(None) => return First::Closed(1005, String::new()),
            _ => continue,
        }
    }
}

/// Opens `path` and expects `ready`.
async fn ready(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> WsStream {
    match open(app, path, headers).await {
        Opened::Socket(mut ws) => {
            match next_event(&mut ws, Duration::from_secs(20)).await {
                First::Frame(f) if f["type"] == "ready" => {}
                other => panic!("{path}: expected ready, got {other:?}"),
            }
            *ws
        }
        Opened::Refused(status, code) => panic!("{path}: refused {status} {code}"),
    }
}

/// Opens `path` and expects the upgrade, then at once a close with 1013 and a reason.
async fn refused_with_1013(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> String {
    match open(app, path, headers).await {
        Opened::Socket(mut ws) => match next_event(&mut ws, Duration::from_secs(20)).await {
            First::Closed(1013, reason) => {
                assert!(!reason.is_empty(), "a reason comes with the close");
                reason
            }
            other => panic!("{path}: expected a close with 1013, got {other:?}"),
        },
        Opened::Refused(status, code) => {
            panic!("{path}: refused {status} {code} before the upgrade")
        }
    }
}

/// Waits until the socket closes; answers the close code and reason.
async fn closed_within(ws: &mut WsStream, wait: Duration) -> (u16, String) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next_event(ws, left).await {
            First::Closed(code, reason) => return (code, reason),
            First::Ended => panic!("the socket ended without a close frame"),
            First::Frame(_) => continue,
        }
    }
}

/// Closes a socket and waits for the server's reply, so its slot is free.
async fn close(mut ws: WsStream) {
    let _ = ws.close(None).await;
    while let Some(Ok(_)) = ws.next().await {}
}

/// Keeps trying `path` until it is accepted (the server frees a slot a moment after
/// the client saw its socket close).
async fn ready_soon(app: &TestApp, path: &str) -> WsStream {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match open(app, path, &[]).await {
            Opened::Socket(mut ws) => match next_event(&mut ws, Duration::from_secs(20)).await {
                First::Frame(f) if f["type"] == "ready" => return *ws,
                First::Closed(1013, _) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                other => panic!("{path}: expected ready, got {other:?}"),
            },
            Opened::Refused(status, code) => panic!("{path}: refused {status} {code}"),
        }
    }
}

// ---------------------------------------------------------------------------------
// Q6 Origin of cookie-authenticated sockets
// ---------------------------------------------------------------------------------

async fn q6_a_cookie_socket_is_refused_unless_its_origin_is_the_public_url(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let cookie = app.session_cookie("a@acme.example").await;
    let path = api("acme", "/ws");
    // The test server's public URL is http://madoguchi.test.
    for origin in [
        Some("http://madoguchi.test:8081"),
        Some("http://shop.madoguchi.test"),
        Some("https://madoguchi.test"),
        Some("null"),
        None,
    ] {
        let mut headers = vec![("cookie", cookie.as_str())];
        if let Some(origin) = origin {
            headers.push(("origin", origin));
        }
        match open(&app, &path, &headers).await {
            Opened::Refused(status, code) => {
                assert_eq!((status, code.as_str()), (403, "forbidden"), "{origin:?}");
            }
            Opened::Socket(_) => panic!("a cookie socket from {origin:?} was accepted"),
        }
    }
    // The console's own page.
    let mut ws = ready(
        &app,
        &path,
        &[("cookie", &cookie), ("origin", "http://madoguchi.test")],
    )
    .await;
    // It works: a new chat is offered on it.
    start_chat(&app, "acme", json!({})).await;
    loop {
        match next_event(&mut ws, Duration::from_secs(20)).await {
            First::Frame(f) if f["type"] == "chat.waiting" => break,
            First::Frame(_) => continue,
            other => panic!("expected chat.waiting, got {other:?}"),
        }
    }
    // Without a valid cookie it is 401 first, whatever the origin.
    match open(&app, &path, &[("cookie", "madoguchi_session=forged")]).await {
        Opened::Refused(status, _) => assert_eq!(status, 401),
        Opened::Socket(_) => panic!("a forged session was accepted"),
    }
    // A token socket does not depend on the origin: no browser attaches a token by itself.
    ready(
        &app,
        &api("acme", &format!("/ws?token={}", admin.token)),
        &[("origin", "http://evil.example")],
    )
    .await;
}

// ---------------------------------------------------------------------------------
// Q6 limits on open sockets
// ---------------------------------------------------------------------------------

async fn q6_widget_sockets_of_one_chat_are_limited_and_the_excess_closes_with_1013(app: TestApp) {
    let _admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    let path = chat.ws_path("acme", None);
    let mut tabs = Vec::new();
    for _ in 0..5 {
        tabs.push(ready(&app, &path, &[]).await);
    }
    let reason = refused_with_1013(&app, &path, &[]).await;
    assert!(reason.contains("chat"), "{reason}");
    // Another chat is not affected.
    let other = start_chat(&app, "acme", json!({})).await;
    ready(&app, &other.ws_path("acme", None), &[]).await;
    // A tab that closes frees its place.
    close(tabs.pop().unwrap()).await;
    tabs.push(ready_soon(&app, &path).await);
    refused_with_1013(&app, &path, &[]).await;
    // The tabs still work.
    crate::chat::visitor_says(&app, "acme", &chat, "こんにちは", "hello-1")
        .await
        .assert_status(201);
    for tab in &mut tabs {
        loop {
            match next_event(tab, Duration::from_secs(20)).await {
                First::Frame(f) if f["type"] == "message" && f["text"] == "こんにちは" => {
                    break
                }
                First::Frame(_) => continue,
                other => panic!("expected the message, got {other:?}"),
            }
        }
    }
}

async fn q6_widget_sockets_are_limited_per_forwarded_client_address(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.widget_rate_limit = Some(120);
        s.socket_limits.per_address = 2;
        s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let _admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let mut chats = Vec::new();
    for _ in 0..4 {
        chats.push(start_chat(&app, "acme", json!({})).await);
    }
    let client = [("x-forwarded-for", "198.51.100.1")];
    let _a = ready(&app, &chats[0].ws_path("acme", None), &client).await;
    let _b = ready(&app, &chats[1].ws_path("acme", None), &client).await;
    let reason = refused_with_1013(&app, &chats[2].ws_path("acme", None), &client).await;
    assert!(reason.contains("address"), "{reason}");
    // A spoofed address left of the real one does not make a new client.
    refused_with_1013(
        &app,
        &chats[2].ws_path("acme", None),
        &[("x-forwarded-for", "6.6.6.6, 198.51.100.1")],
    )
    .await;
    // Another client behind the same proxy is not affected.
    let _c = ready(
        &app,
        &chats[2].ws_path("acme", None),
        &[("x-forwarded-for", "198.51.100.2")],
    )
    .await;
}

mod q6_widget_sockets_are_limited_per_forwarded_client_address {
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::q6_widget_sockets_are_limited_per_forwarded_client_address(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::q6_widget_sockets_are_limited_per_forwarded_client_address(Backend::Postgres).await
    }
}

async fn q6_widget_rate_limit_off_lifts_the_per_address_socket_limit(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.widget_rate_limit = None;
        s.socket_limits.per_address = 1;
    })
    .await
    else {
        return;
    };
    let _admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let chat = start_chat(&app, "acme", json!({})).await;
        held.push(ready(&app, &chat.ws_path("acme", None), &[]).await);
    }
}

mod q6_widget_rate_limit_off_lifts_the_per_address_socket_limit {
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::q6_widget_rate_limit_off_lifts_the_per_address_socket_limit(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::q6_widget_rate_limit_off_lifts_the_per_address_socket_limit(Backend::Postgres).await
    }
}

async fn q6_console_sockets_are_limited_per_operator_and_per_node(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.socket_limits.per_operator = 2;
        s.socket_limits.total = Some(4);
    })
    .await
    else {
        return;
    };
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let colleague =
        crate::chat::operator(&app, &admin, "acme", "b@acme.example", "operator", &[]).await;
    let mine = api("acme", &format!("/ws?token={}", admin.token));
    let _one = ready(&app, &mine, &[]).await;
    let _two = ready(&app, &mine, &[]).await;
    let reason = refused_with_1013(&app, &mine, &[]).await;
    assert!(reason.contains("operator"), "{reason}");
    // The colleague has places of their own, until the node is full.
    let theirs = api("acme", &format!("/ws?token={}", colleague.token));
    let _three = ready(&app, &theirs, &[]).await;
    let chat = start_chat(&app, "acme", json!({})).await;
    let _four = ready(&app, &chat.ws_path("acme", None), &[]).await;
    let reason = refused_with_1013(&app, &theirs, &[]).await;
    assert_eq!(reason, "server busy");
    refused_with_1013(&app, &chat.ws_path("acme", None), &[]).await;
    // A full node still answers HTTP.
    app.get("/healthz", None).await.assert_status(200);
}

mod q6_console_sockets_are_limited_per_operator_and_per_node {
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::q6_console_sockets_are_limited_per_operator_and_per_node(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::q6_console_sockets_are_limited_per_operator_and_per_node(Backend::Postgres).await
    }
}

// ---------------------------------------------------------------------------------
// Q6 logout and revocation close the sockets
// ---------------------------------------------------------------------------------

/// Well under the 20 s between the checks at each ping: the bus closed the socket.
const AT_ONCE: Duration = Duration::from_secs(5);

async fn q6_logout_closes_every_socket_opened_with_that_token_and_no_other(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let other = app.log_in("a@acme.example", "correct horse battery").await;
    let other_token = other.expect_str(200, "token");
    let path = api("acme", &format!("/ws?token={}", admin.token));
    let mut first = ready(&app, &path, &[]).await;
    let mut second = ready(&app, &path, &[]).await;
    let mut kept = ready(&app, &api("acme", &format!("/ws?token={other_token}")), &[]).await;

    let res = app
        .post_empty("/api/v1/auth/logout", Some(&admin.token))
        .await;
    res.assert_status(200);
    assert_eq!(res["revoked"], true);
    for ws in [&mut first, &mut second] {
        let (code, reason) = closed_within(ws, AT_ONCE).await;
        assert_eq!((code, reason.as_str()), (4001, "signed out"));
    }
    // The token opens no socket any more; the other login's socket lives on.
    match open(&app, &path, &[]).await {
        Opened::Refused(status, code) => {
            assert_eq!((status, code.as_str()), (401, "unauthenticated"))
        }
        Opened::Socket(_) => panic!("a revoked token opened a socket"),
    }
    start_chat(&app, "acme", json!({})).await;
    loop {
        match next_event(&mut kept, Duration::from_secs(20)).await {
            First::Frame(f) if f["type"] == "chat.waiting" => break,
            First::Frame(_) => continue,
            other => panic!("the other login's socket: {other:?}"),
        }
    }
}

async fn q6_ending_a_page_session_closes_its_cookie_sockets(app: TestApp) {
    let _admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let origin = ("origin", "http://madoguchi.test");
    let path = api("acme", "/ws");
    // Through the logout form.
    let page = app.session_cookie("a@acme.example").await;
    let mut console = ready(&app, &path, &[("cookie", &page), origin]).await;
    let csrf = app.csrf_of(&page).await;
    let out = app.log_out_page(&page, &csrf).await;
    assert_eq!(out.status(), 303);
    let (code, reason) = closed_within(&mut console, AT_ONCE).await;
    assert_eq!((code, reason.as_str()), (4001, "signed out"));

    // Through the API with the session (cookie + CSRF header).
    let session = app.session_cookie("a@acme.example").await;
    let mut console = ready(&app, &path, &[("cookie", &session), origin]).await;
    let csrf = app.csrf_of(&session).await;
    let res = app
        .request(
            app.http
                .post(app.url("/api/v1/auth/logout"))
                .header("cookie", &session)
                .header("x-csrf-token", &csrf),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res["revoked"], true);
    let (code, _) = closed_within(&mut console, AT_ONCE).await;
    assert_eq!(code, 4001);
    match open(&app, &path, &[("cookie", &session), origin]).await {
        Opened::Refused(status, _) => assert_eq!(status, 401),
        Opened::Socket(_) => panic!("an ended session opened a socket"),
    }
}

crate::both_backends!(
    q6_a_cookie_socket_is_refused_unless_its_origin_is_the_public_url,
    q6_widget_sockets_of_one_chat_are_limited_and_the_excess_closes_with_1013,
    q6_logout_closes_every_socket_opened_with_that_token_and_no_other,
    q6_ending_a_page_session_closes_its_cookie_sockets,
);

/// Two `serve` nodes on one PostgreSQL database and one NATS server: a logout on node 1
/// closes the socket opened with that token on node 2. Skipped without
/// `MADOGUCHI_TEST_DATABASE_URL` and `MADOGUCHI_TEST_NATS_URL`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q6_a_logout_on_one_node_closes_the_socket_on_another() {
    let Some(nats_url) = madoguchi_testkit::env_setting("MADOGUCHI_TEST_NATS_URL") else {
        eprintln!("q6_a_logout_on_one_node_closes_the_socket_on_another: MADOGUCHI_TEST_NATS_URL unset, skipped");
        return;
    };
    let Some(node1) =
        TestApp::spawn_with(Backend::Postgres, |s| s.nats_url = Some(nats_url.clone())).await
    else {
        eprintln!("q6_a_logout_on_one_node_closes_the_socket_on_another: MADOGUCHI_TEST_DATABASE_URL unset, skipped");
        return;
    };
    let node2 = TestApp::spawn_node_sharing(&node1).await;
    let admin = portal_with_admin(&node1, "a@acme.example", "acme").await;
    let path = api("acme", &format!("/ws?token={}", admin.token));
    let mut on_node2 = ready(&node2, &path, &[]).await;
    let mut on_node1 = ready(&node1, &path, &[]).await;
    // The console on node 2 is live (an event from node 1 reaches it) …
    start_chat(&node1, "acme", json!({})).await;
    loop {
        match next_event(&mut on_node2, Duration::from_secs(20)).await {
            First::Frame(f) if f["type"] == "chat.waiting" => break,
            First::Frame(_) => continue,
            other => panic!("expected chat.waiting, got {other:?}"),
        }
    }
    // … until the token is revoked on node 1.
    node1
        .post_empty("/api/v1/auth/logout", Some(&admin.token))
        .await
        .assert_status(200);
    for ws in [&mut on_node2, &mut on_node1] {
        let (code, reason) = closed_within(ws, AT_ONCE).await;
        assert_eq!((code, reason.as_str()), (4001, "signed out"));
    }
    // A new socket with it is refused on either node.
    match open(&node2, &path, &[]).await {
        Opened::Refused(status, _) => assert_eq!(status, 401),
        Opened::Socket(_) => panic!("a revoked token opened a socket on node 2"),
    }
}
