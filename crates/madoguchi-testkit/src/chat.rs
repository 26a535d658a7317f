//! Chat builders: portals with an admin, departments, operators, a visitor's chat
//! started through the widget, the actions of an operator, and a WebSocket client that
//! reads JSON frames.

use crate::app::{Res, TestApp, TestUser};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// `/chat/api/v1/portals/{portal}{rest}`.
pub fn api(portal: &str, rest: &str) -> String {
    format!("/chat/api/v1/portals/{portal}{rest}")
}

/// `/chat/widget/v1/{portal}{rest}`.
pub fn widget(portal: &str, rest: &str) -> String {
    format!("/chat/widget/v1/{portal}{rest}")
}

pub fn new_client_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Signs up `email` and creates the Chat portal `portal` with them as admin.
pub async fn portal_with_admin(app: &TestApp, email: &str, portal: &str) -> TestUser {
    let admin = app.signup(email).await;
    portal_by(app, &admin.token, portal, &format!("{portal} Inc.")).await;
    admin
}

/// Creates the Chat portal `name` (shown as `display`) with `admin` as its admin.
pub async fn create_portal(app: &TestApp, admin: &TestUser, name: &str, display: &str) {
    portal_by(app, &admin.token, name, display).await;
}

/// Creates the Chat portal `name` (shown as `display`) by the holder of `token`; it must
/// succeed.
pub async fn portal_by(app: &TestApp, token: &str, name: &str, display: &str) {
    crate::app::create_portal(app, "/chat/api/v1/portals", token, name, display).await;
}

/// Asks for the Chat portal `name` (shown as `display`) as the holder of `token`;
/// answers the response, for the refusals (a taken or malformed name).
pub async fn try_portal(app: &TestApp, token: &str, name: &str, display: &str) -> Res {
    crate::app::try_portal(app, "/chat/api/v1/portals", token, name, display).await
}

/// Adds a department and answers its id.
pub async fn department(app: &TestApp, admin: &TestUser, portal: &str, name: &str) -> String {
    app.post(
        &api(portal, "/departments"),
        Some(&admin.token),
        json!({"name": name}),
    )
    .await
    .expect_str(201, "id")
}

/// Signs up `email` and adds them as operator with `role` and departments.
pub async fn operator(
    app: &TestApp,
    admin: &TestUser,
    portal: &str,
    email: &str,
    role: &str,
    departments: &[&str],
) -> TestUser {
    let user = app.signup(email).await;
    app.post(
        &api(portal, "/operators"),
        Some(&admin.token),
        json!({"email": email, "role": role, "departmentIds": departments}),
    )
    .await
    .assert_status(201);
    user
}

/// The fixture of the department rules (C2, C5, V1, V3): the portal `acme` of
/// `a@acme.example` with the departments 営業 (sales) and サポート (support), and the
/// operator `s@acme.example` (the seller) in sales only; answers
/// `(admin, sales, support, seller)`.
pub async fn sales_and_support(app: &TestApp) -> (TestUser, String, String, TestUser) {
    let admin = portal_with_admin(app, "a@acme.example", "acme").await;
    let (sales, support, seller) = sales_and_support_in(app, &admin).await;
    (admin, sales, support, seller)
}

/// The departments and the seller of [`sales_and_support`] in the existing portal `acme`
/// of `admin`: `(sales, support, seller)`.
pub async fn sales_and_support_in(app: &TestApp, admin: &TestUser) -> (String, String, TestUser) {
    let sales = department(app, admin, "acme", "営業").await;
    let support = department(app, admin, "acme", "サポート").await;
    let seller = operator(app, admin, "acme", "s@acme.example", "operator", &[&sales]).await;
    (sales, support, seller)
}

/// A visitor's chat as the widget holds it.
#[derive(Debug, Clone)]
pub struct VisitorChat {
    pub chat_id: String,
    pub visitor_id: String,
    pub token: String,
}

/// Starts a widget chat with `body` merged over a question and a fresh client id.
pub async fn start_chat_with(app: &TestApp, portal: &str, body: Value) -> Res {
    let mut full =
        json!({"question": "パスワードを忘れました", "clientMessageId": new_client_id()});
    for (k, v) in body.as_object().cloned().unwrap_or_default() {
        full[k] = v;
    }
    app.post(&widget(portal, "/chats"), None, full).await
}

impl VisitorChat {
    /// `GET` this chat's widget path `rest` (`""`, `/messages`…) as its visitor.
    pub async fn get(&self, app: &TestApp, portal: &str, rest: &str) -> Res {
        let path = widget(portal, &format!("/chats/{}{rest}", self.chat_id));
        app.get(&path, Some(&self.token)).await
    }

    /// `POST` this chat's widget action `rest` (`/leave`…) as its visitor, without a body.
    pub async fn post_empty(&self, app: &TestApp, portal: &str, rest: &str) -> Res {
        let path = widget(portal, &format!("/chats/{}{rest}", self.chat_id));
        app.post_empty(&path, Some(&self.token)).await
    }

    /// The widget socket of this chat: `afterSeq` when given.
    pub fn ws_path(&self, portal: &str, after_seq: Option<i64>) -> String {
        let after = after_seq.map_or(String::new(), |n| format!("&afterSeq={n}"));
        widget(
            portal,
            &format!("/chats/{}/ws?token={}{after}", self.chat_id, self.token),
        )
    }
}

pub async fn start_chat(app: &TestApp, portal: &str, body: Value) -> VisitorChat {
    let res = start_chat_with(app, portal, body).await;
    res.assert_status(201);
    VisitorChat {
        chat_id: res["chatId"].as_str().unwrap().to_owned(),
        visitor_id: res["visitorId"].as_str().unwrap().to_owned(),
        token: res["visitorToken"].as_str().unwrap().to_owned(),
    }
}

/// The visitor posts a message; answers the response.
pub async fn visitor_says(
    app: &TestApp,
    portal: &str,
    chat: &VisitorChat,
    text: &str,
    client_id: &str,
) -> Res {
    app.post(
        &widget(portal, &format!("/chats/{}/messages", chat.chat_id)),
        Some(&chat.token),
        json!({"text": text, "clientMessageId": client_id}),
    )
    .await
}

/// An operator's action on a chat (`accept`, `end`, `leave`…): `POST …/chats/{id}/{verb}`.
pub async fn act(app: &TestApp, user: &TestUser, portal: &str, chat_id: &str, verb: &str) -> Res {
    app.post_empty(
        &api(portal, &format!("/chats/{chat_id}/{verb}")),
        Some(&user.token),
    )
    .await
}

/// `user` accepts the chat; it must succeed.
pub async fn accept(app: &TestApp, user: &TestUser, portal: &str, chat_id: &str) -> Value {
    let res = act(app, user, portal, chat_id, "accept").await;
    res.assert_status(200);
    res.body
}

/// `user` ends the chat; it must succeed.
pub async fn end(app: &TestApp, user: &TestUser, portal: &str, chat_id: &str) -> Value {
    let res = act(app, user, portal, chat_id, "end").await;
    res.assert_status(200);
    res.body
}

/// The operator `user` writes `text` in the chat (a fresh client message id); answers
/// the response.
pub async fn operator_says(
    app: &TestApp,
    user: &TestUser,
    portal: &str,
    chat_id: &str,
    text: &str,
) -> Res {
    operator_says_as(app, user, portal, chat_id, text, &new_client_id()).await
}

/// [`operator_says`] with the client message id given (a test that names or repeats it).
pub async fn operator_says_as(
    app: &TestApp,
    user: &TestUser,
    portal: &str,
    chat_id: &str,
    text: &str,
    client_id: &str,
) -> Res {
    app.post(
        &api(portal, &format!("/chats/{chat_id}/messages")),
        Some(&user.token),
        json!({"text": text, "clientMessageId": client_id}),
    )
    .await
}

/// `PATCH` the Chat settings of `portal` (business hours, limits…) as `user`; answers
/// the response.
pub async fn patch_settings(app: &TestApp, user: &TestUser, portal: &str, body: Value) -> Res {
    app.patch(&api(portal, "/settings"), Some(&user.token), body)
        .await
}

/// `user` sets their availability (`available`, `away`) in `portal`; it must succeed.
pub async fn set_availability(app: &TestApp, user: &TestUser, portal: &str, status: &str) {
    app.put(
        &api(portal, "/me/availability"),
        Some(&user.token),
        json!({"status": status}),
    )
    .await
    .assert_status(200);
}

/// `GET` the Chat API of `portal` at `rest` as `user`; answers the response.
pub async fn api_get(app: &TestApp, user: &TestUser, portal: &str, rest: &str) -> Res {
    app.get(&api(portal, rest), Some(&user.token)).await
}

pub async fn get_chat(app: &TestApp, user: &TestUser, portal: &str, chat_id: &str) -> Res {
    app.get(
        &api(portal, &format!("/chats/{chat_id}")),
        Some(&user.token),
    )
    .await
}

/// Polls the chat until `pred` holds (at most `within`); answers the last chat.
pub async fn wait_for_chat(
    app: &TestApp,
    user: &TestUser,
    portal: &str,
    chat_id: &str,
    within: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let res = get_chat(app, user, portal, chat_id).await;
        res.assert_status(200);
        if pred(&res.body) || tokio::time::Instant::now() >= deadline {
            return res.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client that reads JSON frames.
pub struct Ws(pub WsStream);

impl Ws {
    pub async fn connect(app: &TestApp, path: &str) -> Self {
        let (stream, _) = tokio_tungstenite::connect_async(app.ws_url(path))
            .await
            .unwrap_or_else(|e| panic!("WebSocket {path}: {e}"));
        Self(stream)
    }

    /// The HTTP status a refused WebSocket handshake answered.
    pub async fn refused_status(app: &TestApp, path: &str) -> u16 {
        match tokio_tungstenite::connect_async(app.ws_url(path)).await {
            Ok(_) => panic!("the WebSocket was accepted: {path}"),
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => res.status().as_u16(),
            Err(e) => panic!("unexpected WebSocket error: {e}"),
        }
    }

    /// The next JSON frame (pings skipped); `None` when the socket closed or nothing
    /// came within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.0.next())
                .await
                .ok()??;
            match msg.ok()? {
                WsMessage::Text(t) => return Some(serde_json::from_str(t.as_str()).unwrap()),
                WsMessage::Close(_) => return None,
                _ => continue,
            }
        }
    }

    pub async fn next(&mut self) -> Value {
        // Generous: a busy 2-core CI machine may stall a debug build for seconds.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.0.next()).await {
                Err(_) => panic!("no frame within 20 s"),
                Ok(None) => panic!("the socket ended"),
                Ok(Some(Err(e))) => panic!("socket error: {e}"),
                Ok(Some(Ok(msg))) => msg,
            };
            match msg {
                WsMessage::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                WsMessage::Close(frame) => panic!("the server closed the socket: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// The next frame of type `kind`, skipping others (typing, acks…).
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let v = self.next().await;
            if v["type"] == kind {
                return v;
            }
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.0
            .send(WsMessage::Text(v.to_string().into()))
            .await
            .unwrap();
    }

    /// Waits for the close frame; answers its code.
    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.0.next())
                .await
                .ok()??
            {
                Ok(WsMessage::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }
}

/// The widget socket of the visitor's `chat` (`afterSeq` when given), read up to its
/// `ready` frame.
pub async fn visitor_ws(
    app: &TestApp,
    portal: &str,
    chat: &VisitorChat,
    after_seq: Option<i64>,
) -> Ws {
    let mut ws = Ws::connect(app, &chat.ws_path(portal, after_seq)).await;
    assert_eq!(ws.next().await["type"], "ready");
    ws
}

/// The operator socket of `user`, read up to its `ready` frame.
pub async fn operator_ws(app: &TestApp, user: &TestUser, portal: &str) -> Ws {
    operator_ws_after(app, user, portal, None).await.0
}

/// The operator socket of `user` (with `afterEvent` when given), read up to its `ready`
/// frame; answers the socket and `ready`'s `lastEventId`.
pub async fn operator_ws_after(
    app: &TestApp,
    user: &TestUser,
    portal: &str,
    after_event: Option<i64>,
) -> (Ws, i64) {
    let after = after_event.map_or(String::new(), |n| format!("&afterEvent={n}"));
    let mut ws = Ws::connect(
        app,
        &api(portal, &format!("/ws?token={}{after}", user.token)),
    )
    .await;
    let ready = ws.next().await;
    assert_eq!(ready["type"], "ready", "{ready}");
    let last = ready["lastEventId"]
        .as_i64()
        .unwrap_or_else(|| panic!("ready without lastEventId: {ready}"));
    (ws, last)
}
