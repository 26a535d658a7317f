//! SPEC Q6 in the browser: a widget whose socket is refused for its limit (1013) says
//! nothing alarming, does not reconnect in a loop and carries on over HTTP; a console
//! whose session ended goes to the login page instead of reconnecting.

use crate::chat::{create_portal, login, wait_widget_log, widget_el, HostSite};
use crate::harness::{find, wait_js, Browser};
use crate::helpers::{Backend, TestApp};
use futures::StreamExt;
use madoguchi_testkit::chat::{accept, operator_says_as, start_chat, VisitorChat};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q6_a_widget_refused_for_its_socket_limit_waits_quietly_and_carries_on_over_http() {
    let Some(mut browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.socket_limits.per_chat = 1)
        .await
        .unwrap();
    let admin = app.signup("yamada@acme.example").await;
    create_portal(&app, &admin, "acme", "Acme").await;
    let VisitorChat {
        chat_id,
        visitor_id,
        token,
    } = start_chat(
        &app,
        "acme",
        json!({"question": "請求書について", "clientMessageId": "q6-start"}),
    )
    .await;
    accept(&app, &admin, "acme", &chat_id).await;
    // Another tab holds the chat's only socket.
    let (mut other_tab, _) = tokio_tungstenite::connect_async(app.ws_url(&format!(
        "/chat/widget/v1/acme/chats/{chat_id}/ws?token={token}"
    )))
    .await
    .unwrap();
    let first = other_tab.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("ready"));

    // The page resumes that chat (as a second tab would) and counts its sockets.
    let key = format!("madoguchi.widget.{}.acme", app.base);
    let saved = json!({"chatId": chat_id, "visitorId": visitor_id, "token": token,
        "pending": [], "ended": false, "seenSeq": 0});
    let site = HostSite::start(format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"></head><body><p>Acme</p>\
         <script>\
         window.__sockets = 0; window.__closes = [];\
         (function () {{ var W = window.WebSocket;\
           function Counted(u, p) {{ window.__sockets++; var s = p === undefined ? new W(u) : new W(u, p);\
             s.addEventListener('close', function (e) {{ window.__closes.push(e.code); }}); return s; }}\
           Counted.prototype = W.prototype; window.WebSocket = Counted; }})();\
         localStorage.setItem({key}, JSON.stringify({saved}));\
         sessionStorage.setItem({key_open}, '1');\
         </script>\
         <script src=\"{}/chat/widget.js\" data-portal=\"acme\"></script></body></html>",
        app.base,
        key = serde_json::to_string(&key).unwrap(),
        key_open = serde_json::to_string(&format!("{key}.open")).unwrap(),
    ))
    .await;
    let visitor = browser.session().await;
    visitor.goto(&site.url).await.unwrap();
    wait_widget_log(&visitor, "請求書について").await;
    wait_js(
        &visitor,
        "the socket refused with 1013",
        "return window.__closes.indexOf(1013) >= 0",
    )
    .await;

    // The operator answers: the widget shows it through HTTP polling …
    operator_says_as(
        &app,
        &admin,
        "acme",
        &chat_id,
        "ご連絡ありがとうございます",
        "q6-reply",
    )
    .await
    .assert_status(201);
    wait_widget_log(&visitor, "ご連絡ありがとうございます").await;
    // … while it tried no other socket (a quick retry would have been refused again)
    // and showed no "reconnecting" notice.
    let sockets = visitor
        .execute("return window.__sockets", vec![])
        .await
        .unwrap();
    assert_eq!(sockets, json!(1), "the widget retried its socket at once");
    let notice = widget_el(&visitor, ".conn").await;
    assert!(
        notice.attr("hidden").await.unwrap().is_some(),
        "the widget told the visitor about a refused socket"
    );
    visitor.close().await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q6_a_console_whose_session_ends_goes_to_the_login_page() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let operator = app.signup("yamada@acme.example").await;
    create_portal(&app, &operator, "acme", "Acme").await;
    let op = browser.session().await;
    login(&op, &app, &operator, "/chat/acme").await;
    find(&op, "#console[data-connection=live]").await;
    // The session ends (as a logout in another tab does).
    op.execute(
        "var csrf = document.querySelector('meta[name=\"csrf-token\"]').content;\
         fetch('/api/v1/auth/logout', {method: 'POST', headers: {'X-CSRF-Token': csrf}});",
        vec![],
    )
    .await
    .unwrap();
    let url = wait_js(
        &op,
        "the login page",
        "return location.pathname === '/login' ? location.href : null",
    )
    .await;
    assert!(
        url.as_str().unwrap().contains("next=%2Fchat%2Facme"),
        "{url}"
    );
    op.close().await.unwrap();
    app.stop().await;
}
