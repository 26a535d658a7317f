//! SPEC Q6 hardening of input, login and pages: control characters are a 400 on both
//! databases (issue 16 item 4), `next` never breaks a redirect (5), logins are
//! throttled (7), cookies and page headers (8).

#![allow(clippy::unwrap_used)]

use crate::both_backends;
use crate::chat::{api, portal_with_admin, start_chat, visitor_says, Ws};
use crate::helpers::{Backend, Res, TestApp};
use madoguchi_testkit::chat::start_chat_with;
use serde_json::json;

both_backends!(
    q6_nul_in_a_body_string_is_a_400_naming_the_field,
    q6_nul_in_a_query_or_path_is_a_400_on_anonymous_and_authenticated_routes,
    q6_nul_in_a_page_form_is_a_400_page,
    q6_tabs_and_newlines_in_message_texts_are_kept,
    q6_control_characters_in_socket_frames_answer_an_error_frame,
    q6_a_bad_next_redirects_home_and_signup_writes_the_account_once,
    q6_login_is_throttled_per_account_the_same_for_unknown_accounts_and_lifts,
    q6_the_login_page_answers_the_throttle_in_the_users_language,
    q6_pages_send_csp_frame_and_referrer_headers_and_carry_no_inline_code,
);

/// A form POST as a browser sends it (no Origin: same-site navigation).
async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)], lang: &str) -> Res {
    app.request(
        app.http
            .post(app.url(path))
            .header("accept-language", lang)
            .form(form),
    )
    .await
}

async fn raw(app: &TestApp, req: reqwest::RequestBuilder) -> reqwest::Response {
    let _ = app;
    req.send().await.unwrap()
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

fn cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect()
}

#[track_caller]
fn assert_control_error(res: &Res, field: &str) {
    res.assert_error(400, "invalid_request");
    assert_eq!(res.body["error"]["field"], field, "{}", res.text);
}

// Item 4: a NUL in a body string (top level and nested) is a 400 naming its JSON path,
// on PostgreSQL as on SQLite (PostgreSQL answered 500 `invalid byte sequence`).
async fn q6_nul_in_a_body_string_is_a_400_naming_the_field(app: TestApp) {
    let admin = app.signup("admin@acme.example").await;
    let res =
        madoguchi_testkit::chat::try_portal(&app, &admin.token, "acme", "Acme\u{0} Inc.").await;
    assert_control_error(&res, "displayName");
    madoguchi_testkit::desk::portal_by(&app, &admin.token, "acme", "Acme").await;
    let base = "/desk/api/v1/portals/acme";
    let res = app
        .put(
            &format!("{base}/classifications"),
            Some(&admin.token),
            json!({"classifications": ["Question", "Pro\u{0}blem"]}),
        )
        .await;
    assert_control_error(&res, "classifications[1]");
    // Other control characters too (an escape, DEL), and in the anonymous widget.
    let res = app
        .post(
            &format!("{base}/tickets"),
            Some(&admin.token),
            json!({"subject": "a\u{1b}[31m", "description": "ok"}),
        )
        .await;
    assert_control_error(&res, "subject");
    portal_with_admin(&app, "chat@acme.example", "shop").await;
    let res = start_chat_with(
        &app,
        "shop",
        json!({"question": "hello", "name": "x\u{7f}", "clientMessageId": "c1"}),
    )
    .await;
    assert_control_error(&res, "name");
    // Logins and signups with a NUL: the same 400, no 500.
    let res = app
        .log_in("admin@acme.example\u{0}", "correct horse battery")
        .await;
    assert_control_error(&res, "email");
    // Nothing was stored: the ticket list is empty.
    let list = app
        .get(&format!("{base}/tickets"), Some(&admin.token))
        .await;
    list.assert_status(200);
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
}

// Item 4: query parameters and path segments, percent-decoded.
async fn q6_nul_in_a_query_or_path_is_a_400_on_anonymous_and_authenticated_routes(app: TestApp) {
    let admin = portal_with_admin(&app, "admin@acme.example", "acme").await;
    madoguchi_testkit::desk::portal_by(&app, &admin.token, "acme", "Acme").await;
    // The anonymous widget config of the issue.
    let res = app.get("/chat/widget/v1/%00/config", None).await;
    assert_control_error(&res, "path");
    let res = app.get("/chat/widget/v1/ac%01me/config", None).await;
    assert_control_error(&res, "path");
    // Authenticated routes, Desk and Chat.
    let res = app
        .get("/desk/api/v1/portals/%00/tickets", Some(&admin.token))
        .await;
    assert_control_error(&res, "path");
    let res = crate::chat::api_get(&app, &admin, "acme", "/chats/%00").await;
    assert_control_error(&res, "path");
    // Query strings: the parameter is named.
    let res = app
        .get(
            "/desk/api/v1/portals/acme/tickets/search?q=a%00b",
            Some(&admin.token),
        )
        .await;
    assert_control_error(&res, "q");
    let res = app
        .get(
            "/desk/api/v1/portals/acme/contacts?email=x%00%40y.jp",
            Some(&admin.token),
        )
        .await;
    assert_control_error(&res, "email");
    // The same routes with clean input still answer.
    app.get("/chat/widget/v1/acme/config", None)
        .await
        .assert_status(200);
    app.get(
        "/desk/api/v1/portals/acme/tickets/search?q=ab",
        Some(&admin.token),
    )
    .await
    .assert_status(200);
}

// Item 4: page forms (urlencoded bodies) answer an HTML 400 page, not a 500.
async fn q6_nul_in_a_page_form_is_a_400_page(app: TestApp) {
    app.signup("admin@acme.example").await;
    for lang in ["en", "ja"] {
        let res = raw(
            &app,
            app.http
                .post(app.url("/login"))
                .header("accept-language", lang)
                .form(&[
                    ("email", "admin@acme.example\u{0}"),
                    ("password", "correct horse battery"),
                    ("next", "/"),
                ]),
        )
        .await;
        assert_eq!(res.status().as_u16(), 400);
        assert!(header(&res, "content-type").starts_with("text/html"));
        assert!(cookies(&res).is_empty(), "no session for a refused form");
        let html = res.text().await.unwrap();
        let expected = if lang == "en" {
            "contains a control character"
        } else {
            "制御文字"
        };
        let text = madoguchi_testkit::html::Doc::parse(&html).page_text();
        assert!(text.contains(expected), "{html}");
        assert!(text.contains("email"), "the field is named: {html}");
    }
    // The page query string too (the language switch with a NUL in `next`).
    let res = raw(&app, app.http.get(app.url("/lang?set=en&next=/%00X"))).await;
    assert_eq!(res.status().as_u16(), 400);
    assert!(header(&res, "content-type").starts_with("text/html"));
}

// Item 4: texts keep tab, newline and carriage return (the widget and the console send
// multi-line messages).
async fn q6_tabs_and_newlines_in_message_texts_are_kept(app: TestApp) {
    let admin = portal_with_admin(&app, "admin@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({"question": "line 1\nline 2\ttab"})).await;
    let text = "first line\r\nsecond\tcolumn\n";
    visitor_says(&app, "acme", &chat, text, "m1")
        .await
        .assert_status(201);
    let res = crate::chat::api_get(&app, &admin, "acme", &format!("/chats/{}", chat.chat_id)).await;
    res.assert_status(200);
    let texts: Vec<&str> = res["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert!(texts.contains(&"line 1\nline 2\ttab"), "{texts:?}");
    assert!(texts.contains(&text), "{texts:?}");
}

// Item 4: a socket frame with a control character is refused with an error frame that
// names the field and the message, and stores nothing; the socket stays usable.
async fn q6_control_characters_in_socket_frames_answer_an_error_frame(app: TestApp) {
    let admin = portal_with_admin(&app, "admin@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({})).await;
    let mut ws = crate::chat::visitor_ws(&app, "acme", &chat, Some(1)).await;
    ws.send(json!({"type": "message", "text": "bad\u{0}text", "clientMessageId": "w1"}))
        .await;
    let err = ws.next_of("error").await;
    assert_eq!(err["code"], "invalid_request", "{err}");
    assert_eq!(err["field"], "text", "{err}");
    assert_eq!(err["clientMessageId"], "w1", "{err}");
    ws.send(json!({"type": "message", "text": "good\ttext\n", "clientMessageId": "w2"}))
        .await;
    let ack = ws.next_of("ack").await;
    assert_eq!(ack["clientMessageId"], "w2");
    assert_eq!(ack["seq"], 2, "the refused frame took no seq");
    // The operator socket refuses the same way.
    let mut op = Ws::connect(&app, &api("acme", &format!("/ws?token={}", admin.token))).await;
    assert_eq!(op.next().await["type"], "ready");
    op.send(json!({"type": "message", "chatId": chat.chat_id, "text": "\u{0}", "clientMessageId": "o1"}))
        .await;
    let err = op.next_of("error").await;
    assert_eq!(err["code"], "invalid_request", "{err}");
    assert_eq!(err["field"], "text", "{err}");
}

// Item 5: a `next` with control characters, another host or a backslash falls back to
// the home page; signup with a bad `next` creates the account and its session once,
// with a safe redirect (it answered 500 after writing both).
async fn q6_a_bad_next_redirects_home_and_signup_writes_the_account_once(app: TestApp) {
    let signup = |next: &'static str| {
        let app = &app;
        async move {
            raw(
                app,
                app.http.post(app.url("/signup")).form(&[
                    ("name", "Suzuki"),
                    ("email", "suzuki@acme.example"),
                    ("password", "correct horse battery"),
                    ("next", next),
                ]),
            )
            .await
        }
    };
    let res = signup("/\r\nSet-Cookie: evil=1").await;
    assert_eq!(res.status().as_u16(), 303, "a redirect, not a 500");
    assert_eq!(header(&res, "location"), "/");
    let set = cookies(&res);
    assert_eq!(set.len(), 1, "only the session cookie: {set:?}");
    assert!(set[0].starts_with("madoguchi_session="));
    // The account exists once: the same signup again is the email-taken form.
    let again = signup("/desk").await;
    assert_eq!(again.status().as_u16(), 422);
    app.log_in("suzuki@acme.example", "correct horse battery")
        .await
        .assert_status(200);
    // Login: each bad target lands on the home page; a good one is kept.
    for (next, expected) in [
        ("/\nX", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/desk?x=1", "/desk?x=1"),
    ] {
        let res = raw(
            &app,
            app.http.post(app.url("/login")).form(&[
                ("email", "suzuki@acme.example"),
                ("password", "correct horse battery"),
                ("next", next),
            ]),
        )
        .await;
        assert_eq!(res.status().as_u16(), 303, "{next:?}");
        assert_eq!(header(&res, "location"), expected, "{next:?}");
    }
    // The language switch: a control character is a 400 page, another host goes home.
    let res = raw(&app, app.http.get(app.url("/lang?set=en&next=/%0aX"))).await;
    assert_eq!(res.status().as_u16(), 400);
    assert!(header(&res, "content-type").starts_with("text/html"));
    let res = raw(
        &app,
        app.http.get(app.url("/lang?set=en&next=//evil.example")),
    )
    .await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(header(&res, "location"), "/");
    // The login page does not echo a bad target into its form.
    let res = raw(&app, app.http.get(app.url("/login?next=//evil.example"))).await;
    let html = res.text().await.unwrap();
    assert_eq!(
        madoguchi_testkit::html::Doc::parse(&html)
            .input_value("next")
            .as_deref(),
        Some("/"),
        "the form carries the home page instead: {html}"
    );
}

async fn api_login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    raw(
        app,
        app.http
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password})),
    )
    .await
}

async fn assert_throttled(res: reqwest::Response) -> String {
    assert_eq!(res.status().as_u16(), 429);
    let retry: u64 = header(&res, "retry-after").parse().expect("Retry-After");
    assert!((1..=900).contains(&retry), "Retry-After {retry}");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert_eq!(body["error"]["retryAfter"], retry, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

// Item 7: ten failed logins of an account lock it (even with the right password) for
// the rest of 15 minutes, answered 429 with Retry-After; an unknown email gets exactly
// the same answers (no account enumeration); a success forgives earlier failures.
async fn q6_login_is_throttled_per_account_the_same_for_unknown_accounts_and_lifts(app: TestApp) {
    let user = app.signup("suzuki@acme.example").await;
    // Nine failures, then the right password: counted failures start over.
    for _ in 0..9 {
        assert_eq!(
            api_login(&app, &user.email, "wrong password!")
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        api_login(&app, &user.email, "correct horse battery")
            .await
            .status(),
        200
    );
    for _ in 0..10 {
        assert_eq!(
            api_login(&app, &user.email, "wrong password!")
                .await
                .status(),
            401
        );
    }
    let known = assert_throttled(api_login(&app, &user.email, "correct horse battery").await).await;
    // Any case of the email is the same account.
    assert_throttled(api_login(&app, "SUZUKI@acme.example", "correct horse battery").await).await;
    for _ in 0..10 {
        assert_eq!(
            api_login(&app, "nobody@acme.example", "wrong password!")
                .await
                .status(),
            401
        );
    }
    let unknown = assert_throttled(api_login(&app, "nobody@acme.example", "x").await).await;
    assert_eq!(known, unknown, "the same answer for unknown accounts");
    // Another account from the same address is not locked.
    let other = app.signup("tanaka@acme.example").await;
    assert_eq!(
        api_login(&app, &other.email, "correct horse battery")
            .await
            .status(),
        200
    );
    // Fifteen minutes later (the injected clock; no sleeping) the account may log in.
    app.clock.advance_ms(15 * 60 * 1000);
    assert_eq!(
        api_login(&app, &user.email, "correct horse battery")
            .await
            .status(),
        200
    );
}

// Item 7: per client address, behind a trusted proxy the forwarded client's: 30
// failures (over any accounts) lock that address only.
async fn q6_login_is_throttled_per_client_address(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let user = app.signup("suzuki@acme.example").await;
    let from = |addr: &'static str, email: String, password: &'static str| {
        let app = &app;
        async move {
            raw(
                app,
                app.http
                    .post(app.url("/api/v1/auth/login"))
                    .header("x-forwarded-for", addr)
                    .json(&json!({"email": email, "password": password})),
            )
            .await
        }
    };
    for i in 0..30 {
        let res = from(
            "198.51.100.1",
            format!("guess{i}@acme.example"),
            "wrong password!",
        )
        .await;
        assert_eq!(res.status().as_u16(), 401, "attempt {i}");
    }
    assert_throttled(from("198.51.100.1", user.email.clone(), "correct horse battery").await).await;
    let res = from("198.51.100.2", user.email.clone(), "correct horse battery").await;
    assert_eq!(res.status().as_u16(), 200, "another client is not locked");
    app.clock.advance_ms(15 * 60 * 1000);
    let res = from("198.51.100.1", user.email.clone(), "correct horse battery").await;
    assert_eq!(res.status().as_u16(), 200);
}

mod q6_login_is_throttled_per_client_address {
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::q6_login_is_throttled_per_client_address(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::q6_login_is_throttled_per_client_address(Backend::Postgres).await
    }
}

// Item 7: the login page shares the throttle and says so in the user's language.
async fn q6_the_login_page_answers_the_throttle_in_the_users_language(app: TestApp) {
    let user = app.signup("suzuki@acme.example").await;
    let form = |password: &'static str| {
        [
            ("email", "suzuki@acme.example"),
            ("password", password),
            ("next", "/"),
        ]
    };
    for _ in 0..10 {
        post_form(&app, "/login", &form("wrong password!"), "en")
            .await
            .assert_status(422);
    }
    for (lang, words) in [
        ("en", "Too many login attempts"),
        ("ja", "ログインの試行回数が多すぎます"),
    ] {
        let res = raw(
            &app,
            app.http
                .post(app.url("/login"))
                .header("accept-language", lang)
                .form(&form("correct horse battery")),
        )
        .await;
        assert_eq!(res.status().as_u16(), 429);
        assert!(!header(&res, "retry-after").is_empty());
        assert!(cookies(&res).is_empty(), "no session");
        let html = res.text().await.unwrap();
        assert!(
            madoguchi_testkit::html::Doc::parse(&html)
                .page_text()
                .contains(words),
            "{html}"
        );
    }
    // The API shares the lock.
    assert_throttled(api_login(&app, &user.email, "correct horse battery").await).await;
    app.clock.advance_ms(15 * 60 * 1000);
    let res = raw(
        &app,
        app.http
            .post(app.url("/login"))
            .form(&form("correct horse battery")),
    )
    .await;
    assert_eq!(res.status().as_u16(), 303);
}

// Item 8: pages carry the CSP, X-Frame-Options and Referrer-Policy, and hold no inline
// script, inline style or event-handler attribute that the policy would block.
async fn q6_pages_send_csp_frame_and_referrer_headers_and_carry_no_inline_code(app: TestApp) {
    let admin = portal_with_admin(&app, "admin@acme.example", "acme").await;
    let desk = madoguchi_testkit::desk::portal_by(&app, &admin.token, "acme", "Acme").await;
    madoguchi_testkit::desk::ticket(&app, &desk, &admin.token, json!({"subject": "Printer"})).await;
    let login = raw(
        &app,
        app.http.post(app.url("/login")).form(&[
            ("email", "admin@acme.example"),
            ("password", "correct horse battery"),
            ("next", "/"),
        ]),
    )
    .await;
    let session = cookies(&login)
        .into_iter()
        .find(|c| c.starts_with("madoguchi_session="))
        .unwrap();
    let session = session.split(';').next().unwrap().to_owned();
    let pages = [
        "/",
        "/desk",
        "/desk/acme",
        "/desk/acme/tickets/101",
        "/desk/acme/tickets/new",
        "/desk/acme/contacts",
        "/desk/acme/search?q=Printer",
        "/desk/acme/settings/departments",
        "/desk/acme/settings/api",
        "/chat",
        "/chat/acme",
        "/chat/acme/settings",
        "/chat/acme/settings/integrations/desk",
    ];
    let inline_handler = |html: &str| {
        html.match_indices(" on").any(|(i, _)| {
            let rest = &html[i + 3..];
            let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        })
    };
    for path in pages {
        let res = raw(&app, app.http.get(app.url(path)).header("cookie", &session)).await;
        assert_eq!(res.status().as_u16(), 200, "{path}");
        let csp = header(&res, "content-security-policy");
        for part in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self' http://madoguchi.test ws://madoguchi.test",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(part), "{path}: {part} missing in {csp:?}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(header(&res, "x-frame-options"), "DENY", "{path}");
        assert_eq!(header(&res, "referrer-policy"), "same-origin", "{path}");
        let html = res.text().await.unwrap();
        assert!(!html.contains("<style"), "{path}: inline <style>");
        assert!(!html.contains(" style=\""), "{path}: a style attribute");
        assert!(!inline_handler(&html), "{path}: an inline event handler");
        for script in html.split("<script").skip(1) {
            let tag = script.split('>').next().unwrap_or("");
            assert!(
                tag.contains("src=") || tag.contains("type=\"application/json\""),
                "{path}: an inline script <script{tag}>"
            );
        }
    }
    // Logged out pages too.
    for path in ["/login", "/signup"] {
        let res = raw(&app, app.http.get(app.url(path))).await;
        assert!(header(&res, "content-security-policy").contains("frame-ancestors 'none'"));
        assert_eq!(header(&res, "x-frame-options"), "DENY");
    }
    // The widget applies its styles without a <style> element: the served script
    // carries them for a constructable stylesheet, and the file is served for the rest.
    let js = raw(&app, app.http.get(app.url("/chat/widget.js"))).await;
    let js = js.text().await.unwrap();
    assert!(!js.contains("<style"), "the widget writes no <style>");
    assert!(js.contains("adoptedStyleSheets") && js.contains(".launcher{"));
    let css = raw(&app, app.http.get(app.url("/chat/widget.css"))).await;
    assert_eq!(css.status().as_u16(), 200);
    assert!(header(&css, "content-type").starts_with("text/css"));
    assert_eq!(header(&css, "access-control-allow-origin"), "*");
}

// Item 8: cookies are built Secure with an https public URL, always HttpOnly (the
// session) and SameSite=Lax; without https, not Secure (the browser would drop it).
async fn q6_cookies_are_secure_with_an_https_public_url(backend: Backend) {
    for (public_url, secure) in [
        ("https://chat.example.com", true),
        ("http://madoguchi.test", false),
    ] {
        let Some(app) =
            TestApp::spawn_with(backend, |s| s.public_url = public_url.to_owned()).await
        else {
            return;
        };
        app.signup("suzuki@acme.example").await;
        let res = raw(
            &app,
            app.http.post(app.url("/login")).form(&[
                ("email", "suzuki@acme.example"),
                ("password", "correct horse battery"),
                ("next", "/"),
            ]),
        )
        .await;
        assert_eq!(res.status().as_u16(), 303);
        let lang = raw(&app, app.http.get(app.url("/lang?set=en&next=/"))).await;
        let all: Vec<String> = cookies(&res).into_iter().chain(cookies(&lang)).collect();
        assert_eq!(all.len(), 2, "{all:?}");
        for cookie in &all {
            let attrs: Vec<&str> = cookie.split(';').map(str::trim).collect();
            assert_eq!(attrs.contains(&"Secure"), secure, "{public_url}: {cookie}");
            assert!(attrs.contains(&"SameSite=Lax"), "{cookie}");
            assert!(attrs.contains(&"Path=/"), "{cookie}");
        }
        assert!(all[0].starts_with("madoguchi_session="));
        assert!(
            all[0].split(';').any(|a| a.trim() == "HttpOnly"),
            "{}",
            all[0]
        );
        if secure {
            let page = raw(&app, app.http.get(app.url("/login"))).await;
            let csp = header(&page, "content-security-policy");
            assert!(
                csp.contains("connect-src 'self' https://chat.example.com wss://chat.example.com"),
                "{csp}"
            );
        }
    }
}

mod q6_cookies_are_secure_with_an_https_public_url {
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::q6_cookies_are_secure_with_an_https_public_url(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::q6_cookies_are_secure_with_an_https_public_url(Backend::Postgres).await
    }
}
