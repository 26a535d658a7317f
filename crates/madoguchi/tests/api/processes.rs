//! Real processes: Desk and Chat as two `madoguchi serve` processes, the integration
//! over HTTP with the service key, Desk stopped and the Chat process killed with
//! SIGKILL in the middle (Q2: a Desk outage delays work, never loses or duplicates it).

use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

use madoguchi_testkit::process::Serve as Server;
use madoguchi_testkit::wait;

/// How long the process tests wait for a state of a real process.
const WAIT: Duration = Duration::from_secs(120);

/// `madoguchi serve` of this build on `data_dir`.
async fn serve(data_dir: &Path, extra: &[String]) -> Server {
    Server::start(env!("CARGO_BIN_EXE_madoguchi"), data_dir, extra, None).await
}

/// The integration outbox of the process on `data_dir`, read from its database file
/// beside the running process: how many jobs were tried at least once, and whether it
/// has nothing left to do (every chat event read, no job pending).
async fn outbox_of(data_dir: &Path) -> (i64, bool) {
    use sqlx::{Connection, Row};
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(data_dir.join("madoguchi.db"))
        .read_only(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("opening the Chat process's database");
    let row = sqlx::query(
        "select (select count(*) from integ_outbox where attempts > 0) as tried, \
         (select count(*) from integ_outbox where state = 'pending') as pending, \
         (select coalesce(max(id), 0) from chat_events) as last_event, \
         (select coalesce(max(position), 0) from integ_cursors where name = 'chat_events') as read_to",
    )
    .fetch_one(&mut conn)
    .await
    .expect("reading the outbox");
    let _ = conn.close().await;
    let tried: i64 = row.get("tried");
    let pending: i64 = row.get("pending");
    let last: i64 = row.get("last_event");
    let read_to: i64 = row.get("read_to");
    (tried, pending == 0 && read_to >= last)
}

async fn signup(server: &Server, email: &str) -> String {
    signup_named(server, email, "Admin").await.0
}

/// Signs `name` up; answers their token and user id.
async fn signup_named(server: &Server, email: &str, name: &str) -> (String, String) {
    let v = server
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"email": email, "password": "correct horse battery", "name": name}),
        )
        .await;
    let token = v["token"].as_str().unwrap_or_else(|| panic!("{v}"));
    (
        token.to_owned(),
        v["user"]["id"].as_str().unwrap().to_owned(),
    )
}

/// Starts a chat with an email, has the operator accept and end it.
async fn answered_chat(chat: &Server, token: &str, n: usize) -> String {
    let c = chat
        .post(
            "/chat/widget/v1/acme-chat/chats",
            None,
            json!({"email": format!("visitor{n}@example.jp"), "name": format!("訪問者 {n}"),
                   "question": format!("障害中の質問 {n}"), "clientMessageId": format!("q-{n}")}),
        )
        .await;
    let id = c["chatId"].as_str().unwrap().to_owned();
    chat.post(
        &format!("/chat/api/v1/portals/acme-chat/chats/{id}/accept"),
        Some(token),
        json!({}),
    )
    .await;
    chat.post(
        &format!("/chat/api/v1/portals/acme-chat/chats/{id}/messages"),
        Some(token),
        json!({"text": format!("回答 {n}"), "clientMessageId": format!("a-{n}")}),
    )
    .await;
    chat.post(
        &format!("/chat/api/v1/portals/acme-chat/chats/{id}/end"),
        Some(token),
        json!({}),
    )
    .await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q2_i7_desk_down_and_chat_killed_with_sigkill_every_ticket_appears_exactly_once() {
    let root =
        std::env::temp_dir().join(format!("madoguchi-procs-{}", uuid::Uuid::now_v7().simple()));
    let (desk_dir, chat_dir) = (root.join("desk"), root.join("chat"));
    let mut desk = serve(&desk_dir, &[]).await;
    let mut chat = serve(&chat_dir, &["--desk-url".into(), desk.base()]).await;

    // Desk: a portal and its service key. Chat: a portal linked with that key (I3 form).
    let desk_token = signup(&desk, "desk-admin@example.jp").await;
    desk.post(
        "/desk/api/v1/portals",
        Some(&desk_token),
        json!({"portalName": "acme", "displayName": "Acme"}),
    )
    .await;
    let key = desk
        .post(
            "/desk/api/v1/portals/acme/settings/service-key",
            Some(&desk_token),
            json!({}),
        )
        .await;
    let chat_token = signup(&chat, "chat-admin@example.jp").await;
    let t = Some(chat_token.as_str());
    chat.post(
        "/chat/api/v1/portals",
        t,
        json!({"portalName": "acme-chat", "displayName": "Acme"}),
    )
    .await;
    chat.post(
        "/chat/api/v1/portals/acme-chat/departments",
        t,
        json!({"name": "Support"}),
    )
    .await;
    chat.call(
        reqwest::Method::PUT,
        "/chat/api/v1/portals/acme-chat/me/availability",
        t,
        Some(json!({"status": "available"})),
    )
    .await;
    let linked = chat
        .post(
            "/chat/api/v1/portals/acme-chat/integrations/desk/enable",
            t,
            json!({"adminEmail": "desk-admin@example.jp", "serviceKey": key["serviceKey"], "deskPortalName": "acme"}),
        )
        .await;
    assert_eq!(linked["status"], "enabled");
    let (status, _) = chat
        .call(
            reqwest::Method::PATCH,
            "/chat/api/v1/portals/acme-chat/integrations/desk/settings",
            t,
            Some(json!({"autoTicket": "all", "ticketStatus": "Open", "viewScope": "all"})),
        )
        .await;
    assert_eq!(status, 200);

    // Desk goes away hard. Chats still start, are answered and end normally.
    desk.kill9();
    let mut chats = vec![];
    for n in 0..3 {
        chats.push(answered_chat(&chat, &chat_token, n).await);
    }
    // The outbox tries (and fails) each chat's ticket at least once; then the Chat
    // process is killed mid-retry.
    wait::until(
        WAIT,
        "every ticket job tried while Desk is down",
        || async { (outbox_of(&chat_dir).await.0 >= 3).then_some(()) },
    )
    .await;
    chat.kill9();
    chat.restart().await;
    chats.push(answered_chat(&chat, &chat_token, 3).await);

    // Desk returns: every chat becomes exactly one ticket, with its transcript.
    desk.restart().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let tickets = loop {
        let (status, v) = desk
            .call(
                reqwest::Method::GET,
                "/desk/api/v1/portals/acme/tickets?limit=100",
                Some(&desk_token),
                None,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        let list = v["data"].as_array().cloned().unwrap_or_default();
        if list.len() >= chats.len() {
            break list;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {} tickets after Desk returned",
            list.len(),
            chats.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Counted once the Chat process has nothing left to do: no job is left that could
    // still make a duplicate.
    wait::until(WAIT, "the Chat outbox to finish its work", || async {
        outbox_of(&chat_dir).await.1.then_some(())
    })
    .await;
    let (_, again) = desk
        .call(
            reqwest::Method::GET,
            "/desk/api/v1/portals/acme/tickets?limit=100",
            Some(&desk_token),
            None,
        )
        .await;
    let again = again["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        again.len(),
        chats.len(),
        "exactly one ticket per chat: {again:#?}"
    );
    let mut subjects: Vec<String> = tickets
        .iter()
        .map(|t| t["subject"].as_str().unwrap_or("").to_owned())
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        (0..4)
            .map(|n| format!("障害中の質問 {n}"))
            .collect::<Vec<_>>()
    );
    for t in &again {
        assert_eq!(t["channel"], "Chat");
        let id = t["id"].as_str().unwrap();
        let (_, threads) = desk
            .call(
                reqwest::Method::GET,
                &format!("/desk/api/v1/portals/acme/tickets/{id}/threads"),
                Some(&desk_token),
                None,
            )
            .await;
        let chat_threads: Vec<&Value> = threads["data"]
            .as_array()
            .map(|a| a.iter().filter(|th| th["kind"] == "chat").collect())
            .unwrap_or_default();
        assert_eq!(
            chat_threads.len(),
            1,
            "one chat thread per ticket: {threads}"
        );
        let texts: Vec<&str> = chat_threads[0]["messages"]
            .as_array()
            .map(|m| m.iter().filter_map(|x| x["text"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            texts.iter().any(|x| x.starts_with("障害中の質問")),
            "{texts:?}"
        );
        assert!(texts.iter().any(|x| x.starts_with("回答")), "{texts:?}");
    }
    drop(chat);
    drop(desk);
    let _ = std::fs::remove_dir_all(&root);
}

/// I10, Q2: the process dies between Desk making the ticket and the integration linking
/// it (a fault-injection point aborts it there). After a restart the conversion is
/// finished by the worker with the ticket Desk made: exactly one ticket, linked, with
/// the transcript, and the automatic ticket at the chat's end does not add another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i10_q2_a_crash_between_ticket_creation_and_linking_leaves_one_linked_ticket() {
    let dir =
        std::env::temp_dir().join(format!("madoguchi-fault-{}", uuid::Uuid::now_v7().simple()));
    let mut server = serve(&dir, &[]).await;
    let token = signup(&server, "admin@example.jp").await;
    let t = Some(token.as_str());
    server
        .post(
            "/desk/api/v1/portals",
            t,
            json!({"portalName": "acme", "displayName": "Acme"}),
        )
        .await;
    let key = server
        .post(
            "/desk/api/v1/portals/acme/settings/service-key",
            t,
            json!({}),
        )
        .await;
    server
        .post(
            "/chat/api/v1/portals",
            t,
            json!({"portalName": "acme-chat", "displayName": "Acme"}),
        )
        .await;
    let linked = server
        .post(
            "/chat/api/v1/portals/acme-chat/integrations/desk/enable",
            t,
            json!({"adminEmail": "admin@example.jp", "serviceKey": key["serviceKey"], "deskPortalName": "acme"}),
        )
        .await;
    assert_eq!(linked["status"], "enabled");
    // 佐藤, a Chat supervisor and a Desk agent, converts (O6: the ticket is hers).
    let (sato_token, sato_id) = signup_named(&server, "sato@example.jp", "佐藤 花子").await;
    server
        .post(
            "/chat/api/v1/portals/acme-chat/operators",
            t,
            json!({"email": "sato@example.jp", "role": "supervisor"}),
        )
        .await;
    server
        .post(
            "/desk/api/v1/portals/acme/members",
            t,
            json!({"email": "sato@example.jp", "role": "agent"}),
        )
        .await;
    let sato = Some(sato_token.as_str());
    let chat = server
        .post(
            "/chat/widget/v1/acme-chat/chats",
            None,
            json!({"email": "suzuki@example.jp", "name": "鈴木", "question": "請求書が届きません", "clientMessageId": "q-1"}),
        )
        .await;
    let id = chat["chatId"].as_str().unwrap().to_owned();
    let chat_path = format!("/chat/api/v1/portals/acme-chat/chats/{id}");
    let accepted = server
        .post(&format!("{chat_path}/accept"), sato, json!({}))
        .await;
    assert_eq!(accepted["operatorId"], sato_id.as_str(), "{accepted}");

    // Armed: the conversion's process dies right after Desk answered with the ticket.
    server.kill9();
    server
        .restart_with_fault(Some("integ-after-ticket-created"))
        .await;
    let cut = reqwest::Client::new()
        .post(format!("{}{chat_path}/desk/tickets", server.base()))
        .bearer_auth(&sato_token)
        .json(&json!({}))
        .send()
        .await;
    assert!(cut.is_err(), "the request is cut by the crash: {cut:?}");
    assert!(!server.wait_for_exit().success());

    server.restart_with_fault(None).await;
    let tickets = |server: &Server| {
        let token = token.clone();
        let base = server.base();
        async move {
            let v: Value = reqwest::Client::new()
                .get(format!("{base}/desk/api/v1/portals/acme/tickets?limit=100"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("tickets")
                .json()
                .await
                .expect("tickets JSON");
            v["data"].as_array().cloned().unwrap_or_default()
        }
    };
    // The ticket exists in Desk, unlinked, until the worker finishes the conversion.
    assert_eq!(tickets(&server).await.len(), 1);
    let deadline = Instant::now() + Duration::from_secs(60);
    let linked_ticket = loop {
        let (_, v) = server.call(reqwest::Method::GET, &chat_path, t, None).await;
        if let Some(first) = v["deskTicketIds"].as_array().and_then(|a| a.first()) {
            assert_eq!(v["deskTicketIds"].as_array().map(Vec::len), Some(1), "{v}");
            break first.as_str().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the conversion was never finished: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let all = tickets(&server).await;
    assert_eq!(all.len(), 1, "exactly one ticket: {all:#?}");
    assert_eq!(all[0]["id"], linked_ticket.as_str());
    assert_eq!(all[0]["subject"], "請求書が届きません");
    // O6: the worker finished the conversion as 佐藤, not as the service key's admin.
    assert_eq!(all[0]["assigneeId"], sato_id.as_str(), "{:#}", all[0]);
    let (_, history) = server
        .call(
            reqwest::Method::GET,
            &format!("/desk/api/v1/portals/acme/tickets/{linked_ticket}/history"),
            t,
            None,
        )
        .await;
    let entries = history["data"].as_array().cloned().unwrap_or_default();
    assert!(!entries.is_empty(), "{history}");
    assert!(
        entries
            .iter()
            .all(|e| e["actorName"] == "佐藤 花子" && e["actorId"] == sato_id.as_str()),
        "{history:#}"
    );

    // Converting again is refused; ending the chat makes no automatic second ticket.
    let (status, v) = server
        .call(
            reqwest::Method::POST,
            &format!("{chat_path}/desk/tickets"),
            t,
            Some(json!({})),
        )
        .await;
    assert_eq!(v["error"]["code"], "already_converted", "{status} {v}");
    server.post(&format!("{chat_path}/end"), t, json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, v) = server.call(reqwest::Method::GET, &chat_path, t, None).await;
        let status = v["autoTicket"]["status"].as_str().unwrap_or("").to_owned();
        if status == "skipped" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the automatic ticket was not decided: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The transcript reached the ticket's chat thread.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, threads) = server
            .call(
                reqwest::Method::GET,
                &format!("/desk/api/v1/portals/acme/tickets/{linked_ticket}/threads"),
                t,
                None,
            )
            .await;
        let has_transcript = threads["data"].as_array().is_some_and(|a| {
            a.iter().any(|th| {
                th["kind"] == "chat"
                    && th["messages"]
                        .as_array()
                        .is_some_and(|m| m.iter().any(|x| x["text"] == "請求書が届きません"))
            })
        });
        if has_transcript {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no transcript on the ticket: {threads}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(tickets(&server).await.len(), 1);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
