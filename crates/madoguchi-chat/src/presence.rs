//! V1: who has an operator console open, on every node.
//!
//! An operator is *online* for a department while they are available (C4), may take
//! chats of that department (C2) and have at least one console socket open on some
//! node. This module keeps the socket part:
//!
//! - each node counts its own console sockets per (portal, operator): a socket holds a
//!   [`PresenceGuard`] from [`Chat::console_connected`] and drops it when it closes;
//! - each node announces the set it holds on the bus subject [`PRESENCE_SUBJECT`]
//!   whenever it changes and every [`HEARTBEAT`], and remembers what the other nodes
//!   announced; a node not heard from for [`NODE_EXPIRY`] is forgotten (it died), so
//!   the widget's `online` follows within 10 s even then.
//!
//! Presence changes only what the widget offers (the offline form), never the API's
//! routing: starting a chat still asks the database who is available (C5).
//!
//! The API other features use (transfer, routing): [`Chat::connected_operators`],
//! [`Chat::online_operators`], [`Chat::is_online`].

use crate::Chat;
use futures::StreamExt;
use madoguchi_core::Result;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The bus subject of presence announcements (all portals).
pub const PRESENCE_SUBJECT: &str = "presence";
/// A node announces what it holds at least this often.
pub const HEARTBEAT: Duration = Duration::from_secs(3);
/// A node not heard from for this long is forgotten.
pub const NODE_EXPIRY: Duration = Duration::from_secs(9);

/// What one node announces: every (portal id, operator user id) with a console open.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Announcement {
    node: String,
    consoles: Vec<(String, String)>,
}

#[derive(Default)]
struct Inner {
    /// This node's open consoles: (portal id, user id) → sockets.
    local: HashMap<(String, String), usize>,
    /// Other nodes: node id → (their consoles, when heard).
    remote: HashMap<String, (HashSet<(String, String)>, Instant)>,
}

/// The registry of open consoles (one per [`Chat`]).
pub struct Presence {
    node: String,
    inner: Mutex<Inner>,
    /// Wakes the announcer after a local change.
    changed: tokio::sync::Notify,
}

impl Default for Presence {
    fn default() -> Self {
        Self {
            node: madoguchi_core::ids::new_id(),
            inner: Mutex::default(),
            changed: tokio::sync::Notify::new(),
        }
    }
}

impl Presence {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn announcement(&self) -> Announcement {
        let inner = self.lock();
        Announcement {
            node: self.node.clone(),
            consoles: inner.local.keys().cloned().collect(),
        }
    }

    fn heard(&self, a: Announcement) {
        if a.node == self.node {
            return;
        }
        let mut inner = self.lock();
        inner
            .remote
            .insert(a.node, (a.consoles.into_iter().collect(), Instant::now()));
    }

    fn connected(&self, portal_id: &str) -> HashSet<String> {
        let mut inner = self.lock();
        inner
            .remote
            .retain(|_, (_, seen)| seen.elapsed() < NODE_EXPIRY);
        let mut out: HashSet<String> = inner
            .local
            .keys()
            .filter(|(p, _)| p == portal_id)
            .map(|(_, u)| u.clone())
            .collect();
        for (consoles, _) in inner.remote.values() {
            out.extend(
                consoles
                    .iter()
                    .filter(|(p, _)| p == portal_id)
                    .map(|(_, u)| u.clone()),
            );
        }
        out
    }
}

/// Held by an open console socket; dropping it counts the socket out.
pub struct PresenceGuard {
    presence: Arc<Presence>,
    key: (String, String),
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        let gone = {
            let mut inner = self.presence.lock();
            match inner.local.get_mut(&self.key) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    inner.local.remove(&self.key);
                    true
                }
                None => false,
            }
        };
        if gone {
            self.presence.changed.notify_one();
        }
    }
}

impl Chat {
    /// V1: counts a console socket of `user_id` on `portal_id` in until the guard drops.
    pub fn console_connected(&self, portal_id: &str, user_id: &str) -> PresenceGuard {
        let key = (portal_id.to_owned(), user_id.to_owned());
        let new = {
            let mut inner = self.presence.lock();
            let n = inner.local.entry(key.clone()).or_insert(0);
            *n += 1;
            *n == 1
        };
        if new {
            self.presence.changed.notify_one();
        }
        PresenceGuard {
            presence: self.presence.clone(),
            key,
        }
    }

    /// V1: the operators of a portal with a console open on any node (whatever their
    /// availability).
    pub fn connected_operators(&self, portal_id: &str) -> HashSet<String> {
        self.presence.connected(portal_id)
    }

    /// V1: the operators who are online for a chat of `department_id` (None: a chat
    /// without department): available, allowed to take it and with a console open.
    pub async fn online_operators(
        &self,
        portal_id: &str,
        department_id: Option<&str>,
    ) -> Result<Vec<String>> {
        let connected = self.connected_operators(portal_id);
        if connected.is_empty() {
            return Ok(Vec::new());
        }
        let available =
            crate::operators::store::available_ids_for(&self.db, portal_id, department_id).await?;
        Ok(available
            .into_iter()
            .filter(|u| connected.contains(u))
            .collect())
    }

    /// V1: whether someone is online for a chat of `department_id`.
    pub async fn is_online(&self, portal_id: &str, department_id: Option<&str>) -> Result<bool> {
        Ok(!self
            .online_operators(portal_id, department_id)
            .await?
            .is_empty())
    }

    /// Starts the announcer of this node's consoles and the listener to the other
    /// nodes' (until [`Chat::close`]). Call once per process.
    pub async fn start_presence(&self) -> anyhow::Result<()> {
        let mut heard = self.bus.subscribe(PRESENCE_SUBJECT, 1024).await?;
        let presence = self.presence.clone();
        let mut closing = self.closing();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = closing.changed() => return,
                    a = heard.next() => match a {
                        Some(payload) => {
                            if let Ok(a) = serde_json::from_slice::<Announcement>(&payload) {
                                presence.heard(a);
                            }
                        }
                        None => return,
                    }
                }
            }
        });
        let presence = self.presence.clone();
        let bus = self.bus.clone();
        let mut closing = self.closing();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            loop {
                tokio::select! {
                    _ = closing.changed() => {
                        // Leaving: the other nodes forget this one's consoles at once.
                        let a = Announcement { node: presence.node.clone(), consoles: Vec::new() };
                        bus.publish(PRESENCE_SUBJECT, serde_json::to_vec(&a).unwrap_or_default()).await;
                        return;
                    }
                    _ = tick.tick() => {}
                    _ = presence.changed.notified() => {}
                }
                let a = presence.announcement();
                bus.publish(PRESENCE_SUBJECT, serde_json::to_vec(&a).unwrap_or_default())
                    .await;
            }
        });
        Ok(())
    }
}
