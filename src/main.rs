//! The `kiln` binary: parse the CLI, load config, wire the libraries, run.

mod backup;
mod queue;
mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use kiln_jobs::QueueName;

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
    /// Database backups: run, list, verify, restore.
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// Queues: list them, pause and resume one, requeue its dead jobs.
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
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

#[derive(Debug, Subcommand)]
enum QueueCommand {
    /// Every queue's depth, dead jobs and state.
    List,
    /// Pause a queue: its workers, on every replica, finish what runs and
    /// start nothing new; enqueueing goes on.
    Pause {
        /// media, notifications, webhooks, reports or backups.
        queue: QueueName,
    },
    /// Resume a paused queue.
    Resume {
        /// media, notifications, webhooks, reports or backups.
        queue: QueueName,
    },
    /// List a queue's dead jobs, newest first, with their last error.
    Dead {
        /// media, notifications, webhooks, reports or backups.
        queue: QueueName,
        /// Most jobs to list (1–1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Delete every dead job of a queue (those a media item points to stay).
    PurgeDead {
        /// media, notifications, webhooks, reports or backups.
        queue: QueueName,
        /// Confirm: the jobs' ledger rows are deleted.
        #[arg(long)]
        yes: bool,
    },
    /// Queue a queue's dead jobs again, oldest first.
    RetryDead {
        /// media, notifications, webhooks, reports or backups.
        queue: QueueName,
        /// Most jobs to requeue (1–10000).
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
enum BackupCommand {
    /// Queue a backup and wait for a worker to store it.
    Run {
        /// Encrypt it (default: when backups.recipients is set).
        #[arg(long, conflicts_with = "no_encrypt")]
        encrypt: bool,
        /// Do not encrypt it.
        #[arg(long)]
        no_encrypt: bool,
        /// Return once it is queued.
        #[arg(long)]
        no_wait: bool,
        /// Seconds to wait for it (default 3600).
        #[arg(long, default_value_t = 3600)]
        wait_secs: u64,
    },
    /// List the newest backups.
    List {
        /// How many (default 20).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Restore a backup into a scratch database and compare it with its manifest.
    Verify {
        /// The backup id.
        id: uuid::Uuid,
        /// age identity file, for an encrypted backup.
        #[arg(long)]
        identity: Option<PathBuf>,
    },
    /// Restore a backup into the database (this replaces its contents).
    Restore {
        /// A backup id, a `backups/…` object key, or a downloaded file (its
        /// `<id>.manifest.json` beside it).
        source: String,
        /// The database to restore into (default: the configured one).
        #[arg(long)]
        target_url: Option<String>,
        /// age identity file, for an encrypted backup.
        #[arg(long)]
        identity: Option<PathBuf>,
        /// The SHA-256 the stored bytes must have, when no manifest is at hand.
        #[arg(long)]
        sha256: Option<String>,
        /// Skip the backup of the target taken before restoring.
        #[arg(long)]
        no_safety_backup: bool,
        /// Confirm: the target's contents are replaced.
        #[arg(long)]
        yes: bool,
    },
}

/// The `service.name` of the process's spans.
fn service_name(command: &Command) -> &'static str {
    match command {
        Command::Serve => "kiln",
        Command::Api => "kiln-api",
        Command::Worker => "kiln-worker",
        _ => "kiln-cli",
    }
}

fn main() -> anyhow::Result<()> {
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
    kiln_jobs::health::stats::set_build_info(kiln_jobs::health::stats::BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        git_commit: env!("KILN_GIT_COMMIT").to_owned(),
        build_time: env!("KILN_BUILD_TIME").to_owned(),
        rustc: env!("KILN_RUSTC").to_owned(),
    });
    let config = kiln_jobs::Config::load(cli.config.as_deref())?;
    let command = cli.command.unwrap_or(Command::Serve);
    // Before the runtime: the OTLP exporter's blocking client may not be
    // built inside one (see `telemetry::provider`).
    let telemetry = kiln_jobs::telemetry::init(&config.telemetry, service_name(&command))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(run(command, config));
    drop(runtime);
    telemetry.shutdown();
    outcome
}

async fn run(command: Command, config: kiln_jobs::Config) -> anyhow::Result<()> {
    match command {
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
        Command::Queue { command } => match command {
            QueueCommand::List => queue::list(config).await,
            QueueCommand::Pause { queue: q } => queue::pause(config, q).await,
            QueueCommand::Resume { queue: q } => queue::resume(config, q).await,
            QueueCommand::Dead { queue: q, limit } => queue::dead(config, q, limit).await,
            QueueCommand::PurgeDead { queue: q, yes } => queue::purge_dead(config, q, yes).await,
            QueueCommand::RetryDead { queue: q, limit } => {
                queue::retry_dead(config, q, limit).await
            }
        },
        Command::Backup { command } => match command {
            BackupCommand::Run {
                encrypt,
                no_encrypt,
                no_wait,
                wait_secs,
            } => {
                let encrypted = if encrypt {
                    Some(true)
                } else if no_encrypt {
                    Some(false)
                } else {
                    None
                };
                backup::run_now(config, encrypted, no_wait, wait_secs).await
            }
            BackupCommand::List { limit } => backup::list(config, limit).await,
            BackupCommand::Verify { id, identity } => backup::verify(config, id, identity).await,
            BackupCommand::Restore {
                source,
                target_url,
                identity,
                sha256,
                no_safety_backup,
                yes,
            } => {
                backup::restore(
                    config,
                    backup::RestoreArgs {
                        source,
                        target_url,
                        identity,
                        sha256,
                        no_safety_backup,
                        yes,
                    },
                )
                .await
            }
        },
        Command::Openapi { .. } => Ok(()),
    }
}
