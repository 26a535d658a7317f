//! The integration as a Japanese support team uses it, step by step as the seed page
//! says: Settings > Integrations > Desk (I1–I9, I13), and the Desk panel beside a chat
//! in the operator console (I10, I11, I15–I20).

use crate::chat::login;
use crate::harness::{click, fill, find, screenshot, wait_js, wait_text, Browser};
use fantoccini::Locator;
use madoguchi_testkit::chat::start_chat;
use serde_json::json;

const SETTINGS: &str = "/chat/acme-chat/settings/integrations/desk";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i2_i3_i6_i9_the_settings_page_links_changes_and_disables() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let desk_admin = app.signup("desk-admin@acme.example").await;
    let chat_admin = app.signup("chat-admin@acme.example").await;
    let dt = Some(desk_admin.token.as_str());
    madoguchi_testkit::desk::portal_by(&app, &desk_admin.token, "acme", "Acme").await;
    app.post(
        "/desk/api/v1/portals/acme/departments",
        dt,
        json!({"name": "サポート"}),
    )
    .await
    .assert_status(201);
    let key = madoguchi_testkit::desk::service_key(&app, "acme", &desk_admin.token).await;
    let ct = Some(chat_admin.token.as_str());
    madoguchi_testkit::chat::portal_by(&app, &chat_admin.token, "acme-chat", "Acme").await;
    for name in ["サポート", "経理"] {
        app.post(
            "/chat/api/v1/portals/acme-chat/departments",
            ct,
            json!({"name": name}),
        )
        .await
        .assert_status(201);
    }

    let c = browser.session().await;
    login(&c, &app, &chat_admin, SETTINGS).await;
    wait_text(&c, "main h1", "デスク").await;
    // I3: the Chat admin is no Desk admin: the message and the three fields.
    wait_text(&c, "#enable-first", "デスク連携の有効化").await;
    click(&c, "#enable-first").await;
    wait_text(
        &c,
        "#not-desk-admin-message",
        "現在のメールアドレスを Madoguchi デスクの管理者として認識できませんでした",
    )
    .await;
    let form = "#manual-link form";
    fill(
        &c,
        &format!("{form} input[name=adminEmail]"),
        &desk_admin.email,
    )
    .await;
    fill(&c, &format!("{form} input[name=serviceKey]"), "wrong-key").await;
    fill(&c, &format!("{form} input[name=deskPortalName]"), "acme").await;
    click(&c, &format!("{form} button[type=submit]")).await;
    find(
        &c,
        &format!("{form} input[name=serviceKey][aria-invalid=true]"),
    )
    .await;
    fill(&c, &format!("{form} input[name=serviceKey]"), &key).await;
    click(&c, &format!("{form} button[type=submit]")).await;

    // Linked: the admin, the masked key and the portal name; departments matched (I12).
    wait_text(&c, "#integration-status", "有効").await;
    wait_text(&c, "#desk-admin", &desk_admin.email).await;
    wait_text(&c, "#service-key", &key[key.len() - 4..]).await;
    wait_text(&c, "#desk-portal-name", "acme").await;
    wait_text(&c, "#departments", "部門ごとの設定").await;
    let selected = wait_js(
        &c,
        "department menus",
        "return Array.from(document.querySelectorAll('select.dept-mode')).map(s => s.options[s.selectedIndex].text).join('|')",
    )
    .await;
    assert_eq!(selected, "サポート|必要に応じて選択");

    // I9: 経理 becomes View only; I7: automatic tickets for attended chats only.
    c.execute(
        "window.beforeReload = true; const s = document.querySelectorAll('select.dept-mode')[1]; \
         s.value = 'view_only'; s.form.requestSubmit();",
        vec![],
    )
    .await
    .unwrap();
    wait_js(
        &c,
        "view only saved",
        "const s = document.querySelectorAll('select.dept-mode')[1]; return !window.beforeReload && document.readyState === 'complete' && s && s.value === 'view_only'",
    )
    .await;
    click(&c, "input[name=autoTicket][value=attended]").await;
    crate::harness::click_and_wait_for_reload(&c, "#settings button[type=submit]").await;
    wait_text(&c, ".page-saved", "保存しました").await;
    let integ = app
        .get("/chat/api/v1/portals/acme-chat/integrations/desk", ct)
        .await;
    assert_eq!(integ["settings"]["autoTicket"], "attended");
    assert_eq!(integ["departments"][1]["mode"], "view_only");
    c.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    screenshot(&c, "desk-integration").await;

    // I6: disable at the top right, then enable again.
    click(&c, "#disable").await;
    wait_text(&c, "#integration-status", "無効").await;
    find(&c, "#disabled-note").await;
    click(&c, "#enable").await;
    wait_text(&c, "#integration-status", "有効").await;
    // I5: a regenerated key shows the red banner with the change form open.
    madoguchi_testkit::desk::service_key(&app, "acme", &desk_admin.token).await;
    c.refresh().await.unwrap();
    wait_text(&c, "#broken-banner", "連携が切れています").await;
    find(&c, "#change-form:not([hidden]) input[name=serviceKey]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i10_i15_i17_i20_the_desk_panel_beside_a_chat() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let admin = app.signup("admin@acme.example").await;
    let t = Some(admin.token.as_str());
    madoguchi_testkit::desk::portal_by(&app, &admin.token, "acme", "Acme").await;
    madoguchi_testkit::chat::portal_by(&app, &admin.token, "acme-chat", "Acme").await;
    app.post_empty("/chat/api/v1/portals/acme-chat/integrations/desk/enable", t)
        .await
        .assert_status(200);
    let account = madoguchi_testkit::desk::account_under_contract(
        &app,
        "/desk/api/v1/portals/acme",
        &admin.token,
    )
    .await;
    let contact = app
        .post(
            "/desk/api/v1/portals/acme/contacts",
            t,
            json!({"firstName": "一郎", "lastName": "鈴木", "email": "suzuki@example.jp",
                   "accountId": account, "ownerId": admin.id}),
        )
        .await;
    app.post(
        "/desk/api/v1/portals/acme/tickets",
        t,
        json!({"subject": "請求書の再発行", "contactId": contact["id"], "status": "Closed"}),
    )
    .await
    .assert_status(201);
    let chat_id = start_chat(
        &app,
        "acme-chat",
        json!({"name": "鈴木 一郎", "email": "suzuki@example.jp",
                   "question": "パスワードのリセットができません", "clientMessageId": "q-1"}),
    )
    .await
    .chat_id;

    let c = browser.session().await;
    login(&c, &app, &admin, "/chat/acme-chat").await;
    click(&c, &format!(".q-item[data-chat-id='{chat_id}']")).await;
    // I15, I16: desk info and the visitor's recent tickets.
    wait_text(&c, "#desk-panel .desk-facts", "株式会社サンプル").await;
    wait_text(&c, "#desk-panel .desk-facts", "ゴールド").await;
    wait_text(&c, "#desk-panel .desk-facts", "年間保守").await;
    wait_text(&c, "#desk-panel", "このチャットに関連する問い合わせ").await;
    wait_text(&c, "#desk-panel .ticket-list", "請求書の再発行").await;
    // I19: the magnifier searches.
    click(&c, "#desk-panel .search-toggle").await;
    fill(&c, "#desk-panel .ticket-search input", "請求書").await;
    c.execute(
        "document.querySelector('#desk-panel .ticket-search').requestSubmit()",
        vec![],
    )
    .await
    .unwrap();
    wait_text(&c, "#desk-panel .results-title", "検索結果").await;

    // I10: convert with priority, status, classification, department.
    // An empty search goes back to the related tickets.
    c.execute(
        "const f = document.querySelector('#desk-panel .ticket-search'); \
         f.querySelector('input').value = ''; f.requestSubmit();",
        vec![],
    )
    .await
    .unwrap();
    wait_js(
        &c,
        "the convert button",
        "return !document.querySelector('#desk-panel .results-title') && !!document.querySelector('#desk-panel button.convert')",
    )
    .await;
    c.execute(
        "document.querySelector('#desk-panel button.convert').click()",
        vec![],
    )
    .await
    .unwrap();
    find(&c, "#desk-panel .convert-dialog select[name=priority]").await;
    c.execute(
        "const f = document.querySelector('#desk-panel .convert-dialog form'); \
         f.elements.priority.value = 'High'; f.elements.classification.value = 'Problem';",
        vec![],
    )
    .await
    .unwrap();
    screenshot(&c, "desk-panel-convert").await;
    click(&c, "#desk-panel .convert-dialog button[type=submit]").await;
    // The new ticket's details: transcript, View details (I17), the status switch (I20).
    wait_text(
        &c,
        "#desk-panel .ticket-title",
        "パスワードのリセットができません",
    )
    .await;
    wait_text(
        &c,
        "#desk-panel .thread.chat",
        "パスワードのリセットができません",
    )
    .await;
    let href = c
        .find(Locator::Css("#desk-panel a.view-details"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(href.ends_with("/desk/acme/tickets/102"), "{href}");
    click(&c, "#desk-panel .status-switch .status-closed").await;
    wait_js(
        &c,
        "closed",
        "const b = document.querySelector('#desk-panel .status-switch .status-closed'); return b && b.getAttribute('aria-pressed') === 'true'",
    )
    .await;
    let tickets = app
        .get("/desk/api/v1/portals/acme/tickets?limit=10", t)
        .await;
    let made = tickets["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["ticketNumber"] == 102)
        .unwrap()
        .clone();
    assert_eq!(made["status"], "Closed");
    assert_eq!(made["priority"], "High");
    assert_eq!(made["classification"], "Problem");
    screenshot(&c, "desk-panel").await;
}
