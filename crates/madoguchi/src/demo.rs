//! `madoguchi demo`: the same server with ready-made data, seeded through the public
//! API (so the demo exercises exactly what users and integrators use).

use madoguchi_web::{Application, Settings};

pub const DEMO_PASSWORD: &str = "madoguchi-demo";

pub async fn run(mut settings: Settings) -> anyhow::Result<()> {
    if settings.database_url.is_none() && settings.data_dir == Settings::defaults().data_dir {
        // A demo never touches a real installation's data directory.
        settings.data_dir =
            std::env::temp_dir().join(format!("madoguchi-demo-{}", std::process::id()));
    }
    let app = Application::build(settings.clone()).await?;
    let base = format!("http://{}", app.local_addr());
    let server = tokio::spawn(app.run_until(crate::shutdown_signal()));
    let accounts = seed(&base).await?;
    println!();
    println!("  Madoguchi demo is running at {}", settings.public_url);
    println!();
    for (role, email) in &accounts {
        println!("  {role:<14} {email} / {DEMO_PASSWORD}");
    }
    println!();
    println!("  Desk:   {}/desk", settings.public_url);
    println!("  Chat:   {}/chat", settings.public_url);
    println!("  Press Ctrl-C to stop.");
    println!();
    server.await??;
    Ok(())
}

/// Seeds the demo; safe to run against a server that already has it.
pub async fn seed(base: &str) -> anyhow::Result<Vec<(&'static str, &'static str)>> {
    let accounts = vec![
        ("Admin", "admin@example.jp"),
        ("Operator", "operator@example.jp"),
    ];
    let http = reqwest::Client::new();
    for (role, email) in &accounts {
        let res = http
            .post(format!("{base}/api/v1/auth/signup"))
            .json(&serde_json::json!({"email": email, "password": DEMO_PASSWORD, "name": role}))
            .send()
            .await?;
        if !(res.status().is_success() || res.status() == reqwest::StatusCode::CONFLICT) {
            anyhow::bail!("seeding {email}: {}", res.text().await.unwrap_or_default());
        }
    }
    Ok(accounts)
}
