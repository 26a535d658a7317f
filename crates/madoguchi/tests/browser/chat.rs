//! The chat as people use it: a visitor on a website of another origin talks through the
//! embedded widget (C3) with an operator in the console (C4, C6).

use crate::harness::{click, fill, find, free_port, screenshot, wait_js, wait_text, Browser, WAIT};
use crate::helpers::{Backend, TestApp, TestUser};
use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use madoguchi_testkit::chat::{accept, operator_says_as, start_chat};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A customer's website: one static page on its own origin (`localhost:<port>`, while
/// the app answers on `127.0.0.1:<other port>`), embedding the widget with one tag.
pub struct HostSite {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl HostSite {
    pub async fn start(html: String) -> Self {
        Self::start_with_headers(html, String::new()).await
    }

    /// [`HostSite::start`] answering `headers` too (lines ending in `\r\n`), such as the
    /// host's own Content-Security-Policy.
    pub async fn start_with_headers(html: String, headers: String) -> Self {
        let port = free_port();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (html, headers) = (html.clone(), headers.clone());
                tokio::spawn(async move {
                    // Read the request head; every path answers the page (favicon too).
                    let mut buf = vec![0u8; 8192];
                    let _ = stream.read(&mut buf).await;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                         {headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                        html.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(html.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self {
            url: format!("http://localhost:{port}/"),
            task,
        }
    }

    /// The page of a Japanese company with the widget tag pasted before `</body>`.
    pub async fn with_widget(app: &TestApp, portal: &str, lang: &str) -> Self {
        Self::start(format!(
            "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
             <title>Acme</title>\
             <style>body{{font-family:serif;background:#fffdf5}} button{{background:red!important}}\
             .bubble{{display:none!important}}</style></head>\
             <body><h1>株式会社アクメ</h1><p>製品のご案内</p>\
             <script src=\"{}/chat/widget.js\" data-portal=\"{portal}\" async></script>\
             </body></html>",
            app.base
        ))
        .await
    }
}

impl Drop for HostSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Logs `user` in through the login page (the console uses the session cookie), with
/// pages in Japanese, as for the support team of the seed page.
pub async fn login(c: &Client, app: &TestApp, user: &TestUser, next: &str) {
    c.goto(&app.url(&format!("/lang?set=ja&next=/login%3Fnext%3D{next}")))
        .await
        .unwrap();
    fill(c, "input[name=email]", &user.email).await;
    fill(c, "input[name=password]", "correct horse battery").await;
    click(c, "form.stack button[type=submit]").await;
}

/// The widget's shadow root, found again on every call (the page may have reloaded).
pub async fn widget_el(c: &Client, css: &str) -> Element {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(host) = c.find(Locator::Css("[data-madoguchi-widget]")).await {
            if let Ok(root) = host.shadow_root().await {
                if let Ok(el) = root.find(Locator::Css(css)).await {
                    return el;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "widget element {css:?} never appeared"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Types `text` into the widget's element `css`.
pub async fn widget_type(c: &Client, css: &str, text: &str) {
    widget_el(c, css).await.send_keys(text).await.unwrap();
}

/// Clicks the widget's element `css`.
pub async fn widget_press(c: &Client, css: &str) {
    widget_el(c, css).await.click().await.unwrap();
}

/// Waits until the widget shows the visitor's first message stored (its one tick).
pub async fn wait_first_stored(c: &Client) {
    wait_js(
        c,
        "the question stored (one tick)",
        &in_widget("r.querySelector('.msg.visitor[data-seq=\"1\"] .tick.stored') !== null"),
    )
    .await;
}

/// Runs `expr` (a JS expression) against the widget's shadow root `r`.
pub fn in_widget(expr: &str) -> String {
    format!(
        "var h = document.querySelector('[data-madoguchi-widget]'); \
         var r = h && h.shadowRoot; if (!r) return null; return {expr};"
    )
}

async fn widget_log(c: &Client) -> String {
    c.execute(&in_widget("r.querySelector('.log').innerText"), vec![])
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub async fn wait_widget_log(c: &Client, needle: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let log = widget_log(c).await;
        if log.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "widget log never showed {needle:?}; it shows {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub use madoguchi_testkit::chat::create_portal;

/// An operator console open over the API (V1: the widget offers a chat only while an
/// available operator has one open), read up to its `ready` frame. Keep it alive.
pub struct OpenConsole(
    #[allow(dead_code)]
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
);

pub async fn open_console(app: &TestApp, user: &TestUser, portal: &str) -> OpenConsole {
    use futures::StreamExt;
    let url = app.ws_url(&format!(
        "/chat/api/v1/portals/{portal}/ws?token={}",
        user.token
    ));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let ready = ws.next().await.unwrap().unwrap();
    assert!(ready.to_text().unwrap_or("").contains("ready"), "{ready:?}");
    OpenConsole(ws)
}

/// C3 + C4: a visitor on another origin asks through the widget (Japanese, from the
/// page's `<html lang>`), the operator sees it waiting, accepts and replies; typing shows
/// both ways; the visitor sees the reply with its time and ticks; a page reload resumes
/// the conversation without duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c3_c4_visitor_on_another_origin_chats_with_an_operator_in_the_console() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let operator = app.signup("yamada@acme.example").await;
    create_portal(&app, &operator, "acme", "株式会社アクメ サポート").await;
    let site = HostSite::with_widget(&app, "acme", "ja").await;

    // The operator opens the console first: nothing is waiting.
    let op = browser.session().await;
    login(&op, &app, &operator, "/chat/acme").await;
    find(&op, "#console[data-connection=live]").await;
    wait_text(&op, ".q-section.waiting .count", "(0)").await;

    // The visitor opens the website and the widget.
    let visitor = browser.session().await;
    visitor.goto(&site.url).await.unwrap();
    widget_press(&visitor, ".launcher").await;
    let title = widget_el(&visitor, ".head .title").await;
    let deadline = Instant::now() + WAIT;
    while title.text().await.unwrap() != "株式会社アクメ サポート" {
        assert!(
            Instant::now() < deadline,
            "the widget never showed the portal name"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    widget_type(&visitor, "input[name=name]", "鈴木 一郎").await;
    widget_type(&visitor, "input[name=email]", "suzuki@example.jp").await;
    widget_type(
        &visitor,
        "textarea[name=question]",
        "パスワードを忘れました",
    )
    .await;
    widget_press(&visitor, "button.start").await;
    wait_widget_log(&visitor, "パスワードを忘れました").await;
    wait_first_stored(&visitor).await;

    // The operator hears about it: queue, count, title bar.
    let item = ".q-section.waiting .q-item";
    wait_text(&op, item, "鈴木 一郎").await;
    wait_text(&op, ".q-section.waiting .count", "(1)").await;
    wait_js(
        &op,
        "the title counts the waiting chat",
        "return document.title.startsWith('(1) ')",
    )
    .await;
    click(&op, item).await;
    wait_text(
        &op,
        ".chat-pane .transcript:not([hidden])",
        "パスワードを忘れました",
    )
    .await;
    wait_text(&op, ".visitor-card .v-email", "suzuki@example.jp").await;
    click(&op, ".chat-actions .accept").await;
    wait_text(&op, ".q-section.attended .q-list", "鈴木 一郎").await;
    wait_text(&op, ".q-section.waiting .count", "(0)").await;

    // Typing shows in the widget, then the reply arrives (Enter sends).
    let composer = find(&op, ".composer textarea:not([disabled])").await;
    composer
        .send_keys("お問い合わせありがとうございます")
        .await
        .unwrap();
    wait_js(
        &visitor,
        "the operator typing indicator",
        &in_widget("r.querySelector('.typing').innerText.indexOf('入力中') >= 0"),
    )
    .await;
    composer.send_keys("\u{E007}").await.unwrap(); // Enter
    wait_widget_log(&visitor, "お問い合わせありがとうございます").await;
    wait_js(
        &op,
        "the reply acknowledged in the console",
        "return document.querySelector('.transcript:not([hidden]) .msg.operator .tick.stored') !== null",
    )
    .await;

    // The visitor types (the console shows it) and answers; Shift+Enter is a new line.
    let text = widget_el(&visitor, ".composer textarea").await;
    text.send_keys("ログインIDは").await.unwrap();
    wait_text(&op, ".typing-line", "訪問者が入力中").await;
    text.send_keys("\u{E008}\u{E007}\u{E000}suzuki です\u{E007}")
        .await
        .unwrap(); // Shift+Enter, release, text, Enter
    wait_text(&op, ".transcript:not([hidden])", "suzuki です").await;
    let visitor_lines: Vec<String> = op
        .execute(
            "return [...document.querySelectorAll('.transcript:not([hidden]) .msg.visitor .bubble')].map(b => b.textContent)",
            vec![],
        )
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        visitor_lines,
        vec!["パスワードを忘れました", "ログインIDは\nsuzuki です"]
    );

    // Host page CSS does not reach into the widget (Shadow DOM).
    let shown = visitor
        .execute(
            &in_widget("getComputedStyle(r.querySelector('.msg.operator .bubble')).display"),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(shown, json!("block"));

    // Two more visitors arrive while the operator talks: the queue (and title) show them.
    for (n, (name, question)) in [
        ("佐藤 花子", "請求書の再発行をお願いします"),
        ("高橋 健", "配送先を変更できますか"),
    ]
    .into_iter()
    .enumerate()
    {
        start_chat(
            &app,
            "acme",
            json!({"name": name, "question": question, "clientMessageId": format!("more-{n}")}),
        )
        .await;
    }
    wait_text(&op, ".q-section.waiting .count", "(2)").await;
    wait_js(
        &op,
        "the title counts both",
        "return document.title.startsWith('(2) ')",
    )
    .await;

    screenshot(&visitor, "widget").await;
    screenshot(&op, "console").await;

    // A reload resumes the chat: the same transcript, once, in order.
    visitor.refresh().await.unwrap();
    wait_widget_log(&visitor, "suzuki です").await;
    let seqs = visitor
        .execute(
            &in_widget("[...r.querySelectorAll('.log .msg')].map(m => m.getAttribute('data-seq'))"),
            vec![],
        )
        .await
        .unwrap();
    let seqs: Vec<String> = seqs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let mut sorted = seqs.clone();
    sorted.sort_by_key(|s| s.parse::<i64>().unwrap());
    sorted.dedup();
    assert_eq!(seqs, sorted, "messages in seq order without duplicates");
    assert!(
        seqs.len() >= 4,
        "question, system line(s), reply, answer: {seqs:?}"
    );

    // The operator ends the chat; it moves to the history.
    op.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    click(&op, ".chat-actions .end").await;
    wait_text(&op, ".q-section.history .q-list", "鈴木 一郎").await;
    wait_text(&op, ".q-section.attended .count", "(0)").await;

    visitor.close().await.unwrap();
    op.close().await.unwrap();
    app.stop().await;
}

/// C3 + C5: with no operator available the widget says so, still takes the question,
/// and the chat shows up as missed for the operator (English page).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c3_widget_takes_a_message_when_no_operator_is_available() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let operator = app.signup("yamada@acme.example").await;
    create_portal(&app, &operator, "acme", "Acme Support").await;
    // A console is open but its operator is away: nobody is online (V1), so the widget
    // takes the message with the offline form (V2).
    let _console = open_console(&app, &operator, "acme").await;
    madoguchi_testkit::chat::set_availability(&app, &operator, "acme", "away").await;
    let site = HostSite::with_widget(&app, "acme", "en").await;

    let visitor = browser.session().await;
    visitor.goto(&site.url).await.unwrap();
    widget_press(&visitor, ".launcher").await;
    let offline = widget_el(&visitor, "form.offline-form:not([hidden]) .offline-title").await;
    assert!(offline.text().await.unwrap().contains("We're offline"));
    widget_type(
        &visitor,
        "form.offline-form input[name=email]",
        "ichiro@example.jp",
    )
    .await;
    widget_type(
        &visitor,
        "form.offline-form textarea[name=message]",
        "Where is my invoice?",
    )
    .await;
    widget_press(&visitor, ".send-offline").await;
    let done = widget_el(&visitor, ".offline-done:not([hidden]) .done-text").await;
    assert!(done.text().await.unwrap().contains("ichiro@example.jp"));

    let op = browser.session().await;
    login(&op, &app, &operator, "/chat/acme").await;
    wait_text(&op, ".q-section.missed .q-list", "Where is my invoice?").await;

    visitor.close().await.unwrap();
    op.close().await.unwrap();
    app.stop().await;
}

/// A TCP proxy in front of the app whose connections the test can cut, like a network
/// drop: established connections close, and new ones are refused until it heals.
pub struct FlakyProxy {
    pub base: String,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Connections turned away while down.
    refused: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FlakyProxy {
    /// A proxy on a listener bound beforehand (so that the app's public URL can be the
    /// proxy's address) to `app`.
    pub fn on(listener: tokio::net::TcpListener, app: &TestApp) -> Self {
        use std::sync::atomic::Ordering;
        let upstream = app.base.trim_start_matches("http://").to_owned();
        let port = listener.local_addr().unwrap().port();
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (d, n, c) = (down.clone(), refused.clone(), conns.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if d.load(Ordering::SeqCst) {
                    drop(inbound);
                    n.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                let upstream = upstream.clone();
                let handle = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                c.lock().unwrap().push(handle);
            }
        });
        Self {
            base: format!("http://127.0.0.1:{port}"),
            down,
            refused,
            conns,
            task,
        }
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        for handle in self.conns.lock().unwrap().drain(..) {
            handle.abort();
        }
    }

    /// How many connections the proxy has turned away while down.
    pub fn refused(&self) -> usize {
        self.refused.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits until the proxy has turned away more than `seen` connections: a client
    /// tried again while the network was down.
    pub async fn wait_refused_after(&self, seen: usize) {
        let deadline = Instant::now() + WAIT;
        while self.refused() <= seen {
            assert!(
                Instant::now() < deadline,
                "no client tried to reconnect while the network was down"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn heal(&self) {
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.task.abort();
        for handle in self.conns.lock().unwrap().drain(..) {
            handle.abort();
        }
    }
}

/// Visible texts of the open transcript in the console.
async fn console_texts(c: &Client) -> Vec<String> {
    c.execute(
        "return [...document.querySelectorAll('.transcript:not([hidden]) .msg .bubble')].map(b => b.textContent)",
        vec![],
    )
    .await
    .unwrap()
    .as_array()
    .unwrap()
    .iter()
    .map(|v| v.as_str().unwrap_or_default().to_owned())
    .collect()
}

/// C3 (delivery): the network drops under both the widget and the console. Messages
/// sent meanwhile by the visitor wait as pending and are delivered once after the
/// reconnect; what the operator wrote meanwhile (from another device) reaches both
/// screens in order, without duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c3_widget_and_console_reconnect_and_catch_up_without_duplicates() {
    let Some(mut browser) = Browser::start().await else {
        return;
    };
    // People reach the server through the proxy: its address is the public URL, which
    // the console's cookie socket must come from (Q6).
    let proxy_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy_listener.local_addr().unwrap());
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.public_url = proxy_url)
        .await
        .unwrap();
    let operator = app.signup("yamada@acme.example").await;
    create_portal(&app, &operator, "acme", "Acme").await;
    let _console = open_console(&app, &operator, "acme").await;
    let proxy = FlakyProxy::on(proxy_listener, &app);
    // The widget's server is the proxy: everything it does can be cut.
    let site = HostSite::start(format!(
        "<!doctype html><html lang=\"ja\"><body><p>Acme</p>\
         <script src=\"{}/chat/widget.js\" data-portal=\"acme\"></script></body></html>",
        proxy.base
    ))
    .await;

    let visitor = browser.session().await;
    visitor.goto(&site.url).await.unwrap();
    widget_press(&visitor, ".launcher").await;
    widget_type(&visitor, "textarea[name=question]", "請求書について").await;
    widget_press(&visitor, "button.start").await;
    wait_widget_log(&visitor, "請求書について").await;
    let chat_id = wait_js(
        &visitor,
        "the chat id in storage",
        "for (var i = 0; i < localStorage.length; i++) { var k = localStorage.key(i); \
         if (k.indexOf('madoguchi.widget.') === 0) return JSON.parse(localStorage.getItem(k)).chatId; } return null;",
    )
    .await;
    let chat_id = chat_id.as_str().unwrap().to_owned();
    let chat_api = format!("/chat/api/v1/portals/acme/chats/{chat_id}");
    app.post_empty(&format!("{chat_api}/accept"), Some(&operator.token))
        .await
        .assert_status(200);

    // The operator's console, also behind the proxy (the session cookie is per host).
    let op = browser.session().await;
    op.goto(&format!(
        "{}/lang?set=ja&next=/login%3Fnext%3D/chat/acme",
        proxy.base
    ))
    .await
    .unwrap();
    fill(&op, "input[name=email]", &operator.email).await;
    fill(&op, "input[name=password]", "correct horse battery").await;
    click(&op, "form.stack button[type=submit]").await;
    wait_text(&op, ".q-section.attended .q-list", "請求書について").await;
    click(&op, ".q-section.attended .q-item").await;
    wait_text(&op, ".transcript:not([hidden])", "請求書について").await;
    find(&op, "#console[data-connection=live]").await;
    wait_js(
        &visitor,
        "the widget live",
        "return document.querySelector('[data-madoguchi-widget]').getAttribute('data-connection') === 'live'",
    )
    .await;

    // The network drops.
    proxy.cut();
    wait_js(
        &visitor,
        "the widget noticing the drop",
        "return document.querySelector('[data-madoguchi-widget]').getAttribute('data-connection') === 'down'",
    )
    .await;
    find(&op, "#console[data-connection=down]").await;
    // Meanwhile: the operator answers from another device; the visitor writes.
    for text in ["1通目の返信", "2通目の返信"] {
        app.post(
            &format!("{chat_api}/messages"),
            Some(&operator.token),
            json!({"text": text, "clientMessageId": format!("phone-{text}")}),
        )
        .await
        .assert_status(201);
    }
    // …and another visitor starts a chat (a lifecycle change the console missed).
    start_chat(
        &app,
        "acme",
        json!({"question": "別件の問い合わせ", "clientMessageId": "q-offline"}),
    )
    .await;
    let composer = widget_el(&visitor, ".composer textarea").await;
    composer
        .send_keys("オフライン中の質問\u{E007}")
        .await
        .unwrap();
    wait_js(
        &visitor,
        "the offline message pending",
        &in_widget("r.querySelector('.msg.visitor[data-status=\"pending\"], .msg.visitor[data-status=\"failed\"]') !== null"),
    )
    .await;
    // Not healed before a client has tried again through the cut network (and failed).
    proxy.wait_refused_after(proxy.refused()).await;

    // The network heals: both catch up, the pending message is delivered once.
    proxy.heal();
    wait_widget_log(&visitor, "2通目の返信").await;
    wait_js(
        &visitor,
        "the offline message stored",
        &in_widget("r.querySelectorAll('.msg.visitor .tick.stored').length === 2 && !r.querySelector('.msg.visitor[data-status=\"pending\"]')"),
    )
    .await;
    wait_text(&op, ".transcript:not([hidden])", "オフライン中の質問").await;
    wait_text(&op, ".transcript:not([hidden])", "2通目の返信").await;
    // The console caught up over its socket (afterEvent + resume), not by reading the
    // lists again.
    wait_text(&op, ".q-section.waiting .q-list", "別件の問い合わせ").await;
    let list_reads = op
        .execute(
            "return performance.getEntriesByType('resource')\
             .filter(e => e.name.indexOf('/chats?state=waiting') >= 0).length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        list_reads,
        json!(1),
        "the lists are read once, on the first load"
    );

    let stored = app.get(&chat_api, Some(&operator.token)).await;
    let texts: Vec<&str> = stored["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["sender"] != "system")
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        vec![
            "請求書について",
            "1通目の返信",
            "2通目の返信",
            "オフライン中の質問"
        ],
        "each message stored once"
    );
    let widget_texts = visitor
        .execute(
            &in_widget(
                "[...r.querySelectorAll('.log .msg:not(.system) .bubble')].map(b => b.textContent)",
            ),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        widget_texts,
        json!(texts),
        "the widget shows each once, in order"
    );
    let console: Vec<String> = console_texts(&op)
        .await
        .into_iter()
        .filter(|t| texts.contains(&t.as_str()))
        .collect();
    assert_eq!(console, texts, "the console shows each once, in order");

    visitor.close().await.unwrap();
    op.close().await.unwrap();
    app.stop().await;
}

/// C6 + C4: the operator corrects the visitor with the pencil (saved through the API,
/// shown in the queue), ends the chat, and finds it in the history by visitor and text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c6_operator_edits_the_visitor_and_c4_finds_the_chat_in_the_history() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let operator = app.signup("yamada@acme.example").await;
    create_portal(&app, &operator, "acme", "Acme").await;
    let visitor_id = start_chat(
        &app,
        "acme",
        json!({"question": "配送状況を知りたい", "clientMessageId": "q-1"}),
    )
    .await
    .visitor_id;

    let op = browser.session().await;
    login(&op, &app, &operator, "/chat/acme").await;
    // The oldest waiting chat opens by itself.
    wait_text(&op, ".chat-head .visitor-title", "訪問者").await;
    click(&op, ".chat-actions .accept").await;
    find(&op, ".composer textarea:not([disabled])").await;

    // The pencil: a bad email is refused with the server's message, a good one saved.
    click(&op, ".visitor-card .pencil").await;
    fill(&op, ".visitor-edit input[name=name]", "佐藤 花子").await;
    fill(&op, ".visitor-edit input[name=email]", "not-an-email").await;
    click(&op, ".visitor-edit button[type=submit]").await;
    find(&op, ".visitor-edit .form-error:not([hidden])").await;
    find(&op, ".visitor-edit input[name=email][aria-invalid=true]").await;
    fill(&op, ".visitor-edit input[name=email]", "sato@example.jp").await;
    fill(&op, ".visitor-edit input[name=phone]", "03-1234-5678").await;
    click(&op, ".visitor-edit button[type=submit]").await;
    wait_text(&op, ".visitor-card .v-email", "sato@example.jp").await;
    wait_text(&op, ".visitor-card .v-phone", "03-1234-5678").await;
    wait_text(&op, ".chat-head .visitor-title", "佐藤 花子 様").await;
    wait_text(&op, ".q-section.attended .q-list", "佐藤 花子").await;
    let chats = app
        .get(
            "/chat/api/v1/portals/acme/chats?state=attended",
            Some(&operator.token),
        )
        .await;
    assert_eq!(chats["data"][0]["visitor"]["id"], json!(visitor_id));
    assert_eq!(
        chats["data"][0]["visitor"]["email"],
        json!("sato@example.jp")
    );

    // End it; the history finds it by visitor name and by message text, not by others.
    op.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    click(&op, ".chat-actions .end").await;
    wait_text(&op, ".q-section.history .q-list", "佐藤 花子").await;
    fill(&op, "#history-search", "配送").await;
    wait_text(&op, ".q-section.history .q-list", "佐藤 花子").await;
    fill(&op, "#history-search", "存在しない言葉").await;
    wait_text(
        &op,
        ".q-section.history .q-list",
        "該当するチャットはありません",
    )
    .await;
    fill(&op, "#history-search", "佐藤").await;
    wait_text(&op, ".q-section.history .q-list", "佐藤 花子").await;
    click(&op, ".q-section.history .q-item").await;
    wait_text(&op, ".transcript:not([hidden])", "配送状況を知りたい").await;
    find(&op, ".composer[hidden]").await;

    op.close().await.unwrap();
    app.stop().await;
}

/// C4: the console is only for the portal's operators: others get a 403 page, unknown
/// portals a 404 page, and the signed-out a login redirect that comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c4_console_is_only_for_operators_of_the_portal() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let owner = app.signup("owner@acme.example").await;
    let stranger = app.signup("stranger@example.jp").await;
    create_portal(&app, &owner, "acme", "Acme").await;

    let c = browser.session().await;
    login(&c, &app, &stranger, "/chat/acme").await;
    wait_text(&c, "main", "このポータルのオペレーターではありません").await;
    c.goto(&app.url("/chat/nothing-here")).await.unwrap();
    wait_text(&c, "main", "このポータルは見つかりません").await;
    let res = app.request(app.http.get(app.url("/chat/acme"))).await;
    assert_eq!(res.status.as_u16(), 303, "signed out: to the login page");

    c.close().await.unwrap();
    app.stop().await;
}

/// C4 at scale: with 200 chats waiting the console lists them all promptly, and a new
/// message in one of them still shows at once (per-chat updates, no re-render).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c4_console_stays_responsive_with_200_open_chats() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let operator = app.signup("yamada@acme.example").await;
    create_portal(&app, &operator, "acme", "Acme").await;
    let mut tokens = Vec::new();
    for batch in 0..10 {
        let started = futures::future::join_all((0..20).map(|i| {
            let n = batch * 20 + i;
            let app = &app;
            async move {
                let started = start_chat(
                    app,
                    "acme",
                    json!({"name": format!("訪問者{n:03}"), "question": format!("質問 {n}"),
                               "clientMessageId": format!("q-{n}")}),
                )
                .await;
                (started.chat_id, started.token)
            }
        }))
        .await;
        tokens.extend(started);
    }

    let op = browser.session().await;
    login(&op, &app, &operator, "/chat/acme").await;
    let t0 = Instant::now();
    wait_text(&op, ".q-section.waiting .count", "(200)").await;
    let listed = t0.elapsed();
    assert!(
        listed < Duration::from_secs(10),
        "200 chats took {listed:?} to list"
    );
    assert_eq!(
        op.execute(
            "return document.querySelectorAll('.q-section.waiting .q-item').length",
            vec![]
        )
        .await
        .unwrap(),
        json!(200)
    );
    assert!(op.title().await.unwrap().starts_with("(200) "));

    // A message in chat #150 (not the open one) shows as unread at once.
    let (chat_id, token) = &tokens[150];
    let t1 = Instant::now();
    app.request(
        app.http
            .post(app.url(&format!("/chat/widget/v1/acme/chats/{chat_id}/messages")))
            .bearer_auth(token)
            .json(&json!({"text": "まだですか？", "clientMessageId": "m-1"})),
    )
    .await
    .assert_status(201);
    wait_text(
        &op,
        &format!(".q-item[data-chat-id='{chat_id}'] .q-unread"),
        "1",
    )
    .await;
    let shown = t1.elapsed();
    assert!(shown < Duration::from_secs(3), "the message took {shown:?}");

    // Opening it shows the whole transcript; accepting moves it to Attended.
    click(&op, &format!(".q-item[data-chat-id='{chat_id}']")).await;
    wait_text(&op, ".transcript:not([hidden])", "まだですか？").await;
    click(&op, ".chat-actions .accept").await;
    wait_text(&op, ".q-section.waiting .count", "(199)").await;
    wait_text(&op, ".q-section.attended .q-list", "訪問者150").await;

    op.close().await.unwrap();
    app.stop().await;
}

/// C3 on a phone: the open widget fills the screen and still chats; closed, its button
/// counts unread replies (kept across a reload until seen).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c3_widget_fills_a_phone_screen() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let operator = app.signup("yamada@acme.example").await;
    create_portal(&app, &operator, "acme", "Acme").await;
    let _console = open_console(&app, &operator, "acme").await;
    let site = HostSite::with_widget(&app, "acme", "ja").await;
    let visitor = browser.session().await;
    visitor.set_window_size(390, 844).await.unwrap();
    visitor.goto(&site.url).await.unwrap();
    widget_press(&visitor, ".launcher").await;
    widget_type(
        &visitor,
        "textarea[name=question]",
        "スマホから質問です\u{E007}",
    )
    .await;
    wait_widget_log(&visitor, "スマホから質問です").await;
    let (panel_w, viewport_w) = {
        let v = visitor
            .execute(
                &in_widget(
                    "[r.querySelector('.panel').getBoundingClientRect().width, window.innerWidth]",
                ),
                vec![],
            )
            .await
            .unwrap();
        (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
    };
    assert!(
        (panel_w - viewport_w).abs() < 1.0,
        "panel {panel_w}px on a {viewport_w}px screen"
    );
    screenshot(&visitor, "widget-phone").await;

    // Closed, the launcher counts unread replies, also across a reload, until opened.
    widget_press(&visitor, "button.close").await;
    let chats = app
        .get(
            "/chat/api/v1/portals/acme/chats?state=waiting",
            Some(&operator.token),
        )
        .await;
    let chat_id = chats["data"][0]["id"].as_str().unwrap();
    accept(&app, &operator, "acme", chat_id).await;
    operator_says_as(
        &app,
        &operator,
        "acme",
        chat_id,
        "ご連絡ありがとうございます",
        "r-1",
    )
    .await
    .assert_status(201);
    let badge =
        in_widget("r.querySelector('.badge').hidden ? '' : r.querySelector('.badge').textContent");
    wait_js(&visitor, "the unread badge", &badge).await;
    assert_eq!(visitor.execute(&badge, vec![]).await.unwrap(), json!("1"));
    visitor.refresh().await.unwrap();
    widget_el(&visitor, ".launcher").await;
    wait_js(&visitor, "the unread badge after a reload", &badge).await;
    assert_eq!(visitor.execute(&badge, vec![]).await.unwrap(), json!("1"));
    widget_press(&visitor, ".launcher").await;
    wait_widget_log(&visitor, "ご連絡ありがとうございます").await;
    assert_eq!(visitor.execute(&badge, vec![]).await.unwrap(), json!(""));
    widget_press(&visitor, "button.close").await;
    visitor.refresh().await.unwrap();
    wait_widget_log(&visitor, "ご連絡ありがとうございます").await;
    assert_eq!(
        visitor.execute(&badge, vec![]).await.unwrap(),
        json!(""),
        "seen stays seen"
    );
    visitor.close().await.unwrap();
    app.stop().await;
}

/// C3 + C2: with several departments the widget offers the menu (in English on an
/// English page) and the chat lands in the chosen department; the visitor can leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c3_widget_offers_the_department_menu_when_there_are_several() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let operator = app.signup("yamada@acme.example").await;
    create_portal(&app, &operator, "acme", "Acme Support").await;
    let mut ids = Vec::new();
    for name in ["Support", "Billing"] {
        let res = app
            .post(
                "/chat/api/v1/portals/acme/departments",
                Some(&operator.token),
                json!({"name": name}),
            )
            .await;
        res.assert_status(201);
        ids.push(res["id"].as_str().unwrap().to_owned());
    }
    let _console = open_console(&app, &operator, "acme").await;
    let site = HostSite::with_widget(&app, "acme", "en-US").await;
    let visitor = browser.session().await;
    visitor.goto(&site.url).await.unwrap();
    widget_press(&visitor, ".launcher").await;
    widget_el(&visitor, ".dept-label:not([hidden]) select").await;
    let label = widget_el(&visitor, ".dept-label")
        .await
        .text()
        .await
        .unwrap();
    assert!(label.starts_with("Department"), "{label:?}");
    widget_el(
        &visitor,
        &format!("select[name=departmentId] option[value='{}']", ids[1]),
    )
    .await
    .click()
    .await
    .unwrap();
    widget_type(&visitor, "input[name=phone]", "+81 3-1234-5678").await;
    widget_type(&visitor, "textarea[name=question]", "I was charged twice").await;
    widget_press(&visitor, "button.start").await;
    wait_widget_log(&visitor, "I was charged twice").await;
    let waiting = app
        .get(
            "/chat/api/v1/portals/acme/chats?state=waiting",
            Some(&operator.token),
        )
        .await;
    assert_eq!(waiting["data"][0]["departmentId"], json!(ids[1]));
    assert_eq!(
        waiting["data"][0]["visitor"]["phone"],
        json!("+81 3-1234-5678")
    );

    // The visitor leaves: the widget says so and offers a new chat; nobody answered,
    // so the chat is missed (C5).
    visitor
        .execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    widget_press(&visitor, "button.leave").await;
    let ended = widget_el(&visitor, ".ended-box:not([hidden])").await;
    assert!(ended.text().await.unwrap().contains("This chat has ended."));
    let chat_id = waiting["data"][0]["id"].as_str().unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let chat = app
            .get(
                &format!("/chat/api/v1/portals/acme/chats/{chat_id}"),
                Some(&operator.token),
            )
            .await;
        if chat["outcome"] == json!("missed") {
            break;
        }
        assert!(Instant::now() < deadline, "not missed: {}", chat.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    widget_press(&visitor, "button.new-chat").await;
    widget_el(
        &visitor,
        "form.prechat:not([hidden]) textarea[name=question]",
    )
    .await;
    visitor.close().await.unwrap();
    app.stop().await;
}

/// C3: the embed script is JavaScript that any website may load (no browser needed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c3_widget_script_is_served_to_any_origin() {
    let app = TestApp::spawn_same_origin(Backend::Sqlite).await.unwrap();
    let res = app
        .http
        .get(app.url("/chat/widget.js"))
        .header("Origin", "https://shop.example.jp")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("content-type").starts_with("application/javascript"));
    assert_eq!(header("access-control-allow-origin"), "*");
    let body = res.text().await.unwrap();
    assert!(body.contains("attachShadow"), "the widget script");
    app.stop().await;
}
