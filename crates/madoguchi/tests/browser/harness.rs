//! The browser harness: a chromedriver child on a free port and headless Chromium
//! sessions with their own throw-away profiles, plus small waiting helpers.
//!
//! Without `/usr/bin/chromedriver` the tests are skipped loudly, unless
//! `MADOGUCHI_REQUIRE_BROWSER=1` (CI), where a missing browser is a failure.

// Not every test uses every helper.
#![allow(dead_code)]

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Debian's paths, unless `MADOGUCHI_CHROMEDRIVER` / `MADOGUCHI_CHROMIUM` say otherwise
/// (another OS, or a check of the skip path).
fn path_of(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// How long a page may take to show what a test waits for. Generous: CI machines have
/// two cores shared with the compiler.
pub const WAIT: Duration = Duration::from_secs(20);

/// A running chromedriver; killed (our own child, by its handle) when dropped.
pub struct Browser {
    driver: Child,
    url: String,
    profiles: Vec<PathBuf>,
}

impl Browser {
    /// Starts chromedriver and then a same-origin SQLite server, as most browser tests
    /// begin (the console's cookie socket passes the Origin check); `None` as [`start`].
    ///
    /// [`start`]: Browser::start
    pub async fn with_app() -> Option<(Self, crate::helpers::TestApp)> {
        let browser = Self::start().await?;
        let app = crate::helpers::TestApp::spawn_same_origin(crate::helpers::Backend::Sqlite)
            .await
            .unwrap();
        Some((browser, app))
    }

    /// Starts chromedriver, or returns `None` (after saying so loudly) when it is not
    /// installed and the browser is not required.
    pub async fn start() -> Option<Self> {
        let chromedriver = path_of("MADOGUCHI_CHROMEDRIVER", CHROMEDRIVER);
        if !chromedriver.exists() {
            let required = std::env::var("MADOGUCHI_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "MADOGUCHI_REQUIRE_BROWSER=1 but {} is missing: \
                 apt-get install -y chromium chromium-driver fonts-ipafont-gothic",
                chromedriver.display()
            );
            // Straight to stderr: the test harness captures `eprintln!` of passing tests,
            // and this must be seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n**********************************************************************\n\
                 ** browser test skipped: install chromium chromium-driver fonts-ipafont-gothic\n\
                 ** ({} not found; MADOGUCHI_REQUIRE_BROWSER=1 makes this a failure)\n\
                 **********************************************************************",
                chromedriver.display()
            );
            return None;
        }
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let browser = Self {
            driver,
            url,
            profiles: Vec::new(),
        };
        // chromedriver answers /status once it listens.
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(res) = http.get(format!("{}/status", browser.url)).send().await {
                if res.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(browser)
    }

    /// A new headless Chromium window with a fresh profile (its own cookies and storage).
    pub async fn session(&mut self) -> Client {
        let profile = std::env::temp_dir().join(format!(
            "madoguchi-chromium-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&profile).expect("profile directory");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": path_of("MADOGUCHI_CHROMIUM", CHROMIUM),
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.display()),
                    "--window-size=1280,800",
                ]
            }),
        );
        self.profiles.push(profile);
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("new browser session")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver's /shutdown closes its browsers too (a failed test leaves its
        // sessions open); only then is the driver itself stopped.
        if let Some(addr) = self.url.strip_prefix("http://") {
            if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
                use std::io::{Read, Write};
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = write!(
                    stream,
                    "GET /shutdown HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.driver.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        for p in &self.profiles {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits for an element matching `css`.
pub async fn find(c: &Client, css: &str) -> Element {
    match c.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
        Ok(el) => el,
        Err(e) => {
            let url = c.current_url().await.map(|u| u.to_string());
            let text = c
                .execute(
                    "return document.body ? document.body.innerText : ''",
                    vec![],
                )
                .await
                .ok();
            panic!("no element {css:?} ({e}) at {url:?}; the page shows {text:?}")
        }
    }
}

/// Waits until the element matching `css` has text containing `needle`.
pub async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    let mut last = String::new();
    loop {
        if let Ok(el) = c.find(Locator::Css(css)).await {
            if let Ok(text) = el.text().await {
                if text.contains(needle) {
                    return text;
                }
                last = text;
            }
        }
        if Instant::now() > deadline {
            let url = c.current_url().await.map(|u| u.to_string());
            panic!("{css:?} never contained {needle:?}; last text {last:?} at {url:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until a script (a function body returning a value) returns something truthy.
pub async fn wait_js(c: &Client, what: &str, script: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(v) = c.execute(script, vec![]).await {
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Saves a PNG screenshot to `docs/screenshots/<name>.png` (for the README).
pub async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("writing the screenshot");
}

/// How often `fill`/`click` start over on an element that went away under them (a page
/// that reloads or re-renders between the find and the action).
const STALE_RETRIES: usize = 20;

/// Whether an element action failed because the element is gone or not usable yet, so
/// finding it again may succeed.
fn transient(e: &fantoccini::error::CmdError) -> bool {
    e.is_stale_element_reference() || e.is_no_such_element() || e.is_element_not_interactable()
}

/// Fills the form field `css` (clearing it first). The field is found again when the
/// page replaced it between the find and the typing, and the value is read back, so a
/// reload that lands mid-typing cannot leave a half-filled field behind.
pub async fn fill(c: &Client, css: &str, value: &str) {
    let mut last = String::new();
    for _ in 0..STALE_RETRIES {
        let el = find(c, css).await;
        let done = async {
            el.clear().await?;
            el.send_keys(value).await?;
            el.prop("value").await
        }
        .await;
        match done {
            Ok(Some(v)) if v == value => return,
            Ok(v) => last = format!("the field holds {v:?}"),
            Err(e) if transient(&e) => last = e.to_string(),
            Err(e) => panic!("filling {css:?}: {e}"),
        }
        settle(c).await;
    }
    panic!("could not fill {css:?} with {value:?}: {last}");
}

/// Clicks the element matching `css`, finding it again if the page replaced it first.
pub async fn click(c: &Client, css: &str) {
    let mut last = String::new();
    for _ in 0..STALE_RETRIES {
        match find(c, css).await.click().await {
            Ok(()) => return,
            Err(e) if transient(&e) => last = e.to_string(),
            Err(e) => panic!("clicking {css:?}: {e}"),
        }
        settle(c).await;
    }
    panic!("could not click {css:?}: {last}");
}

/// Waits for the document to finish loading (a state, not a time): what follows a
/// reload that replaced an element.
async fn settle(c: &Client) {
    wait_js(
        c,
        "the page to finish loading",
        "return document.readyState === 'complete'",
    )
    .await;
}

/// Clicks `css`, which makes the page load anew (a form that reloads on success), and
/// waits until the new document has loaded: elements found afterwards belong to it.
pub async fn click_and_wait_for_reload(c: &Client, css: &str) {
    c.execute("window.__madoguchiOldPage = true", vec![])
        .await
        .expect("marking the page");
    click(c, css).await;
    wait_js(
        c,
        "the new page after the click",
        "return !window.__madoguchiOldPage && document.readyState === 'complete'",
    )
    .await;
}
