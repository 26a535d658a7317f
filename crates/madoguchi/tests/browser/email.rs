//! Settings > Channels > Email and a ticket's mail thread in the browser (SPEC E1, E4):
//! an admin adds a mailbox on the page and tests the connection against a real Dovecot
//! and SMTP server; a mail becomes a ticket whose reply shows its delivery state.

use crate::chat::login;
use crate::harness::{
    click, click_and_wait_for_reload, fill, find, screenshot, wait_text, Browser,
};
use crate::mail_servers::{available, Dovecot, SmtpSink, PASSWORD};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e1_e4_a_mailbox_is_added_and_tested_on_the_page_and_a_reply_shows_its_delivery() {
    if !available() {
        return;
    }
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let admin = app.signup("admin@acme.example").await;
    madoguchi_testkit::desk::portal_by(&app, &admin.token, "acme", "ACME サポート").await;
    let imap = Dovecot::start().await;
    let smtp = SmtpSink::start().await;
    let c = browser.session().await;
    login(&c, &app, &admin, "/desk/acme/settings/email").await;
    find(&c, "#no-mailboxes").await;
    let form = "#mailbox-form";
    fill(
        &c,
        &format!("{form} input[name=address]"),
        "support@acme.example",
    )
    .await;
    fill(
        &c,
        &format!("{form} input[name=displayName]"),
        "ACME サポート",
    )
    .await;
    fill(&c, &format!("{form} input[name=imapHost]"), "127.0.0.1").await;
    fill(
        &c,
        &format!("{form} input[name=imapPort]"),
        &imap.port.to_string(),
    )
    .await;
    c.find(fantoccini::Locator::Css(&format!(
        "{form} select[name=imapSecurity] option[value=none]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    fill(&c, &format!("{form} input[name=imapUsername]"), "support").await;
    fill(&c, &format!("{form} input[name=imapPassword]"), PASSWORD).await;
    fill(&c, &format!("{form} input[name=smtpHost]"), "127.0.0.1").await;
    fill(
        &c,
        &format!("{form} input[name=smtpPort]"),
        &smtp.port.to_string(),
    )
    .await;
    c.find(fantoccini::Locator::Css(&format!(
        "{form} select[name=smtpSecurity] option[value=none]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    click_and_wait_for_reload(&c, &format!("{form} button[type=submit]")).await;
    find(&c, "#mailbox-list tr.mailbox").await;
    click(&c, "#mailbox-list .test-connection").await;
    find(&c, "#mailbox-list .test-result[data-done=ok]").await;
    wait_text(&c, "#mailbox-list .test-result", "IMAP: OK").await;
    screenshot(&c, "desk-email-settings").await;

    // A customer's mail becomes a ticket; the agent replies on the page.
    imap.append(
        "support",
        b"From: =?UTF-8?B?5bGx55SwIOWkqumDjg==?= <taro@customer.example>\r\nTo: support@acme.example\r\n\
Subject: =?UTF-8?B?6KuL5rGC5pu444Gr44Gk44GE44Gm?=\r\nMessage-ID: <browser@customer.example>\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n\xe8\xab\x8b\xe6\xb1\x82\xe6\x9b\xb8\xe3\x81\x8c\xe5\xb1\x8a\xe3\x81\x8d\xe3\x81\xbe\xe3\x81\x9b\xe3\x82\x93\xe3\x80\x82\r\n\r\n> old\r\n",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = app
            .get("/desk/api/v1/portals/acme/tickets", Some(&admin.token))
            .await;
        if t.body["data"].as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "no ticket from the mail");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.goto(&app.url("/desk/acme/tickets/101")).await.unwrap();
    find(&c, ".thread.email[data-direction=in]").await;
    find(&c, ".thread.email details.quoted").await;
    fill(
        &c,
        "#reply textarea[name=content]",
        "再送しました。ご確認ください。",
    )
    .await;
    click_and_wait_for_reload(&c, "#reply button[value=reply]").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        c.goto(&app.url("/desk/acme/tickets/101")).await.unwrap();
        if c.find(fantoccini::Locator::Css(
            ".thread.reply [data-delivery=sent]",
        ))
        .await
        .is_ok()
        {
            break;
        }
        assert!(Instant::now() < deadline, "the reply never showed as sent");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_text(&c, ".thread.reply [data-delivery=sent]", "送信済み").await;
    smtp.wait_for(1).await;
    screenshot(&c, "desk-email-thread").await;
}
