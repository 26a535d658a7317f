//! The event bus that carries live events (new chat messages, chat state changes,
//! typing) to every WebSocket that should see them, on this node and, with NATS, on
//! every node. The database stays the source of truth: the bus is only a wake-up
//! with the event attached; a subscriber that lagged or reconnected resyncs from the
//! database by sequence number (C3), so losing a bus message never loses data.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::broadcast;

/// One event as every subscriber of a node receives it (shared, not copied).
pub type Payload = Arc<Event>;

/// An event's bytes (what crosses nodes) and the value they decode to. Every subscriber
/// of a subject on a node holds the same `Event`, so the first to decode it decodes it
/// for all of them; an event published on this node comes with its value, is never
/// decoded here, and is encoded only if it leaves the node (NATS). (A message reaches a
/// visitor's socket, every console of the portal and maybe the integration: decoding
/// it once per subscriber, and encoding it for nobody on one node, were a large share
/// of a message's cost.)
pub struct Event {
    bytes: OnceLock<Bytes>,
    decoded: OnceLock<Option<Value>>,
    /// Writes the value's bytes when they are asked for.
    encode: Option<fn(&(dyn Any + Send + Sync)) -> Vec<u8>>,
}

type Value = Arc<dyn Any + Send + Sync>;

impl Event {
    pub fn new(bytes: impl Into<Bytes>) -> Payload {
        Arc::new(Self {
            bytes: OnceLock::from(bytes.into()),
            decoded: OnceLock::new(),
            encode: None,
        })
    }

    /// An event published on this node: its value, written as JSON when it leaves it.
    pub fn of<T: serde::Serialize + Any + Send + Sync>(value: Arc<T>) -> Payload {
        fn json<T: serde::Serialize + Any>(value: &(dyn Any + Send + Sync)) -> Vec<u8> {
            value
                .downcast_ref::<T>()
                .and_then(|v| serde_json::to_vec(v).ok())
                .unwrap_or_default()
        }
        Arc::new(Self {
            bytes: OnceLock::new(),
            decoded: OnceLock::from(Some(value as Value)),
            encode: Some(json::<T>),
        })
    }

    /// The bytes as they travel between nodes.
    pub fn bytes(&self) -> &[u8] {
        self.shared_bytes()
    }

    fn shared_bytes(&self) -> &Bytes {
        self.bytes
            .get_or_init(|| match (self.encode, self.decoded.get()) {
                (Some(encode), Some(Some(value))) => Bytes::from(encode(value.as_ref())),
                _ => Bytes::new(),
            })
    }

    /// The value the bytes decode to, decoded by the first subscriber that asks; `None`
    /// when they do not decode (or were decoded as another type).
    pub fn value<T: Any + Send + Sync>(
        &self,
        decode: impl FnOnce(&[u8]) -> Option<T>,
    ) -> Option<Arc<T>> {
        let value = self
            .decoded
            .get_or_init(|| decode(self.bytes()).map(|v| Arc::new(v) as Value));
        value.clone()?.downcast::<T>().ok()
    }
}

impl std::ops::Deref for Event {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.bytes()
    }
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes to every subscriber of `subject`, on every node.
    async fn publish_event(&self, subject: &str, event: Payload);

    /// Publishes bytes (see [`Bus::publish_event`]).
    async fn publish(&self, subject: &str, payload: Vec<u8>) {
        self.publish_event(subject, Event::new(payload)).await;
    }
    /// Subscribes to `subject`, buffering up to `capacity` events for this subscriber
    /// (the subject's channel takes the capacity of its first subscriber). The stream
    /// ends when the bus goes away or when the subscriber falls further behind than
    /// that: it then reconnects and resyncs from the database instead of silently
    /// missing events.
    async fn subscribe(
        &self,
        subject: &str,
        capacity: usize,
    ) -> anyhow::Result<BoxStream<'static, Payload>>;
}

/// One process: a broadcast channel per subject.
#[derive(Default, Clone)]
pub struct LocalBus {
    channels: Arc<Mutex<Channels>>,
}

#[derive(Default)]
struct Channels {
    by_subject: HashMap<String, broadcast::Sender<Payload>>,
    /// Channels nobody listens to are dropped when the map reaches this size, which
    /// then doubles from what is left (so pruning costs O(1) per subscription).
    prune_at: usize,
}

impl LocalBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Subscribes under the lock: a channel pruned between creating it and subscribing
    /// would leave the subscriber on a channel nobody publishes to.
    fn receiver(&self, subject: &str, capacity: usize) -> broadcast::Receiver<Payload> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if channels.by_subject.len() >= channels.prune_at.max(1024) {
            channels.by_subject.retain(|_, tx| tx.receiver_count() > 0);
            channels.prune_at = channels.by_subject.len() * 2;
        }
        channels
            .by_subject
            .entry(subject.to_owned())
            .or_insert_with(|| broadcast::channel(capacity.max(1)).0)
            .subscribe()
    }

    fn has_subscribers(&self, subject: &str) -> bool {
        let channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels
            .by_subject
            .get(subject)
            .is_some_and(|tx| tx.receiver_count() > 0)
    }

    /// Delivers to this process's subscribers only (used by the NATS bus for its own
    /// messages as they come back, and by tests).
    pub fn deliver(&self, subject: &str, payload: Payload) {
        let tx = {
            let channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
            channels.by_subject.get(subject).cloned()
        };
        if let Some(tx) = tx {
            let _ = tx.send(payload);
        }
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish_event(&self, subject: &str, event: Payload) {
        self.deliver(subject, event);
    }

    async fn subscribe(
        &self,
        subject: &str,
        capacity: usize,
    ) -> anyhow::Result<BoxStream<'static, Payload>> {
        let rx = self.receiver(subject, capacity);
        Ok(tokio_stream_from(rx))
    }
}

fn tokio_stream_from(rx: broadcast::Receiver<Payload>) -> BoxStream<'static, Payload> {
    futures::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(p) => Some((p, rx)),
            // Rather than skip events silently, end the stream: the socket closes,
            // the client reconnects with its cursor and reads what it missed.
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "bus subscriber lagged; ending its stream");
                None
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    })
    .boxed()
}

/// Several nodes: NATS core pub/sub. Each node keeps one NATS subscription per subject
/// in use and fans it out locally, so a thousand sockets on one chat cost one NATS
/// subscription.
#[derive(Clone)]
pub struct NatsBus {
    client: async_nats::Client,
    prefix: String,
    local: LocalBus,
    subscribed: Arc<Mutex<NatsSubscriptions>>,
}

/// The NATS subscription of each subject in use on this node.
#[derive(Default)]
struct NatsSubscriptions {
    by_subject: HashMap<String, tokio::task::AbortHandle>,
    /// Subjects nobody on this node listens to any more are unsubscribed when the map
    /// reaches this size, which then doubles from what is left.
    prune_at: usize,
}

impl NatsBus {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = async_nats::connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("connecting to NATS at {url}: {e}"))?;
        Ok(Self {
            client,
            prefix: prefix.to_owned(),
            local: LocalBus::new(),
            subscribed: Arc::default(),
        })
    }

    fn nats_subject(&self, subject: &str) -> String {
        format!("{}.{}", self.prefix, subject)
    }

    /// Waits until the server has processed every subscription sent before: the caller
    /// reads the database next and relies on the bus for everything committed after
    /// that read. `flush` is not enough (it only hands the bytes to the kernel, and a
    /// publish from another node may reach the server first: that event was lost, and
    /// the socket showed it only when a later event revealed the gap). The server
    /// handles a connection's commands in order, so the answer to a request sent after
    /// the subscription (here "no responders", on a subject nobody listens to) proves
    /// the subscription is in place.
    async fn registered(&self) {
        let probe = format!("{}._sync.{}", self.prefix, crate::ids::new_id());
        let answer = tokio::time::timeout(
            SUBSCRIBE_CONFIRM_WAIT,
            self.client.request(probe, Vec::new().into()),
        )
        .await;
        match answer {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "confirming a NATS subscription failed"),
            Err(_) => tracing::warn!("NATS did not confirm a subscription in time"),
        }
    }
}

/// How long a new NATS subscription waits for the server's confirmation.
const SUBSCRIBE_CONFIRM_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

#[async_trait]
impl Bus for NatsBus {
    async fn publish_event(&self, subject: &str, event: Payload) {
        // Every node, this one included, receives it back from NATS (in the order NATS
        // delivers to all): only the bytes travel.
        if let Err(e) = self
            .client
            .publish(self.nats_subject(subject), event.shared_bytes().clone())
            .await
        {
            tracing::warn!(error = %e, "publishing to NATS failed; subscribers will resync");
        }
    }

    async fn subscribe(
        &self,
        subject: &str,
        capacity: usize,
    ) -> anyhow::Result<BoxStream<'static, Payload>> {
        let stream = self.local.subscribe(subject, capacity).await?;
        let needs_nats = {
            let mut subscribed = self.subscribed.lock().unwrap_or_else(|p| p.into_inner());
            if subscribed.by_subject.len() >= subscribed.prune_at.max(1024) {
                // Chats end and their sockets go: drop their NATS subscriptions too.
                // Removed from the map, so a subscriber arriving later subscribes anew.
                subscribed.by_subject.retain(|name, task| {
                    let keep = name == subject || self.local.has_subscribers(name);
                    if !keep {
                        task.abort();
                    }
                    keep
                });
                subscribed.prune_at = subscribed.by_subject.len() * 2;
            }
            subscribed
                .by_subject
                .get(subject)
                .is_none_or(|h| h.is_finished())
        };
        if needs_nats {
            let mut sub = self
                .client
                .subscribe(self.nats_subject(subject))
                .await
                .map_err(|e| anyhow::anyhow!("subscribing on NATS: {e}"))?;
            self.registered().await;
            let local = self.local.clone();
            let name = subject.to_owned();
            let task = tokio::spawn(async move {
                while let Some(msg) = sub.next().await {
                    local.deliver(&name, Event::new(msg.payload));
                }
            });
            self.subscribed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .by_subject
                .insert(subject.to_owned(), task.abort_handle());
        }
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_bus_delivers_to_every_subscriber_of_a_subject() {
        let bus = LocalBus::new();
        let mut a = bus.subscribe("chat.1", 16).await.unwrap();
        let mut b = bus.subscribe("chat.1", 16).await.unwrap();
        let mut other = bus.subscribe("chat.2", 16).await.unwrap();
        bus.publish("chat.1", b"hello".to_vec()).await;
        assert_eq!(a.next().await.unwrap().bytes(), b"hello");
        assert_eq!(b.next().await.unwrap().bytes(), b"hello");
        let nothing =
            tokio::time::timeout(std::time::Duration::from_millis(50), other.next()).await;
        assert!(nothing.is_err());
    }

    #[tokio::test]
    async fn q2_every_subscriber_of_a_node_shares_one_decoding_of_an_event() {
        let bus = LocalBus::new();
        let mut a = bus.subscribe("chat.1", 16).await.unwrap();
        let mut b = bus.subscribe("chat.1", 16).await.unwrap();
        bus.publish("chat.1", b"42".to_vec()).await;
        let decodings = std::sync::atomic::AtomicUsize::new(0);
        let decode = |bytes: &[u8]| {
            decodings.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::str::from_utf8(bytes).ok()?.parse::<u32>().ok()
        };
        let (ea, eb) = (a.next().await.unwrap(), b.next().await.unwrap());
        assert_eq!(ea.value(decode).as_deref(), Some(&42));
        assert_eq!(eb.value(decode).as_deref(), Some(&42));
        assert_eq!(decodings.load(std::sync::atomic::Ordering::Relaxed), 1);
        // Published with its value: never decoded, and written out only when asked.
        bus.publish_event("chat.1", Event::of(Arc::new(7u32))).await;
        let seven = a.next().await.unwrap();
        assert_eq!(seven.value(decode).as_deref(), Some(&7));
        assert_eq!(decodings.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(seven.bytes(), b"7");
        // Another type than the one decoded: none.
        assert!(b.next().await.unwrap().value(|_| Some("x")).is_none());
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_its_capacity_sees_its_stream_end() {
        let bus = LocalBus::new();
        let mut slow = bus.subscribe("chat.1", 2).await.unwrap();
        for i in 0..3u8 {
            bus.publish("chat.1", vec![i]).await;
        }
        assert!(slow.next().await.is_none(), "lagged: the stream ends");
        let mut fresh = bus.subscribe("chat.1", 2).await.unwrap();
        bus.publish("chat.1", vec![9]).await;
        assert_eq!(fresh.next().await.unwrap().bytes(), &[9]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn subscribers_keep_receiving_while_thousands_of_subjects_come_and_go() {
        let bus = LocalBus::new();
        // Four tasks subscribe at once (pruning races with subscribing); every other
        // subscriber leaves at once, so pruning runs several times.
        let tasks = (0..4).map(|t| {
            let bus = bus.clone();
            tokio::spawn(async move {
                let mut kept = Vec::new();
                for i in 0..1000 {
                    let subject = format!("chat.{t}.{i}");
                    let sub = bus.subscribe(&subject, 4).await.unwrap();
                    if i % 2 == 0 {
                        kept.push((subject, sub));
                    }
                }
                kept
            })
        });
        for task in tasks.collect::<Vec<_>>() {
            for (subject, mut sub) in task.await.unwrap() {
                bus.publish(&subject, vec![1]).await;
                assert_eq!(sub.next().await.unwrap().bytes(), &[1], "{subject}");
            }
        }
        let left = bus.channels.lock().unwrap().by_subject.len();
        assert!(
            left < 4000,
            "channels without subscribers were pruned ({left} left)"
        );
    }

    /// Runs when `MADOGUCHI_TEST_NATS_URL` is set (and fails if NATS is unreachable).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nats_subscriptions_of_abandoned_subjects_are_dropped() {
        let Ok(url) = std::env::var("MADOGUCHI_TEST_NATS_URL") else {
            return;
        };
        let prefix = format!("test{}", std::process::id());
        let bus = NatsBus::connect(&url, &prefix)
            .await
            .expect("NATS reachable");
        let mut kept = bus.subscribe("chat.kept", 16).await.unwrap();
        for i in 0..1100 {
            // Subscribed and gone at once, as a visitor who leaves.
            drop(bus.subscribe(&format!("chat.{i}"), 16).await.unwrap());
        }
        let left = bus.subscribed.lock().unwrap().by_subject.len();
        assert!(left < 200, "abandoned subjects unsubscribed ({left} left)");
        // The subject still in use kept its NATS subscription.
        let other = NatsBus::connect(&url, &prefix).await.unwrap();
        other.publish("chat.kept", b"still here".to_vec()).await;
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), kept.next())
            .await
            .expect("delivered through NATS");
        assert_eq!(got.unwrap().bytes(), b"still here");
        // A pruned subject subscribed again works again.
        let mut again = bus.subscribe("chat.5", 16).await.unwrap();
        other.publish("chat.5", b"back".to_vec()).await;
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), again.next())
            .await
            .expect("delivered through NATS");
        assert_eq!(got.unwrap().bytes(), b"back");
    }
}

#[cfg(test)]
mod nats_tests {
    use super::*;

    /// Q6 (issue 16, item 12): a publish from another node right after `subscribe`
    /// returned is delivered (the subscription is registered on the server by then),
    /// and each event arrives on its own, promptly, with nothing published after it.
    /// Runs when `MADOGUCHI_TEST_NATS_URL` is set.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn q6_nats_delivers_at_once_from_the_moment_subscribe_returns() {
        let Ok(url) = std::env::var("MADOGUCHI_TEST_NATS_URL") else {
            return;
        };
        let prefix = format!("q6test{}", std::process::id());
        let a = NatsBus::connect(&url, &prefix)
            .await
            .expect("NATS reachable");
        let b = NatsBus::connect(&url, &prefix)
            .await
            .expect("NATS reachable");
        let wait = std::time::Duration::from_secs(2);
        let mut latencies = Vec::new();
        for i in 0..300 {
            let subject = format!("chat.sub{i}");
            let mut sub = a.subscribe(&subject, 16).await.unwrap();
            let sent = std::time::Instant::now();
            b.publish(&subject, vec![1]).await;
            let got = tokio::time::timeout(wait, sub.next()).await;
            assert!(
                matches!(got, Ok(Some(_))),
                "event {i}, published right after subscribe returned, not delivered within {wait:?}"
            );
            latencies.push(sent.elapsed());
        }
        latencies.sort();
        eprintln!(
            "q6 NATS bus node→node: p50 {:?}, p99 {:?}, max {:?}",
            latencies[latencies.len() / 2],
            latencies[latencies.len() * 99 / 100],
            latencies[latencies.len() - 1]
        );
    }
}
