//! Service routes and API conventions (API.md "Service" and "Conventions"; SPEC Q3, Q5).

use crate::both_backends;
use crate::helpers::TestApp;
use serde_json::json;

both_backends!(
    q3_signup_returns_the_user_and_a_working_token,
    q3_emails_are_unique_case_insensitively,
    q3_login_answers_the_same_error_for_any_wrong_email_or_password,
    q3_passwords_under_ten_characters_are_refused_naming_the_field,
    q3_a_revoked_token_no_longer_authenticates,
    q5_healthz_answers_ok,
);

async fn q3_signup_returns_the_user_and_a_working_token(app: TestApp) {
    let res = app
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"email": "Suzuki@Example.jp", "password": "correct horse battery", "name": "鈴木 一郎"}),
        )
        .await;
    res.assert_status(201);
    assert_eq!(res["user"]["email"], "Suzuki@Example.jp");
    assert_eq!(res["user"]["name"], "鈴木 一郎");
    let token = res["token"].as_str().unwrap();
    let me = app.get("/api/v1/auth/me", Some(token)).await;
    me.assert_status(200);
    assert_eq!(me["id"], res["user"]["id"]);
}

async fn q3_emails_are_unique_case_insensitively(app: TestApp) {
    app.signup("sato@example.jp").await;
    let res = app
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"email": "SATO@example.JP", "password": "another long one", "name": "Sato"}),
        )
        .await;
    res.assert_error(409, "email_taken");
    let login = app.log_in("Sato@Example.jp", "correct horse battery").await;
    login.assert_status(200);
    assert!(login["token"].as_str().is_some_and(|t| t.len() > 30));
}

async fn q3_login_answers_the_same_error_for_any_wrong_email_or_password(app: TestApp) {
    app.signup("tanaka@example.jp").await;
    for (email, password) in [
        ("tanaka@example.jp", "wrong password!!"),
        ("nobody@example.jp", "correct horse battery"),
    ] {
        app.log_in(email, password)
            .await
            .assert_error(401, "invalid_credentials");
    }
}

async fn q3_passwords_under_ten_characters_are_refused_naming_the_field(app: TestApp) {
    let res = app
        .request(
            app.http
                .post(app.url("/api/v1/auth/signup"))
                .header("accept-language", "en")
                .json(&json!({"email": "a@example.jp", "password": "123456789", "name": "A"})),
        )
        .await;
    res.assert_error(400, "invalid_request");
    assert_eq!(res.body["error"]["field"], "password");
    assert_eq!(
        res.body["error"]["message"],
        "The password must be at least 10 characters."
    );
}

async fn q3_a_revoked_token_no_longer_authenticates(app: TestApp) {
    let user = app.signup("kato@example.jp").await;
    app.post_empty("/api/v1/auth/logout", Some(&user.token))
        .await
        .assert_status(200);
    app.get("/api/v1/auth/me", Some(&user.token))
        .await
        .assert_error(401, "unauthenticated");
}

async fn q5_healthz_answers_ok(app: TestApp) {
    let res = app.get("/healthz", None).await;
    res.assert_status(200);
    assert_eq!(res.body, json!({"status": "ok"}));
}

#[tokio::test]
async fn q3_malformed_json_wrong_content_type_and_missing_fields_are_invalid_request() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    let url = app.url("/api/v1/auth/signup");
    let malformed = app
        .request(
            app.http
                .post(&url)
                .header("content-type", "application/json")
                .body("{\"email\":"),
        )
        .await;
    malformed.assert_error(400, "invalid_request");

    let wrong_type = app
        .request(
            app.http
                .post(&url)
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await;
    wrong_type.assert_error(400, "invalid_request");

    let missing = app
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"email": "a@example.jp", "password": "long enough pw"}),
        )
        .await;
    missing.assert_error(400, "invalid_request");
    assert_eq!(missing.body["error"]["field"], "name");

    let mistyped = app
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"email": 5, "password": "long enough pw", "name": "x"}),
        )
        .await;
    mistyped.assert_error(400, "invalid_request");
    assert_eq!(mistyped.body["error"]["field"], "email");

    let bad_email = app
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"email": "not-an-email", "password": "long enough pw", "name": "x"}),
        )
        .await;
    bad_email.assert_error(400, "invalid_request");
    assert_eq!(bad_email.body["error"]["field"], "email");
}

#[tokio::test]
async fn q3_unknown_routes_and_methods_answer_the_error_json() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    app.get("/api/v1/no-such-thing", None)
        .await
        .assert_error(404, "not_found");
    app.delete("/healthz", None)
        .await
        .assert_error(405, "method_not_allowed");
    app.get("/api/v1/auth/me", None)
        .await
        .assert_error(401, "unauthenticated");
    app.get("/api/v1/auth/me", Some("mdg_not-a-token"))
        .await
        .assert_error(401, "unauthenticated");
}

#[tokio::test]
async fn q4_error_messages_follow_accept_language_and_default_to_japanese() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    let ja = app.get("/api/v1/auth/me", None).await;
    assert_eq!(ja.body["error"]["message"], "ログインが必要です。");
    let en = app
        .request(
            app.http
                .get(app.url("/api/v1/auth/me"))
                .header("accept-language", "en-US,en;q=0.9"),
        )
        .await;
    assert_eq!(en.body["error"]["message"], "You need to log in.");
}

#[tokio::test]
async fn q3_an_oversized_body_is_refused_with_413() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    let big = format!("{{\"email\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let res = app
        .request(
            app.http
                .post(app.url("/api/v1/auth/login"))
                .header("content-type", "application/json")
                .body(big),
        )
        .await;
    res.assert_error(413, "payload_too_large");
}

#[tokio::test]
async fn q5_metrics_count_requests_by_route() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    app.get("/healthz", None).await.assert_status(200);
    let res = app.request(app.http.get(app.url("/metrics"))).await;
    res.assert_status(200);
    assert!(
        res.text.contains(
            r#"madoguchi_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{}",
        res.text
    );
    assert!(res
        .text
        .contains("madoguchi_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn q5_the_openapi_document_lists_the_routes() {
    let res = TestApp::served_openapi().await;
    assert_eq!(
        res["openapi"].as_str().map(|v| v.starts_with("3.")),
        Some(true)
    );
    for path in ["/api/v1/auth/signup", "/api/v1/auth/login", "/healthz"] {
        assert!(res["paths"][path].is_object(), "missing {path}");
    }
}

#[tokio::test]
async fn q3_page_sessions_log_in_and_forms_need_the_csrf_token() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    app.signup("page@example.jp").await;
    let res = app
        .http
        .post(app.url("/login"))
        .form(&[
            ("email", "PAGE@example.jp"),
            ("password", "correct horse battery"),
            ("next", "/desk"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/desk");
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("madoguchi_session="));

    // The session works for the API on safe methods …
    let me = app
        .with_cookie(reqwest::Method::GET, "/api/v1/auth/me", &cookie)
        .await;
    me.assert_status(200);
    // … and an unsafe method without the CSRF header is refused.
    let no_csrf = app
        .with_cookie(reqwest::Method::POST, "/api/v1/auth/logout", &cookie)
        .await;
    no_csrf.assert_error(403, "forbidden");

    // Logging out through the page needs the form's token.
    let home = app.page_html("/", &cookie).await;
    let csrf = home
        .split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    assert!(csrf.len() > 20);
    let bad = app.log_out_page(&cookie, "forged").await;
    assert_eq!(bad.status(), 403);
    let ok = app.log_out_page(&cookie, &csrf).await;
    assert_eq!(ok.status(), 303);
    let after = app
        .with_cookie(reqwest::Method::GET, "/api/v1/auth/me", &cookie)
        .await;
    after.assert_error(401, "unauthenticated");
}

#[tokio::test]
async fn q4_pages_follow_the_language_cookie_then_accept_language_then_japanese() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    let page = |headers: Vec<(&'static str, &'static str)>| {
        let mut req = app.http.get(app.url("/login"));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    let lang_of = |html: &str| madoguchi_testkit::html::Doc::parse(html).attr("html", "lang");
    assert_eq!(lang_of(&page(vec![]).await).as_deref(), Some("ja"));
    assert_eq!(
        lang_of(&page(vec![("accept-language", "en")]).await).as_deref(),
        Some("en")
    );
    let chosen = page(vec![
        ("accept-language", "en"),
        ("cookie", "madoguchi_lang=ja"),
    ])
    .await;
    let doc = madoguchi_testkit::html::Doc::parse(&chosen);
    assert_eq!(doc.attr("html", "lang").as_deref(), Some("ja"));
    assert!(doc.has("h1", "ログイン"), "{chosen}");
}

#[tokio::test]
async fn q2_data_survives_a_restart_on_the_same_data_directory() {
    let dir = std::env::temp_dir().join(format!(
        "madoguchi-restart-{}",
        uuid::Uuid::now_v7().simple()
    ));
    let spawn = || {
        TestApp::spawn_with(crate::helpers::Backend::Sqlite, |s| {
            s.data_dir = dir.clone()
        })
    };
    let first = spawn().await.unwrap();
    first.signup("durable@example.jp").await;
    first.stop().await;
    let second = spawn().await.unwrap();
    second
        .log_in("durable@example.jp", "correct horse battery")
        .await
        .assert_status(200);
    second.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
