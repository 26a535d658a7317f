//! Q3: limits of the anonymous widget, kept in memory per node (a visitor's requests
//! reach one node most of the time; a per-node limit is what a load balancer in front
//! would add up to anyway).
//!
//! - New chats per client address per minute (`--widget-rate-limit`), a fixed window.
//! - Messages per chat: a token bucket of [`MESSAGE_BURST`] refilled at
//!   [`MESSAGES_PER_SECOND`], well above the 20 messages/s that must always pass.
//! - Files per chat (V3): a bucket of [`UPLOAD_BURST`] refilled at
//!   [`UPLOADS_PER_SECOND`], so one visitor cannot fill the database with files.

use std::collections::HashMap;
use std::sync::Mutex;

pub const MESSAGE_BURST: f64 = 100.0;
pub const MESSAGES_PER_SECOND: f64 = 50.0;
pub const UPLOAD_BURST: f64 = 20.0;
pub const UPLOADS_PER_SECOND: f64 = 1.0 / 3.0;
const WINDOW_MS: i64 = 60_000;
const MAX_KEYS: usize = 50_000;

#[derive(Default)]
pub struct Limits {
    new_chats: Mutex<HashMap<String, (i64, u32)>>,
    messages: Mutex<HashMap<String, (i64, f64)>>,
    uploads: Mutex<HashMap<String, (i64, f64)>>,
}

impl Limits {
    /// Counts a new chat from `address`; false when over `per_minute`.
    pub fn allow_new_chat(&self, address: &str, per_minute: u32, now_ms: i64) -> bool {
        let mut map = self.new_chats.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > MAX_KEYS {
            map.retain(|_, (start, _)| now_ms - *start < WINDOW_MS);
        }
        let entry = map.entry(address.to_owned()).or_insert((now_ms, 0));
        if now_ms - entry.0 >= WINDOW_MS || now_ms < entry.0 {
            *entry = (now_ms, 0);
        }
        if entry.1 >= per_minute {
            return false;
        }
        entry.1 += 1;
        true
    }

    /// Takes a token for a message of `chat_id`; false when the bucket is empty.
    pub fn allow_message(&self, chat_id: &str, now_ms: i64) -> bool {
        take(
            &self.messages,
            chat_id,
            MESSAGE_BURST,
            MESSAGES_PER_SECOND,
            now_ms,
        )
    }

    /// V3: takes a token for a visitor's file in `chat_id`; false when the bucket is empty.
    pub fn allow_upload(&self, chat_id: &str, now_ms: i64) -> bool {
        take(
            &self.uploads,
            chat_id,
            UPLOAD_BURST,
            UPLOADS_PER_SECOND,
            now_ms,
        )
    }
}

/// A token bucket per key of `burst` tokens refilled at `per_second`.
fn take(
    buckets: &Mutex<HashMap<String, (i64, f64)>>,
    key: &str,
    burst: f64,
    per_second: f64,
    now_ms: i64,
) -> bool {
    let mut map = buckets.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() > MAX_KEYS {
        let full_after_ms = (burst / per_second * 1000.0) as i64;
        map.retain(|_, (at, _)| now_ms - *at < full_after_ms.max(10_000));
    }
    let (at, tokens) = map.entry(key.to_owned()).or_insert((now_ms, burst));
    let elapsed = (now_ms - *at).max(0) as f64 / 1000.0;
    *tokens = (*tokens + elapsed * per_second).min(burst);
    *at = now_ms;
    if *tokens >= 1.0 {
        *tokens -= 1.0;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_chats_are_limited_per_address_per_minute() {
        let l = Limits::default();
        assert!(l.allow_new_chat("a", 2, 0));
        assert!(l.allow_new_chat("a", 2, 10));
        assert!(!l.allow_new_chat("a", 2, 20));
        assert!(l.allow_new_chat("b", 2, 20));
        assert!(l.allow_new_chat("a", 2, 60_000));
    }

    #[test]
    fn twenty_messages_a_second_always_pass() {
        let l = Limits::default();
        // 30 seconds at 20 messages/s, evenly spread.
        for i in 0..600 {
            assert!(l.allow_message("c", i * 50), "message {i}");
        }
        // A burst of 100 at once passes too; a flood beyond it does not.
        let l = Limits::default();
        for _ in 0..100 {
            assert!(l.allow_message("c", 0));
        }
        assert!(!l.allow_message("c", 0));
    }
}
