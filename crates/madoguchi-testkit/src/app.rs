//! The test harness: a real server on a random port with a fresh database, spoken to
//! over HTTP and WebSocket like any client (zero2prod's `spawn_app`).
//!
//! SQLite always runs. PostgreSQL runs when `MADOGUCHI_TEST_DATABASE_URL` is set (each
//! test gets its own database, dropped afterwards), and a test fails, not skips, when
//! it is set but unreachable.

use madoguchi_core::{Clock, Db};
use madoguchi_web::{AppState, Application, Settings};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;

/// The password every test user signs up with.
pub const PASSWORD: &str = "correct horse battery";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub backend: Backend,
    pub clock: Clock,
    pub db: Db,
    pub settings: Settings,
    /// The server's services, for driving its background work from a test.
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    data_dir: PathBuf,
    /// Held for its `Drop`, which drops the test's PostgreSQL database.
    #[allow(dead_code)]
    pg_database: Option<PgDatabase>,
}

/// A user signed up through the API.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub name: String,
    pub token: String,
}

/// A response: status and JSON body (Null when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Res {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
}

impl Res {
    /// Reads a response: its status, its text and the text as JSON.
    pub async fn read(res: reqwest::Response) -> Self {
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self { status, body, text }
    }

    /// The `error.code` of an error response.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> &Self {
        self.assert_status(status);
        assert_eq!(
            self.code(),
            code,
            "unexpected error code; body: {}",
            self.text
        );
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "error without message: {}",
            self.text
        );
        self
    }
}

impl Res {
    /// Asserts that the string at the JSON `pointer` of the body (`/error/message`)
    /// contains `needle`.
    #[track_caller]
    pub fn assert_text_at(&self, pointer: &str, needle: &str) -> &Self {
        let text = self.body.pointer(pointer).and_then(Value::as_str);
        assert!(
            text.is_some_and(|t| t.contains(needle)),
            "no {needle:?} at {pointer}: {}",
            self.text
        );
        self
    }

    /// Asserts the status and answers the string `field` of the body: the id, token or
    /// key of what was just created, which the test goes on with.
    #[track_caller]
    pub fn expect_str(&self, status: u16, field: &str) -> String {
        self.assert_status(status);
        self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("no string {field} in {}", self.text))
            .to_owned()
    }
}

impl std::ops::Index<&str> for Res {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        &self.body[key]
    }
}

/// Says on stderr (which the test harness does not capture) that a test did not run,
/// so a green run without PostgreSQL is not mistaken for one that covered both backends.
pub fn say_skipped(why: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// A test setting from the environment (`MADOGUCHI_TEST_DATABASE_URL`…): `None` when it
/// is unset or empty, which both mean "skip what needs it".
pub fn env_setting(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|s| !s.is_empty())
}

/// The database `settings` name: PostgreSQL at `database_url`, else SQLite in the data
/// directory.
async fn open_db(settings: &Settings) -> Db {
    match &settings.database_url {
        Some(url) => Db::connect(url)
            .await
            .expect("connecting the test database"),
        None => Db::open_sqlite(&settings.data_dir)
            .await
            .expect("opening the test database"),
    }
}

/// `POST {portals}` (Desk's or Chat's list of portals) creating `name`, shown as
/// `display`, by the holder of `token`; it must succeed. Both contexts take one body.
pub(crate) async fn create_portal(
    app: &TestApp,
    portals: &str,
    token: &str,
    name: &str,
    display: &str,
) {
    try_portal(app, portals, token, name, display)
        .await
        .assert_status(201);
}

/// [`create_portal`] that may be refused: answers the response.
pub(crate) async fn try_portal(
    app: &TestApp,
    portals: &str,
    token: &str,
    name: &str,
    display: &str,
) -> Res {
    app.post(
        portals,
        Some(token),
        json!({"portalName": name, "displayName": display}),
    )
    .await
}

pub fn test_settings(data_dir: PathBuf, database_url: Option<String>) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("loopback address"),
        data_dir,
        public_url: "http://madoguchi.test".into(),
        database_url,
        nats_url: None,
        desk_url: None,
        widget_rate_limit: None,
        trusted_proxies: Vec::new(),
        socket_limits: madoguchi_web::sockets::SocketLimits::default(),
        visitor_token_days: 30,
        sqlite_sync: madoguchi_core::SqliteSync::Normal,
    }
}

impl TestApp {
    /// Starts a server on `backend`; `None` only for PostgreSQL when no test database
    /// is configured.
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(
        backend: Backend,
        configure: impl FnOnce(&mut Settings),
    ) -> Option<Self> {
        Self::spawn_inner(backend, configure, false).await
    }

    /// A server whose public URL is the address it listens on, as a browser reaches it:
    /// the console's cookie socket checks its page's `Origin` against the public URL (Q6).
    pub async fn spawn_same_origin(backend: Backend) -> Option<Self> {
        Self::spawn_inner(backend, |_| {}, true).await
    }

    async fn spawn_inner(
        backend: Backend,
        configure: impl FnOnce(&mut Settings),
        same_origin: bool,
    ) -> Option<Self> {
        let data_dir =
            std::env::temp_dir().join(format!("madoguchi-test-{}", uuid::Uuid::now_v7().simple()));
        let (database_url, pg_database) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres => {
                let Some(admin_url) = env_setting("MADOGUCHI_TEST_DATABASE_URL") else {
                    say_skipped("MADOGUCHI_TEST_DATABASE_URL is not set");
                    return None;
                };
                let pg = PgDatabase::create(&admin_url).await;
                (Some(pg.url.clone()), Some(pg))
            }
        };
        let mut settings = test_settings(data_dir.clone(), database_url.clone());
        configure(&mut settings);
        // A directory the test chose is the test's to remove.
        let data_dir = if settings.data_dir == data_dir {
            data_dir
        } else {
            PathBuf::new()
        };
        let db = open_db(&settings).await;
        let clock = Clock::system();
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .expect("binding the test server");
        if same_origin {
            let addr = listener.local_addr().expect("the listener's address");
            settings.listen = addr;
            settings.public_url = format!("http://{addr}");
        }
        let app =
            Application::build_with_listener(settings.clone(), db.clone(), clock.clone(), listener)
                .await
                .expect("building the application");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Some(Self::started(
            app,
            http,
            backend,
            clock,
            db,
            settings,
            data_dir,
            pg_database,
        ))
    }

    /// A second server node on `other`'s database (and NATS server, when set), as two
    /// `serve` processes behind a load balancer. It owns neither the database nor the
    /// data directory.
    pub async fn spawn_node_sharing(other: &TestApp) -> Self {
        let settings = other.settings.clone();
        let db = open_db(&settings).await;
        let clock = Clock::system();
        let app = Application::build_with_db(settings.clone(), db.clone(), clock.clone())
            .await
            .expect("building the second node");
        let http = other.http.clone();
        Self::started(
            app,
            http,
            other.backend,
            clock,
            db,
            settings,
            PathBuf::new(),
            None,
        )
    }

    /// Starts the built `app` on its own task, stopped by [`TestApp::stop`] or on drop.
    #[allow(clippy::too_many_arguments)]
    fn started(
        app: Application,
        http: reqwest::Client,
        backend: Backend,
        clock: Clock,
        db: Db,
        settings: Settings,
        data_dir: PathBuf,
        pg_database: Option<PgDatabase>,
    ) -> Self {
        let base = format!("http://{}", app.local_addr());
        let state = app.state().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            http,
            backend,
            clock,
            db,
            settings,
            state,
            stop: Some(stop),
            server: Some(server),
            data_dir,
            pg_database,
        }
    }

    /// Applies Chat's time rules now, as the timer task does on its next tick: after
    /// `clock.advance_ms`, a test sees their effect (or its absence) at once.
    pub async fn tick_lifecycle(&self) {
        self.state
            .chat
            .mark_overdue_missed()
            .await
            .expect("marking missed chats");
        self.state
            .chat
            .end_idle_chats()
            .await
            .expect("ending idle chats");
    }

    /// Runs the integration worker until it has nothing left to do now: every lifecycle
    /// event read, no job due (none running on the background worker either). After it,
    /// whatever the worker would do about the past has been done.
    pub async fn run_worker_pass(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            self.state
                .integration
                .run_pass()
                .await
                .expect("an integration pass");
            if self.integration_idle().await {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the integration worker never became idle"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    async fn integration_idle(&self) -> bool {
        let row = sqlx::query(
            "select (select coalesce(max(id), 0) from chat_events) as last_event, \
             (select coalesce(max(position), 0) from integ_cursors where name = 'chat_events') as read_to, \
             (select count(*) from integ_outbox where state = 'pending' and next_attempt_at <= $1) as due",
        )
        .bind(self.clock.now_ms())
        .fetch_one(self.db.pool())
        .await
        .expect("reading the worker's state");
        use sqlx::Row;
        let last: i64 = row.get("last_event");
        let read_to: i64 = row.get("read_to");
        let due: i64 = row.get("due");
        read_to >= last && due == 0
    }

    /// Stops the server the way SIGTERM does and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("clean shutdown");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws{}{}", self.base.trim_start_matches("http"), path)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Res {
        Res::read(req.send().await.expect("request sent")).await
    }

    /// A request to `path` with `token` as its Bearer token when given.
    fn req(&self, method: Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let req = self.http.request(method, self.url(path));
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// [`TestApp::req`] with `body` as JSON, sent.
    async fn send_json(&self, method: Method, path: &str, token: Option<&str>, body: Value) -> Res {
        self.send(self.req(method, path, token).json(&body)).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Res {
        self.send(self.req(Method::GET, path, token)).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Res {
        self.send_json(Method::POST, path, token, body).await
    }

    /// A POST without a body (actions such as accept, end, enable).
    pub async fn post_empty(&self, path: &str, token: Option<&str>) -> Res {
        self.send(self.req(Method::POST, path, token)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Res {
        self.send_json(Method::PUT, path, token, body).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Res {
        self.send_json(Method::PATCH, path, token, body).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Res {
        self.send(self.req(Method::DELETE, path, token)).await
    }

    /// A request to `path` carrying the page session `cookie` (and no CSRF header).
    pub async fn with_cookie(&self, method: Method, path: &str, cookie: &str) -> Res {
        let req = self.http.request(method, self.url(path));
        self.send(req.header("cookie", cookie)).await
    }

    /// The server's OpenAPI document (`/api/openapi.json`), which must be served.
    pub async fn openapi_document(&self) -> Value {
        let res = self.get("/api/openapi.json", None).await;
        res.assert_status(200);
        res.body
    }

    /// The OpenAPI document a fresh SQLite server serves (for the tests that read only
    /// the contract).
    pub async fn served_openapi() -> Value {
        let app = Self::spawn(Backend::Sqlite)
            .await
            .expect("SQLite always runs");
        app.openapi_document().await
    }

    /// Any request, for headers the helpers above do not set.
    pub async fn request(&self, req: reqwest::RequestBuilder) -> Res {
        self.send(req).await
    }

    /// Signs up `email` with a default name (the part before `@`) and [`PASSWORD`].
    pub async fn signup(&self, email: &str) -> TestUser {
        self.signup_named(email, email.split('@').next().unwrap_or(email))
            .await
    }

    /// Signs up `email` with the display name `name` and [`PASSWORD`].
    pub async fn signup_named(&self, email: &str, name: &str) -> TestUser {
        let res = self
            .post(
                "/api/v1/auth/signup",
                None,
                json!({"email": email, "password": PASSWORD, "name": name}),
            )
            .await;
        res.assert_status(201);
        TestUser {
            id: res["user"]["id"].as_str().expect("user id").to_owned(),
            email: email.to_owned(),
            name: name.to_owned(),
            token: res["token"].as_str().expect("token").to_owned(),
        }
    }

    /// `POST /api/v1/auth/login` with `email` and `password`; answers the response (the
    /// token on success, the refusal otherwise).
    pub async fn log_in(&self, email: &str, password: &str) -> Res {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Logs `email` in through the login form, as a browser does; answers the response
    /// (a redirect to `next`) and the session cookie (`name=value`).
    pub async fn log_in_page(&self, email: &str, next: &str) -> (reqwest::Response, String) {
        let res = self
            .http
            .post(self.url("/login"))
            .form(&[("email", email), ("password", PASSWORD), ("next", next)])
            .send()
            .await
            .expect("the login form posted");
        let cookie = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("madoguchi_session="))
            .and_then(|v| v.split(';').next())
            .expect("a session cookie")
            .to_owned();
        (res, cookie)
    }

    /// Posts the logout form of the page session `cookie` with the CSRF token `csrf`;
    /// answers the response (a redirect, or a refusal for a wrong token).
    pub async fn log_out_page(&self, cookie: &str, csrf: &str) -> reqwest::Response {
        self.http
            .post(self.url("/logout"))
            .header("cookie", cookie)
            .form(&[("_csrf", csrf)])
            .send()
            .await
            .expect("the logout form posted")
    }

    /// The session cookie (`name=value`) of `email`, logged in through the login form.
    pub async fn session_cookie(&self, email: &str) -> String {
        self.log_in_page(email, "/").await.1
    }

    /// The HTML of the page at `path` as the page session `cookie` sees it.
    pub async fn page_html(&self, path: &str, cookie: &str) -> String {
        self.http
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap_or_else(|e| panic!("the page {path}: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("the body of {path}: {e}"))
    }

    /// The CSRF token of a page session, read from the `csrf-token` meta tag of `/`.
    pub async fn csrf_of(&self, cookie: &str) -> String {
        let home = self.page_html("/", cookie).await;
        crate::html::Doc::parse(&home)
            .attr("meta[name=csrf-token]", "content")
            .expect("a csrf-token meta tag")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if !self.data_dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// A PostgreSQL database made for one test and dropped after it.
pub struct PgDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgDatabase {
    pub async fn create(admin_url: &str) -> Self {
        use sqlx::Connection;
        let name = format!("madoguchi_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("MADOGUCHI_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}")
            });
        sqlx::query(&format!("create database \"{name}\""))
            .execute(&mut conn)
            .await
            .expect("creating the test database");
        let _ = conn.close().await;
        let mut url = reqwest::Url::parse(admin_url).expect("MADOGUCHI_TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        Self {
            url: url.to_string(),
            admin_url: admin_url.to_owned(),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside async; a short-lived runtime on its own thread does the work.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ =
                        sqlx::query(&format!("drop database if exists \"{name}\" with (force)"))
                            .execute(&mut conn)
                            .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}
