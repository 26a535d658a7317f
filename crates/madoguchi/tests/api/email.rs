//! The email channel (SPEC E1–E8) against a real Dovecot (IMAP, mail added with
//! APPEND) and a real SMTP server (aiosmtpd); see `mail_servers.rs`.

use crate::both_backends;
use crate::helpers::{TestApp, TestUser};
use crate::mail_servers::{available, free_port, Dovecot, SmtpSink, PASSWORD};
use madoguchi_testkit::wait::until;
use serde_json::{json, Value};
use std::time::Duration;

both_backends!(
    e1_mailboxes_are_managed_with_write_only_passwords_and_a_connection_test,
    e2_new_mail_makes_a_ticket_and_replies_thread_by_in_reply_to_or_subject_token,
    e3_a_duplicate_message_id_is_imported_once,
    e4_a_reply_is_mailed_once_after_the_smtp_server_comes_back,
    e5_a_chat_ticket_is_answered_by_mail_and_new_tickets_are_acknowledged,
    e6_japanese_mail_decodes_and_attachments_download,
    e7_auto_replies_make_no_ticket_and_a_bounce_fails_the_reply,
    e4_a_reply_from_the_chats_desk_panel_is_mailed_with_the_ticket_number,
    e5_an_automatic_chat_ticket_is_mailed_and_the_emailed_answer_joins_it,
    e1_the_connection_test_names_what_failed_in_english,
    e2_new_mail_lands_in_the_mailboxs_department,
    v2_e5_an_offline_message_ticket_is_answered_by_mail,
);

const PORTALS: &str = "/desk/api/v1/portals";

struct World {
    admin: TestUser,
    base: String,
    imap: Dovecot,
    smtp: Option<SmtpSink>,
    mailbox: Value,
}

fn mailbox_body(imap_port: u16, smtp_port: u16, user: &str, acknowledge: bool) -> Value {
    json!({
        "address": format!("{user}@acme.example"),
        "displayName": "ACME サポート",
        "acknowledge": acknowledge,
        "imap": {"host": "127.0.0.1", "port": imap_port, "security": "none",
                 "username": user, "password": PASSWORD},
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none"}
    })
}

async fn world(app: &TestApp, acknowledge: bool, smtp_up: bool) -> World {
    let admin = app.signup("admin@acme.example").await;
    madoguchi_testkit::desk::portal_by(app, &admin.token, "acme", "ACME").await;
    let base = format!("{PORTALS}/acme");
    let imap = Dovecot::start().await;
    let (smtp, smtp_port) = if smtp_up {
        let s = SmtpSink::start().await;
        let p = s.port;
        (Some(s), p)
    } else {
        (None, free_port())
    };
    let mailbox = app
        .post(
            &format!("{base}/mailboxes"),
            Some(&admin.token),
            mailbox_body(imap.port, smtp_port, "support", acknowledge),
        )
        .await;
    mailbox.assert_status(201);
    World {
        admin,
        base,
        imap,
        smtp,
        mailbox: mailbox.body.clone(),
    }
}

async fn tickets(app: &TestApp, w: &World) -> Vec<Value> {
    let res = app
        .get(
            &format!("{}/tickets?limit=200", w.base),
            Some(&w.admin.token),
        )
        .await;
    res.assert_status(200);
    res.body["data"].as_array().cloned().unwrap_or_default()
}

/// Waits until the portal has `n` tickets; answers them (newest first).
async fn wait_tickets(app: &TestApp, w: &World, n: usize) -> Vec<Value> {
    until(Duration::from_secs(20), &format!("{n} tickets"), || async {
        let t = tickets(app, w).await;
        (t.len() >= n).then_some(t)
    })
    .await
}

async fn threads(app: &TestApp, w: &World, ticket_id: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("{}/tickets/{ticket_id}/threads", w.base),
            Some(&w.admin.token),
        )
        .await;
    res.assert_status(200);
    res.body["data"].as_array().cloned().unwrap_or_default()
}

async fn wait_threads(app: &TestApp, w: &World, ticket_id: &str, n: usize) -> Vec<Value> {
    until(Duration::from_secs(20), &format!("{n} threads"), || async {
        let t = threads(app, w, ticket_id).await;
        (t.len() >= n).then_some(t)
    })
    .await
}

fn mail(from: &str, subject: &str, id: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: support@acme.example\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Tue, 01 Dec 2026 10:00:00 +0900\r\nMIME-Version: 1.0\r\n{extra}\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn reply(app: &TestApp, w: &World, ticket_id: &str, content: &str) -> Value {
    let res = app
        .post(
            &format!("{}/tickets/{ticket_id}/threads", w.base),
            Some(&w.admin.token),
            json!({"kind": "reply", "content": content}),
        )
        .await;
    res.assert_status(201);
    res.body.clone()
}

async fn wait_delivery(
    app: &TestApp,
    w: &World,
    ticket_id: &str,
    thread_id: &str,
    state: &str,
) -> Value {
    until(
        Duration::from_secs(30),
        &format!("delivery {state}"),
        || async {
            threads(app, w, ticket_id)
                .await
                .into_iter()
                .find(|t| t["id"] == thread_id && t["delivery"]["state"] == state)
        },
    )
    .await
}

async fn e1_mailboxes_are_managed_with_write_only_passwords_and_a_connection_test(app: TestApp) {
    if !available() {
        return;
    }
    let w = world(&app, false, true).await;
    let m = &w.mailbox;
    assert_eq!(m["address"], "support@acme.example");
    assert_eq!(m["imap"]["folder"], "INBOX");
    assert_eq!(m["acknowledge"], false);
    assert_eq!(m["status"]["state"], "pending");
    assert!(
        !m.to_string().contains(PASSWORD),
        "passwords are never returned"
    );
    let list = app
        .get(&format!("{}/mailboxes", w.base), Some(&w.admin.token))
        .await;
    list.assert_status(200);
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(1));
    // Bad input names the field.
    let mut bad = mailbox_body(w.imap.port, 25, "sales", false);
    bad["imap"]["host"] = json!("");
    app.post(&format!("{}/mailboxes", w.base), Some(&w.admin.token), bad)
        .await
        .assert_error(400, "invalid_request");
    let mut bad = mailbox_body(w.imap.port, 25, "sales", false);
    bad["smtp"]["port"] = json!(70000);
    let res = app
        .post(&format!("{}/mailboxes", w.base), Some(&w.admin.token), bad)
        .await;
    res.assert_error(400, "invalid_request");
    assert_eq!(res.body["error"]["field"], "smtp.port");
    // Agents may not.
    let agent = app.signup("agent@acme.example").await;
    app.post(
        &format!("{}/members", w.base),
        Some(&w.admin.token),
        json!({"email": agent.email, "role": "agent"}),
    )
    .await
    .assert_status(201);
    app.get(&format!("{}/mailboxes", w.base), Some(&agent.token))
        .await
        .assert_error(403, "forbidden");
    let id = m["id"].as_str().unwrap();
    // Test connection: both servers answer.
    let test = app
        .post_empty(
            &format!("{}/mailboxes/{id}/test", w.base),
            Some(&w.admin.token),
        )
        .await;
    test.assert_status(200);
    assert_eq!(test.body["imap"]["ok"], true, "{}", test.text);
    assert_eq!(test.body["smtp"]["ok"], true, "{}", test.text);
    // A wrong password (PATCH changes it) is named, in Japanese by default.
    let patched = app
        .patch(
            &format!("{}/mailboxes/{id}", w.base),
            Some(&w.admin.token),
            json!({"displayName": "ACME", "imap": {"password": "wrong"}}),
        )
        .await;
    patched.assert_status(200);
    assert_eq!(patched.body["displayName"], "ACME");
    assert_eq!(patched.body["imap"]["username"], "support");
    let test = app
        .post_empty(
            &format!("{}/mailboxes/{id}/test", w.base),
            Some(&w.admin.token),
        )
        .await;
    assert_eq!(test.body["imap"]["ok"], false);
    test.assert_text_at("/imap/error", "ログインできません");
    assert_eq!(test.body["smtp"]["ok"], true);
    // The fetcher reports the failure on the mailbox.
    until(Duration::from_secs(20), "the mailbox error", || async {
        let m = app
            .get(&format!("{}/mailboxes/{id}", w.base), Some(&w.admin.token))
            .await;
        (m.body["status"]["state"] == "error").then_some(())
    })
    .await;
    let deleted = app
        .delete(&format!("{}/mailboxes/{id}", w.base), Some(&w.admin.token))
        .await;
    deleted.assert_status(200);
    app.get(&format!("{}/mailboxes/{id}", w.base), Some(&w.admin.token))
        .await
        .assert_error(404, "not_found");
}

async fn e2_new_mail_makes_a_ticket_and_replies_thread_by_in_reply_to_or_subject_token(
    app: TestApp,
) {
    if !available() {
        return;
    }
    let w = world(&app, false, true).await;
    w.imap
        .append(
            "support",
            &mail(
                "=?UTF-8?B?5bGx55SwIOWkqumDjg==?= <taro@customer.example>",
                "=?UTF-8?B?6KuL5rGC5pu444Gr44Gk44GE44Gm?=",
                "first@customer.example",
                "",
                "請求書が届きません。",
            ),
        )
        .await;
    let t = wait_tickets(&app, &w, 1).await;
    let ticket = &t[0];
    assert_eq!(ticket["channel"], "Email");
    assert_eq!(ticket["subject"], "請求書について");
    assert_eq!(ticket["description"], "請求書が届きません。");
    assert_eq!(ticket["email"], "taro@customer.example");
    assert_eq!(ticket["contactName"], "山田 太郎");
    let id = ticket["id"].as_str().unwrap();
    let number = ticket["ticketNumber"].as_i64().unwrap();
    let th = threads(&app, &w, id).await;
    assert_eq!(th.len(), 1);
    assert_eq!(th[0]["kind"], "email");
    assert_eq!(th[0]["direction"], "in");
    assert_eq!(th[0]["messageId"], "first@customer.example");
    // The agent replies: mailed with [#N], In-Reply-To, text and HTML, From with its name.
    let r = reply(&app, &w, id, "ご連絡ありがとうございます。再送しました。").await;
    assert_eq!(r["direction"], "out");
    assert_eq!(r["to"], "山田 太郎 <taro@customer.example>");
    assert_eq!(r["delivery"]["state"], "queued");
    let our_id = r["messageId"].as_str().unwrap().to_owned();
    wait_delivery(&app, &w, id, r["id"].as_str().unwrap(), "sent").await;
    let sent = w.smtp.as_ref().unwrap().wait_for(1).await;
    let m = &sent[0];
    assert!(m.contains(&format!("<{our_id}>")), "{m}");
    assert!(m.contains("In-Reply-To: <first@customer.example>"), "{m}");
    assert!(m.contains("text/plain") && m.contains("text/html"), "{m}");
    assert!(m.contains("support@acme.example"), "{m}");
    let parsed = mail_parser::MessageParser::default()
        .parse(m.as_bytes())
        .unwrap();
    assert!(parsed.subject().unwrap().contains(&format!("[#{number}]")));
    assert_eq!(
        parsed.from().unwrap().first().unwrap().name(),
        Some("ACME サポート")
    );
    // The customer answers our mail: threaded by In-Reply-To.
    w.imap
        .append(
            "support",
            &mail(
                "taro@customer.example",
                "Re: something else",
                "second@customer.example",
                &format!("In-Reply-To: <{our_id}>\r\nReferences: <first@customer.example> <{our_id}>\r\n"),
                "届きました。\r\n\r\nOn Tue, ACME wrote:\r\n> 再送しました。\r\n",
            ),
        )
        .await;
    let th = wait_threads(&app, &w, id, 3).await;
    assert_eq!(th[2]["kind"], "email");
    assert_eq!(th[2]["content"], "届きました。");
    assert!(th[2]["quoted"]
        .as_str()
        .unwrap()
        .contains("> 再送しました。"));
    // A mail with only the subject token joins the ticket too.
    w.imap
        .append(
            "support",
            &mail(
                "hanako@other.example",
                &format!("Fw: [#{number}] 請求書について"),
                "third@other.example",
                "",
                "追加の情報です。",
            ),
        )
        .await;
    wait_threads(&app, &w, id, 4).await;
    // The same subject text without a token is a new ticket: never by subject alone.
    w.imap
        .append(
            "support",
            &mail(
                "taro@customer.example",
                "請求書について",
                "fourth@customer.example",
                "",
                "別件です。",
            ),
        )
        .await;
    let t = wait_tickets(&app, &w, 2).await;
    assert_eq!(t.len(), 2);
    assert_eq!(threads(&app, &w, id).await.len(), 4);
    // Nothing is deleted on the server; imported mail is marked seen afterwards.
    assert_eq!(w.imap.maildir_files("support").len(), 4);
}

async fn e3_a_duplicate_message_id_is_imported_once(app: TestApp) {
    if !available() {
        return;
    }
    let w = world(&app, false, true).await;
    let raw = mail(
        "a@customer.example",
        "Hello",
        "dup@customer.example",
        "",
        "once",
    );
    w.imap.append("support", &raw).await;
    w.imap.append("support", &raw).await;
    w.imap
        .append(
            "support",
            &mail(
                "b@customer.example",
                "Sentinel",
                "sentinel@customer.example",
                "",
                "x",
            ),
        )
        .await;
    let t = wait_tickets(&app, &w, 2).await;
    assert_eq!(t.len(), 2, "the duplicate made no ticket");
    let dup = t.iter().find(|t| t["subject"] == "Hello").unwrap();
    assert_eq!(
        threads(&app, &w, dup["id"].as_str().unwrap()).await.len(),
        1
    );
    // The cursor moved past all three.
    let m = app
        .get(
            &format!("{}/mailboxes/{}", w.base, w.mailbox["id"].as_str().unwrap()),
            Some(&w.admin.token),
        )
        .await;
    assert_eq!(m.body["status"]["state"], "ok");
    assert!(m.body["status"]["lastFetchAt"].is_string());
}

async fn e4_a_reply_is_mailed_once_after_the_smtp_server_comes_back(app: TestApp) {
    if !available() {
        return;
    }
    let w = world(&app, false, false).await;
    let smtp_port = w.mailbox["smtp"]["port"].as_u64().unwrap() as u16;
    w.imap
        .append(
            "support",
            &mail(
                "c@customer.example",
                "Down",
                "down@customer.example",
                "",
                "?",
            ),
        )
        .await;
    let t = wait_tickets(&app, &w, 1).await;
    let id = t[0]["id"].as_str().unwrap();
    let r = reply(&app, &w, id, "Answer").await;
    let thread_id = r["id"].as_str().unwrap();
    // The SMTP server is down: the reply stays queued with the reason.
    let queued = until(Duration::from_secs(20), "a failed attempt", || async {
        threads(&app, &w, id)
            .await
            .into_iter()
            .find(|t| t["id"] == thread_id && t["delivery"]["attempts"].as_i64().unwrap_or(0) >= 1)
    })
    .await;
    assert_eq!(queued["delivery"]["state"], "queued");
    assert!(queued["delivery"]["error"].is_string());
    let smtp = SmtpSink::start_on(smtp_port).await;
    app.clock.advance_ms(10 * 60 * 1000);
    wait_delivery(&app, &w, id, thread_id, "sent").await;
    let sent = smtp.wait_for(1).await;
    assert_eq!(sent.len(), 1);
    // Later cycles send nothing more.
    app.clock.advance_ms(60 * 60 * 1000);
    let other = reply(&app, &w, id, "Second").await;
    wait_delivery(&app, &w, id, other["id"].as_str().unwrap(), "sent").await;
    let sent = smtp.wait_for(2).await;
    assert_eq!(sent.len(), 2, "the first reply went out exactly once");
    let first = r["messageId"].as_str().unwrap();
    let copies = sent
        .iter()
        .filter(|m| {
            mail_parser::MessageParser::default()
                .parse(m.as_bytes())
                .and_then(|p| p.message_id().map(|id| id == first))
                .unwrap_or(false)
        })
        .count();
    assert_eq!(copies, 1, "one mail with the first reply's Message-ID");
}

async fn e5_a_chat_ticket_is_answered_by_mail_and_new_tickets_are_acknowledged(app: TestApp) {
    if !available() {
        return;
    }
    let w = world(&app, true, true).await;
    let smtp = w.smtp.as_ref().unwrap();
    // A ticket made from a chat (as the integration converts one): contact with email.
    let contact = app
        .post(
            &format!("{}/contacts", w.base),
            Some(&w.admin.token),
            json!({"lastName": "Visitor", "email": "visitor@customer.example"}),
        )
        .await;
    contact.assert_status(201);
    let ticket = app
        .post(
            &format!("{}/tickets", w.base),
            Some(&w.admin.token),
            json!({"subject": "Chat with Visitor", "channel": "Chat",
                   "contactId": contact.body["id"]}),
        )
        .await;
    ticket.assert_status(201);
    let id = ticket.body["id"].as_str().unwrap();
    let r = reply(&app, &w, id, "We looked into it.").await;
    wait_delivery(&app, &w, id, r["id"].as_str().unwrap(), "sent").await;
    smtp.wait_for(1).await;
    let our_id = r["messageId"].as_str().unwrap();
    w.imap
        .append(
            "support",
            &mail(
                "visitor@customer.example",
                "Re: Chat with Visitor",
                "visitor-answer@customer.example",
                &format!("In-Reply-To: <{our_id}>\r\n"),
                "Thanks!",
            ),
        )
        .await;
    let th = wait_threads(&app, &w, id, 2).await;
    assert_eq!(th[1]["direction"], "in");
    assert_eq!(
        tickets(&app, &w).await.len(),
        1,
        "no new ticket, no acknowledgement"
    );
    // A new mail makes a ticket and, with acknowledge on, an acknowledgement in the
    // contact's language (ja by default, en for an English mail).
    w.imap
        .append(
            "support",
            &mail(
                "jp@customer.example",
                "問い合わせ",
                "jp@customer.example",
                "",
                "こんにちは",
            ),
        )
        .await;
    w.imap
        .append(
            "support",
            &mail(
                "en@customer.example",
                "Question",
                "en@customer.example",
                "",
                "Hello there",
            ),
        )
        .await;
    let t = wait_tickets(&app, &w, 3).await;
    let sent = smtp.wait_for(3).await;
    let ja = sent
        .iter()
        .find(|m| m.contains("jp@customer.example"))
        .unwrap();
    let ja = mail_parser::MessageParser::default()
        .parse(ja.as_bytes())
        .unwrap();
    let jp_ticket = t.iter().find(|t| t["subject"] == "問い合わせ").unwrap();
    assert!(ja
        .subject()
        .unwrap()
        .contains(&format!("[#{}]", jp_ticket["ticketNumber"])));
    assert!(ja
        .body_text(0)
        .unwrap()
        .contains("お問い合わせありがとうございます"));
    assert_eq!(
        ja.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-replied")
    );
    let en = sent
        .iter()
        .find(|m| m.contains("en@customer.example"))
        .unwrap();
    let en = mail_parser::MessageParser::default()
        .parse(en.as_bytes())
        .unwrap();
    assert!(en
        .body_text(0)
        .unwrap()
        .contains("Thank you for contacting us"));
}

async fn e6_japanese_mail_decodes_and_attachments_download(app: TestApp) {
    if !available() {
        return;
    }
    let w = world(&app, false, true).await;
    let iso = b"From: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@customer.example>\r\nTo: support@acme.example\r\nSubject: =?ISO-2022-JP?B?GyRCJDNKOBsoQg==?=\r\nMessage-ID: <iso@customer.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n\x1b$B$3$s$K$A$O\x1b(B\r\n".to_vec();
    let sjis = b"From: =?Shift_JIS?B?jbKToSCJ1I5x?= <sato@customer.example>\r\nTo: support@acme.example\r\nSubject: =?Shift_JIS?B?kL+LgY+RgsyMjw==?=\r\nMessage-ID: <sjis@customer.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: base64\r\n\r\ngqiW4oKijYeC7YK5gsWCt4FCkL+LgY+RgsmCwoKigsQ=\r\n".to_vec();
    let qp = b"From: qp@customer.example\r\nTo: support@acme.example\r\nSubject: QP\r\nMessage-ID: <qp@customer.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=E3=81=82=E3=82=8A=E3=81=8C=E3=81=A8=E3=81=86=E3=81=94=E3=81=96=E3=81=84=E3=\r\n=81=BE=E3=81=99=E3=80=82\r\n".to_vec();
    let html = b"From: html@customer.example\r\nTo: support@acme.example\r\nSubject: HTML\r\nMessage-ID: <html@customer.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<html><body><p>Hello <b>world</b></p><script>alert(1)</script></body></html>\r\n".to_vec();
    let with_file = b"From: file@customer.example\r\nTo: support@acme.example\r\nSubject: File\r\nMessage-ID: <file@customer.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nSee the file.\r\n--b1\r\nContent-Type: text/plain; name=\"=?UTF-8?B?6KaL56mN5pu4LnR4dA==?=\"\r\nContent-Disposition: attachment; filename=\"=?UTF-8?B?6KaL56mN5pu4LnR4dA==?=\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n--b1--\r\n".to_vec();
    for raw in [&iso, &sjis, &qp, &html, &with_file] {
        w.imap.append("support", raw).await;
    }
    let t = wait_tickets(&app, &w, 5).await;
    let by = |subject: &str| t.iter().find(|t| t["subject"] == subject).cloned();
    let iso_t = by("こ文").expect("the ISO-2022-JP ticket");
    assert_eq!(iso_t["description"], "こんにちは");
    assert_eq!(iso_t["contactName"], "山田");
    let sjis_t = by("請求書の件").expect("the Shift_JIS ticket");
    assert_eq!(sjis_t["description"], "お問い合わせです。請求書について");
    assert_eq!(sjis_t["contactName"], "佐藤 花子");
    assert_eq!(by("QP").unwrap()["description"], "ありがとうございます。");
    let html_text = by("HTML").unwrap()["description"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        html_text.contains("Hello") && html_text.contains("world"),
        "{html_text}"
    );
    assert!(!html_text.contains("<b>"), "{html_text}");
    let file_t = by("File").unwrap();
    let th = threads(&app, &w, file_t["id"].as_str().unwrap()).await;
    let att = &th[0]["attachments"][0];
    assert_eq!(att["name"], "見積書.txt");
    assert_eq!(att["size"], 11);
    let url = att["url"].as_str().unwrap();
    let path = &url[url.find("/desk/api").unwrap()..];
    let res = app
        .http
        .get(app.url(path))
        .bearer_auth(&w.admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain");
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.text().await.unwrap(), "hello world");
    // Another portal's admin cannot read it.
    let stranger = app.signup("stranger@other.example").await;
    app.get(path, Some(&stranger.token))
        .await
        .assert_error(403, "forbidden");
}

async fn e7_auto_replies_make_no_ticket_and_a_bounce_fails_the_reply(app: TestApp) {
    if !available() {
        return;
    }
    let w = world(&app, true, true).await;
    w.imap
        .append(
            "support",
            &mail(
                "d@customer.example",
                "Help",
                "help@customer.example",
                "",
                "Please",
            ),
        )
        .await;
    let t = wait_tickets(&app, &w, 1).await;
    let id = t[0]["id"].as_str().unwrap().to_owned();
    let smtp = w.smtp.as_ref().unwrap();
    smtp.wait_for(1).await; // the acknowledgement
    let r = reply(&app, &w, &id, "Here you go").await;
    let thread_id = r["id"].as_str().unwrap().to_owned();
    let our_id = r["messageId"].as_str().unwrap().to_owned();
    wait_delivery(&app, &w, &id, &thread_id, "sent").await;
    smtp.wait_for(2).await;
    let automatic = [
        mail(
            "ooo@customer.example",
            "Out of office",
            "ooo@customer.example",
            "Auto-Submitted: auto-replied\r\n",
            "I am away",
        ),
        mail(
            "list@customer.example",
            "Newsletter",
            "bulk@customer.example",
            "Precedence: bulk\r\n",
            "News",
        ),
        mail(
            "auto@customer.example",
            "Auto",
            "xauto@customer.example",
            "X-Autoreply: yes\r\n",
            "Auto",
        ),
        mail(
            "MAILER-DAEMON@customer.example",
            "Undeliverable",
            "daemon@customer.example",
            "",
            "?",
        ),
    ];
    for raw in &automatic {
        w.imap.append("support", raw).await;
    }
    let bounce = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\nTo: support@acme.example\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce@mx.customer.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"r1\"\r\n\r\n\
         --r1\r\nContent-Type: text/plain\r\n\r\nYour mail could not be delivered.\r\n\
         --r1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.example\r\n\r\n\
         Final-Recipient: rfc822; d@customer.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n\
         --r1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@acme.example\r\nTo: d@customer.example\r\n\
         Message-ID: <{our_id}>\r\nSubject: Re: Help\r\n\r\n--r1--\r\n"
    );
    w.imap.append("support", bounce.as_bytes()).await;
    let failed = wait_delivery(&app, &w, &id, &thread_id, "failed").await;
    assert!(
        failed["delivery"]["error"]
            .as_str()
            .unwrap()
            .contains("user unknown"),
        "{failed}"
    );
    // A sentinel imported after them all: the automatic mails made nothing.
    w.imap
        .append(
            "support",
            &mail(
                "e@customer.example",
                "Real",
                "real@customer.example",
                "",
                "Real question",
            ),
        )
        .await;
    let t = wait_tickets(&app, &w, 2).await;
    assert_eq!(t.len(), 2, "no ticket from auto-replies or bounces");
    smtp.wait_for(3).await; // the sentinel's acknowledgement
    assert_eq!(
        smtp.messages().len(),
        3,
        "no acknowledgement of automatic mail"
    );
    // The failed reply can be retried: the same Message-ID goes out again.
    let res = app
        .post_empty(
            &format!("{}/tickets/{id}/threads/{thread_id}/retry", w.base),
            Some(&w.admin.token),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res.body["delivery"]["state"], "queued");
    wait_delivery(&app, &w, &id, &thread_id, "sent").await;
    let sent = smtp.wait_for(4).await;
    assert_eq!(sent.iter().filter(|m| m.contains(&our_id)).count(), 2);
}

/// The mail servers and a mailbox on the Desk portal of a linked Chat–Desk pair.
async fn linked_with_mailbox(app: TestApp) -> (crate::integration::World, Dovecot, SmtpSink) {
    let w = crate::integration::World::linked(app).await;
    let imap = Dovecot::start().await;
    let smtp = SmtpSink::start().await;
    w.app
        .post(
            &w.desk_api("/mailboxes"),
            w.token(),
            mailbox_body(imap.port, smtp.port, "support", false),
        )
        .await
        .assert_status(201);
    (w, imap, smtp)
}

/// Waits until the ticket's thread `thread_id` shows delivery `state`.
async fn wait_linked_delivery(
    w: &crate::integration::World,
    ticket_id: &str,
    thread_id: &str,
    state: &str,
) -> Value {
    until(
        Duration::from_secs(30),
        &format!("delivery {state}"),
        || async {
            w.threads(ticket_id)
                .await
                .into_iter()
                .find(|t| t["id"] == thread_id && t["delivery"]["state"] == state)
        },
    )
    .await
}

/// The emailed threads (direction in) of a ticket, once there are `n`.
async fn wait_emails_in(w: &crate::integration::World, ticket_id: &str, n: usize) -> Vec<Value> {
    until(
        Duration::from_secs(30),
        &format!("{n} emails in"),
        || async {
            let mails: Vec<Value> = w
                .threads(ticket_id)
                .await
                .into_iter()
                .filter(|t| t["kind"] == "email" && t["direction"] == "in")
                .collect();
            (mails.len() >= n).then_some(mails)
        },
    )
    .await
}

/// E4 through the chat console (I10 + the desk panel's reply): the operator converts the
/// chat and replies from the panel; the reply is mailed to the visitor with the ticket's
/// `[#N]`, shows `sent`, and the visitor's answer (In-Reply-To) joins the ticket (E5).
async fn e4_a_reply_from_the_chats_desk_panel_is_mailed_with_the_ticket_number(app: TestApp) {
    if !available() {
        return;
    }
    let (w, imap, smtp) = linked_with_mailbox(app).await;
    w.settings(json!({"autoTicket": "none"})).await;
    let chat = w
        .start_chat(
            Some("佐藤 花子"),
            Some("sato@customer.example"),
            None,
            "請求書が届きません",
        )
        .await;
    w.accept(&chat).await;
    let ticket = w
        .app
        .post(&w.desk_of(&chat, "/tickets"), w.token(), json!({}))
        .await;
    let tid = ticket.expect_str(201, "id");
    let number = ticket["ticketNumber"].as_i64().unwrap();
    let reply = w
        .app
        .post(
            &w.desk_of(&chat, &format!("/tickets/{tid}/replies")),
            w.token(),
            json!({"content": "請求書を再送いたしました。"}),
        )
        .await;
    let thread_id = reply.expect_str(201, "id");
    let sent = wait_linked_delivery(&w, &tid, &thread_id, "sent").await;
    assert_eq!(sent["kind"], "reply");
    assert_eq!(sent["direction"], "out");
    assert_eq!(sent["to"], "佐藤 花子 <sato@customer.example>");
    let our_id = sent["messageId"].as_str().unwrap().to_owned();
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    let m = mail_parser::MessageParser::default()
        .parse(mails[0].as_bytes())
        .unwrap();
    let subject = m.subject().unwrap().to_owned();
    assert!(subject.contains(&format!("[#{number}]")), "{subject}");
    assert_eq!(
        m.to().unwrap().first().unwrap().address(),
        Some("sato@customer.example")
    );
    assert_eq!(m.message_id(), Some(our_id.as_str()));
    assert!(m
        .body_text(0)
        .unwrap()
        .contains("請求書を再送いたしました。"));
    // The visitor answers the mail: it joins the chat's ticket, no new ticket.
    imap.append(
        "support",
        &mail(
            "sato@customer.example",
            &format!("Re: {subject}"),
            "sato-answer@customer.example",
            &format!("In-Reply-To: <{our_id}>\r\nReferences: <{our_id}>\r\n"),
            "届きました。ありがとうございます。",
        ),
    )
    .await;
    let answers = wait_emails_in(&w, &tid, 1).await;
    assert_eq!(answers[0]["content"], "届きました。ありがとうございます。");
    assert_eq!(w.desk_tickets().await.len(), 1, "no new ticket");
}

/// E5 for an automatic ticket (I7): the chat ended, its ticket was made with the
/// visitor's email; an agent's reply on the Desk is mailed, and the visitor's answer
/// carrying only the subject token threads onto that same ticket.
async fn e5_an_automatic_chat_ticket_is_mailed_and_the_emailed_answer_joins_it(app: TestApp) {
    if !available() {
        return;
    }
    let (w, imap, smtp) = linked_with_mailbox(app).await;
    w.settings(json!({"autoTicket": "all"})).await;
    let chat = w
        .attended_chat(Some("suzuki@customer.example"), "パスワードを忘れました")
        .await;
    let settled = w.auto_ticket_settled(&chat).await;
    assert_eq!(settled["autoTicket"]["status"], "created", "{settled}");
    let tid = settled["deskTicketIds"][0].as_str().unwrap().to_owned();
    let tickets = w.desk_tickets().await;
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["channel"], "Chat");
    let number = tickets[0]["ticketNumber"].as_i64().unwrap();
    let reply = w
        .app
        .post(
            &w.desk_api(&format!("/tickets/{tid}/threads")),
            w.token(),
            json!({"kind": "reply", "content": "再設定のリンクをお送りしました。"}),
        )
        .await;
    reply.assert_status(201);
    assert_eq!(reply["delivery"]["state"], "queued");
    let thread_id = reply["id"].as_str().unwrap().to_owned();
    wait_linked_delivery(&w, &tid, &thread_id, "sent").await;
    let mails = smtp.wait_for(1).await;
    let m = mail_parser::MessageParser::default()
        .parse(mails[0].as_bytes())
        .unwrap();
    assert!(m
        .subject()
        .unwrap()
        .contains(&format!("[#{number}] パスワードを忘れました")));
    assert_eq!(
        m.to().unwrap().first().unwrap().address(),
        Some("suzuki@customer.example")
    );
    // A mail client that dropped In-Reply-To: the subject token alone threads it.
    imap.append(
        "support",
        &mail(
            "suzuki@customer.example",
            &format!("Re: [#{number}] パスワードを忘れました"),
            "suzuki-answer@customer.example",
            "",
            "再設定できました。",
        ),
    )
    .await;
    let answers = wait_emails_in(&w, &tid, 1).await;
    assert_eq!(answers[0]["content"], "再設定できました。");
    assert_eq!(w.desk_tickets().await.len(), 1, "no new ticket");
}

/// E1: "Test connection" names what failed in the caller's language, here English.
async fn e1_the_connection_test_names_what_failed_in_english(app: TestApp) {
    if !available() {
        return;
    }
    let w = world(&app, false, true).await;
    let mut body = mailbox_body(w.imap.port, free_port(), "sales", false);
    body["imap"]["password"] = json!("wrong");
    let created = app
        .post(&format!("{}/mailboxes", w.base), Some(&w.admin.token), body)
        .await;
    created.assert_status(201);
    let id = created.body["id"].as_str().unwrap();
    let res = app
        .http
        .post(app.url(&format!("{}/mailboxes/{id}/test", w.base)))
        .bearer_auth(&w.admin.token)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let test: Value = res.json().await.unwrap();
    assert_eq!(test["imap"]["ok"], false);
    assert!(
        test["imap"]["error"]
            .as_str()
            .unwrap()
            .starts_with("Cannot log in"),
        "{test}"
    );
    assert_eq!(test["smtp"]["ok"], false, "nothing listens there");
    assert!(
        test["smtp"]["error"]
            .as_str()
            .unwrap()
            .starts_with("Cannot connect to the server"),
        "{test}"
    );
}

/// E2: a new conversation's ticket lands in the mailbox's Desk department.
async fn e2_new_mail_lands_in_the_mailboxs_department(app: TestApp) {
    if !available() {
        return;
    }
    let w = world(&app, false, true).await;
    let dept = app
        .post(
            &format!("{}/departments", w.base),
            Some(&w.admin.token),
            json!({"name": "請求"}),
        )
        .await;
    dept.assert_status(201);
    let dept_id = dept.body["id"].as_str().unwrap();
    let id = w.mailbox["id"].as_str().unwrap();
    let patched = app
        .patch(
            &format!("{}/mailboxes/{id}", w.base),
            Some(&w.admin.token),
            json!({"departmentId": dept_id}),
        )
        .await;
    patched.assert_status(200);
    assert_eq!(patched.body["departmentId"], dept_id);
    w.imap
        .append(
            "support",
            &mail(
                "billing@customer.example",
                "請求額が違います",
                "dept@customer.example",
                "",
                "先月の請求額を確認してください。",
            ),
        )
        .await;
    let t = wait_tickets(&app, &w, 1).await;
    assert_eq!(t[0]["departmentId"], dept_id, "{}", t[0]);
}

/// V2 with the email channel: the ticket an offline message makes is answered by mail,
/// so the visitor who left the form hears back, and their emailed answer joins it.
async fn v2_e5_an_offline_message_ticket_is_answered_by_mail(app: TestApp) {
    if !available() {
        return;
    }
    let (w, imap, smtp) = linked_with_mailbox(app).await;
    let left = w
        .app
        .post(
            &format!("/chat/widget/v1/{}/offline-messages", w.chat),
            None,
            json!({"email": "kato@customer.example", "name": "加藤",
                   "message": "営業時間外ですが、見積もりをお願いします。",
                   "clientMessageId": "offline-1"}),
        )
        .await;
    left.assert_status(201);
    let number = left["ticketNumber"]
        .as_i64()
        .unwrap_or_else(|| panic!("no ticket: {}", left.text));
    let tickets = w.desk_tickets().await;
    let ticket = tickets
        .iter()
        .find(|t| t["ticketNumber"].as_i64() == Some(number))
        .unwrap_or_else(|| panic!("ticket #{number} missing: {tickets:?}"));
    let tid = ticket["id"].as_str().unwrap().to_owned();
    let reply = w
        .app
        .post(
            &w.desk_api(&format!("/tickets/{tid}/threads")),
            w.token(),
            json!({"kind": "reply", "content": "お見積もりをお送りします。"}),
        )
        .await;
    reply.assert_status(201);
    assert!(
        reply["to"]
            .as_str()
            .is_some_and(|to| to.contains("<kato@customer.example>")),
        "{}",
        reply.text
    );
    let thread_id = reply["id"].as_str().unwrap().to_owned();
    wait_linked_delivery(&w, &tid, &thread_id, "sent").await;
    let mails = smtp.wait_for(1).await;
    let m = mail_parser::MessageParser::default()
        .parse(mails[0].as_bytes())
        .unwrap();
    assert!(
        m.subject().unwrap().contains(&format!("[#{number}]")),
        "{:?}",
        m.subject()
    );
    assert_eq!(
        m.to().unwrap().first().unwrap().address(),
        Some("kato@customer.example")
    );
    imap.append(
        "support",
        &mail(
            "kato@customer.example",
            &format!("Re: [#{number}] お見積もり"),
            "kato-answer@customer.example",
            "",
            "ありがとうございます。",
        ),
    )
    .await;
    let answers = wait_emails_in(&w, &tid, 1).await;
    assert_eq!(answers[0]["content"], "ありがとうございます。");
    assert_eq!(w.desk_tickets().await.len(), tickets.len(), "no new ticket");
}
