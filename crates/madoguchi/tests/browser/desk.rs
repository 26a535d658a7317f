//! Desk pages through a browser (D4–D6): a ticket's deep link through the login, a
//! reply, a status change; Settings > API with a key generated, revealed, copied and
//! regenerated after a confirmation. Screenshots: desk-ticket.png, desk-api.png.

use crate::harness::{click, fill, find, screenshot, wait_js, wait_text, Browser};
use crate::helpers::{TestApp, TestUser};
use fantoccini::Client;
use serde_json::{json, Value};

const BASE: &str = "/desk/api/v1/portals/acme";

/// An admin with portal `acme`, a contact with an account, SLA and contract, and
/// ticket #104 ("パスワードのリセット") holding a chat transcript and a note; a few
/// older tickets before it. Everything through the JSON API.
async fn seed(app: &TestApp) -> (TestUser, Value) {
    let admin = app.signup("yamada@acme.example").await;
    let token = Some(admin.token.as_str());
    madoguchi_testkit::desk::portal_by(app, &admin.token, "acme", "アクメ サポート").await;
    let account = app
        .post(
            &format!("{BASE}/accounts"),
            token,
            json!({"accountName": "株式会社サンプル"}),
        )
        .await;
    let sla = app
        .post(&format!("{BASE}/slas"), token, json!({"name": "ゴールド"}))
        .await;
    app.post(
        &format!("{BASE}/contracts"),
        token,
        json!({"contractName": "年間保守", "accountId": account["id"], "slaId": sla["id"]}),
    )
    .await
    .assert_status(201);
    let contact = app
        .post(
            &format!("{BASE}/contacts"),
            token,
            json!({"firstName": "一郎", "lastName": "鈴木", "email": "suzuki@example.jp",
                   "phone": "03-1234-5678", "accountId": account["id"], "ownerId": admin.id}),
        )
        .await;
    contact.assert_status(201);
    for (subject, status) in [
        ("請求書の再発行", "Closed"),
        ("ログイン画面が表示されない", "On Hold"),
        ("CSV エクスポートの要望", "Escalated"),
    ] {
        app.post(
            &format!("{BASE}/tickets"),
            token,
            json!({"subject": subject, "status": status, "contactId": contact["id"],
                   "classification": "Question", "assigneeId": admin.id}),
        )
        .await
        .assert_status(201);
    }
    let ticket = app
        .post(
            &format!("{BASE}/tickets"),
            token,
            json!({"subject": "パスワードのリセット",
                   "description": "管理画面にログインできません。パスワードのリセットをお願いします。",
                   "contactId": contact["id"], "priority": "High", "classification": "Problem",
                   "channel": "Chat", "assigneeId": admin.id}),
        )
        .await;
    ticket.assert_status(201);
    let id = ticket["id"].as_str().unwrap();
    app.post(
        &format!("{BASE}/tickets/{id}/chat-threads"),
        token,
        json!({"chatId": "chat-1", "messages": [
            {"seq": 1, "sender": "visitor", "senderName": "鈴木 一郎", "text": "こんにちは。管理画面にログインできません。", "createdAt": "2026-03-02T01:00:05.000Z"},
            {"seq": 2, "sender": "system", "senderName": "", "text": "山田 がチャットに参加しました", "createdAt": "2026-03-02T01:00:20.000Z"},
            {"seq": 3, "sender": "operator", "senderName": "山田", "text": "お問い合わせありがとうございます。パスワードのリセットを手配します。", "createdAt": "2026-03-02T01:00:41.000Z"},
            {"seq": 4, "sender": "visitor", "senderName": "鈴木 一郎", "text": "よろしくお願いします。", "createdAt": "2026-03-02T01:01:02.000Z"}
        ]}),
    )
    .await
    .assert_status(201);
    app.post(
        &format!("{BASE}/tickets/{id}/threads"),
        token,
        json!({"kind": "note", "content": "本人確認済み。リセット用のリンクを送る。"}),
    )
    .await
    .assert_status(201);
    (admin, ticket.body)
}

/// Opens `deep` as a stranger in Japanese: the login page comes first, then `deep`.
async fn log_in_via(c: &Client, app: &TestApp, user: &TestUser, deep: &str) {
    c.goto(&app.url(&format!("/lang?set=ja&next={deep}")))
        .await
        .unwrap();
    wait_text(c, "main h1", "ログイン").await;
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/login");
    fill(c, "input[name=email]", &user.email).await;
    fill(c, "input[name=password]", "correct horse battery").await;
    click(c, "form.stack button[type=submit]").await;
}

async fn badge_status(c: &Client) -> String {
    c.execute(
        "var b = document.querySelector('#ticket-status .badge'); return b ? b.dataset.status : '';",
        vec![],
    )
    .await
    .unwrap()
    .as_str()
    .unwrap_or("")
    .to_owned()
}

/// D5, D4: the ticket's `webUrl` after the login; a reply is posted and the status
/// changed through the page, and the page shows both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d5_a_ticket_deep_link_logs_in_then_replies_and_closes_it() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let (admin, ticket) = seed(&app).await;
    let deep = "/desk/acme/tickets/104";
    assert!(ticket["webUrl"].as_str().unwrap().ends_with(deep));
    let c = browser.session().await;

    log_in_via(&c, &app, &admin, deep).await;
    wait_text(&c, "#ticket-subject", "パスワードのリセット").await;
    assert_eq!(c.current_url().await.unwrap().path(), deep);
    wait_text(&c, ".ticket-number", "#104").await;
    wait_text(&c, "#ticket-priority", "高").await;
    wait_text(&c, "#ticket-classification", "問題").await;
    wait_text(&c, "#ticket-contact", "鈴木").await;
    wait_text(&c, "#ticket-channel", "チャット").await;
    assert_eq!(badge_status(&c).await, "Open");
    // The transcript reads like a chat: visitor left, operator right.
    let sides = wait_js(
        &c,
        "the transcript's bubbles",
        "var v = document.querySelector('.msg.visitor .bubble'); \
         var o = document.querySelector('.msg.operator .bubble'); \
         if (!v || !o) return null; \
         return o.getBoundingClientRect().left > v.getBoundingClientRect().left ? 'ok' : null;",
    )
    .await;
    assert_eq!(sides, "ok");

    // A reply.
    fill(
        &c,
        "#reply textarea[name=content]",
        "リセット用のリンクをメールでお送りしました。ご確認ください。",
    )
    .await;
    click(&c, "#reply button[value=reply]").await;
    wait_text(
        &c,
        "#threads",
        "リセット用のリンクをメールでお送りしました。",
    )
    .await;
    let last_kind = wait_js(
        &c,
        "the reply as the last thread",
        "var t = document.querySelectorAll('#threads .thread'); \
         return t.length === 3 ? t[2].dataset.kind : null;",
    )
    .await;
    assert_eq!(last_kind, "reply");

    // Close it.
    let select = find(&c, "#ticket-edit select[name=status]").await;
    select.select_by_value("Closed").await.unwrap();
    click(&c, "#ticket-edit button[type=submit]").await;
    find(&c, "#saved").await;
    assert_eq!(badge_status(&c).await, "Closed");
    wait_text(&c, "#ticket-status", "完了").await;
    wait_text(&c, "#history", "未完了 → 完了").await;

    let api = madoguchi_testkit::desk::reread_ticket(&app, BASE, &admin.token, &ticket).await;
    assert_eq!(api["status"], "Closed");
    c.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    screenshot(&c, "desk-ticket").await;

    // The list shows the change too.
    click(&c, ".desk-nav a[href='/desk/acme']").await;
    wait_js(
        &c,
        "the closed ticket in the list",
        "var r = document.querySelector('tr[data-ticket-number=\"104\"] .badge'); \
         return r && r.dataset.status === 'Closed';",
    )
    .await;

    c.close().await.unwrap();
    app.stop().await;
}

/// D6: Settings > API: generate a key, reveal it (表示), copy it, and a new key only
/// after confirming; the old one stops working at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d6_settings_api_generates_reveals_and_regenerates_the_service_key() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let (admin, _) = seed(&app).await;
    let c = browser.session().await;

    log_in_via(&c, &app, &admin, "/desk/acme").await;
    find(&c, "#ticket-list").await;
    click(&c, ".desk-nav a[href='/desk/acme/settings']").await;
    wait_text(&c, "main h1", "設定").await;
    click(&c, ".desk-nav a[href='/desk/acme/settings/api']").await;
    find(&c, "#no-service-key").await;

    // First key: no confirmation needed.
    click(&c, "#generate-key").await;
    find(&c, "#generated").await;
    wait_text(&c, "#service-key-admin", "yamada@acme.example").await;
    let masked = find(&c, "#service-key").await.text().await.unwrap();
    assert!(masked.starts_with("••••"), "{masked}");

    click(&c, "#reveal-key").await;
    let shown = wait_text(&c, "#service-key", "mdgsk_").await;
    let api_key = app
        .get(&format!("{BASE}/settings/service-key"), Some(&admin.token))
        .await;
    assert_eq!(shown.trim(), api_key["serviceKey"].as_str().unwrap());
    wait_text(&c, "#reveal-key", "隠す").await;
    screenshot(&c, "desk-api").await;

    // Copy: the button says it copied (or could not, without a clipboard).
    click(&c, "#copy-key").await;
    wait_js(
        &c,
        "the copy button's answer",
        "var t = document.getElementById('copy-key').textContent; \
         return t.indexOf('コピーしました') >= 0 || t.indexOf('コピーできません') >= 0;",
    )
    .await;

    // A new key asks first; cancelling keeps the key.
    click(&c, "#generate-key").await;
    let question = c.get_alert_text().await.unwrap();
    assert!(question.contains("すぐに使えなくなります"), "{question}");
    c.dismiss_alert().await.unwrap();
    let same = app
        .get(&format!("{BASE}/settings/service-key"), Some(&admin.token))
        .await;
    assert_eq!(same["serviceKey"], api_key["serviceKey"]);

    click(&c, "#generate-key").await;
    c.accept_alert().await.unwrap();
    find(&c, "#generated").await;
    click(&c, "#reveal-key").await;
    let new_key = wait_text(&c, "#service-key", "mdgsk_").await;
    assert_ne!(new_key.trim(), api_key["serviceKey"].as_str().unwrap());
    let old = app
        .request(
            app.http
                .get(app.url(&format!("{BASE}/tickets")))
                .header("x-service-key", api_key["serviceKey"].as_str().unwrap())
                .header("x-service-admin", "yamada@acme.example"),
        )
        .await;
    old.assert_error(401, "invalid_service_key");
    let new = app
        .request(
            app.http
                .get(app.url(&format!("{BASE}/tickets")))
                .header("x-service-key", new_key.trim())
                .header("x-service-admin", "yamada@acme.example"),
        )
        .await;
    new.assert_status(200);

    c.close().await.unwrap();
    app.stop().await;
}

/// The ticket list holds a phone's width (issue 15: it was 797 px wide at 375 px): no
/// horizontal scrolling of the page, and every ticket's subject still shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d4_the_ticket_list_fits_a_375_px_phone_screen() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let (admin, _ticket) = seed(&app).await;
    let c = browser.session().await;
    c.set_window_size(375, 812).await.unwrap();
    log_in_via(&c, &app, &admin, "/desk/acme/tickets").await;
    wait_text(&c, "main", "パスワードのリセット").await;
    let widths = c
        .execute(
            "return [document.documentElement.clientWidth, document.documentElement.scrollWidth, \
             document.body.scrollWidth];",
            vec![],
        )
        .await
        .unwrap();
    let w: Vec<i64> = widths
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap_or(0))
        .collect();
    assert!(w[0] <= 375, "{w:?}");
    assert!(
        w[1] <= w[0] && w[2] <= w[0],
        "the ticket list scrolls sideways at 375 px: viewport, document, body = {w:?}"
    );
    // The top bar's words stay whole (they wrapped one character per line).
    let tall = c
        .execute(
            "return Array.from(document.querySelectorAll('.topbar .apps a, .topbar button, .topbar .lang-switch')) \
             .filter(function (e) { return e.getBoundingClientRect().height > 40; }) \
             .map(function (e) { return e.textContent + ' ' + e.getBoundingClientRect().height; });",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(tall, json!([]), "top bar items broken over several lines");
    for subject in ["請求書の再発行", "パスワードのリセット"] {
        wait_text(&c, "main", subject).await;
    }
    screenshot(&c, "desk-tickets-phone").await;
    c.close().await.unwrap();
    app.stop().await;
}
