//! The `DeskClient` contract (SPEC Q1, D7): one suite, run against both transports —
//! `InProcessDesk` (Desk services in this process) and `HttpDesk` (the Desk HTTP API of
//! the same test server, with the service key) — so the integration behaves the same
//! whether Chat and Desk share a process or not.
#![allow(clippy::unwrap_used)]

use crate::both_backends;
use crate::helpers::{TestApp, TestUser};
use madoguchi_core::identity::User;
use madoguchi_core::ids::DepartmentId;
use madoguchi_core::ErrorCode;
use madoguchi_integration::desk_client::{ChatFile, ChatLine, DeskAuth, DeskClient, NewTicket};
use madoguchi_integration::{HttpDesk, InProcessDesk};
use serde_json::json;
use std::sync::Arc;

both_backends!(
    q1_desk_client_contract_in_process,
    q1_desk_client_contract_over_http,
    v3_desk_client_copies_chat_files_in_process,
    v3_desk_client_copies_chat_files_over_http,
);

async fn q1_desk_client_contract_in_process(app: TestApp) {
    let desk = madoguchi_desk::Desk::new(
        app.db.clone(),
        app.clock.clone(),
        app.settings.public_url.trim_end_matches('/').to_owned(),
    );
    contract(&app, Arc::new(InProcessDesk::new(desk))).await;
}

async fn q1_desk_client_contract_over_http(app: TestApp) {
    let client = HttpDesk::new(&app.base).unwrap();
    contract(&app, Arc::new(client)).await;
}

async fn v3_desk_client_copies_chat_files_in_process(app: TestApp) {
    let desk = madoguchi_desk::Desk::new(
        app.db.clone(),
        app.clock.clone(),
        app.settings.public_url.trim_end_matches('/').to_owned(),
    );
    chat_files(&app, Arc::new(InProcessDesk::new(desk))).await;
}

async fn v3_desk_client_copies_chat_files_over_http(app: TestApp) {
    let client = HttpDesk::new(&app.base).unwrap();
    chat_files(&app, Arc::new(client)).await;
}

/// V3: a chat's file joins the ticket's chat thread once, by its key, through either
/// transport, and downloads through the Desk route.
async fn chat_files(app: &TestApp, desk: Arc<dyn DeskClient>) {
    let admin = app.signup("desk-admin@example.jp").await;
    let t = Some(admin.token.as_str());
    madoguchi_testkit::desk::portal_by(app, &admin.token, "acme", "Acme").await;
    let key = madoguchi_testkit::desk::service_key(app, "acme", &admin.token).await;
    let auth = DeskAuth {
        portal: "acme".into(),
        admin_email: admin.email.clone(),
        service_key: key,
        acting: None,
    };
    let ticket = desk
        .create_ticket(
            &auth,
            &NewTicket {
                subject: "写真の件".into(),
                channel: Some("Chat".into()),
                ..NewTicket::default()
            },
        )
        .await
        .unwrap();
    let photo = crate::attachments::tiny_png();
    let file = ChatFile {
        key: "att-1".into(),
        seq: 2,
        name: "破損 (1).png".into(),
        content_type: "image/png".into(),
        data: photo.clone(),
    };
    // No chat thread yet: not found.
    let e = desk
        .add_chat_attachment(&auth, &ticket.id, &"chat-1".into(), &file)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    desk.upsert_chat_thread(&auth, &ticket.id, &"chat-1".into(), &lines("chat-1", 1, 3))
        .await
        .unwrap();
    let first = desk
        .add_chat_attachment(&auth, &ticket.id, &"chat-1".into(), &file)
        .await
        .unwrap();
    assert_eq!(first.name, "破損 (1).png");
    assert_eq!(first.content_type, "image/png");
    assert_eq!(first.size, photo.len() as i64);
    let again = desk
        .add_chat_attachment(&auth, &ticket.id, &"chat-1".into(), &file)
        .await
        .unwrap();
    assert_eq!(again, first, "a repeated copy answers the stored file");
    // A wrong key is refused like every call.
    let e = desk
        .add_chat_attachment(
            &auth_with_key(&auth, "wrong"),
            &ticket.id,
            &"chat-1".into(),
            &file,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidServiceKey);
    // The thread shows it once, beside its message, and Desk serves the bytes.
    let threads = app
        .get(
            &format!("/desk/api/v1/portals/acme/tickets/{}/threads", ticket.id),
            t,
        )
        .await;
    let thread = &threads["data"][0];
    assert_eq!(
        thread["attachments"].as_array().unwrap().len(),
        1,
        "{}",
        threads.text
    );
    assert_eq!(thread["messages"][1]["attachment"]["id"], first.id.as_str());
    assert!(thread["messages"][0].get("attachment").is_none());
    let path = crate::attachments::path_of(&json!(first.url));
    let (status, headers, bytes) = crate::attachments::download(app, &path, t).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, photo);
    assert_eq!(headers["content-type"], "image/png");
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("inline; filename=\"__ (1).png\""));
}

fn auth_with_key(auth: &DeskAuth, key: &str) -> DeskAuth {
    DeskAuth {
        service_key: key.into(),
        ..auth.clone()
    }
}

fn user(u: &TestUser) -> User {
    User {
        id: u.id.clone(),
        email: u.email.clone(),
        name: u.name.clone(),
        lang: None,
    }
}

fn lines(chat_id: &str, from: i64, to: i64) -> Vec<ChatLine> {
    (from..=to)
        .map(|seq| ChatLine {
            seq,
            sender: if seq % 2 == 1 { "visitor" } else { "operator" }.into(),
            sender_name: if seq % 2 == 1 { "鈴木" } else { "山田" }.into(),
            text: format!("{chat_id} message {seq}"),
            created_at: format!("2026-01-01T00:00:{seq:02}.000Z"),
            system: None,
        })
        .collect()
}

async fn contract(app: &TestApp, desk: Arc<dyn DeskClient>) {
    let in_process = desk.transport() == "in_process";
    // Arrange, through the Desk API: a portal with an admin, an agent and a key.
    let admin = app.signup("desk-admin@example.jp").await;
    let agent = app.signup("agent@example.jp").await;
    let t = Some(admin.token.as_str());
    madoguchi_testkit::desk::portal_by(app, &admin.token, "acme", "Acme").await;
    app.post(
        "/desk/api/v1/portals/acme/members",
        t,
        json!({"email": agent.email, "role": "agent"}),
    )
    .await
    .assert_status(201);

    // Portals a user administers, and the key they get (I2): only in process.
    let portals = desk.admin_portals(&user(&admin)).await.unwrap();
    let key = if in_process {
        assert_eq!(portals, ["acme"]);
        assert!(desk.admin_portals(&user(&agent)).await.unwrap().is_empty());
        let k = desk
            .ensure_service_key(&user(&admin), &"acme".into())
            .await
            .unwrap();
        let again = desk
            .ensure_service_key(&user(&admin), &"acme".into())
            .await
            .unwrap();
        assert_eq!(
            k.service_key, again.service_key,
            "an existing key is reused"
        );
        let e = desk
            .ensure_service_key(&user(&agent), &"acme".into())
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::NotDeskAdmin);
        k.service_key
    } else {
        assert!(portals.is_empty(), "over HTTP no Desk roles are visible");
        let e = desk
            .ensure_service_key(&user(&admin), &"acme".into())
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::NotDeskAdmin);
        madoguchi_testkit::desk::service_key(app, "acme", &admin.token).await
    };
    let auth = DeskAuth {
        portal: "acme".into(),
        admin_email: admin.email.clone(),
        service_key: key.clone(),
        acting: None,
    };

    // Verify (I3, I5): each wrong input names its field.
    desk.verify(&auth).await.unwrap();
    for (bad, code, field) in [
        (
            DeskAuth {
                portal: "nope".into(),
                ..auth.clone()
            },
            ErrorCode::DeskPortalNotFound,
            "deskPortalName",
        ),
        (
            DeskAuth {
                service_key: "wrong".into(),
                ..auth.clone()
            },
            ErrorCode::InvalidServiceKey,
            "serviceKey",
        ),
        (
            DeskAuth {
                admin_email: agent.email.clone(),
                ..auth.clone()
            },
            ErrorCode::NotDeskAdminEmail,
            "adminEmail",
        ),
    ] {
        let e = desk.verify(&bad).await.unwrap_err();
        assert_eq!(e.code, code, "{bad:?}");
        assert_eq!(e.field.as_deref(), Some(field));
    }

    // Departments and classifications.
    let departments = desk.departments(&auth).await.unwrap();
    assert_eq!(departments.iter().filter(|d| d.is_default).count(), 1);
    let sales = app
        .post(
            "/desk/api/v1/portals/acme/departments",
            t,
            json!({"name": "Sales"}),
        )
        .await["id"]
        .as_str()
        .map(DepartmentId::from)
        .unwrap();
    assert!(desk
        .departments(&auth)
        .await
        .unwrap()
        .iter()
        .any(|d| d.id == sales && d.name == "Sales"));
    assert!(desk
        .classifications(&auth)
        .await
        .unwrap()
        .contains(&"Question".to_owned()));

    // Contacts: found by email in any case, created with the local part, updated.
    assert!(desk
        .find_contact_by_email(&auth, "suzuki@example.jp")
        .await
        .unwrap()
        .is_none());
    let c = desk
        .upsert_contact(&auth, "suzuki@example.jp", None, None)
        .await
        .unwrap();
    assert_eq!(c.last_name, "suzuki");
    let found = desk
        .find_contact_by_email(&auth, "SUZUKI@example.jp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, c.id);
    let c2 = desk
        .upsert_contact(
            &auth,
            "Suzuki@Example.jp",
            Some("鈴木 一郎"),
            Some("03-1234-5678"),
        )
        .await
        .unwrap();
    assert_eq!(c2.id, c.id);
    assert_eq!(c2.last_name, "鈴木 一郎");
    assert_eq!(c2.phone.as_deref(), Some("03-1234-5678"));

    // Account, SLA, contract, owner (I15).
    let account = madoguchi_testkit::desk::account_under_contract(
        app,
        "/desk/api/v1/portals/acme",
        &admin.token,
    )
    .await;
    app.patch(
        &format!("/desk/api/v1/portals/acme/contacts/{}", c.id),
        t,
        json!({"accountId": account, "ownerId": agent.id}),
    )
    .await
    .assert_status(200);
    let contact = desk
        .find_contact_by_email(&auth, "suzuki@example.jp")
        .await
        .unwrap()
        .unwrap();
    let details = desk.contact_details(&auth, &contact).await.unwrap();
    assert_eq!(details.account_name.as_deref(), Some("株式会社サンプル"));
    assert_eq!(details.sla_name.as_deref(), Some("ゴールド"));
    assert_eq!(details.contract_name.as_deref(), Some("年間保守"));
    assert_eq!(details.contact_owner.as_deref(), Some(agent.name.as_str()));

    // Tickets.
    let ticket = desk
        .create_ticket(
            &auth,
            &NewTicket {
                subject: "パスワードのリセット".into(),
                description: Some("ログインできません".into()),
                department_id: Some(sales.clone()),
                contact_id: Some(c.id.clone()),
                status: Some("Closed".into()),
                priority: Some("High".into()),
                classification: Some("Problem".into()),
                channel: Some("Chat".into()),
                idempotency_key: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(ticket.ticket_number, 101);
    assert_eq!(ticket.status, "Closed");
    assert_eq!(ticket.priority.as_deref(), Some("High"));
    assert_eq!(ticket.channel.as_deref(), Some("Chat"));
    assert_eq!(ticket.department_id.as_deref(), Some(sales.as_str()));
    assert_eq!(ticket.email.as_deref(), Some("suzuki@example.jp"));
    assert_eq!(
        ticket.web_url,
        format!("{}/desk/acme/tickets/101", app.settings.public_url)
    );
    let other = desk
        .create_ticket(
            &auth,
            &NewTicket {
                subject: "請求書の再発行".into(),
                contact_id: Some(c.id.clone()),
                ..NewTicket::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(other.status, "Open");
    assert_eq!(other.channel.as_deref(), Some("Web"));
    let e = desk
        .create_ticket(
            &auth,
            &NewTicket {
                subject: " ".into(),
                ..NewTicket::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);

    // Chat threads: idempotent by seq, appended later (I11), found by chat id.
    let t1 = desk
        .upsert_chat_thread(&auth, &ticket.id, &"chat-1".into(), &lines("chat-1", 1, 3))
        .await
        .unwrap();
    assert_eq!(t1.kind, "chat");
    assert_eq!(t1.chat_id.as_deref(), Some("chat-1"));
    let again = desk
        .upsert_chat_thread(&auth, &ticket.id, &"chat-1".into(), &lines("chat-1", 1, 3))
        .await
        .unwrap();
    assert_eq!(again.id, t1.id);
    assert_eq!(again.messages.as_ref().unwrap().len(), 3);
    let more = desk
        .upsert_chat_thread(&auth, &ticket.id, &"chat-1".into(), &lines("chat-1", 2, 5))
        .await
        .unwrap();
    let seqs: Vec<i64> = more.messages.unwrap().iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    let with = desk
        .tickets_with_chat(&auth, &"chat-1".into(), Some("suzuki@example.jp"))
        .await
        .unwrap();
    assert_eq!(
        with.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        [ticket.id.as_str()]
    );
    assert!(desk
        .tickets_with_chat(&auth, &"chat-2".into(), Some("suzuki@example.jp"))
        .await
        .unwrap()
        .is_empty());

    // A ticket with its threads; a reply names the operator in process.
    let reply = desk
        .reply(
            &auth,
            &ticket.id,
            "再設定のリンクを送りました",
            Some("山田"),
        )
        .await
        .unwrap();
    assert_eq!(reply.kind, "reply");
    let full = desk.ticket(&auth, &ticket.id).await.unwrap();
    let threads = full.threads.unwrap();
    assert_eq!(threads.len(), 2);
    assert_eq!(threads[0].kind, "chat");
    assert_eq!(
        threads[1].content.as_deref(),
        Some("再設定のリンクを送りました")
    );
    assert_eq!(
        desk.ticket(&auth, &"nope".into()).await.unwrap_err().code,
        ErrorCode::NotFound
    );

    // Recent tickets of a contact (newest first), within departments (I14, I16).
    let recent = desk.contact_tickets(&auth, &c.id, 10, None).await.unwrap();
    assert_eq!(
        recent.iter().map(|t| t.ticket_number).collect::<Vec<_>>(),
        [102, 101]
    );
    let scoped = desk
        .contact_tickets(&auth, &c.id, 10, Some(std::slice::from_ref(&sales)))
        .await
        .unwrap();
    assert_eq!(
        scoped.iter().map(|t| t.ticket_number).collect::<Vec<_>>(),
        [101]
    );
    assert_eq!(
        desk.contact_tickets(&auth, &c.id, 1, None)
            .await
            .unwrap()
            .len(),
        1
    );

    // Search (D5, I19): subject substring, number, email; within departments.
    for q in ["パスワード", "101", "suzuki@example.jp"] {
        let found = desk.search_tickets(&auth, q, None).await.unwrap();
        assert!(found.iter().any(|t| t.id == ticket.id), "q={q}");
    }
    let scoped = desk
        .search_tickets(
            &auth,
            "suzuki@example.jp",
            Some(std::slice::from_ref(&sales)),
        )
        .await
        .unwrap();
    assert!(scoped
        .iter()
        .all(|t| t.department_id.as_deref() == Some(sales.as_str())));

    // Reopen / close (I20).
    let reopened = desk
        .set_ticket_status(&auth, &ticket.id, "Open")
        .await
        .unwrap();
    assert_eq!(reopened.status, "Open");

    // Q2: a create retried with its idempotency key answers the first ticket; another
    // key makes another one.
    let keyed = |key: &str| NewTicket {
        subject: "再送されるチケット".into(),
        contact_id: Some(c.id.clone()),
        idempotency_key: Some(key.into()),
        ..NewTicket::default()
    };
    let first = desk.create_ticket(&auth, &keyed("chat:k1")).await.unwrap();
    let again = desk.create_ticket(&auth, &keyed("chat:k1")).await.unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(again.ticket_number, first.ticket_number);
    let next = desk.create_ticket(&auth, &keyed("chat:k2")).await.unwrap();
    assert_ne!(next.id, first.id);
    assert_eq!(next.ticket_number, first.ticket_number + 1);

    // A regenerated key stops the link at once (I5).
    madoguchi_testkit::desk::service_key(app, "acme", &admin.token).await;
    let e = desk.verify(&auth).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidServiceKey);
    let e = desk.departments(&auth).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidServiceKey);
}
