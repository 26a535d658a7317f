//! Pages answer a browser with HTML (issue 10): someone signed out is sent to the login
//! page, someone who is no member or operator of the portal, or who names an unknown one,
//! gets an error page in their language, never the API's JSON; and a Chat page's forms
//! post back like the Desk's (post/redirect/get, or the page again with the error).

use crate::both_backends;
use crate::chat::portal_with_admin;
use crate::helpers::TestApp;

both_backends!(
    q4_a_signed_out_or_wrong_portal_browser_gets_html_from_desk_and_chat_pages,
    o1_the_canned_responses_page_adds_saves_and_deletes_with_server_forms,
);

/// Status, `Location`, content type and body of a page.
pub(crate) async fn answer(req: reqwest::RequestBuilder) -> (u16, String, String, String) {
    let page = madoguchi_testkit::html::Page::read(req.send().await.unwrap()).await;
    (page.status, page.location, page.content_type, page.html)
}

pub(crate) async fn get_page(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
) -> (u16, String, String, String) {
    let mut req = app.http.get(app.url(path)).header("accept", "text/html");
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    answer(req).await
}

/// A form post with the session cookie: status, `Location` and body.
async fn post_page(
    app: &TestApp,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> (u16, String, String) {
    let req = app
        .http
        .post(app.url(path))
        .header("cookie", cookie)
        .form(form);
    let (status, location, _, body) = answer(req).await;
    (status, location, body)
}

async fn q4_a_signed_out_or_wrong_portal_browser_gets_html_from_desk_and_chat_pages(app: TestApp) {
    let owner = portal_with_admin(&app, "owner@acme.example", "acme").await;
    madoguchi_testkit::desk::portal_by(&app, &owner.token, "acme", "Acme Desk").await;
    let pages = [
        "/desk/acme",
        "/desk/acme/tickets/101",
        "/desk/acme/settings/api",
        "/chat/acme",
        "/chat/acme/settings",
        "/chat/acme/settings/canned-responses",
        "/chat/acme/settings/integrations/desk",
    ];

    // Signed out: to the login page, coming back here afterwards.
    for path in pages {
        let (status, location, content_type, _) = get_page(&app, path, None).await;
        assert_eq!(status, 303, "{path}");
        let next = path.replace('/', "%2F");
        assert_eq!(location, format!("/login?next={next}"), "{path}");
        assert!(!content_type.contains("json"), "{path}: {content_type}");
    }

    // Signed in, but neither a member nor an operator of `acme`: a 403 page.
    app.signup("stranger@example.jp").await;
    let cookie = app.session_cookie("stranger@example.jp").await;
    let not_member = |path: &str| {
        if path.starts_with("/desk") {
            "このポータルのメンバーではありません"
        } else {
            "このポータルのオペレーターではありません"
        }
    };
    for path in pages {
        let (status, _, content_type, html) = get_page(&app, path, Some(&cookie)).await;
        assert_eq!(status, 403, "{path}");
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
        assert!(html.starts_with("<!DOCTYPE html>"), "{path}");
        assert!(html.contains(not_member(path)), "{path}");
    }

    // An unknown portal: a 404 page.
    for (path, words) in [
        ("/desk/nosuch", "このポータルは見つかりませんでした"),
        (
            "/desk/nosuch/contacts",
            "このポータルは見つかりませんでした",
        ),
        ("/chat/nosuch", "このポータルは見つかりません"),
        ("/chat/nosuch/settings", "このポータルは見つかりません"),
        (
            "/chat/nosuch/settings/integrations/desk",
            "このチャットのポータルは見つかりません",
        ),
    ] {
        let (status, _, content_type, html) = get_page(&app, path, Some(&cookie)).await;
        assert_eq!(status, 404, "{path}");
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
        assert!(html.contains(words), "{path}");
    }
    app.stop().await;
}

/// The `csrf-token` of a page.
pub(crate) fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned()
}

/// O1: the canned responses page works without JS: add, the duplicate refused in the
/// form (422, what was typed kept), save, delete; a post without the token is refused.
async fn o1_the_canned_responses_page_adds_saves_and_deletes_with_server_forms(app: TestApp) {
    let owner = portal_with_admin(&app, "owner@acme.example", "acme").await;
    let cookie = app.session_cookie("owner@acme.example").await;
    let path = "/chat/acme/settings/canned-responses";
    let (status, _, _, html) = get_page(&app, path, Some(&cookie)).await;
    assert_eq!(status, 200);
    let csrf = csrf_of(&html);

    let add = [
        ("_csrf", csrf.as_str()),
        ("shortcut", "hello"),
        ("scope", "portal"),
        ("departmentId", ""),
        ("text", "こんにちは、{visitor.name}様"),
    ];
    let (status, location, _) = post_page(&app, path, &cookie, &add).await;
    assert_eq!((status, location.as_str()), (303, path));
    let list = app
        .get(
            "/chat/api/v1/portals/acme/canned-responses",
            Some(&owner.token),
        )
        .await;
    list.assert_status(200);
    let id = list["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list["data"][0]["shortcut"], "hello");
    assert_eq!(list["data"][0]["scope"], "portal");

    let (status, _, html) = post_page(&app, path, &cookie, &add).await;
    assert_eq!(status, 422);
    assert!(html.contains("form-error"), "{html}");
    assert!(html.contains("aria-invalid=\"true\""), "{html}");

    let row = format!("{path}/{id}");
    let save = [
        ("_csrf", csrf.as_str()),
        ("shortcut", "hi"),
        ("text", "やあ"),
    ];
    let (status, location, _) = post_page(&app, &row, &cookie, &save).await;
    assert_eq!((status, location.as_str()), (303, path));
    let one = app
        .get(
            "/chat/api/v1/portals/acme/canned-responses",
            Some(&owner.token),
        )
        .await;
    assert_eq!(one["data"][0]["shortcut"], "hi");
    assert_eq!(one["data"][0]["text"], "やあ");

    let (status, _, _) = post_page(
        &app,
        &format!("{row}/delete"),
        &cookie,
        &[("_csrf", "nope")],
    )
    .await;
    assert_eq!(status, 403);
    let delete = [("_csrf", csrf.as_str())];
    let (status, location, _) = post_page(&app, &format!("{row}/delete"), &cookie, &delete).await;
    assert_eq!((status, location.as_str()), (303, path));
    let none = app
        .get(
            "/chat/api/v1/portals/acme/canned-responses",
            Some(&owner.token),
        )
        .await;
    assert_eq!(none["data"].as_array().unwrap().len(), 0);
    app.stop().await;
}
