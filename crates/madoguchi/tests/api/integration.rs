//! The Chat–Desk integration (SPEC I1–I20, API.md "Integration"), driven through the
//! HTTP API like any client: Desk and Chat portals are made with their own APIs, then
//! linked, and chats from the widget become tickets.
#![allow(clippy::unwrap_used)]

use crate::both_backends;
use crate::helpers::{Backend, Res, TestApp, TestUser};
use madoguchi_testkit::chat::{start_chat, VisitorChat};
use madoguchi_testkit::wait::until;
use serde_json::{json, Value};
use std::time::Duration;

/// A Desk portal "acme" and a Chat portal "acme-chat", both created by `admin` (so
/// admin of both), not linked yet.
pub struct World {
    pub app: TestApp,
    pub admin: TestUser,
    pub desk: String,
    pub chat: String,
}

pub const I3_JA: &str = "Madoguchi チャットで、現在のメールアドレスを Madoguchi デスクの管理者として認識できませんでした。連携の設定を完了するには、Madoguchi デスクの管理者に連絡してください。Madoguchi デスクのアカウントに未登録の場合、 登録してください。";
pub const I3_EN: &str = "We could not recognise your email address as a Desk administrator. Contact your Desk administrator to finish the setup. If you are not registered in Desk, sign up.";
pub const I13_JA: &str = "自動連携を起動しました。チャットとデスクで一致している部門が見つかったため、自動で関連付けました。関連付けを解除するには、こちらをクリックしてください";

impl World {
    pub async fn new(app: TestApp) -> Self {
        let admin = app.signup("admin@acme.example.jp").await;
        let w = Self {
            app,
            admin,
            desk: "acme".into(),
            chat: "acme-chat".into(),
        };
        w.desk_portal(&w.admin, &w.desk).await;
        madoguchi_testkit::chat::portal_by(&w.app, &w.admin.token, &w.chat, "Acme").await;
        w
    }

    /// Linked as the desk admin (I2).
    pub async fn linked(app: TestApp) -> Self {
        let w = Self::new(app).await;
        w.enable(&w.admin, None).await.assert_status(200);
        w
    }

    pub fn token(&self) -> Option<&str> {
        Some(&self.admin.token)
    }

    /// `GET path` as the admin.
    pub async fn get(&self, path: &str) -> Res {
        self.app.get(path, self.token()).await
    }

    /// `POST path` without a body as the admin.
    pub async fn post_empty(&self, path: &str) -> Res {
        self.app.post_empty(path, self.token()).await
    }

    pub async fn desk_portal(&self, user: &TestUser, name: &str) {
        madoguchi_testkit::desk::portal_by(&self.app, &user.token, name, name).await;
    }

    pub fn integ(&self, rest: &str) -> String {
        format!("/chat/api/v1/portals/{}/integrations/desk{rest}", self.chat)
    }

    pub fn chat_api(&self, rest: &str) -> String {
        format!("/chat/api/v1/portals/{}{rest}", self.chat)
    }

    pub fn desk_api(&self, rest: &str) -> String {
        format!("/desk/api/v1/portals/{}{rest}", self.desk)
    }

    pub async fn enable(&self, user: &TestUser, body: Option<Value>) -> Res {
        match body {
            Some(b) => {
                self.app
                    .post(&self.integ("/enable"), Some(&user.token), b)
                    .await
            }
            None => {
                self.app
                    .post_empty(&self.integ("/enable"), Some(&user.token))
                    .await
            }
        }
    }

    /// `PUT …/integrations/desk/departments/{id}`: a Chat department's Desk mapping.
    pub async fn map_department(&self, dept_id: &str, body: Value) -> Res {
        self.app
            .put(
                &self.integ(&format!("/departments/{dept_id}")),
                self.token(),
                body,
            )
            .await
    }

    pub async fn get_integ(&self) -> Res {
        let res = self.get(&self.integ("")).await;
        res.assert_status(200);
        res
    }

    pub async fn settings(&self, body: Value) -> Res {
        let res = self
            .app
            .patch(&self.integ("/settings"), self.token(), body)
            .await;
        res.assert_status(200);
        res
    }

    pub async fn desk_department(&self, name: &str) -> String {
        let res = self
            .app
            .post(
                &self.desk_api("/departments"),
                self.token(),
                json!({"name": name}),
            )
            .await;
        res.expect_str(201, "id")
    }

    pub async fn chat_department(&self, name: &str) -> Res {
        let res = self
            .app
            .post(
                &self.chat_api("/departments"),
                self.token(),
                json!({"name": name}),
            )
            .await;
        res.assert_status(201);
        res
    }

    pub async fn service_key(&self) -> String {
        madoguchi_testkit::desk::service_key(&self.app, &self.desk, &self.admin.token).await
    }

    /// A visitor starts a chat in the Chat portal from the widget (`body` over a question).
    pub async fn visitor_chat(&self, body: Value) -> VisitorChat {
        start_chat(&self.app, &self.chat, body).await
    }

    /// A visitor starts a chat from the widget; answers the chat id.
    pub async fn start_chat(
        &self,
        name: Option<&str>,
        email: Option<&str>,
        department_id: Option<&str>,
        question: &str,
    ) -> String {
        self.visitor_chat(json!({
            "name": name, "email": email, "departmentId": department_id,
            "question": question, "clientMessageId": uuid::Uuid::now_v7().to_string(),
        }))
        .await
        .chat_id
    }

    pub async fn accept(&self, chat_id: &str) {
        self.post_empty(&self.chat_api(&format!("/chats/{chat_id}/accept")))
            .await
            .assert_status(200);
    }

    pub async fn say(&self, chat_id: &str, text: &str) {
        self.app
            .post(
                &self.chat_api(&format!("/chats/{chat_id}/messages")),
                self.token(),
                json!({"text": text, "clientMessageId": uuid::Uuid::now_v7().to_string()}),
            )
            .await
            .assert_status(201);
    }

    pub async fn end(&self, chat_id: &str) {
        self.post_empty(&self.chat_api(&format!("/chats/{chat_id}/end")))
            .await
            .assert_status(200);
    }

    /// An attended chat: started, accepted, answered, ended.
    pub async fn attended_chat(&self, email: Option<&str>, question: &str) -> String {
        let id = self
            .start_chat(Some("鈴木 一郎"), email, None, question)
            .await;
        self.accept(&id).await;
        self.say(&id, "お調べします").await;
        self.end(&id).await;
        id
    }

    /// A missed chat: started and ended while waiting.
    pub async fn missed_chat(&self, email: Option<&str>, question: &str) -> String {
        let id = self.start_chat(None, email, None, question).await;
        self.end(&id).await;
        id
    }

    pub async fn chat(&self, chat_id: &str) -> Res {
        let res = self.get(&self.chat_api(&format!("/chats/{chat_id}"))).await;
        res.assert_status(200);
        res
    }

    pub fn desk_of(&self, chat_id: &str, rest: &str) -> String {
        self.chat_api(&format!("/chats/{chat_id}/desk{rest}"))
    }

    /// Has the worker act, then waits (at most 15 s) until the chat's automatic ticket
    /// is no longer pending.
    pub async fn auto_ticket_settled(&self, chat_id: &str) -> Value {
        until(
            Duration::from_secs(15),
            "the automatic ticket to settle",
            || async {
                self.quiesce().await;
                let chat = self.chat(chat_id).await;
                let status = chat["autoTicket"]["status"].as_str().unwrap_or("");
                (status == "created" || status == "skipped").then_some(chat.body)
            },
        )
        .await
    }

    pub async fn desk_tickets(&self) -> Vec<Value> {
        let res = self.get(&self.desk_api("/tickets?limit=200")).await;
        res.assert_status(200);
        res["data"].as_array().unwrap().clone()
    }

    pub async fn threads(&self, ticket_id: &str) -> Vec<Value> {
        let res = self
            .get(&self.desk_api(&format!("/tickets/{ticket_id}/threads")))
            .await;
        res.assert_status(200);
        res["data"].as_array().unwrap().clone()
    }

    /// Has the worker act on everything so far (until it is idle).
    pub async fn quiesce(&self) {
        self.app.run_worker_pass().await;
    }
}

/// The chat thread's message texts of a ticket.
fn chat_texts(threads: &[Value], chat_id: &str) -> Vec<String> {
    threads
        .iter()
        .filter(|t| t["kind"] == "chat" && t["chatId"] == chat_id)
        .flat_map(|t| t["messages"].as_array().cloned().unwrap_or_default())
        .map(|m| m["text"].as_str().unwrap_or("").to_owned())
        .collect()
}

both_backends!(
    i1_free_and_standard_plans_answer_plan_required_and_upgrading_restores_the_settings,
    i2_a_desk_admin_enables_at_once_and_is_shown_as_me,
    i2_only_chat_admins_change_the_integration,
    i3_a_non_admin_sees_the_message_and_three_fields_then_links_with_them,
    i4_an_admin_of_several_desk_portals_chooses_one,
    i5_a_regenerated_key_shows_broken_until_a_valid_key_is_saved,
    i6_disable_and_enable_keep_settings_and_mappings,
    i7_all_visitors_makes_one_ticket_per_chat_with_the_transcript_never_twice,
    i7_attended_missed_and_none_modes_cover_their_chats,
    i7_department_modes_decide_where_automatic_tickets_go,
    i8_missed_chats_take_the_status_setting_and_attended_ones_are_open,
    i9_department_modes_give_permissions_enforced_by_the_server,
    i10_convert_chat_to_ticket_with_priority_status_classification_department,
    i11_associate_chat_joins_the_transcript_and_later_messages_follow,
    i12_same_named_departments_are_mapped_on_linking,
    i13_a_new_chat_department_is_auto_associated_with_the_notice,
    i14_associated_view_scope_limits_recent_tickets_and_search,
    i15_i16_i17_desk_info_recent_tickets_details_and_deep_link,
    i18_no_email_means_no_automatic_ticket_until_the_operator_converts,
    i19_search_by_number_name_email_and_subject,
    i20_reopen_and_close_a_related_ticket_and_reply,
);

async fn i1_free_and_standard_plans_answer_plan_required_and_upgrading_restores_the_settings(
    app: TestApp,
) {
    let w = World::linked(app).await;
    w.settings(json!({"autoTicket": "missed", "ticketStatus": "Closed"}))
        .await;
    for plan in ["free", "standard"] {
        w.app
            .put(&w.chat_api("/plan"), w.token(), json!({"plan": plan}))
            .await
            .assert_status(200);
        w.get(&w.integ("")).await.assert_error(403, "plan_required");
        w.enable(&w.admin, None)
            .await
            .assert_error(403, "plan_required");
        w.app
            .patch(
                &w.integ("/settings"),
                w.token(),
                json!({"autoTicket": "all"}),
            )
            .await
            .assert_error(403, "plan_required");
    }
    // A missed chat while suspended makes no ticket.
    let chat = w.missed_chat(Some("v@example.jp"), "停止中の質問").await;
    w.get(&w.desk_of(&chat, ""))
        .await
        .assert_error(403, "plan_required");
    w.quiesce().await;
    assert!(w.desk_tickets().await.is_empty());
    w.app
        .put(
            &w.chat_api("/plan"),
            w.token(),
            json!({"plan": "professional"}),
        )
        .await
        .assert_status(200);
    let res = w.get_integ().await;
    assert_eq!(res["status"], "enabled");
    assert_eq!(res["settings"]["autoTicket"], "missed");
    assert_eq!(res["settings"]["ticketStatus"], "Closed");
}

async fn i2_a_desk_admin_enables_at_once_and_is_shown_as_me(app: TestApp) {
    let w = World::new(app).await;
    let before = w.get_integ().await;
    assert_eq!(before["status"], "not_linked");
    assert_eq!(before["link"], Value::Null);
    assert_eq!(before["settings"]["autoTicket"], "all");
    let res = w.enable(&w.admin, None).await;
    res.assert_status(200);
    assert_eq!(res["status"], "enabled");
    assert_eq!(res["link"]["adminEmail"], w.admin.email);
    assert_eq!(res["link"]["isMe"], true);
    assert_eq!(res["link"]["deskPortalName"], "acme");
    // The portal's key was generated; only its last 4 characters are shown.
    let key = w.get(&w.desk_api("/settings/service-key")).await;
    key.assert_status(200);
    let key = key["serviceKey"].as_str().unwrap();
    let masked = res["link"]["serviceKeyMasked"].as_str().unwrap();
    assert!(masked.ends_with(&key[key.len() - 4..]), "{masked}");
    assert!(!masked.contains(&key[..key.len() - 4]));
    // Enabling again keeps the same link and key.
    let again = w.enable(&w.admin, None).await;
    again.assert_status(200);
    assert_eq!(again["link"], res["link"]);
    // Another Chat admin sees the desk admin's email, not "Me".
    let other = w.app.signup("second-admin@acme.example.jp").await;
    w.app
        .post(
            &w.chat_api("/operators"),
            w.token(),
            json!({"email": other.email, "role": "admin"}),
        )
        .await
        .assert_status(201);
    let seen = w.app.get(&w.integ(""), Some(&other.token)).await;
    seen.assert_status(200);
    assert_eq!(seen["link"]["isMe"], false);
    assert_eq!(seen["link"]["adminEmail"], w.admin.email);
}

async fn i2_only_chat_admins_change_the_integration(app: TestApp) {
    let w = World::new(app).await;
    let op = w.app.signup("operator@acme.example.jp").await;
    w.app
        .post(
            &w.chat_api("/operators"),
            w.token(),
            json!({"email": op.email, "role": "operator"}),
        )
        .await
        .assert_status(201);
    w.app
        .post_empty(&w.integ("/enable"), None)
        .await
        .assert_error(401, "unauthenticated");
    w.enable(&op, None).await.assert_error(403, "forbidden");
    w.enable(&w.admin, None).await.assert_status(200);
    for res in [
        w.app
            .patch(
                &w.integ("/settings"),
                Some(&op.token),
                json!({"autoTicket": "none"}),
            )
            .await,
        w.app
            .post_empty(&w.integ("/disable"), Some(&op.token))
            .await,
        w.app
            .put(
                &w.integ("/link"),
                Some(&op.token),
                json!({"adminEmail": "x@example.jp", "serviceKey": "k", "deskPortalName": "acme"}),
            )
            .await,
    ] {
        res.assert_error(403, "forbidden");
    }
    // Reading is open to the portal's operators, not to strangers.
    w.app
        .get(&w.integ(""), Some(&op.token))
        .await
        .assert_status(200);
    let stranger = w.app.signup("stranger@example.jp").await;
    w.app
        .get(&w.integ(""), Some(&stranger.token))
        .await
        .assert_error(403, "forbidden");
    w.app
        .get("/chat/api/v1/portals/nope/integrations/desk", w.token())
        .await
        .assert_error(404, "not_found");
}

async fn i3_a_non_admin_sees_the_message_and_three_fields_then_links_with_them(app: TestApp) {
    let w = World::new(app).await;
    let key = w.service_key().await;
    // A Chat admin who is no Desk admin anywhere.
    let chat_admin = w.app.signup("chat-admin@acme.example.jp").await;
    w.app
        .post(
            &w.chat_api("/operators"),
            w.token(),
            json!({"email": chat_admin.email, "role": "admin"}),
        )
        .await
        .assert_status(201);
    let res = w.enable(&chat_admin, None).await;
    res.assert_error(422, "not_desk_admin");
    assert_eq!(res.body["error"]["message"], I3_JA);
    assert_eq!(
        res.body["error"]["fields"],
        json!(["adminEmail", "serviceKey", "deskPortalName"])
    );
    let en = w
        .app
        .request(
            w.app
                .http
                .post(w.app.url(&w.integ("/enable")))
                .bearer_auth(&chat_admin.token)
                .header("accept-language", "en"),
        )
        .await;
    en.assert_error(422, "not_desk_admin");
    assert_eq!(en.body["error"]["message"], I3_EN);
    // Wrong values name the wrong field.
    let cases = [
        (
            json!({"adminEmail": w.admin.email, "serviceKey": key, "deskPortalName": "nope"}),
            "desk_portal_not_found",
            "deskPortalName",
        ),
        (
            json!({"adminEmail": w.admin.email, "serviceKey": "wrong-key", "deskPortalName": "acme"}),
            "invalid_service_key",
            "serviceKey",
        ),
        (
            json!({"adminEmail": chat_admin.email, "serviceKey": key, "deskPortalName": "acme"}),
            "not_desk_admin_email",
            "adminEmail",
        ),
    ];
    for (body, code, field) in cases {
        let res = w.enable(&chat_admin, Some(body.clone())).await;
        res.assert_error(422, code);
        assert_eq!(res.body["error"]["field"], field);
        let res = w
            .app
            .put(&w.integ("/link"), Some(&chat_admin.token), body)
            .await;
        res.assert_error(422, code);
        assert_eq!(res.body["error"]["field"], field);
    }
    w.enable(
        &chat_admin,
        Some(json!({"adminEmail": w.admin.email, "serviceKey": key})),
    )
    .await
    .assert_error(400, "invalid_request");
    let res = w
        .enable(
            &chat_admin,
            Some(json!({"adminEmail": w.admin.email, "serviceKey": key, "deskPortalName": "acme"})),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res["status"], "enabled");
    assert_eq!(res["link"]["isMe"], false);
    assert_eq!(res["link"]["adminEmail"], w.admin.email);
}

async fn i4_an_admin_of_several_desk_portals_chooses_one(app: TestApp) {
    let w = World::new(app).await;
    w.desk_portal(&w.admin, "acme-east").await;
    let res = w.enable(&w.admin, None).await;
    res.assert_error(409, "choose_desk_portal");
    let mut candidates: Vec<String> = res.body["error"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    candidates.sort();
    assert_eq!(candidates, ["acme", "acme-east"]);
    // A portal they do not administer cannot be picked.
    let other = w.app.signup("other@example.jp").await;
    w.desk_portal(&other, "elsewhere").await;
    w.enable(&w.admin, Some(json!({"deskPortalName": "elsewhere"})))
        .await
        .assert_error(422, "not_desk_admin");
    let res = w
        .enable(&w.admin, Some(json!({"deskPortalName": "acme-east"})))
        .await;
    res.assert_status(200);
    assert_eq!(res["link"]["deskPortalName"], "acme-east");
    assert_eq!(res["link"]["isMe"], true);
}

async fn i5_a_regenerated_key_shows_broken_until_a_valid_key_is_saved(app: TestApp) {
    let w = World::linked(app).await;
    assert_eq!(w.get_integ().await["status"], "enabled");
    let new_key = w.service_key().await;
    let res = w.get_integ().await;
    assert_eq!(res["status"], "broken");
    assert!(res["brokenReason"].as_str().is_some_and(|r| !r.is_empty()));
    let chat = w.start_chat(None, Some("v@example.jp"), None, "質問").await;
    w.get(&w.desk_of(&chat, ""))
        .await
        .assert_error(409, "integration_disabled");
    // Change: a second Desk portal administered by someone else, then back.
    let other = w.app.signup("beta-admin@example.jp").await;
    w.desk_portal(&other, "beta").await;
    let beta_key = madoguchi_testkit::desk::service_key(&w.app, "beta", &other.token).await;
    let res = w
        .app
        .put(
            &w.integ("/link"),
            w.token(),
            json!({"adminEmail": other.email, "serviceKey": beta_key, "deskPortalName": "beta"}),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res["status"], "enabled");
    assert_eq!(res["link"]["deskPortalName"], "beta");
    assert_eq!(res["link"]["isMe"], false);
    let res = w
        .app
        .put(
            &w.integ("/link"),
            w.token(),
            json!({"adminEmail": w.admin.email, "serviceKey": new_key, "deskPortalName": "acme"}),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res["status"], "enabled");
    assert_eq!(res["brokenReason"], Value::Null);
    assert!(res["link"]["serviceKeyMasked"]
        .as_str()
        .unwrap()
        .ends_with(&new_key[new_key.len() - 4..]));
}

async fn i6_disable_and_enable_keep_settings_and_mappings(app: TestApp) {
    let w = World::new(app).await;
    let desk_sales = w.desk_department("Sales").await;
    let dept = w.chat_department("Billing").await;
    let dept_id = dept["id"].as_str().unwrap().to_owned();
    w.enable(&w.admin, None).await.assert_status(200);
    w.settings(json!({"autoTicket": "attended", "viewScope": "associated"}))
        .await;
    w.map_department(
        &dept_id,
        json!({"mode": "mapped", "deskDepartmentId": desk_sales}),
    )
    .await
    .assert_status(200);
    let res = w.post_empty(&w.integ("/disable")).await;
    res.assert_status(200);
    assert_eq!(res["status"], "disabled");
    let chat = w.start_chat(None, Some("v@example.jp"), None, "質問").await;
    w.get(&w.desk_of(&chat, ""))
        .await
        .assert_error(409, "integration_disabled");
    let res = w.enable(&w.admin, None).await;
    res.assert_status(200);
    assert_eq!(res["status"], "enabled");
    assert_eq!(res["settings"]["autoTicket"], "attended");
    assert_eq!(res["settings"]["viewScope"], "associated");
    let d = res["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["chatDepartmentId"] == dept_id.as_str())
        .unwrap();
    assert_eq!(d["mode"], "mapped");
    assert_eq!(d["deskDepartmentId"], desk_sales.as_str());
}

async fn i7_all_visitors_makes_one_ticket_per_chat_with_the_transcript_never_twice(app: TestApp) {
    let w = World::linked(app).await;
    let chat = w
        .attended_chat(Some("suzuki@example.jp"), "パスワードをリセットしたい")
        .await;
    let settled = w.auto_ticket_settled(&chat).await;
    assert_eq!(settled["autoTicket"]["status"], "created");
    let ids = settled["deskTicketIds"].as_array().unwrap().clone();
    assert_eq!(ids.len(), 1);
    let tickets = w.desk_tickets().await;
    assert_eq!(tickets.len(), 1);
    let t = &tickets[0];
    assert_eq!(t["id"], ids[0]);
    assert_eq!(t["subject"], "パスワードをリセットしたい");
    assert_eq!(t["channel"], "Chat");
    assert_eq!(t["status"], "Open");
    assert_eq!(t["email"], "suzuki@example.jp");
    assert_eq!(t["contactName"], "鈴木 一郎");
    let texts = chat_texts(&w.threads(t["id"].as_str().unwrap()).await, &chat);
    assert!(
        texts.contains(&"パスワードをリセットしたい".to_owned()),
        "{texts:?}"
    );
    assert!(texts.contains(&"お調べします".to_owned()), "{texts:?}");
    // The contact was made from the visitor.
    let contacts = w
        .get(&w.desk_api("/contacts?email=SUZUKI@example.jp"))
        .await;
    assert_eq!(contacts["data"].as_array().unwrap().len(), 1);
    // Nothing ever makes a second ticket of that chat.
    w.quiesce().await;
    assert_eq!(w.desk_tickets().await.len(), 1);
    w.app
        .post(&w.desk_of(&chat, "/tickets"), w.token(), json!({}))
        .await
        .assert_error(409, "already_converted");
    // A second visitor without a name: contact lastName = email local part.
    let second = w
        .missed_chat(Some("tanaka.h@example.jp"), "請求書の再発行")
        .await;
    let settled = w.auto_ticket_settled(&second).await;
    assert_eq!(settled["autoTicket"]["status"], "created");
    let contacts = w
        .get(&w.desk_api("/contacts?email=tanaka.h@example.jp"))
        .await;
    assert_eq!(contacts["data"][0]["lastName"], "tanaka.h");
    assert_eq!(w.desk_tickets().await.len(), 2);
}

async fn i7_attended_missed_and_none_modes_cover_their_chats(app: TestApp) {
    let w = World::linked(app).await;
    w.settings(json!({"autoTicket": "attended"})).await;
    let a1 = w.attended_chat(Some("a1@example.jp"), "attended 1").await;
    let m1 = w.missed_chat(Some("m1@example.jp"), "missed 1").await;
    assert_eq!(
        w.auto_ticket_settled(&a1).await["autoTicket"]["status"],
        "created"
    );
    // Each chat is decided under the mode in force when the worker reads its event.
    w.quiesce().await;
    w.settings(json!({"autoTicket": "missed"})).await;
    let a2 = w.attended_chat(Some("a2@example.jp"), "attended 2").await;
    let m2 = w.missed_chat(Some("m2@example.jp"), "missed 2").await;
    assert_eq!(
        w.auto_ticket_settled(&m2).await["autoTicket"]["status"],
        "created"
    );
    w.quiesce().await;
    w.settings(json!({"autoTicket": "none"})).await;
    let a3 = w.attended_chat(Some("a3@example.jp"), "attended 3").await;
    let m3 = w.missed_chat(Some("m3@example.jp"), "missed 3").await;
    w.quiesce().await;
    let subjects: Vec<String> = w
        .desk_tickets()
        .await
        .iter()
        .map(|t| t["subject"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = subjects.clone();
    sorted.sort();
    assert_eq!(sorted, ["attended 1", "missed 2"], "{subjects:?}");
    for id in [m1, a2, a3, m3] {
        let chat = w.chat(&id).await;
        assert_eq!(chat["autoTicket"]["status"], "none", "{}", chat.text);
        assert_eq!(chat["deskTicketIds"], json!([]));
    }
    // `none`: converting by hand still works.
    let chat = w.attended_chat(Some("a4@example.jp"), "by hand").await;
    w.app
        .post(&w.desk_of(&chat, "/tickets"), w.token(), json!({}))
        .await
        .assert_status(201);
}

async fn i7_department_modes_decide_where_automatic_tickets_go(app: TestApp) {
    let w = World::new(app).await;
    let desk_support = w.desk_department("サポート").await;
    let support = w.chat_department("サポート").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let choose = w.chat_department("総務").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let none = w.chat_department("採用").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let view = w.chat_department("広報").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.enable(&w.admin, None).await.assert_status(200);
    for (id, mode) in [(&none, "none"), (&view, "view_only")] {
        w.map_department(id, json!({"mode": mode}))
            .await
            .assert_status(200);
    }
    let desk_default = w.get(&w.desk_api("/departments")).await["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["isDefault"] == true)
        .unwrap()["id"]
        .clone();
    let mut made = vec![];
    for (dept, label) in [(&support, "s"), (&choose, "c"), (&none, "n"), (&view, "v")] {
        let id = w
            .start_chat(
                None,
                Some(&format!("{label}@example.jp")),
                Some(dept),
                label,
            )
            .await;
        w.end(&id).await;
        made.push(id);
    }
    for id in &made[..2] {
        assert_eq!(
            w.auto_ticket_settled(id).await["autoTicket"]["status"],
            "created"
        );
    }
    w.quiesce().await;
    let tickets = w.desk_tickets().await;
    assert_eq!(tickets.len(), 2);
    let by_subject = |s: &str| tickets.iter().find(|t| t["subject"] == s).unwrap().clone();
    assert_eq!(by_subject("s")["departmentId"], desk_support.as_str());
    assert_eq!(by_subject("c")["departmentId"], desk_default);
    for id in &made[2..] {
        assert_eq!(w.chat(id).await["autoTicket"]["status"], "none");
    }
}

async fn i8_missed_chats_take_the_status_setting_and_attended_ones_are_open(app: TestApp) {
    let w = World::linked(app).await;
    w.settings(json!({"ticketStatus": "Closed"})).await;
    let missed = w.missed_chat(Some("m@example.jp"), "missed").await;
    let attended = w.attended_chat(Some("a@example.jp"), "attended").await;
    w.auto_ticket_settled(&missed).await;
    w.auto_ticket_settled(&attended).await;
    let tickets = w.desk_tickets().await;
    let status = |s: &str| {
        tickets.iter().find(|t| t["subject"] == s).unwrap()["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(status("missed"), "Closed");
    assert_eq!(status("attended"), "Open");
    w.app
        .patch(
            &w.integ("/settings"),
            w.token(),
            json!({"ticketStatus": "On Hold"}),
        )
        .await
        .assert_error(400, "invalid_request");
    w.app
        .patch(
            &w.integ("/settings"),
            w.token(),
            json!({"autoTicket": "sometimes"}),
        )
        .await
        .assert_error(400, "invalid_request");
}

async fn i9_department_modes_give_permissions_enforced_by_the_server(app: TestApp) {
    let w = World::new(app).await;
    let desk_support = w.desk_department("Support").await;
    let mut depts = vec![];
    for name in ["Support", "Choose", "View", "None"] {
        depts.push(
            w.chat_department(name).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    w.enable(&w.admin, None).await.assert_status(200);
    w.settings(json!({"autoTicket": "none"})).await;
    w.map_department(&depts[2], json!({"mode": "view_only"}))
        .await
        .assert_status(200);
    w.map_department(&depts[3], json!({"mode": "none"}))
        .await
        .assert_status(200);
    // Mapping needs a Desk department of the linked portal.
    w.map_department(&depts[1], json!({"mode": "mapped"}))
        .await
        .assert_error(400, "invalid_request");
    w.map_department(
        &depts[1],
        json!({"mode": "mapped", "deskDepartmentId": "nope"}),
    )
    .await
    .assert_error(400, "invalid_request");
    w.map_department(&depts[1], json!({"mode": "weird"}))
        .await
        .assert_error(400, "invalid_request");
    w.app
        .put(
            &w.integ("/departments/unknown"),
            w.token(),
            json!({"mode": "none"}),
        )
        .await
        .assert_error(404, "not_found");
    let view = w.get_integ().await;
    let modes: Vec<(String, String)> =
        madoguchi_testkit::list::str_pairs(&view["departments"], "chatDepartmentName", "mode");
    assert!(
        modes.contains(&("Support".into(), "mapped".into())),
        "{modes:?}"
    );
    assert!(
        modes.contains(&("Choose".into(), "choose".into())),
        "{modes:?}"
    );
    let all = json!({"view": true, "create": true, "reply": true, "associate": true, "changeStatus": true});
    let only_view = json!({"view": true, "create": false, "reply": false, "associate": false, "changeStatus": false});
    let mut chats = vec![];
    for d in &depts {
        let id = w
            .start_chat(None, Some("v@example.jp"), Some(d), "質問")
            .await;
        chats.push(id);
    }
    let support = w.get(&w.desk_of(&chats[0], "")).await;
    support.assert_status(200);
    assert_eq!(support["permissions"], all);
    assert_eq!(support["mode"], "mapped");
    assert_eq!(support["defaultDeskDepartmentId"], desk_support.as_str());
    let choose = w.get(&w.desk_of(&chats[1], "")).await;
    assert_eq!(choose["permissions"], all);
    let view = w.get(&w.desk_of(&chats[2], "")).await;
    assert_eq!(view["permissions"], only_view);
    w.get(&w.desk_of(&chats[3], ""))
        .await
        .assert_error(403, "forbidden_by_department_mode");
    // A ticket to act on.
    let t = w
        .app
        .post(
            &w.desk_api("/tickets"),
            w.token(),
            json!({"subject": "既存の問い合わせ"}),
        )
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    // View only: viewing works, everything else is refused.
    w.get(&w.desk_of(&chats[2], &format!("/tickets/{tid}")))
        .await
        .assert_status(200);
    for res in [
        w.app
            .post(&w.desk_of(&chats[2], "/tickets"), w.token(), json!({}))
            .await,
        w.app
            .post(
                &w.desk_of(&chats[2], "/associate"),
                w.token(),
                json!({"ticketId": tid}),
            )
            .await,
        w.app
            .patch(
                &w.desk_of(&chats[2], &format!("/tickets/{tid}")),
                w.token(),
                json!({"status": "Closed"}),
            )
            .await,
        w.app
            .post(
                &w.desk_of(&chats[2], &format!("/tickets/{tid}/replies")),
                w.token(),
                json!({"content": "x"}),
            )
            .await,
        w.get(&w.desk_of(&chats[3], "/tickets/search?q=既存")).await,
        w.app
            .post(&w.desk_of(&chats[3], "/tickets"), w.token(), json!({}))
            .await,
    ] {
        res.assert_error(403, "forbidden_by_department_mode");
    }
    // Choose as needed: create, associate, reply, change status.
    w.app
        .post(
            &w.desk_of(&chats[1], &format!("/tickets/{tid}/replies")),
            w.token(),
            json!({"content": "返信"}),
        )
        .await
        .assert_status(201);
    w.app
        .post(&w.desk_of(&chats[1], "/tickets"), w.token(), json!({}))
        .await
        .assert_status(201);
    // An operator of another department cannot reach the chat at all.
    let op = w.app.signup("op@example.jp").await;
    w.app
        .post(
            &w.chat_api("/operators"),
            w.token(),
            json!({"email": op.email, "role": "operator", "departmentIds": [depts[1]]}),
        )
        .await
        .assert_status(201);
    w.app
        .get(&w.desk_of(&chats[0], ""), Some(&op.token))
        .await
        .assert_error(403, "forbidden");
    w.app
        .get(&w.desk_of(&chats[1], ""), Some(&op.token))
        .await
        .assert_status(200);
}

async fn i10_convert_chat_to_ticket_with_priority_status_classification_department(app: TestApp) {
    let w = World::new(app).await;
    let desk_sales = w.desk_department("Sales").await;
    w.enable(&w.admin, None).await.assert_status(200);
    w.settings(json!({"autoTicket": "none"})).await;
    let chat = w
        .start_chat(
            Some("佐藤 花子"),
            Some("sato@example.jp"),
            None,
            "見積もりがほしい",
        )
        .await;
    w.accept(&chat).await;
    w.say(&chat, "承知しました").await;
    let desk = w.get(&w.desk_of(&chat, "")).await;
    desk.assert_status(200);
    assert!(desk["classifications"]
        .as_array()
        .unwrap()
        .contains(&json!("Question")));
    for (body, field) in [
        (json!({"priority": "Urgent"}), "priority"),
        (json!({"status": "Pending"}), "status"),
        (json!({"classification": "Nope"}), "classification"),
        (json!({"departmentId": "nope"}), "departmentId"),
    ] {
        let res = w
            .app
            .post(&w.desk_of(&chat, "/tickets"), w.token(), body)
            .await;
        res.assert_error(400, "invalid_request");
        assert_eq!(res.body["error"]["field"], field);
    }
    let res = w
        .app
        .post(
            &w.desk_of(&chat, "/tickets"),
            w.token(),
            json!({"priority": "High", "status": "Escalated", "classification": "Problem", "departmentId": desk_sales}),
        )
        .await;
    res.assert_status(201);
    assert_eq!(res["subject"], "見積もりがほしい");
    assert_eq!(res["priority"], "High");
    assert_eq!(res["status"], "Escalated");
    assert_eq!(res["classification"], "Problem");
    assert_eq!(res["departmentId"], desk_sales.as_str());
    assert_eq!(res["channel"], "Chat");
    assert_eq!(res["email"], "sato@example.jp");
    assert!(res["webUrl"]
        .as_str()
        .unwrap()
        .ends_with("/desk/acme/tickets/101"));
    let tid = res["id"].as_str().unwrap().to_owned();
    let texts = chat_texts(&w.threads(&tid).await, &chat);
    assert!(texts.contains(&"見積もりがほしい".to_owned()), "{texts:?}");
    assert!(texts.contains(&"承知しました".to_owned()), "{texts:?}");
    assert_eq!(w.chat(&chat).await["deskTicketIds"], json!([tid]));
    w.app
        .post(&w.desk_of(&chat, "/tickets"), w.token(), json!({}))
        .await
        .assert_error(409, "already_converted");
    // Later messages join the same thread (I11).
    w.say(&chat, "追加のご案内です").await;
    w.end(&chat).await;
    w.quiesce().await;
    assert!(
        chat_texts(&w.threads(&tid).await, &chat).contains(&"追加のご案内です".to_owned()),
        "later message appended"
    );
    assert_eq!(w.desk_tickets().await.len(), 1);
}

async fn i11_associate_chat_joins_the_transcript_and_later_messages_follow(app: TestApp) {
    let w = World::linked(app).await;
    let t = w
        .app
        .post(
            &w.desk_api("/tickets"),
            w.token(),
            json!({"subject": "ログインできない"}),
        )
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let chat = w
        .start_chat(
            None,
            Some("kato@example.jp"),
            None,
            "まだログインできません",
        )
        .await;
    w.accept(&chat).await;
    w.app
        .post(&w.desk_of(&chat, "/associate"), w.token(), json!({}))
        .await
        .assert_error(400, "invalid_request");
    w.app
        .post(
            &w.desk_of(&chat, "/associate"),
            w.token(),
            json!({"ticketId": "nope"}),
        )
        .await
        .assert_error(404, "not_found");
    let res = w
        .app
        .post(
            &w.desk_of(&chat, "/associate"),
            w.token(),
            json!({"ticketId": tid}),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res["id"], tid.as_str());
    // At once: the transcript is in the ticket.
    let texts = chat_texts(&w.threads(&tid).await, &chat);
    assert!(texts.contains(&"まだログインできません".to_owned()));
    // Idempotent.
    w.app
        .post(
            &w.desk_of(&chat, "/associate"),
            w.token(),
            json!({"ticketId": tid}),
        )
        .await
        .assert_status(200);
    assert_eq!(w.chat(&chat).await["deskTicketIds"], json!([tid]));
    let panel = w.get(&w.desk_of(&chat, "")).await;
    assert_eq!(panel["linkedTickets"][0]["id"], tid.as_str());
    w.say(&chat, "再設定のリンクを送りました").await;
    w.end(&chat).await;
    // The ended chat does not become a second ticket, and the thread holds it all.
    let settled = w.auto_ticket_settled(&chat).await;
    assert_eq!(settled["autoTicket"]["status"], "skipped");
    w.quiesce().await;
    let texts = chat_texts(&w.threads(&tid).await, &chat);
    assert!(
        texts.contains(&"再設定のリンクを送りました".to_owned()),
        "{texts:?}"
    );
    let threads = w.threads(&tid).await;
    assert_eq!(threads.iter().filter(|t| t["kind"] == "chat").count(), 1);
    let seqs: Vec<i64> = threads
        .iter()
        .filter(|t| t["kind"] == "chat")
        .flat_map(|t| t["messages"].as_array().unwrap().clone())
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    let mut dedup = seqs.clone();
    dedup.dedup();
    assert_eq!(seqs, dedup, "no message twice");
    assert_eq!(w.desk_tickets().await.len(), 1);
}

async fn i12_same_named_departments_are_mapped_on_linking(app: TestApp) {
    let w = World::new(app).await;
    let mut desk_ids = vec![];
    for name in ["サポート", "営業", "Billing"] {
        desk_ids.push(w.desk_department(name).await);
    }
    let mut chat_ids = vec![];
    for name in ["サポート", "営業", "billing", "経理", "採用"] {
        chat_ids.push(
            w.chat_department(name).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Chosen on purpose before linking: No integration stays.
    w.map_department(&chat_ids[4], json!({"mode": "none"}))
        .await
        .assert_status(200);
    let res = w.enable(&w.admin, None).await;
    res.assert_status(200);
    let depts = res["departments"].as_array().unwrap();
    assert_eq!(depts.len(), 5);
    let find = |n: &str| depts.iter().find(|d| d["chatDepartmentName"] == n).unwrap();
    assert_eq!(find("サポート")["mode"], "mapped");
    assert_eq!(find("サポート")["deskDepartmentId"], desk_ids[0].as_str());
    assert_eq!(find("営業")["deskDepartmentId"], desk_ids[1].as_str());
    assert_eq!(find("billing")["deskDepartmentId"], desk_ids[2].as_str());
    assert_eq!(find("経理")["mode"], "choose");
    assert_eq!(find("経理")["deskDepartmentId"], Value::Null);
    assert_eq!(find("採用")["mode"], "none");
    // The Desk departments are listed for the menus.
    assert!(res["deskDepartments"].as_array().unwrap().len() >= 3);
}

async fn i13_a_new_chat_department_is_auto_associated_with_the_notice(app: TestApp) {
    let w = World::linked(app).await;
    let desk_support = w.desk_department("サポート").await;
    let res = w.chat_department("サポート").await;
    let mapping = &res["deskMapping"];
    assert_eq!(mapping["mode"], "mapped");
    assert_eq!(mapping["deskDepartmentId"], desk_support.as_str());
    assert_eq!(mapping["autoAssociated"], true);
    assert_eq!(mapping["notice"], I13_JA);
    let id = res["id"].as_str().unwrap().to_owned();
    let other = w.chat_department("未知の部門").await;
    assert_eq!(other["deskMapping"]["mode"], "choose");
    assert_eq!(other["deskMapping"]["notice"], Value::Null);
    let res = w
        .app
        .delete(
            &w.integ(&format!("/departments/{id}/association")),
            w.token(),
        )
        .await;
    res.assert_status(200);
    let d = res["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["chatDepartmentId"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(d["mode"], "choose");
    assert_eq!(d["autoAssociated"], false);
    let list = w.get(&w.chat_api("/departments")).await;
    let listed = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["deskMapping"]["mode"], "choose");
}

/// I14 fixture: the Desk departments Support (mapped: a Chat department of that name)
/// and Other (unmapped), the Chat department Choose (choose as needed), view scope
/// "associated", and one ticket of the contact ito@example.jp in each Desk department:
/// "scope in" and "scope out".
pub struct ScopeFixture {
    pub chat_support: String,
    pub chat_choose: String,
    /// The ticket id of "scope in" (Support).
    pub inside: String,
    /// The ticket id of "scope out" (Other).
    pub outside: String,
}

impl World {
    pub async fn associated_scope(&self) -> ScopeFixture {
        let support = self.desk_department("Support").await;
        let other = self.desk_department("Other").await;
        let chat_id = |r: Res| r["id"].as_str().unwrap().to_owned();
        let chat_support = chat_id(self.chat_department("Support").await);
        let chat_choose = chat_id(self.chat_department("Choose").await);
        self.enable(&self.admin, None).await.assert_status(200);
        self.settings(json!({"autoTicket": "none", "viewScope": "associated"}))
            .await;
        let contact = self
            .app
            .post(
                &self.desk_api("/contacts"),
                self.token(),
                json!({"lastName": "Ito", "email": "ito@example.jp"}),
            )
            .await;
        let contact_id = contact["id"].as_str().unwrap().to_owned();
        let mut ids = Vec::new();
        for (subject, dept) in [("scope in", &support), ("scope out", &other)] {
            let t = self
                .app
                .post(
                    &self.desk_api("/tickets"),
                    self.token(),
                    json!({"subject": subject, "departmentId": dept, "contactId": contact_id}),
                )
                .await;
            t.assert_status(201);
            ids.push(t["id"].as_str().unwrap().to_owned());
        }
        let outside = ids.pop().unwrap();
        let inside = ids.pop().unwrap();
        ScopeFixture {
            chat_support,
            chat_choose,
            inside,
            outside,
        }
    }
}

async fn i14_associated_view_scope_limits_recent_tickets_and_search(app: TestApp) {
    let w = World::new(app).await;
    let ScopeFixture {
        chat_support,
        chat_choose,
        ..
    } = w.associated_scope().await;
    let subjects = |v: &Value| -> Vec<String> {
        let mut s: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["subject"].as_str().unwrap().to_owned())
            .collect();
        s.sort();
        s
    };
    let mapped = w
        .start_chat(None, Some("ito@example.jp"), Some(&chat_support), "q")
        .await;
    let panel = w.get(&w.desk_of(&mapped, "")).await;
    assert_eq!(subjects(&panel["recentTickets"]), ["scope in"]);
    let found = w.get(&w.desk_of(&mapped, "/tickets/search?q=scope")).await;
    assert_eq!(subjects(&found["data"]), ["scope in"]);
    // Choose as needed always sees every department.
    let chosen = w
        .start_chat(None, Some("ito@example.jp"), Some(&chat_choose), "q")
        .await;
    let panel = w.get(&w.desk_of(&chosen, "")).await;
    assert_eq!(subjects(&panel["recentTickets"]), ["scope in", "scope out"]);
    w.settings(json!({"viewScope": "all"})).await;
    let found = w.get(&w.desk_of(&mapped, "/tickets/search?q=scope")).await;
    assert_eq!(subjects(&found["data"]), ["scope in", "scope out"]);
}

async fn i15_i16_i17_desk_info_recent_tickets_details_and_deep_link(app: TestApp) {
    let w = World::linked(app).await;
    w.settings(json!({"autoTicket": "none"})).await;
    let account = w
        .app
        .post(
            &w.desk_api("/accounts"),
            w.token(),
            json!({"accountName": "株式会社サンプル"}),
        )
        .await["id"]
        .clone();
    let sla = w
        .app
        .post(&w.desk_api("/slas"), w.token(), json!({"name": "ゴールド"}))
        .await["id"]
        .clone();
    w.app
        .post(
            &w.desk_api("/contracts"),
            w.token(),
            json!({"contractName": "年間保守", "accountId": account, "slaId": sla}),
        )
        .await
        .assert_status(201);
    let contact = w
        .app
        .post(
            &w.desk_api("/contacts"),
            w.token(),
            json!({"firstName": "一郎", "lastName": "鈴木", "email": "suzuki@example.jp", "accountId": account, "ownerId": w.admin.id}),
        )
        .await;
    contact.assert_status(201);
    // An earlier chat, converted: its transcript is in the ticket.
    let old = w
        .start_chat(None, Some("suzuki@example.jp"), None, "以前の質問")
        .await;
    let t1 = w
        .app
        .post(&w.desk_of(&old, "/tickets"), w.token(), json!({}))
        .await;
    let t1 = t1.expect_str(201, "id");
    w.end(&old).await;
    // The visitor comes back: the panel shows the desk info and recent tickets.
    let chat = w
        .start_chat(None, Some("Suzuki@Example.jp"), None, "また質問")
        .await;
    let panel = w.get(&w.desk_of(&chat, "")).await;
    panel.assert_status(200);
    let c = &panel["contact"];
    assert_eq!(c["email"], "suzuki@example.jp");
    assert_eq!(c["accountName"], "株式会社サンプル");
    assert_eq!(c["slaName"], "ゴールド");
    assert_eq!(c["contractName"], "年間保守");
    assert_eq!(c["contactOwner"], w.admin.name.as_str());
    assert_eq!(panel["recentTickets"][0]["id"], t1.as_str());
    assert_eq!(panel["linkedTickets"], json!([]));
    let detail = w.get(&w.desk_of(&chat, &format!("/tickets/{t1}"))).await;
    detail.assert_status(200);
    assert_eq!(
        detail["webUrl"],
        format!(
            "http://madoguchi.test/desk/acme/tickets/{}",
            detail["ticketNumber"]
        )
    );
    let texts = chat_texts(detail["threads"].as_array().unwrap(), &old);
    assert!(texts.contains(&"以前の質問".to_owned()), "{texts:?}");
    w.get(&w.desk_of(&chat, "/tickets/nope"))
        .await
        .assert_error(404, "not_found");
    // Saving the visitor (the pencil) keeps a contact name that says the same, and
    // updates the phone.
    let visitor_id = w.chat(&chat).await["visitor"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.app
        .patch(
            &w.chat_api(&format!("/visitors/{visitor_id}")),
            w.token(),
            json!({"name": "鈴木 一郎", "phone": "090-1111-2222"}),
        )
        .await
        .assert_status(200);
    let c = w
        .get(&w.desk_api("/contacts?email=suzuki@example.jp"))
        .await;
    assert_eq!(c["data"][0]["firstName"], "一郎");
    assert_eq!(c["data"][0]["lastName"], "鈴木");
    assert_eq!(c["data"][0]["phone"], "090-1111-2222");
    // A visitor unknown to Desk: no contact, no tickets.
    let unknown = w
        .start_chat(None, Some("new@example.jp"), None, "初めて")
        .await;
    let panel = w.get(&w.desk_of(&unknown, "")).await;
    assert_eq!(panel["contact"], Value::Null);
    assert_eq!(panel["recentTickets"], json!([]));
}

async fn i18_no_email_means_no_automatic_ticket_until_the_operator_converts(app: TestApp) {
    let w = World::linked(app).await;
    let chat = w
        .start_chat(Some("高橋"), None, None, "メールなしの質問")
        .await;
    w.accept(&chat).await;
    w.end(&chat).await;
    let settled = w.auto_ticket_settled(&chat).await;
    assert_eq!(settled["autoTicket"]["status"], "skipped");
    // The chat says why in the reader's language (stored as a key, shown as text):
    // the chat, the chat list, the operator socket and the desk panel.
    use madoguchi_core::{i18n, Lang};
    let ja = i18n::t(Lang::Ja, "integ-skip-no-email");
    let en = i18n::t(Lang::En, "integ-skip-no-email");
    assert!(
        ja.contains("メールアドレス") && en.contains("email"),
        "{ja} / {en}"
    );
    assert_eq!(settled["autoTicket"]["reason"], ja.as_str());
    let get_en = |path: String| {
        w.app.request(
            w.app
                .http
                .get(w.app.url(&path))
                .bearer_auth(&w.admin.token)
                .header("accept-language", "en"),
        )
    };
    let chat_en = get_en(w.chat_api(&format!("/chats/{chat}"))).await;
    assert_eq!(chat_en["autoTicket"]["reason"], en.as_str());
    for (list, text) in [
        (get_en(w.chat_api("/chats?state=ended")).await, &en),
        (w.get(&w.chat_api("/chats?state=ended")).await, &ja),
    ] {
        list.assert_status(200);
        let listed = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == chat.as_str())
            .unwrap()
            .clone();
        assert_eq!(listed["autoTicket"]["reason"], text.as_str());
    }
    for (lang, text) in [("en", &en), ("ja", &ja)] {
        let mut ws = crate::chat::Ws::connect(
            &w.app,
            &w.chat_api(&format!(
                "/ws?token={}&lang={lang}&afterEvent=0",
                w.admin.token
            )),
        )
        .await;
        let seen = loop {
            let frame = ws.next().await;
            if frame["type"] == "chat.ended" && frame["chat"]["id"] == chat.as_str() {
                break frame;
            }
        };
        assert_eq!(
            seen["chat"]["autoTicket"]["reason"],
            text.as_str(),
            "{lang}"
        );
    }
    let panel = get_en(w.desk_of(&chat, "")).await;
    panel.assert_status(200);
    assert_eq!(panel["autoTicket"]["reason"], en.as_str());
    w.app
        .post(&w.desk_of(&chat, "/tickets"), w.token(), json!({}))
        .await
        .assert_error(422, "visitor_email_required");
    // The pencil: the visitor's email, synced to Desk before the answer.
    let visitor_id = settled["visitor"]["id"].as_str().unwrap().to_owned();
    w.app
        .patch(
            &w.chat_api(&format!("/visitors/{visitor_id}")),
            w.token(),
            json!({"email": "takahashi@example.jp", "phone": "03-1234-5678"}),
        )
        .await
        .assert_status(200);
    let contacts = w
        .get(&w.desk_api("/contacts?email=takahashi@example.jp"))
        .await;
    assert_eq!(contacts["data"][0]["lastName"], "高橋");
    assert_eq!(contacts["data"][0]["phone"], "03-1234-5678");
    // Adding the email does not retry the automatic ticket…
    w.quiesce().await;
    assert!(w.desk_tickets().await.is_empty());
    assert_eq!(w.chat(&chat).await["autoTicket"]["status"], "skipped");
    // …converting is the operator's choice.
    let t = w
        .app
        .post(&w.desk_of(&chat, "/tickets"), w.token(), json!({}))
        .await;
    t.assert_status(201);
    assert_eq!(t["email"], "takahashi@example.jp");
    assert_eq!(w.desk_tickets().await.len(), 1);
}

async fn i19_search_by_number_name_email_and_subject(app: TestApp) {
    let w = World::linked(app).await;
    w.settings(json!({"autoTicket": "none"})).await;
    let contact = w
        .app
        .post(
            &w.desk_api("/contacts"),
            w.token(),
            json!({"lastName": "山本", "email": "yamamoto@example.jp"}),
        )
        .await;
    let t = w
        .app
        .post(
            &w.desk_api("/tickets"),
            w.token(),
            json!({"subject": "パスワードのリセット", "contactId": contact["id"]}),
        )
        .await;
    t.assert_status(201);
    let number = t["ticketNumber"].as_i64().unwrap().to_string();
    let chat = w.start_chat(None, None, None, "検索").await;
    for q in [number.as_str(), "山本", "yamamoto@example.jp", "パスワード"] {
        let res = w
            .app
            .get(
                &format!("{}?q={}", w.desk_of(&chat, "/tickets/search"), urlencode(q)),
                w.token(),
            )
            .await;
        res.assert_status(200);
        assert_eq!(res["data"][0]["id"], t["id"], "q={q}: {}", res.text);
    }
    w.get(&w.desk_of(&chat, "/tickets/search?q="))
        .await
        .assert_error(400, "invalid_request");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn i20_reopen_and_close_a_related_ticket_and_reply(app: TestApp) {
    let w = World::linked(app).await;
    let t = w
        .app
        .post(
            &w.desk_api("/tickets"),
            w.token(),
            json!({"subject": "リセット済みのはず", "status": "Closed"}),
        )
        .await;
    let tid = t["id"].as_str().unwrap().to_owned();
    let chat = w
        .start_chat(None, Some("v@example.jp"), None, "まだです")
        .await;
    w.accept(&chat).await;
    let path = w.desk_of(&chat, &format!("/tickets/{tid}"));
    let res = w
        .app
        .patch(&path, w.token(), json!({"status": "Open"}))
        .await;
    res.assert_status(200);
    assert_eq!(res["status"], "Open");
    w.app
        .patch(&path, w.token(), json!({"status": "On Hold"}))
        .await
        .assert_error(400, "invalid_request");
    let res = w
        .app
        .patch(&path, w.token(), json!({"status": "Closed"}))
        .await;
    assert_eq!(res["status"], "Closed");
    let reply = w
        .app
        .post(
            &format!("{path}/replies"),
            w.token(),
            json!({"content": "もう一度お送りしました"}),
        )
        .await;
    reply.assert_status(201);
    assert_eq!(reply["kind"], "reply");
    w.app
        .post(
            &format!("{path}/replies"),
            w.token(),
            json!({"content": "  "}),
        )
        .await
        .assert_error(400, "invalid_request");
    let threads = w.threads(&tid).await;
    assert!(threads
        .iter()
        .any(|t| t["kind"] == "reply" && t["content"] == "もう一度お送りしました"));
}

// ---- Chat and Desk in two processes (Q1, Q2) ------------------------------------------

/// A Desk server on its own (its own database), restartable on the same port and data.
pub(crate) struct DeskServer {
    dir: std::path::PathBuf,
    addr: std::net::SocketAddr,
}

impl DeskServer {
    pub(crate) fn new() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        Self {
            dir: std::env::temp_dir()
                .join(format!("madoguchi-desk-{}", uuid::Uuid::now_v7().simple())),
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) async fn start(&self) -> TestApp {
        let (dir, addr) = (self.dir.clone(), self.addr);
        for _ in 0..50 {
            let dir = dir.clone();
            let started =
                std::panic::AssertUnwindSafe(TestApp::spawn_with(Backend::Sqlite, move |s| {
                    s.data_dir = dir;
                    s.listen = addr;
                }));
            if let Ok(Some(app)) = futures::FutureExt::catch_unwind(started).await {
                return app;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the desk server did not start on {addr}");
    }
}

impl Drop for DeskServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Links a Chat process (`--desk-url`) to a Desk process: a Desk admin's key, given
/// with the three fields (the Chat process cannot see Desk roles).
pub(crate) async fn link_over_http(chat: &TestApp, desk: &TestApp) -> (TestUser, String) {
    let desk_admin = desk.signup("desk-admin@example.jp").await;
    madoguchi_testkit::desk::portal_by(desk, &desk_admin.token, "acme", "Acme").await;
    let key = madoguchi_testkit::desk::service_key(desk, "acme", &desk_admin.token).await;
    let chat_admin = chat.signup("chat-admin@example.jp").await;
    madoguchi_testkit::chat::portal_by(chat, &chat_admin.token, "acme-chat", "Acme").await;
    let enable = "/chat/api/v1/portals/acme-chat/integrations/desk/enable";
    // Without a body there is no way to see the user's Desk roles: the I3 answer.
    chat.post_empty(enable, Some(&chat_admin.token))
        .await
        .assert_error(422, "not_desk_admin");
    let res = chat
        .post(
            enable,
            Some(&chat_admin.token),
            json!({"adminEmail": desk_admin.email, "serviceKey": key, "deskPortalName": "acme"}),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res["status"], "enabled");
    (chat_admin, desk_admin.token)
}

pub(crate) async fn widget_chat(chat: &TestApp, email: &str, question: &str) -> String {
    start_chat(
        chat,
        "acme-chat",
        json!({"email": email, "question": question, "clientMessageId": uuid::Uuid::now_v7().to_string()}),
    )
    .await
    .chat_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q1_chat_uses_a_desk_in_another_process_over_http() {
    let desk_server = DeskServer::new();
    let desk = desk_server.start().await;
    let chat = TestApp::spawn_with(Backend::Sqlite, |s| s.desk_url = Some(desk_server.url()))
        .await
        .unwrap();
    let (chat_admin, desk_token) = link_over_http(&chat, &desk).await;
    let t = Some(chat_admin.token.as_str());
    let id = widget_chat(&chat, "remote@example.jp", "別プロセスの質問").await;
    chat.post_empty(
        &format!("/chat/api/v1/portals/acme-chat/chats/{id}/accept"),
        t,
    )
    .await
    .assert_status(200);
    let panel = chat
        .get(
            &format!("/chat/api/v1/portals/acme-chat/chats/{id}/desk"),
            t,
        )
        .await;
    panel.assert_status(200);
    let ticket = chat
        .post(
            &format!("/chat/api/v1/portals/acme-chat/chats/{id}/desk/tickets"),
            t,
            json!({"priority": "Low"}),
        )
        .await;
    ticket.assert_status(201);
    assert_eq!(ticket["priority"], "Low");
    let tid = ticket["id"].as_str().unwrap();
    let threads = desk
        .get(
            &format!("/desk/api/v1/portals/acme/tickets/{tid}/threads"),
            Some(&desk_token),
        )
        .await;
    assert!(chat_texts(threads["data"].as_array().unwrap(), &id)
        .contains(&"別プロセスの質問".to_owned()));
    let reply = chat
        .post(
            &format!("/chat/api/v1/portals/acme-chat/chats/{id}/desk/tickets/{tid}/replies"),
            t,
            json!({"content": "HTTP 経由の返信"}),
        )
        .await;
    reply.assert_status(201);
    // A regenerated key breaks the link at once over HTTP too.
    madoguchi_testkit::desk::service_key(&desk, "acme", &desk_token).await;
    let view = chat
        .get("/chat/api/v1/portals/acme-chat/integrations/desk", t)
        .await;
    assert_eq!(view["status"], "broken", "{}", view.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q2_while_desk_is_down_chats_end_normally_and_every_ticket_appears_exactly_once() {
    let desk_server = DeskServer::new();
    let desk = desk_server.start().await;
    let chat_dir =
        std::env::temp_dir().join(format!("madoguchi-chat-{}", uuid::Uuid::now_v7().simple()));
    let spawn_chat = || {
        let (dir, url) = (chat_dir.clone(), desk_server.url());
        TestApp::spawn_with(Backend::Sqlite, move |s| {
            s.desk_url = Some(url);
            s.data_dir = dir;
        })
    };
    let chat = spawn_chat().await.unwrap();
    let (chat_admin, desk_token) = link_over_http(&chat, &desk).await;
    let t = Some(chat_admin.token.as_str());
    desk.stop().await;

    // Desk is down: chats start, are answered and end as usual.
    let mut ids = vec![];
    for i in 0..3 {
        let id = widget_chat(
            &chat,
            &format!("v{i}@example.jp"),
            &format!("障害中の質問 {i}"),
        )
        .await;
        chat.post_empty(
            &format!("/chat/api/v1/portals/acme-chat/chats/{id}/accept"),
            t,
        )
        .await
        .assert_status(200);
        chat.post_empty(&format!("/chat/api/v1/portals/acme-chat/chats/{id}/end"), t)
            .await
            .assert_status(200);
        ids.push(id);
    }
    // A visitor edited meanwhile (C6, I18): saved now, synced to Desk when it is back.
    let VisitorChat {
        chat_id: late_chat,
        visitor_id: late_visitor,
        ..
    } = start_chat(
        &chat,
        "acme-chat",
        json!({"question": "メールは後で", "clientMessageId": "late-1"}),
    )
    .await;
    // Ended without an email: skipped, and the email added later does not retry it.
    chat.post_empty(
        &format!("/chat/api/v1/portals/acme-chat/chats/{late_chat}/end"),
        t,
    )
    .await
    .assert_status(200);
    chat.run_worker_pass().await;
    let c = chat
        .get(
            &format!("/chat/api/v1/portals/acme-chat/chats/{late_chat}"),
            t,
        )
        .await;
    assert_eq!(c["autoTicket"]["status"], "skipped", "no email: {}", c.text);
    chat.patch(
        &format!("/chat/api/v1/portals/acme-chat/visitors/{late_visitor}"),
        t,
        json!({"name": "後藤", "email": "goto@example.jp"}),
    )
    .await
    .assert_status(200);
    // The work waits (pending): every job was tried, failed and waits for its retry.
    chat.run_worker_pass().await;
    for id in &ids {
        let c = chat
            .get(&format!("/chat/api/v1/portals/acme-chat/chats/{id}"), t)
            .await;
        assert_eq!(c["state"], "ended");
        assert_eq!(c["autoTicket"]["status"], "pending", "{}", c.text);
    }
    let view = chat
        .get("/chat/api/v1/portals/acme-chat/integrations/desk", t)
        .await;
    assert_eq!(view["deskReachable"], false, "{}", view.text);
    assert!(view["pendingJobs"].as_i64().unwrap() >= 3, "{}", view.text);
    // The Chat process restarts while the work waits: nothing is lost.
    chat.stop().await;
    let chat = spawn_chat().await.unwrap();
    // Desk comes back; the next retry (moved forward by the clock) delivers.
    let desk = desk_server.start().await;
    let login = desk
        .log_in("desk-admin@example.jp", "correct horse battery")
        .await;
    let desk_token = login["token"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or(desk_token);
    // Each probe moves the clock to the next retry and has the worker act on it.
    until(
        Duration::from_secs(60),
        "every chat to become a ticket",
        || async {
            chat.clock.advance_ms(60_000);
            chat.run_worker_pass().await;
            let mut created = 0;
            for id in &ids {
                let c = chat
                    .get(&format!("/chat/api/v1/portals/acme-chat/chats/{id}"), t)
                    .await;
                if c["autoTicket"]["status"] == "created" {
                    created += 1;
                }
            }
            (created == ids.len()).then_some(())
        },
    )
    .await;
    until(
        Duration::from_secs(60),
        "the visitor edit to reach Desk",
        || async {
            chat.clock.advance_ms(60_000);
            chat.run_worker_pass().await;
            let c = desk
                .get(
                    "/desk/api/v1/portals/acme/contacts?email=goto@example.jp",
                    Some(&desk_token),
                )
                .await;
            (c["data"][0]["lastName"] == "後藤").then_some(())
        },
    )
    .await;
    // Exactly once, each with its transcript.
    chat.run_worker_pass().await;
    let tickets = desk
        .get(
            "/desk/api/v1/portals/acme/tickets?limit=200",
            Some(&desk_token),
        )
        .await;
    let tickets = tickets["data"].as_array().unwrap().clone();
    assert_eq!(tickets.len(), ids.len(), "{tickets:?}");
    for (i, id) in ids.iter().enumerate() {
        let subject = format!("障害中の質問 {i}");
        let matching: Vec<&Value> = tickets
            .iter()
            .filter(|t| t["subject"] == subject.as_str())
            .collect();
        assert_eq!(matching.len(), 1, "{subject}");
        let tid = matching[0]["id"].as_str().unwrap();
        let threads = desk
            .get(
                &format!("/desk/api/v1/portals/acme/tickets/{tid}/threads"),
                Some(&desk_token),
            )
            .await;
        assert!(chat_texts(threads["data"].as_array().unwrap(), id).contains(&subject));
    }
    chat.stop().await;
    let _ = std::fs::remove_dir_all(&chat_dir);
}
