//! The visitor experience (SPEC V1–V6, API.md "Visitor experience and operator
//! toolkit"): presence from open consoles, business hours and the offline form, the
//! visitor's pages and past chats, the rating, and the states a returning widget reads.

use crate::both_backends;
use crate::chat::{
    accept, api, end, get_chat, new_client_id, operator, operator_ws, portal_with_admin,
    sales_and_support, start_chat, widget,
};
use crate::helpers::{Backend, Res, TestApp, TestUser};
use crate::integration::World;
use chrono::{Datelike, TimeZone};
use madoguchi_testkit::wait::until;
use serde_json::{json, Value};
use std::time::Duration;

both_backends!(
    v1_the_widget_is_online_only_while_an_available_operator_has_a_console_open,
    v1_presence_is_per_department_and_does_not_change_api_routing,
    v2_business_hours_are_read_validated_and_saved_by_admins,
    v2_outside_business_hours_the_widget_offers_the_form_with_the_next_opening,
    v2_an_offline_message_is_a_missed_chat_once_per_client_message_id,
    v2_with_the_integration_an_offline_message_becomes_one_desk_ticket,
    v4_the_widget_reports_pages_and_the_console_sees_the_trail_and_past_chats,
    v5_a_chat_is_rated_once_after_it_ends_and_the_rating_shows_everywhere,
    v5_the_rating_reaches_the_desk_ticket_of_the_chat,
    v6_a_returning_widget_reads_the_chat_state_and_system_kinds,
    v6_a_missed_chat_asks_for_contact_details_and_keeps_them,
    v6_the_desk_transcript_reads_in_the_readers_language,
);

async fn config(app: &TestApp, portal: &str) -> Res {
    let res = app.get(&widget(portal, "/config"), None).await;
    res.assert_status(200);
    res
}

/// Polls the widget config until `pred` holds; V1 allows 10 s.
async fn config_until(app: &TestApp, portal: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let c = config(app, portal).await.body;
        if pred(&c) {
            return c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the config did not follow within 10 s: {c}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn set_status(app: &TestApp, user: &TestUser, portal: &str, status: &str) {
    crate::chat::set_availability(app, user, portal, status).await;
}

async fn v1_the_widget_is_online_only_while_an_available_operator_has_a_console_open(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    // Available, but no console open: nobody can answer (the defect).
    let c = config(&app, "acme").await;
    assert_eq!(c["online"], false, "{}", c.text);
    assert_eq!(c["offlineForm"], true);
    assert_eq!(c["hours"]["open"], true);
    assert!(c["hours"]["nextOpenAt"].is_null());

    let console = operator_ws(&app, &admin, "acme").await;
    let c = config_until(&app, "acme", |c| c["online"] == true).await;
    assert_eq!(c["offlineForm"], false);
    // A second tab, then the first closes: still online.
    let second = operator_ws(&app, &admin, "acme").await;
    drop(console);
    // Once the server has let go of the first socket (its presence goes with it, before
    // the socket's slot), the second still counts.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.state.sockets.open() > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first console never closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(config(&app, "acme").await["online"], true);
    // Away with a console open: offline.
    set_status(&app, &admin, "acme", "away").await;
    config_until(&app, "acme", |c| {
        c["online"] == false && c["offlineForm"] == true
    })
    .await;
    set_status(&app, &admin, "acme", "available").await;
    config_until(&app, "acme", |c| c["online"] == true).await;
    // The last console closes: offline within 10 s.
    drop(second);
    config_until(&app, "acme", |c| {
        c["online"] == false && c["offlineForm"] == true
    })
    .await;
}

async fn v1_presence_is_per_department_and_does_not_change_api_routing(app: TestApp) {
    let (admin, sales, support, seller) = sales_and_support(&app).await;
    let _console = operator_ws(&app, &seller, "acme").await;
    let c = config_until(&app, "acme", |c| c["online"] == true).await;
    let dept = |id: &str| madoguchi_testkit::list::by_id(&c["departments"], id).clone();
    assert_eq!(dept(&sales)["online"], true);
    assert_eq!(
        dept(&support)["online"],
        false,
        "the admin has no console open"
    );

    // C5 unchanged: the admin is available (no console) and may take support chats, so
    // a chat started through the API waits and the admin accepts it through the API.
    let chat = start_chat(&app, "acme", json!({"departmentId": support})).await;
    let got = get_chat(&app, &admin, "acme", &chat.chat_id).await;
    assert_eq!(got["state"], "waiting", "{}", got.text);
    accept(&app, &admin, "acme", &chat.chat_id).await;
}

/// Two nodes on one PostgreSQL database and one NATS server: a console on node 1 makes
/// the widget of node 2 online, and its closing makes it offline within 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_presence_is_shared_between_two_nodes_over_nats() {
    let Some(nats_url) = madoguchi_testkit::env_setting("MADOGUCHI_TEST_NATS_URL") else {
        crate::helpers::say_skipped("MADOGUCHI_TEST_NATS_URL is not set");
        return;
    };
    let Some(node1) =
        TestApp::spawn_with(Backend::Postgres, |s| s.nats_url = Some(nats_url.clone())).await
    else {
        return;
    };
    let node2 = TestApp::spawn_node_sharing(&node1).await;
    let admin = portal_with_admin(&node1, "a@acme.example", "acme").await;
    assert_eq!(config(&node2, "acme").await["online"], false);
    let console = operator_ws(&node1, &admin, "acme").await;
    config_until(&node2, "acme", |c| c["online"] == true).await;
    config_until(&node1, "acme", |c| c["online"] == true).await;
    drop(console);
    config_until(&node2, "acme", |c| c["online"] == false).await;
    // And the other way round.
    let console = operator_ws(&node2, &admin, "acme").await;
    config_until(&node1, "acme", |c| c["online"] == true).await;
    drop(console);
    config_until(&node1, "acme", |c| c["online"] == false).await;
}

fn hours_path(portal: &str) -> String {
    api(portal, "/settings/hours")
}

async fn v2_business_hours_are_read_validated_and_saved_by_admins(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let res = app.get(&hours_path("acme"), Some(&admin.token)).await;
    res.assert_status(200);
    assert_eq!(res["timeZone"], "Asia/Tokyo");
    assert_eq!(res["weekly"]["mon"], json!([["00:00", "24:00"]]));
    assert_eq!(res["closedDates"], json!([]));

    let good = json!({
        "timeZone": "Asia/Tokyo",
        "weekly": {"mon": [["09:00", "12:00"], ["13:00", "18:00"]], "fri": [["09:00", "17:30"]]},
        "closedDates": ["2027-01-01", "2026-12-31"]
    });
    let saved = app.put(&hours_path("acme"), Some(&admin.token), good).await;
    saved.assert_status(200);
    assert_eq!(saved["closedDates"], json!(["2026-12-31", "2027-01-01"]));
    let res = app.get(&hours_path("acme"), Some(&admin.token)).await;
    assert_eq!(
        res["weekly"]["mon"],
        json!([["09:00", "12:00"], ["13:00", "18:00"]])
    );
    assert!(res["weekly"]["tue"].is_null(), "a missing day is closed");

    for (body, field) in [
        (
            json!({"timeZone": "Mars/Olympus", "weekly": {}, "closedDates": []}),
            "timeZone",
        ),
        (
            json!({"timeZone": "Asia/Tokyo", "weekly": {"mon": [["18:00", "09:00"]]}, "closedDates": []}),
            "weekly",
        ),
        (
            json!({"timeZone": "Asia/Tokyo", "weekly": {"xyz": []}, "closedDates": []}),
            "weekly",
        ),
        (
            json!({"timeZone": "Asia/Tokyo", "weekly": {"mon": [["9:00", "25:00"]]}, "closedDates": []}),
            "weekly",
        ),
        (
            json!({"timeZone": "Asia/Tokyo", "weekly": {}, "closedDates": ["2027-13-01"]}),
            "closedDates",
        ),
    ] {
        let res = app.put(&hours_path("acme"), Some(&admin.token), body).await;
        res.assert_error(400, "invalid_request");
        assert_eq!(res["error"]["field"], field, "{}", res.text);
    }
    let op = operator(&app, &admin, "acme", "o@acme.example", "operator", &[]).await;
    app.put(
        &hours_path("acme"),
        Some(&op.token),
        json!({"timeZone": "Asia/Tokyo", "weekly": {}, "closedDates": []}),
    )
    .await
    .assert_error(403, "forbidden");
    app.get(&hours_path("acme"), None)
        .await
        .assert_error(401, "unauthenticated");
}

async fn v2_outside_business_hours_the_widget_offers_the_form_with_the_next_opening(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let _console = operator_ws(&app, &admin, "acme").await;
    config_until(&app, "acme", |c| c["online"] == true).await;
    // Open every day 09:00–18:00 Tokyo time, but closed today and tomorrow: the next
    // opening is the day after tomorrow at 09:00 (00:00 UTC).
    let tz = chrono_tz::Asia::Tokyo;
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let day = |n: i64| today + chrono::Duration::days(n);
    let nine_to_six = json!([["09:00", "18:00"]]);
    let weekly: serde_json::Map<String, Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| ((*d).to_owned(), nine_to_six.clone()))
        .collect();
    app.put(
        &hours_path("acme"),
        Some(&admin.token),
        json!({"timeZone": "Asia/Tokyo", "weekly": weekly,
               "closedDates": [day(0).to_string(), day(1).to_string()]}),
    )
    .await
    .assert_status(200);
    let c = config(&app, "acme").await;
    assert_eq!(c["online"], true, "presence is unchanged");
    assert_eq!(c["hours"]["open"], false, "{}", c.text);
    assert_eq!(c["offlineForm"], true);
    let next = day(2);
    let expected = tz
        .with_ymd_and_hms(next.year(), next.month(), next.day(), 9, 0, 0)
        .unwrap()
        .with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let got = c["hours"]["nextOpenAt"].as_str().unwrap_or_default();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(got)
            .map(|d| d.timestamp())
            .ok(),
        chrono::DateTime::parse_from_rfc3339(&expected)
            .map(|d| d.timestamp())
            .ok(),
        "{got} vs {expected}"
    );
    // Open around the clock again.
    app.put(
        &hours_path("acme"),
        Some(&admin.token),
        json!({"timeZone": "UTC", "weekly": {"mon": [["00:00","24:00"]], "tue": [["00:00","24:00"]],
            "wed": [["00:00","24:00"]], "thu": [["00:00","24:00"]], "fri": [["00:00","24:00"]],
            "sat": [["00:00","24:00"]], "sun": [["00:00","24:00"]]}, "closedDates": []}),
    )
    .await
    .assert_status(200);
    let c = config(&app, "acme").await;
    assert_eq!(c["hours"]["open"], true);
    assert_eq!(c["offlineForm"], false);
}

async fn leave_offline(app: &TestApp, portal: &str, body: Value) -> Res {
    app.post(&widget(portal, "/offline-messages"), None, body)
        .await
}

async fn v2_an_offline_message_is_a_missed_chat_once_per_client_message_id(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let id = new_client_id();
    let res = leave_offline(
        &app,
        "acme",
        json!({"message": "請求書について", "clientMessageId": id}),
    )
    .await;
    res.assert_error(400, "invalid_request");
    assert_eq!(res["error"]["field"], "email");
    let res = leave_offline(
        &app,
        "acme",
        json!({"email": "not-an-email", "message": "請求書について", "clientMessageId": id}),
    )
    .await;
    res.assert_error(400, "invalid_request");
    assert_eq!(res["error"]["field"], "email");

    let body = json!({"name": "佐藤", "email": "sato@example.jp", "phone": "03-1111-2222",
        "message": "請求書について教えてください", "clientMessageId": id});
    let first = leave_offline(&app, "acme", body.clone()).await;
    first.assert_status(201);
    assert!(first["ticketNumber"].is_null(), "no integration: no ticket");
    let again = leave_offline(&app, "acme", body).await;
    again.assert_status(201);
    assert_eq!(again["id"], first["id"], "once per clientMessageId");

    let chat_id = first["id"].as_str().unwrap();
    let chat = get_chat(&app, &admin, "acme", chat_id).await;
    chat.assert_status(200);
    assert_eq!(chat["state"], "missed");
    assert_eq!(chat["offlineMessage"], true);
    assert_eq!(chat["visitor"]["email"], "sato@example.jp");
    assert_eq!(chat["visitor"]["name"], "佐藤");
    assert_eq!(chat["messages"][0]["text"], "請求書について教えてください");
    assert_eq!(chat["messages"][1]["systemKind"], "offline");
    let missed = crate::chat::api_get(&app, &admin, "acme", "/chats?state=missed").await;
    let ids: Vec<&Value> = missed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(ids, vec![&json!(chat_id)], "one missed chat");
}

async fn v2_with_the_integration_an_offline_message_becomes_one_desk_ticket(app: TestApp) {
    let w = World::linked(app).await;
    // Automatic tickets are off: the offline form makes one anyway.
    w.settings(json!({"autoTicket": "none"})).await;
    let body = json!({"email": "kato@example.jp", "name": "加藤",
        "message": "オフラインでの問い合わせ", "clientMessageId": new_client_id()});
    let first = leave_offline(&w.app, &w.chat, body.clone()).await;
    first.assert_status(201);
    let number = first["ticketNumber"].as_i64();
    assert!(number.is_some(), "{}", first.text);
    let again = leave_offline(&w.app, &w.chat, body).await;
    again.assert_status(201);
    assert_eq!(again["ticketNumber"], first["ticketNumber"]);
    let tickets = w.get(&w.desk_api("/tickets")).await;
    let made: Vec<&Value> = tickets["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["email"] == "kato@example.jp")
        .collect();
    assert_eq!(made.len(), 1, "exactly one ticket: {}", tickets.text);
    assert_eq!(made[0]["ticketNumber"].as_i64(), number);
    assert_eq!(made[0]["channel"], "Chat");
    assert_eq!(made[0]["status"], "Open");
    let chat = get_chat(&w.app, &w.admin, &w.chat, first["id"].as_str().unwrap()).await;
    assert_eq!(chat["autoTicket"]["status"], "created");
}

fn page_path(portal: &str, chat_id: &str) -> String {
    widget(portal, &format!("/chats/{chat_id}/page"))
}

async fn v4_the_widget_reports_pages_and_the_console_sees_the_trail_and_past_chats(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let first = start_chat(
        &app,
        "acme",
        json!({"browserId": "browser-1", "email": "Ito@Example.jp"}),
    )
    .await;
    for (url, title) in [
        ("https://shop.example/", "トップ"),
        ("https://shop.example/pricing", "料金"),
        ("https://shop.example/pricing", "料金"),
    ] {
        app.post(
            &page_path("acme", &first.chat_id),
            Some(&first.token),
            json!({"url": url, "title": title, "referrer": "https://search.example/?q=x"}),
        )
        .await
        .assert_status(200);
    }
    let res = app
        .post(
            &page_path("acme", &first.chat_id),
            Some(&first.token),
            json!({"url": "javascript:alert(1)", "title": "x"}),
        )
        .await;
    res.assert_error(400, "invalid_request");
    assert_eq!(res["error"]["field"], "url");
    app.post(
        &page_path("acme", &first.chat_id),
        None,
        json!({"url": "https://shop.example/", "title": "x"}),
    )
    .await
    .assert_error(401, "unauthenticated");

    let chat = get_chat(&app, &admin, "acme", &first.chat_id).await;
    let pages = chat["visitor"]["pages"].as_array().unwrap();
    assert_eq!(
        pages.len(),
        2,
        "a repeat of the same page is kept once: {}",
        chat.text
    );
    assert_eq!(pages[0]["url"], "https://shop.example/");
    assert_eq!(pages[1]["url"], "https://shop.example/pricing");
    assert_eq!(pages[1]["title"], "料金");
    assert!(pages[1]["at"].is_string());

    // The same browser later, and the same email from another browser.
    let second = start_chat(&app, "acme", json!({"browserId": "browser-1"})).await;
    let third = start_chat(
        &app,
        "acme",
        json!({"browserId": "browser-2", "email": "ito@example.jp"}),
    )
    .await;
    let stranger = start_chat(&app, "acme", json!({"browserId": "browser-3"})).await;
    let past = crate::chat::api_get(
        &app,
        &admin,
        "acme",
        &format!("/chats/{}/past-chats", first.chat_id),
    )
    .await;
    past.assert_status(200);
    let ids = madoguchi_testkit::list::strs(&past["data"], "id");
    assert!(
        ids.contains(&second.chat_id.as_str()),
        "same browser: {ids:?}"
    );
    assert!(ids.contains(&third.chat_id.as_str()), "same email: {ids:?}");
    assert!(!ids.contains(&stranger.chat_id.as_str()));
    assert!(!ids.contains(&first.chat_id.as_str()));
    let past = crate::chat::api_get(
        &app,
        &admin,
        "acme",
        &format!("/chats/{}/past-chats", stranger.chat_id),
    )
    .await;
    assert_eq!(past["data"], json!([]));
    // Only for operators of the portal.
    let outsider = portal_with_admin(&app, "x@other.example", "other").await;
    crate::chat::api_get(
        &app,
        &outsider,
        "acme",
        &format!("/chats/{}/past-chats", first.chat_id),
    )
    .await
    .assert_error(403, "forbidden");
}

fn rating_path(portal: &str, chat_id: &str) -> String {
    widget(portal, &format!("/chats/{chat_id}/rating"))
}

async fn accept_and_end(app: &TestApp, user: &TestUser, portal: &str, chat_id: &str) {
    accept(app, user, portal, chat_id).await;
    end(app, user, portal, chat_id).await;
}

async fn v5_a_chat_is_rated_once_after_it_ends_and_the_rating_shows_everywhere(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({"name": "鈴木"})).await;
    app.post(
        &rating_path("acme", &chat.chat_id),
        Some(&chat.token),
        json!({"rating": "good"}),
    )
    .await
    .assert_error(409, "conflict");
    accept_and_end(&app, &admin, "acme", &chat.chat_id).await;
    let res = app
        .post(
            &rating_path("acme", &chat.chat_id),
            Some(&chat.token),
            json!({"rating": "great"}),
        )
        .await;
    res.assert_error(400, "invalid_request");
    assert_eq!(res["error"]["field"], "rating");
    app.post(
        &rating_path("acme", &chat.chat_id),
        None,
        json!({"rating": "good"}),
    )
    .await
    .assert_error(401, "unauthenticated");
    let rated = app
        .post(
            &rating_path("acme", &chat.chat_id),
            Some(&chat.token),
            json!({"rating": "good", "comment": "丁寧でした"}),
        )
        .await;
    rated.assert_status(200);
    assert_eq!(rated["rating"]["rating"], "good");
    assert_eq!(rated["rating"]["comment"], "丁寧でした");
    app.post(
        &rating_path("acme", &chat.chat_id),
        Some(&chat.token),
        json!({"rating": "bad"}),
    )
    .await
    .assert_error(409, "conflict");

    let got = get_chat(&app, &admin, "acme", &chat.chat_id).await;
    assert_eq!(got["rating"]["rating"], "good");
    let history = crate::chat::api_get(&app, &admin, "acme", "/chats?state=ended").await;
    assert_eq!(history["data"][0]["rating"]["rating"], "good");
    // The transcript says it, in the reader's language.
    let last = got["messages"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(last["systemKind"], "rated");
    assert!(last["text"].as_str().unwrap().contains("良い"), "{last}");
    assert!(last["text"].as_str().unwrap().contains("丁寧でした"));
    let en = app
        .request(
            app.http
                .get(format!(
                    "{}{}",
                    app.base,
                    api("acme", &format!("/chats/{}", chat.chat_id))
                ))
                .bearer_auth(&admin.token)
                .header("Accept-Language", "en"),
        )
        .await;
    let last = en["messages"].as_array().unwrap().last().cloned().unwrap();
    assert!(last["text"].as_str().unwrap().contains("Good"), "{last}");
}

async fn v5_the_rating_reaches_the_desk_ticket_of_the_chat(app: TestApp) {
    let w = World::linked(app).await;
    w.settings(json!({"autoTicket": "all"})).await;
    let chat = w
        .visitor_chat(json!({"email": "mori@example.jp", "question": "配送について"}))
        .await;
    accept_and_end(&w.app, &w.admin, &w.chat, &chat.chat_id).await;
    let ended = crate::chat::wait_for_chat(
        &w.app,
        &w.admin,
        &w.chat,
        &chat.chat_id,
        Duration::from_secs(30),
        |c| c["autoTicket"]["status"] == "created" && c["deskTicketIds"][0].is_string(),
    )
    .await;
    let ticket = ended["deskTicketIds"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no ticket for the chat: {ended}"))
        .to_owned();
    w.app
        .post(
            &rating_path(&w.chat, &chat.chat_id),
            Some(&chat.token),
            json!({"rating": "bad", "comment": "遅かった"}),
        )
        .await
        .assert_status(200);
    until(
        Duration::from_secs(10),
        "the rating to reach the ticket",
        || async {
            w.quiesce().await;
            let threads = w
                .get(&w.desk_api(&format!("/tickets/{ticket}/threads")))
                .await;
            threads.text.contains("遅かった").then_some(())
        },
    )
    .await;
}

async fn v6_a_returning_widget_reads_the_chat_state_and_system_kinds(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let _console = operator_ws(&app, &admin, "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    let path = widget("acme", &format!("/chats/{}", chat.chat_id));
    let res = app.get(&path, Some(&chat.token)).await;
    res.assert_status(200);
    assert_eq!(res["state"], "waiting");
    app.get(&path, None)
        .await
        .assert_error(401, "unauthenticated");
    let other = start_chat(&app, "acme", json!({})).await;
    app.get(&path, Some(&other.token))
        .await
        .assert_error(403, "forbidden");

    accept(&app, &admin, "acme", &chat.chat_id).await;
    let res = app.get(&path, Some(&chat.token)).await;
    assert_eq!(res["state"], "attended");
    let messages = app
        .get(&format!("{path}/messages"), Some(&chat.token))
        .await;
    assert_eq!(
        messages["data"][1]["systemKind"], "joined",
        "{}",
        messages.text
    );
    assert!(messages["data"][0].get("systemKind").is_none());
    let mut ws = crate::chat::visitor_ws(&app, "acme", &chat, Some(0)).await;
    let first = ws.next_of("message").await;
    assert_eq!(first["seq"], 1);
    let joined = ws.next_of("message").await;
    assert_eq!(joined["systemKind"], "joined", "{joined}");

    end(&app, &admin, "acme", &chat.chat_id).await;
    // After a reload the widget learns the chat ended: no message box, a new chat.
    let res = app.get(&path, Some(&chat.token)).await;
    assert_eq!(res["state"], "ended");
    assert!(res["rating"].is_null());
    crate::chat::visitor_says(&app, "acme", &chat, "まだいますか", "late-1")
        .await
        .assert_error(409, "conflict");
}

async fn v6_a_missed_chat_asks_for_contact_details_and_keeps_them(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    set_status(&app, &admin, "acme", "away").await;
    let chat = start_chat(&app, "acme", json!({"question": "誰かいますか"})).await;
    let path = widget("acme", &format!("/chats/{}/contact", chat.chat_id));
    let res = chat.get(&app, "acme", "").await;
    assert_eq!(res["state"], "missed");
    assert!(res["visitor"]["email"].is_null());
    let res = app.post(&path, Some(&chat.token), json!({})).await;
    res.assert_error(400, "invalid_request");
    assert_eq!(res["error"]["field"], "email");
    let res = app
        .post(&path, Some(&chat.token), json!({"email": "bad"}))
        .await;
    res.assert_error(400, "invalid_request");
    let res = app
        .post(
            &path,
            Some(&chat.token),
            json!({"email": "hayashi@example.jp", "phone": "090-1234-5678"}),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res["email"], "hayashi@example.jp");
    let got = get_chat(&app, &admin, "acme", &chat.chat_id).await;
    assert_eq!(got["visitor"]["email"], "hayashi@example.jp");
    assert_eq!(got["visitor"]["phone"], "090-1234-5678");
    app.post(&path, None, json!({"email": "x@example.jp"}))
        .await
        .assert_error(401, "unauthenticated");
}

/// V6: the Desk transcript keeps a system line as its event, so "the chat has ended"
/// reads in English to an English reader and in Japanese to a Japanese one, whatever
/// language the chat was in.
async fn v6_the_desk_transcript_reads_in_the_readers_language(app: TestApp) {
    let w = World::linked(app).await;
    w.settings(json!({"autoTicket": "all"})).await;
    let chat = w
        .visitor_chat(
            json!({"email": "jane@example.com", "name": "Jane", "question": "Where is my order?"}),
        )
        .await;
    accept_and_end(&w.app, &w.admin, &w.chat, &chat.chat_id).await;
    let ended = crate::chat::wait_for_chat(
        &w.app,
        &w.admin,
        &w.chat,
        &chat.chat_id,
        Duration::from_secs(30),
        |c| c["autoTicket"]["status"] == "created" && c["deskTicketIds"][0].is_string(),
    )
    .await;
    let ticket = ended["deskTicketIds"][0].as_str().unwrap().to_owned();
    let path = w.desk_api(&format!("/tickets/{ticket}/threads"));
    let ended_line = |threads: &Value| -> Value {
        threads["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["kind"] == "chat")
            .flat_map(|t| t["messages"].as_array().cloned().unwrap_or_default())
            .find(|m| m["system"]["kind"] == "ended")
            .unwrap_or_else(|| panic!("no ended line: {threads}"))
    };
    let read_in = |lang: &'static str| {
        w.app
            .http
            .get(format!("{}{path}", w.app.base))
            .bearer_auth(&w.admin.token)
            .header("Accept-Language", lang)
    };
    let en = w.app.request(read_in("en")).await;
    en.assert_status(200);
    let line = ended_line(&en.body);
    assert_eq!(line["sender"], "system");
    assert_eq!(line["text"], "The chat has ended", "{line}");
    let ja = w.app.request(read_in("ja")).await;
    let line = ended_line(&ja.body);
    assert_eq!(line["text"], "チャットが終了しました", "{line}");
    // The ticket page reads it in the page's language too.
    let cookie = w.app.session_cookie(&w.admin.email).await;
    let number = ended_ticket_number(&w, &ticket).await;
    let page = w
        .app
        .request(
            w.app
                .http
                .get(w.app.url(&format!("/desk/{}/tickets/{number}", w.desk)))
                .header("cookie", cookie)
                .header("Accept-Language", "en"),
        )
        .await;
    page.assert_status(200);
    assert!(page.text.contains("The chat has ended"), "{}", page.text);
    assert!(
        madoguchi_testkit::html::Doc::parse(&page.text)
            .has(".transcript .bubble.system", "The chat has ended"),
        "a system line of the transcript: {}",
        page.text
    );
    assert!(!page.text.contains("チャットが終了しました"));
}

async fn ended_ticket_number(w: &World, ticket: &str) -> String {
    let t = w.get(&w.desk_api(&format!("/tickets/{ticket}"))).await;
    t.assert_status(200);
    t["ticketNumber"].to_string().trim_matches('"').to_owned()
}
