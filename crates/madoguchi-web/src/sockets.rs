//! Guards of the WebSockets (SPEC Q6): whose page may open a cookie-authenticated
//! socket (its `Origin` must be the public URL), and how many sockets may be open at
//! once per chat, per visitor, per client address, per operator and on this node.
//!
//! Counting is per node: each `serve` node keeps its own counts in memory (a client
//! spread over `n` nodes by a load balancer may hold up to `n` times a limit). A socket
//! holds a [`Slot`] from its handshake until its task ends; dropping the slot frees
//! its place, however the socket ended.

use axum::http::Uri;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Widget sockets per chat (and per visitor): a handful of browser tabs.
pub const DEFAULT_PER_CHAT: usize = 5;
/// Widget sockets per client address (visitors behind one NAT share it).
pub const DEFAULT_PER_ADDRESS: usize = 50;
/// Console sockets per operator (user).
pub const DEFAULT_PER_OPERATOR: usize = 20;

/// The close code of a refused socket: 1013 "try again later". The widget waits
/// long before it tries again and keeps the chat going over HTTP meanwhile.
pub const CLOSE_TRY_LATER: u16 = 1013;
/// The close code of a socket whose token or session ended (logout, revocation).
pub const CLOSE_SIGNED_OUT: u16 = 4001;
pub const SIGNED_OUT_REASON: &str = "signed out";

/// The socket limits of `serve` (`--max-sockets-per-chat` …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketLimits {
    /// Widget sockets per chat, and per visitor token.
    pub per_chat: usize,
    /// Widget sockets per client address (as the new-chat limit derives it, behind
    /// `--trusted-proxy` from `X-Forwarded-For`); lifted by `--widget-rate-limit off`.
    pub per_address: usize,
    /// Operator console sockets per user.
    pub per_operator: usize,
    /// Every WebSocket on this node; `None`: the descriptor limit (RLIMIT_NOFILE)
    /// less a reserve for HTTP, the database and the rest (see [`descriptor_budget`]).
    pub total: Option<usize>,
}

impl Default for SocketLimits {
    fn default() -> Self {
        Self {
            per_chat: DEFAULT_PER_CHAT,
            per_address: DEFAULT_PER_ADDRESS,
            per_operator: DEFAULT_PER_OPERATOR,
            total: None,
        }
    }
}

/// Which limit refused a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Chat,
    Visitor,
    Address,
    Operator,
    Node,
}

impl Refusal {
    /// The close frame's reason (ASCII, well under the 123 bytes a reason may take).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Chat => "too many sockets for this chat",
            Self::Visitor => "too many sockets for this visitor",
            Self::Address => "too many sockets from this address",
            Self::Operator => "too many sockets for this operator",
            Self::Node => "server busy",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Chat(String),
    Visitor(String),
    Address(String),
    Operator(String),
}

#[derive(Debug)]
struct Inner {
    per_chat: usize,
    per_address: Option<usize>,
    per_operator: usize,
    total: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    open: usize,
    by_key: HashMap<Key, usize>,
}

/// The open sockets of this node, by what limits them.
#[derive(Debug, Clone)]
pub struct Sockets(Arc<Inner>);

/// One open socket's place in the counts; freed when dropped.
#[derive(Debug)]
pub struct Slot {
    inner: Arc<Inner>,
    keys: Vec<Key>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.inner.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.open = counts.open.saturating_sub(1);
        for key in &self.keys {
            if let Some(n) = counts.by_key.get_mut(key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    counts.by_key.remove(key);
                }
            }
        }
    }
}

impl Sockets {
    /// `per_address_limited: false` (`--widget-rate-limit off`) lifts the per-address
    /// limit; `total` is the node's limit (see [`SocketLimits::total`]).
    pub fn new(limits: &SocketLimits, per_address_limited: bool) -> Self {
        let total = limits
            .total
            .or_else(|| descriptor_limit().map(descriptor_budget))
            .unwrap_or(usize::MAX);
        Self(Arc::new(Inner {
            per_chat: limits.per_chat,
            per_address: per_address_limited.then_some(limits.per_address),
            per_operator: limits.per_operator,
            total,
            counts: Mutex::default(),
        }))
    }

    /// The node's limit on open sockets.
    pub fn total(&self) -> usize {
        self.0.total
    }

    /// Sockets open on this node now.
    pub fn open(&self) -> usize {
        self.0.counts.lock().unwrap_or_else(|p| p.into_inner()).open
    }

    /// A place for a widget socket of `chat_id`, opened with `visitor_id`'s token from
    /// `address` (when known).
    pub fn visitor(
        &self,
        chat_id: &str,
        visitor_id: &str,
        address: Option<&str>,
    ) -> Result<Slot, Refusal> {
        let mut wanted = vec![
            (
                Key::Chat(chat_id.to_owned()),
                self.0.per_chat,
                Refusal::Chat,
            ),
            (
                Key::Visitor(visitor_id.to_owned()),
                self.0.per_chat,
                Refusal::Visitor,
            ),
        ];
        if let (Some(limit), Some(address)) = (self.0.per_address, address) {
            wanted.push((Key::Address(address.to_owned()), limit, Refusal::Address));
        }
        self.take(wanted)
    }

    /// A place for an operator console socket of `user_id`.
    pub fn operator(&self, user_id: &str) -> Result<Slot, Refusal> {
        self.take(vec![(
            Key::Operator(user_id.to_owned()),
            self.0.per_operator,
            Refusal::Operator,
        )])
    }

    /// Takes a place under every key, or none when one of them is full.
    fn take(&self, wanted: Vec<(Key, usize, Refusal)>) -> Result<Slot, Refusal> {
        let mut counts = self.0.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.open >= self.0.total {
            return Err(Refusal::Node);
        }
        for (key, limit, refusal) in &wanted {
            if counts.by_key.get(key).copied().unwrap_or(0) >= *limit {
                return Err(*refusal);
            }
        }
        counts.open += 1;
        let keys: Vec<Key> = wanted.into_iter().map(|(key, _, _)| key).collect();
        for key in &keys {
            *counts.by_key.entry(key.clone()).or_insert(0) += 1;
        }
        Ok(Slot {
            inner: self.0.clone(),
            keys,
        })
    }
}

/// The soft limit on open descriptors of this process (RLIMIT_NOFILE), read from
/// `/proc/self/limits` (Linux); `None` where that cannot be read.
pub fn descriptor_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files_limit(&text)
}

fn parse_open_files_limit(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    // "unlimited" has no number: no limit of ours either.
    soft.parse().ok()
}

/// How many sockets fit under a descriptor limit of `limit`: what is left after a
/// reserve of 10 % or 256 descriptors, whichever is more (but at most half), for
/// HTTP connections such as `/healthz`, the database pool, NATS and files.
pub fn descriptor_budget(limit: usize) -> usize {
    let reserve = (limit / 10).max(256).min(limit / 2);
    limit - reserve
}

/// Whether `origin` (an `Origin` header) is the origin of `public_url`: the same
/// scheme, host and port (a default port written or not).
pub fn is_public_origin(public_url: &str, origin: Option<&str>) -> bool {
    match (origin_of(public_url), origin.and_then(origin_of)) {
        (Some(public), Some(origin)) => public == origin,
        _ => false,
    }
}

fn origin_of(url: &str) -> Option<(String, String, u16)> {
    let uri: Uri = url.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let port = match (uri.port_u16(), scheme.as_str()) {
        (Some(port), _) => port,
        (None, "http" | "ws") => 80,
        (None, "https" | "wss") => 443,
        (None, _) => return None,
    };
    Some((scheme, host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_chat: usize, per_address: usize, total: usize) -> SocketLimits {
        SocketLimits {
            per_chat,
            per_address,
            per_operator: 2,
            total: Some(total),
        }
    }

    #[test]
    fn q6_slots_are_limited_per_chat_visitor_address_operator_and_node() {
        let sockets = Sockets::new(&limits(2, 3, 6), true);
        let a1 = sockets.visitor("c1", "v1", Some("192.0.2.1"));
        let a2 = sockets.visitor("c1", "v1", Some("192.0.2.1"));
        assert!(a1.is_ok() && a2.is_ok());
        assert_eq!(
            sockets.visitor("c1", "v9", Some("192.0.2.9")).err(),
            Some(Refusal::Chat)
        );
        assert_eq!(
            sockets.visitor("c9", "v1", Some("192.0.2.9")).err(),
            Some(Refusal::Visitor)
        );
        let b = sockets.visitor("c2", "v2", Some("192.0.2.1"));
        assert!(b.is_ok());
        assert_eq!(
            sockets.visitor("c3", "v3", Some("192.0.2.1")).err(),
            Some(Refusal::Address)
        );
        // A refusal takes no place anywhere.
        assert_eq!(sockets.open(), 3);
        drop(a1);
        let d = sockets.visitor("c3", "v3", Some("192.0.2.1"));
        assert!(d.is_ok());
        let o1 = sockets.operator("u1");
        let o2 = sockets.operator("u1");
        assert!(o1.is_ok() && o2.is_ok());
        assert_eq!(sockets.operator("u1").err(), Some(Refusal::Operator));
        let c = sockets.visitor("c4", "v4", None);
        assert!(c.is_ok());
        assert_eq!(sockets.open(), 6);
        assert_eq!(sockets.operator("u2").err(), Some(Refusal::Node));
        drop((a2, b, d, o1, o2, c));
        assert_eq!(sockets.open(), 0);
        assert!(sockets.0.counts.lock().unwrap().by_key.is_empty());
    }

    #[test]
    fn q6_without_the_widget_rate_limit_the_address_is_not_limited() {
        let sockets = Sockets::new(&limits(1, 1, 100), false);
        let held: Vec<_> = (0..10)
            .map(|i| sockets.visitor(&format!("c{i}"), &format!("v{i}"), Some("192.0.2.1")))
            .collect();
        assert!(held.iter().all(Result::is_ok));
    }

    #[test]
    fn q6_the_descriptor_limit_is_read_and_leaves_a_reserve() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max open files            20000                20000                files     \n";
        assert_eq!(parse_open_files_limit(text), Some(20000));
        assert_eq!(
            parse_open_files_limit("Max open files  unlimited unlimited files"),
            None
        );
        assert_eq!(descriptor_budget(20000), 18000);
        assert_eq!(descriptor_budget(1024), 768);
        assert_eq!(descriptor_budget(300), 150);
        if cfg!(target_os = "linux") {
            assert!(descriptor_limit().is_some_and(|n| n > 0));
        }
    }

    #[test]
    fn q6_only_the_public_origin_is_the_public_origin() {
        let public = "https://help.example.jp";
        assert!(is_public_origin(public, Some("https://help.example.jp")));
        assert!(is_public_origin(
            public,
            Some("https://HELP.example.jp:443")
        ));
        assert!(is_public_origin(
            "https://help.example.jp/madoguchi/",
            Some("https://help.example.jp")
        ));
        for foreign in [
            None,
            Some(""),
            Some("null"),
            Some("http://help.example.jp"),
            Some("https://help.example.jp:8443"),
            Some("https://www.example.jp"),
            Some("https://help.example.jp.evil.example"),
        ] {
            assert!(!is_public_origin(public, foreign), "{foreign:?}");
        }
        assert!(is_public_origin(
            "http://127.0.0.1:8080",
            Some("http://127.0.0.1:8080")
        ));
        assert!(!is_public_origin(
            "http://127.0.0.1:8080",
            Some("http://127.0.0.1:8081")
        ));
    }
}
