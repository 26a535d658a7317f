//! WebSockets of the widget and the operator console (C3, C4, Q2).
//!
//! Delivery without gaps or duplicates: a socket subscribes to the bus first, then
//! reads the database for `seq > afterSeq`, then streams bus events through a
//! [`SeqCursor`] that drops what was already sent and reads the database again when
//! it sees a gap (a lagging subscriber, or two messages published out of commit
//! order). Each socket task `select!`s on its socket, the bus, a ping timer and the
//! server's shutdown, and closes with 1001 "going away" on shutdown.

use crate::error::{request_lang, ApiError, ApiResult};
use crate::extract::{ApiQuery, AuthUser};
use crate::state::AppState;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{
    close_code, CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade,
};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use futures::StreamExt;
use madoguchi_chat::chats::VisitorSession;
use madoguchi_chat::live::{LiveEvent, SeqCursor, Step};
use madoguchi_chat::{Message, OperatorCtx, Sender};
use madoguchi_core::{Error, ErrorCode, Lang};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use utoipa::IntoParams;

/// Server pings keep idle connections (and proxies) alive.
pub const PING_EVERY: Duration = Duration::from_secs(20);
/// Catch-up reads the database in pages of this many messages.
const PAGE: i64 = 500;
/// Typing indicators are forwarded at most this often per socket.
const TYPING_EVERY: Duration = Duration::from_millis(300);

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct WsQuery {
    /// Visitor token (widget) or API token (console; the session cookie works too).
    token: Option<String>,
    /// Widget: send messages with a greater seq first (default 0: all).
    after_seq: Option<i64>,
    /// "ja" | "en" for system lines; default from Accept-Language.
    lang: Option<String>,
}

impl WsQuery {
    fn lang(&self, headers: &HeaderMap) -> Lang {
        self.lang
            .as_deref()
            .and_then(Lang::parse)
            .unwrap_or_else(|| request_lang(headers))
    }
}

/// What a client sends on either socket.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientFrame {
    #[serde(rename = "type")]
    kind: String,
    chat_id: Option<String>,
    text: Option<String>,
    client_message_id: Option<String>,
}

fn upgrade_or_400(
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<WebSocketUpgrade> {
    upgrade
        .map(small_buffers)
        .map_err(|_| ApiError(Error::new(ErrorCode::InvalidRequest)))
}

/// Per-socket buffers sized for chat frames (Q1). The WebSocket library's defaults
/// (128 KiB read buffer, zero-filled on the first read, and 128 KiB of write batching)
/// cost about 130 KiB of memory per idle visitor; chat frames are small, and a larger
/// one just takes more reads. Frames are written at once (no batching: latency), and
/// a socket whose reader stops reading is cut off at [`MAX_QUEUED_BYTES`] instead of
/// growing without bound.
pub fn small_buffers(upgrade: WebSocketUpgrade) -> WebSocketUpgrade {
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_QUEUED_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
}

const READ_BUFFER_BYTES: usize = 4 * 1024;
const MAX_QUEUED_BYTES: usize = 8 * 1024 * 1024;
/// A client frame holds at most one message of 10,000 characters (40 KB of UTF-8).
const MAX_FRAME_BYTES: usize = 256 * 1024;

/// The visitor's socket: `{type:"ready"}`, then every message with `seq > afterSeq` in
/// order, then live ones; accepts `{type:"message",text,clientMessageId}` (answered
/// `{type:"ack",clientMessageId,seq}` once stored) and `{type:"typing"}`. Also sends
/// `{type:"typing", sender:"operator"}` and, when the chat is missed or ends,
/// `{type:"chat.missed"|"chat.ended", state}` (after the system line).
#[utoipa::path(get, path = "/chat/widget/v1/{portal}/chats/{id}/ws", tag = "widget", params(WsQuery),
    responses((status = 101, description = "WebSocket"), (status = 401)))]
pub async fn visitor_ws(
    State(state): State<AppState>,
    Path((portal, id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<WsQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let token = q
        .token
        .clone()
        .filter(|t| !t.is_empty())
        .or_else(|| crate::extract::bearer_token(&headers).map(str::to_owned))
        .ok_or_else(|| ApiError(Error::new(ErrorCode::Unauthenticated)))?;
    let session = state.chat.visitor_session(&portal, &id, &token).await?;
    let after = match q.after_seq {
        Some(n) if n < 0 => return Err(Error::invalid("afterSeq", "chat-error-after-seq").into()),
        Some(n) => n,
        None => 0,
    };
    let lang = q.lang(&headers);
    let upgrade = upgrade_or_400(upgrade)?;
    Ok(upgrade.on_upgrade(move |socket| async move {
        if let Err(e) = visitor_socket(state, session, after, lang, socket).await {
            tracing::debug!(error = %e, "visitor socket closed");
        }
    }))
}

/// The operator console's socket: `{type:"ready"}` once subscribed, then the events the
/// operator may see: `{type:"chat.waiting"|…, chat}`, `{type:"message", chatId, message}`,
/// `{type:"typing", chatId, sender}`. Accepts `{type:"typing", chatId}` and
/// `{type:"message", chatId, text, clientMessageId}` (answered with an ack).
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}/ws", tag = "chat", params(WsQuery),
    responses((status = 101, description = "WebSocket"), (status = 401), (status = 403)))]
pub async fn operator_ws(
    State(state): State<AppState>,
    Path(portal): Path<String>,
    ApiQuery(q): ApiQuery<WsQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    // Auth first (401), then the portal (404) and membership (403).
    let user = match q.token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => state
            .identity
            .user_by_token(token)
            .await?
            .ok_or_else(|| ApiError(Error::new(ErrorCode::Unauthenticated)))?,
        None => {
            AuthUser::from_headers(&state, &Method::GET, &headers)
                .await?
                .ok_or_else(|| ApiError(Error::new(ErrorCode::Unauthenticated)))?
                .user
        }
    };
    let op = state.chat.operator_ctx(&portal, &user.id).await?;
    let lang = q.lang(&headers);
    let upgrade = upgrade_or_400(upgrade)?;
    Ok(upgrade.on_upgrade(move |socket| async move {
        if let Err(e) = operator_socket(state, op, lang, socket).await {
            tracing::debug!(error = %e, "operator socket closed");
        }
    }))
}

type SocketResult = Result<(), axum::Error>;

async fn send_json(socket: &mut WebSocket, value: &Value) -> SocketResult {
    socket.send(WsMessage::Text(value.to_string().into())).await
}

fn visitor_frame(m: &Message, lang: Lang) -> Value {
    let v = m.view(lang);
    json!({
        "type": "message",
        "id": v.id,
        "seq": v.seq,
        "sender": v.sender,
        "senderName": v.sender_name,
        "text": v.text,
        "createdAt": v.created_at,
    })
}

fn error_frame(e: &Error, lang: Lang, client_message_id: Option<&str>) -> Value {
    json!({
        "type": "error",
        "code": e.code.as_str(),
        "message": e.message(lang),
        "field": e.field,
        "clientMessageId": client_message_id,
    })
}

async fn closed(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|closing| *closing).await;
}

async fn close_going_away(socket: &mut WebSocket) {
    let _ = socket
        .send(WsMessage::Close(Some(CloseFrame {
            code: close_code::AWAY,
            reason: "server shutting down".into(),
        })))
        .await;
}

/// Sends every stored message of `chat_id` after the cursor, in order.
async fn catch_up(
    state: &AppState,
    chat_id: &str,
    cursor: &mut SeqCursor,
    socket: &mut WebSocket,
    frame: impl Fn(&Message) -> Value,
) -> SocketResult {
    loop {
        let page = match state.chat.messages_after(chat_id, cursor.last, PAGE).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "socket catch-up read failed");
                return Ok(());
            }
        };
        let full = page.len() as i64 == PAGE;
        for m in &page {
            send_json(socket, &frame(m)).await?;
            cursor.sent(m.seq);
        }
        if !full {
            return Ok(());
        }
    }
}

async fn visitor_socket(
    state: AppState,
    session: VisitorSession,
    after: i64,
    lang: Lang,
    mut socket: WebSocket,
) -> SocketResult {
    let mut closing = state.chat.closing();
    let mut events = match state.chat.subscribe_chat(&session.chat_id).await {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(error = %e, "bus subscription failed");
            close_going_away(&mut socket).await;
            return Ok(());
        }
    };
    send_json(&mut socket, &json!({"type": "ready"})).await?;
    let mut cursor = SeqCursor::new(after);
    let frame = |m: &Message| visitor_frame(m, lang);
    catch_up(&state, &session.chat_id, &mut cursor, &mut socket, frame).await?;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut last_typing: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = closed(&mut closing) => {
                close_going_away(&mut socket).await;
                return Ok(());
            }
            _ = ping.tick() => socket.send(WsMessage::Ping(Default::default())).await?,
            event = events.next() => match event {
                None => {
                    close_going_away(&mut socket).await;
                    return Ok(());
                }
                Some(LiveEvent::Message { message, .. }) => match cursor.step(message.seq) {
                    Step::Skip => {}
                    Step::Send => {
                        send_json(&mut socket, &frame(&message)).await?;
                        cursor.sent(message.seq);
                    }
                    Step::FillGap => {
                        catch_up(&state, &session.chat_id, &mut cursor, &mut socket, frame).await?;
                    }
                },
                Some(LiveEvent::Typing { sender: Sender::Operator, .. }) => {
                    send_json(&mut socket, &json!({"type": "typing", "sender": "operator"})).await?;
                }
                Some(LiveEvent::Chat { event, chat, .. }) => {
                    // Only the state: the chat view holds operator-side data.
                    send_json(&mut socket, &json!({"type": event, "state": chat["state"]})).await?;
                }
                Some(_) => {}
            },
            incoming = socket.recv() => {
                let text = match incoming {
                    None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))) => return Ok(()),
                    Some(Ok(WsMessage::Text(text))) => text,
                    Some(Ok(_)) => continue,
                };
                let reply = visitor_command(&state, &session, text.as_str(), lang, &mut last_typing).await;
                if let Some(reply) = reply {
                    send_json(&mut socket, &reply).await?;
                }
            }
        }
    }
}

/// Handles one frame from the widget; answers the frame to send back, if any.
async fn visitor_command(
    state: &AppState,
    session: &VisitorSession,
    text: &str,
    lang: Lang,
    last_typing: &mut Option<Instant>,
) -> Option<Value> {
    let Ok(frame) = serde_json::from_str::<ClientFrame>(text) else {
        return Some(error_frame(
            &Error::new(ErrorCode::InvalidRequest),
            lang,
            None,
        ));
    };
    match frame.kind.as_str() {
        "message" => {
            let client_id = frame.client_message_id.unwrap_or_default();
            let result = state
                .chat
                .post_visitor_message(session, frame.text.as_deref().unwrap_or(""), &client_id)
                .await;
            Some(match result {
                Ok(m) => {
                    json!({"type": "ack", "clientMessageId": client_id, "seq": m.seq, "id": m.id})
                }
                Err(e) => error_frame(&e, lang, Some(&client_id)),
            })
        }
        "typing" => {
            if last_typing.is_none_or(|t| t.elapsed() >= TYPING_EVERY) {
                *last_typing = Some(Instant::now());
                state
                    .chat
                    .publish_typing(
                        &session.portal_id,
                        &session.chat_id,
                        session.department_id.as_deref(),
                        Sender::Visitor,
                    )
                    .await;
            }
            None
        }
        "ping" => Some(json!({"type": "pong"})),
        _ => Some(error_frame(
            &Error::new(ErrorCode::InvalidRequest),
            lang,
            None,
        )),
    }
}

async fn operator_socket(
    state: AppState,
    mut op: OperatorCtx,
    lang: Lang,
    mut socket: WebSocket,
) -> SocketResult {
    let mut closing = state.chat.closing();
    let mut events = match state.chat.subscribe_ops(&op.portal.id).await {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(error = %e, "bus subscription failed");
            close_going_away(&mut socket).await;
            return Ok(());
        }
    };
    // Where each visible open chat stands now, so that messages published out of
    // order are still sent in order.
    let mut cursors: HashMap<String, SeqCursor> = match state.chat.open_chat_seqs(&op).await {
        Ok(seqs) => seqs
            .into_iter()
            .map(|(id, seq)| (id, SeqCursor::new(seq)))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "reading open chats failed");
            HashMap::new()
        }
    };
    send_json(&mut socket, &json!({"type": "ready"})).await?;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut last_typing: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = closed(&mut closing) => {
                close_going_away(&mut socket).await;
                return Ok(());
            }
            _ = ping.tick() => socket.send(WsMessage::Ping(Default::default())).await?,
            event = events.next() => match event {
                None => {
                    close_going_away(&mut socket).await;
                    return Ok(());
                }
                Some(LiveEvent::Message { chat_id, department_id, message }) => {
                    if !op.may_see_department(department_id.as_deref()) {
                        continue;
                    }
                    let cursor = cursors
                        .entry(chat_id.clone())
                        .or_insert_with(|| SeqCursor::new(message.seq - 1));
                    let frame = |m: &Message| json!({"type": "message", "chatId": chat_id, "message": m.view(lang)});
                    match cursor.step(message.seq) {
                        Step::Skip => {}
                        Step::Send => {
                            send_json(&mut socket, &frame(&message)).await?;
                            cursor.sent(message.seq);
                        }
                        Step::FillGap => catch_up(&state, &chat_id, cursor, &mut socket, frame).await?,
                    }
                }
                Some(LiveEvent::Chat { event, chat_id, department_id, last_seq, chat }) => {
                    if !op.may_see_department(department_id.as_deref()) {
                        continue;
                    }
                    cursors.entry(chat_id.clone()).or_insert_with(|| SeqCursor::new(last_seq));
                    send_json(&mut socket, &json!({"type": event, "chat": chat})).await?;
                }
                Some(LiveEvent::Typing { chat_id, department_id, sender }) => {
                    if op.may_see_department(department_id.as_deref()) {
                        send_json(&mut socket, &json!({"type": "typing", "chatId": chat_id, "sender": sender})).await?;
                    }
                }
                Some(LiveEvent::Operators) => {
                    // Roles or departments changed: reload what this operator may see.
                    match state.chat.operator_ctx_in(op.portal.clone(), &op.user_id).await {
                        Ok(fresh) => op = fresh,
                        Err(e) if e.code == ErrorCode::Forbidden => {
                            close_going_away(&mut socket).await;
                            return Ok(());
                        }
                        Err(e) => tracing::warn!(error = %e, "reloading the operator failed"),
                    }
                }
            },
            incoming = socket.recv() => {
                let text = match incoming {
                    None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))) => return Ok(()),
                    Some(Ok(WsMessage::Text(text))) => text,
                    Some(Ok(_)) => continue,
                };
                if let Some(reply) = operator_command(&state, &op, text.as_str(), lang, &mut last_typing).await {
                    send_json(&mut socket, &reply).await?;
                }
            }
        }
    }
}

/// Handles one frame from the console; answers the frame to send back, if any.
async fn operator_command(
    state: &AppState,
    op: &OperatorCtx,
    text: &str,
    lang: Lang,
    last_typing: &mut Option<Instant>,
) -> Option<Value> {
    let Ok(frame) = serde_json::from_str::<ClientFrame>(text) else {
        return Some(error_frame(
            &Error::new(ErrorCode::InvalidRequest),
            lang,
            None,
        ));
    };
    let chat_id = frame.chat_id.clone().unwrap_or_default();
    match frame.kind.as_str() {
        "message" => {
            let client_id = frame.client_message_id.unwrap_or_default();
            let result = state
                .chat
                .post_operator_message(
                    op,
                    &chat_id,
                    frame.text.as_deref().unwrap_or(""),
                    &client_id,
                )
                .await;
            Some(match result {
                Ok(m) => {
                    json!({"type": "ack", "chatId": chat_id, "clientMessageId": client_id, "seq": m.seq, "id": m.id})
                }
                Err(e) => error_frame(&e, lang, Some(&client_id)),
            })
        }
        "typing" => {
            if last_typing.is_some_and(|t| t.elapsed() < TYPING_EVERY) {
                return None;
            }
            *last_typing = Some(Instant::now());
            match state.chat.chat_for_operator(op, &chat_id).await {
                Ok(chat) => {
                    state
                        .chat
                        .publish_typing(
                            &op.portal.id,
                            &chat.id,
                            chat.department_id.as_deref(),
                            Sender::Operator,
                        )
                        .await;
                    None
                }
                Err(e) => Some(error_frame(&e, lang, None)),
            }
        }
        "ping" => Some(json!({"type": "pong"})),
        _ => Some(error_frame(
            &Error::new(ErrorCode::InvalidRequest),
            lang,
            None,
        )),
    }
}
