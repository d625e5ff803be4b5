//! The `backup.verify` handler: restore a stored backup into a scratch
//! database (`CREATE DATABASE` + `pg_restore` on PostgreSQL, a temporary
//! file on SQLite), compare its row counts and migration version with the
//! manifest, record the outcome, and drop the scratch copy whatever happened.
//!
//! An encrypted backup restores only where the workers hold an identity
//! (`backups.identity_file`); elsewhere its checksum is checked and the
//! outcome is `checksum_only` (`kiln backup verify --identity` restores it
//! from an operator's machine).

use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    BackupStatus, BackupVerifyV1, VerifyStatus,
    archive::read_identities,
    dump::{self, PgTarget, quote_ident},
    manifest::{self, Manifest},
    repo::{self, BackupRow},
    restore::{self, Identities, Input, RestoreError},
    run::{notify_staff, prune_job},
    scratch_dir,
};
use crate::{
    context::{AppContext, JobCtx},
    db::Db,
    job::{Classify, JobError},
    webhooks::EventType,
};

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Restored and matched.
    Passed,
    /// Only the checksum could be checked, and it matched.
    ChecksumOnly,
    /// The backup is at fault: why.
    Failed(String),
}

/// Runs `backup.verify`.
pub async fn run(ctx: &JobCtx, job: BackupVerifyV1) -> Result<Value, JobError> {
    let app = &ctx.app;
    let row = repo::get(&app.db, job.backup_id)
        .await
        .retry()?
        .ok_or_else(|| JobError::Abort("the backup was deleted before its verification".into()))?;
    if row.status != BackupStatus::Succeeded {
        return Err(JobError::Abort(format!(
            "only a stored backup can be verified; this one is {}",
            row.status
        )));
    }
    let location = row
        .location
        .clone()
        .ok_or_else(|| JobError::Abort("the backup has no stored object".into()))?;
    let identities: Identities = match (&app.config.backups.identity_file, row.encrypted) {
        (Some(path), true) => Arc::new(read_identities(path).abort()?),
        _ => Arc::new(Vec::new()),
    };
    let (status, error) = verify_and_record(app, &row, location, identities)
        .await
        .retry()?;
    let error = error.as_deref();
    let data = json!({
        "backup_id": row.id,
        "schedule_id": row.schedule_id,
        "verify_status": status.as_str(),
        "error": error,
    });
    if status == VerifyStatus::Failed {
        app.metrics.record_verify_failure();
        tracing::error!(backup_id = %row.id, error, "backup verification failed");
        notify_staff(
            app,
            EventType::BackupVerifyFailed,
            &format!("backup:{}:verify_failed", row.id),
            &data,
        )
        .await;
    }
    if let Some(schedule_id) = row.schedule_id
        && let Err(e) = app.ledger.enqueue(prune_job(schedule_id, row.id)).await
    {
        tracing::warn!(backup_id = %row.id, error = %e, "could not queue the schedule's retention");
    }
    Ok(data)
}

/// Verifies the stored backup `row` (its dump at `key`) against its manifest
/// and records the outcome on the row: the status, and why it failed. `Err`
/// when the machinery failed (storage, the database server, a missing tool):
/// nothing is recorded then.
pub async fn verify_and_record(
    app: &AppContext,
    row: &BackupRow,
    key: String,
    identities: Identities,
) -> anyhow::Result<(VerifyStatus, Option<String>)> {
    let input = Input::Stored {
        storage: app.storage.clone(),
        key,
    };
    let outcome = match verify(app, &input, identities, row.sha256.clone()).await {
        Ok(o) => o,
        Err(e) if e.is_backup_fault() => Outcome::Failed(e.to_string()),
        Err(e) => return Err(e.into()),
    };
    let (status, error) = match outcome {
        Outcome::Passed => (VerifyStatus::Passed, None),
        Outcome::ChecksumOnly => (VerifyStatus::ChecksumOnly, None),
        Outcome::Failed(why) => (VerifyStatus::Failed, Some(why)),
    };
    repo::record_verify(&app.db, row.id, status, error.as_deref(), Utc::now()).await?;
    Ok((status, error))
}

/// Verifies one stored backup against its manifest. `Err` for failures of
/// the machinery (storage, the database server, a missing tool) and for the
/// backup's own faults ([`RestoreError::is_backup_fault`]).
pub async fn verify(
    app: &AppContext,
    input: &Input,
    identities: Identities,
    expected: Option<String>,
) -> Result<Outcome, RestoreError> {
    let Some(manifest) = input.manifest().await? else {
        return Ok(Outcome::Failed(
            "the manifest beside the dump is missing".into(),
        ));
    };
    let expected = expected.or_else(|| Some(manifest.sha256.clone()));
    if expected.as_deref() != Some(manifest.sha256.as_str()) {
        return Ok(Outcome::Failed(
            "the manifest's checksum is not the one the backup recorded".into(),
        ));
    }
    let encrypted = manifest.encoding.contains("age");
    if encrypted && identities.is_empty() {
        restore::check_checksum_only(input, expected).await?;
        return Ok(Outcome::ChecksumOnly);
    }
    let kind = manifest
        .database_kind()
        .map_err(|e| RestoreError::Other(anyhow::anyhow!(e)))?;
    if kind != app.db.kind() {
        return Ok(Outcome::Failed(format!(
            "a {} backup cannot be verified on a {} server",
            manifest.database,
            manifest::database_name(app.db.kind())
        )));
    }
    let contents = match &app.db {
        Db::Postgres(pool) => scratch_postgres(app, pool, input, identities, expected).await?,
        Db::Sqlite(_) => {
            let tmp =
                scratch_dir(&app.config, "verify-").map_err(|e| RestoreError::Other(e.into()))?;
            let (_, contents) =
                restore::sqlite_file(input, identities, expected, &tmp.path().join("kiln.db"))
                    .await?;
            contents
        }
    };
    Ok(compare(&manifest, &contents))
}

fn compare(manifest: &Manifest, contents: &dump::Contents) -> Outcome {
    let diff = manifest::differences(manifest, &contents.tables, contents.migration_version);
    if diff.is_empty() {
        Outcome::Passed
    } else {
        Outcome::Failed(format!(
            "the restored database differs from the manifest: {}",
            diff.join("; ")
        ))
    }
}

/// Restores into a fresh scratch database on the same server, reads its
/// contents, and drops it whatever happened.
async fn scratch_postgres(
    app: &AppContext,
    pool: &sqlx::PgPool,
    input: &Input,
    identities: Identities,
    expected: Option<String>,
) -> Result<dump::Contents, RestoreError> {
    let other = |e: anyhow::Error| RestoreError::Other(e);
    let target = PgTarget::parse(&app.config.database_url()).map_err(other)?;
    let major = dump::server_major(pool)
        .await
        .map_err(|e| other(e.into()))?;
    let tools = dump::find_pg_tools(&app.config.backups, major)
        .await
        .map_err(other)?;
    let name = format!("kiln_verify_{}", Uuid::now_v7().simple());
    let scratch = target.with_database(&name).map_err(other)?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {}",
        quote_ident(&name)
    )))
    .execute(pool)
    .await
    .map_err(|e| other(anyhow::anyhow!("create the scratch database {name}: {e}")))?;
    let restored = async {
        restore::pg_restore(&tools, &scratch, input, identities, expected, false).await?;
        restore::pg_contents_of(&scratch).await
    }
    .await;
    let drop_sql = format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(&name)
    );
    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(drop_sql))
        .execute(pool)
        .await
    {
        tracing::error!(database = name, error = %e, "could not drop the scratch database of a verification");
    }
    restored
}
