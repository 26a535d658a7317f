//! `madoguchi`: live chat + help desk in one binary.

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches};
use madoguchi::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => {
                let sub = matches.subcommand_matches("serve");
                let settings = args.into_settings(sub)?;
                madoguchi::init_tracing(&settings.1);
                madoguchi::serve(settings.0).await
            }
            Command::Demo(args) => {
                let sub = matches.subcommand_matches("demo");
                let settings = args.into_settings(sub)?;
                madoguchi::init_tracing(&settings.1);
                madoguchi::demo::run(settings.0).await
            }
            Command::Bench(madoguchi::cli::BenchCommand::Chat(args)) => {
                madoguchi::init_tracing(&madoguchi::cli::LogFormat::Text);
                madoguchi::bench::run_chat(args).await
            }
            Command::Bench(madoguchi::cli::BenchCommand::Mail(args)) => {
                madoguchi::init_tracing(&madoguchi::cli::LogFormat::Text);
                madoguchi::bench::mail::run_mail(args).await
            }
            Command::Backup(args) => madoguchi::ops::backup(args).await,
            Command::Restore(args) => madoguchi::ops::restore(args).await,
            Command::Migrate(args) => madoguchi::ops::migrate(args).await,
            Command::BenchRelay { listen } => madoguchi::bench::run_relay(listen).await,
        }
    })
}
