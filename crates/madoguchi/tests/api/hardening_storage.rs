//! SPEC Q6 hardening, storage and scope: the integration's view scope holds on every
//! per-ticket route (I14), a second process on one SQLite data directory refuses to
//! start, and a database that cannot be written shows in `/healthz` and as 503
//! `storage_unavailable` rather than as `ok` and 500s.
#![allow(clippy::unwrap_used)]

use crate::both_backends;
use crate::helpers::TestApp;
use crate::integration::World;
use serde_json::json;

both_backends!(q6_view_scope_hides_a_ticket_from_every_per_ticket_route);

/// I14 + Q6: with "associated departments", a ticket of an unmapped Desk department is
/// out of a mapped chat's reach by id as well as in the lists: details, status, replies
/// and associate answer 404 `not_found` and change nothing; an in-scope ticket works,
/// and Choose as needed (or the scope "all") reaches both.
async fn q6_view_scope_hides_a_ticket_from_every_per_ticket_route(app: TestApp) {
    let w = World::new(app).await;
    let support = w.desk_department("Support").await;
    let other = w.desk_department("Other").await;
    let chat_support = w.chat_department("Support").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let chat_choose = w.chat_department("Choose").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.enable(&w.admin, None).await.assert_status(200);
    w.settings(json!({"autoTicket": "none", "viewScope": "associated"}))
        .await;
    let contact = w
        .app
        .post(
            &w.desk_api("/contacts"),
            w.token(),
            json!({"lastName": "Ito", "email": "ito@example.jp"}),
        )
        .await;
    let contact_id = contact["id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for (subject, dept) in [("scope in", &support), ("scope out", &other)] {
        let t = w
            .app
            .post(
                &w.desk_api("/tickets"),
                w.token(),
                json!({"subject": subject, "departmentId": dept, "contactId": contact_id}),
            )
            .await;
        t.assert_status(201);
        ids.push(t["id"].as_str().unwrap().to_owned());
    }
    let (inside, outside) = (ids[0].clone(), ids[1].clone());
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
