//! The operator toolkit (SPEC O1–O6; API.md "Visitor experience and operator toolkit"):
//! canned responses, transfer, routing with capacity, one owner per chat, and Desk
//! changes made from the chat recorded under the operator who made them.
#![allow(clippy::unwrap_used)]

use crate::both_backends;
use crate::chat::{
    act, api, department, get_chat, operator, operator_says, operator_ws, portal_with_admin,
    start_chat, Ws,
};
use crate::helpers::{Res, TestApp, TestUser};
use crate::integration::World;
use serde_json::{json, Value};

fn texts(chat: &Value) -> Vec<String> {
    chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

/// A portal with a department "support" and two operators of it.
struct Team {
    admin: TestUser,
    dept: String,
    op1: TestUser,
    op2: TestUser,
}

async fn team(app: &TestApp) -> Team {
    let admin = portal_with_admin(app, "admin@acme.example", "acme").await;
    let dept = department(app, &admin, "acme", "サポート").await;
    let op1 = operator(
        app,
        &admin,
        "acme",
        "op1@acme.example",
        "operator",
        &[&dept],
    )
    .await;
    let op2 = operator(
        app,
        &admin,
        "acme",
        "op2@acme.example",
        "operator",
        &[&dept],
    )
    .await;
    Team {
        admin,
        dept,
        op1,
        op2,
    }
}

// ---------------------------------------------------------------------------------
// O4 one owner
// ---------------------------------------------------------------------------------

both_backends!(
    o4_only_the_owner_writes_in_an_attended_chat_and_the_race_loser_gets_not_chat_owner,
    o4_a_supervisor_joins_explicitly_and_the_transcript_shows_it,
    o4_a_missed_chat_has_no_owner_and_any_operator_follows_up,
);

async fn o4_only_the_owner_writes_in_an_attended_chat_and_the_race_loser_gets_not_chat_owner(
    app: TestApp,
) {
    let t = team(&app).await;
    let chat = start_chat(&app, "acme", json!({"departmentId": t.dept})).await;
    // The race: both accept, one wins.
    let (a, b) = tokio::join!(
        act(&app, &t.op1, "acme", &chat.chat_id, "accept"),
        act(&app, &t.op2, "acme", &chat.chat_id, "accept"),
    );
    let (winner, loser) = if a.status == 200 {
        b.assert_error(409, "conflict");
        (&t.op1, &t.op2)
    } else {
        a.assert_error(409, "conflict");
        b.assert_status(200);
        (&t.op2, &t.op1)
    };
    // The loser writes nothing into the winner's chat, over REST or the socket.
    operator_says(&app, loser, "acme", &chat.chat_id, "横から失礼します")
        .await
        .assert_error(403, "not_chat_owner");
    let mut ws = operator_ws(&app, loser, "acme").await;
    ws.send(json!({"type": "message", "chatId": chat.chat_id, "text": "ソケットからも", "clientMessageId": "x1"}))
        .await;
    let refused = ws.next_of("error").await;
    assert_eq!(refused["code"], "not_chat_owner");
    assert_eq!(refused["clientMessageId"], "x1");
    // Nor ends it.
    act(&app, loser, "acme", &chat.chat_id, "end")
        .await
        .assert_error(403, "not_chat_owner");
    operator_says(&app, winner, "acme", &chat.chat_id, "担当します")
        .await
        .assert_status(201);
    let view = get_chat(&app, winner, "acme", &chat.chat_id).await;
    assert_eq!(view["operatorId"], winner.id.as_str());
    let said = texts(&view.body);
    assert!(said.contains(&"担当します".to_owned()));
    assert!(!said
        .iter()
        .any(|t| t.contains("横から") || t.contains("ソケット")));
    // The admin (not the owner) may not write without joining either, but may end it.
    operator_says(&app, &t.admin, "acme", &chat.chat_id, "管理者です")
        .await
        .assert_error(403, "not_chat_owner");
    act(&app, &t.admin, "acme", &chat.chat_id, "end")
        .await
        .assert_status(200);
}

async fn o4_a_supervisor_joins_explicitly_and_the_transcript_shows_it(app: TestApp) {
    let t = team(&app).await;
    let sup = app.signup_named("sup@acme.example", "監督 次郎").await;
    app.post(
        &api("acme", "/operators"),
        Some(&t.admin.token),
        json!({"email": sup.email, "role": "supervisor"}),
    )
    .await
    .assert_status(201);
    let chat = start_chat(&app, "acme", json!({"departmentId": t.dept})).await;
    act(&app, &t.op1, "acme", &chat.chat_id, "accept")
        .await
        .assert_status(200);
    operator_says(&app, &sup, "acme", &chat.chat_id, "参加前")
        .await
        .assert_error(403, "not_chat_owner");
    // An operator may not join; a supervisor may, once.
    act(&app, &t.op2, "acme", &chat.chat_id, "join")
        .await
        .assert_error(403, "forbidden");
    let joined = act(&app, &sup, "acme", &chat.chat_id, "join").await;
    joined.assert_status(200);
    assert_eq!(joined["participantIds"], json!([sup.id]));
    assert_eq!(joined["operatorId"], t.op1.id.as_str());
    act(&app, &sup, "acme", &chat.chat_id, "join")
        .await
        .assert_status(200);
    operator_says(&app, &sup, "acme", &chat.chat_id, "スーパーバイザーです")
        .await
        .assert_status(201);
    let view = get_chat(&app, &t.op1, "acme", &chat.chat_id).await;
    let said = texts(&view.body);
    let lines: Vec<&String> = said.iter().filter(|t| t.contains("監督 次郎")).collect();
    assert_eq!(lines.len(), 1, "one join line: {said:?}");
    assert!(lines[0].contains("スーパーバイザー"), "{said:?}");
    assert!(said.contains(&"スーパーバイザーです".to_owned()));
    // Joining needs an attended chat.
    let waiting = start_chat(&app, "acme", json!({"departmentId": t.dept})).await;
    act(&app, &sup, "acme", &waiting.chat_id, "join")
        .await
        .assert_error(409, "conflict");
}

async fn o4_a_missed_chat_has_no_owner_and_any_operator_follows_up(app: TestApp) {
    let t = team(&app).await;
    let chat = start_chat(&app, "acme", json!({"departmentId": t.dept})).await;
    app.clock.advance_ms(10 * 60 * 1000);
    crate::chat::wait_for_chat(
        &app,
        &t.op1,
        "acme",
        &chat.chat_id,
        std::time::Duration::from_secs(10),
        |c| c["state"] == "missed",
    )
    .await;
    operator_says(&app, &t.op1, "acme", &chat.chat_id, "遅くなりました")
        .await
        .assert_status(201);
    operator_says(&app, &t.op2, "acme", &chat.chat_id, "こちらからも")
        .await
        .assert_status(201);
}

// ---------------------------------------------------------------------------------
// O2 transfer
// ---------------------------------------------------------------------------------

both_backends!(
    o2_a_transfer_hands_the_chat_over_with_a_note_and_the_old_owner_stops_writing,
    o2_a_transfer_to_a_department_goes_to_its_least_busy_online_operator,
    o2_transfers_are_checked,
);

async fn transfer(app: &TestApp, user: &TestUser, chat_id: &str, body: Value) -> Res {
    app.post(
        &api("acme", &format!("/chats/{chat_id}/transfer")),
        Some(&user.token),
        body,
    )
    .await
}

async fn o2_a_transfer_hands_the_chat_over_with_a_note_and_the_old_owner_stops_writing(
    app: TestApp,
) {
    let t = team(&app).await;
    let chat = start_chat(&app, "acme", json!({"departmentId": t.dept})).await;
    act(&app, &t.op1, "acme", &chat.chat_id, "accept")
        .await
        .assert_status(200);
    let mut receiver = operator_ws(&app, &t.op2, "acme").await;
    let mut giver = operator_ws(&app, &t.op1, "acme").await;
    let mut visitor = Ws::connect(&app, &chat.ws_path("acme", Some(2))).await;
    assert_eq!(visitor.next().await["type"], "ready");

    let moved = transfer(
        &app,
        &t.op1,
        &chat.chat_id,
        json!({"operatorId": t.op2.id, "note": "請求の件です。よろしく"}),
    )
    .await;
    moved.assert_status(200);
    assert_eq!(moved["operatorId"], t.op2.id.as_str());
    assert_eq!(moved["state"], "attended");
    assert_eq!(moved["transfer"]["note"], "請求の件です。よろしく");
    assert_eq!(moved["transfer"]["fromOperatorId"], t.op1.id.as_str());
    assert_eq!(moved["transfer"]["toOperatorId"], t.op2.id.as_str());

    // Both consoles hear it; the receiver with the note.
    for ws in [&mut receiver, &mut giver] {
        let ev = ws.next_of("chat.transferred").await;
        assert_eq!(ev["chat"]["id"], chat.chat_id.as_str());
        assert_eq!(ev["chat"]["operatorId"], t.op2.id.as_str());
        assert_eq!(ev["chat"]["transfer"]["note"], "請求の件です。よろしく");
        assert!(ev["eventId"].as_i64().unwrap() > 0);
    }
    // The visitor sees a system line naming the receiver, not the note.
    let line = visitor.next_of("message").await;
    assert_eq!(line["sender"], "system");
    assert!(line["text"].as_str().unwrap().contains("op2"), "{line}");
    assert!(!line["text"].as_str().unwrap().contains("請求"));

    operator_says(&app, &t.op1, "acme", &chat.chat_id, "まだ書ける？")
        .await
        .assert_error(403, "not_chat_owner");
    operator_says(&app, &t.op2, "acme", &chat.chat_id, "引き継ぎました")
        .await
        .assert_status(201);
    // The history records who handed over, to whom and when.
    let events = chat_events(&app, &chat.chat_id).await;
    assert!(
        events
            .iter()
            .any(|(kind, actor)| kind == "transferred" && actor.as_deref() == Some(&t.op1.id)),
        "{events:?}"
    );
    // The receiver's queue shows it as theirs with the note.
    let mine = app
        .get(&api("acme", "/chats?state=attended"), Some(&t.op2.token))
        .await;
    let listed = mine["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == chat.chat_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(listed["operatorId"], t.op2.id.as_str());
    assert_eq!(listed["transfer"]["note"], "請求の件です。よろしく");
}

/// `(kind, actor)` of a chat's lifecycle record, oldest first.
async fn chat_events(app: &TestApp, chat_id: &str) -> Vec<(String, Option<String>)> {
    use sqlx::Row;
    sqlx::query("select kind, actor_id from chat_events where chat_id = $1 order by id")
        .bind(chat_id)
        .fetch_all(app.db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("kind"), r.get("actor_id")))
        .collect()
}

async fn o2_a_transfer_to_a_department_goes_to_its_least_busy_online_operator(app: TestApp) {
    let t = team(&app).await;
    let billing = department(&app, &t.admin, "acme", "請求").await;
    let b1 = operator(
        &app,
        &t.admin,
        "acme",
        "b1@acme.example",
        "operator",
        &[&billing],
    )
    .await;
    let b2 = operator(
        &app,
        &t.admin,
        "acme",
        "b2@acme.example",
        "operator",
        &[&billing],
    )
    .await;
    // (The admin, who takes every department's chats, is away.)
    away(&app, &t.admin).await;
    // Both billing operators have their console open (V1: only they can be reached).
    let _b1_console = operator_ws(&app, &b1, "acme").await;
    let _b2_console = operator_ws(&app, &b2, "acme").await;
    // b1 already has a chat of their own.
    let busy = start_chat(&app, "acme", json!({"departmentId": billing})).await;
    act(&app, &b1, "acme", &busy.chat_id, "accept")
        .await
        .assert_status(200);
    let chat = start_chat(&app, "acme", json!({"departmentId": t.dept})).await;
    act(&app, &t.op1, "acme", &chat.chat_id, "accept")
        .await
        .assert_status(200);
    let moved = transfer(
        &app,
        &t.op1,
        &chat.chat_id,
        json!({"departmentId": billing, "note": "請求部門へ"}),
    )
    .await;
    moved.assert_status(200);
    assert_eq!(moved["departmentId"], billing.as_str());
    assert_eq!(moved["operatorId"], b2.id.as_str());
    // op1 no longer sees the chat's department; b2 writes.
    operator_says(&app, &b2, "acme", &chat.chat_id, "請求担当です")
        .await
        .assert_status(201);
    // Nobody online in the department: 409, nothing changes.
    for op in [&b1, &b2] {
        madoguchi_testkit::chat::set_availability(&app, op, "acme", "away").await;
    }
    let other = start_chat(&app, "acme", json!({"departmentId": t.dept})).await;
    act(&app, &t.op1, "acme", &other.chat_id, "accept")
        .await
        .assert_status(200);
    transfer(
        &app,
        &t.op1,
        &other.chat_id,
        json!({"departmentId": billing}),
    )
    .await
    .assert_error(409, "conflict");
    let still = get_chat(&app, &t.op1, "acme", &other.chat_id).await;
    assert_eq!(still["operatorId"], t.op1.id.as_str());
}

async fn o2_transfers_are_checked(app: TestApp) {
    let t = team(&app).await;
    let chat = start_chat(&app, "acme", json!({"departmentId": t.dept})).await;
    // Only an attended chat.
    transfer(&app, &t.op1, &chat.chat_id, json!({"operatorId": t.op2.id}))
        .await
        .assert_error(409, "conflict");
    act(&app, &t.op1, "acme", &chat.chat_id, "accept")
        .await
        .assert_status(200);
    // Only its owner (or a supervisor or admin).
    transfer(&app, &t.op2, &chat.chat_id, json!({"operatorId": t.op2.id}))
        .await
        .assert_error(403, "not_chat_owner");
    let bad = transfer(&app, &t.op1, &chat.chat_id, json!({})).await;
    bad.assert_error(400, "invalid_request");
    assert_eq!(bad["error"]["field"], "operatorId");
    let me = transfer(&app, &t.op1, &chat.chat_id, json!({"operatorId": t.op1.id})).await;
    me.assert_error(400, "invalid_request");
    let long = transfer(
        &app,
        &t.op1,
        &chat.chat_id,
        json!({"operatorId": t.op2.id, "note": "あ".repeat(1001)}),
    )
    .await;
    long.assert_error(400, "invalid_request");
    assert_eq!(long["error"]["field"], "note");
    let unknown = transfer(&app, &t.op1, &chat.chat_id, json!({"departmentId": "nope"})).await;
    assert_eq!(unknown["error"]["field"], "departmentId");
    // V1: available but with no console open is not online; nobody would see the chat.
    let online_of = |list: &Res, id: &str| {
        list["data"]
            .as_array()
            .and_then(|a| a.iter().find(|o| o["id"] == id))
            .map(|o| o["online"].clone())
    };
    let list = app
        .get(&api("acme", "/operators"), Some(&t.op1.token))
        .await;
    assert_eq!(
        online_of(&list, &t.op2.id),
        Some(json!(false)),
        "{}",
        list.text
    );
    transfer(&app, &t.op1, &chat.chat_id, json!({"operatorId": t.op2.id}))
        .await
        .assert_error(409, "conflict");
    let _op2_console = operator_ws(&app, &t.op2, "acme").await;
    let list = app
        .get(&api("acme", "/operators"), Some(&t.op1.token))
        .await;
    assert_eq!(
        online_of(&list, &t.op2.id),
        Some(json!(true)),
        "{}",
        list.text
    );
    // An away operator is not offered the chat.
    madoguchi_testkit::chat::set_availability(&app, &t.op2, "acme", "away").await;
    transfer(&app, &t.op1, &chat.chat_id, json!({"operatorId": t.op2.id}))
        .await
        .assert_error(409, "conflict");
    // The admin hands it over for the owner.
    madoguchi_testkit::chat::set_availability(&app, &t.op2, "acme", "available").await;
    transfer(
        &app,
        &t.admin,
        &chat.chat_id,
        json!({"operatorId": t.op2.id}),
    )
    .await
    .assert_status(200);
}

// ---------------------------------------------------------------------------------
// O6 attribution and view details
// ---------------------------------------------------------------------------------

both_backends!(o6_desk_changes_from_the_chat_are_recorded_under_the_operator_who_made_them);

/// The ticket's history as `(field, actorName, actorId)`, oldest first.
async fn history(w: &World, ticket_id: &str) -> Vec<(String, String, Option<String>)> {
    let res = w
        .get(&w.desk_api(&format!("/tickets/{ticket_id}/history")))
        .await;
    res.assert_status(200);
    res["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or("").to_owned(),
                e["actorName"].as_str().unwrap_or("").to_owned(),
                e["actorId"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

async fn o6_desk_changes_from_the_chat_are_recorded_under_the_operator_who_made_them(app: TestApp) {
    let w = World::linked(app).await;
    // 佐藤 is a Chat supervisor and a Desk agent; 田中 only a Chat supervisor.
    let sato = w
        .app
        .signup_named("sato@acme.example.jp", "佐藤 花子")
        .await;
    let tanaka = w
        .app
        .signup_named("tanaka@acme.example.jp", "田中 三郎")
        .await;
    for u in [&sato, &tanaka] {
        w.app
            .post(
                &w.chat_api("/operators"),
                w.token(),
                json!({"email": u.email, "role": "supervisor"}),
            )
            .await
            .assert_status(201);
    }
    w.app
        .post(
            &w.desk_api("/members"),
            w.token(),
            json!({"email": sato.email, "role": "agent"}),
        )
        .await
        .assert_status(201);

    let chat = w
        .start_chat(
            Some("鈴木 一郎"),
            Some("suzuki@example.jp"),
            None,
            "請求書について",
        )
        .await;
    act(&w.app, &sato, &w.chat, &chat, "accept")
        .await
        .assert_status(200);
    let panel = w.app.get(&w.desk_of(&chat, ""), Some(&sato.token)).await;
    panel.assert_status(200);
    assert_eq!(panel["deskMember"], true);
    // Convert: the ticket is 佐藤's and its history names her, not the key's admin.
    let ticket = w
        .app
        .post(&w.desk_of(&chat, "/tickets"), Some(&sato.token), json!({}))
        .await;
    let tid = ticket.expect_str(201, "id");
    assert_eq!(ticket["assigneeId"], sato.id.as_str());
    let h = history(&w, &tid).await;
    assert!(!h.is_empty());
    assert!(
        h.iter()
            .all(|(_, name, id)| name == "佐藤 花子" && id.as_deref() == Some(&sato.id)),
        "{h:?}"
    );
    // Status and reply, by 佐藤.
    w.app
        .patch(
            &w.desk_of(&chat, &format!("/tickets/{tid}")),
            Some(&sato.token),
            json!({"status": "Closed"}),
        )
        .await
        .assert_status(200);
    w.app
        .post(
            &w.desk_of(&chat, &format!("/tickets/{tid}/replies")),
            Some(&sato.token),
            json!({"content": "対応しました"}),
        )
        .await
        .assert_status(201);
    let h = history(&w, &tid).await;
    assert!(h.iter().any(|(f, n, _)| f == "status" && n == "佐藤 花子"));
    assert!(
        h.iter().any(|(f, n, _)| f == "reply" && n == "佐藤 花子"),
        "{h:?}"
    );
    assert!(!h.iter().any(|(_, n, _)| n == &w.admin.name), "{h:?}");
    let reply = w
        .threads(&tid)
        .await
        .into_iter()
        .find(|t| t["kind"] == "reply")
        .unwrap();
    assert_eq!(reply["authorName"], "佐藤 花子");

    // 田中 (no Desk member): reopening is recorded under his name; "view details"
    // cannot open Desk for him, and the panel says so.
    let panel = w.app.get(&w.desk_of(&chat, ""), Some(&tanaka.token)).await;
    panel.assert_status(200);
    assert_eq!(panel["deskMember"], false);
    w.app
        .patch(
            &w.desk_of(&chat, &format!("/tickets/{tid}")),
            Some(&tanaka.token),
            json!({"status": "Open"}),
        )
        .await
        .assert_status(200);
    let h = history(&w, &tid).await;
    let last = h.last().unwrap();
    assert_eq!(last.0, "status");
    assert_eq!(last.1, "田中 三郎");
    assert_eq!(last.2, None);
    // A ticket 田中 converts stays unassigned.
    let other = w
        .start_chat(None, Some("yamada@example.jp"), None, "別件です")
        .await;
    act(&w.app, &tanaka, &w.chat, &other, "accept")
        .await
        .assert_status(200);
    let t2 = w
        .app
        .post(
            &w.desk_of(&other, "/tickets"),
            Some(&tanaka.token),
            json!({}),
        )
        .await;
    t2.assert_status(201);
    assert!(t2["assigneeId"].is_null(), "{}", t2.text);
    let h = history(&w, t2["id"].as_str().unwrap()).await;
    assert!(h.iter().all(|(_, n, _)| n == "田中 三郎"), "{h:?}");
}

/// O6 over HTTP (`--desk-url`): the acting operator travels with the service key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn o6_over_http_the_desk_records_the_acting_operator_and_assigns_its_members() {
    use crate::integration::{link_over_http, widget_chat, DeskServer};
    let desk_server = DeskServer::new();
    let desk = desk_server.start().await;
    let chat = TestApp::spawn_with(crate::helpers::Backend::Sqlite, |s| {
        s.desk_url = Some(desk_server.url())
    })
    .await
    .unwrap();
    let (chat_admin, desk_token) = link_over_http(&chat, &desk).await;
    let base = "/chat/api/v1/portals/acme-chat";
    let convert = |id: String| {
        let chat = &chat;
        let token = chat_admin.token.clone();
        async move {
            chat.post_empty(&format!("{base}/chats/{id}/accept"), Some(&token))
                .await
                .assert_status(200);
            let t = chat
                .post(
                    &format!("{base}/chats/{id}/desk/tickets"),
                    Some(&token),
                    json!({}),
                )
                .await;
            t.assert_status(201);
            t.body
        }
    };
    let desk_history = |tid: String| {
        let desk = &desk;
        let token = desk_token.clone();
        async move {
            let res = desk
                .get(
                    &format!("/desk/api/v1/portals/acme/tickets/{tid}/history"),
                    Some(&token),
                )
                .await;
            res.assert_status(200);
            res["data"].as_array().unwrap().clone()
        }
    };
    // Not a Desk member: the name alone, unassigned.
    let first = convert(widget_chat(&chat, "a@example.jp", "一件目").await).await;
    assert!(first["assigneeId"].is_null());
    let h = desk_history(first["id"].as_str().unwrap().to_owned()).await;
    assert!(!h.is_empty());
    assert!(
        h.iter()
            .all(|e| e["actorName"] == "chat-admin" && e["actorId"].is_null()),
        "{h:?}"
    );
    // Now a Desk member with the same email: theirs, under their Desk name.
    let member = desk
        .signup_named(&chat_admin.email, "チャット 管理者")
        .await;
    desk.post(
        "/desk/api/v1/portals/acme/members",
        Some(&desk_token),
        json!({"email": chat_admin.email, "role": "agent"}),
    )
    .await
    .assert_status(201);
    let second = convert(widget_chat(&chat, "b@example.jp", "二件目").await).await;
    assert_eq!(second["assigneeId"], member.id.as_str());
    let h = desk_history(second["id"].as_str().unwrap().to_owned()).await;
    assert!(
        h.iter().all(|e| e["actorName"] == "チャット 管理者"),
        "{h:?}"
    );
}

// ---------------------------------------------------------------------------------
// O3 routing and capacity
// ---------------------------------------------------------------------------------

both_backends!(
    o3_routing_and_the_cap_are_portal_settings,
    o3_round_robin_shares_100_chats_34_33_33,
    o3_least_busy_offers_to_the_operator_with_fewest_chats,
    o3_no_chat_is_offered_at_the_cap_and_it_waits_until_someone_frees_up,
);

async fn settings(app: &TestApp, admin: &TestUser, body: Value) -> Res {
    crate::chat::patch_settings(app, admin, "acme", body).await
}

async fn away(app: &TestApp, user: &TestUser) {
    madoguchi_testkit::chat::set_availability(app, user, "acme", "away").await;
}

async fn o3_routing_and_the_cap_are_portal_settings(app: TestApp) {
    let t = team(&app).await;
    let got = app
        .get(&api("acme", "/settings"), Some(&t.admin.token))
        .await;
    assert_eq!(got["routing"], "broadcast");
    assert!(got["maxChatsPerOperator"].is_null());
    let set = settings(
        &app,
        &t.admin,
        json!({"routing": "round_robin", "maxChatsPerOperator": 3}),
    )
    .await;
    set.assert_status(200);
    assert_eq!(set["routing"], "round_robin");
    assert_eq!(set["maxChatsPerOperator"], 3);
    // Absent keeps; null removes the cap.
    let kept = settings(&app, &t.admin, json!({"missedAfterSeconds": 60})).await;
    assert_eq!(kept["routing"], "round_robin");
    assert_eq!(kept["maxChatsPerOperator"], 3);
    let cleared = settings(&app, &t.admin, json!({"maxChatsPerOperator": null})).await;
    assert!(cleared["maxChatsPerOperator"].is_null());
    let portal = app.get(&api("acme", ""), Some(&t.admin.token)).await;
    assert_eq!(portal["routing"], "round_robin");
    for (body, field) in [
        (json!({"routing": "random"}), "routing"),
        (json!({"maxChatsPerOperator": 0}), "maxChatsPerOperator"),
        (json!({"maxChatsPerOperator": 1001}), "maxChatsPerOperator"),
    ] {
        let bad = settings(&app, &t.admin, body).await;
        bad.assert_error(400, "invalid_request");
        assert_eq!(bad["error"]["field"], field);
    }
    settings(&app, &t.op1, json!({"routing": "least_busy"}))
        .await
        .assert_error(403, "forbidden");
}

async fn o3_round_robin_shares_100_chats_34_33_33(app: TestApp) {
    let t = team(&app).await;
    let op3 = operator(
        &app,
        &t.admin,
        "acme",
        "op3@acme.example",
        "operator",
        &[&t.dept],
    )
    .await;
    away(&app, &t.admin).await;
    settings(&app, &t.admin, json!({"routing": "round_robin"}))
        .await
        .assert_status(200);
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for _ in 0..100 {
        let chat = start_chat(&app, "acme", json!({"departmentId": t.dept})).await;
        let view = get_chat(&app, &t.op1, "acme", &chat.chat_id).await;
        assert_eq!(view["state"], "waiting");
        let to = view["offeredTo"]
            .as_str()
            .expect("offered to someone")
            .to_owned();
        *counts.entry(to).or_default() += 1;
    }
    let mut shares: Vec<usize> = [&t.op1, &t.op2, &op3]
        .iter()
        .map(|o| counts.get(&o.id).copied().unwrap_or(0))
        .collect();
    shares.sort_unstable();
    assert_eq!(shares, vec![33, 33, 34], "{counts:?}");
    // Only the operator it is offered to accepts it (supervisors and admins may too).
    let chat = start_chat(&app, "acme", json!({"departmentId": t.dept})).await;
    let view = get_chat(&app, &t.op1, "acme", &chat.chat_id).await;
    let to = view["offeredTo"].as_str().unwrap().to_owned();
    let other = [&t.op1, &t.op2, &op3]
        .into_iter()
        .find(|o| o.id != to)
        .unwrap();
    act(&app, other, "acme", &chat.chat_id, "accept")
        .await
        .assert_error(409, "conflict");
    let owner = [&t.op1, &t.op2, &op3]
        .into_iter()
        .find(|o| o.id == to)
        .unwrap();
    act(&app, owner, "acme", &chat.chat_id, "accept")
        .await
        .assert_status(200);
}

async fn o3_least_busy_offers_to_the_operator_with_fewest_chats(app: TestApp) {
    let t = team(&app).await;
    away(&app, &t.admin).await;
    // op1 holds two chats, op2 one (taken while broadcast).
    for who in [&t.op1, &t.op1, &t.op2] {
        let chat = start_chat(&app, "acme", json!({"departmentId": t.dept})).await;
        act(&app, who, "acme", &chat.chat_id, "accept")
            .await
            .assert_status(200);
    }
    settings(&app, &t.admin, json!({"routing": "least_busy"}))
        .await
        .assert_status(200);
    let next = start_chat(&app, "acme", json!({"departmentId": t.dept})).await;
    let view = get_chat(&app, &t.op1, "acme", &next.chat_id).await;
    assert_eq!(view["offeredTo"], t.op2.id.as_str());
    let after = start_chat(&app, "acme", json!({"departmentId": t.dept})).await;
    let view = get_chat(&app, &t.op1, "acme", &after.chat_id).await;
    // Both hold two now (op2's offer counts): the one whose turn it is, op1.
    assert_eq!(view["offeredTo"], t.op1.id.as_str());
}

async fn o3_no_chat_is_offered_at_the_cap_and_it_waits_until_someone_frees_up(app: TestApp) {
    let t = team(&app).await;
    away(&app, &t.admin).await;
    settings(
        &app,
        &t.admin,
        json!({"routing": "round_robin", "maxChatsPerOperator": 1}),
    )
    .await
    .assert_status(200);
    let mut held = Vec::new();
    for _ in 0..2 {
        let chat = start_chat(&app, "acme", json!({"departmentId": t.dept})).await;
        let view = get_chat(&app, &t.op1, "acme", &chat.chat_id).await;
        let to = view["offeredTo"].as_str().unwrap().to_owned();
        let who = if to == t.op1.id { &t.op1 } else { &t.op2 };
        act(&app, who, "acme", &chat.chat_id, "accept")
            .await
            .assert_status(200);
        held.push((chat, who.clone()));
    }
    assert_ne!(held[0].1.id, held[1].1.id, "one each");
    // Everyone is at the cap: the next chat waits, offered to nobody.
    let waiting = start_chat(&app, "acme", json!({"departmentId": t.dept})).await;
    let view = get_chat(&app, &t.op1, "acme", &waiting.chat_id).await;
    assert_eq!(view["state"], "waiting");
    assert!(view["offeredTo"].is_null(), "{}", view.text);
    // An operator at the cap cannot accept it either.
    act(&app, &t.op1, "acme", &waiting.chat_id, "accept")
        .await
        .assert_error(409, "conflict");
    // op1 ends theirs: the waiting chat is offered to op1 (the timer routes it).
    let (first, first_owner) = &held[0];
    act(&app, first_owner, "acme", &first.chat_id, "end")
        .await
        .assert_status(200);
    let view = crate::chat::wait_for_chat(
        &app,
        &t.op1,
        "acme",
        &waiting.chat_id,
        std::time::Duration::from_secs(10),
        |c| !c["offeredTo"].is_null(),
    )
    .await;
    assert_eq!(view["offeredTo"], first_owner.id.as_str());
    // Nobody accepts: the wait limit still applies.
    app.clock.advance_ms(10 * 60 * 1000);
    crate::chat::wait_for_chat(
        &app,
        &t.op1,
        "acme",
        &waiting.chat_id,
        std::time::Duration::from_secs(10),
        |c| c["state"] == "missed",
    )
    .await;
}

// ---------------------------------------------------------------------------------
// O1 canned responses
// ---------------------------------------------------------------------------------

both_backends!(
    o1_canned_responses_come_in_portal_department_and_personal_sets,
    o1_canned_responses_are_validated_and_only_their_writers_change_them,
);

async fn canned(app: &TestApp, user: &TestUser, body: Value) -> Res {
    app.post(&api("acme", "/canned-responses"), Some(&user.token), body)
        .await
}

async fn shortcuts(app: &TestApp, user: &TestUser) -> Vec<String> {
    let res = crate::chat::api_get(app, user, "acme", "/canned-responses").await;
    res.assert_status(200);
    res["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["shortcut"].as_str().unwrap().to_owned())
        .collect()
}

async fn o1_canned_responses_come_in_portal_department_and_personal_sets(app: TestApp) {
    let t = team(&app).await;
    let other = department(&app, &t.admin, "acme", "営業").await;
    let shared = canned(
        &app,
        &t.admin,
        json!({"shortcut": "/hello", "text": "{visitor.name}様、お問い合わせありがとうございます。担当の{operator.name}です。", "scope": "portal"}),
    )
    .await;
    shared.assert_status(201);
    assert_eq!(shared["shortcut"], "hello");
    assert_eq!(shared["scope"], "portal");
    assert!(shared["departmentId"].is_null());
    canned(
        &app,
        &t.admin,
        json!({"shortcut": "refund", "text": "返金の手続きをご案内します。", "scope": "department", "departmentId": t.dept}),
    )
    .await
    .assert_status(201);
    canned(
        &app,
        &t.admin,
        json!({"shortcut": "sales", "text": "営業部門からご連絡します。", "scope": "department", "departmentId": other}),
    )
    .await
    .assert_status(201);
    let mine = canned(
        &app,
        &t.op1,
        json!({"shortcut": "bye", "text": "失礼いたします。", "scope": "personal"}),
    )
    .await;
    mine.assert_status(201);
    assert_eq!(mine["ownerId"], t.op1.id.as_str());
    // Each sees the shared set, their departments' and their own.
    assert_eq!(shortcuts(&app, &t.op1).await, ["bye", "hello", "refund"]);
    assert_eq!(shortcuts(&app, &t.op2).await, ["hello", "refund"]);
    assert_eq!(
        shortcuts(&app, &t.admin).await,
        ["hello", "refund", "sales"]
    );
    // The same shortcut may exist in another set, not twice in one (any case).
    canned(
        &app,
        &t.op2,
        json!({"shortcut": "hello", "text": "こんにちは", "scope": "personal"}),
    )
    .await
    .assert_status(201);
    let dup = canned(
        &app,
        &t.admin,
        json!({"shortcut": "HELLO", "text": "x", "scope": "portal"}),
    )
    .await;
    dup.assert_error(409, "conflict");
    assert_eq!(dup["error"]["field"], "shortcut");
    // Edit and delete.
    let id = mine["id"].as_str().unwrap();
    let edited = app
        .patch(
            &api("acme", &format!("/canned-responses/{id}")),
            Some(&t.op1.token),
            json!({"text": "本日はありがとうございました。"}),
        )
        .await;
    edited.assert_status(200);
    assert_eq!(edited["text"], "本日はありがとうございました。");
    assert_eq!(edited["shortcut"], "bye");
    // Someone else's personal response is not there for others.
    app.delete(
        &api("acme", &format!("/canned-responses/{id}")),
        Some(&t.op2.token),
    )
    .await
    .assert_error(404, "not_found");
    app.delete(
        &api("acme", &format!("/canned-responses/{id}")),
        Some(&t.op1.token),
    )
    .await
    .assert_status(204);
    assert_eq!(shortcuts(&app, &t.op1).await, ["hello", "refund"]);
}

async fn o1_canned_responses_are_validated_and_only_their_writers_change_them(app: TestApp) {
    let t = team(&app).await;
    for (body, field) in [
        (
            json!({"shortcut": "two words", "text": "x", "scope": "portal"}),
            "shortcut",
        ),
        (
            json!({"shortcut": "ok", "text": " ", "scope": "portal"}),
            "text",
        ),
        (
            json!({"shortcut": "ok", "text": "x", "scope": "team"}),
            "scope",
        ),
        (json!({"shortcut": "ok", "text": "x"}), "scope"),
        (
            json!({"shortcut": "ok", "text": "x", "scope": "department"}),
            "departmentId",
        ),
        (
            json!({"shortcut": "ok", "text": "x", "scope": "department", "departmentId": "nope"}),
            "departmentId",
        ),
        (
            json!({"shortcut": "ok", "text": "x", "scope": "portal", "departmentId": t.dept}),
            "departmentId",
        ),
    ] {
        let bad = canned(&app, &t.admin, body.clone()).await;
        bad.assert_error(400, "invalid_request");
        assert_eq!(bad["error"]["field"], field, "{body}");
    }
    // Operators write only their own.
    canned(
        &app,
        &t.op1,
        json!({"shortcut": "x", "text": "x", "scope": "portal"}),
    )
    .await
    .assert_error(403, "forbidden");
    canned(
        &app,
        &t.op1,
        json!({"shortcut": "x", "text": "x", "scope": "department", "departmentId": t.dept}),
    )
    .await
    .assert_error(403, "forbidden");
    let shared = canned(
        &app,
        &t.admin,
        json!({"shortcut": "hi", "text": "x", "scope": "portal"}),
    )
    .await;
    let id = shared["id"].as_str().unwrap();
    app.patch(
        &api("acme", &format!("/canned-responses/{id}")),
        Some(&t.op1.token),
        json!({"text": "y"}),
    )
    .await
    .assert_error(403, "forbidden");
    app.delete(
        &api("acme", &format!("/canned-responses/{id}")),
        Some(&t.op1.token),
    )
    .await
    .assert_error(403, "forbidden");
}

// ---------------------------------------------------------------------------------
// Across two nodes (O2, O3): PostgreSQL and NATS
// ---------------------------------------------------------------------------------

/// Two `serve` nodes on one PostgreSQL database and one NATS server: a chat routed on
/// node 1 is offered on node 2's console, and a transfer made on node 1 reaches both
/// consoles on node 2. Runs when `MADOGUCHI_TEST_DATABASE_URL` and
/// `MADOGUCHI_TEST_NATS_URL` are set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn o2_o3_routing_and_transfers_reach_consoles_on_another_node() {
    let Some(nats_url) = madoguchi_testkit::env_setting("MADOGUCHI_TEST_NATS_URL") else {
        eprintln!("o2_o3 across nodes: MADOGUCHI_TEST_NATS_URL unset, skipped");
        return;
    };
    let Some(node1) = TestApp::spawn_with(crate::helpers::Backend::Postgres, |s| {
        s.nats_url = Some(nats_url.clone())
    })
    .await
    else {
        eprintln!("o2_o3 across nodes: MADOGUCHI_TEST_DATABASE_URL unset, skipped");
        return;
    };
    let node2 = TestApp::spawn_node_sharing(&node1).await;
    let t = team(&node1).await;
    away(&node1, &t.admin).await;
    settings(&node1, &t.admin, json!({"routing": "round_robin"}))
        .await
        .assert_status(200);
    let mut c1 = operator_ws(&node2, &t.op1, "acme").await;
    let mut c2 = operator_ws(&node2, &t.op2, "acme").await;

    // O3: started on node 1, offered to one operator, whose console on node 2 hears it.
    let chat = start_chat(&node1, "acme", json!({"departmentId": t.dept})).await;
    let offered = c1.next_of("chat.waiting").await;
    assert_eq!(offered["chat"]["id"], chat.chat_id.as_str());
    let to = offered["chat"]["offeredTo"].as_str().unwrap().to_owned();
    let (owner, other) = if to == t.op1.id {
        (&t.op1, &t.op2)
    } else {
        (&t.op2, &t.op1)
    };
    act(&node2, owner, "acme", &chat.chat_id, "accept")
        .await
        .assert_status(200);

    // O2: handed over on node 1; both consoles on node 2 get `chat.transferred`.
    transfer_on(
        &node1,
        owner,
        &chat.chat_id,
        json!({"operatorId": other.id, "note": "ノードをまたいで"}),
    )
    .await
    .assert_status(200);
    for ws in [&mut c1, &mut c2] {
        let ev = ws.next_of("chat.transferred").await;
        assert_eq!(ev["chat"]["operatorId"], other.id.as_str());
        assert_eq!(ev["chat"]["transfer"]["note"], "ノードをまたいで");
    }
    operator_says(&node2, owner, "acme", &chat.chat_id, "もう書けない")
        .await
        .assert_error(403, "not_chat_owner");
    operator_says(&node2, other, "acme", &chat.chat_id, "引き継ぎました")
        .await
        .assert_status(201);
}

async fn transfer_on(app: &TestApp, user: &TestUser, chat_id: &str, body: Value) -> Res {
    app.post(
        &api("acme", &format!("/chats/{chat_id}/transfer")),
        Some(&user.token),
        body,
    )
    .await
}

// ---------------------------------------------------------------------------------
// The department menus of a broken link (I9, issue 12)
// ---------------------------------------------------------------------------------

both_backends!(i9_a_broken_link_still_names_the_desk_departments_in_the_menus);

async fn i9_a_broken_link_still_names_the_desk_departments_in_the_menus(app: TestApp) {
    let w = World::linked(app).await;
    let sales = w.desk_department("営業部").await;
    let chat_dept = w.chat_department("営業").await;
    let chat_dept = chat_dept["id"].as_str().unwrap().to_owned();
    w.map_department(
        &chat_dept,
        json!({"mode": "mapped", "deskDepartmentId": sales}),
    )
    .await
    .assert_status(200);
    let names = |v: &Value| -> Vec<(String, String)> {
        madoguchi_testkit::list::str_pairs(&v["deskDepartments"], "id", "name")
    };
    let healthy = w.get_integ().await;
    assert!(names(&healthy.body).contains(&(sales.clone(), "営業部".to_owned())));
    // A regenerated key breaks the link: Desk cannot be asked, the names stay.
    w.service_key().await;
    let broken = w.get_integ().await;
    assert_eq!(broken["status"], "broken");
    assert_eq!(names(&broken.body), names(&healthy.body));
    // The settings page's menu names the department, not its id.
    let cookie = w.app.session_cookie(&w.admin.email).await;
    let page = w
        .app
        .page_html(
            &format!("/chat/{}/settings/integrations/desk", w.chat),
            &cookie,
        )
        .await;
    let doc = madoguchi_testkit::html::Doc::parse(&page);
    let first_menu = doc
        .all("select.dept-mode")
        .into_iter()
        .next()
        .expect("a department menu");
    let options: Vec<String> = first_menu
        .select(&scraper::Selector::parse("option").unwrap())
        .map(madoguchi_testkit::html::text_of)
        .collect();
    assert!(options.iter().any(|o| o == "営業部"), "{options:?}");
    assert!(!options.contains(&sales), "{options:?}");
}
