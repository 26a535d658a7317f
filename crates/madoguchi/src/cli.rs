//! The command line: one clap struct per command; every flag can also come from a
//! `MADOGUCHI_*` environment variable or a TOML config file (`--config`). Precedence:
//! flag, then environment, then config file, then the default.

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Parser, Subcommand, ValueEnum};
use madoguchi_web::Settings;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "madoguchi",
    version,
    about = "Madoguchi (窓口): self-hosted live chat + help desk in one binary",
    long_about = "Madoguchi (窓口): self-hosted live chat + help desk in one binary.\n\n\
        A website visitor chats with an operator; the chat becomes a help-desk ticket; while \
        chatting, the operator sees the customer's tickets, account, SLA and contract.\n\n\
        Start with `madoguchi demo` for a ready-made installation, or `madoguchi serve` for \
        an empty one (embedded SQLite, no other service needed)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run Desk, Chat and the integration on one port.
    Serve(ServeArgs),
    /// Run the server with a ready-made Desk portal, Chat portal, users and the
    /// integration linked; prints the URLs and logins.
    Demo(ServeArgs),
    /// Write a consistent snapshot of a server's data (it may be running) to one file.
    Backup(crate::ops::BackupArgs),
    /// Create a data directory from a backup file (then `serve --data-dir` it).
    Restore(crate::ops::RestoreArgs),
    /// Copy a stopped embedded installation into an empty PostgreSQL database.
    Migrate(crate::ops::MigrateArgs),
    /// Benchmarks that print figures (see README "Benchmarks").
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The bare WebSocket relay the chat benchmark compares against (internal).
    #[command(hide = true)]
    BenchRelay {
        #[arg(long)]
        listen: SocketAddr,
    },
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Visitors and operators over real WebSockets: connections, messages/s, latency, peak RSS.
    Chat(crate::bench::ChatBenchArgs),
    /// Mixed Japanese/English mails APPENDed to a real IMAP server: import rate, APPEND-to-ticket latency.
    Mail(crate::bench::mail::MailBenchArgs),
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "MADOGUCHI_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory of the embedded SQLite database (created if missing).
    #[arg(long, env = "MADOGUCHI_DATA_DIR", default_value = "./madoguchi-data")]
    pub data_dir: PathBuf,
    /// The URL people reach this server at; used in links (ticket webUrl, widget snippet).
    #[arg(
        long,
        env = "MADOGUCHI_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,
    /// Use PostgreSQL instead of the embedded SQLite (postgres://user@host/db).
    #[arg(long, env = "MADOGUCHI_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Fan live events out between several `serve` nodes through NATS (nats://host:4222).
    #[arg(long, env = "MADOGUCHI_NATS_URL")]
    pub nats_url: Option<String>,
    /// Use a Desk running in another process (its base URL) instead of the built-in one.
    #[arg(long, env = "MADOGUCHI_DESK_URL")]
    pub desk_url: Option<String>,
    /// Log format.
    #[arg(long, env = "MADOGUCHI_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// New widget chats per minute per client address, or `off` (load tests).
    #[arg(long, env = "MADOGUCHI_WIDGET_RATE_LIMIT", default_value = "120", value_parser = parse_rate_limit)]
    pub widget_rate_limit: RateLimit,
    /// A reverse proxy (address or CIDR, repeatable or comma-separated) whose
    /// X-Forwarded-For names the client; without one the TCP peer is the client.
    #[arg(long = "trusted-proxy", env = "MADOGUCHI_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Open widget sockets per chat and per visitor (browser tabs); more are closed
    /// with 1013 "try again later".
    #[arg(long, env = "MADOGUCHI_MAX_SOCKETS_PER_CHAT", default_value_t = madoguchi_web::sockets::DEFAULT_PER_CHAT, value_parser = parse_socket_limit)]
    pub max_sockets_per_chat: usize,
    /// Open widget sockets per client address (see --trusted-proxy); lifted by
    /// `--widget-rate-limit off`.
    #[arg(long, env = "MADOGUCHI_MAX_SOCKETS_PER_ADDRESS", default_value_t = madoguchi_web::sockets::DEFAULT_PER_ADDRESS, value_parser = parse_socket_limit)]
    pub max_sockets_per_address: usize,
    /// Open console sockets per operator.
    #[arg(long, env = "MADOGUCHI_MAX_SOCKETS_PER_OPERATOR", default_value_t = madoguchi_web::sockets::DEFAULT_PER_OPERATOR, value_parser = parse_socket_limit)]
    pub max_sockets_per_operator: usize,
    /// Open WebSockets on this node; default: the open-file limit (ulimit -n) less
    /// 10 % or 256, whichever is more, kept for HTTP and the database.
    #[arg(long, env = "MADOGUCHI_MAX_SOCKETS", value_parser = parse_socket_limit)]
    pub max_sockets: Option<usize>,
    /// Days a visitor token keeps working after its chat ended (the returning visitor
    /// still sees the transcript); then the widget must start a new chat.
    #[arg(long, env = "MADOGUCHI_VISITOR_TOKEN_DAYS", default_value = "30", value_parser = clap::value_parser!(u32).range(1..))]
    pub visitor_token_days: u32,
    /// When an embedded (SQLite) commit is on disk: `normal` survives a crash of the
    /// process; `full` fsyncs every commit (each group of messages), so acknowledged
    /// messages survive power loss too, at some latency.
    #[arg(long, env = "MADOGUCHI_SYNC", value_enum, default_value = "normal")]
    pub sync: SyncArg,
    /// Read settings from this TOML file (keys as the flags, with underscores).
    #[arg(long, env = "MADOGUCHI_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncArg {
    Normal,
    Full,
}

impl From<SyncArg> for madoguchi_core::SqliteSync {
    fn from(s: SyncArg) -> Self {
        match s {
            SyncArg::Normal => madoguchi_core::SqliteSync::Normal,
            SyncArg::Full => madoguchi_core::SqliteSync::Full,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit(pub Option<u32>);

fn parse_rate_limit(s: &str) -> Result<RateLimit, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(RateLimit(None));
    }
    match s.parse::<u32>() {
        Ok(0) | Err(_) => Err("expected a positive number of chats per minute, or `off`".into()),
        Ok(n) => Ok(RateLimit(Some(n))),
    }
}

fn parse_socket_limit(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) | Err(_) => Err("expected a positive number of sockets".into()),
        Ok(n) => Ok(n),
    }
}

/// `10.0.0.0/8`, or one address (`10.0.0.2`, `::1`).
fn parse_proxy(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))
}

/// The optional config file: the same settings as the flags.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    public_url: Option<String>,
    database_url: Option<String>,
    nats_url: Option<String>,
    desk_url: Option<String>,
    log_format: Option<LogFormat>,
    widget_rate_limit: Option<toml::Value>,
    trusted_proxies: Option<Vec<String>>,
    max_sockets_per_chat: Option<usize>,
    max_sockets_per_address: Option<usize>,
    max_sockets_per_operator: Option<usize>,
    max_sockets: Option<usize>,
    visitor_token_days: Option<u32>,
    sync: Option<SyncArg>,
}

impl ServeArgs {
    /// Applies the config file under flags and environment, and returns the server
    /// settings and the log format.
    pub fn into_settings(
        mut self,
        matches: Option<&ArgMatches>,
    ) -> anyhow::Result<(Settings, LogFormat)> {
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config file {}", path.display()))?;
            let file: ConfigFile = toml::from_str(&text)
                .with_context(|| format!("parsing config file {}", path.display()))?;
            let defaulted = |id: &str| {
                matches.is_none_or(|m| {
                    matches!(m.value_source(id), None | Some(ValueSource::DefaultValue))
                })
            };
            if let (Some(v), true) = (file.listen, defaulted("listen")) {
                self.listen = v;
            }
            if let (Some(v), true) = (file.data_dir, defaulted("data_dir")) {
                self.data_dir = v;
            }
            if let (Some(v), true) = (file.public_url, defaulted("public_url")) {
                self.public_url = v;
            }
            if let (Some(v), true) = (file.database_url, defaulted("database_url")) {
                self.database_url = Some(v);
            }
            if let (Some(v), true) = (file.nats_url, defaulted("nats_url")) {
                self.nats_url = Some(v);
            }
            if let (Some(v), true) = (file.desk_url, defaulted("desk_url")) {
                self.desk_url = Some(v);
            }
            if let (Some(v), true) = (file.log_format, defaulted("log_format")) {
                self.log_format = v;
            }
            if let (Some(v), true) = (file.widget_rate_limit, defaulted("widget_rate_limit")) {
                let text = match v {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(n) => n.to_string(),
                    other => anyhow::bail!(
                        "widget_rate_limit: expected a number or \"off\", got {other}"
                    ),
                };
                self.widget_rate_limit = parse_rate_limit(&text)
                    .map_err(|e| anyhow::anyhow!("widget_rate_limit: {e}"))?;
            }
            if let (Some(v), true) = (file.visitor_token_days, defaulted("visitor_token_days")) {
                anyhow::ensure!(v >= 1, "visitor_token_days: expected 1 or more days");
                self.visitor_token_days = v;
            }
            if let (Some(v), true) = (file.trusted_proxies, defaulted("trusted_proxies")) {
                self.trusted_proxies = v
                    .iter()
                    .map(|s| parse_proxy(s))
                    .collect::<Result<_, _>>()
                    .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?;
            }
            let positive = |key: &str, n: usize| {
                if n == 0 {
                    anyhow::bail!("{key}: expected a positive number of sockets");
                }
                Ok(n)
            };
            if let (Some(v), true) = (file.max_sockets_per_chat, defaulted("max_sockets_per_chat"))
            {
                self.max_sockets_per_chat = positive("max_sockets_per_chat", v)?;
            }
            if let (Some(v), true) = (
                file.max_sockets_per_address,
                defaulted("max_sockets_per_address"),
            ) {
                self.max_sockets_per_address = positive("max_sockets_per_address", v)?;
            }
            if let (Some(v), true) = (
                file.max_sockets_per_operator,
                defaulted("max_sockets_per_operator"),
            ) {
                self.max_sockets_per_operator = positive("max_sockets_per_operator", v)?;
            }
            if let (Some(v), true) = (file.sync, defaulted("sync")) {
                self.sync = v;
            }
            if let (Some(v), true) = (file.max_sockets, defaulted("max_sockets")) {
                self.max_sockets = Some(positive("max_sockets", v)?);
            }
        }
        let settings = Settings {
            listen: self.listen,
            data_dir: self.data_dir,
            public_url: self.public_url.trim_end_matches('/').to_owned(),
            database_url: self.database_url.filter(|s| !s.is_empty()),
            nats_url: self.nats_url.filter(|s| !s.is_empty()),
            desk_url: self.desk_url.filter(|s| !s.is_empty()),
            widget_rate_limit: self.widget_rate_limit.0,
            trusted_proxies: self.trusted_proxies,
            socket_limits: madoguchi_web::sockets::SocketLimits {
                per_chat: self.max_sockets_per_chat,
                per_address: self.max_sockets_per_address,
                per_operator: self.max_sockets_per_operator,
                total: self.max_sockets,
            },
            visitor_token_days: self.visitor_token_days,
            sqlite_sync: self.sync.into(),
        };
        Ok((settings, self.log_format))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    fn settings_of(args: &[&str]) -> Settings {
        let m = Cli::command().get_matches_from(args);
        let cli = Cli::from_arg_matches(&m).unwrap();
        let Command::Serve(a) = cli.command else {
            panic!("serve expected")
        };
        a.into_settings(m.subcommand_matches("serve")).unwrap().0
    }

    #[test]
    fn serve_defaults_are_those_of_the_api_contract() {
        let s = settings_of(&["madoguchi", "serve"]);
        let d = Settings::defaults();
        assert_eq!(s.listen, d.listen);
        assert_eq!(s.data_dir, d.data_dir);
        assert_eq!(s.public_url, d.public_url);
        assert_eq!(s.widget_rate_limit, Some(120));
        assert_eq!(s.database_url, None);
        assert_eq!(s.visitor_token_days, 30);
        assert_eq!(s.visitor_token_days, d.visitor_token_days);
    }

    #[test]
    fn q6_visitor_token_days_come_from_the_flag_or_the_file() {
        let s = settings_of(&["madoguchi", "serve", "--visitor-token-days", "7"]);
        assert_eq!(s.visitor_token_days, 7);
        let refused = Cli::command().try_get_matches_from([
            "madoguchi",
            "serve",
            "--visitor-token-days",
            "0",
        ]);
        assert!(refused.is_err(), "0 days is refused");
        let dir = std::env::temp_dir().join(format!("madoguchi-cli-vt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("madoguchi.toml");
        std::fs::write(&path, "visitor_token_days = 90\n").unwrap();
        let s = settings_of(&["madoguchi", "serve", "--config", path.to_str().unwrap()]);
        assert_eq!(s.visitor_token_days, 90);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn q2_sync_is_normal_by_default_and_full_from_the_flag_or_the_file() {
        use madoguchi_core::SqliteSync;
        assert_eq!(
            settings_of(&["madoguchi", "serve"]).sqlite_sync,
            SqliteSync::Normal
        );
        let s = settings_of(&["madoguchi", "serve", "--sync", "full"]);
        assert_eq!(s.sqlite_sync, SqliteSync::Full);
        assert!(Cli::command()
            .try_get_matches_from(["madoguchi", "serve", "--sync", "sometimes"])
            .is_err());
        let dir = std::env::temp_dir().join(format!("madoguchi-cli-sync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("madoguchi.toml");
        std::fs::write(&path, "sync = \"full\"\n").unwrap();
        let s = settings_of(&["madoguchi", "serve", "--config", path.to_str().unwrap()]);
        assert_eq!(s.sqlite_sync, SqliteSync::Full);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rate_limit_off_disables_the_widget_limit() {
        let s = settings_of(&["madoguchi", "serve", "--widget-rate-limit", "off"]);
        assert_eq!(s.widget_rate_limit, None);
        assert!(parse_rate_limit("0").is_err());
        assert!(parse_rate_limit("many").is_err());
    }

    #[test]
    fn a_config_file_fills_what_flags_leave_at_their_default() {
        let dir = std::env::temp_dir().join(format!("madoguchi-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("madoguchi.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9090\"\npublic_url = \"https://help.example.jp\"\nwidget_rate_limit = \"off\"\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let s = settings_of(&[
            "madoguchi",
            "serve",
            "--config",
            p,
            "--listen",
            "127.0.0.1:7070",
        ]);
        assert_eq!(s.listen.port(), 7070, "a flag beats the file");
        assert_eq!(s.public_url, "https://help.example.jp");
        assert_eq!(s.widget_rate_limit, None);
    }

    #[test]
    fn q6_socket_limits_come_from_flags_or_the_config_file() {
        let s = settings_of(&["madoguchi", "serve"]);
        assert_eq!(
            s.socket_limits,
            madoguchi_web::sockets::SocketLimits::default()
        );
        let s = settings_of(&[
            "madoguchi",
            "serve",
            "--max-sockets-per-chat",
            "3",
            "--max-sockets-per-address",
            "7",
            "--max-sockets-per-operator",
            "4",
            "--max-sockets",
            "1000",
        ]);
        assert_eq!(s.socket_limits.per_chat, 3);
        assert_eq!(s.socket_limits.per_address, 7);
        assert_eq!(s.socket_limits.per_operator, 4);
        assert_eq!(s.socket_limits.total, Some(1000));
        assert!(parse_socket_limit("0").is_err());
        assert!(parse_socket_limit("lots").is_err());

        let dir = std::env::temp_dir().join(format!("madoguchi-sockets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("madoguchi.toml");
        std::fs::write(&path, "max_sockets_per_address = 9\nmax_sockets = 500\n").unwrap();
        let p = path.to_str().unwrap();
        let s = settings_of(&["madoguchi", "serve", "--config", p]);
        assert_eq!(s.socket_limits.per_address, 9);
        assert_eq!(s.socket_limits.total, Some(500));
        let s = settings_of(&[
            "madoguchi",
            "serve",
            "--config",
            p,
            "--max-sockets-per-address",
            "11",
        ]);
        assert_eq!(s.socket_limits.per_address, 11, "a flag beats the file");
    }

    #[test]
    fn trusted_proxies_take_addresses_and_ranges_from_flags_or_the_file() {
        let s = settings_of(&[
            "madoguchi",
            "serve",
            "--trusted-proxy",
            "10.0.0.0/8,::1",
            "--trusted-proxy",
            "192.0.2.1",
        ]);
        let shown: Vec<String> = s.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(shown, ["10.0.0.0/8", "::1/128", "192.0.2.1/32"]);
        assert!(parse_proxy("not-an-ip").is_err());
        assert!(settings_of(&["madoguchi", "serve"])
            .trusted_proxies
            .is_empty());

        let dir = std::env::temp_dir().join(format!("madoguchi-proxy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("madoguchi.toml");
        std::fs::write(&path, "trusted_proxies = [\"172.16.0.0/12\"]\n").unwrap();
        let s = settings_of(&["madoguchi", "serve", "--config", path.to_str().unwrap()]);
        assert_eq!(s.trusted_proxies.len(), 1);
        assert_eq!(s.trusted_proxies[0].to_string(), "172.16.0.0/12");
    }
}
