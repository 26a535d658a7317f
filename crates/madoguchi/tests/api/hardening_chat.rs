//! Q6 hardening of the chat sockets, the widget's chat creation and visitor tokens,
//! and live delivery across two nodes over NATS.

#![allow(clippy::unwrap_used)]

use crate::both_backends;
use crate::chat::{
    accept, api, end, operator_ws, portal_with_admin, start_chat, visitor_says, widget,
    VisitorChat, Ws,
};
use crate::helpers::{Backend, TestApp};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

both_backends!(
    q6_a_widget_socket_opened_after_a_seq_beyond_the_last_still_gets_new_messages,
    q6_oversized_frames_close_with_1009_and_invalid_utf8_with_1007,
);

// ---------------------------------------------------------------------------------
// 11a: afterSeq beyond the chat's last seq
// ---------------------------------------------------------------------------------

async fn q6_a_widget_socket_opened_after_a_seq_beyond_the_last_still_gets_new_messages(
    app: TestApp,
) {
    let _admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    // The chat holds seq 1 (and 2 when it was missed at once); the widget claims 50.
    let mut ws = Ws::connect(&app, &chat.ws_path("acme", Some(50))).await;
    assert_eq!(ws.next().await["type"], "ready");
    let posted = visitor_says(&app, "acme", &chat, "まだいますか", "late-1").await;
    posted.assert_status(201);
    let seq = posted["seq"].as_i64().unwrap();
    assert!(seq < 50, "seq {seq}");
    let live = ws
        .next_within(Duration::from_secs(10))
        .await
        .expect("the new message reaches the socket");
    assert_eq!(live["type"], "message", "{live}");
    assert_eq!(live["seq"], seq);
    assert_eq!(live["text"], "まだいますか");
}

// ---------------------------------------------------------------------------------
// 11b: bad frames get the close code that says why
// ---------------------------------------------------------------------------------

/// Sends `frame` on a fresh socket (after `ready`) and answers the close code the
/// server answered with (`None`: the connection dropped without a close frame).
async fn close_code_after(app: &TestApp, path: &str, frame: WsMessage) -> Option<u16> {
    let mut ws = raw_ws(app, path).await;
    let ready = tokio::time::timeout(Duration::from_secs(20), ws.next())
        .await
        .unwrap();
    assert!(
        matches!(&ready, Some(Ok(WsMessage::Text(t))) if t.as_str().contains("ready")),
        "{ready:?}"
    );
    // The server may close before the whole frame is written.
    let _ = ws.send(frame).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await.ok()?? {
            Ok(WsMessage::Close(frame)) => return frame.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

fn invalid_utf8(
    opcode: tokio_tungstenite::tungstenite::protocol::frame::coding::Data,
) -> WsMessage {
    use tokio_tungstenite::tungstenite::protocol::frame::{coding::OpCode, Frame};
    // A JSON-looking frame with a byte that is not UTF-8.
    let mut data = br#"{"type":"message","text":""#.to_vec();
    data.extend_from_slice(&[0xff, 0xfe]);
    data.extend_from_slice(br#"","clientMessageId":"x"}"#);
    WsMessage::Frame(Frame::message(data, OpCode::Data(opcode), true))
}

async fn q6_oversized_frames_close_with_1009_and_invalid_utf8_with_1007(app: TestApp) {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::Data;
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    let visitor = chat.ws_path("acme", Some(0));
    let console = api("acme", &format!("/ws?token={}", admin.token));
    // Far above the 256 KiB a frame may hold.
    let big = format!(
        r#"{{"type":"message","text":"{}","clientMessageId":"big"}}"#,
        "あ".repeat(200_000)
    );
    for path in [&visitor, &console] {
        assert_eq!(
            close_code_after(&app, path, WsMessage::Text(big.clone().into())).await,
            Some(1009),
            "oversized on {path}"
        );
        assert_eq!(
            close_code_after(&app, path, invalid_utf8(Data::Text)).await,
            Some(1007),
            "invalid UTF-8 text on {path}"
        );
        assert_eq!(
            close_code_after(&app, path, invalid_utf8(Data::Binary)).await,
            Some(1007),
            "invalid UTF-8 binary on {path}"
        );
    }
    // A binary frame of UTF-8 JSON is read as text; nothing was stored by the bad ones.
    let mut ws = raw_ws(&app, &visitor).await;
    let _ready = ws.next().await;
    ws.send(WsMessage::Binary(
        json!({"type": "message", "text": "バイナリ", "clientMessageId": "bin"})
            .to_string()
            .into_bytes()
            .into(),
    ))
    .await
    .unwrap();
    let ack = loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let WsMessage::Text(t) = frame {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == "ack" {
                break v;
            }
        }
    };
    assert_eq!(ack["seq"], 2, "{ack}");
}

// ---------------------------------------------------------------------------------
// 11c: a chat's start is retried only by its client, shortly after
// ---------------------------------------------------------------------------------

/// Declares `<name>::sqlite` and `<name>::postgres` for an `async fn(Backend)` that
/// starts its own server.
macro_rules! own_server_on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use crate::helpers::Backend;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(Backend::Postgres).await
            }
        }
    )*};
}

own_server_on_both_backends!(
    q6_a_chat_start_retry_answers_the_token_only_to_the_same_address_within_ten_minutes,
    q6_visitor_tokens_expire_the_configured_days_after_the_chat_ended,
);

async fn q6_a_chat_start_retry_answers_the_token_only_to_the_same_address_within_ten_minutes(
    backend: Backend,
) {
    // Behind a trusted proxy (loopback), each X-Forwarded-For is another client.
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let _admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let start = |client: &'static str, id: &'static str| {
        let req = app
            .http
            .post(app.url(&widget("acme", "/chats")))
            .header("x-forwarded-for", client)
            .json(&json!({"question": "注文について", "clientMessageId": id}));
        app.request(req)
    };
    let first = start("198.51.100.1", "same-id").await;
    first.assert_status(201);
    // The legitimate retry: same client, at once → the same object (API.md).
    let retry = start("198.51.100.1", "same-id").await;
    retry.assert_status(201);
    assert_eq!(retry.body, first.body);
    // Someone else who learnt the id gets no token.
    let other = start("203.0.113.7", "same-id").await;
    other.assert_error(409, "conflict");
    assert_eq!(other.body["error"]["field"], "clientMessageId");
    assert!(!other.text.contains("vt_"), "{}", other.text);
    // A spoofed address left of the real one is still the other client.
    start("198.51.100.1, 203.0.113.7", "same-id")
        .await
        .assert_error(409, "conflict");
    // The same client, within ten minutes: still the retry.
    app.clock.advance_ms(9 * 60_000);
    let late = start("198.51.100.1", "same-id").await;
    late.assert_status(201);
    assert_eq!(late.body, first.body);
    // After ten minutes the id no longer hands out the token, even to its client.
    app.clock.advance_ms(60_000 + 1);
    let stale = start("198.51.100.1", "same-id").await;
    stale.assert_error(409, "conflict");
    assert!(!stale.text.contains("vt_"), "{}", stale.text);
    // A new id starts a new chat as always.
    let fresh = start("198.51.100.1", "new-id").await;
    fresh.assert_status(201);
    assert_ne!(fresh["chatId"], first["chatId"]);
}

// ---------------------------------------------------------------------------------
// 11d: visitor tokens expire after the chat ended
// ---------------------------------------------------------------------------------

async fn q6_visitor_tokens_expire_the_configured_days_after_the_chat_ended(backend: Backend) {
    const DAY: i64 = 86_400_000;
    let Some(app) = TestApp::spawn_with(backend, |s| s.visitor_token_days = 3).await else {
        return;
    };
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let ended = start_chat(&app, "acme", json!({})).await;
    let open = start_chat(&app, "acme", json!({})).await;
    for chat in [&ended, &open] {
        accept(&app, &admin, "acme", &chat.chat_id).await;
    }
    end(&app, &admin, "acme", &ended.chat_id).await;
    let messages = |chat: &VisitorChat| {
        let path = widget("acme", &format!("/chats/{}/messages", chat.chat_id));
        let token = chat.token.clone();
        let app = &app;
        async move { app.get(&path, Some(&token)).await }
    };
    // A returning visitor still reads the transcript for a while.
    app.clock.advance_ms(3 * DAY - 60_000);
    let transcript = messages(&ended).await;
    transcript.assert_status(200);
    assert!(!transcript["data"].as_array().unwrap().is_empty());
    let mut ws = Ws::connect(&app, &ended.ws_path("acme", Some(0))).await;
    assert_eq!(ws.next().await["type"], "ready");
    // Then the token is refused everywhere it was accepted.
    app.clock.advance_ms(2 * 60_000);
    messages(&ended).await.assert_error(401, "unauthenticated");
    visitor_says(&app, "acme", &ended, "まだ見えますか", "late")
        .await
        .assert_error(401, "unauthenticated");
    assert_eq!(
        Ws::refused_status(&app, &ended.ws_path("acme", Some(0))).await,
        401
    );
    // The token of a chat that has not ended keeps working (it ends idle at some point,
    // and its days count from then).
    messages(&open).await.assert_status(200);
}

// ---------------------------------------------------------------------------------
// 12: two nodes over NATS
// ---------------------------------------------------------------------------------

/// Two `serve` nodes on one PostgreSQL database and one NATS server; `None` (skipped,
/// loudly) without `MADOGUCHI_TEST_DATABASE_URL` and `MADOGUCHI_TEST_NATS_URL`.
async fn two_nodes(test: &str) -> Option<(TestApp, TestApp)> {
    let Some(nats_url) = madoguchi_testkit::env_setting("MADOGUCHI_TEST_NATS_URL") else {
        eprintln!("{test}: MADOGUCHI_TEST_NATS_URL unset, skipped");
        return None;
    };
    let Some(node1) =
        TestApp::spawn_with(Backend::Postgres, |s| s.nats_url = Some(nats_url.clone())).await
    else {
        eprintln!("{test}: MADOGUCHI_TEST_DATABASE_URL unset, skipped");
        return None;
    };
    let node2 = TestApp::spawn_node_sharing(&node1).await;
    Some((node1, node2))
}

/// Milliseconds of each latency, sorted.
fn sorted_ms(latencies: &[Duration]) -> Vec<f64> {
    let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    ms
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

const PACED: usize = 40;
/// Under the per-chat limit of 20 messages a second.
const PACE: Duration = Duration::from_millis(60);
/// Once the other side's last message is stored (its sender has the ack), every one of
/// them must have arrived this soon, with no traffic after it. A held message would wait
/// for the next event or the 20 s ping. Counted from the commit, not from the send: on a
/// loaded CI machine storing 40 messages can itself take longer than this.
const LAST_WITHIN: Duration = Duration::from_secs(10);
/// Gives up on a socket that never finishes at all (acks included).
const EXCHANGE_LIMIT: Duration = Duration::from_secs(120);

type Split = (
    futures::stream::SplitSink<RawWs, WsMessage>,
    futures::stream::SplitStream<RawWs>,
);
type RawWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
type Stored = tokio::sync::watch::Sender<Option<Instant>>;

async fn raw_ws(app: &TestApp, path: &str) -> RawWs {
    tokio_tungstenite::connect_async(app.ws_url(path))
        .await
        .unwrap_or_else(|e| panic!("WebSocket {path}: {e}"))
        .0
}

/// Sends `frame(i)` for i in 0..PACED, one every [`PACE`]; answers when each was sent.
async fn send_paced(
    sink: &mut futures::stream::SplitSink<RawWs, WsMessage>,
    frame: impl Fn(usize) -> Value,
) -> Vec<Instant> {
    let start = Instant::now();
    let mut sent = Vec::new();
    for i in 0..PACED {
        // Paced on purpose (what the test measures), not a wait for a state.
        tokio::time::sleep_until(start + PACE * i as u32).await;
        sent.push(Instant::now());
        sink.send(WsMessage::Text(frame(i).to_string().into()))
            .await
            .unwrap();
    }
    sent
}

fn numbered(text: Option<&str>, prefix: &str) -> Option<usize> {
    text?
        .strip_prefix(prefix)?
        .parse::<usize>()
        .ok()
        .filter(|i| *i < PACED)
}

/// Reads one side's socket until every `incoming{i}` came and every own `own{i}` was
/// acknowledged; answers when each incoming message arrived. Tells the other side, through
/// `own_stored`, when the last own message was acknowledged, and fails when an incoming one
/// has not come [`LAST_WITHIN`] after the other side's last was: nothing is sent after that
/// which could push a held message along.
async fn receive_paced(
    stream: &mut futures::stream::SplitStream<RawWs>,
    text_of: impl Fn(&Value) -> Option<String>,
    incoming: &str,
    own: &str,
    own_stored: Stored,
    mut other_stored: tokio::sync::watch::Receiver<Option<Instant>>,
) -> Vec<Instant> {
    let give_up = Instant::now() + EXCHANGE_LIMIT;
    let mut arrived = vec![None; PACED];
    let mut acked = [false; PACED];
    let mut other_done: Option<Instant> = None;
    loop {
        let all_arrived = arrived.iter().all(Option::is_some);
        if all_arrived && acked.iter().all(|a| *a) {
            return arrived.into_iter().flatten().collect();
        }
        let deadline = match other_done {
            Some(t) if !all_arrived => (t + LAST_WITHIN).min(give_up),
            _ => give_up,
        };
        let next = tokio::select! {
            changed = other_stored.changed(), if other_done.is_none() => {
                other_done = *other_stored.borrow();
                if changed.is_err() && other_done.is_none() {
                    panic!("{incoming}: the other side stopped before its messages were stored");
                }
                continue;
            }
            next = tokio::time::timeout_at(deadline, stream.next()) => next,
        };
        let frame = match next {
            Ok(Some(Ok(WsMessage::Text(t)))) => serde_json::from_str::<Value>(t.as_str()).unwrap(),
            Ok(Some(Ok(_))) => continue,
            Ok(other) => panic!("{incoming}: the socket ended: {other:?}"),
            Err(_) => {
                let missing: Vec<usize> = (0..PACED).filter(|i| arrived[*i].is_none()).collect();
                let unacked: Vec<usize> = (0..PACED).filter(|i| !acked[*i]).collect();
                match other_done {
                    Some(_) if !missing.is_empty() => panic!(
                        "{incoming}: messages {missing:?} had not arrived {LAST_WITHIN:?} after the sender's last was stored"
                    ),
                    _ => panic!(
                        "{incoming}: after {EXCHANGE_LIMIT:?}, messages {missing:?} had not arrived and own messages {unacked:?} were not acknowledged"
                    ),
                }
            }
        };
        if frame["type"] == "ack" {
            if let Some(i) = numbered(frame["clientMessageId"].as_str(), own) {
                acked[i] = true;
                if acked.iter().all(|a| *a) {
                    let _ = own_stored.send(Some(Instant::now()));
                }
            }
            continue;
        }
        if let Some(i) = numbered(text_of(&frame).as_deref(), incoming) {
            arrived[i].get_or_insert_with(Instant::now);
        }
    }
}

/// A visitor on `visitor_node` and an operator on `operator_node` write to each other at
/// the same time, [`PACED`] messages each, one every [`PACE`]. Answers the latencies
/// (sent on one socket → received on the other, stored in between) of
/// operator→visitor and visitor→operator.
async fn paced_exchange(
    visitor_node: &TestApp,
    operator_node: &TestApp,
) -> (Vec<Duration>, Vec<Duration>) {
    let admin = portal_with_admin(visitor_node, "a@acme.example", "acme").await;
    let mut console = operator_ws(operator_node, &admin, "acme").await;
    let chat = start_chat(visitor_node, "acme", json!({"question": "こんにちは"})).await;
    console.next_of("chat.waiting").await;
    crate::chat::act(operator_node, &admin, "acme", &chat.chat_id, "accept")
        .await
        .assert_status(200);
    drop(console);
    let (mut op_sink, mut op_stream): Split = raw_ws(
        operator_node,
        &api("acme", &format!("/ws?token={}", admin.token)),
    )
    .await
    .split();
    let (mut v_sink, mut v_stream): Split = raw_ws(visitor_node, &chat.ws_path("acme", Some(2)))
        .await
        .split();
    // Both sockets are live (ready) before anyone writes.
    for stream in [&mut op_stream, &mut v_stream] {
        let ready = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .unwrap();
        assert!(
            matches!(&ready, Some(Ok(WsMessage::Text(t))) if t.as_str().contains("ready")),
            "{ready:?}"
        );
    }
    let (op_stored, op_stored_rx) = tokio::sync::watch::channel(None);
    let (v_stored, v_stored_rx) = tokio::sync::watch::channel(None);
    let chat_id = chat.chat_id.clone();
    let op_sender = tokio::spawn(async move {
        let frame = |i: usize| json!({"type": "message", "chatId": chat_id, "text": format!("o{i}"), "clientMessageId": format!("o{i}")});
        send_paced(&mut op_sink, frame).await
    });
    let v_sender = tokio::spawn(async move {
        // A fixed sleep on purpose: pacing is what this test measures, and the visitor
        // sends half a pace after the operator so the two streams interleave.
        tokio::time::sleep(PACE / 2).await;
        let frame = |i: usize| json!({"type": "message", "text": format!("v{i}"), "clientMessageId": format!("v{i}")});
        send_paced(&mut v_sink, frame).await
    });
    let at_visitor = tokio::spawn(async move {
        let text = |f: &Value| {
            (f["type"] == "message").then(|| f["text"].as_str().unwrap_or("").to_owned())
        };
        receive_paced(&mut v_stream, text, "o", "v", v_stored, op_stored_rx).await
    });
    let at_operator = tokio::spawn(async move {
        let text = |f: &Value| {
            (f["type"] == "message").then(|| f["message"]["text"].as_str().unwrap_or("").to_owned())
        };
        receive_paced(&mut op_stream, text, "v", "o", op_stored, v_stored_rx).await
    });
    let (op_sent, v_sent) = (op_sender.await.unwrap(), v_sender.await.unwrap());
    let (at_visitor, at_operator) = (at_visitor.await.unwrap(), at_operator.await.unwrap());
    let lat = |arrived: &[Instant], sent: &[Instant]| {
        arrived
            .iter()
            .zip(sent)
            .map(|(a, s)| *a - *s)
            .collect::<Vec<_>>()
    };
    (lat(&at_visitor, &op_sent), lat(&at_operator, &v_sent))
}

fn report(setup: &str, to_visitor: &[Duration], to_operator: &[Duration]) {
    for (way, latencies) in [
        ("operator→visitor", to_visitor),
        ("visitor→operator", to_operator),
    ] {
        let ms = sorted_ms(latencies);
        eprintln!(
            "q6 {setup} {way}: p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms (socket → stored → socket)",
            percentile(&ms, 0.5),
            percentile(&ms, 0.9),
            percentile(&ms, 1.0)
        );
    }
}

/// Q6 (issue 16, item 12): a visitor on node 1 and an operator on node 2 write to each
/// other, 40 messages each way paced under the per-chat limit. Every message, the last
/// ones included, arrives without later traffic pushing it along; prints the latencies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q6_across_nodes_the_last_message_arrives_without_waiting_for_the_next_event() {
    let Some((node1, node2)) =
        two_nodes("q6_across_nodes_the_last_message_arrives_without_waiting_for_the_next_event")
            .await
    else {
        return;
    };
    let (to_visitor, to_operator) = paced_exchange(&node1, &node2).await;
    report("two nodes", &to_visitor, &to_operator);
}

/// The same exchange on one node (PostgreSQL), the reference for the figures above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q6_on_one_node_paced_messages_arrive_as_they_are_sent() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let (to_visitor, to_operator) = paced_exchange(&app, &app).await;
    report("one node", &to_visitor, &to_operator);
}
