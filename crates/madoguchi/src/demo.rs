//! `madoguchi demo`: the same server with ready-made data, seeded through the public
//! API (so the demo exercises exactly what users and integrators use): a Desk portal
//! with departments, an account with its SLA and contract, contacts and tickets; a Chat
//! portal with departments and operators; and the integration linked.

use anyhow::{bail, Context};
use madoguchi_web::{Application, Settings};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const DEMO_PASSWORD: &str = "madoguchi-demo";
pub const DEMO_PORTAL: &str = "acme";

pub async fn run(mut settings: Settings) -> anyhow::Result<()> {
    if settings.database_url.is_none() && settings.data_dir == Settings::defaults().data_dir {
        // A demo never touches a real installation's data directory.
        settings.data_dir = std::env::temp_dir().join("madoguchi-demo");
    }
    let app = Application::build(settings.clone()).await?;
    let base = format!("http://{}", app.local_addr());
    let server = tokio::spawn(app.run_until(crate::shutdown_signal()));
    let accounts = seed(&base).await?;
    let url = &settings.public_url;
    println!();
    println!("  Madoguchi demo is running at {url}");
    println!();
    for (role, email) in &accounts {
        println!("  {role:<22} {email} / {DEMO_PASSWORD}");
    }
    println!();
    println!("  Desk (tickets):         {url}/desk/{DEMO_PORTAL}");
    println!("  Chat (operator console): {url}/chat/{DEMO_PORTAL}");
    println!("  Integration settings:   {url}/chat/{DEMO_PORTAL}/settings/integrations/desk");
    println!("  Website widget:         <script src=\"{url}/chat/widget.js\" data-portal=\"{DEMO_PORTAL}\" async></script>");
    println!("  Widget preview (visitor side): {url}/chat/{DEMO_PORTAL}/preview");
    println!("  Data directory:         {}", settings.data_dir.display());
    println!();
    println!("  Press Ctrl-C to stop.");
    println!();
    server.await??;
    Ok(())
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// Calls the API; answers the JSON body, or `None` when the thing already exists (409).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Option<Value>> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.with_context(|| path.to_owned())?;
        let status = res.status();
        let value: Value = res.json().await.unwrap_or(Value::Null);
        if status == StatusCode::CONFLICT {
            return Ok(None);
        }
        if !status.is_success() {
            bail!("seeding {path}: {status} {value}");
        }
        Ok(Some(value))
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Option<Value>> {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn id(&self, path: &str, body: Value) -> anyhow::Result<String> {
        let v = self.post(path, body).await?.context("created")?;
        Ok(v["id"].as_str().context("id")?.to_owned())
    }
}

async fn user(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    name: &str,
) -> anyhow::Result<Client> {
    let signup = Client {
        http: http.clone(),
        base: base.to_owned(),
        token: None,
    };
    let body = json!({"email": email, "password": DEMO_PASSWORD, "name": name});
    let session = match signup.post("/api/v1/auth/signup", body).await? {
        Some(s) => s,
        None => signup
            .call(
                Method::POST,
                "/api/v1/auth/login",
                Some(json!({"email": email, "password": DEMO_PASSWORD})),
            )
            .await?
            .context("login")?,
    };
    Ok(Client {
        http: http.clone(),
        base: base.to_owned(),
        token: Some(session["token"].as_str().context("token")?.to_owned()),
    })
}

/// Seeds the demo; running it again against the same data changes nothing.
pub async fn seed(base: &str) -> anyhow::Result<Vec<(&'static str, &'static str)>> {
    let accounts = vec![
        ("Admin (Desk + Chat)", "admin@example.jp"),
        ("Chat operator", "operator@example.jp"),
        ("Desk agent", "agent@example.jp"),
    ];
    let http = reqwest::Client::new();
    let admin = user(&http, base, "admin@example.jp", "山田 太郎").await?;
    let operator = user(&http, base, "operator@example.jp", "佐藤 花子").await?;
    user(&http, base, "agent@example.jp", "高橋 健").await?;

    // Desk. A portal that already exists means the demo was seeded before.
    let desk = format!("/desk/api/v1/portals/{DEMO_PORTAL}");
    let created = admin
        .post(
            "/desk/api/v1/portals",
            json!({"portalName": DEMO_PORTAL, "displayName": "アクメ株式会社 サポート"}),
        )
        .await?;
    if created.is_none() {
        return Ok(accounts);
    }
    admin
        .post(
            &format!("{desk}/members"),
            json!({"email": "agent@example.jp", "role": "agent"}),
        )
        .await?;
    let support = admin
        .id(&format!("{desk}/departments"), json!({"name": "サポート"}))
        .await?;
    admin
        .id(&format!("{desk}/departments"), json!({"name": "経理"}))
        .await?;
    let account = admin
        .id(
            &format!("{desk}/accounts"),
            json!({"accountName": "株式会社サンプル"}),
        )
        .await?;
    let sla = admin
        .id(&format!("{desk}/slas"), json!({"name": "ゴールド"}))
        .await?;
    admin
        .post(
            &format!("{desk}/contracts"),
            json!({"contractName": "年間保守", "accountId": account, "slaId": sla}),
        )
        .await?;
    let me = admin
        .call(Method::GET, "/api/v1/auth/me", None)
        .await?
        .context("me")?;
    let suzuki = admin
        .id(
            &format!("{desk}/contacts"),
            json!({"firstName": "一郎", "lastName": "鈴木", "email": "suzuki@example.jp",
                   "phone": "03-1234-5678", "accountId": account, "ownerId": me["id"]}),
        )
        .await?;
    let smith = admin
        .id(
            &format!("{desk}/contacts"),
            json!({"firstName": "John", "lastName": "Smith", "email": "john@example.com"}),
        )
        .await?;
    for (subject, contact, status, priority, channel) in [
        (
            "請求書の再発行をお願いします",
            &suzuki,
            "Closed",
            "Low",
            "Email",
        ),
        (
            "パスワードのリセットができない",
            &suzuki,
            "Open",
            "High",
            "Web",
        ),
        (
            "返金の手続きについて",
            &suzuki,
            "On Hold",
            "Medium",
            "Phone",
        ),
        ("Refund for order #1234", &smith, "Open", "Medium", "Email"),
        (
            "Cannot export the monthly report",
            &smith,
            "Escalated",
            "High",
            "Web",
        ),
    ] {
        admin
            .post(
                &format!("{desk}/tickets"),
                json!({"subject": subject, "description": subject, "contactId": contact, "departmentId": support,
                       "status": status, "priority": priority, "channel": channel}),
            )
            .await?;
    }

    // Chat.
    let chat = format!("/chat/api/v1/portals/{DEMO_PORTAL}");
    admin
        .post(
            "/chat/api/v1/portals",
            json!({"portalName": DEMO_PORTAL, "displayName": "アクメ株式会社"}),
        )
        .await?;
    let chat_support = admin
        .id(&format!("{chat}/departments"), json!({"name": "サポート"}))
        .await?;
    admin
        .id(&format!("{chat}/departments"), json!({"name": "経理"}))
        .await?;
    admin
        .post(
            &format!("{chat}/operators"),
            json!({"email": "operator@example.jp", "role": "operator", "departmentIds": [chat_support]}),
        )
        .await?;
    for c in [&admin, &operator] {
        c.call(
            Method::PUT,
            &format!("{chat}/me/availability"),
            Some(json!({"status": "available"})),
        )
        .await?;
    }

    // The integration: the admin is the Desk portal's admin, so enabling links at once (I2).
    admin
        .call(
            Method::POST,
            &format!("{chat}/integrations/desk/enable"),
            None,
        )
        .await?;
    admin
        .call(
            Method::PATCH,
            &format!("{chat}/integrations/desk/settings"),
            Some(json!({"autoTicket": "all", "ticketStatus": "Open", "viewScope": "all"})),
        )
        .await?;
    Ok(accounts)
}
