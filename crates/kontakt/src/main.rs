//! The `kontakt` binary: one program for every job — serve the API, migrate, manage users,
//! check the configuration, seed data.

// A command-line program: stdout is where its answers go (libraries must not print).
#![allow(clippy::print_stdout)]

mod checks;
mod config;
mod demo;
mod esl;
mod seed;
mod serve;
mod simops;
mod simulate;
mod telephony;
mod users;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};

#[derive(Debug, Parser)]
#[command(name = "kontakt", version, about = "Contact center for municipal citizens' hotlines")]
struct Cli {
    /// TOML configuration file (see deploy/kontakt.example.toml). Without it, defaults apply:
    /// SQLite in ./kontakt-data, HTTP on 127.0.0.1:8080.
    #[arg(long, short, env = "KONTAKT_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Database URL, overriding the file and KONTAKT_DATABASE_URL:
    /// sqlite://path/file.db or postgres://user:password@host/db.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Address to listen on, overriding the file and KONTAKT_SERVER_LISTEN.
    #[arg(long, global = true)]
    listen: Option<SocketAddr>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default): creates the database, migrates, creates the first admin.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage user accounts.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Check the configuration and the database, then exit (non-zero on any problem).
    CheckConfig,
    /// Load the category tree; with --demo also sample executors, a responsibility map and
    /// generated appeals.
    Seed {
        #[arg(long)]
        demo: bool,
        /// How many appeals --demo generates.
        #[arg(long, default_value_t = 3000)]
        appeals: usize,
    },
    /// FreeSWITCH Event Socket tools.
    #[command(subcommand)]
    Esl(esl::EslCommand),
    /// Simulate the call center: the real router on a virtual clock.
    Simulate(simulate::SimulateArgs),
    /// Agents needed for a service-level target (Erlang C, or Erlang A with --patience).
    Staffing(simulate::StaffingArgs),
    /// The whole center on one machine: engine, FreeSWITCH emulator, simulated callers and
    /// operators, on the configured database. --duration N prints a JSON summary.
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Offline tools need neither the configuration nor the runtime.
    let offline = match cli.command {
        Some(Command::Esl(cmd @ esl::EslCommand::Decode { .. })) => Some(esl::run(cmd)),
        Some(Command::Simulate(args)) => Some(simulate::simulate(args)),
        Some(Command::Staffing(args)) => Some(simulate::staffing(args)),
        other => {
            return run_online(Cli { command: other, ..cli });
        }
    };
    finish(offline.unwrap_or(Ok(())))
}

fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kontakt: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_online(cli: Cli) -> ExitCode {
    let flags = Overrides { database_url: cli.database_url.clone(), listen: cli.listen };
    let config = match Config::load(cli.config.as_deref(), std::env::vars(), &flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kontakt: {e:#}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kontakt: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve::serve(config).await,
            Command::Migrate => serve::migrate(&config).await,
            Command::User(cmd) => users::run(&config, cmd).await,
            Command::CheckConfig => checks::check_config(&config).await,
            Command::Seed { demo, appeals } => seed::run(&config, demo, appeals).await,
            Command::Esl(cmd) => esl::tail(&config, cmd).await,
            Command::Demo(args) => demo::run(&config, args).await,
            Command::Simulate(_) | Command::Staffing(_) => {
                anyhow::bail!("internal error: offline commands run before the runtime starts")
            }
        }
    });
    finish(result)
}

fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&config.log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match config.log.format {
        config::LogFormat::Json => builder.json().try_init(),
        config::LogFormat::Text => builder.try_init(),
    };
}
