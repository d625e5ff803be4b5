//! The `kiln` binary: parse the CLI, load config, wire the libraries, run.

mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Kiln: a job-queue centric backend.
#[derive(Debug, Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    /// TOML config file (optional; env `KILN_CONFIG`). Env vars override it.
    #[arg(long, short, global = true, env = "KILN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// API, workers and migrations in one process (the default).
    Serve,
    /// Only the HTTP tier.
    Api,
    /// Only the workers (with their own /health and /metrics).
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document without connecting to anything.
    Openapi {
        /// YAML instead of JSON.
        #[arg(long)]
        yaml: bool,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Mint an access token for a subject (development and operations).
    Token {
        /// The subject (user id) the token names.
        #[arg(long)]
        subject: String,
        /// Role: user, moderator, operator or admin.
        #[arg(long, default_value = "user")]
        role: String,
        /// Lifetime in seconds (default: auth.access_token_ttl_secs).
        #[arg(long)]
        ttl_secs: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account, e.g. the first admin.
    Create {
        #[arg(long)]
        email: String,
        /// Role: user, moderator, operator or admin.
        #[arg(long, default_value = "user")]
        role: String,
        /// Read the password from stdin instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Openapi { yaml }) = cli.command {
        let spec = if yaml {
            kiln_api::spec_yaml()
        } else {
            kiln_api::spec_json()
        };
        println!("{spec}");
        return Ok(());
    }
    kiln_jobs::telemetry::init();
    let config = kiln_jobs::Config::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve::run(config, serve::Role::All).await,
        Command::Api => serve::run(config, serve::Role::Api).await,
        Command::Worker => serve::run(config, serve::Role::Worker).await,
        Command::Migrate => serve::migrate(config).await,
        Command::Token {
            subject,
            role,
            ttl_secs,
        } => serve::token(&config, &subject, &role, ttl_secs),
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    role,
                    password_stdin,
                },
        } => serve::create_user(config, &email, &role, password_stdin).await,
        Command::Openapi { .. } => Ok(()),
    }
}
