//! The operator toolkit in the console (SPEC O1–O6): the race loser's screen, a transfer
//! seen on both consoles, canned responses with `/`, the console on a tablet and a
//! phone (screenshots for the README), and axe-core on the console.

use crate::axe::serious_violations;
use crate::chat::{create_portal, login};
use crate::harness::{click, fill, find, screenshot, wait_js, wait_text, Browser};
use crate::helpers::{TestApp, TestUser};
use fantoccini::Client;
use madoguchi_testkit::chat as kit;
use serde_json::{json, Value};

const API: &str = "/chat/api/v1/portals/acme";

/// Portal "acme" with an away admin, a department and two operators of it.
async fn team(app: &TestApp) -> (TestUser, String, TestUser, TestUser) {
    let admin = app.signup("admin@acme.example").await;
    create_portal(app, &admin, "acme", "アクメ サポート").await;
    madoguchi_testkit::chat::set_availability(app, &admin, "acme", "away").await;
    let dept = app
        .post(
            &format!("{API}/departments"),
            Some(&admin.token),
            json!({"name": "サポート"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut ops = Vec::new();
    for (email, name) in [
        ("sato@acme.example", "佐藤 花子"),
        ("tanaka@acme.example", "田中 三郎"),
    ] {
        let u = app.signup_named(email, name).await;
        app.post(
            &format!("{API}/operators"),
            Some(&admin.token),
            json!({"email": email, "role": "operator", "departmentIds": [dept]}),
        )
        .await
        .assert_status(201);
        ops.push(u);
    }
    let op2 = ops.pop().unwrap();
    let op1 = ops.pop().unwrap();
    (admin, dept, op1, op2)
}

async fn start_chat(app: &TestApp, dept: &str, name: &str, question: &str) -> String {
    kit::start_chat(
        app,
        "acme",
        json!({"name": name, "departmentId": dept, "question": question,
                   "clientMessageId": uuid::Uuid::now_v7().to_string()}),
    )
    .await
    .chat_id
}

async fn accept(app: &TestApp, user: &TestUser, chat_id: &str) -> Value {
    kit::accept(app, user, "acme", chat_id).await
}

/// The integration on (a Desk portal of the same admin) and a Desk contact with a ticket
/// for `suzuki@example.jp`, so the panel shows Desk data.
async fn with_desk(app: &TestApp, admin: &TestUser) {
    let t = Some(admin.token.as_str());
    madoguchi_testkit::desk::portal_by(app, &admin.token, "acme-desk", "Acme").await;
    app.post_empty(&format!("{API}/integrations/desk/enable"), t)
        .await
        .assert_status(200);
    let contact = app
        .post(
            "/desk/api/v1/portals/acme-desk/contacts",
            t,
            json!({"lastName": "鈴木", "email": "suzuki@example.jp"}),
        )
        .await;
    contact.assert_status(201);
    app.post(
        "/desk/api/v1/portals/acme-desk/tickets",
        t,
        json!({"subject": "請求書の再発行", "contactId": contact["id"]}),
    )
    .await
    .assert_status(201);
}

/// A chat from 鈴木 一郎 (with the email Desk knows).
async fn suzuki_chat(app: &TestApp, dept: &str, question: &str) -> String {
    kit::start_chat(
        app,
        "acme",
        json!({"name": "鈴木 一郎", "email": "suzuki@example.jp", "departmentId": dept,
               "question": question, "clientMessageId": uuid::Uuid::now_v7().to_string()}),
    )
    .await
    .chat_id
}

/// Opens the console of `user` and the chat `chat_id` in it.
async fn console_with(c: &Client, app: &TestApp, user: &TestUser, chat_id: &str) {
    login(c, app, user, "/chat/acme").await;
    find(c, "#console[data-connection=live]").await;
    click(c, &format!(".q-item[data-chat-id='{chat_id}']")).await;
    wait_js(
        c,
        "the chat to be selected",
        &format!("return !!document.querySelector(\".q-item.selected[data-chat-id='{chat_id}']\")"),
    )
    .await;
}

async fn visible(c: &Client, css: &str) -> bool {
    c.execute(
        &format!(
            "var e = document.querySelector({css:?}); if (!e) return false; \
             var r = e.getBoundingClientRect(); \
             return !e.closest('[hidden]') && r.width > 0 && r.height > 0 && \
             getComputedStyle(e).visibility !== 'hidden';"
        ),
        vec![],
    )
    .await
    .unwrap()
        == Value::Bool(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn o4_the_race_loser_sees_the_chat_taken_at_once() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let (_admin, dept, sato, tanaka) = team(&app).await;
    let chat = start_chat(&app, &dept, "鈴木 一郎", "ログインできません").await;
    let loser = browser.session().await;
    console_with(&loser, &app, &tanaka, &chat).await;
    find(&loser, ".chat-actions .accept:not([hidden])").await;
    // The race: the news of the winner's accept has not reached this screen yet (its
    // socket frame is held back), so the loser presses "accept" on a waiting chat.
    loser
        .execute(
            "var parse = JSON.parse; JSON.parse = function (s) { var v = parse.apply(this, arguments); \
             return v && v.type === 'chat.attended' ? {} : v; };",
            vec![],
        )
        .await
        .unwrap();
    accept(&app, &sato, &chat).await;
    click(&loser, ".chat-actions .accept").await;
    wait_text(&loser, ".toast", "他のオペレーター").await;
    // At once: taken by 佐藤, no box to write in, no end button, a notice saying why.
    wait_text(&loser, ".chat-head .state", "佐藤 花子").await;
    find(&loser, "#console[data-chat-owner=other]").await;
    find(&loser, ".composer[hidden]").await;
    find(&loser, ".chat-actions .end[hidden]").await;
    find(&loser, ".chat-actions .accept[hidden]").await;
    wait_text(&loser, ".chat-notice", "佐藤 花子").await;
    let transcript = app
        .get(&format!("{API}/chats/{chat}"), Some(&sato.token))
        .await;
    assert_eq!(transcript["operatorId"], sato.id.as_str());
    loser.close().await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn o2_a_transfer_is_seen_on_both_consoles() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let (_admin, dept, sato, tanaka) = team(&app).await;
    let chat = start_chat(&app, &dept, "鈴木 一郎", "請求書を再発行してほしい").await;
    accept(&app, &sato, &chat).await;
    let giver = browser.session().await;
    let receiver = browser.session().await;
    console_with(&giver, &app, &sato, &chat).await;
    login(&receiver, &app, &tanaka, "/chat/acme").await;
    find(&receiver, "#console[data-connection=live]").await;

    click(&giver, ".chat-actions .transfer-open").await;
    find(&giver, "#transfer-form:not([hidden])").await;
    wait_js(
        &giver,
        "田中 among the operators",
        &format!(
            "return !!document.querySelector(\"#transfer-form select[name=operatorId] option[value='{}']\")",
            tanaka.id
        ),
    )
    .await;
    giver
        .execute(
            &format!(
                "document.querySelector('#transfer-form select[name=operatorId]').value = '{}'",
                tanaka.id
            ),
            vec![],
        )
        .await
        .unwrap();
    fill(
        &giver,
        "#transfer-form textarea[name=note]",
        "請求の件です。よろしくお願いします",
    )
    .await;
    click(&giver, "#transfer-form button[type=submit]").await;

    // The giver: handed over, no longer writes.
    wait_text(&giver, ".toast", "田中 三郎").await;
    find(&giver, "#console[data-chat-owner=other]").await;
    find(&giver, ".composer[hidden]").await;
    // The receiver: told with the note; the chat is theirs, with the note beside it.
    wait_text(&receiver, ".toast", "請求の件です").await;
    wait_text(&receiver, ".q-section.attended .q-list", "鈴木 一郎").await;
    find(
        &receiver,
        &format!(".q-section.attended .q-item.mine[data-chat-id='{chat}']"),
    )
    .await;
    click(&receiver, &format!(".q-item[data-chat-id='{chat}']")).await;
    wait_text(&receiver, ".chat-notice", "請求の件です").await;
    find(
        &receiver,
        ".composer:not([hidden]) textarea:not([disabled])",
    )
    .await;
    wait_text(&receiver, ".transcript:not([hidden])", "田中 三郎").await;
    giver.close().await.unwrap();
    receiver.close().await.unwrap();
    app.stop().await;
}

/// O3 with broadcast routing: an operator at the cap is offered no waiting chat (no
/// item, no chime), a notice says why, and the chats come back when one of theirs ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn o3_at_the_cap_waiting_chats_leave_the_console_until_one_ends() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let (admin, dept, sato, _tanaka) = team(&app).await;
    app.patch(
        &format!("{API}/settings"),
        Some(&admin.token),
        json!({"maxChatsPerOperator": 1}),
    )
    .await
    .assert_status(200);
    let first = start_chat(&app, &dept, "鈴木 一郎", "ログインできません").await;
    let second = start_chat(&app, &dept, "山田 花子", "請求書について").await;
    let c = browser.session().await;
    console_with(&c, &app, &sato, &first).await;
    find(&c, ".q-section.waiting .cap-notice[hidden]").await;
    find(
        &c,
        &format!(".q-section.waiting .q-item[data-chat-id='{second}']"),
    )
    .await;
    click(&c, ".chat-actions .accept").await;
    find(
        &c,
        &format!(".q-section.attended .q-item.mine[data-chat-id='{first}']"),
    )
    .await;
    // At the cap: the other chat still waits, but no longer on 佐藤's screen.
    find(&c, ".q-section.waiting .cap-notice:not([hidden])").await;
    wait_text(&c, ".q-section.waiting .cap-notice", "上限（1件）").await;
    wait_js(
        &c,
        "the waiting chat to leave the queue",
        &format!("return !document.querySelector(\".q-item[data-chat-id='{second}']\")"),
    )
    .await;
    assert!(!c.title().await.unwrap().starts_with('('));
    let waiting = app
        .get(&format!("{API}/chats/{second}"), Some(&admin.token))
        .await;
    assert_eq!(waiting["state"], "waiting");
    // Ending the held chat brings the waiting one back.
    app.post_empty(&format!("{API}/chats/{first}/end"), Some(&sato.token))
        .await
        .assert_status(200);
    find(
        &c,
        &format!(".q-section.waiting .q-item[data-chat-id='{second}']"),
    )
    .await;
    find(&c, ".q-section.waiting .cap-notice[hidden]").await;
    c.close().await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn o1_slash_opens_the_canned_responses_in_the_message_box() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let (admin, dept, sato, _tanaka) = team(&app).await;
    for (shortcut, text, scope) in [
        (
            "hello",
            "{visitor.name}様、お問い合わせありがとうございます。担当の{operator.name}です。",
            "portal",
        ),
        ("help", "ヘルプページをご覧ください。", "portal"),
        ("refund", "返金の手続きをご案内します。", "portal"),
    ] {
        app.post(
            &format!("{API}/canned-responses"),
            Some(&admin.token),
            json!({"shortcut": shortcut, "text": text, "scope": scope}),
        )
        .await
        .assert_status(201);
    }
    let chat = start_chat(&app, &dept, "鈴木 一郎", "返金について").await;
    accept(&app, &sato, &chat).await;
    let c = browser.session().await;
    console_with(&c, &app, &sato, &chat).await;
    let box_ = find(&c, ".composer textarea:not([disabled])").await;
    box_.send_keys("/he").await.unwrap();
    wait_text(&c, "#canned-list", "/hello").await;
    let shown = c
        .execute(
            "return Array.from(document.querySelectorAll('#canned-list .canned-item')).map(li => li.dataset.shortcut)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(shown, json!(["hello", "help"]));
    screenshot(&c, "console-canned").await;
    // Arrow down to /help, up again to /hello, Enter picks it with the names filled in.
    box_.send_keys("\u{E015}").await.unwrap();
    find(
        &c,
        "#canned-list .canned-item[data-shortcut=help][aria-selected=true]",
    )
    .await;
    box_.send_keys("\u{E013}").await.unwrap();
    find(
        &c,
        "#canned-list .canned-item[data-shortcut=hello][aria-selected=true]",
    )
    .await;
    box_.send_keys("\u{E007}").await.unwrap();
    find(&c, "#canned-list[hidden]").await;
    let value = box_.prop("value").await.unwrap().unwrap_or_default();
    assert_eq!(
        value,
        "鈴木 一郎様、お問い合わせありがとうございます。担当の佐藤 花子です。"
    );
    // Nothing was sent by that Enter.
    let sent = app
        .get(&format!("{API}/chats/{chat}"), Some(&sato.token))
        .await;
    assert_eq!(sent["messages"].as_array().unwrap().len(), 2);
    // Esc closes the list and leaves the text as typed.
    box_.send_keys(" /re").await.unwrap();
    wait_text(&c, "#canned-list", "/refund").await;
    box_.send_keys("\u{E00C}").await.unwrap();
    find(&c, "#canned-list[hidden]").await;
    assert!(box_
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
        .ends_with(" /re"));
    c.close().await.unwrap();
    app.stop().await;
}

/// Whether any two of the visible elements matching `css` overlap.
async fn overlaps(c: &Client, css: &str) -> Vec<String> {
    let v = c
        .execute(
            &format!(
                "var els = Array.from(document.querySelectorAll({css:?})).filter(function (e) {{
                   var r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && !e.closest('[hidden]');
                 }});
                 var out = [];
                 for (var i = 0; i < els.length; i++) for (var j = i + 1; j < els.length; j++) {{
                   var a = els[i].getBoundingClientRect(), b = els[j].getBoundingClientRect();
                   if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)
                     out.push((els[i].className || els[i].tagName) + ' × ' + (els[j].className || els[j].tagName));
                 }}
                 return out;"
            ),
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap_or_default()
}

/// Elements of `css` whose text wraps to more lines than words (one character a line).
async fn squeezed(c: &Client, css: &str) -> Vec<String> {
    let v = c
        .execute(
            &format!(
                "return Array.from(document.querySelectorAll({css:?})).filter(function (e) {{
                   var r = e.getBoundingClientRect();
                   if (!r.width || e.closest('[hidden]')) return false;
                   var line = parseFloat(getComputedStyle(e).lineHeight) || 20;
                   var text = (e.innerText || '').trim();
                   return text.length > 2 && r.height > line * 2.6 && r.width < line * 3;
                 }}).map(function (e) {{ return (e.className || e.tagName) + ': ' + e.innerText; }});"
            ),
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn o5_the_console_holds_at_768_and_390_px_with_the_panel_as_a_drawer() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let (admin, dept, sato, _tanaka) = team(&app).await;
    with_desk(&app, &admin).await;
    start_chat(&app, &dept, "山田 太郎", "配送状況を知りたい").await;
    let chat = suzuki_chat(
        &app,
        &dept,
        "パスワードをリセットしたのですが、新しいパスワードでログインできません",
    )
    .await;
    accept(&app, &sato, &chat).await;
    kit::operator_says_as(
        &app,
        &sato,
        "acme",
        &chat,
        "お調べしますので少々お待ちください。",
        "m-1",
    )
    .await
    .assert_status(201);
    let c = browser.session().await;
    for (width, height, name) in [
        (768u32, 1024u32, "console-tablet"),
        (390, 844, "console-phone"),
    ] {
        c.set_window_size(width, height).await.unwrap();
        wait_js(
            &c,
            "the window to take its size",
            &format!("return window.innerWidth <= {width}"),
        )
        .await;
        if width == 768 {
            console_with(&c, &app, &sato, &chat).await;
        } else {
            c.refresh().await.unwrap();
            find(&c, "#console[data-connection=live]").await;
            // On a phone the queue opens as a drawer; picking a chat closes it.
            let opened = wait_js(
                &c,
                "the chat or the queue",
                "return !!document.querySelector('.q-item')",
            )
            .await;
            assert_eq!(opened, Value::Bool(true));
            let item = format!(".q-item[data-chat-id='{chat}']");
            if !visible(&c, &item).await {
                click(&c, ".queue-toggle").await;
            }
            // The drawer slides in (0.2 s): a click while it moves can land outside the
            // window ("not clickable at point (-89, …)").
            wait_js(
                &c,
                "the queue drawer to be in the window",
                &format!(
                    "var r = document.querySelector(\"{item}\").getBoundingClientRect(); \
                     return r.left >= 0 && r.right <= window.innerWidth + 1"
                ),
            )
            .await;
            click(&c, &item).await;
            wait_js(
                &c,
                "the queue drawer to close",
                "return !document.querySelector('#console').classList.contains('queue-open')",
            )
            .await;
        }
        wait_text(&c, ".transcript:not([hidden])", "お調べします").await;
        // The panel is a drawer: closed, then opened with its pencil within reach.
        assert!(
            !visible(&c, ".visitor-card .pencil").await,
            "{width}: panel closed"
        );
        click(&c, ".panel-toggle").await;
        wait_js(
            &c,
            "the panel drawer to open",
            "var p = document.querySelector('#visitor-pane').getBoundingClientRect(); \
             return p.right <= window.innerWidth + 1 && p.left >= 0 && p.width > 200",
        )
        .await;
        assert!(
            visible(&c, ".visitor-card .pencil").await,
            "{width}: pencil"
        );
        wait_text(&c, "#desk-panel .ticket-list", "請求書の再発行").await;
        assert!(
            visible(&c, "#desk-panel .convert").await,
            "{width}: convert"
        );
        if width == 768 {
            screenshot(&c, "console-tablet-panel").await;
        }
        click(&c, ".panel-close").await;
        wait_js(
            &c,
            "the panel drawer to close",
            "return !document.querySelector('#console').classList.contains('panel-open')",
        )
        .await;
        // Nothing overlaps in the header and the top bar; no text one character a line.
        let clash = overlaps(&c, ".chat-head .chat-title > *, .chat-head .chat-actions > button, .chat-head .queue-toggle").await;
        assert!(clash.is_empty(), "{width}: {clash:?}");
        for bar in [".topbar > *", ".topbar .apps > a"] {
            let clash = overlaps(&c, bar).await;
            assert!(clash.is_empty(), "{width}: {clash:?}");
        }
        let narrow = squeezed(&c, ".topbar *, .chat-head *, .composer *").await;
        assert!(narrow.is_empty(), "{width}: {narrow:?}");
        let wide = c
            .execute(
                "if (document.documentElement.scrollWidth <= window.innerWidth + 1) return [];
                 return Array.from(document.querySelectorAll('body *')).filter(function (e) {
                   var r = e.getBoundingClientRect(); return r.width && r.right > window.innerWidth + 1;
                 }).slice(0, 10).map(function (e) { return (e.className || e.tagName) + ' ' + Math.round(e.getBoundingClientRect().right); });",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(wide, json!([]), "{width}: no sideways scrolling");
        screenshot(&c, name).await;
    }
    c.close().await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn o5_the_console_has_no_serious_axe_violations() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let (admin, dept, sato, _tanaka) = team(&app).await;
    // With the Desk panel and its ticket list (the integration on, a known contact).
    with_desk(&app, &admin).await;
    start_chat(&app, &dept, "山田 太郎", "配送状況を知りたい").await;
    let chat = kit::start_chat(
        &app,
        "acme",
        json!({"name": "鈴木 一郎", "email": "suzuki@example.jp", "departmentId": dept,
                   "question": "ログインできません", "clientMessageId": "q-axe"}),
    )
    .await
    .chat_id;
    accept(&app, &sato, &chat).await;
    let c = browser.session().await;
    console_with(&c, &app, &sato, &chat).await;
    wait_text(&c, ".transcript:not([hidden])", "ログインできません").await;
    wait_text(&c, "#desk-panel .ticket-list", "請求書の再発行").await;
    let found = serious_violations(&c).await;
    assert!(found.is_empty(), "axe-core: {found:#?}");
    // With the transfer form open too.
    click(&c, ".chat-actions .transfer-open").await;
    find(&c, "#transfer-form:not([hidden])").await;
    let found = serious_violations(&c).await;
    assert!(
        found.is_empty(),
        "axe-core with the transfer form: {found:#?}"
    );
    // And a ticket opened in the panel (read-only for 佐藤, who is no Desk member).
    click(&c, "#desk-panel .ticket-open").await;
    wait_text(&c, "#desk-panel .view-details-note", "デスク").await;
    let found = serious_violations(&c).await;
    assert!(found.is_empty(), "axe-core with a ticket open: {found:#?}");
    c.close().await.unwrap();
    app.stop().await;
}

/// I3 (issue 12): the not-an-admin message's 「登録してください」 links to the signup page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i3_the_not_a_desk_admin_message_links_to_signup() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let admin = app.signup("chat-admin@acme.example").await;
    create_portal(&app, &admin, "acme", "Acme").await;
    let c = browser.session().await;
    login(&c, &app, &admin, "/chat/acme/settings/integrations/desk").await;
    click(&c, "#enable-first").await;
    let link = find(&c, "#not-desk-admin-message a.signup-link").await;
    assert_eq!(link.text().await.unwrap(), "登録してください");
    assert_eq!(link.attr("href").await.unwrap().as_deref(), Some("/signup"));
    // The message reads as before, with the link in its place.
    wait_text(
        &c,
        "#not-desk-admin-message",
        "未登録の場合、 登録してください。",
    )
    .await;
    c.close().await.unwrap();
    app.stop().await;
}

/// I13 (issue 12): 「こちらをクリック」 in the auto-association notice removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i13_clicking_here_in_the_notice_removes_the_auto_association() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let admin = app.signup("admin@acme.example").await;
    let t = Some(admin.token.as_str());
    create_portal(&app, &admin, "acme", "Acme").await;
    madoguchi_testkit::desk::portal_by(&app, &admin.token, "acme-desk", "Acme").await;
    app.post(
        "/desk/api/v1/portals/acme-desk/departments",
        t,
        json!({"name": "営業"}),
    )
    .await
    .assert_status(201);
    app.post_empty(&format!("{API}/integrations/desk/enable"), t)
        .await
        .assert_status(200);
    let c = browser.session().await;
    login(&c, &app, &admin, "/chat/acme/settings").await;
    fill(&c, "#departments input[name=name]", "営業").await;
    crate::harness::click_and_wait_for_reload(&c, "#departments button[type=submit]").await;
    let notice = wait_text(&c, ".flash", "自動連携を起動しました").await;
    assert!(notice.contains("関連付けを解除するには、こちらをクリックしてください"));
    let mapped = |v: &Value| {
        v["departments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["chatDepartmentName"] == "営業" && d["mode"] == "mapped")
    };
    let before = app.get(&format!("{API}/integrations/desk"), t).await;
    assert!(mapped(&before.body), "{}", before.text);
    wait_js(
        &c,
        "the notice in view",
        "var b = document.querySelector('.flash button.undo-association'); \
         var bar = document.querySelector('.topbar').getBoundingClientRect(); \
         return !!b && b.getBoundingClientRect().top >= bar.bottom && document.readyState === 'complete'",
    )
    .await;
    click(&c, ".flash button.undo-association").await;
    wait_text(&c, ".flash", "関連付けを解除しました").await;
    let after = app.get(&format!("{API}/integrations/desk"), t).await;
    assert!(!mapped(&after.body), "{}", after.text);
    c.close().await.unwrap();
    app.stop().await;
}
