//! Asking for a backup ([`enqueue`]: a `backups` row and its `backup.run`
//! job in one transaction) and the `backup.run` handler ([`run`]).

use std::{collections::BTreeMap, io::Read, time::Instant};

use chrono::Utc;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio_util::io::SyncIoBridge;
use uuid::Uuid;

use super::{
    BackupPruneV1, BackupRunV1, BackupStatus, BackupVerifyV1, Trigger,
    archive::{Sealed, seal},
    dump::{self, Contents, PgSnapshot, PgTarget},
    dump_key, manifest, manifest_key,
    repo::{self, BackupRow},
    scratch_dir,
};
use crate::{
    JobRun, JobStatus,
    context::{AppContext, JobCtx},
    db::{Db, users},
    job::{Classify, Job, JobError},
    ledger::{Enqueued, LedgerError, NewJob},
    storage::{Storage, StorageError},
    webhooks::{EventType, events},
};

/// What an operator or a schedule asks for.
#[derive(Debug, Clone)]
pub struct Request {
    /// Manual or scheduled.
    pub trigger: Trigger,
    /// The schedule, for a scheduled backup.
    pub schedule_id: Option<Uuid>,
    /// Who asks: a user id, or `system` for a schedule.
    pub requested_by: String,
    /// Encrypt to `backups.recipients`.
    pub encrypted: bool,
    /// Makes the request idempotent (a schedule's `schedule:{id}:{tick}`).
    pub idempotency_key: Option<String>,
}

/// Why a backup could not be asked for.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Encryption asked for, and no recipients are configured.
    #[error(
        "an encrypted backup needs age recipients: set backups.recipients (see docs/backups.md)"
    )]
    NoRecipients,
    /// The ledger or database failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl From<sqlx::Error> for RequestError {
    fn from(e: sqlx::Error) -> Self {
        RequestError::Ledger(e.into())
    }
}

/// A backup asked for.
#[derive(Debug, Clone)]
pub struct Requested {
    /// Its row.
    pub backup: BackupRow,
    /// False when the idempotency key named an earlier request.
    pub created: bool,
}

/// Writes a `queued` backup and its `backup.run` job in one transaction and
/// hands the job to its queue. The same idempotency key answers the backup
/// it made before.
pub async fn enqueue(app: &AppContext, req: &Request) -> Result<Requested, RequestError> {
    if req.encrypted && app.config.backups.recipients.is_empty() {
        return Err(RequestError::NoRecipients);
    }
    let id = Uuid::now_v7();
    let mut tx = app.db.begin().await?;
    let job = NewJob {
        idempotency_key: req.idempotency_key.clone(),
        ..NewJob::new(req.requested_by.clone(), BackupRunV1 { backup_id: id })
    };
    let out = app.ledger.enqueue_in_tx(&mut tx, job).await?;
    let job = match &out {
        Enqueued::Created(job) => job.clone(),
        Enqueued::Existing(job) => {
            drop(tx);
            let earlier = BackupRunV1::from_payload(job.payload.clone())
                .map_err(|e| LedgerError::Corrupt(e.to_string()))?;
            let backup = repo::get(&app.db, earlier.backup_id)
                .await?
                .ok_or_else(|| LedgerError::Conflict("the earlier backup was deleted".into()))?;
            return Ok(Requested {
                backup,
                created: false,
            });
        }
    };
    let backup = repo::insert(
        &mut tx,
        &repo::NewBackup {
            id,
            trigger: req.trigger,
            schedule_id: req.schedule_id,
            job_id: job.id,
            requested_by: &req.requested_by,
            database_kind: manifest::database_name(app.db.kind()),
            encrypted: req.encrypted,
            now: job.created_at,
        },
    )
    .await?;
    tx.commit().await?;
    if let Err(e) = app.ledger.after_commit(&out).await {
        app.ledger.forget_undelivered(job.id).await;
        if let Err(db) = repo::delete(&app.db, id).await {
            tracing::warn!(backup_id = %id, error = %db, "could not remove an undelivered backup");
        }
        return Err(e.into());
    }
    Ok(Requested {
        backup,
        created: true,
    })
}

/// Runs `backup.run`.
pub async fn run(ctx: &JobCtx, job: BackupRunV1) -> Result<Value, JobError> {
    let app = &ctx.app;
    let row = repo::get(&app.db, job.backup_id)
        .await
        .retry()?
        .ok_or_else(|| JobError::Abort("the backup was deleted before it ran".into()))?;
    match row.status {
        BackupStatus::Succeeded => return Ok(ctx.repeated("succeeded")),
        BackupStatus::Failed => {
            return Err(JobError::Abort(format!(
                "the backup already failed: {}",
                row.error.as_deref().unwrap_or("no reason recorded")
            )));
        }
        BackupStatus::Queued | BackupStatus::Running => {}
    }
    let recipients = if row.encrypted {
        let r = app
            .config
            .backups
            .parsed_recipients()
            .map_err(JobError::Abort)?;
        if r.is_empty() {
            return Err(JobError::Abort(RequestError::NoRecipients.to_string()));
        }
        r
    } else {
        Vec::new()
    };
    if !repo::start(&app.db, row.id, ctx.attempt_token(), Utc::now())
        .await
        .retry()?
    {
        return Ok(ctx.repeated("finished"));
    }
    let key = dump_key(row.id, row.created_at, row.encrypted);
    let schedule = schedule_label(row.schedule_id);
    let started = Instant::now();
    let started_at = Utc::now();
    // An earlier attempt of this backup may have left its objects behind.
    remove_objects(&app.storage, &key).await;
    let made = match make(app, &key, recipients.clone()).await {
        Ok(made) => made,
        Err(e) => {
            remove_objects(&app.storage, &key).await;
            if let Err(db) = repo::note_error(&app.db, row.id, &e.to_string(), Utc::now()).await {
                tracing::warn!(backup_id = %row.id, error = %db, "could not note the backup's error");
            }
            app.metrics
                .record_backup(&schedule, "failed", started.elapsed(), None);
            return Err(e);
        }
    };
    let manifest = manifest_of(
        row.id,
        row.trigger,
        row.schedule_id,
        &app.db,
        &key,
        &recipients,
        &made,
        started_at,
    );
    let finished_at = manifest.finished_at;
    let stored = async {
        let json = serde_json::to_vec_pretty(&manifest).retry()?;
        app.storage
            .put(&manifest_key(&key), json.into())
            .await
            .retry()?;
        repo::succeed(
            &app.db,
            row.id,
            &repo::Stored {
                location: &key,
                size_bytes: made.sealed.stored_bytes,
                source_bytes: made.sealed.source_bytes,
                sha256: &made.sealed.sha256,
                now: finished_at,
            },
        )
        .await
        .retry()
    }
    .await;
    match stored {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(backup_id = %row.id, "the backup was deleted or finished while it ran; its objects are removed");
            remove_objects(&app.storage, &key).await;
            return Ok(ctx.repeated("finished"));
        }
        Err(e) => {
            remove_objects(&app.storage, &key).await;
            app.metrics
                .record_backup(&schedule, "failed", started.elapsed(), None);
            return Err(e);
        }
    }
    app.metrics.record_backup(
        &schedule,
        "succeeded",
        started.elapsed(),
        Some(made.sealed.stored_bytes),
    );
    tracing::info!(
        backup_id = %row.id,
        key,
        stored_bytes = made.sealed.stored_bytes,
        source_bytes = made.sealed.source_bytes,
        seconds = started.elapsed().as_secs_f64(),
        "backup stored"
    );
    follow_up(app, &row).await;
    let data = json!({
        "backup_id": row.id,
        "schedule_id": row.schedule_id,
        "location": key,
        "size_bytes": made.sealed.stored_bytes,
        "sha256": made.sealed.sha256,
        "encrypted": row.encrypted,
    });
    notify_staff(
        app,
        EventType::BackupSucceeded,
        &format!("backup:{}:succeeded", row.id),
        &data,
    )
    .await;
    Ok(data)
}

/// What `make` produced.
struct Made {
    sealed: Sealed,
    contents: Contents,
    media: BTreeMap<String, u64>,
}

async fn make(
    app: &AppContext,
    key: &str,
    recipients: Vec<age::x25519::Recipient>,
) -> Result<Made, JobError> {
    make_of(app, &app.db, &app.config.database_url(), key, recipients).await
}

/// Dumps the database behind `db` (whose URL is `url`) to `key`.
async fn make_of(
    app: &AppContext,
    db: &Db,
    url: &str,
    key: &str,
    recipients: Vec<age::x25519::Recipient>,
) -> Result<Made, JobError> {
    match db {
        Db::Postgres(pool) => make_postgres(app, pool, url, key, recipients).await,
        Db::Sqlite(pool) => make_sqlite(app, pool, key, recipients).await,
    }
}

/// The backup `kiln backup restore` takes of its target before it restores:
/// stored with its manifest like any backup (encrypted when recipients are
/// configured), but without a `backups` row, since the restore replaces
/// that table. Returns the dump's object key.
pub async fn safety_backup(app: &AppContext, db: &Db, url: &str) -> anyhow::Result<String> {
    let id = Uuid::now_v7();
    let started_at = Utc::now();
    let recipients = app
        .config
        .backups
        .parsed_recipients()
        .map_err(anyhow::Error::msg)?;
    let key = dump_key(id, started_at, !recipients.is_empty());
    let made = make_of(app, db, url, &key, recipients.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let manifest = manifest_of(
        id,
        Trigger::Manual,
        None,
        db,
        &key,
        &recipients,
        &made,
        started_at,
    );
    app.storage
        .put(
            &manifest_key(&key),
            serde_json::to_vec_pretty(&manifest)?.into(),
        )
        .await?;
    Ok(key)
}

#[allow(clippy::too_many_arguments)]
fn manifest_of(
    id: Uuid,
    trigger: Trigger,
    schedule_id: Option<Uuid>,
    db: &Db,
    key: &str,
    recipients: &[age::x25519::Recipient],
    made: &Made,
    started_at: chrono::DateTime<Utc>,
) -> manifest::Manifest {
    manifest::Manifest {
        format: manifest::FORMAT.to_owned(),
        id,
        trigger,
        schedule_id,
        database: manifest::database_name(db.kind()).to_owned(),
        encoding: if recipients.is_empty() {
            "zstd"
        } else {
            "zstd+age"
        }
        .to_owned(),
        recipients: recipients.iter().map(ToString::to_string).collect(),
        object_key: key.to_owned(),
        stored_bytes: made.sealed.stored_bytes,
        source_bytes: made.sealed.source_bytes,
        sha256: made.sealed.sha256.clone(),
        server_version: made.contents.server_version.clone(),
        kiln_version: env!("CARGO_PKG_VERSION").to_owned(),
        migration_version: made.contents.migration_version,
        tables: made.contents.tables.clone(),
        media_objects: made.media.clone(),
        started_at,
        finished_at: Utc::now(),
    }
}

async fn make_postgres(
    app: &AppContext,
    pool: &sqlx::PgPool,
    url: &str,
    key: &str,
    recipients: Vec<age::x25519::Recipient>,
) -> Result<Made, JobError> {
    let target = PgTarget::parse(url).abort()?;
    let major = dump::server_major(pool).await.retry()?;
    let tools = dump::find_pg_tools(&app.config.backups, major)
        .await
        .abort()?;
    let snapshot = PgSnapshot::take(pool).await.retry()?;
    let made = async {
        let media = media_objects(&app.storage).await?;
        let mut child = dump::pg_dump(&tools, &target, &snapshot.id).map_err(|e| {
            JobError::Retry(anyhow::anyhow!("start {}: {e}", tools.pg_dump.display()))
        })?;
        let stderr = dump::collect_stderr(&mut child);
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| JobError::Retry(anyhow::anyhow!("pg_dump has no stdout")))?;
        let sealed = seal_upload(&app.storage, key, SyncIoBridge::new(stdout), recipients).await;
        let status = child.wait().await;
        let stderr = stderr.await.unwrap_or_default();
        let pending = sealed?;
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                pending.abort().await;
                return Err(JobError::Retry(anyhow::anyhow!(
                    "pg_dump exited with {s}: {}",
                    if stderr.is_empty() {
                        "no message"
                    } else {
                        &stderr
                    }
                )));
            }
            Err(e) => {
                pending.abort().await;
                return Err(JobError::Retry(anyhow::anyhow!("wait for pg_dump: {e}")));
            }
        }
        let sealed = pending.complete().await?;
        Ok(Made {
            sealed,
            contents: snapshot.contents.clone(),
            media,
        })
    }
    .await;
    snapshot.release().await;
    made
}

async fn make_sqlite(
    app: &AppContext,
    pool: &sqlx::SqlitePool,
    key: &str,
    recipients: Vec<age::x25519::Recipient>,
) -> Result<Made, JobError> {
    let tmp = scratch_dir(&app.config, "backup-").retry()?;
    let copy = tmp.path().join("kiln.db");
    dump::sqlite_copy(pool, &copy).await.retry()?;
    let contents = {
        let mut conn = dump::open_sqlite_file(&copy).await.retry()?;
        let contents = dump::sqlite_contents(&mut conn).await.retry()?;
        use sqlx::Connection as _;
        let _ = conn.close().await;
        contents
    };
    let media = media_objects(&app.storage).await?;
    let file = std::fs::File::open(&copy).retry()?;
    let pending = seal_upload(&app.storage, key, file, recipients).await?;
    let sealed = pending.complete().await?;
    drop(tmp);
    Ok(Made {
        sealed,
        contents,
        media,
    })
}

/// A sealed upload not yet completed: the caller first checks that its
/// source ended well (pg_dump's exit status).
struct Pending {
    sealed: Sealed,
    writer: object_store::buffered::BufWriter,
}

impl Pending {
    async fn complete(mut self) -> Result<Sealed, JobError> {
        if let Err(e) = self.writer.shutdown().await {
            let _ = self.writer.abort().await;
            return Err(JobError::Retry(anyhow::anyhow!(
                "complete the backup upload: {e}"
            )));
        }
        Ok(self.sealed)
    }

    async fn abort(mut self) {
        if let Err(e) = self.writer.abort().await {
            tracing::warn!(error = %e, "could not abort a backup upload");
        }
    }
}

/// Streams `source` through [`seal`] into an upload at `key` on a blocking
/// thread.
async fn seal_upload<R: Read + Send + 'static>(
    storage: &Storage,
    key: &str,
    source: R,
    recipients: Vec<age::x25519::Recipient>,
) -> Result<Pending, JobError> {
    let upload = SyncIoBridge::new(storage.writer(key));
    let (sealed, upload) = tokio::task::spawn_blocking(move || {
        let mut upload = upload;
        let sealed = seal(source, &mut upload, &recipients);
        (sealed, upload)
    })
    .await
    .map_err(|e| JobError::Retry(anyhow::anyhow!("the backup stream panicked: {e}")))?;
    let mut writer = upload.into_inner();
    match sealed {
        Ok(sealed) => Ok(Pending { sealed, writer }),
        Err(e) => {
            let _ = writer.abort().await;
            Err(JobError::Retry(anyhow::anyhow!(
                "stream the backup to storage: {e}"
            )))
        }
    }
}

/// Every media object in storage with its size.
async fn media_objects(storage: &Storage) -> Result<BTreeMap<String, u64>, JobError> {
    Ok(storage.list("media").await.retry()?.into_iter().collect())
}

/// Removes a backup's dump and manifest; failures are only logged.
pub async fn remove_objects(storage: &Storage, key: &str) {
    if let Err(e) = delete_objects(storage, key).await {
        tracing::warn!(key, error = %e, "could not remove a backup's objects");
    }
}

/// Deletes a backup's dump and manifest (both are tried); missing objects
/// are fine.
async fn delete_objects(storage: &Storage, key: &str) -> Result<(), StorageError> {
    let dump = storage.delete(key).await;
    let manifest = storage.delete(&manifest_key(key)).await;
    dump.and(manifest)
}

/// Deletes a backup: its objects first, then its row, so a failure leaves
/// the row to try again. False when the row was already gone.
pub async fn delete_backup(app: &AppContext, row: &BackupRow) -> anyhow::Result<bool> {
    if let Some(key) = &row.location {
        delete_objects(&app.storage, key).await?;
    }
    Ok(repo::delete(&app.db, row.id).await?)
}

/// The metrics label of a backup's schedule.
fn schedule_label(schedule_id: Option<Uuid>) -> String {
    schedule_id.map_or_else(|| "manual".to_owned(), |s| s.to_string())
}

/// After a stored backup: its verification, or (without one) its schedule's
/// retention. Failures are logged; the backup stands.
async fn follow_up(app: &AppContext, row: &BackupRow) {
    let job = if app.config.backups.verify {
        NewJob {
            idempotency_key: Some(format!("backup:{}:verify", row.id)),
            ..NewJob::new("system", BackupVerifyV1 { backup_id: row.id })
        }
    } else if let Some(schedule_id) = row.schedule_id {
        prune_job(schedule_id, row.id)
    } else {
        return;
    };
    if let Err(e) = app.ledger.enqueue(job).await {
        tracing::warn!(backup_id = %row.id, error = %e, "could not queue the backup's follow-up job");
    }
}

/// The `backup.prune` job that follows backup `after` of a schedule.
pub(crate) fn prune_job(schedule_id: Uuid, after: Uuid) -> NewJob {
    NewJob {
        idempotency_key: Some(format!("backup:{after}:prune")),
        ..NewJob::new("system", BackupPruneV1 { schedule_id })
    }
}

/// Sends a system event to the endpoints of every operator and admin
/// subscribed to it; failures are logged.
pub(crate) async fn notify_staff(app: &AppContext, kind: EventType, key: &str, data: &Value) {
    let staff = match users::staff_ids(&app.db).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(event = %kind, error = %e, "could not find the operators to notify");
            return;
        }
    };
    let event = events::Event {
        kind: kind.as_str(),
        key: Some(key.to_owned()),
        data: data.clone(),
    };
    for user in staff {
        if let Err(e) = events::emit(app, user, &event, None).await {
            tracing::warn!(event = %kind, user_id = %user, error = %e, "could not queue a backup event");
        }
    }
}

/// Marks the backup of a `backup.run` job that ended `failed` or `dead`
/// without its handler recording it failed, and tells the operators.
pub async fn close_unfinished(
    app: &AppContext,
    job: &JobRun,
    status: JobStatus,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    if !matches!(status, JobStatus::Failed | JobStatus::Dead) {
        return Ok(());
    }
    let error = error.unwrap_or("the backup job ended without a result");
    for id in repo::fail_job(&app.db, job.id, error, Utc::now()).await? {
        let data = json!({ "backup_id": id, "job_id": job.id, "error": error });
        notify_staff(
            app,
            EventType::BackupFailed,
            &format!("backup:{id}:failed"),
            &data,
        )
        .await;
    }
    Ok(())
}
