//! Desk pages over HTTP (no browser): the ticket deep link through the login, friendly
//! 403/404 pages, admin-only settings, CSRF on every form, post/redirect/get and
//! validation messages next to the field (SPEC D1–D6, Q3, Q4).

#![allow(clippy::unwrap_used)]

use crate::both_backends;
use crate::helpers::{TestApp, TestUser};
use serde_json::{json, Value};

both_backends!(
    d5_the_ticket_deep_link_goes_through_the_login_and_back,
    d1_non_members_get_a_403_page_and_unknown_portals_a_404_page,
    d6_an_agent_cannot_see_settings_api_and_the_admin_sees_the_key_hidden,
    q3_desk_forms_without_the_csrf_token_are_refused,
    d4_the_ticket_page_changes_fields_and_adds_replies_and_notes,
    d4_a_chat_transcript_reads_like_a_chat_on_the_ticket_page,
    d5_list_filters_search_and_the_contact_page,
    d1_the_create_portal_form_shows_errors_inline_in_the_page_language,
    d2_settings_forms_add_records_and_the_new_ticket_form_creates_one,
    e4_the_ticket_page_warns_before_an_unmailable_reply_and_retries_a_failed_one,
    e1_a_mailbox_is_edited_and_deleted_on_the_settings_page_and_a_blank_password_is_kept,
);

use madoguchi_testkit::desk::{add_member, contact, portal, ticket, PORTALS};
use madoguchi_testkit::html::Page;

/// A browser-like visitor: the session cookie and the CSRF token of its pages.
struct Visitor {
    cookie: String,
    csrf: String,
}

async fn page(app: &TestApp, path: &str, cookie: Option<&str>) -> Page {
    let mut req = app.http.get(app.url(path));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    read(req.send().await.unwrap()).await
}

async fn read(res: reqwest::Response) -> Page {
    Page::read(res).await
}

async fn post_form(app: &TestApp, path: &str, v: &Visitor, form: &[(&str, &str)]) -> Page {
    let res = app
        .http
        .post(app.url(path))
        .header("cookie", &v.cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    read(res).await
}

/// Logs in through the login page (as a browser would) and reads the CSRF token.
async fn log_in(app: &TestApp, email: &str, next: &str) -> (Visitor, Page) {
    let (res, cookie) = app.log_in_page(email, next).await;
    let login = read(res).await;
    let csrf = app.csrf_of(&cookie).await;
    (Visitor { cookie, csrf }, login)
}

/// An admin with portal `acme` and one ticket (#101) for a contact.
async fn setup(app: &TestApp) -> (TestUser, String, Value) {
    let admin = app.signup("admin@acme.example").await;
    let base = portal(app, &admin, "acme", "アクメ サポート").await;
    let contact = contact(
        app,
        &base,
        &admin.token,
        json!({"firstName": "一郎", "lastName": "鈴木", "email": "suzuki@example.jp"}),
    )
    .await;
    let ticket = ticket(
        app,
        &base,
        &admin.token,
        json!({"subject": "パスワードのリセット", "description": "ログインできません。",
               "contactId": contact["id"]}),
    )
    .await;
    (admin, base, ticket)
}

/// D5, D7: the `webUrl` deep link sends a stranger to the login page, and the login
/// brings them back to the ticket.
async fn d5_the_ticket_deep_link_goes_through_the_login_and_back(app: TestApp) {
    let (_admin, _base, ticket) = setup(&app).await;
    let deep = "/desk/acme/tickets/101";
    assert_eq!(
        ticket["webUrl"].as_str().unwrap(),
        format!("http://madoguchi.test{deep}")
    );

    let first = page(&app, deep, None).await;
    assert_eq!(first.status, 303);
    assert_eq!(first.location, "/login?next=%2Fdesk%2Facme%2Ftickets%2F101");
    let login = page(&app, &first.location, None).await;
    assert_eq!(login.status, 200);
    assert_eq!(
        login.doc().input_value("next").as_deref(),
        Some(deep),
        "the login form carries the deep link"
    );

    let (v, after) = log_in(&app, "admin@acme.example", deep).await;
    assert_eq!(after.status, 303);
    assert_eq!(after.location, deep);
    let ticket_page = page(&app, deep, Some(&v.cookie)).await;
    assert_eq!(ticket_page.status, 200);
    assert!(ticket_page.content_type.starts_with("text/html"));
    let doc = ticket_page.doc();
    assert_eq!(
        doc.attr("article.ticket", "data-ticket-number").as_deref(),
        Some("101")
    );
    for (css, text) in [
        (".ticket-number", "#101"),
        ("#ticket-subject", "パスワードのリセット"),
        (".description .text", "ログインできません。"),
        ("#ticket-contact a", "鈴木"),
        ("#ticket-status [data-status=Open]", "未完了"),
        ("#ticket-priority", "中"),
    ] {
        assert!(
            doc.has(css, text),
            "{css} shows {text}: {:?}",
            doc.texts(css)
        );
    }
    app.stop().await;
}

/// D1: someone who is not a member gets a friendly 403 page, an unknown portal or
/// ticket a 404 page; never JSON.
async fn d1_non_members_get_a_403_page_and_unknown_portals_a_404_page(app: TestApp) {
    setup(&app).await;
    app.signup("stranger@example.jp").await;
    let (v, _) = log_in(&app, "stranger@example.jp", "/").await;
    for path in [
        "/desk/acme",
        "/desk/acme/tickets/101",
        "/desk/acme/contacts",
        "/desk/acme/search?q=パスワード",
        "/desk/acme/settings/api",
    ] {
        let p = page(&app, path, Some(&v.cookie)).await;
        assert_eq!(p.status, 403, "{path}");
        assert!(p.content_type.starts_with("text/html"), "{path}");
        let doc = p.doc();
        assert!(
            doc.has("p", "このポータルのメンバーではありません"),
            "{path}"
        );
        assert!(!p.html.contains("パスワードのリセット"), "{path}");
    }
    let missing = page(&app, "/desk/nosuch", Some(&v.cookie)).await;
    assert_eq!(missing.status, 404);
    assert!(missing.content_type.starts_with("text/html"));
    assert!(missing.doc().has("p", "ポータルは見つかりませんでした"));

    let (admin, _) = log_in(&app, "admin@acme.example", "/").await;
    for path in [
        "/desk/acme/tickets/999",
        "/desk/acme/tickets/abc",
        "/desk/acme/contacts/nope",
        "/desk/acme/settings/nope",
    ] {
        let p = page(&app, path, Some(&admin.cookie)).await;
        assert_eq!(p.status, 404, "{path}");
        assert!(p.content_type.starts_with("text/html"), "{path}");
    }
    app.stop().await;
}

/// D6: agents cannot see Settings (nor the service key) and cannot generate one; the
/// admin sees the admin email with the key hidden until shown.
async fn d6_an_agent_cannot_see_settings_api_and_the_admin_sees_the_key_hidden(app: TestApp) {
    let (admin, base, _) = setup(&app).await;
    add_member(&app, &base, &admin, "agent@acme.example", "agent").await;
    let key = app
        .post_empty(&format!("{base}/settings/service-key"), Some(&admin.token))
        .await;
    let key = key["serviceKey"].as_str().unwrap().to_owned();

    let (agent, _) = log_in(&app, "agent@acme.example", "/").await;
    let list = page(&app, "/desk/acme", Some(&agent.cookie)).await;
    assert_eq!(list.status, 200);
    assert!(!list.html.contains("/desk/acme/settings"));
    assert!(!list.doc().exists("a[href^=\"/desk/acme/settings\"]"));
    for path in ["/desk/acme/settings", "/desk/acme/settings/api"] {
        let p = page(&app, path, Some(&agent.cookie)).await;
        assert_eq!(p.status, 403, "{path}");
        assert!(p.content_type.starts_with("text/html"));
        assert!(p.doc().has("p", "管理者だけ"), "{path}");
        assert!(!p.html.contains(&key));
    }
    for action in ["generate", "reveal"] {
        let p = post_form(
            &app,
            "/desk/acme/settings/api",
            &agent,
            &[("_csrf", &agent.csrf), ("action", action)],
        )
        .await;
        assert_eq!(p.status, 403);
        assert!(!p.html.contains(&key));
    }
    let still = app
        .get(&format!("{base}/settings/service-key"), Some(&admin.token))
        .await;
    assert_eq!(still["serviceKey"], key.as_str());

    // The admin: the email beside the key, which is masked until "表示".
    let (a, _) = log_in(&app, "admin@acme.example", "/").await;
    let api = page(&app, "/desk/acme/settings/api", Some(&a.cookie)).await;
    assert_eq!(api.status, 200);
    let doc = api.doc();
    assert_eq!(
        doc.text("#service-key-admin").as_deref(),
        Some("admin@acme.example")
    );
    assert_eq!(
        doc.text("#reveal-form button#reveal-key").as_deref(),
        Some("表示")
    );
    assert_eq!(
        doc.attr("#reveal-form input[name=action]", "value")
            .as_deref(),
        Some("reveal")
    );
    assert_eq!(doc.attr("#service-key", "data-shown").as_deref(), Some("0"));
    assert!(!api.html.contains(&key), "the key is hidden until shown");
    let shown = post_form(
        &app,
        "/desk/acme/settings/api",
        &a,
        &[("_csrf", &a.csrf), ("action", "reveal")],
    )
    .await;
    assert_eq!(shown.status, 200);
    assert_eq!(
        shown.doc().text("#service-key").as_deref(),
        Some(key.as_str())
    );

    // Generating a new key (PRG) stops the old one at once.
    let gen = post_form(
        &app,
        "/desk/acme/settings/api",
        &a,
        &[("_csrf", &a.csrf), ("action", "generate")],
    )
    .await;
    assert_eq!(gen.status, 303);
    assert_eq!(gen.location, "/desk/acme/settings/api?generated=1");
    let old = app
        .request(
            app.http
                .get(app.url(&format!("{base}/tickets")))
                .header("x-service-key", &key)
                .header("x-service-admin", "admin@acme.example"),
        )
        .await;
    old.assert_error(401, "invalid_service_key");
    app.stop().await;
}

/// Q3: every Desk form needs the session's CSRF token; without it nothing changes.
async fn q3_desk_forms_without_the_csrf_token_are_refused(app: TestApp) {
    let (admin, base, ticket) = setup(&app).await;
    let (v, _) = log_in(&app, "admin@acme.example", "/").await;
    let posts: [(&str, Vec<(&str, &str)>); 7] = [
        (
            "/desk",
            vec![("portalName", "other"), ("displayName", "Other")],
        ),
        ("/desk/acme/tickets", vec![("subject", "偽の問い合わせ")]),
        (
            "/desk/acme/tickets/101",
            vec![("status", "Closed"), ("priority", "High")],
        ),
        (
            "/desk/acme/tickets/101/threads",
            vec![("content", "偽の返信"), ("kind", "reply")],
        ),
        ("/desk/acme/contacts", vec![("lastName", "偽物")]),
        ("/desk/acme/settings/departments", vec![("name", "偽部門")]),
        ("/desk/acme/settings/api", vec![("action", "generate")]),
    ];
    for (path, fields) in &posts {
        for csrf in [None, Some("forged-token")] {
            let mut form = fields.clone();
            if let Some(c) = csrf {
                form.push(("_csrf", c));
            }
            let p = post_form(&app, path, &v, &form).await;
            assert_eq!(p.status, 403, "{path} {csrf:?}");
            assert!(p.content_type.starts_with("text/html"), "{path}");
            assert!(p.doc().has("p", "フォームの有効期限"), "{path}");
        }
    }
    let t = madoguchi_testkit::desk::reread_ticket(&app, &base, &admin.token, &ticket).await;
    assert_eq!(t["status"], "Open");
    assert_eq!(t["priority"], "Medium");
    let threads = app
        .get(
            &format!("{base}/tickets/{}/threads", ticket["id"].as_str().unwrap()),
            Some(&admin.token),
        )
        .await;
    assert_eq!(threads["data"].as_array().unwrap().len(), 0);
    let tickets = app
        .get(&format!("{base}/tickets"), Some(&admin.token))
        .await;
    assert_eq!(tickets["data"].as_array().unwrap().len(), 1);
    let depts = app
        .get(&format!("{base}/departments"), Some(&admin.token))
        .await;
    assert_eq!(depts["data"].as_array().unwrap().len(), 1);
    app.get(&format!("{PORTALS}/other"), Some(&admin.token))
        .await
        .assert_status(404);
    app.get(&format!("{base}/settings/service-key"), Some(&admin.token))
        .await
        .assert_error(404, "no_service_key");
    app.stop().await;
}

/// D3, D4: the ticket page's forms post, redirect back (PRG) and show the change;
/// bad input comes back next to its field in the page language.
async fn d4_the_ticket_page_changes_fields_and_adds_replies_and_notes(app: TestApp) {
    let (admin, base, ticket) = setup(&app).await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    let (v, _) = log_in(&app, "admin@acme.example", "/").await;
    let url = "/desk/acme/tickets/101";

    let saved = post_form(
        &app,
        url,
        &v,
        &[
            ("_csrf", &v.csrf),
            ("status", "On Hold"),
            ("priority", "High"),
            ("classification", "Problem"),
            ("assigneeId", &admin.id),
        ],
    )
    .await;
    assert_eq!(saved.status, 303);
    assert_eq!(saved.location, format!("{url}?saved=1"));
    let t = app
        .get(&format!("{base}/tickets/{id}"), Some(&admin.token))
        .await;
    assert_eq!(t["status"], "On Hold");
    assert_eq!(t["priority"], "High");
    assert_eq!(t["classification"], "Problem");
    assert_eq!(t["assigneeId"], admin.id.as_str());
    let shown = page(&app, &saved.location, Some(&v.cookie)).await;
    let doc = shown.doc();
    assert_eq!(doc.text("#saved").as_deref(), Some("保存しました。"));
    // The form's own options always hold these words: the saved values are the
    // selected ones (and only they).
    for (select, value, label) in [
        ("status", "On Hold", "保留中"),
        ("priority", "High", "高"),
        ("classification", "Problem", "問題"),
        ("assigneeId", admin.id.as_str(), admin.name.as_str()),
    ] {
        assert_eq!(
            doc.selected(select),
            Some((value.to_owned(), label.to_owned())),
            "the saved {select} is selected"
        );
        assert_eq!(
            doc.count(&format!("select[name={select}] option[selected]")),
            1,
            "{select}"
        );
    }
    // The badge and the facts show the saved values too.
    assert_eq!(
        doc.text("#ticket-status [data-status]").as_deref(),
        Some("保留中")
    );
    assert_eq!(doc.text("#ticket-classification").as_deref(), Some("問題"));
    // The history says what changed, in words.
    assert!(doc.has("ol.history li[data-field=status]", "未完了 → 保留中"));

    let reply = post_form(
        &app,
        &format!("{url}/threads"),
        &v,
        &[
            ("_csrf", &v.csrf),
            ("content", "パスワードを再設定しました。"),
            ("kind", "reply"),
        ],
    )
    .await;
    assert_eq!(reply.status, 303);
    assert!(reply.location.starts_with(&format!("{url}#thread-")));
    let note = post_form(
        &app,
        &format!("{url}/threads"),
        &v,
        &[
            ("_csrf", &v.csrf),
            ("content", "社内メモ: 再発に注意"),
            ("kind", "note"),
        ],
    )
    .await;
    assert_eq!(note.status, 303);
    let threads = app
        .get(&format!("{base}/tickets/{id}/threads"), Some(&admin.token))
        .await;
    let kinds = madoguchi_testkit::list::strs(&threads["data"], "kind");
    assert_eq!(kinds, ["reply", "note"]);
    let shown = page(&app, url, Some(&v.cookie)).await;
    let doc = shown.doc();
    assert_eq!(
        doc.texts("#threads .thread .text"),
        ["パスワードを再設定しました。", "社内メモ: 再発に注意"],
        "oldest first"
    );
    assert_eq!(
        doc.attrs("#threads .thread", "data-kind"),
        ["reply", "note"]
    );
    assert_eq!(
        doc.text("#threads .thread.reply .text").as_deref(),
        Some("パスワードを再設定しました。")
    );
    assert_eq!(
        doc.text("#threads .thread.note .text").as_deref(),
        Some("社内メモ: 再発に注意")
    );

    // An empty reply and an unknown status: the page again, the message at the field.
    let empty = post_form(
        &app,
        &format!("{url}/threads"),
        &v,
        &[("_csrf", &v.csrf), ("content", "  "), ("kind", "reply")],
    )
    .await;
    assert_eq!(empty.status, 422);
    assert!(
        empty
            .doc()
            .field_error("content")
            .is_some_and(|e| e.contains("本文を入力してください")),
        "{}",
        empty.html
    );
    let bad = post_form(&app, url, &v, &[("_csrf", &v.csrf), ("status", "Nope")]).await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.doc()
            .field_error("status")
            .is_some_and(|e| e.contains("一覧から選択してください")),
        "{}",
        bad.html
    );
    let t = app
        .get(&format!("{base}/tickets/{id}"), Some(&admin.token))
        .await;
    assert_eq!(t["status"], "On Hold");
    app.stop().await;
}

/// D4: a chat transcript on a ticket reads like a chat: who said what, when.
async fn d4_a_chat_transcript_reads_like_a_chat_on_the_ticket_page(app: TestApp) {
    let (admin, base, ticket) = setup(&app).await;
    let id = ticket["id"].as_str().unwrap();
    app.post(
        &format!("{base}/tickets/{id}/chat-threads"),
        Some(&admin.token),
        json!({"chatId": "chat-1", "messages": [
            {"seq": 1, "sender": "visitor", "senderName": "鈴木 一郎", "text": "ログインできません", "createdAt": "2026-01-01T00:00:01.000Z"},
            {"seq": 2, "sender": "system", "senderName": "", "text": "山田 が応答しました", "createdAt": "2026-01-01T00:00:02.000Z"},
            {"seq": 3, "sender": "operator", "senderName": "山田", "text": "確認します", "createdAt": "2026-01-01T00:00:03.000Z"}
        ]}),
    )
    .await
    .assert_status(201);
    let (v, _) = log_in(&app, "admin@acme.example", "/").await;
    let p = page(&app, "/desk/acme/tickets/101", Some(&v.cookie)).await;
    assert_eq!(p.status, 200);
    let doc = p.doc();
    assert!(doc.has(".thread.chat .thread-head strong", "チャットの記録"));
    // In order, each bubble with its sender.
    assert_eq!(
        doc.attrs(".thread.chat .transcript .msg", "class"),
        ["msg visitor", "msg system", "msg operator"]
    );
    assert_eq!(
        doc.texts(".transcript .msg.visitor .meta strong"),
        ["鈴木 一郎"]
    );
    assert_eq!(
        doc.texts(".transcript .msg.operator .meta strong"),
        ["山田"]
    );
    assert!(doc.has(".transcript .bubble.visitor", "ログインできません"));
    assert!(doc.has(".transcript .bubble.system", "山田 が応答しました"));
    assert!(doc.has(".transcript .bubble.operator", "確認します"));
    assert!(doc.exists(".transcript .msg.operator time[datetime=\"2026-01-01T00:00:03.000Z\"]"));
    app.stop().await;
}

/// D5: the list filters and pages, the search finds Japanese substrings, the contact
/// page shows account, SLA, contract, owner and tickets.
async fn d5_list_filters_search_and_the_contact_page(app: TestApp) {
    let (admin, base, ticket) = setup(&app).await;
    for i in 0..29 {
        let status = if i % 2 == 0 { "Closed" } else { "Open" };
        app.post(
            &format!("{base}/tickets"),
            Some(&admin.token),
            json!({"subject": format!("請求書の再発行 {i}"), "status": status}),
        )
        .await
        .assert_status(201);
    }
    let (v, _) = log_in(&app, "admin@acme.example", "/").await;
    let first = page(&app, "/desk/acme", Some(&v.cookie)).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.html.matches("data-ticket-number=").count(), 25);
    let doc = first.doc();
    assert_eq!(doc.count("tr[data-ticket-number]"), 25);
    assert_eq!(
        doc.attr("a[rel=next]", "href").as_deref(),
        Some("/desk/acme?offset=25")
    );
    let second = page(&app, "/desk/acme?offset=25", Some(&v.cookie)).await;
    assert_eq!(second.html.matches("data-ticket-number=").count(), 5);
    let doc = second.doc();
    assert_eq!(doc.count("tr[data-ticket-number]"), 5);
    assert!(doc.exists("tr[data-ticket-number=\"101\"]"));
    let closed = page(&app, "/desk/acme?status=Closed&limit=100", Some(&v.cookie)).await;
    assert_eq!(closed.html.matches("data-ticket-number=").count(), 15);
    let doc = closed.doc();
    assert_eq!(doc.count("tr[data-ticket-number]"), 15);
    assert_eq!(doc.count("tr[data-ticket-number] [data-status=Closed]"), 15);
    assert!(!closed.html.contains("data-status=\"Open\""));

    let search = page(
        &app,
        "/desk/acme/search?q=%E3%83%91%E3%82%B9%E3%83%AF%E3%83%BC%E3%83%89",
        Some(&v.cookie),
    )
    .await;
    assert_eq!(search.status, 200);
    assert_eq!(search.html.matches("data-ticket-number=").count(), 1);
    assert_eq!(
        search
            .doc()
            .attrs("tr[data-ticket-number]", "data-ticket-number"),
        ["101"]
    );
    let by_email = page(
        &app,
        "/desk/acme/search?q=suzuki%40example.jp",
        Some(&v.cookie),
    )
    .await;
    assert!(by_email.doc().exists("tr[data-ticket-number=\"101\"]"));

    // Account, SLA, contract and owner on the contact page.
    let account = app
        .post(
            &format!("{base}/accounts"),
            Some(&admin.token),
            json!({"accountName": "株式会社サンプル"}),
        )
        .await;
    let sla = app
        .post(
            &format!("{base}/slas"),
            Some(&admin.token),
            json!({"name": "ゴールド"}),
        )
        .await;
    app.post(
        &format!("{base}/contracts"),
        Some(&admin.token),
        json!({"contractName": "年間保守", "accountId": account["id"], "slaId": sla["id"]}),
    )
    .await
    .assert_status(201);
    let contact_id = ticket["contactId"].as_str().unwrap();
    app.patch(
        &format!("{base}/contacts/{contact_id}"),
        Some(&admin.token),
        json!({"accountId": account["id"], "ownerId": admin.id}),
    )
    .await
    .assert_status(200);
    let contact = page(
        &app,
        &format!("/desk/acme/contacts/{contact_id}"),
        Some(&v.cookie),
    )
    .await;
    assert_eq!(contact.status, 200);
    let doc = contact.doc();
    for (css, text) in [
        ("#contact-account", "株式会社サンプル"),
        ("#contact-sla", "ゴールド"),
        ("#contact-contract", "年間保守"),
        ("#contact-owner", admin.name.as_str()),
    ] {
        assert_eq!(doc.text(css).as_deref(), Some(text), "{css}");
    }
    assert!(
        doc.has("#contact-facts dt", "連絡先の担当者"),
        "the owner's label"
    );
    assert!(doc.exists("tr[data-ticket-number=\"101\"]"));
    let found = page(
        &app,
        "/desk/acme/contacts?q=%E9%88%B4%E6%9C%A8",
        Some(&v.cookie),
    )
    .await;
    assert_eq!(
        found.doc().attrs("tr[data-contact-id]", "data-contact-id"),
        [contact_id]
    );
    let none = page(&app, "/desk/acme/contacts?q=zzz", Some(&v.cookie)).await;
    assert!(!none.html.contains("data-contact-id="));

    // Editing the contact: a taken email comes back at the field; a new phone is saved.
    app.post(
        &format!("{base}/contacts"),
        Some(&admin.token),
        json!({"lastName": "佐藤", "email": "sato@example.jp"}),
    )
    .await
    .assert_status(201);
    let path = format!("/desk/acme/contacts/{contact_id}");
    let account_id = account["id"].as_str().unwrap();
    let taken = post_form(
        &app,
        &path,
        &v,
        &[
            ("_csrf", &v.csrf),
            ("lastName", "鈴木"),
            ("firstName", "一郎"),
            ("email", "SATO@example.jp"),
            ("accountId", account_id),
        ],
    )
    .await;
    assert_eq!(taken.status, 422);
    assert!(
        taken
            .doc()
            .field_error("email")
            .is_some_and(|e| e.contains("このメールアドレスの連絡先はすでにあります")),
        "{}",
        taken.html
    );
    let saved = post_form(
        &app,
        &path,
        &v,
        &[
            ("_csrf", &v.csrf),
            ("lastName", "鈴木"),
            ("firstName", "一郎"),
            ("email", "suzuki@example.jp"),
            ("phone", "090-0000-1111"),
            ("accountId", account_id),
            ("ownerId", ""),
        ],
    )
    .await;
    assert_eq!(saved.status, 303);
    assert_eq!(saved.location, format!("{path}?saved=1"));
    let c = app
        .get(&format!("{base}/contacts/{contact_id}"), Some(&admin.token))
        .await;
    assert_eq!(c["phone"], "090-0000-1111");
    assert_eq!(c["ownerId"], Value::Null);
    assert_eq!(c["contractName"], "年間保守");
    let no_csrf = post_form(&app, &path, &v, &[("lastName", "偽物")]).await;
    assert_eq!(no_csrf.status, 403);
    app.stop().await;
}

/// D1, Q4: the portal form shows the rules and its errors next to the field, in the
/// page language; a good name opens the new portal.
async fn d1_the_create_portal_form_shows_errors_inline_in_the_page_language(app: TestApp) {
    setup(&app).await;
    let (v, _) = log_in(&app, "admin@acme.example", "/").await;
    let list = page(&app, "/desk", Some(&v.cookie)).await;
    let doc = list.doc();
    assert!(doc.exists("tr[data-portal=acme]"));
    assert!(doc.has("form[action=\"/desk\"]", "3〜40 文字"));

    let bad = post_form(
        &app,
        "/desk",
        &v,
        &[
            ("_csrf", &v.csrf),
            ("portalName", "Bad_Name"),
            ("displayName", "x"),
        ],
    )
    .await;
    assert_eq!(bad.status, 422);
    let doc = bad.doc();
    assert!(doc.field_error("portalName").is_some(), "{}", bad.html);
    assert_eq!(doc.input_value("portalName").as_deref(), Some("Bad_Name"));
    let taken = post_form(
        &app,
        "/desk",
        &v,
        &[
            ("_csrf", &v.csrf),
            ("portalName", "acme"),
            ("displayName", "x"),
        ],
    )
    .await;
    assert_eq!(taken.status, 422);
    assert!(
        taken.doc().field_error("portalName").is_some(),
        "{}",
        taken.html
    );

    // English through the language switch: the same error in English.
    let en = app
        .http
        .post(app.url("/desk"))
        .header("cookie", &v.cookie)
        .header("accept-language", "en")
        .form(&[
            ("_csrf", v.csrf.as_str()),
            ("portalName", "x"),
            ("displayName", "x"),
        ])
        .send()
        .await
        .unwrap();
    let en = read(en).await;
    assert_eq!(en.status, 422);
    assert!(
        en.doc()
            .field_error("portalName")
            .is_some_and(|e| e.contains("lowercase letters, digits and hyphens")),
        "{}",
        en.html
    );

    let ok = post_form(
        &app,
        "/desk",
        &v,
        &[
            ("_csrf", &v.csrf),
            ("portalName", "beta"),
            ("displayName", "ベータ"),
        ],
    )
    .await;
    assert_eq!(ok.status, 303);
    assert_eq!(ok.location, "/desk/beta");
    let beta = page(&app, "/desk/beta", Some(&v.cookie)).await;
    assert_eq!(beta.status, 200);
    assert!(beta.doc().page_text().contains("ベータ"));
    app.stop().await;
}

/// D1, D2, D3: admins add departments, members, classifications, accounts, SLAs and
/// contracts through Settings; a new ticket is made through its form.
async fn d2_settings_forms_add_records_and_the_new_ticket_form_creates_one(app: TestApp) {
    let (admin, base, _) = setup(&app).await;
    app.signup("agent@acme.example").await;
    let (v, _) = log_in(&app, "admin@acme.example", "/").await;
    let ok = |p: &Page, section: &str| {
        assert_eq!(p.status, 303, "{section}: {}", p.html);
        assert_eq!(p.location, format!("/desk/acme/settings/{section}?saved=1"));
    };
    let post = |section: &'static str, fields: Vec<(&'static str, String)>| {
        let v = &v;
        let app = &app;
        async move {
            let mut form: Vec<(&str, &str)> = vec![("_csrf", v.csrf.as_str())];
            for (k, val) in &fields {
                form.push((k, val.as_str()));
            }
            post_form(app, &format!("/desk/acme/settings/{section}"), v, &form).await
        }
    };
    ok(
        &post("departments", vec![("name", "経理".into())]).await,
        "departments",
    );
    ok(
        &post(
            "members",
            vec![
                ("email", "agent@acme.example".into()),
                ("role", "agent".into()),
            ],
        )
        .await,
        "members",
    );
    let unknown = post(
        "members",
        vec![
            ("email", "nobody@acme.example".into()),
            ("role", "agent".into()),
        ],
    )
    .await;
    assert_eq!(unknown.status, 422);
    assert!(
        unknown.doc().field_error("email").is_some(),
        "{}",
        unknown.html
    );
    ok(
        &post(
            "classifications",
            vec![("classifications", "質問\n不具合\n\n要望\n".into())],
        )
        .await,
        "classifications",
    );
    let dup = post("classifications", vec![("classifications", "A\na".into())]).await;
    assert_eq!(dup.status, 422);
    assert!(
        dup.doc().field_error("classifications").is_some(),
        "{}",
        dup.html
    );
    ok(
        &post("accounts", vec![("accountName", "株式会社サンプル".into())]).await,
        "accounts",
    );
    ok(
        &post("slas", vec![("name", "ゴールド".into())]).await,
        "slas",
    );
    let accounts = app
        .get(&format!("{base}/accounts"), Some(&admin.token))
        .await;
    let slas = app.get(&format!("{base}/slas"), Some(&admin.token)).await;
    ok(
        &post(
            "contracts",
            vec![
                ("contractName", "年間保守".into()),
                (
                    "accountId",
                    accounts["data"][0]["id"].as_str().unwrap().into(),
                ),
                ("slaId", slas["data"][0]["id"].as_str().unwrap().into()),
            ],
        )
        .await,
        "contracts",
    );
    let c = app
        .get(&format!("{base}/classifications"), Some(&admin.token))
        .await;
    assert_eq!(c["classifications"], json!(["質問", "不具合", "要望"]));
    let members = app
        .get(&format!("{base}/members"), Some(&admin.token))
        .await;
    assert_eq!(members["data"].as_array().unwrap().len(), 2);
    let contracts = page(&app, "/desk/acme/settings/contracts", Some(&v.cookie)).await;
    assert!(
        contracts.doc().has("td, li", "年間保守"),
        "{}",
        contracts.html
    );

    // A new ticket through its form, for a contact found by email.
    let form = page(&app, "/desk/acme/tickets/new", Some(&v.cookie)).await;
    assert_eq!(form.status, 200);
    let unknown = post_form(
        &app,
        "/desk/acme/tickets",
        &v,
        &[
            ("_csrf", &v.csrf),
            ("subject", "返金について"),
            ("contactEmail", "nobody@example.jp"),
        ],
    )
    .await;
    assert_eq!(unknown.status, 422);
    let doc = unknown.doc();
    assert!(
        doc.field_error("contactEmail").is_some(),
        "{}",
        unknown.html
    );
    assert_eq!(doc.input_value("subject").as_deref(), Some("返金について"));
    let created = post_form(
        &app,
        "/desk/acme/tickets",
        &v,
        &[
            ("_csrf", &v.csrf),
            ("subject", "返金について"),
            ("description", "二重に請求されました"),
            ("contactEmail", "SUZUKI@example.jp"),
            ("priority", "High"),
            ("classification", "要望"),
            ("channel", "Phone"),
        ],
    )
    .await;
    assert_eq!(created.status, 303);
    assert_eq!(created.location, "/desk/acme/tickets/102");
    let t = app
        .get(&format!("{base}/tickets?limit=1"), Some(&admin.token))
        .await;
    let t = &t["data"][0];
    assert_eq!(t["subject"], "返金について");
    assert_eq!(t["priority"], "High");
    assert_eq!(t["classification"], "要望");
    assert_eq!(t["channel"], "Phone");
    assert_eq!(t["email"], "suzuki@example.jp");
    app.stop().await;
}

/// The delivery of thread `thread_id` of ticket `id` (E4), once `pred` holds.
async fn wait_delivery(
    app: &TestApp,
    base: &str,
    admin: &TestUser,
    id: &str,
    thread_id: &str,
    mut step: impl FnMut(),
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let threads = app
            .get(&format!("{base}/tickets/{id}/threads"), Some(&admin.token))
            .await;
        if let Some(t) = threads["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == thread_id && pred(&t["delivery"]))
        {
            return t.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the delivery never got there: {}",
            threads.text
        );
        step();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// E4 on the ticket page: before a reply is written the page says it will not be
/// mailed (no mailbox; no contact email), and a reply whose sending failed for good
/// shows the server's reason and a 再送信 button that sends it once the server is back.
async fn e4_the_ticket_page_warns_before_an_unmailable_reply_and_retries_a_failed_one(
    app: TestApp,
) {
    if !crate::mail_servers::available() {
        return;
    }
    let (admin, base, ticket) = setup(&app).await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    let (v, _) = log_in(&app, "admin@acme.example", "/").await;
    let url = "/desk/acme/tickets/101";
    let shown = page(&app, url, Some(&v.cookie)).await;
    let doc = shown.doc();
    assert_eq!(
        doc.attr("#reply #reply-not-mailed", "data-reason")
            .as_deref(),
        Some("no-mailbox"),
        "{}",
        shown.html
    );
    assert!(doc.has("#reply-not-mailed", "メールボックスが設定されていません"));
    // A mailbox whose SMTP server is not there (yet).
    let smtp_port = crate::mail_servers::free_port();
    app.post(
        &format!("{base}/mailboxes"),
        Some(&admin.token),
        json!({"address": "support@acme.example", "displayName": "ACME",
               "imap": {"host": "127.0.0.1", "port": crate::mail_servers::free_port(),
                        "security": "none", "username": "support", "password": "x"},
               "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none"}}),
    )
    .await
    .assert_status(201);
    let shown = page(&app, url, Some(&v.cookie)).await;
    assert!(!shown.html.contains("reply-not-mailed"), "mailed now");
    assert!(shown.doc().exists("#reply form[method=post]"));
    // A contact without an email: said so too.
    let no_email = app
        .post(
            &format!("{base}/contacts"),
            Some(&admin.token),
            json!({"lastName": "匿名"}),
        )
        .await;
    no_email.assert_status(201);
    app.post(
        &format!("{base}/tickets"),
        Some(&admin.token),
        json!({"subject": "電話での問い合わせ", "contactId": no_email["id"]}),
    )
    .await
    .assert_status(201);
    let other = page(&app, "/desk/acme/tickets/102", Some(&v.cookie)).await;
    let doc = other.doc();
    assert_eq!(
        doc.attr("#reply #reply-not-mailed", "data-reason")
            .as_deref(),
        Some("no-contact-email"),
        "{}",
        other.html
    );
    assert!(doc.has("#reply-not-mailed", "連絡先にメールアドレスがありません"));
    // The reply is written on the page; every attempt fails until the outbox gives up.
    let sent = post_form(
        &app,
        &format!("{url}/threads"),
        &v,
        &[
            ("_csrf", &v.csrf),
            ("kind", "reply"),
            ("content", "パスワードを再設定しました。"),
        ],
    )
    .await;
    assert_eq!(sent.status, 303);
    let threads = app
        .get(&format!("{base}/tickets/{id}/threads"), Some(&admin.token))
        .await;
    let reply = threads["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "reply")
        .cloned()
        .expect("the reply");
    let thread_id = reply["id"].as_str().unwrap().to_owned();
    let clock = app.clock.clone();
    let failed = wait_delivery(
        &app,
        &base,
        &admin,
        &id,
        &thread_id,
        || clock.advance_ms(24 * 60 * 60 * 1000),
        |d| d["state"] == "failed",
    )
    .await;
    let reason = failed["delivery"]["error"].as_str().unwrap().to_owned();
    let shown = page(&app, url, Some(&v.cookie)).await;
    let retry_action = format!("{url}/threads/{thread_id}/retry");
    let doc = shown.doc();
    let thread = format!("#thread-{thread_id}");
    let retry = format!("{thread} form.retry[method=post][action=\"{retry_action}\"]");
    assert!(doc.exists(&retry), "{}", shown.html);
    assert_eq!(
        doc.text(&format!("{retry} button[type=submit]")).as_deref(),
        Some("再送信")
    );
    assert_eq!(
        doc.text(&format!("{thread} [data-delivery=failed]"))
            .as_deref(),
        Some("送信失敗")
    );
    assert_eq!(
        doc.text(&format!("{retry} .delivery-error")),
        Some(reason.split_whitespace().collect::<Vec<_>>().join(" "))
    );
    // The server is back; 再送信 sends the reply, once.
    let smtp = crate::mail_servers::SmtpSink::start_on(smtp_port).await;
    let retried = post_form(&app, &retry_action, &v, &[("_csrf", &v.csrf)]).await;
    assert_eq!(retried.status, 303);
    assert!(retried.location.starts_with(url), "{}", retried.location);
    wait_delivery(
        &app,
        &base,
        &admin,
        &id,
        &thread_id,
        || {},
        |d| d["state"] == "sent",
    )
    .await;
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("suzuki@example.jp"));
}

/// E1 on Settings > Channels > Email: a mailbox's edit form shows its values (never a
/// password), saves changes, keeps the password left blank (the connection test still
/// logs in) and shows a bad field next to it without leaving the edit form; 削除
/// removes it.
async fn e1_a_mailbox_is_edited_and_deleted_on_the_settings_page_and_a_blank_password_is_kept(
    app: TestApp,
) {
    use crate::mail_servers::{Dovecot, SmtpSink, PASSWORD};
    if !crate::mail_servers::available() {
        return;
    }
    let (admin, base, _) = setup(&app).await;
    let imap = Dovecot::start().await;
    let smtp = SmtpSink::start().await;
    let created = app
        .post(
            &format!("{base}/mailboxes"),
            Some(&admin.token),
            json!({"address": "support@acme.example", "displayName": "ACME",
                   "imap": {"host": "127.0.0.1", "port": imap.port, "security": "none",
                            "username": "support", "password": PASSWORD},
                   "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none"}}),
        )
        .await;
    let id = created.expect_str(201, "id");
    let (v, _) = log_in(&app, "admin@acme.example", "/").await;
    let list = page(&app, "/desk/acme/settings/email", Some(&v.cookie)).await;
    let edit = format!("/desk/acme/settings/email?edit={id}");
    let doc = list.doc();
    assert_eq!(
        doc.text(&format!("a.edit-mailbox[href=\"{edit}\"]"))
            .as_deref(),
        Some("編集"),
        "{}",
        list.html
    );
    let form = page(&app, &edit, Some(&v.cookie)).await;
    assert_eq!(form.status, 200);
    let action = format!("/desk/acme/settings/email/mailboxes/{id}");
    let doc = form.doc();
    assert!(
        doc.exists(&format!("form#mailbox-form[action=\"{action}\"]")),
        "{}",
        form.html
    );
    assert_eq!(
        doc.text("#mailbox-form-title").as_deref(),
        Some("メールボックスを編集")
    );
    let form_input = |name: &str| doc.attr(&format!("#mailbox-form input[name={name}]"), "value");
    assert_eq!(form_input("displayName").as_deref(), Some("ACME"));
    assert_eq!(form_input("imapPort"), Some(imap.port.to_string()));
    assert!(!form.html.contains(PASSWORD), "passwords are never shown");
    let port = imap.port.to_string();
    let smtp_port = smtp.port.to_string();
    let fields = |display: &'static str, imap_port: &str| {
        vec![
            ("_csrf".to_owned(), v.csrf.clone()),
            ("address".into(), "support@acme.example".into()),
            ("displayName".into(), display.to_owned()),
            ("acknowledge".into(), "1".into()),
            ("imapHost".into(), "127.0.0.1".into()),
            ("imapPort".into(), imap_port.to_owned()),
            ("imapSecurity".into(), "none".into()),
            ("imapUsername".into(), "support".into()),
            ("imapPassword".into(), String::new()),
            ("imapFolder".into(), "INBOX".into()),
            ("smtpHost".into(), "127.0.0.1".into()),
            ("smtpPort".into(), smtp_port.clone()),
            ("smtpSecurity".into(), "none".into()),
            ("smtpUsername".into(), String::new()),
            ("smtpPassword".into(), String::new()),
        ]
    };
    let post = |form: Vec<(String, String)>| {
        let app = &app;
        let action = action.clone();
        let cookie = v.cookie.clone();
        async move {
            let res = app
                .http
                .post(app.url(&action))
                .header("cookie", cookie)
                .form(&form)
                .send()
                .await
                .unwrap();
            read(res).await
        }
    };
    let saved = post(fields("ACME 窓口", &port)).await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    assert_eq!(saved.location, "/desk/acme/settings/email?saved=1");
    let m = app
        .get(&format!("{base}/mailboxes/{id}"), Some(&admin.token))
        .await;
    assert_eq!(m["displayName"], "ACME 窓口");
    assert_eq!(m["acknowledge"], true);
    let test = app
        .post_empty(&format!("{base}/mailboxes/{id}/test"), Some(&admin.token))
        .await;
    assert_eq!(
        test["imap"]["ok"], true,
        "the blank password was kept: {}",
        test.text
    );
    // A bad port is shown on the edit form, which stays the edit form.
    let bad = post(fields("ACME", "70000")).await;
    assert_ne!(bad.status, 303);
    let doc = bad.doc();
    assert!(
        doc.exists(&format!("form#mailbox-form[action=\"{action}\"]")),
        "{}",
        bad.html
    );
    assert!(doc.exists("#mailbox-form .field-error"), "{}", bad.html);
    let m = app
        .get(&format!("{base}/mailboxes/{id}"), Some(&admin.token))
        .await;
    assert_eq!(m["displayName"], "ACME 窓口", "nothing saved");
    let unknown = page(&app, "/desk/acme/settings/email?edit=nope", Some(&v.cookie)).await;
    assert_eq!(unknown.status, 404);
    // 削除 on the row removes it.
    let deleted = post_form(&app, &format!("{action}/delete"), &v, &[("_csrf", &v.csrf)]).await;
    assert_eq!(deleted.status, 303);
    app.get(&format!("{base}/mailboxes/{id}"), Some(&admin.token))
        .await
        .assert_error(404, "not_found");
    let list = page(&app, "/desk/acme/settings/email", Some(&v.cookie)).await;
    assert!(list.doc().exists("#no-mailboxes"), "{}", list.html);
}
