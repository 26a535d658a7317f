//! Live events on the bus (C3/C4, Q2). The database is the source of truth; the bus
//! only wakes sockets up with the event attached, published after commit.
//!
//! Subjects: `chat.{chatId}` (the visitor's sockets: messages, operator typing, the
//! chat becoming missed or ended) and
//! `portal.{portalId}.ops` (operator consoles: chat state changes, messages, typing,
//! operator/department changes). A socket subscribes first, then reads the database
//! for `seq > afterSeq`, then streams bus events through a [`SeqCursor`], which drops
//! what it already sent and asks for a database read when it sees a gap.

use crate::chats::{ChatState, ChatView};
use crate::messages::{Message, Sender};
use crate::Chat;
use futures::stream::BoxStream;
use futures::StreamExt;
use madoguchi_core::bus::{Event, Payload};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What travels on the bus.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A stored message.
    Message {
        chat_id: String,
        department_id: Option<String>,
        message: Message,
    },
    /// A chat changed state; `event` is "chat.waiting" | "chat.attended" | "chat.missed"
    /// | "chat.ended" and `chat` the API view of the chat after the change. `event_id`
    /// is the newest `chat_events` id the change recorded (0: unknown, from a node that
    /// did not send it), so a console can drop an event it already has.
    Chat {
        event: String,
        chat_id: String,
        department_id: Option<String>,
        last_seq: i64,
        #[serde(default)]
        event_id: i64,
        chat: serde_json::Value,
    },
    /// Someone is typing.
    Typing {
        chat_id: String,
        department_id: Option<String>,
        sender: Sender,
    },
    /// Operators, their departments or availability changed: consoles reload their
    /// operator's permissions.
    Operators,
    /// V4/V5: what the console shows about a chat's visitor changed (the page they are
    /// on, their contact details from the widget, their rating): consoles showing the
    /// chat read it again.
    Visitor {
        chat_id: String,
        department_id: Option<String>,
    },
}

/// Events buffered per visitor socket. A chat sees a few events a second, and each
/// idle visitor holds one such channel, so it is small: a slot is about 40 bytes, and
/// at 128 slots the channel was a quarter of an idle visitor's memory. A socket that
/// falls further behind than this reconnects and catches up from the database.
const CHAT_SUBJECT_CAPACITY: usize = 32;
/// Events buffered per console: every message and typing of the portal passes here.
const OPS_SUBJECT_CAPACITY: usize = 8192;

pub fn chat_subject(chat_id: &str) -> String {
    format!("chat.{chat_id}")
}

pub fn ops_subject(portal_id: &str) -> String {
    format!("portal.{portal_id}.ops")
}

/// The bus event of `event`: itself for this node's subscribers (who then never
/// decode it), its JSON for other nodes.
fn encode(event: LiveEvent) -> Payload {
    Event::of(Arc::new(event))
}

/// Live events as subscribers see them: shared, decoded once per node.
pub type Live = Arc<LiveEvent>;

fn decode_stream(stream: BoxStream<'static, Payload>) -> BoxStream<'static, Live> {
    stream
        .filter_map(|payload| async move {
            payload.value(|bytes| serde_json::from_slice::<LiveEvent>(bytes).ok())
        })
        .boxed()
}

impl Chat {
    pub(crate) async fn publish_ops(&self, portal_id: &str, event: LiveEvent) {
        self.bus
            .publish_event(&ops_subject(portal_id), encode(event))
            .await;
    }

    pub(crate) async fn publish_message(
        &self,
        portal_id: &str,
        department_id: Option<&str>,
        message: &Message,
    ) {
        let event = encode(LiveEvent::Message {
            chat_id: message.chat_id.clone(),
            department_id: department_id.map(str::to_owned),
            message: message.clone(),
        });
        self.bus
            .publish_event(&chat_subject(&message.chat_id), event.clone())
            .await;
        self.bus.publish_event(&ops_subject(portal_id), event).await;
    }

    pub(crate) async fn publish_chat_state(&self, chat: &ChatView, event_id: i64) {
        let event = LiveEvent::Chat {
            event: format!("chat.{}", chat.state.as_str()),
            chat_id: chat.id.clone(),
            department_id: chat.department_id.clone(),
            last_seq: chat.last_seq,
            event_id,
            chat: serde_json::to_value(chat).unwrap_or_default(),
        };
        let event = encode(event);
        self.bus
            .publish_event(&ops_subject(&chat.portal_id), event.clone())
            .await;
        // The visitor's widget learns that nobody answered or that the chat ended
        // (after the system line, which was published first).
        if matches!(chat.state, ChatState::Missed | ChatState::Ended) {
            self.bus.publish_event(&chat_subject(&chat.id), event).await;
        }
    }

    /// Typing indicator (C4): visitor typing goes to the consoles, operator typing to
    /// the visitor and the other consoles.
    pub async fn publish_typing(
        &self,
        portal_id: &str,
        chat_id: &str,
        department_id: Option<&str>,
        sender: Sender,
    ) {
        let event = encode(LiveEvent::Typing {
            chat_id: chat_id.to_owned(),
            department_id: department_id.map(str::to_owned),
            sender,
        });
        if sender == Sender::Operator {
            self.bus
                .publish_event(&chat_subject(chat_id), event.clone())
                .await;
        }
        self.bus.publish_event(&ops_subject(portal_id), event).await;
    }

    /// Live events of one chat (for the visitor's sockets).
    pub async fn subscribe_chat(&self, chat_id: &str) -> anyhow::Result<BoxStream<'static, Live>> {
        Ok(decode_stream(
            self.bus
                .subscribe(&chat_subject(chat_id), CHAT_SUBJECT_CAPACITY)
                .await?,
        ))
    }

    /// Live events of a portal's operators (for consoles and the integration).
    pub async fn subscribe_ops(&self, portal_id: &str) -> anyhow::Result<BoxStream<'static, Live>> {
        Ok(decode_stream(
            self.bus
                .subscribe(&ops_subject(portal_id), OPS_SUBJECT_CAPACITY)
                .await?,
        ))
    }
}

/// What a socket does with an incoming message of some seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Already sent (or older): drop it.
    Skip,
    /// The next one: send it.
    Send,
    /// Some are missing between the last sent and this one: read them from the
    /// database (`seq > last`) and send those instead.
    FillGap,
}

/// The last seq a socket sent for one chat: no gaps, no duplicates (C3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeqCursor {
    pub last: i64,
}

impl SeqCursor {
    pub fn new(last: i64) -> Self {
        Self { last }
    }

    pub fn step(&self, seq: i64) -> Step {
        if seq <= self.last {
            Step::Skip
        } else if seq == self.last + 1 {
            Step::Send
        } else {
            Step::FillGap
        }
    }

    /// Records that `seq` was sent.
    pub fn sent(&mut self, seq: i64) {
        self.last = self.last.max(seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_sends_the_next_skips_duplicates_and_fills_gaps() {
        let mut c = SeqCursor::new(3);
        assert_eq!(c.step(3), Step::Skip);
        assert_eq!(c.step(2), Step::Skip);
        assert_eq!(c.step(4), Step::Send);
        c.sent(4);
        assert_eq!(c.step(6), Step::FillGap);
        c.sent(6);
        assert_eq!(c.step(5), Step::Skip);
        assert_eq!(c.last, 6);
    }
}
