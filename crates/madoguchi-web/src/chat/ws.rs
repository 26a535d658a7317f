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
use futures::stream::BoxStream;
use futures::{FutureExt, SinkExt, StreamExt};
use madoguchi_chat::chats::VisitorSession;
use madoguchi_chat::live::{Live, LiveEvent, SeqCursor, Step};
use madoguchi_chat::protocol::{
    parse_resume, ChatJson, ClientFrame, ConsoleCursors, Lifecycle, ServerFrame, VisitorLifecycle,
};
use madoguchi_chat::{localize_chat_json, Message, OperatorCtx, Reader, Sender};
use madoguchi_core::ids::hash_secret;
use madoguchi_core::{Error, ErrorCode, Lang};
use serde::Deserialize;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use utoipa::IntoParams;

/// Server pings keep idle connections (and proxies) alive.
pub const PING_EVERY: Duration = Duration::from_secs(20);
/// Catch-up reads the database in pages of this many messages.
const PAGE: i64 = 500;
/// Typing indicators are forwarded at most this often per socket.
const TYPING_EVERY: Duration = Duration::from_millis(300);
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
/// one just takes more reads (see [`READ_BUFFER_BYTES`]). Frames ready together are
/// written together, never held back for more ([`send_text`]), and a socket whose
/// reader stops reading is cut off at [`MAX_QUEUED_BYTES`] instead of growing without
/// bound.
pub fn small_buffers(upgrade: WebSocketUpgrade) -> WebSocketUpgrade {
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BATCH_BYTES)
        .max_write_buffer_size(MAX_QUEUED_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
}

/// Allocated for every socket up front. Most chat frames are a few hundred bytes; a
/// larger one takes several reads (a 40 KB message, 40), which is rare and cheap next
/// to the 3 KiB more that every idle visitor would hold at 4 KiB.
const READ_BUFFER_BYTES: usize = 1024;
/// Frames queued in one go are written together up to this size ([`send_text`]).
const WRITE_BATCH_BYTES: usize = 16 * 1024;
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

/// Queues a frame; the socket loops write out what is queued (one write for every frame
/// ready at that moment: a batch's messages to a console, an ack and its echo to a
/// widget) before they wait again ([`flush`]). A burst beyond [`WRITE_BATCH_BYTES`] is
/// written at once.
async fn send_text(socket: &mut WebSocket, text: String) -> SocketResult {
    socket.feed(WsMessage::Text(text.into())).await
}

/// Writes out the queued frames (no system call when nothing is queued).
async fn flush(socket: &mut WebSocket) -> SocketResult {
    socket.flush().await
}

/// Events handled in a row before the queued frames are written out, so that a long
/// burst still reaches the client in pieces.
const DRAIN_EVENTS: usize = 64;

async fn send_frame(socket: &mut WebSocket, frame: &ServerFrame<'_>) -> SocketResult {
    send_text(socket, frame.to_text()).await
}

/// A message as the widget gets it: its fields, with `systemKind` for system lines (V6)
/// and `attachment` for a file (V3, with the widget's URL).
fn visitor_frame(m: &Message, lang: Lang, reader: &Reader) -> String {
    ServerFrame::VisitorMessage(&m.view(lang, reader)).to_text()
}

fn console_frame(chat_id: &str, m: &Message, lang: Lang, reader: &Reader) -> String {
    ServerFrame::ConsoleMessage {
        chat_id,
        message: &m.view(lang, reader),
    }
    .to_text()
}

fn error_text(e: &Error, lang: Lang, client_message_id: Option<&str>) -> String {
    ServerFrame::error(e, lang, client_message_id).to_text()
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
    frame: impl Fn(&Message) -> String,
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
            send_text(socket, frame(m)).await?;
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
    send_frame(
        &mut socket,
        &ServerFrame::Ready {
            last_event_id: None,
        },
    )
    .await?;
    let mut widget = Widget {
        state: &state,
        chat_id: &session.chat_id,
        cursor: SeqCursor::new(after),
        lang,
        reader: &reader,
    };
    widget.catch_up(&mut socket).await?;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut last_typing: Option<Instant> = None;
    loop {
        flush(&mut socket).await?;
        let live = tokio::select! {
            _ = closed(&mut closing) => false,
            _ = ping.tick() => {
                socket.send(WsMessage::Ping(Default::default())).await?;
                true
            }
            event = events.next() => widget.on_event(event.as_deref(), &mut socket).await?,
            incoming = socket.recv() => {
                let text = match client_text(incoming) {
                    Incoming::Text(text) => text,
                    Incoming::Skip => continue,
                    Incoming::End(close) => return close_after(&mut socket, close).await,
                };
                let reply = visitor_command(&state, &session, text.as_str(), lang, &mut last_typing).await;
                if let Some(reply) = reply {
                    send_text(&mut socket, reply).await?;
                }
                true
            }
        };
        // What else is ready goes out in the same write (an ack and its message's echo).
        let live = live && widget.drain(&mut events, &mut socket).await?;
        if !live {
            close_going_away(&mut socket).await;
            return Ok(());
        }
    }
}

/// A widget socket's view of its chat: where it stands and how it renders.
struct Widget<'a> {
    state: &'a AppState,
    chat_id: &'a str,
    cursor: SeqCursor,
    lang: Lang,
    reader: &'a Reader,
}

impl Widget<'_> {
    async fn catch_up(&mut self, socket: &mut WebSocket) -> SocketResult {
        let (lang, reader) = (self.lang, self.reader);
        let frame = |m: &Message| visitor_frame(m, lang, reader);
        catch_up(self.state, self.chat_id, &mut self.cursor, socket, frame).await
    }

    /// Passes a live event on; false when the events ended (the widget reconnects and
    /// catches up).
    async fn on_event(
        &mut self,
        event: Option<&LiveEvent>,
        socket: &mut WebSocket,
    ) -> Result<bool, axum::Error> {
        match event {
            None => {
                tracing::debug!("live events ended; the widget reconnects and catches up");
                return Ok(false);
            }
            Some(LiveEvent::Message { message, .. }) => match self.cursor.step(message.seq) {
                Step::Skip => {}
                Step::Send => {
                    send_text(socket, visitor_frame(message, self.lang, self.reader)).await?;
                    self.cursor.sent(message.seq);
                }
                Step::FillGap => self.catch_up(socket).await?,
            },
            Some(LiveEvent::Typing {
                sender: Sender::Operator,
                ..
            }) => {
                send_frame(
                    socket,
                    &ServerFrame::Typing {
                        chat_id: None,
                        sender: Sender::Operator,
                    },
                )
                .await?;
            }
            Some(LiveEvent::Chat { event, chat, .. }) => {
                // Only the state: the chat view holds operator-side data.
                let frame = VisitorLifecycle {
                    event,
                    state: &chat["state"],
                };
                send_frame(socket, &ServerFrame::VisitorLifecycle(frame)).await?;
            }
            Some(_) => {}
        }
        Ok(true)
    }

    /// Handles the events that are ready now, up to [`DRAIN_EVENTS`]; false as
    /// [`Self::on_event`].
    async fn drain(
        &mut self,
        events: &mut BoxStream<'static, Live>,
        socket: &mut WebSocket,
    ) -> Result<bool, axum::Error> {
        for _ in 0..DRAIN_EVENTS {
            match events.next().now_or_never() {
                Some(event) => {
                    if !self.on_event(event.as_deref(), socket).await? {
                        return Ok(false);
                    }
                }
                None => break,
            }
        }
        Ok(true)
    }
}

/// Handles one frame from the widget; answers the frame to send back, if any.
async fn visitor_command(
    state: &AppState,
    session: &VisitorSession,
    text: &str,
    lang: Lang,
    last_typing: &mut Option<Instant>,
) -> Option<String> {
    let frame = match crate::input::parse_frame::<ClientFrame>(text) {
        Ok(frame) => frame,
        Err(r) => return Some(error_text(&r.error, lang, r.client_message_id.as_deref())),
    };
    match frame {
        ClientFrame::Message {
            text,
            client_message_id,
            ..
        } => {
            let client_id = client_message_id.unwrap_or_default();
            let result = state
                .chat
                .post_visitor_message(session, text.as_deref().unwrap_or(""), &client_id)
                .await;
            Some(match result {
                Ok(m) => ServerFrame::Ack {
                    chat_id: None,
                    client_message_id: &client_id,
                    seq: m.seq,
                    id: &m.id,
                }
                .to_text(),
                Err(e) => error_text(&e, lang, Some(&client_id)),
            })
        }
        ClientFrame::Typing { .. } => {
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
        ClientFrame::Ping => Some(ServerFrame::Pong.to_text()),
        ClientFrame::Resume { .. } | ClientFrame::Unknown => Some(error_text(
            &Error::new(ErrorCode::InvalidRequest),
            lang,
            None,
        )),
    }
}

/// A console socket's state once it is set up: who, in which language, and what it
/// has sent per chat.
struct Console {
    state: AppState,
    op: OperatorCtx,
    lang: Lang,
    reader: Reader,
    sent: ConsoleCursors,
    last_typing: Option<Instant>,
}

/// What handling one event or frame decided about the socket.
enum Flow {
    Continue,
    /// Close with 1001 "going away" (the operator lost access; the client reconnects).
    GoAway,
}

async fn operator_socket(
    state: AppState,
    op: OperatorCtx,
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
            for (id, seq) in seqs {
                sent.chat(&id, seq);
            }
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
    let mut console = Console {
        state,
        op,
        lang,
        reader,
        sent,
        last_typing: None,
    };
    let ready = ServerFrame::Ready {
        last_event_id: Some(last_event_id),
    };
    send_frame(&mut socket, &ready).await?;
    let mut hold_until = None;
    if let Some(after) = after_event {
        if !console
            .replay_lifecycle(after, last_event_id, &mut socket)
            .await?
        {
            // The console reconnects and asks again.
            close_going_away(&mut socket).await;
            return Ok(());
        }
        hold_until = Some(tokio::time::Instant::now() + RESUME_WAIT);
    }
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    loop {
        flush(&mut socket).await?;
        let hold = hold_until.unwrap_or_else(tokio::time::Instant::now);
        let flow = tokio::select! {
            _ = closed(&mut closing) => Flow::GoAway,
            signal = async { revoked.as_mut()?.next().await }, if revoked.is_some() => match signal {
                Some(_) => {
                    close_signed_out(&mut socket).await;
                    return Ok(());
                }
                // The bus let go of the subject: the check at each ping still holds.
                None => {
                    revoked = None;
                    Flow::Continue
                }
            },
            _ = ping.tick() => {
                // Also catches an expired session and a revocation the bus lost.
                if !credential.live(&console.state).await {
                    close_signed_out(&mut socket).await;
                    return Ok(());
                }
                socket.send(WsMessage::Ping(Default::default())).await?;
                Flow::Continue
            }
            _ = tokio::time::sleep_until(hold), if hold_until.is_some() => {
                hold_until = None;
                Flow::Continue
            }
            event = events.next(), if hold_until.is_none() => match event {
                Some(event) => console.on_event(&event, &mut socket).await?,
                None => Flow::GoAway,
            },
            incoming = socket.recv() => {
                let text = match client_text(incoming) {
                    Incoming::Text(text) => text,
                    Incoming::Skip => continue,
                    Incoming::End(close) => return close_after(&mut socket, close).await,
                };
                if console.on_frame(text.as_str(), &mut socket).await? {
                    hold_until = None;
                }
                Flow::Continue
            }
        };
        // What else is ready goes out in the same write (a batch's messages).
        let flow = match flow {
            Flow::Continue if hold_until.is_none() => {
                console.drain(&mut events, &mut socket).await?
            }
            flow => flow,
        };
        if let Flow::GoAway = flow {
            close_going_away(&mut socket).await;
            return Ok(());
        }
    }
}

impl Console {
    /// After `?afterEvent=`: one `chat.<state>` frame per chat the operator may see that
    /// changed in (after, last]. False when the read failed.
    async fn replay_lifecycle(
        &mut self,
        after: i64,
        last: i64,
        socket: &mut WebSocket,
    ) -> Result<bool, axum::Error> {
        let changed = match self.state.chat.chats_changed(&self.op, after, last).await {
            Ok(changed) => changed,
            Err(e) => {
                tracing::warn!(error = %e, "reading changed chats failed");
                return Ok(false);
            }
        };
        for (event_id, chat) in changed {
            self.sent.lifecycle_news(&chat.id, event_id);
            self.sent.chat(&chat.id, chat.last_seq);
            let chat = chat.localized(self.lang);
            let event = format!("chat.{}", chat.state.as_str());
            let frame = Lifecycle {
                event: &event,
                chat: ChatJson::View(&chat),
                event_id,
            };
            send_frame(socket, &ServerFrame::Lifecycle(frame)).await?;
        }
        Ok(true)
    }

    /// Passes a live event on, if the operator may see it and has not had it.
    async fn on_event(
        &mut self,
        event: &LiveEvent,
        socket: &mut WebSocket,
    ) -> Result<Flow, axum::Error> {
        let lang = self.lang;
        match event {
            LiveEvent::Message {
                chat_id,
                department_id,
                message,
            } => {
                if !self.op.may_see_department(department_id.as_deref()) {
                    return Ok(Flow::Continue);
                }
                let cursor = &mut self.sent.chat(chat_id, message.seq - 1).cursor;
                let reader = &self.reader;
                let frame = |m: &Message| console_frame(chat_id, m, lang, reader);
                match cursor.step(message.seq) {
                    Step::Skip => {}
                    Step::Send => {
                        send_text(socket, frame(message)).await?;
                        cursor.sent(message.seq);
                    }
                    Step::FillGap => catch_up(&self.state, chat_id, cursor, socket, frame).await?,
                }
            }
            LiveEvent::Chat {
                event,
                chat_id,
                department_id,
                last_seq,
                event_id,
                chat,
            } => {
                if !self.op.may_see_department(department_id.as_deref())
                    || !self.sent.lifecycle_news(chat_id, *event_id)
                {
                    return Ok(Flow::Continue);
                }
                self.sent.chat(chat_id, *last_seq);
                let mut chat = chat.clone();
                localize_chat_json(&mut chat, lang);
                let frame = Lifecycle {
                    event,
                    chat: ChatJson::Json(&chat),
                    event_id: *event_id,
                };
                send_frame(socket, &ServerFrame::Lifecycle(frame)).await?;
            }
            LiveEvent::Typing {
                chat_id,
                department_id,
                sender,
            } => {
                if self.op.may_see_department(department_id.as_deref()) {
                    let frame = ServerFrame::Typing {
                        chat_id: Some(chat_id),
                        sender: *sender,
                    };
                    send_frame(socket, &frame).await?;
                }
            }
            LiveEvent::Visitor {
                chat_id,
                department_id,
            } => {
                // V4/V5: the console reads the chat again (page, contact, rating).
                if self.op.may_see_department(department_id.as_deref()) {
                    send_frame(socket, &ServerFrame::ChatVisitor { chat_id }).await?;
                }
            }
            LiveEvent::Operators => {
                // Roles or departments changed: reload what this operator may see.
                let portal = self.op.portal.clone();
                match self
                    .state
                    .chat
                    .operator_ctx_in(portal, &self.op.user_id)
                    .await
                {
                    Ok(fresh) => self.op = fresh,
                    Err(e) if e.code == ErrorCode::Forbidden => return Ok(Flow::GoAway),
                    Err(e) => tracing::warn!(error = %e, "reloading the operator failed"),
                }
            }
        }
        Ok(Flow::Continue)
    }

    /// Handles the events that are ready now, up to [`DRAIN_EVENTS`].
    async fn drain(
        &mut self,
        events: &mut BoxStream<'static, Live>,
        socket: &mut WebSocket,
    ) -> Result<Flow, axum::Error> {
        for _ in 0..DRAIN_EVENTS {
            let flow = match events.next().now_or_never() {
                Some(Some(event)) => self.on_event(&event, socket).await?,
                Some(None) => Flow::GoAway,
                None => break,
            };
            if let Flow::GoAway = flow {
                return Ok(Flow::GoAway);
            }
        }
        Ok(Flow::Continue)
    }

    /// Handles one frame from the console. True when it was a `resume` that was
    /// answered (live events then stop waiting for it).
    async fn on_frame(&mut self, text: &str, socket: &mut WebSocket) -> Result<bool, axum::Error> {
        let lang = self.lang;
        let frame = match crate::input::parse_frame::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(r) => {
                send_text(
                    socket,
                    error_text(&r.error, lang, r.client_message_id.as_deref()),
                )
                .await?;
                return Ok(false);
            }
        };
        let reply = match frame {
            ClientFrame::Resume { after_seq } => {
                return match parse_resume(after_seq.as_ref()) {
                    Ok(wanted) => {
                        self.resume(&wanted, socket).await?;
                        Ok(true)
                    }
                    Err(e) => {
                        send_text(socket, error_text(&e, lang, None)).await?;
                        Ok(false)
                    }
                };
            }
            ClientFrame::Message {
                chat_id,
                text,
                client_message_id,
            } => {
                let chat_id = chat_id.unwrap_or_default();
                let client_id = client_message_id.unwrap_or_default();
                let result = self
                    .state
                    .chat
                    .post_operator_message(
                        &self.op,
                        &chat_id,
                        text.as_deref().unwrap_or(""),
                        &client_id,
                    )
                    .await;
                Some(match result {
                    Ok(m) => ServerFrame::Ack {
                        chat_id: Some(&chat_id),
                        client_message_id: &client_id,
                        seq: m.seq,
                        id: &m.id,
                    }
                    .to_text(),
                    Err(e) => error_text(&e, lang, Some(&client_id)),
                })
            }
            ClientFrame::Typing { chat_id } => self.typing(&chat_id.unwrap_or_default()).await,
            ClientFrame::Ping => Some(ServerFrame::Pong.to_text()),
            ClientFrame::Unknown => Some(error_text(
                &Error::new(ErrorCode::InvalidRequest),
                lang,
                None,
            )),
        };
        if let Some(reply) = reply {
            send_text(socket, reply).await?;
        }
        Ok(false)
    }

    /// The operator types in a chat: the visitor and the other consoles are told, at
    /// most every [`TYPING_EVERY`].
    async fn typing(&mut self, chat_id: &str) -> Option<String> {
        if self.last_typing.is_some_and(|t| t.elapsed() < TYPING_EVERY) {
            return None;
        }
        self.last_typing = Some(Instant::now());
        match self.state.chat.chat_for_operator(&self.op, chat_id).await {
            Ok(chat) => {
                self.state
                    .chat
                    .publish_typing(
                        &self.op.portal.id,
                        &chat.id,
                        chat.department_id.as_deref(),
                        Sender::Operator,
                    )
                    .await;
                None
            }
            Err(e) => Some(error_text(&e, self.lang, None)),
        }
    }

    /// Answers a `resume`: per chat, every message after the client's seq, in order,
    /// then the live ones continue from there; `{type:"resumed"}` at the end.
    async fn resume(&mut self, wanted: &[(String, i64)], socket: &mut WebSocket) -> SocketResult {
        let lang = self.lang;
        for (chat_id, after) in wanted {
            let chat = match self.state.chat.chat_for_operator(&self.op, chat_id).await {
                Ok(chat) => chat,
                Err(e) => {
                    let mut frame = ServerFrame::error(&e, lang, None);
                    if let ServerFrame::Error { chat_id: named, .. } = &mut frame {
                        *named = Some(chat_id);
                    }
                    send_frame(socket, &frame).await?;
                    continue;
                }
            };
            // A client cannot have more than there is.
            let after = (*after).min(chat.last_seq);
            let cursor = self.sent.resume_from(&chat.id, after);
            let reader = &self.reader;
            let frame = |m: &Message| console_frame(&chat.id, m, lang, reader);
            catch_up(&self.state, &chat.id, cursor, socket, frame).await?;
        }
        send_frame(socket, &ServerFrame::Resumed).await
    }
}
