//! The visitor experience in Chromium (SPEC V1–V6): a visitor on a plain HTML page of
//! another origin meets the offline form outside business hours, is seen moving between
//! pages in the console, rates the chat after its end and finds it ended after a reload;
//! the widget passes axe-core without serious violations.

use crate::axe::serious_violations_in;
use crate::chat::{
    create_portal, in_widget, login, wait_widget_log, widget_el, widget_press, widget_type,
    HostSite,
};
use crate::harness::{click, find, screenshot, wait_js, wait_text, Browser};
use fantoccini::Client;
use serde_json::json;

const WIDGET: &str = "[data-madoguchi-widget]";

/// Waits until `expr` (JS against the widget's shadow root `r`) is truthy.
async fn widget_until(c: &Client, what: &str, expr: &str) {
    wait_js(c, what, &in_widget(expr)).await;
}

#[track_caller]
fn assert_accessible(violations: Vec<String>) {
    assert!(
        violations.is_empty(),
        "axe-core found serious violations in the widget:\n{}",
        violations.join("\n")
    );
}

/// V2 + V1: outside business hours the widget offers the offline form (email
/// required) with the next opening time; the message is kept as a missed chat and the
/// visitor is told what happens next. Phone width; screenshot for the README.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_the_offline_form_outside_business_hours_on_a_phone() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let admin = app.signup("yamada@acme.example").await;
    create_portal(&app, &admin, "acme", "株式会社アクメ サポート").await;
    // Open 09:00–18:00 every day but closed today and tomorrow (Tokyo time).
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .date_naive();
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let weekly: serde_json::Map<String, serde_json::Value> = days
        .iter()
        .map(|d| ((*d).to_owned(), json!([["09:00", "18:00"]])))
        .collect();
    app.put(
        "/chat/api/v1/portals/acme/settings/hours",
        Some(&admin.token),
        json!({"timeZone": "Asia/Tokyo", "weekly": weekly,
            "closedDates": [today.to_string(), (today + chrono::Duration::days(1)).to_string()]}),
    )
    .await
    .assert_status(200);
    let site = HostSite::with_widget(&app, "acme", "ja").await;

    let visitor = browser.session().await;
    visitor.set_window_size(390, 844).await.unwrap();
    visitor.goto(&site.url).await.unwrap();
    widget_press(&visitor, ".launcher").await;
    widget_until(
        &visitor,
        "the offline form",
        "!r.querySelector('form.offline-form').hidden && r.querySelector('form.prechat').hidden",
    )
    .await;
    let title = widget_el(&visitor, ".offline-title")
        .await
        .text()
        .await
        .unwrap();
    assert!(title.contains("ただいまオフラインです"), "{title}");
    let next = widget_el(&visitor, "form.offline-form .next-open")
        .await
        .text()
        .await
        .unwrap();
    assert!(next.contains("次の営業開始"), "{next}");
    assert_accessible(serious_violations_in(&visitor, WIDGET).await);

    // The email is required.
    widget_type(
        &visitor,
        "form.offline-form textarea[name=message]",
        "請求書を再発行してください",
    )
    .await;
    widget_press(&visitor, ".send-offline").await;
    widget_until(
        &visitor,
        "the email asked for",
        "!r.querySelector('.offline-error').hidden",
    )
    .await;
    widget_type(&visitor, "form.offline-form input[name=name]", "佐藤 花子").await;
    widget_type(
        &visitor,
        "form.offline-form input[name=email]",
        "hanako@example.jp",
    )
    .await;
    screenshot(&visitor, "widget-offline-form").await;
    widget_press(&visitor, ".send-offline").await;
    widget_until(
        &visitor,
        "what happens next",
        "!r.querySelector('.offline-done').hidden && r.querySelector('.done-text').textContent.indexOf('hanako@example.jp') >= 0",
    )
    .await;
    let next = widget_el(&visitor, ".done-next")
        .await
        .text()
        .await
        .unwrap();
    assert!(next.contains("次の営業開始"), "{next}");

    let missed = app
        .get(
            "/chat/api/v1/portals/acme/chats?state=missed",
            Some(&admin.token),
        )
        .await;
    let data = missed["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{}", missed.text);
    assert_eq!(data[0]["offlineMessage"], true);
    assert_eq!(data[0]["question"], "請求書を再発行してください");
    assert_eq!(data[0]["visitor"]["email"], "hanako@example.jp");

    visitor.close().await.unwrap();
    app.stop().await;
}

/// V4, V5, V6 and V1 in one conversation: with the console open the widget offers a
/// chat; the console shows the page the visitor is on and follows a history-API page
/// change; the header says an operator is with the visitor as soon as they join; links
/// are clickable (and safe); after the end the visitor rates the chat (the console shows
/// it) and, after a reload, sees the chat ended with a way to start a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v4_v5_v6_pages_in_the_console_rating_after_the_end_and_the_ended_state_after_a_reload() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let operator = app.signup("yamada@acme.example").await;
    create_portal(&app, &operator, "acme", "株式会社アクメ サポート").await;
    let site = HostSite::with_widget(&app, "acme", "ja").await;

    let op = browser.session().await;
    login(&op, &app, &operator, "/chat/acme").await;
    find(&op, "#console[data-connection=live]").await;

    let visitor = browser.session().await;
    visitor.goto(&site.url).await.unwrap();
    widget_press(&visitor, ".launcher").await;
    widget_until(
        &visitor,
        "the chat form (an operator is online)",
        "!r.querySelector('form.prechat').hidden && r.querySelector('form.offline-form').hidden",
    )
    .await;
    widget_type(&visitor, "form.prechat input[name=name]", "鈴木 一郎").await;
    widget_type(
        &visitor,
        "form.prechat textarea[name=question]",
        "料金について教えてください",
    )
    .await;
    widget_press(&visitor, "button.start").await;
    wait_widget_log(&visitor, "料金について教えてください").await;

    // V4: the console shows the page the visitor is on, then follows the page change.
    let item = ".q-section.waiting .q-item";
    wait_text(&op, item, "鈴木 一郎").await;
    click(&op, item).await;
    wait_text(&op, "#visitor-extra", "閲覧中のページ").await;
    wait_text(&op, "#visitor-extra .ve-current", "Acme").await;
    visitor
        .execute(
            "document.title = '料金プラン'; history.pushState({}, '', '/pricing');",
            vec![],
        )
        .await
        .unwrap();
    wait_text(&op, "#visitor-extra .ve-current", "料金プラン").await;
    wait_text(&op, "#visitor-extra .ve-trail", "Acme").await;
    let href = op
        .execute(
            "return document.querySelector('#visitor-extra .ve-current a').getAttribute('href')",
            vec![],
        )
        .await
        .unwrap();
    assert!(href.as_str().unwrap().ends_with("/pricing"), "{href}");

    // V6: joined → the header says so at once, before any operator message.
    click(&op, ".chat-actions .accept").await;
    widget_until(
        &visitor,
        "the header after the operator joined",
        "r.querySelector('.head .status').textContent === 'オペレーターが対応しています'",
    )
    .await;
    // V6: a link in a message is clickable, safely; a javascript: one is not.
    let composer = find(&op, ".composer textarea:not([disabled])").await;
    composer
        .send_keys(
            "料金表はこちら https://example.com/pricing?plan=pro です javascript:alert(1)\u{E007}",
        )
        .await
        .unwrap();
    widget_until(
        &visitor,
        "the link in the operator's message",
        "r.querySelector('.msg.operator .bubble a[href=\"https://example.com/pricing?plan=pro\"]') !== null",
    )
    .await;
    let link = visitor
        .execute(
            &in_widget(
                "(function (a) { return [a.rel, a.target, a.textContent, r.querySelectorAll('.msg.operator .bubble a').length]; })(r.querySelector('.msg.operator .bubble a'))",
            ),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        link,
        json!([
            "noopener noreferrer",
            "_blank",
            "https://example.com/pricing?plan=pro",
            1
        ])
    );
    wait_js(
        &op,
        "the link in the console",
        "return document.querySelector('.transcript:not([hidden]) .bubble a[rel=\"noopener noreferrer\"]') !== null",
    )
    .await;

    // V5: the operator ends the chat; the visitor rates it; the console shows it.
    op.execute("window.confirm = function () { return true; }", vec![])
        .await
        .unwrap();
    click(&op, ".chat-actions .end").await;
    widget_until(
        &visitor,
        "the ended chat with the rating form",
        "!r.querySelector('.ended-box').hidden && !r.querySelector('.rating-box').hidden && r.querySelector('form.composer').hidden",
    )
    .await;
    assert_accessible(serious_violations_in(&visitor, WIDGET).await);
    widget_press(&visitor, ".rating-choices input[value=good]").await;
    widget_type(
        &visitor,
        ".rating-form textarea[name=comment]",
        "すぐに答えてもらえました",
    )
    .await;
    widget_press(&visitor, ".send-rating").await;
    widget_until(
        &visitor,
        "thanks for the rating",
        "!r.querySelector('.rating-box .thanks').hidden",
    )
    .await;
    wait_text(&op, "#visitor-extra .ve-rating", "良い").await;
    wait_text(&op, "#visitor-extra .ve-rating", "すぐに答えてもらえました").await;

    // V6: after a reload the chat shows as ended: transcript, no message box, no end
    // button, a new chat on offer.
    visitor.refresh().await.unwrap();
    widget_until(
        &visitor,
        "the ended chat after the reload",
        "!r.querySelector('.ended-box').hidden && r.querySelector('form.composer').hidden && r.querySelector('.leave').hidden && !r.querySelector('.new-chat').hidden",
    )
    .await;
    wait_widget_log(&visitor, "料金について教えてください").await;
    widget_until(
        &visitor,
        "the rating remembered",
        "!r.querySelector('.rating-box .thanks').hidden || r.querySelector('.rating-box').hidden",
    )
    .await;
    widget_press(&visitor, ".new-chat").await;
    widget_until(
        &visitor,
        "a fresh chat form",
        "!r.querySelector('form.prechat').hidden && r.querySelector('.ended-box').hidden",
    )
    .await;

    visitor.close().await.unwrap();
    op.close().await.unwrap();
    app.stop().await;
}
