//! Building and running the server. `Application::build` is the one start-up path,
//! used by `madoguchi serve`, `madoguchi demo` and the tests alike.

use crate::metrics::Metrics;
use crate::state::AppState;
use anyhow::Context;
use axum::serve::ListenerExt;
use axum::Router;
use madoguchi_core::bus::{Bus, LocalBus, NatsBus};
use madoguchi_core::identity::Identity;
use madoguchi_core::{Clock, Db};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Everything `serve` can be told; see `madoguchi serve --help` for each field.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub public_url: String,
    pub database_url: Option<String>,
    pub nats_url: Option<String>,
    pub desk_url: Option<String>,
    /// New widget chats per minute per client address; `None` is off.
    pub widget_rate_limit: Option<u32>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (the client address of the
    /// widget limit); empty: the TCP peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Open WebSockets per chat, visitor, client address, operator and node (Q6).
    pub socket_limits: crate::sockets::SocketLimits,
    /// Days a visitor token keeps working after its chat ended (a returning visitor
    /// still reads the transcript); after that it is refused (401).
    pub visitor_token_days: u32,
    /// When an embedded (SQLite) commit is on disk (`--sync`).
    pub sqlite_sync: madoguchi_core::SqliteSync,
}

impl Settings {
    /// The defaults of API.md "Running".
    pub fn defaults() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./madoguchi-data"),
            public_url: "http://127.0.0.1:8080".into(),
            database_url: None,
            nats_url: None,
            desk_url: None,
            widget_rate_limit: Some(120),
            trusted_proxies: Vec::new(),
            socket_limits: crate::sockets::SocketLimits::default(),
            visitor_token_days: 30,
            sqlite_sync: madoguchi_core::SqliteSync::Normal,
        }
    }
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    shutdown_tx: watch::Sender<bool>,
}

/// Handed to long-lived tasks (WebSockets, timers, the outbox) so they stop on shutdown.
#[derive(Clone)]
pub struct Shutdown(pub watch::Receiver<bool>);

impl Shutdown {
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = match &settings.database_url {
            Some(url) => Db::connect(url).await?,
            None => Db::open_sqlite_with(&settings.data_dir, settings.sqlite_sync).await?,
        };
        Self::build_with_db(settings, db, Clock::system()).await
    }

    pub async fn build_with_db(settings: Settings, db: Db, clock: Clock) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        Self::build_with_listener(settings, db, clock, listener).await
    }

    /// As [`Self::build_with_db`], serving on a listener bound beforehand (tests whose
    /// public URL is the address the listener got).
    pub async fn build_with_listener(
        settings: Settings,
        db: Db,
        clock: Clock,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let bus: Arc<dyn Bus> = match &settings.nats_url {
            Some(url) => Arc::new(NatsBus::connect(url, &bus_prefix(&settings)).await?),
            None => Arc::new(LocalBus::new()),
        };
        let (shutdown_tx, _) = watch::channel(false);
        let metrics = Metrics::new()?;
        let public_url = settings.public_url.trim_end_matches('/').to_owned();
        let desk = madoguchi_desk::Desk::new(db.clone(), clock.clone(), public_url.clone());
        // Contacts stored before the contact search column: keyed before serving.
        let filled = desk.fill_contact_search_keys().await?;
        if filled > 0 {
            tracing::info!(contacts = filled, "contact search keys filled");
        }
        let chat = madoguchi_chat::Chat::new(db.clone(), clock.clone(), bus.clone())
            .with_visitor_token_ttl_ms(i64::from(settings.visitor_token_days) * 86_400_000)
            .with_public_url(&public_url);
        // V1: open consoles are announced to, and heard from, every node.
        chat.start_presence().await?;
        // The integration reaches Desk in-process, or over HTTP with `--desk-url` (Q1),
        // and plugs its hooks into Chat (I7, I13, I18).
        let integration = madoguchi_integration::Integration::new(
            db.clone(),
            clock.clone(),
            madoguchi_integration::desk_client_for(settings.desk_url.as_deref(), &desk)?,
            chat.clone(),
        );
        integration.install();
        let sockets = crate::sockets::Sockets::new(
            &settings.socket_limits,
            settings.widget_rate_limit.is_some(),
        );
        tracing::debug!(
            max_sockets = sockets.total(),
            "WebSocket limit of this node"
        );
        let mail = madoguchi_mail::Mail::new(desk.clone());
        let state = AppState {
            mail,
            // Revocations travel on the bus, so sockets on every node close (Q6).
            identity: Identity::new(db.clone(), clock.clone()).with_bus(bus.clone()),
            sockets,
            desk,
            chat,
            integration,
            db,
            clock,
            bus,
            settings: Arc::new(settings),
            metrics,
        };
        let router = crate::router::router(state.clone());
        Ok(Self {
            listener,
            router,
            state,
            shutdown_tx,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.state.settings.listen)
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn shutdown_handle(&self) -> Shutdown {
        Shutdown(self.shutdown_tx.subscribe())
    }

    /// Serves until `signal` resolves, then lets in-flight requests finish (at most
    /// 10 s) and closes the database.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            state,
            shutdown_tx,
        } = self;
        let mut background =
            crate::chat::spawn_background(&state, Shutdown(shutdown_tx.subscribe()));
        // The integration's outbox worker (I7, Q2).
        background.push(state.integration.spawn_worker(shutdown_tx.subscribe()));
        // The email channel: mailbox fetchers under a lease, and the mail outbox (E1–E8).
        background.extend(state.mail.spawn(shutdown_tx.subscribe()));
        let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
        let notify = shutdown_tx.clone();
        let graceful = async move {
            signal.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = notify.send(true);
            let _ = stopped_tx.send(());
        };
        // No Nagle: chat frames are small and the sockets write out what is ready at
        // once themselves; with Nagle an ack waited for the TCP ack of the frame before
        // it (up to the client's delayed-ack time, 40 ms).
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set");
            }
        });
        let server = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(graceful);
        let server = tokio::spawn(async move { server.await });
        let _ = stopped_rx.await;
        match tokio::time::timeout(Duration::from_secs(10), server).await {
            Ok(joined) => joined.context("server task")??,
            Err(_) => tracing::warn!("in-flight requests did not finish within 10 s"),
        }
        for task in background {
            task.abort();
        }
        state.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

fn bus_prefix(settings: &Settings) -> String {
    // Nodes that share a database share events; a hash of the database URL keeps
    // separate installations (and parallel test runs) on one NATS server apart.
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    settings.database_url.hash(&mut h);
    settings.data_dir.hash(&mut h);
    format!("madoguchi.{:016x}", h.finish())
}
