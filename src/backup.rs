//! `kiln backup run | list | verify | restore`: the operator's backup
//! commands. `run` asks the workers (it queues `backup.run` and waits);
//! `verify` and `restore` run here, where an operator's age identity is.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use kiln_jobs::{
    AppContext, Config,
    backups::{
        BackupStatus, Trigger, archive,
        repo::{self, BackupRow},
        restore::{self, Identities, Input, Plan},
        run::{self, Request},
        verify,
    },
};
use uuid::Uuid;

/// How long `kiln backup run` waits between looks at its backup.
const POLL: Duration = Duration::from_secs(1);

fn identities(identity: Option<&PathBuf>) -> anyhow::Result<Identities> {
    Ok(Arc::new(match identity {
        Some(path) => archive::read_identities(path)?,
        None => Vec::new(),
    }))
}

fn describe(b: &BackupRow) -> String {
    format!(
        "{}  {:<9}  {:<8}  {:>12}  {}  {}{}",
        b.id,
        b.status.as_str(),
        b.trigger.as_str(),
        b.size_bytes
            .map_or_else(|| "-".to_owned(), |s| s.to_string()),
        b.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
        b.verify_status.as_deref().unwrap_or("unverified"),
        b.error
            .as_deref()
            .map(|e| format!("  error: {e}"))
            .unwrap_or_default()
    )
}

/// Queues a backup and, unless `no_wait`, waits for a worker to finish it.
pub async fn run_now(
    config: Config,
    encrypted: Option<bool>,
    no_wait: bool,
    wait_secs: u64,
) -> anyhow::Result<()> {
    let app = AppContext::connect(config).await?;
    let encrypted = encrypted.unwrap_or(!app.config.backups.recipients.is_empty());
    let made = run::enqueue(
        &app,
        &Request {
            trigger: Trigger::Manual,
            schedule_id: None,
            requested_by: "cli".to_owned(),
            encrypted,
            idempotency_key: None,
        },
    )
    .await?;
    let id = made.backup.id;
    println!(
        "backup {id} queued (job {})",
        made.backup.job_id.unwrap_or_default()
    );
    if no_wait {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait_secs);
    loop {
        let row = repo::get(&app.db, id)
            .await?
            .context("the backup was deleted")?;
        match row.status {
            BackupStatus::Succeeded => {
                println!("{}", describe(&row));
                println!("stored at {}", row.location.unwrap_or_default());
                return Ok(());
            }
            BackupStatus::Failed => {
                anyhow::bail!(
                    "backup {id} failed: {}",
                    row.error.as_deref().unwrap_or("no reason recorded")
                )
            }
            BackupStatus::Queued | BackupStatus::Running => {}
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "backup {id} is still {} after {wait_secs}s; is a worker running the backups queue? \
             (`kiln serve` or `kiln worker`)",
            row.status
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Prints the newest backups.
pub async fn list(config: Config, limit: u32) -> anyhow::Result<()> {
    let app = AppContext::connect(config).await?;
    for b in repo::list(&app.db, None, None, limit).await? {
        println!("{}", describe(&b));
    }
    Ok(())
}

/// Restores a stored backup into a scratch database here and compares it
/// with its manifest; records the outcome.
pub async fn verify(config: Config, id: Uuid, identity: Option<PathBuf>) -> anyhow::Result<()> {
    let app = AppContext::connect(config).await?;
    let row = repo::get(&app.db, id).await?.context("no such backup")?;
    let key = row
        .location
        .clone()
        .filter(|_| row.status == BackupStatus::Succeeded)
        .context("the backup is not stored")?;
    let ids = identities(identity.as_ref())?;
    let (status, error) = verify::verify_and_record(&app, &row, key, ids)
        .await
        .context("could not verify")?;
    match error {
        None => {
            println!("backup {id}: {}", status.as_str());
            Ok(())
        }
        Some(why) => anyhow::bail!("backup {id} failed verification: {why}"),
    }
}

/// What `kiln backup restore` was told.
#[derive(Debug)]
pub struct RestoreArgs {
    pub source: String,
    pub target_url: Option<String>,
    pub identity: Option<PathBuf>,
    pub sha256: Option<String>,
    pub no_safety_backup: bool,
    pub yes: bool,
}

/// Restores a backup (an id, a `backups/…` object key, or a file) into the
/// configured database or `--target-url`.
pub async fn restore(config: Config, args: RestoreArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.yes,
        "a restore replaces the target database's contents: run again with --yes to go ahead"
    );
    let target_url = args
        .target_url
        .clone()
        .unwrap_or_else(|| config.database_url());
    let app = AppContext::connect(config).await?;
    let (input, expected) = if let Ok(id) = args.source.parse::<Uuid>() {
        let row = repo::get(&app.db, id).await?.context("no such backup")?;
        let key = row
            .location
            .clone()
            .filter(|_| row.status == BackupStatus::Succeeded)
            .context("the backup is not stored")?;
        (
            Input::Stored {
                storage: app.storage.clone(),
                key,
            },
            args.sha256.clone().or(row.sha256),
        )
    } else if args.source.starts_with("backups/") {
        (
            Input::Stored {
                storage: app.storage.clone(),
                key: args.source.clone(),
            },
            args.sha256.clone(),
        )
    } else {
        (
            Input::File(PathBuf::from(&args.source)),
            args.sha256.clone(),
        )
    };
    let plan = Plan {
        input,
        identities: identities(args.identity.as_ref())?,
        expected,
        target_url,
        safety_backup: !args.no_safety_backup,
    };
    let report = restore::restore(&app, &plan, |line| eprintln!("{line}")).await?;
    println!("restored {} bytes of dump", report.source_bytes);
    if let Some(key) = &report.safety_backup {
        println!("safety backup of the previous contents: {key}");
    }
    if report.differences.is_empty() {
        println!("row counts and migration version match the manifest");
    } else {
        println!("differences from the manifest:");
        for d in &report.differences {
            println!("  {d}");
        }
    }
    if !report.missing_media.is_empty() {
        println!(
            "{} media objects the backup knows are missing from storage, e.g. {}",
            report.missing_media.len(),
            report.missing_media[0]
        );
    }
    Ok(())
}
