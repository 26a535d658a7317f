//! The anonymous widget API and its WebSocket (API.md "Widget"; SPEC C3, Q2, Q3),
//! and two nodes over NATS.

#![allow(clippy::unwrap_used)]

use crate::both_backends;
use crate::chat::{
    accept, api, department, end, get_chat, operator_ws, portal_with_admin, start_chat,
    start_chat_with, visitor_says, widget, VisitorChat, Ws,
};
use crate::helpers::{Backend, TestApp};
use madoguchi_testkit::snapshot::redact;
use serde_json::{json, Value};
use std::time::Duration;

fn messages_path(portal: &str, chat: &VisitorChat, after: Option<&str>) -> String {
    match after {
        Some(a) => widget(
            portal,
            &format!("/chats/{}/messages?afterSeq={a}", chat.chat_id),
        ),
        None => widget(portal, &format!("/chats/{}/messages", chat.chat_id)),
    }
}

fn seqs(res: &Value) -> Vec<i64> {
    madoguchi_testkit::list::ints(&res["data"], "seq")
}

/// Reads `message` frames until one with `seq`, answering the seqs seen in order.
async fn read_seqs_until(ws: &mut Ws, last: i64) -> Vec<i64> {
    let mut seen = Vec::new();
    while seen.last().copied().unwrap_or(0) < last {
        let frame = ws.next_of("message").await;
        seen.push(frame["seq"].as_i64().unwrap());
    }
    seen
}

both_backends!(
    c3_the_widget_config_lists_departments_and_whether_anyone_is_online,
    c3_starting_a_chat_stores_the_question_as_message_seq_1,
    c3_starting_a_chat_is_idempotent_by_client_message_id,
    c3_start_chat_input_is_validated,
    c3_visitor_messages_are_idempotent_by_client_message_id,
    c3_visitor_calls_need_the_token_of_that_chat,
    c3_after_seq_is_exclusive,
    c3_the_socket_sends_ready_then_what_was_missed_then_live_messages,
    c3_a_reconnecting_widget_gets_what_it_missed_without_gaps_or_duplicates,
    c3_socket_messages_are_stored_before_the_ack_and_resends_are_idempotent,
    c3_the_visitor_socket_refuses_wrong_tokens,
    c3_sockets_close_when_the_server_shuts_down,
    q2_concurrent_messages_get_gap_free_seqs_and_reach_the_socket_once_in_order,
    q2_messages_of_many_chats_committed_together_stay_gap_free_and_resends_stay_single,
    q3_twenty_messages_a_second_per_chat_are_always_accepted,
    q3_cors_is_allowed_on_widget_routes_only,
);

async fn c3_the_widget_config_lists_departments_and_whether_anyone_is_online(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let config = app.get(&widget("acme", "/config"), None).await;
    config.assert_status(200);
    assert_eq!(config["departments"], json!([]));
    // V1: available but no console open is not online.
    assert_eq!(config["online"], false);
    let _console = operator_ws(&app, &admin, "acme").await;
    let config = app.get(&widget("acme", "/config"), None).await;
    assert_eq!(config["online"], true);
    let sales = department(&app, &admin, "acme", "営業").await;
    let config = app.get(&widget("acme", "/config"), None).await;
    assert_eq!(config["departments"][0]["id"], sales.as_str());
    assert_eq!(config["departments"][0]["name"], "営業");
    app.get(&widget("nosuch", "/config"), None)
        .await
        .assert_error(404, "not_found");
}

async fn c3_starting_a_chat_stores_the_question_as_message_seq_1(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let only = department(&app, &admin, "acme", "サポート").await;
    let res = start_chat_with(
        &app,
        "acme",
        json!({"name": "鈴木", "email": "suzuki@example.jp", "phone": "03-1234-5678", "question": "返品したい"}),
    )
    .await;
    res.assert_status(201);
    for key in ["chatId", "visitorId", "visitorToken"] {
        assert!(
            res[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key}: {}",
            res.text
        );
    }
    let chat = VisitorChat {
        chat_id: res["chatId"].as_str().unwrap().into(),
        visitor_id: res["visitorId"].as_str().unwrap().into(),
        token: res["visitorToken"].as_str().unwrap().into(),
    };
    let messages = app
        .get(&messages_path("acme", &chat, None), Some(&chat.token))
        .await;
    messages.assert_status(200);
    let data = messages["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["seq"], 1);
    assert_eq!(data[0]["sender"], "visitor");
    assert_eq!(data[0]["senderName"], "鈴木");
    assert_eq!(data[0]["text"], "返品したい");
    assert!(data[0]["id"].is_string() && data[0]["createdAt"].is_string());
    // What the widget reads: the start answer and the messages, ids and times aside.
    insta::assert_json_snapshot!("widget_chat_started", redact(&res.body));
    insta::assert_json_snapshot!("widget_messages", redact(&messages.body));

    let got = get_chat(&app, &admin, "acme", &chat.chat_id).await;
    assert_eq!(got["state"], "waiting");
    assert_eq!(got["question"], "返品したい");
    assert_eq!(
        got["departmentId"],
        only.as_str(),
        "the only department is chosen"
    );
    assert_eq!(
        got["visitor"],
        json!({"id": chat.visitor_id, "name": "鈴木", "email": "suzuki@example.jp", "phone": "03-1234-5678"})
    );
}

async fn c3_starting_a_chat_is_idempotent_by_client_message_id(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let body = json!({"question": "一度だけ", "clientMessageId": "q-123"});
    let first = app
        .post(&widget("acme", "/chats"), None, body.clone())
        .await;
    first.assert_status(201);
    let again = app.post(&widget("acme", "/chats"), None, body).await;
    again.assert_status(201);
    assert_eq!(first["chatId"], again["chatId"]);
    assert_eq!(first["visitorId"], again["visitorId"]);
    // The retry answers the same object, token included (API.md: "the same object").
    assert_eq!(first.body, again.body);
    let chat = VisitorChat {
        chat_id: first["chatId"].as_str().unwrap().into(),
        visitor_id: String::new(),
        token: again["visitorToken"].as_str().unwrap().into(),
    };
    let res = app
        .get(&messages_path("acme", &chat, None), Some(&chat.token))
        .await;
    res.assert_status(200);
    assert_eq!(seqs(&res.body), vec![1]);
    // Another chat's token is another token.
    let other = start_chat_with(
        &app,
        "acme",
        json!({"question": "別件", "clientMessageId": "q-456"}),
    )
    .await;
    other.assert_status(201);
    assert_ne!(other["visitorToken"], first["visitorToken"]);
    let chats = crate::chat::api_get(&app, &admin, "acme", "/chats").await;
    let mut ids = madoguchi_testkit::list::strs(&chats["data"], "id");
    ids.sort_unstable();
    let mut expected = vec![
        first["chatId"].as_str().unwrap(),
        other["chatId"].as_str().unwrap(),
    ];
    expected.sort_unstable();
    assert_eq!(ids, expected, "the retry made no second chat");
}

async fn c3_start_chat_input_is_validated(app: TestApp) {
    let _admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    for (body, field) in [
        (json!({"question": "  "}), "question"),
        (json!({"clientMessageId": ""}), "clientMessageId"),
        (json!({"email": "nope"}), "email"),
        (json!({"departmentId": "nosuch"}), "departmentId"),
        (json!({"phone": "call me maybe"}), "phone"),
    ] {
        let res = start_chat_with(&app, "acme", body.clone()).await;
        res.assert_error(400, "invalid_request");
        assert_eq!(res.body["error"]["field"], field, "{body}");
    }
    let missing = app
        .post(
            &widget("acme", "/chats"),
            None,
            json!({"clientMessageId": "x"}),
        )
        .await;
    missing.assert_error(400, "invalid_request");
    assert_eq!(missing.body["error"]["field"], "question");
    start_chat_with(&app, "nosuch", json!({}))
        .await
        .assert_error(404, "not_found");
}

async fn c3_visitor_messages_are_idempotent_by_client_message_id(app: TestApp) {
    let _admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    let first = visitor_says(&app, "acme", &chat, "注文番号は123です", "m-1").await;
    first.assert_status(201);
    assert_eq!(first["seq"], 2);
    let resend = visitor_says(&app, "acme", &chat, "注文番号は123です", "m-1").await;
    resend.assert_status(201);
    assert_eq!(resend.body, first.body);
    let next = visitor_says(&app, "acme", &chat, "よろしく", "m-2").await;
    assert_eq!(next["seq"], 3);
    let all = app
        .get(&messages_path("acme", &chat, None), Some(&chat.token))
        .await;
    assert_eq!(seqs(&all.body), vec![1, 2, 3]);
}

async fn c3_visitor_calls_need_the_token_of_that_chat(app: TestApp) {
    let _admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let _other_admin = portal_with_admin(&app, "b@other.example", "other").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    let other = start_chat(&app, "acme", json!({})).await;
    let path = messages_path("acme", &chat, None);
    let body = json!({"text": "hi", "clientMessageId": "x"});
    app.post(&path, None, body.clone())
        .await
        .assert_error(401, "unauthenticated");
    app.post(&path, Some("vt_wrong"), body.clone())
        .await
        .assert_error(401, "unauthenticated");
    app.post(&path, Some(&other.token), body.clone())
        .await
        .assert_error(403, "forbidden");
    app.get(&path, None)
        .await
        .assert_error(401, "unauthenticated");
    app.get(&path, Some(&other.token))
        .await
        .assert_error(403, "forbidden");
    app.post_empty(
        &widget("acme", &format!("/chats/{}/leave", chat.chat_id)),
        None,
    )
    .await
    .assert_error(401, "unauthenticated");
    // The token belongs to a chat of acme, not of another portal.
    app.get(&messages_path("other", &chat, None), Some(&chat.token))
        .await
        .assert_error(404, "not_found");
    // A user's API token is no visitor token.
    let user = app.signup("u@acme.example").await;
    app.get(&path, Some(&user.token))
        .await
        .assert_error(401, "unauthenticated");
    // `?token=` works like the header.
    app.get(&format!("{path}?token={}", chat.token), None)
        .await
        .assert_status(200);
}

async fn c3_after_seq_is_exclusive(app: TestApp) {
    let _admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    for i in 0..4 {
        visitor_says(&app, "acme", &chat, &format!("m{i}"), &format!("c{i}"))
            .await
            .assert_status(201);
    }
    let res = app
        .get(&messages_path("acme", &chat, Some("2")), Some(&chat.token))
        .await;
    res.assert_status(200);
    assert_eq!(seqs(&res.body), vec![3, 4, 5]);
    let res = app
        .get(&messages_path("acme", &chat, Some("5")), Some(&chat.token))
        .await;
    assert_eq!(res.body, json!({"data": []}));
    for bad in ["-1", "x", "1.5"] {
        let res = app
            .get(&messages_path("acme", &chat, Some(bad)), Some(&chat.token))
            .await;
        res.assert_error(400, "invalid_request");
        assert_eq!(res.body["error"]["field"], "afterSeq", "{bad}");
    }
}

async fn c3_the_socket_sends_ready_then_what_was_missed_then_live_messages(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({"name": "鈴木"})).await;
    for i in 0..3 {
        visitor_says(&app, "acme", &chat, &format!("m{i}"), &format!("c{i}"))
            .await
            .assert_status(201);
    }
    let mut ws = Ws::connect(&app, &chat.ws_path("acme", Some(2))).await;
    assert_eq!(ws.next().await, json!({"type": "ready"}));
    let third = ws.next().await;
    assert_eq!(third["type"], "message");
    assert_eq!(third["seq"], 3);
    assert_eq!(third["sender"], "visitor");
    assert_eq!(third["senderName"], "鈴木");
    assert_eq!(third["text"], "m1");
    assert!(third["id"].is_string() && third["createdAt"].is_string());
    assert_eq!(ws.next().await["seq"], 4);
    // Connecting added no message.
    let all = app
        .get(&messages_path("acme", &chat, None), Some(&chat.token))
        .await;
    assert_eq!(seqs(&all.body), vec![1, 2, 3, 4]);

    // Live: the operator accepts and replies.
    accept(&app, &admin, "acme", &chat.chat_id).await;
    let joined = ws.next().await;
    assert_eq!(joined["seq"], 5);
    assert_eq!(joined["sender"], "system");
    app.post(
        &api("acme", &format!("/chats/{}/messages", chat.chat_id)),
        Some(&admin.token),
        json!({"text": "お待たせしました", "clientMessageId": "op-1"}),
    )
    .await
    .assert_status(201);
    let reply = ws.next().await;
    assert_eq!(reply["seq"], 6);
    assert_eq!(reply["sender"], "operator");
    assert_eq!(reply["text"], "お待たせしました");
    assert_eq!(reply["senderName"], "a");

    // The operator ends the chat: the system line, then the new state.
    end(&app, &admin, "acme", &chat.chat_id).await;
    let line = ws.next().await;
    assert_eq!(line["seq"], 7);
    assert_eq!(line["sender"], "system");
    assert_eq!(
        ws.next().await,
        json!({"type": "chat.ended", "state": "ended"})
    );
}

async fn c3_a_reconnecting_widget_gets_what_it_missed_without_gaps_or_duplicates(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    accept(&app, &admin, "acme", &chat.chat_id).await;
    let mut ws = Ws::connect(&app, &chat.ws_path("acme", Some(0))).await;
    assert_eq!(ws.next().await["type"], "ready");
    assert_eq!(read_seqs_until(&mut ws, 2).await, vec![1, 2]);
    drop(ws);

    // While the widget is away: visitor resends and operator replies.
    let reply_path = api("acme", &format!("/chats/{}/messages", chat.chat_id));
    for i in 0..5 {
        app.post(
            &reply_path,
            Some(&admin.token),
            json!({"text": format!("r{i}"), "clientMessageId": format!("r{i}")}),
        )
        .await
        .assert_status(201);
        visitor_says(&app, "acme", &chat, &format!("v{i}"), &format!("v{i}"))
            .await
            .assert_status(201);
    }
    let mut ws = Ws::connect(&app, &chat.ws_path("acme", Some(2))).await;
    assert_eq!(ws.next().await["type"], "ready");
    let caught_up = read_seqs_until(&mut ws, 12).await;
    assert_eq!(caught_up, (3..=12).collect::<Vec<_>>());
    // Then live, continuing the sequence.
    visitor_says(&app, "acme", &chat, "live", "live")
        .await
        .assert_status(201);
    let live = ws.next_of("message").await;
    assert_eq!(live["seq"], 13);
    assert_eq!(live["text"], "live");
    assert!(ws.next_within(Duration::from_millis(300)).await.is_none());
}

async fn c3_socket_messages_are_stored_before_the_ack_and_resends_are_idempotent(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    let mut ws = Ws::connect(&app, &chat.ws_path("acme", Some(1))).await;
    assert_eq!(ws.next().await["type"], "ready");
    ws.send(json!({"type": "message", "text": "ソケットから", "clientMessageId": "w-1"}))
        .await;
    let ack = ws.next_of("ack").await;
    assert_eq!(ack["clientMessageId"], "w-1");
    assert_eq!(ack["seq"], 2);
    // Stored by the time of the ack.
    let got = get_chat(&app, &admin, "acme", &chat.chat_id).await;
    assert_eq!(got["messages"][1]["text"], "ソケットから");
    // The message itself comes back once, as every message does.
    let echoed = ws.next_of("message").await;
    assert_eq!(echoed["seq"], 2);
    // A resend (e.g. after a lost ack) is the same message.
    ws.send(json!({"type": "message", "text": "ソケットから", "clientMessageId": "w-1"}))
        .await;
    let ack = ws.next_of("ack").await;
    assert_eq!(ack["seq"], 2);
    assert!(ws.next_within(Duration::from_millis(300)).await.is_none());
    let got = get_chat(&app, &admin, "acme", &chat.chat_id).await;
    assert_eq!(got["messages"].as_array().unwrap().len(), 2);
    // Bad frames get an error frame, not a closed socket.
    ws.send(json!({"type": "message", "text": "", "clientMessageId": "w-2"}))
        .await;
    let err = ws.next().await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["code"], "invalid_request");
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(ws.next().await, json!({"type": "pong"}));
}

async fn c3_the_visitor_socket_refuses_wrong_tokens(app: TestApp) {
    let _admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    let other = start_chat(&app, "acme", json!({})).await;
    let base = widget("acme", &format!("/chats/{}/ws", chat.chat_id));
    assert_eq!(Ws::refused_status(&app, &base).await, 401);
    assert_eq!(
        Ws::refused_status(&app, &format!("{base}?token=vt_nope")).await,
        401
    );
    assert_eq!(
        Ws::refused_status(&app, &format!("{base}?token={}", other.token)).await,
        403
    );
    assert_eq!(
        Ws::refused_status(&app, &format!("{base}?token={}&afterSeq=-3", chat.token)).await,
        400
    );
}

async fn c3_sockets_close_when_the_server_shuts_down(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    let mut visitor = Ws::connect(&app, &chat.ws_path("acme", Some(0))).await;
    assert_eq!(visitor.next().await["type"], "ready");
    let mut console = operator_ws(&app, &admin, "acme").await;
    app.stop().await;
    assert_eq!(visitor.close_code(Duration::from_secs(5)).await, Some(1001));
    assert_eq!(console.close_code(Duration::from_secs(5)).await, Some(1001));
}

async fn q2_concurrent_messages_get_gap_free_seqs_and_reach_the_socket_once_in_order(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    accept(&app, &admin, "acme", &chat.chat_id).await;
    let mut ws = Ws::connect(&app, &chat.ws_path("acme", Some(2))).await;
    assert_eq!(ws.next().await["type"], "ready");
    let mut console = operator_ws(&app, &admin, "acme").await;

    let visitor_posts = (0..30).map(|i| {
        let (app, chat) = (&app, &chat);
        async move {
            // Every message is sent twice, as a widget resending after a lost answer.
            let a = visitor_says(app, "acme", chat, &format!("v{i}"), &format!("v{i}")).await;
            let b = visitor_says(app, "acme", chat, &format!("v{i}"), &format!("v{i}")).await;
            a.assert_status(201);
            b.assert_status(201);
            assert_eq!(a.body, b.body);
            a["seq"].as_i64().unwrap()
        }
    });
    let operator_posts = (0..10).map(|i| {
        let (app, chat, admin) = (&app, &chat, &admin);
        async move {
            let res = app
                .post(
                    &api("acme", &format!("/chats/{}/messages", chat.chat_id)),
                    Some(&admin.token),
                    json!({"text": format!("o{i}"), "clientMessageId": format!("o{i}")}),
                )
                .await;
            res.assert_status(201);
            res["seq"].as_i64().unwrap()
        }
    });
    let (mut a, b) = tokio::join!(
        futures::future::join_all(visitor_posts),
        futures::future::join_all(operator_posts)
    );
    a.extend(b);
    a.sort_unstable();
    assert_eq!(a, (3..=42).collect::<Vec<_>>(), "gap-free and unique");

    assert_eq!(
        read_seqs_until(&mut ws, 42).await,
        (3..=42).collect::<Vec<_>>()
    );
    assert!(
        ws.next_within(Duration::from_millis(300)).await.is_none(),
        "no duplicates"
    );
    let mut seen = Vec::new();
    while seen.last().copied().unwrap_or(0) < 42 {
        let m = console.next_of("message").await;
        seen.push(m["message"]["seq"].as_i64().unwrap());
    }
    assert_eq!(seen, (3..=42).collect::<Vec<_>>());

    // A late reconnect from 0 gets all of them once, in order.
    let mut late = Ws::connect(&app, &chat.ws_path("acme", Some(0))).await;
    assert_eq!(late.next().await["type"], "ready");
    assert_eq!(
        read_seqs_until(&mut late, 42).await,
        (1..=42).collect::<Vec<_>>()
    );
}

// Q2 group commit: messages of several chats posted at once share transactions;
// each chat's seqs stay gap-free, and a message sent twice at the same moment is
// stored once and answered the same both times.
async fn q2_messages_of_many_chats_committed_together_stay_gap_free_and_resends_stay_single(
    app: TestApp,
) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let mut chats = Vec::new();
    for _ in 0..5 {
        let chat = start_chat(&app, "acme", json!({})).await;
        accept(&app, &admin, "acme", &chat.chat_id).await;
        chats.push(chat);
    }
    let app = &app;
    let posts = chats.iter().flat_map(|chat| {
        (0..8).map(move |i| async move {
            let id = format!("m{i}");
            let (a, b) = tokio::join!(
                visitor_says(app, "acme", chat, &id, &id),
                visitor_says(app, "acme", chat, &id, &id)
            );
            a.assert_status(201);
            b.assert_status(201);
            assert_eq!(a.body, b.body, "both sends answer the one stored message");
            (chat.chat_id.clone(), a["seq"].as_i64().unwrap())
        })
    });
    let answers = futures::future::join_all(posts).await;
    for chat in &chats {
        let mut answered: Vec<i64> = answers
            .iter()
            .filter(|(id, _)| *id == chat.chat_id)
            .map(|(_, seq)| *seq)
            .collect();
        answered.sort_unstable();
        // seq 1 is the question, 2 the "joined" line.
        assert_eq!(answered, (3..=10).collect::<Vec<_>>());
        let stored = app
            .get(&messages_path("acme", chat, None), Some(&chat.token))
            .await;
        assert_eq!(seqs(&stored.body), (1..=10).collect::<Vec<_>>());
    }
}

async fn q3_twenty_messages_a_second_per_chat_are_always_accepted(app: TestApp) {
    let _admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    // Two seconds at 20 messages per second.
    let start = tokio::time::Instant::now();
    for i in 0..40u64 {
        tokio::time::sleep_until(start + Duration::from_millis(i * 50)).await;
        visitor_says(&app, "acme", &chat, "ping", &format!("p{i}"))
            .await
            .assert_status(201);
    }
    // A burst well above it is also accepted…
    let burst = (0..60).map(|i| {
        let (app, chat) = (&app, &chat);
        async move { visitor_says(app, "acme", chat, "burst", &format!("b{i}")).await }
    });
    for res in futures::future::join_all(burst).await {
        res.assert_status(201);
    }
    // …but a flood is not.
    let chat = start_chat(&app, "acme", json!({})).await;
    let flood = (0..400).map(|i| {
        let (app, chat) = (&app, &chat);
        async move { visitor_says(app, "acme", chat, "flood", &format!("f{i}")).await }
    });
    let results = futures::future::join_all(flood).await;
    let limited = results.iter().filter(|r| r.status == 429).count();
    assert!(limited > 0, "a flood of 400 at once is limited");
    results
        .iter()
        .find(|r| r.status == 429)
        .unwrap()
        .assert_error(429, "rate_limited");
}

async fn q3_cors_is_allowed_on_widget_routes_only(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let origin = "https://shop.example.jp";
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, app.url(&widget("acme", "/chats")))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    let methods = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        methods.contains("post") && methods.contains("get"),
        "{methods}"
    );
    let headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        headers.contains("content-type") && headers.contains("authorization"),
        "{headers}"
    );

    let config = app
        .http
        .get(app.url(&widget("acme", "/config")))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(config.headers()["access-control-allow-origin"], "*");
    let chat = start_chat(&app, "acme", json!({})).await;
    let msgs = app
        .http
        .get(app.url(&messages_path("acme", &chat, None)))
        .bearer_auth(&chat.token)
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(msgs.headers()["access-control-allow-origin"], "*");

    // Not on the operator API (cookie-authenticated), nor on other routes.
    for path in [
        api("acme", ""),
        "/chat/api/v1/portals".to_owned(),
        "/api/v1/auth/me".to_owned(),
    ] {
        let res = app
            .http
            .get(app.url(&path))
            .bearer_auth(&admin.token)
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}");
        assert!(
            !res.headers().contains_key("access-control-allow-origin"),
            "{path}"
        );
    }
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, app.url(&api("acme", "/chats")))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(!preflight
        .headers()
        .contains_key("access-control-allow-origin"));
}

// Q3 rate limit on new chats: its own server with `--widget-rate-limit 2`.
async fn q3_new_chats_are_limited_per_client_address(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| s.widget_rate_limit = Some(2)).await else {
        return;
    };
    let _admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let first = start_chat_with(&app, "acme", json!({"clientMessageId": "one"})).await;
    first.assert_status(201);
    start_chat_with(&app, "acme", json!({}))
        .await
        .assert_status(201);
    // A retry of an existing chat is not a new chat.
    let retry = start_chat_with(&app, "acme", json!({"clientMessageId": "one"})).await;
    retry.assert_status(201);
    assert_eq!(retry["chatId"], first["chatId"]);
    start_chat_with(&app, "acme", json!({}))
        .await
        .assert_error(429, "rate_limited");
    // A minute later the address may start chats again.
    app.clock.advance_ms(60_000);
    start_chat_with(&app, "acme", json!({}))
        .await
        .assert_status(201);
}

mod q3_new_chats_are_limited_per_client_address {
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::q3_new_chats_are_limited_per_client_address(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::q3_new_chats_are_limited_per_client_address(Backend::Postgres).await
    }
}

// Q3 behind a reverse proxy: with loopback trusted as the proxy, each X-Forwarded-For
// client has its own limit; a client cannot escape it by prepending addresses.
async fn q3_behind_a_trusted_proxy_the_limit_is_per_forwarded_client(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.widget_rate_limit = Some(1);
        s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let _admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let start = |forwarded: &'static str, n: u32| {
        let req = app
            .http
            .post(app.url(&widget("acme", "/chats")))
            .header("x-forwarded-for", forwarded)
            .json(
                &json!({"question": "こんにちは", "clientMessageId": format!("{forwarded}-{n}")}),
            );
        app.request(req)
    };
    start("198.51.100.1", 1).await.assert_status(201);
    start("198.51.100.1", 2)
        .await
        .assert_error(429, "rate_limited");
    // Another client behind the same proxy is not affected.
    start("198.51.100.2", 1).await.assert_status(201);
    // A spoofed address left of the real one does not make a new client.
    start("6.6.6.6, 198.51.100.1", 3)
        .await
        .assert_error(429, "rate_limited");
}

mod q3_behind_a_trusted_proxy_the_limit_is_per_forwarded_client {
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::q3_behind_a_trusted_proxy_the_limit_is_per_forwarded_client(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::q3_behind_a_trusted_proxy_the_limit_is_per_forwarded_client(Backend::Postgres).await
    }
}

/// Q1/Q2: two `serve` nodes on one PostgreSQL database and one NATS server: a visitor
/// on node 1 and an operator on node 2 talk. Skipped without
/// `MADOGUCHI_TEST_DATABASE_URL` and `MADOGUCHI_TEST_NATS_URL`; fails when they are set
/// but unreachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q2_two_nodes_share_live_chats_over_nats() {
    let Some(nats_url) = madoguchi_testkit::env_setting("MADOGUCHI_TEST_NATS_URL") else {
        eprintln!(
            "q2_two_nodes_share_live_chats_over_nats: MADOGUCHI_TEST_NATS_URL unset, skipped"
        );
        return;
    };
    let Some(node1) =
        TestApp::spawn_with(Backend::Postgres, |s| s.nats_url = Some(nats_url.clone())).await
    else {
        eprintln!(
            "q2_two_nodes_share_live_chats_over_nats: MADOGUCHI_TEST_DATABASE_URL unset, skipped"
        );
        return;
    };
    let node2 = TestApp::spawn_node_sharing(&node1).await;
    let admin = portal_with_admin(&node1, "a@acme.example", "acme").await;
    let mut console = operator_ws(&node2, &admin, "acme").await;

    let chat = start_chat(
        &node1,
        "acme",
        json!({"name": "鈴木", "question": "ノード1から"}),
    )
    .await;
    let offered = console.next_of("chat.waiting").await;
    assert_eq!(offered["chat"]["id"], chat.chat_id.as_str());
    let mut visitor = Ws::connect(&node1, &chat.ws_path("acme", Some(1))).await;
    assert_eq!(visitor.next().await["type"], "ready");

    crate::chat::act(&node2, &admin, "acme", &chat.chat_id, "accept")
        .await
        .assert_status(200);
    let joined = visitor.next_of("message").await;
    assert_eq!(joined["seq"], 2);
    assert_eq!(joined["sender"], "system");

    console
        .send(json!({"type": "message", "chatId": chat.chat_id, "text": "ノード2から返信", "clientMessageId": "n2-1"}))
        .await;
    assert_eq!(console.next_of("ack").await["seq"], 3);
    let reply = visitor.next_of("message").await;
    assert_eq!(reply["seq"], 3);
    assert_eq!(reply["text"], "ノード2から返信");

    visitor
        .send(json!({"type": "message", "text": "ありがとう", "clientMessageId": "n1-1"}))
        .await;
    assert_eq!(visitor.next_of("ack").await["seq"], 4);
    let heard = loop {
        let m = console.next_of("message").await;
        if m["message"]["seq"] == 4 {
            break m;
        }
    };
    assert_eq!(heard["message"]["text"], "ありがとう");
    assert_eq!(heard["chatId"], chat.chat_id.as_str());
    // Idempotency holds across nodes too.
    let again = visitor_says(&node2, "acme", &chat, "ありがとう", "n1-1").await;
    assert_eq!(again["seq"], 4);
}
