//! WebSockets of the widget and the operator console (C3, C4, Q2).
//!
//! Delivery without gaps or duplicates: a socket subscribes to the bus first, then
//! reads the database for `seq > afterSeq`, then streams bus events through a
//! [`SeqCursor`] that drops what was already sent and reads the database again when
//! it sees a gap (a lagging subscriber, or two messages published out of commit
//! order). Each socket task `select!`s on its socket, the bus, a ping timer and the
//! server's shutdown, and closes with 1001 "going away" on shutdown.
//!
//! The console's socket also catches up after a reconnect: lifecycle changes by the
//! `chat_events` id (`?afterEvent=`, each chat once in its current state) and messages
//! per chat by seq (the `resume` frame); a per-chat event cursor drops a lifecycle event
//! already sent, so a chat's state never goes backwards on the socket.
//!
//! Guards (Q6, [`crate::sockets`]): a console socket authenticated by the session cookie
//! needs the public URL as its `Origin` (403 before the upgrade otherwise); a socket over
//! one of its limits (per chat, visitor, client address, operator, node) is accepted and
//! closed at once with 1013 and the limit as the reason; a console socket closes with
//! 4001 "signed out" when its token or session ends, announced on the bus by any node
//! and checked again at each ping.

use super::extract::ClientAddr;
use crate::error::{request_lang, ApiError, ApiResult};
use crate::extract::{ApiQuery, AuthMethod, AuthUser};
use crate::sockets::{Refusal, Slot, CLOSE_SIGNED_OUT, CLOSE_TRY_LATER, SIGNED_OUT_REASON};
use crate::state::AppState;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{
    close_code, CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade,
};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use futures::StreamExt;
use madoguchi_chat::chats::VisitorSession;
use madoguchi_chat::live::{LiveEvent, SeqCursor, Step};
use madoguchi_chat::{localize_chat_json, Message, OperatorCtx, Reader, Sender};
use madoguchi_core::ids::hash_secret;
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
/// A `resume` frame names at most this many chats.
pub const MAX_RESUME_CHATS: usize = 1000;
/// With `afterEvent`, live events wait at most this long for the console's `resume`, so
/// its replayed messages come before live ones.
const RESUME_WAIT: Duration = Duration::from_secs(5);

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct WsQuery {
    /// Visitor token (widget) or API token (console; the session cookie works too).
    token: Option<String>,
    /// Widget: send messages with a greater seq first (default 0: all).
    after_seq: Option<i64>,
    /// Console, on a reconnect: the last `eventId` it saw; after `ready` the socket sends
    /// every chat with lifecycle events after it, once, in its current state.
    after_event: Option<i64>,
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
    /// `resume`: `{"<chatId>": <seq>, …}`.
    after_seq: Option<Value>,
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
    ClientAddr(addr): ClientAddr,
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
    // Q6: a place under the per-chat, per-visitor, per-address and node limits, held
    // until the socket's task ends.
    let slot = state
        .sockets
        .visitor(&session.chat_id, &session.visitor_id, addr.as_deref());
    Ok(upgrade.on_upgrade(move |socket| async move {
        let _slot: Slot = match slot {
            Ok(slot) => slot,
            Err(refusal) => return refuse(socket, refusal).await,
        };
        let reader = state.chat.visitor_reader(&portal);
        if let Err(e) = visitor_socket(state, session, reader, after, lang, socket).await {
            tracing::debug!(error = %e, "visitor socket closed");
        }
    }))
}

/// The operator console's socket: `{type:"ready", lastEventId}` once subscribed, then the
/// events the operator may see: `{type:"chat.waiting"|…, chat, eventId}`,
/// `{type:"message", chatId, message}`, `{type:"typing", chatId, sender}`. Accepts
/// `{type:"typing", chatId}` and `{type:"message", chatId, text, clientMessageId}`
/// (answered with an ack).
///
/// Catch-up after a reconnect (C3, C4):
/// - Lifecycle: `lastEventId` in `ready` is the newest lifecycle event id, and every
///   `chat.*` frame carries the `eventId` of the change (ids grow in commit order across
///   portals). With `?afterEvent=N` the socket sends, right after `ready`, one
///   `{type:"chat.<state>", chat, eventId}` per chat the operator may see that changed
///   with an id in (N, lastEventId]: its current view and newest event id, in eventId
///   order. A `chat.*` event whose eventId is not above the last one sent for that chat is
///   not sent again, so a chat's state never goes backwards.
/// - Messages: the frame `{type:"resume", afterSeq:{"<chatId>": seq, …}}` (at most 1000
///   chats) is answered, per chat, with every message after that seq as `message` frames
///   in order, or `{type:"error", chatId, code:"forbidden"|"not_found"}`; then
///   `{type:"resumed"}`. Live messages of those chats continue after the replayed ones
///   with no gap and no repeat. A malformed `resume` is answered `{type:"error",
///   code:"invalid_request", field:"afterSeq"}`. With `afterEvent`, live events wait for
///   the `resume` (at most 5 s) so that replayed messages come first.
#[utoipa::path(get, path = "/chat/api/v1/portals/{portal}/ws", tag = "chat", params(WsQuery),
    responses((status = 101, description = "WebSocket"), (status = 400, description = "afterEvent is not a whole number of 0 or more"),
        (status = 401), (status = 403)))]
pub async fn operator_ws(
    State(state): State<AppState>,
    Path(portal): Path<String>,
    ApiQuery(q): ApiQuery<WsQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    // Auth first (401), then the portal (404) and membership (403).
    let (user, credential) = match q.token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => {
            let user = state
                .identity
                .user_by_token(token)
                .await?
                .ok_or_else(|| ApiError(Error::new(ErrorCode::Unauthenticated)))?;
            (user, Credential::Token(token.to_owned()))
        }
        None => {
            let auth = AuthUser::from_headers(&state, &Method::GET, &headers)
                .await?
                .ok_or_else(|| ApiError(Error::new(ErrorCode::Unauthenticated)))?;
            let credential = match auth.method {
                AuthMethod::Token => {
                    crate::extract::bearer_token(&headers).map(|t| Credential::Token(t.to_owned()))
                }
                AuthMethod::Session { .. } => {
                    // Q6: a browser sends the cookie whichever page opens the socket;
                    // only the public URL's own pages may (no cross-site hijacking).
                    let origin = headers
                        .get(axum::http::header::ORIGIN)
                        .and_then(|v| v.to_str().ok());
                    if !crate::sockets::is_public_origin(&state.settings.public_url, origin) {
                        tracing::info!(
                            origin = origin.unwrap_or("(none)"),
                            public_url = %state.settings.public_url,
                            "refused a cookie WebSocket from an origin other than the public URL"
                        );
                        return Err(Error::forbidden().with_field("origin").into());
                    }
                    crate::extract::cookie_value(&headers, crate::extract::SESSION_COOKIE)
                        .map(|s| Credential::Session(s.to_owned()))
                }
            };
            let credential =
                credential.ok_or_else(|| ApiError(Error::new(ErrorCode::Unauthenticated)))?;
            (auth.user, credential)
        }
    };
    let op = state.chat.operator_ctx(&portal, &user.id).await?;
    if q.after_event.is_some_and(|n| n < 0) {
        return Err(Error::invalid("afterEvent", "chat-error-after-event").into());
    }
    let after_event = q.after_event;
    let lang = q.lang(&headers);
    let upgrade = upgrade_or_400(upgrade)?;
    let slot = state.sockets.operator(&user.id);
    Ok(upgrade.on_upgrade(move |socket| async move {
        let _slot: Slot = match slot {
            Ok(slot) => slot,
            Err(refusal) => return refuse(socket, refusal).await,
        };
        if let Err(e) = operator_socket(state, op, credential, after_event, lang, socket).await {
            tracing::debug!(error = %e, "operator socket closed");
        }
    }))
}

/// What an operator socket was opened with: it closes when that ends (Q6).
enum Credential {
    Token(String),
    Session(String),
}

impl Credential {
    /// The hash its revocation is announced under.
    fn hash(&self) -> String {
        match self {
            Self::Token(secret) | Self::Session(secret) => hash_secret(secret),
        }
    }

    /// Whether the token or session still works; a failed read counts as yes (the
    /// next check asks again).
    async fn live(&self, state: &AppState) -> bool {
        let live = match self {
            Self::Token(token) => state
                .identity
                .user_by_token(token)
                .await
                .map(|u| u.is_some()),
            Self::Session(secret) => state.identity.session(secret).await.map(|s| s.is_some()),
        };
        live.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "checking a socket's credential failed");
            true
        })
    }
}

/// Closes a socket over a limit at once with 1013 "try again later" and the limit as
/// the reason; waits a moment for the client's close reply.
async fn refuse(mut socket: WebSocket, refusal: Refusal) {
    tracing::debug!(
        reason = refusal.reason(),
        "refused a WebSocket over its limit"
    );
    let _ = socket
        .send(WsMessage::Close(Some(CloseFrame {
            code: CLOSE_TRY_LATER,
            reason: refusal.reason().into(),
        })))
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.recv()).await;
}

async fn close_signed_out(socket: &mut WebSocket) {
    let _ = socket
        .send(WsMessage::Close(Some(CloseFrame {
            code: CLOSE_SIGNED_OUT,
            reason: SIGNED_OUT_REASON.into(),
        })))
        .await;
}

type SocketResult = Result<(), axum::Error>;

async fn send_json(socket: &mut WebSocket, value: &Value) -> SocketResult {
    socket.send(WsMessage::Text(value.to_string().into())).await
}

fn visitor_frame(m: &Message, lang: Lang, reader: &Reader) -> Value {
    let v = m.view(lang, reader);
    let mut frame = json!({
        "type": "message",
        "id": v.id,
        "seq": v.seq,
        "sender": v.sender,
        "senderName": v.sender_name,
        "text": v.text,
        "createdAt": v.created_at,
    });
    // V6: system lines say what happened (an operator joined, the chat ended).
    if let Some(kind) = v.system_kind {
        frame["systemKind"] = Value::String(kind);
    }
    // V3: a file, `{id, name, contentType, size, url}` (the widget's URL).
    if let Some(a) = v.attachment {
        frame["attachment"] = json!(a);
    }
    frame
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

/// What a socket does with what it read from the client.
enum Incoming {
    Text(Utf8Bytes),
    /// Pings, pongs: the library answered them.
    Skip,
    /// The connection ends, with the close frame to send first, if any.
    End(Option<CloseFrame>),
}

/// Reads one client frame. The protocol is JSON text; a binary frame is taken as text
/// when it is UTF-8. A frame the WebSocket library refused is answered with the close
/// code that says why (RFC 6455 7.4.1) instead of a dropped connection: 1009 for a
/// message over [`MAX_FRAME_BYTES`], 1007 for text that is not UTF-8.
fn client_text(incoming: Option<Result<WsMessage, axum::Error>>) -> Incoming {
    use tungstenite::Error as WsError;
    let close = |code, reason: &'static str| {
        Incoming::End(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
    };
    match incoming {
        None | Some(Ok(WsMessage::Close(_))) => Incoming::End(None),
        Some(Ok(WsMessage::Text(text))) => Incoming::Text(text),
        Some(Ok(WsMessage::Binary(data))) => match Utf8Bytes::try_from(data) {
            Ok(text) => Incoming::Text(text),
            Err(_) => close(close_code::INVALID, "invalid UTF-8"),
        },
        Some(Ok(_)) => Incoming::Skip,
        Some(Err(e)) => match e.into_inner().downcast::<WsError>().map(|e| *e) {
            Ok(WsError::Capacity(_)) => close(close_code::SIZE, "message too big"),
            Ok(WsError::Utf8(_)) => close(close_code::INVALID, "invalid UTF-8"),
            Ok(WsError::Protocol(_)) => close(close_code::PROTOCOL, "protocol error"),
            // The connection is gone (reset, I/O error): nothing to tell.
            _ => Incoming::End(None),
        },
    }
}

/// How long a socket closed for a bad frame stays open so that the close frame reaches
/// the client: dropping the connection with the rest of an oversized frame still unread
/// makes the kernel reset it, and a reset may discard the close frame on its way.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Ends a socket, sending `close` first (then waiting [`CLOSE_GRACE`]) when there is one.
async fn close_after(socket: &mut WebSocket, close: Option<CloseFrame>) -> SocketResult {
    if let Some(frame) = close {
        if socket.send(WsMessage::Close(Some(frame))).await.is_ok() {
            tokio::time::sleep(CLOSE_GRACE).await;
        }
    }
    Ok(())
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
    reader: Reader,
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
    // A client cannot have more than there is (as the console's `resume`): a cursor past
    // the last seq would drop every new message as already sent. Read after subscribing,
    // so whatever comes after this seq arrives on the bus.
    let after = match state.chat.last_seq(&session.chat_id).await {
        Ok(last) => after.min(last.unwrap_or(0)),
        Err(e) => {
            tracing::warn!(error = %e, "reading the chat's last seq failed");
            close_going_away(&mut socket).await;
            return Ok(());
        }
    };
    send_json(&mut socket, &json!({"type": "ready"})).await?;
    let mut cursor = SeqCursor::new(after);
    let frame = |m: &Message| visitor_frame(m, lang, &reader);
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
                    tracing::debug!("live events ended; the widget reconnects and catches up");
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
                let text = match client_text(incoming) {
                    Incoming::Text(text) => text,
                    Incoming::Skip => continue,
                    Incoming::End(close) => return close_after(&mut socket, close).await,
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
    let frame = match crate::input::parse_frame::<ClientFrame>(text) {
        Ok(frame) => frame,
        Err(r) => return Some(error_frame(&r.error, lang, r.client_message_id.as_deref())),
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

/// Where one console socket stands on one chat's messages.
#[derive(Debug, Clone, Copy)]
struct ChatSeq {
    cursor: SeqCursor,
    /// The seq live sending started after on this socket: the socket sent exactly
    /// `(base, cursor.last]`.
    base: i64,
}

impl ChatSeq {
    fn new(last: i64) -> Self {
        Self {
            cursor: SeqCursor::new(last),
            base: last,
        }
    }
}

/// What one console socket has sent, per chat.
#[derive(Default)]
struct ConsoleCursors {
    seqs: HashMap<String, ChatSeq>,
    /// The newest lifecycle event id sent per chat.
    events: HashMap<String, i64>,
}

impl ConsoleCursors {
    /// Whether a `chat.*` event with this id is news for the chat (and notes it).
    /// 0 is an event from a node that did not send ids: always passed on.
    fn lifecycle_news(&mut self, chat_id: &str, event_id: i64) -> bool {
        if event_id <= 0 {
            return true;
        }
        match self.events.get_mut(chat_id) {
            Some(sent) if *sent >= event_id => false,
            Some(sent) => {
                *sent = event_id;
                true
            }
            None => {
                self.events.insert(chat_id.to_owned(), event_id);
                true
            }
        }
    }
}

async fn operator_socket(
    state: AppState,
    mut op: OperatorCtx,
    credential: Credential,
    after_event: Option<i64>,
    lang: Lang,
    mut socket: WebSocket,
) -> SocketResult {
    let mut closing = state.chat.closing();
    // Q6: the end of this socket's token or session is announced on the bus (from any
    // node); subscribed before checking it once more, so no revocation slips between.
    let mut revoked = match state
        .bus
        .subscribe(
            &madoguchi_core::identity::revocation_subject(&credential.hash()),
            4,
        )
        .await
    {
        Ok(revoked) => Some(revoked),
        Err(e) => {
            tracing::warn!(error = %e, "bus subscription failed");
            close_going_away(&mut socket).await;
            return Ok(());
        }
    };
    if !credential.live(&state).await {
        close_signed_out(&mut socket).await;
        return Ok(());
    }
    let mut events = match state.chat.subscribe_ops(&op.portal.id).await {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(error = %e, "bus subscription failed");
            close_going_away(&mut socket).await;
            return Ok(());
        }
    };
    let mut sent = ConsoleCursors::default();
    // Where each visible open chat stands now, so that messages published out of
    // order are still sent in order.
    match state.chat.open_chat_seqs(&op).await {
        Ok(seqs) => {
            sent.seqs = seqs
                .into_iter()
                .map(|(id, seq)| (id, ChatSeq::new(seq)))
                .collect()
        }
        Err(e) => tracing::warn!(error = %e, "reading open chats failed"),
    }
    // Read after subscribing: every change after it arrives on the bus.
    let last_event_id = match state.chat.last_event_id().await {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, "reading the last event id failed");
            close_going_away(&mut socket).await;
            return Ok(());
        }
    };
    let reader = state.chat.operator_reader(&op.portal.name);
    // V1: this console counts as present (on every node) until the socket ends.
    let _present = state.chat.console_connected(&op.portal.id, &op.user_id);
    send_json(
        &mut socket,
        &json!({"type": "ready", "lastEventId": last_event_id}),
    )
    .await?;
    let mut hold_until = None;
    if let Some(after) = after_event {
        let changed = match state.chat.chats_changed(&op, after, last_event_id).await {
            Ok(changed) => changed,
            Err(e) => {
                // The console reconnects and asks again.
                tracing::warn!(error = %e, "reading changed chats failed");
                close_going_away(&mut socket).await;
                return Ok(());
            }
        };
        for (event_id, chat) in changed {
            sent.lifecycle_news(&chat.id, event_id);
            sent.seqs
                .entry(chat.id.clone())
                .or_insert_with(|| ChatSeq::new(chat.last_seq));
            let chat = chat.localized(lang);
            let frame = json!({"type": format!("chat.{}", chat.state.as_str()), "chat": chat, "eventId": event_id});
            send_json(&mut socket, &frame).await?;
        }
        hold_until = Some(tokio::time::Instant::now() + RESUME_WAIT);
    }
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut last_typing: Option<Instant> = None;
    loop {
        let hold = hold_until.unwrap_or_else(tokio::time::Instant::now);
        tokio::select! {
            _ = closed(&mut closing) => {
                close_going_away(&mut socket).await;
                return Ok(());
            }
            signal = async { revoked.as_mut()?.next().await }, if revoked.is_some() => match signal {
                Some(_) => {
                    close_signed_out(&mut socket).await;
                    return Ok(());
                }
                // The bus let go of the subject: the check at each ping still holds.
                None => revoked = None,
            },
            _ = ping.tick() => {
                // Also catches an expired session and a revocation the bus lost.
                if !credential.live(&state).await {
                    close_signed_out(&mut socket).await;
                    return Ok(());
                }
                socket.send(WsMessage::Ping(Default::default())).await?
            }
            _ = tokio::time::sleep_until(hold), if hold_until.is_some() => hold_until = None,
            event = events.next(), if hold_until.is_none() => match event {
                None => {
                    close_going_away(&mut socket).await;
                    return Ok(());
                }
                Some(LiveEvent::Message { chat_id, department_id, message }) => {
                    if !op.may_see_department(department_id.as_deref()) {
                        continue;
                    }
                    let seq = &mut sent
                        .seqs
                        .entry(chat_id.clone())
                        .or_insert_with(|| ChatSeq::new(message.seq - 1))
                        .cursor;
                    let frame = |m: &Message| json!({"type": "message", "chatId": chat_id, "message": m.view(lang, &reader)});
                    match seq.step(message.seq) {
                        Step::Skip => {}
                        Step::Send => {
                            send_json(&mut socket, &frame(&message)).await?;
                            seq.sent(message.seq);
                        }
                        Step::FillGap => catch_up(&state, &chat_id, seq, &mut socket, frame).await?,
                    }
                }
                Some(LiveEvent::Chat { event, chat_id, department_id, last_seq, event_id, mut chat }) => {
                    if !op.may_see_department(department_id.as_deref()) {
                        continue;
                    }
                    if !sent.lifecycle_news(&chat_id, event_id) {
                        continue;
                    }
                    sent.seqs.entry(chat_id.clone()).or_insert_with(|| ChatSeq::new(last_seq));
                    localize_chat_json(&mut chat, lang);
                    send_json(&mut socket, &json!({"type": event, "chat": chat, "eventId": event_id})).await?;
                }
                Some(LiveEvent::Typing { chat_id, department_id, sender }) => {
                    if op.may_see_department(department_id.as_deref()) {
                        send_json(&mut socket, &json!({"type": "typing", "chatId": chat_id, "sender": sender})).await?;
                    }
                }
                Some(LiveEvent::Visitor { chat_id, department_id }) => {
                    // V4/V5: the console reads the chat again (page, contact, rating).
                    if op.may_see_department(department_id.as_deref()) {
                        send_json(&mut socket, &json!({"type": "chat.visitor", "chatId": chat_id})).await?;
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
                let text = match client_text(incoming) {
                    Incoming::Text(text) => text,
                    Incoming::Skip => continue,
                    Incoming::End(close) => return close_after(&mut socket, close).await,
                };
                let frame = match crate::input::parse_frame::<ClientFrame>(text.as_str()) {
                    Ok(frame) => frame,
                    Err(r) => {
                        send_json(&mut socket, &error_frame(&r.error, lang, r.client_message_id.as_deref())).await?;
                        continue;
                    }
                };
                if frame.kind == "resume" {
                    match parse_resume(frame.after_seq.as_ref()) {
                        Ok(wanted) => {
                            resume(&state, &op, &wanted, &mut sent, lang, &mut socket).await?;
                            hold_until = None;
                        }
                        Err(e) => send_json(&mut socket, &error_frame(&e, lang, None)).await?,
                    }
                    continue;
                }
                if let Some(reply) = operator_command(&state, &op, frame, lang, &mut last_typing).await {
                    send_json(&mut socket, &reply).await?;
                }
            }
        }
    }
}

/// The chats and seqs of a `resume` frame: an object of at most [`MAX_RESUME_CHATS`]
/// chat ids with whole numbers of 0 or more.
fn parse_resume(after_seq: Option<&Value>) -> Result<Vec<(String, i64)>, Error> {
    let shape = || {
        Error::invalid("afterSeq", "chat-error-resume")
            .with_arg("max", MAX_RESUME_CHATS.to_string())
    };
    let Some(Value::Object(map)) = after_seq else {
        return Err(shape());
    };
    if map.len() > MAX_RESUME_CHATS {
        return Err(shape());
    }
    map.iter()
        .map(|(chat_id, seq)| match seq.as_i64() {
            Some(n) if n >= 0 && !chat_id.is_empty() => Ok((chat_id.clone(), n)),
            _ => Err(shape()),
        })
        .collect()
}

/// Answers a `resume`: per chat, every message after the client's seq, in order, then
/// the live ones continue from there; `{type:"resumed"}` at the end.
async fn resume(
    state: &AppState,
    op: &OperatorCtx,
    wanted: &[(String, i64)],
    sent: &mut ConsoleCursors,
    lang: Lang,
    socket: &mut WebSocket,
) -> SocketResult {
    let reader = state.chat.operator_reader(&op.portal.name);
    for (chat_id, after) in wanted {
        let chat = match state.chat.chat_for_operator(op, chat_id).await {
            Ok(chat) => chat,
            Err(e) => {
                let mut frame = error_frame(&e, lang, None);
                frame["chatId"] = json!(chat_id);
                send_json(socket, &frame).await?;
                continue;
            }
        };
        // A client cannot have more than there is.
        let after = (*after).min(chat.last_seq);
        let entry = sent
            .seqs
            .entry(chat.id.clone())
            .or_insert_with(|| ChatSeq::new(after));
        if after < entry.base {
            // Start over at the client's seq. If this socket already sent some live
            // messages of the chat (a `resume` after the wait), they come again, in
            // order; the client keeps messages by seq.
            *entry = ChatSeq::new(after);
        } else {
            // The client has everything up to `after` and whatever this socket sent.
            entry.cursor.sent(after);
        }
        let frame = |m: &Message| json!({"type": "message", "chatId": chat.id, "message": m.view(lang, &reader)});
        catch_up(state, &chat.id, &mut entry.cursor, socket, frame).await?;
    }
    send_json(socket, &json!({"type": "resumed"})).await
}

/// Handles one frame from the console; answers the frame to send back, if any.
async fn operator_command(
    state: &AppState,
    op: &OperatorCtx,
    frame: ClientFrame,
    lang: Lang,
    last_typing: &mut Option<Instant>,
) -> Option<Value> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_console_never_gets_a_chat_event_it_already_has() {
        let mut sent = ConsoleCursors::default();
        assert!(sent.lifecycle_news("a", 7));
        // The same event again (a replay, then the live publish) and an older one
        // published late are dropped: the chat's state never goes backwards.
        assert!(!sent.lifecycle_news("a", 7));
        assert!(!sent.lifecycle_news("a", 5));
        assert!(sent.lifecycle_news("b", 6));
        assert!(sent.lifecycle_news("a", 9));
        // Without an id (an older node), the event is passed on.
        assert!(sent.lifecycle_news("a", 0));
    }

    #[test]
    fn resume_takes_an_object_of_chat_ids_and_seqs() {
        let ok = parse_resume(Some(&json!({"c1": 3, "c2": 0}))).unwrap_or_default();
        assert_eq!(ok, vec![("c1".to_owned(), 3), ("c2".to_owned(), 0)]);
        let too_many: serde_json::Map<String, Value> = (0..=MAX_RESUME_CHATS)
            .map(|i| (format!("c{i}"), json!(1)))
            .collect();
        for bad in [
            None,
            Some(json!([1])),
            Some(json!({"c1": -1})),
            Some(json!({"c1": "3"})),
            Some(json!({"c1": 1.5})),
            Some(json!({"": 1})),
            Some(Value::Object(too_many)),
        ] {
            let e = parse_resume(bad.as_ref()).err();
            assert_eq!(e.as_ref().map(|e| e.code), Some(ErrorCode::InvalidRequest));
            assert_eq!(e.and_then(|e| e.field).as_deref(), Some("afterSeq"));
        }
    }
}
