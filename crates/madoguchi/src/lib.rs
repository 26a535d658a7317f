//! The `madoguchi` binary's library half: command line, start-up, demo data. Kept as
//! a library so tests build the server exactly as `serve` does.

pub mod bench;
pub mod cli;
pub mod demo;
pub mod mail_servers;
pub mod ops;

use madoguchi_web::{Application, Settings};

pub fn init_tracing(format: &cli::LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        cli::LogFormat::Json => builder.json().try_init(),
        cli::LogFormat::Text => builder.try_init(),
    };
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings.clone()).await?;
    let storage = match &settings.database_url {
        Some(_) => "PostgreSQL".to_owned(),
        None => format!("SQLite in {}", settings.data_dir.display()),
    };
    tracing::info!(
        listen = %app.local_addr(),
        public_url = %settings.public_url,
        storage = %storage,
        nats = settings.nats_url.is_some(),
        "madoguchi is ready"
    );
    app.run_until(shutdown_signal()).await
}
