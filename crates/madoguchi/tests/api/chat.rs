//! Chat API and the operator WebSocket (API.md "Chat"; SPEC C1, C2, C4, C5, C6).
//! The widget side (C3, Q2, Q3) is in `widget.rs`, which reuses the helpers here.

#![allow(clippy::unwrap_used)]

use crate::both_backends;
use crate::helpers::{TestApp, TestUser};
use serde_json::{json, Value};
use std::time::Duration;

// The builders shared with widget.rs and the other files live in the test kit.
pub use madoguchi_testkit::chat::*;
use madoguchi_testkit::snapshot::redact;

// ---------------------------------------------------------------------------------
// C1 portals and plans
// ---------------------------------------------------------------------------------

both_backends!(
    c1_a_new_portal_runs_a_30_day_enterprise_trial,
    c1_portal_names_are_validated_and_unique,
    c1_after_the_trial_the_plan_is_free_unless_upgraded,
    c1_choosing_a_plan_ends_the_trial_at_once_and_only_admins_may,
    c1_portal_access_is_checked_auth_first_then_portal_then_membership,
);

async fn c1_a_new_portal_runs_a_30_day_enterprise_trial(app: TestApp) {
    let admin = app.signup("admin@acme.example").await;
    let before = app.clock.now_ms();
    let res = try_portal(&app, &admin.token, "acme", "Acme 株式会社").await;
    res.assert_status(201);
    assert_eq!(res["portalName"], "acme");
    assert_eq!(res["displayName"], "Acme 株式会社");
    assert_eq!(res["plan"], "enterprise");
    let ends = madoguchi_core::time::parse_rfc3339(res["trialEndsAt"].as_str().unwrap()).unwrap();
    let thirty_days = 30 * 24 * 3600 * 1000;
    assert!(
        (ends - before - thirty_days).abs() < 60_000,
        "trial ends 30 days later"
    );

    let got = api_get(&app, &admin, "acme", "").await;
    got.assert_status(200);
    assert_eq!(got["plan"], "enterprise");
    assert_eq!(got["integrationAvailable"], true);
    assert_eq!(got["trialEndsAt"], res["trialEndsAt"]);
    assert_eq!(got["missedAfterSeconds"], 120);

    let mine = app.get("/chat/api/v1/portals", Some(&admin.token)).await;
    mine.assert_status(200);
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);
    assert_eq!(mine["data"][0]["portalName"], "acme");
    assert_eq!(mine["data"][0]["role"], "admin");

    // A new portal has no departments (C2).
    let depts = api_get(&app, &admin, "acme", "/departments").await;
    assert_eq!(depts.body, json!({"data": []}));
}

async fn c1_portal_names_are_validated_and_unique(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    for bad in ["ab", "Acme", "acme_co", "ac me", "あいう", &"x".repeat(41)] {
        let res = try_portal(&app, &admin.token, bad, "x").await;
        res.assert_error(400, "invalid_request");
        assert_eq!(res.body["error"]["field"], "portalName", "{bad}");
    }
    let other = app.signup("b@other.example").await;
    try_portal(&app, &other.token, "acme", "Another")
        .await
        .assert_error(409, "portal_name_taken");
    madoguchi_testkit::chat::portal_by(&app, &other.token, "acme-2", "Another").await;
}

async fn c1_after_the_trial_the_plan_is_free_unless_upgraded(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    app.clock.advance_ms(30 * 24 * 3600 * 1000 + 1000);
    let got = api_get(&app, &admin, "acme", "").await;
    assert_eq!(got["plan"], "free");
    assert_eq!(got["integrationAvailable"], false);

    let up = app
        .put(
            &api("acme", "/plan"),
            Some(&admin.token),
            json!({"plan": "professional"}),
        )
        .await;
    up.assert_status(200);
    assert_eq!(up["plan"], "professional");
    assert_eq!(up["trialEndsAt"], Value::Null);
    assert_eq!(up["integrationAvailable"], true);

    app.put(
        &api("acme", "/plan"),
        Some(&admin.token),
        json!({"plan": "standard"}),
    )
    .await
    .assert_status(200);
    let got = api_get(&app, &admin, "acme", "").await;
    assert_eq!(got["plan"], "standard");
    assert_eq!(got["integrationAvailable"], false);
    app.put(
        &api("acme", "/plan"),
        Some(&admin.token),
        json!({"plan": "enterprise"}),
    )
    .await
    .assert_status(200);
    let got = api_get(&app, &admin, "acme", "").await;
    assert_eq!(got["integrationAvailable"], true);
}

async fn c1_choosing_a_plan_ends_the_trial_at_once_and_only_admins_may(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let sup = operator(&app, &admin, "acme", "s@acme.example", "supervisor", &[]).await;
    app.put(
        &api("acme", "/plan"),
        Some(&sup.token),
        json!({"plan": "free"}),
    )
    .await
    .assert_error(403, "forbidden");
    let res = app
        .put(
            &api("acme", "/plan"),
            Some(&admin.token),
            json!({"plan": "gold"}),
        )
        .await;
    res.assert_error(400, "invalid_request");
    assert_eq!(res.body["error"]["field"], "plan");

    let res = app
        .put(
            &api("acme", "/plan"),
            Some(&admin.token),
            json!({"plan": "standard"}),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res["plan"], "standard");
    assert_eq!(res["trialEndsAt"], Value::Null);
    assert_eq!(res["integrationAvailable"], false);
}

async fn c1_portal_access_is_checked_auth_first_then_portal_then_membership(app: TestApp) {
    let _admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let stranger = app.signup("x@else.example").await;
    app.get(&api("acme", ""), None)
        .await
        .assert_error(401, "unauthenticated");
    app.get(&api("nosuch", ""), None)
        .await
        .assert_error(401, "unauthenticated");
    api_get(&app, &stranger, "nosuch", "")
        .await
        .assert_error(404, "not_found");
    api_get(&app, &stranger, "acme", "")
        .await
        .assert_error(403, "forbidden");
    api_get(&app, &stranger, "acme", "/chats")
        .await
        .assert_error(403, "forbidden");
}

// ---------------------------------------------------------------------------------
// C2 operators, departments, routing
// ---------------------------------------------------------------------------------

both_backends!(
    c2_the_creator_is_admin_and_admins_add_operators_by_email,
    c2_departments_answer_a_desk_mapping_without_the_integration,
    c2_operators_see_and_take_only_their_departments_chats,
    c2_the_first_accept_wins,
    c2_with_no_available_operator_a_new_chat_is_missed_at_once,
    c2_waiting_chats_are_offered_on_the_socket_to_operators_who_may_take_them,
);

async fn c2_the_creator_is_admin_and_admins_add_operators_by_email(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let sales = department(&app, &admin, "acme", "営業").await;
    let list = api_get(&app, &admin, "acme", "/operators").await;
    list.assert_status(200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["email"], "a@acme.example");
    assert_eq!(list["data"][0]["role"], "admin");
    assert_eq!(list["data"][0]["status"], "available");

    let op = app.signup("op@acme.example").await;
    let res = app
        .post(
            &api("acme", "/operators"),
            Some(&admin.token),
            json!({"email": "OP@acme.example", "role": "operator", "departmentIds": [sales]}),
        )
        .await;
    res.assert_status(201);
    assert_eq!(res["userId"], op.id.as_str());
    assert_eq!(res["role"], "operator");
    assert_eq!(res["departmentIds"], json!([sales]));

    let missing = app
        .post(
            &api("acme", "/operators"),
            Some(&admin.token),
            json!({"email": "nobody@acme.example", "role": "operator"}),
        )
        .await;
    missing.assert_error(404, "not_found");
    assert_eq!(missing.body["error"]["field"], "email");

    let bad_role = app
        .post(
            &api("acme", "/operators"),
            Some(&admin.token),
            json!({"email": "op@acme.example", "role": "boss"}),
        )
        .await;
    bad_role.assert_error(400, "invalid_request");
    assert_eq!(bad_role.body["error"]["field"], "role");

    let bad_dept = app
        .post(
            &api("acme", "/operators"),
            Some(&admin.token),
            json!({"email": "op@acme.example", "role": "operator", "departmentIds": ["nope"]}),
        )
        .await;
    bad_dept.assert_error(400, "invalid_request");
    assert_eq!(bad_dept.body["error"]["field"], "departmentIds");

    // Only admins add operators and departments.
    app.post(
        &api("acme", "/operators"),
        Some(&op.token),
        json!({"email": "op@acme.example", "role": "admin"}),
    )
    .await
    .assert_error(403, "forbidden");
    app.post(
        &api("acme", "/departments"),
        Some(&op.token),
        json!({"name": "x"}),
    )
    .await
    .assert_error(403, "forbidden");

    // The operator sees the portal with their role.
    let mine = app.get("/chat/api/v1/portals", Some(&op.token)).await;
    assert_eq!(mine["data"][0]["role"], "operator");
    let list = api_get(&app, &op, "acme", "/operators").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);

    // The last admin cannot be demoted.
    app.post(
        &api("acme", "/operators"),
        Some(&admin.token),
        json!({"email": "a@acme.example", "role": "operator"}),
    )
    .await
    .assert_error(409, "conflict");
}

async fn c2_departments_answer_a_desk_mapping_without_the_integration(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let res = app
        .post(
            &api("acme", "/departments"),
            Some(&admin.token),
            json!({"name": "サポート"}),
        )
        .await;
    res.assert_status(201);
    assert_eq!(res["name"], "サポート");
    assert!(res["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(
        res["deskMapping"],
        json!({"mode": "none", "deskDepartmentId": null, "autoAssociated": false, "notice": null})
    );
    let dup = app
        .post(
            &api("acme", "/departments"),
            Some(&admin.token),
            json!({"name": " サポート "}),
        )
        .await;
    dup.assert_error(409, "conflict");
    assert_eq!(dup.body["error"]["field"], "name");
    let empty = app
        .post(
            &api("acme", "/departments"),
            Some(&admin.token),
            json!({"name": "  "}),
        )
        .await;
    empty.assert_error(400, "invalid_request");
    let list = api_get(&app, &admin, "acme", "/departments").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"], res["id"]);
    assert_eq!(list["data"][0]["deskMapping"]["mode"], "none");
}

async fn c2_operators_see_and_take_only_their_departments_chats(app: TestApp) {
    let (admin, sales, support, seller) = sales_and_support(&app).await;
    let sup = operator(&app, &admin, "acme", "v@acme.example", "supervisor", &[]).await;
    let chat = start_chat(&app, "acme", json!({"departmentId": support})).await;
    let mine = start_chat(&app, "acme", json!({"departmentId": sales})).await;

    let seen = api_get(&app, &seller, "acme", "/chats?state=waiting").await;
    seen.assert_status(200);
    let ids = madoguchi_testkit::list::strs(&seen["data"], "id");
    assert_eq!(ids, vec![mine.chat_id.as_str()]);
    get_chat(&app, &seller, "acme", &chat.chat_id)
        .await
        .assert_error(403, "forbidden");
    act(&app, &seller, "acme", &chat.chat_id, "accept")
        .await
        .assert_error(403, "forbidden");
    app.patch(
        &api("acme", &format!("/visitors/{}", chat.visitor_id)),
        Some(&seller.token),
        json!({"name": "x"}),
    )
    .await
    .assert_error(403, "forbidden");

    // Supervisors and admins see every department.
    for user in [&sup, &admin] {
        let all = api_get(&app, user, "acme", "/chats?state=waiting").await;
        assert_eq!(all["data"].as_array().unwrap().len(), 2);
    }
    let taken = act(&app, &sup, "acme", &chat.chat_id, "accept").await;
    taken.assert_status(200);
    assert_eq!(taken["operatorId"], sup.id.as_str());
    accept(&app, &seller, "acme", &mine.chat_id).await;

    // Unknown chats are 404, and a bad state filter is 400.
    get_chat(&app, &admin, "acme", "nosuchchat")
        .await
        .assert_error(404, "not_found");
    let bad = api_get(&app, &admin, "acme", "/chats?state=open").await;
    bad.assert_error(400, "invalid_request");
    assert_eq!(bad.body["error"]["field"], "state");
}

async fn c2_the_first_accept_wins(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let other = operator(&app, &admin, "acme", "b@acme.example", "admin", &[]).await;
    let chat = start_chat(&app, "acme", json!({})).await;
    let path = api("acme", &format!("/chats/{}/accept", chat.chat_id));
    let (a, b) = tokio::join!(
        app.post_empty(&path, Some(&admin.token)),
        app.post_empty(&path, Some(&other.token))
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "a: {} b: {}", a.text, b.text);
    let (winner, loser) = if a.status == 200 { (a, b) } else { (b, a) };
    loser.assert_error(409, "conflict");
    assert_eq!(winner["state"], "attended");
    assert_eq!(winner["outcome"], "attended");
    // Accepting again later is a conflict too.
    app.post_empty(&path, Some(&admin.token))
        .await
        .assert_error(409, "conflict");
}

async fn c2_with_no_available_operator_a_new_chat_is_missed_at_once(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    // V1: online needs an open console too.
    let _console = operator_ws(&app, &admin, "acme").await;
    let config = app.get(&widget("acme", "/config"), None).await;
    assert_eq!(config["online"], true);
    let away = app
        .put(
            &api("acme", "/me/availability"),
            Some(&admin.token),
            json!({"status": "away"}),
        )
        .await;
    away.assert_status(200);
    assert_eq!(away["status"], "away");
    app.put(
        &api("acme", "/me/availability"),
        Some(&admin.token),
        json!({"status": "busy"}),
    )
    .await
    .assert_error(400, "invalid_request");
    let config = app.get(&widget("acme", "/config"), None).await;
    assert_eq!(config["online"], false);

    let chat = start_chat(&app, "acme", json!({"question": "誰かいますか"})).await;
    let got = get_chat(&app, &admin, "acme", &chat.chat_id).await;
    assert_eq!(got["state"], "missed");
    assert_eq!(got["outcome"], "missed");
    assert_eq!(got["messages"][0]["seq"], 1);
    assert_eq!(got["messages"][0]["sender"], "visitor");
    assert_eq!(got["messages"][0]["text"], "誰かいますか");
    // Nobody can accept a missed chat.
    act(&app, &admin, "acme", &chat.chat_id, "accept")
        .await
        .assert_error(409, "conflict");

    // An operator of another department does not make a department chat takeable.
    let (sales, support, seller) = sales_and_support_in(&app, &admin).await;
    let _seller_console = operator_ws(&app, &seller, "acme").await;
    let config = app.get(&widget("acme", "/config"), None).await;
    assert_eq!(config["online"], true);
    let by_id = |id: &str| madoguchi_testkit::list::by_id(&config["departments"], id).clone();
    assert_eq!(by_id(&sales)["online"], true);
    assert_eq!(by_id(&support)["online"], false);
    let chat = start_chat(&app, "acme", json!({"departmentId": support})).await;
    assert_eq!(
        get_chat(&app, &admin, "acme", &chat.chat_id).await["state"],
        "missed"
    );
    let chat = start_chat(&app, "acme", json!({"departmentId": sales})).await;
    assert_eq!(
        get_chat(&app, &admin, "acme", &chat.chat_id).await["state"],
        "waiting"
    );
}

async fn c2_waiting_chats_are_offered_on_the_socket_to_operators_who_may_take_them(app: TestApp) {
    let (admin, sales, support, seller) = sales_and_support(&app).await;
    let mut admin_ws = operator_ws(&app, &admin, "acme").await;
    let mut seller_ws = operator_ws(&app, &seller, "acme").await;

    let support_chat = start_chat(
        &app,
        "acme",
        json!({"departmentId": support, "name": "鈴木"}),
    )
    .await;
    let offered = admin_ws.next_of("chat.waiting").await;
    assert_eq!(offered["chat"]["id"], support_chat.chat_id.as_str());
    assert_eq!(offered["chat"]["state"], "waiting");
    assert_eq!(offered["chat"]["visitor"]["name"], "鈴木");

    let sales_chat = start_chat(&app, "acme", json!({"departmentId": sales})).await;
    // The seller's first event is the sales chat: the support chat was never offered.
    let offered = seller_ws.next().await;
    assert_eq!(offered["type"], "chat.waiting");
    assert_eq!(offered["chat"]["id"], sales_chat.chat_id.as_str());
    let offered = admin_ws.next_of("chat.waiting").await;
    assert_eq!(offered["chat"]["id"], sales_chat.chat_id.as_str());

    // The seller accepts: every console that sees it learns it was attended, with the
    // system line first.
    accept(&app, &seller, "acme", &sales_chat.chat_id).await;
    let line = admin_ws.next().await;
    assert_eq!(line["type"], "message");
    assert_eq!(line["chatId"], sales_chat.chat_id.as_str());
    assert_eq!(line["message"]["sender"], "system");
    assert_eq!(line["message"]["seq"], 2);
    let attended = admin_ws.next().await;
    assert_eq!(attended["type"], "chat.attended");
    assert_eq!(attended["chat"]["operatorId"], seller.id.as_str());
    let attended = seller_ws.next_of("chat.attended").await;
    assert_eq!(attended["chat"]["id"], sales_chat.chat_id.as_str());

    // Visitor messages reach the consoles that see the chat.
    visitor_says(&app, "acme", &sales_chat, "こんにちは", "m1")
        .await
        .assert_status(201);
    let m = seller_ws.next_of("message").await;
    assert_eq!(m["chatId"], sales_chat.chat_id.as_str());
    assert_eq!(m["message"]["seq"], 3);
    assert_eq!(m["message"]["text"], "こんにちは");
    assert_eq!(m["message"]["sender"], "visitor");
    // …and not a support-chat message to the seller.
    visitor_says(&app, "acme", &support_chat, "サポートです", "m1")
        .await
        .assert_status(201);
    visitor_says(&app, "acme", &sales_chat, "二通目", "m2")
        .await
        .assert_status(201);
    let m = seller_ws.next_of("message").await;
    assert_eq!(m["message"]["text"], "二通目");
}

// ---------------------------------------------------------------------------------
// C4 console: replies, typing, history, sockets
// ---------------------------------------------------------------------------------

both_backends!(
    c4_operators_reply_after_accepting_and_the_transcript_is_in_seq_order,
    c4_operator_resends_are_idempotent,
    c4_typing_reaches_the_console_and_the_widget,
    c4_history_search_by_visitor_name_email_and_message_text,
    c4_the_operator_socket_refuses_without_auth_and_accepts_the_session_cookie,
    c4_the_operator_socket_sends_replies_and_acks_them,
    c4_a_reconnecting_console_gets_missed_lifecycle_events_once_with_after_event,
    c4_a_resuming_console_gets_missed_messages_in_order_once,
    c4_the_operator_socket_refuses_a_bad_after_event_and_a_malformed_resume,
);

async fn c4_operators_reply_after_accepting_and_the_transcript_is_in_seq_order(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(
        &app,
        "acme",
        json!({"name": "鈴木 一郎", "question": "ログインできません"}),
    )
    .await;
    let reply = app
        .post(
            &api("acme", &format!("/chats/{}/messages", chat.chat_id)),
            Some(&admin.token),
            json!({"text": "お待たせしました", "clientMessageId": "r1"}),
        )
        .await;
    reply.assert_error(409, "conflict");

    let accepted = app
        .request(
            app.http
                .post(app.url(&api("acme", &format!("/chats/{}/accept", chat.chat_id))))
                .bearer_auth(&admin.token)
                .header("accept-language", "en"),
        )
        .await;
    accepted.assert_status(200);
    assert_eq!(accepted["state"], "attended");
    let reply = app
        .post(
            &api("acme", &format!("/chats/{}/messages", chat.chat_id)),
            Some(&admin.token),
            json!({"text": "お待たせしました", "clientMessageId": "r1"}),
        )
        .await;
    reply.assert_status(201);
    assert_eq!(reply["seq"], 3);
    visitor_says(&app, "acme", &chat, "ありがとう", "v1")
        .await
        .assert_status(201);

    let got = get_chat(&app, &admin, "acme", &chat.chat_id).await;
    got.assert_status(200);
    let messages = got["messages"].as_array().unwrap();
    let seqs: Vec<i64> = messages
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    let senders: Vec<&str> = messages
        .iter()
        .map(|m| m["sender"].as_str().unwrap())
        .collect();
    assert_eq!(senders, vec!["visitor", "system", "operator", "visitor"]);
    assert_eq!(messages[0]["text"], "ログインできません");
    assert_eq!(messages[0]["senderName"], "鈴木 一郎");
    assert_eq!(messages[1]["text"], "a さんがチャットに参加しました");
    assert_eq!(messages[2]["senderName"], "a");
    assert!(
        madoguchi_core::time::parse_rfc3339(messages[2]["createdAt"].as_str().unwrap()).is_some()
    );
    assert_eq!(got["question"], "ログインできません");
    assert_eq!(got["visitor"]["name"], "鈴木 一郎");
    assert_eq!(got["deskTicketIds"], json!([]));
    assert_eq!(got["autoTicket"], json!({"status": "none", "reason": null}));
    // The whole chat as an operator reads it, ids and times aside.
    insta::assert_json_snapshot!("chat", redact(&got.body));

    // System lines are in the reader's language.
    let en = app
        .request(
            app.http
                .get(app.url(&api("acme", &format!("/chats/{}", chat.chat_id))))
                .bearer_auth(&admin.token)
                .header("accept-language", "en"),
        )
        .await;
    assert_eq!(en["messages"][1]["text"], "a joined the chat");

    // Bad input is a 400 naming the field.
    for (body, field) in [
        (json!({"text": "  ", "clientMessageId": "x"}), "text"),
        (
            json!({"text": "hi", "clientMessageId": ""}),
            "clientMessageId",
        ),
        (json!({"text": "hi"}), "clientMessageId"),
        (
            json!({"text": "x".repeat(10_001), "clientMessageId": "y"}),
            "text",
        ),
    ] {
        let res = app
            .post(
                &api("acme", &format!("/chats/{}/messages", chat.chat_id)),
                Some(&admin.token),
                body,
            )
            .await;
        res.assert_error(400, "invalid_request");
        assert_eq!(res.body["error"]["field"], field);
    }
}

async fn c4_operator_resends_are_idempotent(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    accept(&app, &admin, "acme", &chat.chat_id).await;
    let path = api("acme", &format!("/chats/{}/messages", chat.chat_id));
    let body = json!({"text": "確認します", "clientMessageId": "same"});
    let first = app.post(&path, Some(&admin.token), body.clone()).await;
    first.assert_status(201);
    let again = app.post(&path, Some(&admin.token), body).await;
    again.assert_status(201);
    assert_eq!(first.body, again.body);
    // The visitor may use the same client id for their own message: another message.
    let visitor = visitor_says(&app, "acme", &chat, "はい", "same").await;
    visitor.assert_status(201);
    assert_ne!(visitor["id"], first["id"]);
    let got = get_chat(&app, &admin, "acme", &chat.chat_id).await;
    assert_eq!(got["messages"].as_array().unwrap().len(), 4);
}

async fn c4_typing_reaches_the_console_and_the_widget(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    accept(&app, &admin, "acme", &chat.chat_id).await;
    let mut console = operator_ws(&app, &admin, "acme").await;
    let mut visitor = visitor_ws(&app, "acme", &chat, Some(2)).await;

    visitor.send(json!({"type": "typing"})).await;
    let typing = console.next_of("typing").await;
    assert_eq!(
        typing,
        json!({"type": "typing", "chatId": chat.chat_id, "sender": "visitor"})
    );

    console
        .send(json!({"type": "typing", "chatId": chat.chat_id}))
        .await;
    let typing = visitor.next().await;
    assert_eq!(typing["type"], "typing");
    assert_eq!(typing["sender"], "operator");
}

async fn c4_history_search_by_visitor_name_email_and_message_text(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let suzuki = start_chat(
        &app,
        "acme",
        json!({"name": "鈴木 一郎", "email": "ichiro@example.jp", "question": "パスワードのリセットをお願いします"}),
    )
    .await;
    let sato = start_chat(
        &app,
        "acme",
        json!({"name": "佐藤", "question": "請求書の再発行"}),
    )
    .await;
    let open = start_chat(
        &app,
        "acme",
        json!({"name": "鈴木 二郎", "question": "まだ待っています"}),
    )
    .await;
    for chat in [&suzuki, &sato] {
        end(&app, &admin, "acme", &chat.chat_id).await;
    }
    let search = |q: &str| {
        let path = api("acme", &format!("/chats?state=ended&q={}", urlencode(q)));
        let app = &app;
        let token = admin.token.clone();
        async move {
            let res = app.get(&path, Some(&token)).await;
            res.assert_status(200);
            res["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("鈴木").await, vec![suzuki.chat_id.clone()]);
    assert_eq!(search("ICHIRO@example").await, vec![suzuki.chat_id.clone()]);
    assert_eq!(search("パスワード").await, vec![suzuki.chat_id.clone()]);
    assert_eq!(search("再発行").await, vec![sato.chat_id.clone()]);
    assert_eq!(search("100%").await, Vec::<String>::new());
    let all = search("").await;
    assert_eq!(all.len(), 2);
    assert!(!all.contains(&open.chat_id));
}

fn urlencode(s: &str) -> String {
    form_urlencoded_byte_serialize(s)
}

fn form_urlencoded_byte_serialize(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn c4_the_operator_socket_refuses_without_auth_and_accepts_the_session_cookie(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let stranger = app.signup("x@else.example").await;
    assert_eq!(Ws::refused_status(&app, &api("acme", "/ws")).await, 401);
    assert_eq!(
        Ws::refused_status(&app, &api("acme", "/ws?token=wrong")).await,
        401
    );
    assert_eq!(
        Ws::refused_status(&app, &api("acme", &format!("/ws?token={}", stranger.token))).await,
        403
    );
    assert_eq!(
        Ws::refused_status(&app, &api("nosuch", &format!("/ws?token={}", admin.token))).await,
        404
    );

    // The console page's socket carries the session cookie instead of a token.
    let cookie = app.session_cookie("a@acme.example").await;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = app
        .ws_url(&api("acme", "/ws"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    // Q6: as a browser does, the console page's origin (the public URL).
    req.headers_mut()
        .insert("origin", app.settings.public_url.parse().unwrap());
    let (stream, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let mut ws = Ws(stream);
    assert_eq!(ws.next().await["type"], "ready");
}

async fn c4_the_operator_socket_sends_replies_and_acks_them(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    let mut console = operator_ws(&app, &admin, "acme").await;
    accept(&app, &admin, "acme", &chat.chat_id).await;
    console.next_of("chat.attended").await;
    console
        .send(json!({"type": "message", "chatId": chat.chat_id, "text": "どうされましたか", "clientMessageId": "c-1"}))
        .await;
    let ack = console.next_of("ack").await;
    assert_eq!(ack["clientMessageId"], "c-1");
    assert_eq!(ack["seq"], 3);
    let echoed = console.next_of("message").await;
    assert_eq!(echoed["message"]["seq"], 3);
    assert_eq!(echoed["message"]["sender"], "operator");
    // The frames a console reads, ids and times aside.
    insta::assert_json_snapshot!("console_ack_frame", redact(&ack));
    insta::assert_json_snapshot!("console_message_frame", redact(&echoed));
    let stored = get_chat(&app, &admin, "acme", &chat.chat_id).await;
    assert_eq!(stored["messages"][2]["text"], "どうされましたか");
}

/// The newest `chat_events` id of a chat.
async fn newest_event_id(app: &TestApp, chat_id: &str) -> i64 {
    use sqlx::Row;
    sqlx::query("select id from chat_events where chat_id = $1 order by id desc limit 1")
        .bind(chat_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
        .try_get("id")
        .unwrap()
}

async fn accept_as(app: &TestApp, user: &TestUser, portal: &str, chat: &VisitorChat) {
    accept(app, user, portal, &chat.chat_id).await;
}

async fn end_as(app: &TestApp, user: &TestUser, portal: &str, chat: &VisitorChat) {
    end(app, user, portal, &chat.chat_id).await;
}

/// Reads `chat.*` frames and checks they are exactly `expected` (chat, current state),
/// each with the chat's newest event id.
async fn expect_lifecycle(app: &TestApp, ws: &mut Ws, expected: &[(&VisitorChat, &str)]) {
    for (chat, state) in expected {
        let f = ws.next().await;
        assert_eq!(f["type"], format!("chat.{state}"), "{f}");
        assert_eq!(f["chat"]["id"], chat.chat_id.as_str(), "{f}");
        assert_eq!(f["chat"]["state"], *state, "{f}");
        assert_eq!(
            f["eventId"],
            newest_event_id(app, &chat.chat_id).await,
            "{f}"
        );
    }
    // Nothing else before the (empty) resume is answered.
    ws.send(json!({"type": "resume", "afterSeq": {}})).await;
    assert_eq!(ws.next().await, json!({"type": "resumed"}));
}

async fn c4_a_reconnecting_console_gets_missed_lifecycle_events_once_with_after_event(
    app: TestApp,
) {
    let (admin, sales, support, seller) = sales_and_support(&app).await;
    portal_with_admin(&app, "o@other.example", "other").await;
    let before = start_chat(&app, "acme", json!({"departmentId": sales})).await;
    let to_end = start_chat(&app, "acme", json!({"departmentId": sales})).await;

    // `ready` says where the record stands (ids are global, across portals).
    let (console, last) = operator_ws_after(&app, &admin, "acme", None).await;
    let (seller_console, seller_last) = operator_ws_after(&app, &seller, "acme", None).await;
    assert_eq!(last, newest_event_id(&app, &to_end.chat_id).await);
    assert_eq!(seller_last, last);
    drop(console);
    drop(seller_console);

    // While the consoles are away: a new chat, an accept, a waiting chat ended (missed,
    // then ended), a chat that came and went, a support chat, another portal's chat.
    let new = start_chat(&app, "acme", json!({"departmentId": sales})).await;
    accept_as(&app, &admin, "acme", &before).await;
    end_as(&app, &admin, "acme", &to_end).await;
    let gone = start_chat(&app, "acme", json!({"departmentId": sales})).await;
    accept_as(&app, &seller, "acme", &gone).await;
    end_as(&app, &seller, "acme", &gone).await;
    let support_chat = start_chat(&app, "acme", json!({"departmentId": support})).await;
    let elsewhere = start_chat(&app, "other", json!({})).await;

    // Each changed chat once, in its current state, in event order; not the other
    // portal's chat, and for the seller not the support chat.
    let (mut console, now) = operator_ws_after(&app, &admin, "acme", Some(last)).await;
    assert_eq!(now, newest_event_id(&app, &elsewhere.chat_id).await);
    expect_lifecycle(
        &app,
        &mut console,
        &[
            (&new, "waiting"),
            (&before, "attended"),
            (&to_end, "ended"),
            (&gone, "ended"),
            (&support_chat, "waiting"),
        ],
    )
    .await;
    let (mut seller_console, _) = operator_ws_after(&app, &seller, "acme", Some(last)).await;
    expect_lifecycle(
        &app,
        &mut seller_console,
        &[
            (&new, "waiting"),
            (&before, "attended"),
            (&to_end, "ended"),
            (&gone, "ended"),
        ],
    )
    .await;
    // A console that is up to date (or ahead) gets nothing.
    let (mut current, _) = operator_ws_after(&app, &admin, "acme", Some(now + 10)).await;
    expect_lifecycle(&app, &mut current, &[]).await;
    assert_eq!(console.next_within(Duration::from_millis(300)).await, None);

    // Then live events continue, each once, with their event id.
    accept_as(&app, &admin, "acme", &new).await;
    let line = console.next().await;
    assert_eq!(line["type"], "message", "{line}");
    assert_eq!(line["chatId"], new.chat_id.as_str());
    assert_eq!(line["message"]["seq"], 2);
    let attended = console.next().await;
    assert_eq!(attended["type"], "chat.attended", "{attended}");
    assert_eq!(attended["chat"]["id"], new.chat_id.as_str());
    let id = newest_event_id(&app, &new.chat_id).await;
    assert!(id > now);
    assert_eq!(attended["eventId"], id);
    assert_eq!(console.next_within(Duration::from_millis(500)).await, None);
    let seen = seller_console.next_of("chat.attended").await;
    assert_eq!(seen["eventId"], id);
}

async fn c4_a_resuming_console_gets_missed_messages_in_order_once(app: TestApp) {
    let (admin, sales, support, seller) = sales_and_support(&app).await;
    let s1 = start_chat(&app, "acme", json!({"departmentId": sales})).await;
    accept_as(&app, &seller, "acme", &s1).await;
    let s2 = start_chat(&app, "acme", json!({"departmentId": sales})).await;
    let p1 = start_chat(&app, "acme", json!({"departmentId": support})).await;
    accept_as(&app, &admin, "acme", &p1).await;
    let (console, last) = operator_ws_after(&app, &seller, "acme", None).await;
    drop(console);

    // Messages while the console is away.
    visitor_says(&app, "acme", &s1, "m1", "v1")
        .await
        .assert_status(201);
    visitor_says(&app, "acme", &s1, "m2", "v2")
        .await
        .assert_status(201);
    app.post(
        &api("acme", &format!("/chats/{}/messages", s1.chat_id)),
        Some(&seller.token),
        json!({"text": "reply", "clientMessageId": "r1"}),
    )
    .await
    .assert_status(201);
    visitor_says(&app, "acme", &s2, "x", "v1")
        .await
        .assert_status(201);
    visitor_says(&app, "acme", &p1, "secret", "v1")
        .await
        .assert_status(201);

    let (mut console, _) = operator_ws_after(&app, &seller, "acme", Some(last)).await;
    // One more after the socket subscribed but before it resumed: sent once.
    visitor_says(&app, "acme", &s1, "m3", "v3")
        .await
        .assert_status(201);
    console
        .send(json!({"type": "resume", "afterSeq": {
            s1.chat_id.as_str(): 2, s2.chat_id.as_str(): 1, p1.chat_id.as_str(): 0, "nosuchchat": 0
        }}))
        .await;
    let mut got: std::collections::BTreeMap<String, Vec<(i64, String)>> = Default::default();
    let mut errors: std::collections::BTreeMap<String, String> = Default::default();
    loop {
        let f = console.next().await;
        match f["type"].as_str().unwrap() {
            "resumed" => break,
            "message" => got
                .entry(f["chatId"].as_str().unwrap().to_owned())
                .or_default()
                .push((
                    f["message"]["seq"].as_i64().unwrap(),
                    f["message"]["text"].as_str().unwrap().to_owned(),
                )),
            "error" => {
                errors.insert(
                    f["chatId"].as_str().unwrap().to_owned(),
                    f["code"].as_str().unwrap().to_owned(),
                );
            }
            other => panic!("unexpected frame {other}: {f}"),
        }
    }
    let texts = |v: &[(i64, String)]| v.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>();
    let seqs = |v: &[(i64, String)]| v.iter().map(|(s, _)| *s).collect::<Vec<_>>();
    assert_eq!(seqs(&got[&s1.chat_id]), vec![3, 4, 5, 6]);
    assert_eq!(texts(&got[&s1.chat_id]), vec!["m1", "m2", "reply", "m3"]);
    assert_eq!(seqs(&got[&s2.chat_id]), vec![2]);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(errors[&p1.chat_id], "forbidden");
    assert_eq!(errors["nosuchchat"], "not_found");
    assert_eq!(errors.len(), 2);

    // Live messages continue right after: no gap, no repeat.
    visitor_says(&app, "acme", &s1, "m4", "v4")
        .await
        .assert_status(201);
    let live = console.next().await;
    assert_eq!(live["type"], "message", "{live}");
    assert_eq!(live["chatId"], s1.chat_id.as_str());
    assert_eq!(live["message"]["seq"], 7);
    assert_eq!(console.next_within(Duration::from_millis(500)).await, None);

    // Resuming a chat again from an older seq replays it again, in order.
    console
        .send(json!({"type": "resume", "afterSeq": {s2.chat_id.as_str(): 0}}))
        .await;
    assert_eq!(console.next().await["message"]["seq"], 1);
    assert_eq!(console.next().await["message"]["seq"], 2);
    assert_eq!(console.next().await, json!({"type": "resumed"}));
}

async fn c4_the_operator_socket_refuses_a_bad_after_event_and_a_malformed_resume(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    for bad in ["-1", "x", "1.5"] {
        let res = app
            .get(
                &api(
                    "acme",
                    &format!("/ws?token={}&afterEvent={bad}", admin.token),
                ),
                None,
            )
            .await;
        res.assert_error(400, "invalid_request");
        assert_eq!(res.body["error"]["field"], "afterEvent", "{bad}");
    }
    assert_eq!(
        Ws::refused_status(
            &app,
            &api("acme", &format!("/ws?token={}&afterEvent=-1", admin.token))
        )
        .await,
        400
    );
    // Authentication is checked first.
    app.get(&api("acme", "/ws?afterEvent=-1"), None)
        .await
        .assert_error(401, "unauthenticated");

    let mut console = operator_ws(&app, &admin, "acme").await;
    let too_many: serde_json::Map<String, Value> =
        (0..1001).map(|i| (format!("c{i}"), json!(0))).collect();
    for bad in [
        json!({"type": "resume"}),
        json!({"type": "resume", "afterSeq": [1]}),
        json!({"type": "resume", "afterSeq": {"c1": -1}}),
        json!({"type": "resume", "afterSeq": {"c1": "3"}}),
        json!({"type": "resume", "afterSeq": too_many}),
    ] {
        console.send(bad.clone()).await;
        let f = console.next().await;
        assert_eq!(f["type"], "error", "{bad}: {f}");
        assert_eq!(f["code"], "invalid_request", "{bad}");
        assert_eq!(f["field"], "afterSeq", "{bad}");
    }
    // The socket still works.
    console
        .send(json!({"type": "resume", "afterSeq": {}}))
        .await;
    assert_eq!(console.next().await, json!({"type": "resumed"}));
}

// ---------------------------------------------------------------------------------
// C5 lifecycle
// ---------------------------------------------------------------------------------

both_backends!(
    c5_a_waiting_chat_is_missed_within_a_second_after_the_wait_limit,
    c5_the_wait_limit_setting_is_an_integer_of_at_least_one,
    c5_attended_chats_end_and_keep_their_outcome,
    c5_ending_a_waiting_chat_records_it_as_missed,
    c5_a_visitor_leaving_a_waiting_chat_makes_it_missed,
    c5_idle_chats_end,
    c5_every_transition_is_recorded_in_order_for_the_integration,
    c5_lifecycle_changes_reach_the_operator_socket,
    c5_a_burst_of_overdue_chats_all_turn_missed_once_each,
);

async fn c5_a_waiting_chat_is_missed_within_a_second_after_the_wait_limit(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let settings = api_get(&app, &admin, "acme", "/settings").await;
    assert_eq!(settings["missedAfterSeconds"], 120);
    let chat = start_chat(&app, "acme", json!({})).await;
    app.clock.advance_ms(118_000);
    app.tick_lifecycle().await;
    assert_eq!(
        get_chat(&app, &admin, "acme", &chat.chat_id).await["state"],
        "waiting"
    );
    app.clock.advance_ms(2_000);
    let got = wait_for_chat(
        &app,
        &admin,
        "acme",
        &chat.chat_id,
        Duration::from_secs(1),
        |c| c["state"] == "missed",
    )
    .await;
    assert_eq!(got["state"], "missed");
    assert_eq!(got["outcome"], "missed");
    let last = got["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["sender"], "system");

    // A shorter limit applies to chats already waiting.
    let patched = patch_settings(&app, &admin, "acme", json!({"missedAfterSeconds": 5})).await;
    patched.assert_status(200);
    assert_eq!(patched["missedAfterSeconds"], 5);
    let chat = start_chat(&app, "acme", json!({})).await;
    app.clock.advance_ms(5_000);
    let got = wait_for_chat(
        &app,
        &admin,
        "acme",
        &chat.chat_id,
        Duration::from_secs(1),
        |c| c["state"] == "missed",
    )
    .await;
    assert_eq!(got["state"], "missed");
}

async fn c5_the_wait_limit_setting_is_an_integer_of_at_least_one(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let op = operator(&app, &admin, "acme", "o@acme.example", "operator", &[]).await;
    for bad in [json!(0), json!(-1), json!(1.5), json!("60"), json!(null)] {
        let res = patch_settings(&app, &admin, "acme", json!({"missedAfterSeconds": bad})).await;
        if bad.is_null() {
            // null leaves the setting as it is.
            res.assert_status(200);
            assert_eq!(res["missedAfterSeconds"], 120);
            continue;
        }
        res.assert_error(400, "invalid_request");
        assert_eq!(res.body["error"]["field"], "missedAfterSeconds", "{bad}");
    }
    patch_settings(&app, &op, "acme", json!({"missedAfterSeconds": 30}))
        .await
        .assert_error(403, "forbidden");
    let ok = patch_settings(&app, &admin, "acme", json!({"missedAfterSeconds": 1})).await;
    ok.assert_status(200);
    assert_eq!(ok["missedAfterSeconds"], 1);
}

async fn c5_attended_chats_end_and_keep_their_outcome(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    let waiting = get_chat(&app, &admin, "acme", &chat.chat_id).await;
    assert_eq!(waiting["state"], "waiting");
    assert_eq!(waiting["outcome"], Value::Null);
    assert_eq!(waiting["operatorId"], Value::Null);
    let accepted = act(&app, &admin, "acme", &chat.chat_id, "accept").await;
    accepted.assert_status(200);
    assert_eq!(accepted["outcome"], "attended");
    assert_eq!(accepted["operatorId"], admin.id.as_str());
    let ended = act(&app, &admin, "acme", &chat.chat_id, "end").await;
    ended.assert_status(200);
    assert_eq!(ended["state"], "ended");
    assert_eq!(ended["outcome"], "attended");
    assert!(ended["endedAt"].is_string());
    // Ending again answers the ended chat; the visitor can no longer write.
    let again = act(&app, &admin, "acme", &chat.chat_id, "end").await;
    again.assert_status(200);
    assert_eq!(again["state"], "ended");
    visitor_says(&app, "acme", &chat, "もしもし", "late")
        .await
        .assert_error(409, "conflict");
    let list = api_get(&app, &admin, "acme", "/chats?state=ended").await;
    assert_eq!(list["data"][0]["id"], chat.chat_id.as_str());
    let got = get_chat(&app, &admin, "acme", &chat.chat_id).await;
    let texts: Vec<&str> = got["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["sender"] == "system")
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        vec!["a さんがチャットに参加しました", "チャットが終了しました"]
    );
}

async fn c5_ending_a_waiting_chat_records_it_as_missed(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    let ended = act(&app, &admin, "acme", &chat.chat_id, "end").await;
    ended.assert_status(200);
    assert_eq!(ended["state"], "ended");
    assert_eq!(ended["outcome"], "missed");
}

async fn c5_a_visitor_leaving_a_waiting_chat_makes_it_missed(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    let left = chat.post_empty(&app, "acme", "/leave").await;
    left.assert_status(200);
    assert_eq!(left["state"], "missed");
    let got = get_chat(&app, &admin, "acme", &chat.chat_id).await;
    assert_eq!(got["state"], "missed");
    assert_eq!(got["outcome"], "missed");
    // Then the operator closes it: ended, still missed.
    let ended = act(&app, &admin, "acme", &chat.chat_id, "end").await;
    assert_eq!(ended["state"], "ended");
    assert_eq!(ended["outcome"], "missed");

    // Leaving an attended chat ends it.
    let chat = start_chat(&app, "acme", json!({})).await;
    accept(&app, &admin, "acme", &chat.chat_id).await;
    let left = chat.post_empty(&app, "acme", "/leave").await;
    assert_eq!(left["state"], "ended");
    let got = get_chat(&app, &admin, "acme", &chat.chat_id).await;
    assert_eq!(got["outcome"], "attended");
    // Leaving twice is harmless.
    chat.post_empty(&app, "acme", "/leave")
        .await
        .assert_status(200);
}

async fn c5_idle_chats_end(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    accept(&app, &admin, "acme", &chat.chat_id).await;
    app.clock.advance_ms(29 * 60 * 1000);
    visitor_says(&app, "acme", &chat, "まだいます", "v1")
        .await
        .assert_status(201);
    app.clock.advance_ms(29 * 60 * 1000);
    app.tick_lifecycle().await;
    assert_eq!(
        get_chat(&app, &admin, "acme", &chat.chat_id).await["state"],
        "attended"
    );
    app.clock.advance_ms(2 * 60 * 1000);
    let got = wait_for_chat(
        &app,
        &admin,
        "acme",
        &chat.chat_id,
        Duration::from_secs(3),
        |c| c["state"] == "ended",
    )
    .await;
    assert_eq!(got["state"], "ended");
    assert_eq!(got["outcome"], "attended");
}

async fn c5_every_transition_is_recorded_in_order_for_the_integration(app: TestApp) {
    use sqlx::Row;
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    accept(&app, &admin, "acme", &chat.chat_id).await;
    end(&app, &admin, "acme", &chat.chat_id).await;
    let rows =
        sqlx::query("select id, kind, actor_id from chat_events where chat_id = $1 order by id")
            .bind(&chat.chat_id)
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    let kinds: Vec<String> = rows.iter().map(|r| r.try_get("kind").unwrap()).collect();
    assert_eq!(kinds, vec!["waiting", "attended", "ended"]);
    let ids: Vec<i64> = rows.iter().map(|r| r.try_get("id").unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[1] > w[0]));
    let actor: Option<String> = rows[1].try_get("actor_id").unwrap();
    assert_eq!(actor.as_deref(), Some(admin.id.as_str()));
}

async fn c5_lifecycle_changes_reach_the_operator_socket(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let mut console = operator_ws(&app, &admin, "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    assert_eq!(
        console.next_of("chat.waiting").await["chat"]["id"],
        chat.chat_id.as_str()
    );
    app.clock.advance_ms(120_000);
    let missed = console.next_of("chat.missed").await;
    assert_eq!(missed["chat"]["id"], chat.chat_id.as_str());
    assert_eq!(missed["chat"]["outcome"], "missed");
    end(&app, &admin, "acme", &chat.chat_id).await;
    let ended = console.next_of("chat.ended").await;
    assert_eq!(ended["chat"]["state"], "ended");
    assert_eq!(ended["chat"]["outcome"], "missed");
}

/// Many chats overdue at the same moment (the timer stores them in batches): every
/// one turns missed exactly once, with one system line, one event each on the
/// operator socket in event order, and messages of other chats still go through.
async fn c5_a_burst_of_overdue_chats_all_turn_missed_once_each(app: TestApp) {
    const CHATS: usize = 40;
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let mut chats = Vec::new();
    for _ in 0..CHATS {
        chats.push(start_chat(&app, "acme", json!({})).await);
    }
    let talking = start_chat(&app, "acme", json!({})).await;
    accept(&app, &admin, "acme", &talking.chat_id).await;
    let mut console = operator_ws(&app, &admin, "acme").await;
    app.clock.advance_ms(120_000);
    let mut missed = std::collections::HashSet::new();
    let mut last_event = 0;
    while missed.len() < CHATS {
        let frame = console.next_of("chat.missed").await;
        let id = frame["chat"]["id"].as_str().unwrap().to_owned();
        assert!(missed.insert(id.clone()), "{id} reported missed twice");
        let event_id = frame["eventId"].as_i64().unwrap();
        assert!(event_id > last_event, "events out of order");
        last_event = event_id;
    }
    for chat in &chats {
        assert!(missed.contains(&chat.chat_id));
        let got = get_chat(&app, &admin, "acme", &chat.chat_id).await;
        assert_eq!(got["state"], "missed");
        let messages = got["messages"].as_array().unwrap();
        let seqs: Vec<i64> = messages
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs, vec![1, 2], "question, then one system line");
        assert_eq!(messages[1]["sender"], "system");
    }
    visitor_says(&app, "acme", &talking, "まだ話せますか", "after-burst")
        .await
        .assert_status(201);
    assert_eq!(
        get_chat(&app, &admin, "acme", &talking.chat_id).await["state"],
        "attended"
    );
}

// ---------------------------------------------------------------------------------
// C6 visitor info
// ---------------------------------------------------------------------------------

both_backends!(c6_operators_edit_the_visitor_with_validation,);

async fn c6_operators_edit_the_visitor_with_validation(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({"name": "鈴木"})).await;
    let path = api("acme", &format!("/visitors/{}", chat.visitor_id));
    let bad = app
        .patch(&path, Some(&admin.token), json!({"email": "not-an-email"}))
        .await;
    bad.assert_error(400, "invalid_request");
    assert_eq!(bad.body["error"]["field"], "email");
    let res = app
        .patch(
            &path,
            Some(&admin.token),
            json!({"name": "鈴木 一郎", "email": "ichiro@example.jp", "phone": "03-1234-5678"}),
        )
        .await;
    res.assert_status(200);
    assert_eq!(
        res.body,
        json!({"id": chat.visitor_id, "name": "鈴木 一郎", "email": "ichiro@example.jp", "phone": "03-1234-5678"})
    );
    // Absent fields stay; null clears.
    let res = app
        .patch(&path, Some(&admin.token), json!({"phone": null}))
        .await;
    res.assert_status(200);
    assert_eq!(res["phone"], Value::Null);
    assert_eq!(res["email"], "ichiro@example.jp");
    let got = get_chat(&app, &admin, "acme", &chat.chat_id).await;
    assert_eq!(got["visitor"]["name"], "鈴木 一郎");
    assert_eq!(got["visitor"]["email"], "ichiro@example.jp");
    app.patch(
        &api("acme", "/visitors/nobody"),
        Some(&admin.token),
        json!({"name": "x"}),
    )
    .await
    .assert_error(404, "not_found");
    app.patch(&path, None, json!({"name": "x"}))
        .await
        .assert_error(401, "unauthenticated");
}

// ---------------------------------------------------------------------------------
// The contract is published
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn c4_the_openapi_document_lists_the_chat_and_widget_routes() {
    let res = TestApp::served_openapi().await;
    let paths = res["paths"].as_object().unwrap();
    for (path, method) in [
        ("/chat/api/v1/portals", "post"),
        ("/chat/api/v1/portals", "get"),
        ("/chat/api/v1/portals/{portal}", "get"),
        ("/chat/api/v1/portals/{portal}/plan", "put"),
        ("/chat/api/v1/portals/{portal}/settings", "patch"),
        ("/chat/api/v1/portals/{portal}/operators", "post"),
        ("/chat/api/v1/portals/{portal}/departments", "get"),
        ("/chat/api/v1/portals/{portal}/departments", "post"),
        ("/chat/api/v1/portals/{portal}/me/availability", "put"),
        ("/chat/api/v1/portals/{portal}/chats", "get"),
        ("/chat/api/v1/portals/{portal}/chats/{id}", "get"),
        ("/chat/api/v1/portals/{portal}/chats/{id}/accept", "post"),
        ("/chat/api/v1/portals/{portal}/chats/{id}/end", "post"),
        ("/chat/api/v1/portals/{portal}/chats/{id}/messages", "post"),
        (
            "/chat/api/v1/portals/{portal}/visitors/{visitor_id}",
            "patch",
        ),
        ("/chat/api/v1/portals/{portal}/ws", "get"),
        ("/chat/widget/v1/{portal}/config", "get"),
        ("/chat/widget/v1/{portal}/chats", "post"),
        ("/chat/widget/v1/{portal}/chats/{id}/messages", "post"),
        ("/chat/widget/v1/{portal}/chats/{id}/messages", "get"),
        ("/chat/widget/v1/{portal}/chats/{id}/leave", "post"),
        ("/chat/widget/v1/{portal}/chats/{id}/ws", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
}
