//! The WebSocket protocol of the widget and the console (C3, C4), as types: what a
//! client may send ([`ClientFrame`]), what the server sends ([`ServerFrame`]), and what
//! a console socket keeps per chat to send without gaps or repeats
//! ([`ConsoleCursors`]). The web layer moves frames between these and the socket; the
//! wire shape is decided here, in one place, and serialized straight from these types
//! (no intermediate JSON tree per frame).

use crate::chats::ChatView;
use crate::live::SeqCursor;
use crate::messages::{MessageView, Sender};
use madoguchi_core::{Error, Lang};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

/// A `resume` frame names at most this many chats.
pub const MAX_RESUME_CHATS: usize = 1000;

/// What a client sends on either socket. Fields a frame does not need are ignored; a
/// frame of another `type` is [`ClientFrame::Unknown`] (answered `invalid_request`).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ClientFrame {
    /// `{type:"message", text, clientMessageId}` (the console adds `chatId`).
    #[serde(rename_all = "camelCase")]
    Message {
        chat_id: Option<String>,
        text: Option<String>,
        client_message_id: Option<String>,
    },
    /// `{type:"typing"}` (the console adds `chatId`).
    #[serde(rename_all = "camelCase")]
    Typing { chat_id: Option<String> },
    /// `{type:"ping"}`, answered `{type:"pong"}`.
    Ping,
    /// Console: `{type:"resume", afterSeq:{"<chatId>": seq, …}}` (checked by
    /// [`parse_resume`]).
    #[serde(rename_all = "camelCase")]
    Resume { after_seq: Option<Value> },
    #[serde(other)]
    Unknown,
}

/// What the server sends. Frames whose `type` is the chat's new state are
/// [`Lifecycle`] and [`VisitorLifecycle`].
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerFrame<'a> {
    /// Subscribed: everything from here on arrives. The console's carries the newest
    /// lifecycle event id.
    #[serde(rename_all = "camelCase")]
    Ready {
        #[serde(skip_serializing_if = "Option::is_none")]
        last_event_id: Option<i64>,
    },
    /// A message was stored (the console's names its chat).
    #[serde(rename_all = "camelCase")]
    Ack {
        #[serde(skip_serializing_if = "Option::is_none")]
        chat_id: Option<&'a str>,
        client_message_id: &'a str,
        seq: i64,
        id: &'a str,
    },
    /// To the widget: a message of its chat, its fields at the top level.
    #[serde(rename = "message")]
    VisitorMessage(&'a MessageView),
    /// To a console: a message of one of the chats it sees.
    #[serde(rename = "message", rename_all = "camelCase")]
    ConsoleMessage {
        chat_id: &'a str,
        message: &'a MessageView,
    },
    /// Someone is typing (the console's names the chat).
    #[serde(rename_all = "camelCase")]
    Typing {
        #[serde(skip_serializing_if = "Option::is_none")]
        chat_id: Option<&'a str>,
        sender: Sender,
    },
    /// V4/V5: the console reads the chat's visitor again.
    #[serde(rename = "chat.visitor", rename_all = "camelCase")]
    ChatVisitor {
        chat_id: &'a str,
    },
    Pong,
    /// The end of a `resume`'s replay.
    Resumed,
    /// A refused frame or action, in the socket's language.
    #[serde(rename_all = "camelCase")]
    Error {
        code: &'static str,
        message: String,
        field: Option<&'a str>,
        client_message_id: Option<&'a str>,
        /// A `resume` names the chat it could not replay.
        #[serde(skip_serializing_if = "Option::is_none")]
        chat_id: Option<&'a str>,
    },
    /// To a console: `{type:"chat.<state>", chat, eventId}`.
    #[serde(untagged)]
    Lifecycle(Lifecycle<'a>),
    /// To the widget: `{type:"chat.missed"|"chat.ended", state}` (only the state: the
    /// chat's view holds operator-side data).
    #[serde(untagged)]
    VisitorLifecycle(VisitorLifecycle<'a>),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle<'a> {
    /// "chat.waiting" | "chat.attended" | "chat.missed" | "chat.ended"
    #[serde(rename = "type")]
    pub event: &'a str,
    pub chat: ChatJson<'a>,
    pub event_id: i64,
}

/// A chat in a lifecycle frame: a view read now, or the one that came on the bus.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ChatJson<'a> {
    View(&'a ChatView),
    Json(&'a Value),
}

#[derive(Debug, Serialize)]
pub struct VisitorLifecycle<'a> {
    #[serde(rename = "type")]
    pub event: &'a str,
    pub state: &'a Value,
}

impl<'a> ServerFrame<'a> {
    pub fn error(e: &'a Error, lang: Lang, client_message_id: Option<&'a str>) -> ServerFrame<'a> {
        ServerFrame::Error {
            code: e.code.as_str(),
            message: e.message(lang),
            field: e.field.as_deref(),
            client_message_id,
            chat_id: None,
        }
    }

    /// The frame's JSON text.
    pub fn to_text(&self) -> String {
        // Serializing these types cannot fail (string keys, no maps of other keys).
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The chats and seqs of a `resume` frame: an object of at most [`MAX_RESUME_CHATS`]
/// chat ids with whole numbers of 0 or more.
pub fn parse_resume(after_seq: Option<&Value>) -> Result<Vec<(String, i64)>, Error> {
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

/// Where one console socket stands on one chat's messages.
#[derive(Debug, Clone, Copy)]
pub struct ChatSeq {
    pub cursor: SeqCursor,
    /// The seq live sending started after on this socket: the socket sent exactly
    /// `(base, cursor.last]`.
    pub base: i64,
}

impl ChatSeq {
    pub fn new(last: i64) -> Self {
        Self {
            cursor: SeqCursor::new(last),
            base: last,
        }
    }
}

/// What one console socket has sent, per chat.
#[derive(Default)]
pub struct ConsoleCursors {
    pub seqs: HashMap<String, ChatSeq>,
    /// The newest lifecycle event id sent per chat.
    events: HashMap<String, i64>,
}

impl ConsoleCursors {
    /// Whether a `chat.*` event with this id is news for the chat (and notes it).
    /// 0 is an event from a node that did not send ids: always passed on.
    pub fn lifecycle_news(&mut self, chat_id: &str, event_id: i64) -> bool {
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

    /// The cursor of a chat, starting after `last` if the socket has none yet.
    pub fn chat(&mut self, chat_id: &str, last: i64) -> &mut ChatSeq {
        self.seqs
            .entry(chat_id.to_owned())
            .or_insert_with(|| ChatSeq::new(last))
    }

    /// Notes where the client stands on a chat it asked to `resume` after `after`; the
    /// cursor to replay from.
    pub fn resume_from(&mut self, chat_id: &str, after: i64) -> &mut SeqCursor {
        let entry = self.chat(chat_id, after);
        if after < entry.base {
            // Start over at the client's seq. If this socket already sent some live
            // messages of the chat (a `resume` after the wait), they come again, in
            // order; the client keeps messages by seq.
            *entry = ChatSeq::new(after);
        } else {
            // The client has everything up to `after` and whatever this socket sent.
            entry.cursor.sent(after);
        }
        &mut entry.cursor
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use madoguchi_core::ErrorCode;
    use serde_json::json;

    fn parse(text: &str) -> Option<ClientFrame> {
        serde_json::from_str(text).ok()
    }

    #[test]
    fn c3_client_frames_parse_by_type_and_ignore_fields_they_do_not_need() {
        assert!(matches!(
            parse(r#"{"type":"message","text":"hi","clientMessageId":"c1","extra":1}"#),
            Some(ClientFrame::Message { text: Some(t), client_message_id: Some(c), chat_id: None }) if t == "hi" && c == "c1"
        ));
        assert!(matches!(
            parse(r#"{"type":"typing","chatId":"x"}"#),
            Some(ClientFrame::Typing { chat_id: Some(c) }) if c == "x"
        ));
        assert!(matches!(
            parse(r#"{"type":"ping","x":[1]}"#),
            Some(ClientFrame::Ping)
        ));
        assert!(matches!(
            parse(r#"{"type":"resume","afterSeq":{"a":1}}"#),
            Some(ClientFrame::Resume { after_seq: Some(_) })
        ));
        assert!(matches!(
            parse(r#"{"type":"dance"}"#),
            Some(ClientFrame::Unknown)
        ));
        // No type, or a field of the wrong type: not a frame.
        assert!(parse(r#"{"text":"hi"}"#).is_none());
        assert!(parse(r#"{"type":"message","text":5}"#).is_none());
        assert!(parse(r#"{"type":7}"#).is_none());
    }

    #[test]
    fn c3_server_frames_keep_their_wire_shape() {
        let view = MessageView {
            id: "m1".into(),
            seq: 3,
            sender: Sender::Visitor,
            sender_name: "花子".into(),
            text: "こんにちは".into(),
            created_at: "2026-12-01T00:00:00Z".into(),
            system_kind: None,
            attachment: None,
        };
        let text =
            |f: ServerFrame<'_>| serde_json::from_str::<Value>(&f.to_text()).unwrap_or_default();
        assert_eq!(
            text(ServerFrame::Ready {
                last_event_id: None
            }),
            json!({"type": "ready"})
        );
        assert_eq!(
            text(ServerFrame::Ready {
                last_event_id: Some(4)
            }),
            json!({"type": "ready", "lastEventId": 4})
        );
        assert_eq!(
            text(ServerFrame::VisitorMessage(&view)),
            json!({"type": "message", "id": "m1", "seq": 3, "sender": "visitor", "senderName": "花子",
                   "text": "こんにちは", "createdAt": "2026-12-01T00:00:00Z"})
        );
        assert_eq!(
            text(ServerFrame::ConsoleMessage {
                chat_id: "c1",
                message: &view
            })["message"]["seq"],
            json!(3)
        );
        assert_eq!(
            text(ServerFrame::Ack {
                chat_id: None,
                client_message_id: "k",
                seq: 3,
                id: "m1"
            }),
            json!({"type": "ack", "clientMessageId": "k", "seq": 3, "id": "m1"})
        );
        assert_eq!(
            text(ServerFrame::Typing {
                chat_id: None,
                sender: Sender::Operator
            }),
            json!({"type": "typing", "sender": "operator"})
        );
        let e = Error::new(ErrorCode::InvalidRequest);
        let error = text(ServerFrame::error(&e, Lang::En, None));
        assert_eq!(error["type"], "error");
        assert_eq!(error["code"], "invalid_request");
        assert!(error["field"].is_null() && error["clientMessageId"].is_null());
        assert!(error.get("chatId").is_none());
        let state = json!("ended");
        assert_eq!(
            text(ServerFrame::VisitorLifecycle(VisitorLifecycle {
                event: "chat.ended",
                state: &state
            })),
            json!({"type": "chat.ended", "state": "ended"})
        );
        let chat = json!({"id": "c1"});
        assert_eq!(
            text(ServerFrame::Lifecycle(Lifecycle {
                event: "chat.waiting",
                chat: ChatJson::Json(&chat),
                event_id: 9
            })),
            json!({"type": "chat.waiting", "chat": {"id": "c1"}, "eventId": 9})
        );
        assert_eq!(text(ServerFrame::Resumed), json!({"type": "resumed"}));
        assert_eq!(
            text(ServerFrame::ChatVisitor { chat_id: "c1" }),
            json!({"type": "chat.visitor", "chatId": "c1"})
        );
    }

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

    #[test]
    fn a_resume_below_what_the_socket_sent_starts_over_there() {
        let mut sent = ConsoleCursors::default();
        sent.chat("c", 5).cursor.sent(8);
        // The client has up to 9: nothing sent again.
        assert_eq!(sent.resume_from("c", 9).last, 9);
        // The client has only up to 3 (below where this socket started): from 3.
        assert_eq!(sent.resume_from("c", 3).last, 3);
    }
}
