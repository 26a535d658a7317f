//! SPEC Q6 (issue 16 item 8): the pages satisfy their own Content-Security-Policy, and
//! the widget works on a customer's page whose strict CSP allows nothing inline. Every
//! document of the session records `securitypolicyviolation` events from its first
//! line (a script installed through the DevTools protocol), and the test asserts none.

use crate::chat::{in_widget, login, wait_first_stored, wait_widget_log, widget_type, HostSite};
use crate::harness::{click, find, wait_js, wait_text, Browser};
use crate::helpers::TestApp;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::Client;
use serde_json::{json, Value};

/// Records every CSP violation of a document in `window.__cspViolations`.
const RECORDER: &str = "window.__cspViolations = []; \
    document.addEventListener('securitypolicyviolation', function (e) { \
      window.__cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + \
        ' at ' + (e.sourceFile || location.href) + ':' + e.lineNumber + ' ' + (e.sample || '')); \
    }, true);";

/// chromedriver's `POST /session/{id}/goog/cdp/execute`: one DevTools command.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, <reqwest::Url as std::str::FromStr>::Err> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({"cmd": self.cmd, "params": self.params}).to_string()),
        )
    }
}

/// A browser session whose every document records CSP violations.
async fn watched(browser: &mut Browser) -> Client {
    let c = browser.session().await;
    c.issue_cmd(Cdp {
        cmd: "Page.addScriptToEvaluateOnNewDocument",
        params: json!({"source": RECORDER}),
    })
    .await
    .expect("installing the CSP recorder");
    c
}

async fn violations(c: &Client) -> Vec<String> {
    let v = c
        .execute("return window.__cspViolations || null", vec![])
        .await
        .unwrap();
    assert!(!v.is_null(), "the recorder runs in every document");
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn loaded(c: &Client) {
    wait_js(
        c,
        "the page loaded",
        "return document.readyState === 'complete'",
    )
    .await;
}

/// The recorder and the policy both work: an inline style added now is reported.
async fn assert_an_inline_style_is_reported(c: &Client) {
    c.execute(
        "var s = document.createElement('style'); s.textContent = 'p{color:red}'; \
         document.head.appendChild(s);",
        vec![],
    )
    .await
    .unwrap();
    wait_js(
        c,
        "the inline style reported",
        "return (window.__cspViolations || []).some(function (v) { return v.indexOf('style-src') === 0; })",
    )
    .await;
}

/// A customer's website on its own origin that answers with a strict CSP of its own:
/// scripts, styles and connections only from itself and the Madoguchi server.
async fn strict_host(app: &TestApp, portal: &str) -> HostSite {
    let origin = app.base.clone();
    let socket = origin.replacen("http://", "ws://", 1);
    let csp = format!(
        "default-src 'none'; script-src 'self' {origin}; style-src 'self' {origin}; \
         img-src 'self' {origin} data:; font-src 'self'; connect-src 'self' {origin} {socket}; \
         base-uri 'none'; form-action 'self'"
    );
    let html = format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>Acme</title>\
         </head><body><h1>株式会社アクメ</h1><p>製品のご案内</p>\
         <script src=\"{origin}/chat/widget.js\" data-portal=\"{portal}\" async></script>\
         </body></html>"
    );
    HostSite::start_with_headers(html, format!("Content-Security-Policy: {csp}\r\n")).await
}

async fn widget_click(c: &Client, css: &str) {
    wait_js(
        c,
        &format!("the widget's {css}"),
        &in_widget(&format!(
            "(function (el) {{ if (!el || el.offsetParent === null) return false; el.click(); return true; }})(r.querySelector('{css}'))"
        )),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q6_pages_and_the_widget_on_a_strict_csp_host_page_have_no_csp_violations() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let admin = app.signup("yamada@acme.example").await;
    for (path, body) in [
        (
            "/chat/api/v1/portals",
            json!({"portalName": "acme", "displayName": "株式会社アクメ サポート"}),
        ),
        (
            "/desk/api/v1/portals",
            json!({"portalName": "acme", "displayName": "Acme Desk"}),
        ),
        (
            "/desk/api/v1/portals/acme/tickets",
            json!({"subject": "プリンターが動きません", "description": "1行目\n2行目"}),
        ),
    ] {
        app.post(path, Some(&admin.token), body)
            .await
            .assert_status(201);
    }

    // Logged out: the login page, then the pages of a signed-in admin.
    let op = watched(&mut browser).await;
    op.goto(&app.url("/signup")).await.unwrap();
    loaded(&op).await;
    assert_eq!(violations(&op).await, Vec::<String>::new(), "/signup");
    login(&op, &app, &admin, "/").await;
    find(&op, ".app-cards").await;
    assert_eq!(violations(&op).await, Vec::<String>::new(), "/ after login");
    for path in [
        "/desk",
        "/desk/acme",
        "/desk/acme/tickets/101",
        "/desk/acme/tickets/new",
        "/desk/acme/contacts",
        "/desk/acme/search?q=プリンター",
        "/desk/acme/settings/departments",
        "/desk/acme/settings/api",
        "/chat",
        "/chat/acme/settings",
        "/chat/acme/settings/integrations/desk",
    ] {
        op.goto(&app.url(path)).await.unwrap();
        loaded(&op).await;
        // Page scripts render after load (the integration settings fetch theirs).
        tokio::task::yield_now().await;
        assert_eq!(violations(&op).await, Vec::<String>::new(), "{path}");
    }
    // The operator console: its script, its Desk panel and its WebSocket.
    op.goto(&app.url("/chat/acme")).await.unwrap();
    find(&op, "#console[data-connection=live]").await;
    assert_eq!(violations(&op).await, Vec::<String>::new(), "/chat/acme");
    // The policy is enforced, and the recorder would have seen a violation.
    assert_an_inline_style_is_reported(&op).await;
    op.goto(&app.url("/chat/acme")).await.unwrap();
    find(&op, "#console[data-connection=live]").await;

    // The visitor on the customer's site with its strict policy.
    let site = strict_host(&app, "acme").await;
    let visitor = watched(&mut browser).await;
    visitor.goto(&site.url).await.unwrap();
    widget_click(&visitor, ".launcher").await;
    // Styled as designed although the host allows no inline style.
    let background = wait_js(
        &visitor,
        "the widget styled",
        &in_widget("getComputedStyle(r.querySelector('.launcher')).backgroundColor"),
    )
    .await;
    assert_eq!(background, json!("rgb(31, 95, 139)"));
    wait_js(
        &visitor,
        "the widget's form",
        &in_widget("r.querySelector('textarea[name=question]') && r.querySelector('form.prechat').hidden === false"),
    )
    .await;
    widget_type(
        &visitor,
        "textarea[name=question]",
        "CSP の厳しいページからです",
    )
    .await;
    widget_click(&visitor, "button.start").await;
    wait_first_stored(&visitor).await;

    // The operator accepts and answers in the console; the widget shows the answer.
    let item = ".q-section.waiting .q-item";
    wait_text(&op, item, "").await;
    click(&op, item).await;
    click(&op, ".chat-actions .accept").await;
    let composer = find(&op, ".composer textarea:not([disabled])").await;
    composer
        .send_keys("ご連絡ありがとうございます")
        .await
        .unwrap();
    composer.send_keys("\u{E007}").await.unwrap();
    wait_widget_log(&visitor, "ご連絡ありがとうございます").await;
    assert_eq!(
        violations(&visitor).await,
        Vec::<String>::new(),
        "the host page"
    );
    assert_eq!(violations(&op).await, Vec::<String>::new(), "the console");
    // The host's policy is enforced on its page (the widget passed it, not a loophole).
    assert_an_inline_style_is_reported(&visitor).await;
    app.stop().await;
}
