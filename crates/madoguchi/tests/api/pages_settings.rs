//! The Chat settings page and Settings > Integrations > Desk post server forms (issue
//! 10): each form works without JS, like a browser posts it: a change redirects (303)
//! and shows in the JSON API; a bad value answers the page again (422, HTML) with the
//! message at its field; a post without this session's token, or from an operator who
//! is no admin, is refused with an HTML page.
#![allow(clippy::unwrap_used)]

use crate::both_backends;
use crate::chat::portal_with_admin;
use crate::helpers::TestApp;
use crate::integration::{World, I13_JA, I3_JA};
use crate::pages_html::{answer, csrf_of, get_page};
use madoguchi_testkit::html::Doc;
use serde_json::json;

both_backends!(
    c1_c5_v2_v3_the_chat_settings_forms_change_plan_limits_and_hours,
    c2_departments_and_operators_are_added_with_server_forms,
    c1_c2_a_post_without_the_token_or_from_a_non_admin_is_refused_with_html,
    i13_the_notice_after_a_new_department_undoes_the_association_with_a_form,
    i2_i3_i4_i6_i7_i9_the_desk_integration_page_links_changes_and_disables_without_js,
);

/// A form post like a browser's: status, `Location`, content type and body.
async fn post(
    app: &TestApp,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> (u16, String, String, String) {
    let req = app
        .http
        .post(app.url(path))
        .header("cookie", cookie)
        .header("accept", "text/html")
        .form(form);
    answer(req).await
}

/// The text of the first element matching `css` as a browser shows it (the link or
/// button inside a sentence adds no space, which `Doc::text` puts between nodes).
fn raw_text(doc: &Doc, css: &str) -> String {
    doc.all(css)
        .first()
        .map(|el| el.text().collect())
        .unwrap_or_default()
}

/// The session cookie of `email` and the CSRF token of its pages.
async fn session(app: &TestApp, email: &str, page: &str) -> (String, String) {
    let cookie = app.session_cookie(email).await;
    let (status, _, _, html) = get_page(app, page, Some(&cookie)).await;
    assert_eq!(status, 200, "{html}");
    let csrf = csrf_of(&html);
    (cookie, csrf)
}

const SETTINGS: &str = "/chat/acme/settings";
const API: &str = "/chat/api/v1/portals/acme";

/// C1: the plan; C5, O3, V3: the general form (the file size typed in MB); V2: the
/// business hours typed as text, Japanese separators too.
async fn c1_c5_v2_v3_the_chat_settings_forms_change_plan_limits_and_hours(app: TestApp) {
    let owner = portal_with_admin(&app, "owner@acme.example", "acme").await;
    let t = Some(owner.token.as_str());
    let (cookie, csrf) = session(&app, "owner@acme.example", SETTINGS).await;
    let csrf = csrf.as_str();

    let plan = format!("{SETTINGS}/plan");
    let (status, location, _, _) = post(
        &app,
        &plan,
        &cookie,
        &[("_csrf", csrf), ("plan", "professional")],
    )
    .await;
    assert_eq!((status, location.as_str()), (303, SETTINGS));
    let portal = app.get(API, t).await;
    assert_eq!(portal["plan"], "professional");
    assert_eq!(portal["onTrial"], false);
    let (status, _, content_type, html) =
        post(&app, &plan, &cookie, &[("_csrf", csrf), ("plan", "gold")]).await;
    assert_eq!(status, 422);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(Doc::parse(&html).field_error("plan").is_some(), "{html}");

    let general = format!("{SETTINGS}/general");
    let form = |missed: &'static str| {
        [
            ("_csrf", csrf),
            ("missedAfterSeconds", missed),
            ("idleEndAfterSeconds", "1800"),
            ("routing", "least_busy"),
            ("maxChatsPerOperator", "3"),
            ("maxAttachmentBytes", "2.5"),
        ]
    };
    let (status, _, _, html) = post(&app, &general, &cookie, &form("0")).await;
    assert_eq!(status, 422);
    let doc = Doc::parse(&html);
    assert!(doc.field_error("missedAfterSeconds").is_some(), "{html}");
    assert_eq!(doc.input_value("missedAfterSeconds").as_deref(), Some("0"));
    assert_eq!(
        doc.attr("input[name=missedAfterSeconds]", "aria-invalid")
            .as_deref(),
        Some("true")
    );
    let (status, location, _, _) = post(&app, &general, &cookie, &form("90")).await;
    assert_eq!((status, location.as_str()), (303, SETTINGS));
    let settings = app.get(&format!("{API}/settings"), t).await;
    assert_eq!(settings["missedAfterSeconds"], 90);
    assert_eq!(settings["idleEndAfterSeconds"], 1800);
    assert_eq!(settings["routing"], "least_busy");
    assert_eq!(settings["maxChatsPerOperator"], 3);
    assert_eq!(settings["maxAttachmentBytes"], 2_621_440);
    let (_, _, _, html) = get_page(&app, SETTINGS, Some(&cookie)).await;
    let doc = Doc::parse(&html);
    assert_eq!(
        doc.input_value("maxAttachmentBytes").as_deref(),
        Some("2.5")
    );
    assert_eq!(doc.input_value("missedAfterSeconds").as_deref(), Some("90"));

    let hours = format!("{SETTINGS}/hours");
    let (status, location, _, _) = post(
        &app,
        &hours,
        &cookie,
        &[
            ("_csrf", csrf),
            ("timeZone", "Asia/Tokyo"),
            ("day-mon", "09:00-12:00、13:00〜18:00"),
            ("day-tue", "10:00 - 17:00"),
            ("day-sun", ""),
            ("closedDates", "2026-12-31\n2027-01-01"),
        ],
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/chat/acme/settings#hours")
    );
    let saved = app.get(&format!("{API}/settings/hours"), t).await;
    assert_eq!(
        saved["weekly"]["mon"],
        json!([["09:00", "12:00"], ["13:00", "18:00"]])
    );
    assert_eq!(saved["weekly"]["tue"], json!([["10:00", "17:00"]]));
    assert!(saved["weekly"]["sun"].is_null(), "{}", saved.text);
    assert_eq!(saved["closedDates"], json!(["2026-12-31", "2027-01-01"]));
    let (status, _, _, html) = post(
        &app,
        &hours,
        &cookie,
        &[
            ("_csrf", csrf),
            ("timeZone", "Asia/Tokyo"),
            ("day-mon", "25:00-26:00"),
            ("closedDates", ""),
        ],
    )
    .await;
    assert_eq!(status, 422);
    let doc = Doc::parse(&html);
    assert!(doc.field_error("weekly").is_some(), "{html}");
    assert_eq!(doc.input_value("day-mon").as_deref(), Some("25:00-26:00"));
    app.stop().await;
}

/// C2: a department (a duplicate refused at its field) and an operator by email with
/// departments (an unknown or malformed email refused at the field).
async fn c2_departments_and_operators_are_added_with_server_forms(app: TestApp) {
    let owner = portal_with_admin(&app, "owner@acme.example", "acme").await;
    let t = Some(owner.token.as_str());
    let colleague = app.signup("sato@acme.example").await;
    let (cookie, csrf) = session(&app, "owner@acme.example", SETTINGS).await;
    let csrf = csrf.as_str();

    let departments = format!("{SETTINGS}/departments");
    let add = [("_csrf", csrf), ("name", "サポート")];
    let (status, location, _, _) = post(&app, &departments, &cookie, &add).await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/chat/acme/settings#departments")
    );
    let list = app.get(&format!("{API}/departments"), t).await;
    assert_eq!(list["data"][0]["name"], "サポート");
    let dept = list["data"][0]["id"].as_str().unwrap().to_owned();
    let (status, _, _, html) = post(&app, &departments, &cookie, &add).await;
    assert_eq!(status, 422);
    let doc = Doc::parse(&html);
    assert!(doc.field_error("name").is_some(), "{html}");
    assert_eq!(doc.input_value("name").as_deref(), Some("サポート"));

    let operators = format!("{SETTINGS}/operators");
    for email in ["nobody@example.jp", "not an email"] {
        let (status, _, _, html) = post(
            &app,
            &operators,
            &cookie,
            &[("_csrf", csrf), ("email", email), ("role", "operator")],
        )
        .await;
        assert_eq!(status, 422, "{email}: {html}");
        let doc = Doc::parse(&html);
        assert!(doc.field_error("email").is_some(), "{email}: {html}");
        assert_eq!(doc.input_value("email").as_deref(), Some(email));
    }
    let (status, location, _, _) = post(
        &app,
        &operators,
        &cookie,
        &[
            ("_csrf", csrf),
            ("email", &colleague.email),
            ("role", "supervisor"),
            ("departmentIds", &dept),
        ],
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/chat/acme/settings#operators")
    );
    let ops = app.get(&format!("{API}/operators"), t).await;
    let added = ops["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["email"] == colleague.email.as_str())
        .expect("the new operator")
        .clone();
    assert_eq!(added["role"], "supervisor");
    assert_eq!(added["departmentIds"], json!([dept]));
    app.stop().await;
}

/// C1, C2: without the token (or with another one) nothing changes; an operator who is
/// no admin sees the controls disabled and their post is refused, as HTML.
async fn c1_c2_a_post_without_the_token_or_from_a_non_admin_is_refused_with_html(app: TestApp) {
    let owner = portal_with_admin(&app, "owner@acme.example", "acme").await;
    let t = Some(owner.token.as_str());
    let colleague = app.signup("sato@acme.example").await;
    app.post(
        &format!("{API}/operators"),
        t,
        json!({"email": colleague.email, "role": "operator"}),
    )
    .await
    .assert_status(201);
    let (cookie, _) = session(&app, "owner@acme.example", SETTINGS).await;
    for sent in [vec![], vec![("_csrf", "not-the-token")]] {
        let mut form = sent.clone();
        form.push(("plan", "free"));
        let (status, _, content_type, _) =
            post(&app, &format!("{SETTINGS}/plan"), &cookie, &form).await;
        assert_eq!(status, 403, "{sent:?}");
        assert!(content_type.starts_with("text/html"), "{content_type}");
    }
    let mut name = vec![("name", "営業")];
    name.push(("_csrf", "x"));
    let (status, _, _, _) = post(&app, &format!("{SETTINGS}/departments"), &cookie, &name).await;
    assert_eq!(status, 403);
    let list = app.get(&format!("{API}/departments"), t).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    assert_ne!(app.get(API, t).await["plan"], "free");

    let (other, other_csrf) = session(&app, &colleague.email, SETTINGS).await;
    let (_, _, _, html) = get_page(&app, SETTINGS, Some(&other)).await;
    let doc = Doc::parse(&html);
    assert!(doc.exists("#plan button[type=submit][disabled]"), "{html}");
    assert!(!doc.exists("#operators form"), "{html}");
    for (path, form) in [
        ("plan", vec![("plan", "free")]),
        ("general", vec![("missedAfterSeconds", "60")]),
        ("departments", vec![("name", "営業")]),
        (
            "operators",
            vec![("email", "owner@acme.example"), ("role", "operator")],
        ),
    ] {
        let mut form = form;
        form.push(("_csrf", other_csrf.as_str()));
        let (status, _, content_type, body) =
            post(&app, &format!("{SETTINGS}/{path}"), &other, &form).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
        assert!(!body.trim_start().starts_with('{'), "{path}: {body}");
    }
    let settings = app.get(&format!("{API}/settings"), t).await;
    assert_ne!(settings["missedAfterSeconds"], 60);
    app.stop().await;
}

/// I13: a new department with a same-named Desk department is associated; the page
/// after the redirect says so, and its 「こちらをクリック」 is a form that removes it.
async fn i13_the_notice_after_a_new_department_undoes_the_association_with_a_form(app: TestApp) {
    let w = World::linked(app).await;
    w.app
        .post(
            &w.desk_api("/departments"),
            w.token(),
            json!({"name": "営業"}),
        )
        .await
        .assert_status(201);
    let page = format!("/chat/{}/settings", w.chat);
    let (cookie, csrf) = session(&w.app, &w.admin.email, &page).await;
    let (status, location, _, _) = post(
        &w.app,
        &format!("{page}/departments"),
        &cookie,
        &[("_csrf", &csrf), ("name", "営業")],
    )
    .await;
    assert_eq!(status, 303);
    assert!(
        location.starts_with(&format!("{page}?associated=")),
        "{location}"
    );
    let (status, _, _, html) = get_page(&w.app, &location, Some(&cookie)).await;
    assert_eq!(status, 200);
    let doc = Doc::parse(&html);
    assert_eq!(raw_text(&doc, ".flash"), I13_JA, "{html}");
    let undo = doc
        .attr("form#undo-association", "action")
        .expect("the undo form");
    assert_eq!(
        doc.attr(".flash button.undo-association", "form")
            .as_deref(),
        Some("undo-association")
    );
    let mapped = |v: &serde_json::Value| {
        v["departments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["chatDepartmentName"] == "営業" && d["mode"] == "mapped")
    };
    assert!(mapped(&w.get_integ().await.body));

    let (status, _, _, _) = post(&w.app, &undo, &cookie, &[("_csrf", "nope")]).await;
    assert_eq!(status, 403);
    assert!(mapped(&w.get_integ().await.body));
    let (status, location, _, _) = post(&w.app, &undo, &cookie, &[("_csrf", &csrf)]).await;
    assert_eq!(
        (status, location.as_str()),
        (303, format!("{page}?undone=1").as_str())
    );
    assert!(!mapped(&w.get_integ().await.body));
    let (_, _, _, html) = get_page(&w.app, &location, Some(&cookie)).await;
    let doc = Doc::parse(&html);
    assert_eq!(
        doc.text(".flash").as_deref(),
        Some("関連付けを解除しました。"),
        "{html}"
    );
    // The old address says nothing once the association is gone.
    let (_, _, _, html) = get_page(&w.app, &format!("{page}?associated=x"), Some(&cookie)).await;
    assert!(!Doc::parse(&html).exists(".flash"), "{html}");
    w.app.stop().await;
}

/// I2: the big button; I4: a Desk admin of two portals chooses one; I3: for someone else it shows the
/// message (its last words link to signup) and the three fields, a wrong key refused
/// at its field; I6: disable and enable; I7: the settings form; I9: a department's
/// mode; a non-admin's post and a post without the token are refused with HTML.
async fn i2_i3_i4_i6_i7_i9_the_desk_integration_page_links_changes_and_disables_without_js(
    app: TestApp,
) {
    let w = World::new(app).await;
    let app = &w.app;
    let key = app
        .post(&w.desk_api("/settings/service-key"), w.token(), json!({}))
        .await["serviceKey"]
        .as_str()
        .unwrap()
        .to_owned();

    // I2 on acme-chat: its admin is the Desk admin, of two portals, so I4: the page
    // again with the choice, and the chosen one linked.
    w.desk_portal(&w.admin, "acme-2").await;
    let page = format!("/chat/{}/settings/integrations/desk", w.chat);
    let (cookie, csrf) = session(app, &w.admin.email, &page).await;
    let first = [("_csrf", csrf.as_str()), ("via", "first")];
    let (status, _, _, html) = post(app, &format!("{page}/enable"), &cookie, &first).await;
    assert_eq!(status, 422, "{html}");
    let doc = Doc::parse(&html);
    assert_eq!(
        doc.attrs("#choose-portal input[name=deskPortalName]", "value"),
        ["acme", "acme-2"]
    );
    let choose = [
        ("_csrf", csrf.as_str()),
        ("via", "choose"),
        ("deskPortalName", "acme"),
    ];
    let (status, location, _, _) = post(app, &format!("{page}/enable"), &cookie, &choose).await;
    assert_eq!((status, location.as_str()), (303, page.as_str()));
    let integ = w.get_integ().await;
    assert_eq!(integ["status"], "enabled");
    assert_eq!(integ["link"]["deskPortalName"], "acme");

    // I3 on another portal whose admin is no Desk admin.
    let other = app.signup("chat-admin@acme.example.jp").await;
    let ot = Some(other.token.as_str());
    madoguchi_testkit::chat::portal_by(app, &other.token, "b-chat", "B").await;
    let dept = app
        .post(
            "/chat/api/v1/portals/b-chat/departments",
            ot,
            json!({"name": "経理"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_api = "/chat/api/v1/portals/b-chat/integrations/desk";
    let b = "/chat/b-chat/settings/integrations/desk";
    let (cookie, csrf) = session(app, &other.email, b).await;
    let csrf = csrf.as_str();
    let first = [("_csrf", csrf), ("via", "first")];
    let (status, _, content_type, html) = post(app, &format!("{b}/enable"), &cookie, &first).await;
    assert_eq!(status, 422);
    assert!(content_type.starts_with("text/html"));
    let doc = Doc::parse(&html);
    assert_eq!(raw_text(&doc, "#not-desk-admin-message"), I3_JA);
    assert_eq!(
        doc.attr("#not-desk-admin-message a.signup-link", "href")
            .as_deref(),
        Some("/signup")
    );
    assert!(doc.has_form(&format!("{b}/enable")));
    fn manual<'a>(csrf: &'a str, key: &'a str) -> [(&'a str, &'a str); 5] {
        [
            ("_csrf", csrf),
            ("via", "manual"),
            ("adminEmail", "admin@acme.example.jp"),
            ("serviceKey", key),
            ("deskPortalName", "acme"),
        ]
    }
    let (status, _, _, html) =
        post(app, &format!("{b}/enable"), &cookie, &manual(csrf, "wrong")).await;
    assert_eq!(status, 422);
    let doc = Doc::parse(&html);
    assert!(doc.field_error("serviceKey").is_some(), "{html}");
    assert_eq!(
        doc.input_value("adminEmail").as_deref(),
        Some("admin@acme.example.jp")
    );
    assert!(doc.exists("#manual-link #not-desk-admin-message"));
    let (status, location, _, _) =
        post(app, &format!("{b}/enable"), &cookie, &manual(csrf, &key)).await;
    assert_eq!((status, location.as_str()), (303, b));
    assert_eq!(app.get(b_api, ot).await["status"], "enabled");

    // I5: a wrong key in the change form is refused there, the form open.
    let link = [
        ("_csrf", csrf),
        ("adminEmail", "admin@acme.example.jp"),
        ("serviceKey", "wrong"),
        ("deskPortalName", "acme"),
    ];
    let (status, _, _, html) = post(app, &format!("{b}/link"), &cookie, &link).await;
    assert_eq!(status, 422);
    let doc = Doc::parse(&html);
    assert!(doc.field_error("serviceKey").is_some(), "{html}");
    assert!(doc.exists("#change-form:not([hidden]) input[name=serviceKey]"));

    // I7, I9: settings and a department's mode.
    let settings = [
        ("_csrf", csrf),
        ("autoTicket", "attended"),
        ("ticketStatus", "Closed"),
        ("viewScope", "associated"),
    ];
    let saved = format!("{b}?saved=1");
    let (status, location, _, _) = post(app, &format!("{b}/settings"), &cookie, &settings).await;
    assert_eq!((status, location.as_str()), (303, saved.as_str()));
    let integ = app.get(b_api, ot).await;
    assert_eq!(integ["settings"]["autoTicket"], "attended");
    assert_eq!(integ["settings"]["ticketStatus"], "Closed");
    assert_eq!(integ["settings"]["viewScope"], "associated");
    let (_, _, _, html) = get_page(app, &saved, Some(&cookie)).await;
    assert_eq!(
        Doc::parse(&html).text(".page-saved").as_deref(),
        Some("保存しました")
    );
    let row = format!("{b}/departments/{dept}");
    let mode = [("_csrf", csrf), ("mode", "view_only")];
    let (status, location, _, _) = post(app, &row, &cookie, &mode).await;
    assert_eq!((status, location.as_str()), (303, saved.as_str()));
    assert_eq!(
        app.get(b_api, ot).await["departments"][0]["mode"],
        "view_only"
    );
    let (status, _, _, html) =
        post(app, &row, &cookie, &[("_csrf", csrf), ("mode", "bogus")]).await;
    assert_eq!(status, 422, "{html}");
    assert!(Doc::parse(&html).exists(".page-error"), "{html}");

    // I6: disable, enable again.
    let token = [("_csrf", csrf)];
    let (status, location, _, _) = post(app, &format!("{b}/disable"), &cookie, &token).await;
    assert_eq!((status, location.as_str()), (303, b));
    assert_eq!(app.get(b_api, ot).await["status"], "disabled");
    let (status, _, _, _) = post(app, &format!("{b}/enable"), &cookie, &[("via", "again")]).await;
    assert_eq!(status, 403);
    assert_eq!(app.get(b_api, ot).await["status"], "disabled");
    let again = [("_csrf", csrf), ("via", "again")];
    let (status, location, _, _) = post(app, &format!("{b}/enable"), &cookie, &again).await;
    assert_eq!((status, location.as_str()), (303, b));
    assert_eq!(app.get(b_api, ot).await["status"], "enabled");

    // An operator who is no admin: refused with HTML, nothing changed.
    let sato = app.signup("sato@acme.example.jp").await;
    app.post(
        "/chat/api/v1/portals/b-chat/operators",
        ot,
        json!({"email": sato.email, "role": "operator"}),
    )
    .await
    .assert_status(201);
    let (sato_cookie, sato_csrf) = session(app, &sato.email, b).await;
    let (_, _, _, html) = get_page(app, b, Some(&sato_cookie)).await;
    assert!(!Doc::parse(&html).exists("#disable"), "{html}");
    let (status, _, content_type, body) = post(
        app,
        &format!("{b}/disable"),
        &sato_cookie,
        &[("_csrf", sato_csrf.as_str())],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert_eq!(app.get(b_api, ot).await["status"], "enabled");
    w.app.stop().await;
}
