//! Account pages seen through a browser: the harness works end to end.

use crate::harness::{click, fill, find, wait_text, Browser};

/// Q4: a person signs up and logs in through the pages, in Japanese and in English,
/// and lands on the home page with both apps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q4_signup_and_login_pages_lead_home_in_japanese_and_english() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let c = browser.session().await;

    // Sign up (Japanese is the default page language without a choice).
    c.goto(&app.url("/lang?set=ja&next=/signup")).await.unwrap();
    fill(&c, "input[name=name]", "鈴木 一郎").await;
    fill(&c, "input[name=email]", "suzuki@example.jp").await;
    fill(&c, "input[name=password]", "correct horse battery").await;
    click(&c, "form.stack button[type=submit]").await;
    wait_text(&c, "main", "ようこそ、鈴木 一郎 さん").await;
    find(&c, ".app-card a[href='/chat']").await;

    // Log out, switch to English, log in through /login.
    click(&c, "form[action='/logout'] button").await;
    wait_text(&c, "main h1", "ログイン").await;
    click(&c, "a.lang-switch").await;
    wait_text(&c, "main h1", "Log in").await;
    fill(&c, "input[name=email]", "suzuki@example.jp").await;
    fill(&c, "input[name=password]", "wrong password!!").await;
    click(&c, "form.stack button[type=submit]").await;
    find(&c, "p.alert.error").await;
    fill(&c, "input[name=password]", "correct horse battery").await;
    click(&c, "form.stack button[type=submit]").await;
    // The saved choice (Japanese, from signup) wins over the cookie until switched.
    wait_text(&c, "main", "ようこそ、鈴木 一郎 さん").await;
    click(&c, "a.lang-switch").await;
    wait_text(&c, "main", "Welcome, 鈴木 一郎").await;

    c.close().await.unwrap();
    app.stop().await;
}
