//! Repository for backups (`backups`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{BackupStatus, Trigger, VerifyStatus};
use crate::{
    db::{Db, DbTx},
    on_db, on_tx,
};

/// A `backups` row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BackupRow {
    pub id: Uuid,
    #[sqlx(try_from = "String")]
    pub trigger: Trigger,
    pub schedule_id: Option<Uuid>,
    pub job_id: Option<Uuid>,
    pub requested_by: String,
    #[sqlx(try_from = "String")]
    pub status: BackupStatus,
    pub database_kind: String,
    pub encrypted: bool,
    pub keep: bool,
    pub location: Option<String>,
    pub size_bytes: Option<i64>,
    pub source_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub attempts: i32,
    pub error: Option<String>,
    pub verify_status: Option<String>,
    pub verify_error: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl BackupRow {
    /// The verify outcome, if there is one this version knows.
    pub fn verify(&self) -> Option<VerifyStatus> {
        self.verify_status.as_deref().and_then(|s| s.parse().ok())
    }
}

const COLUMNS: &str = "id, trigger, schedule_id, job_id, requested_by, status, database_kind, \
                       encrypted, keep, location, size_bytes, source_bytes, sha256, attempts, \
                       error, verify_status, verify_error, verified_at, created_at, started_at, \
                       finished_at, updated_at";

/// Values of a new backup.
#[derive(Debug, Clone)]
pub struct NewBackup<'a> {
    pub id: Uuid,
    pub trigger: Trigger,
    pub schedule_id: Option<Uuid>,
    pub job_id: Uuid,
    pub requested_by: &'a str,
    pub database_kind: &'a str,
    pub encrypted: bool,
    pub now: DateTime<Utc>,
}

/// Inserts a `queued` backup. Manual backups are kept until deleted; a
/// schedule's are its retention's to prune.
pub async fn insert(tx: &mut DbTx, b: &NewBackup<'_>) -> Result<BackupRow, sqlx::Error> {
    let sql = format!(
        "INSERT INTO backups (id, trigger, schedule_id, job_id, requested_by, status, \
         database_kind, encrypted, keep, attempts, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, 0, $9, $9) RETURNING {COLUMNS}"
    );
    on_tx!(tx, t => sqlx::query_as::<_, BackupRow>(sqlx::AssertSqlSafe(sql))
        .bind(b.id)
        .bind(b.trigger.as_str())
        .bind(b.schedule_id)
        .bind(b.job_id)
        .bind(b.requested_by)
        .bind(b.database_kind)
        .bind(b.encrypted)
        .bind(b.trigger == Trigger::Manual)
        .bind(b.now)
        .fetch_one(&mut **t)
        .await)
}

/// One backup.
pub async fn get(db: &Db, id: Uuid) -> Result<Option<BackupRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM backups WHERE id = $1");
    on_db!(db, p => sqlx::query_as::<_, BackupRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// A page of backups, newest first, after the cursor `before` (an id).
pub async fn list(
    db: &Db,
    before: Option<Uuid>,
    schedule_id: Option<Uuid>,
    limit: u32,
) -> Result<Vec<BackupRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM backups WHERE ($1 IS NULL OR id < $1) \
         AND ($2 IS NULL OR schedule_id = $2) ORDER BY id DESC LIMIT $3"
    );
    on_db!(db, p => sqlx::query_as::<_, BackupRow>(sqlx::AssertSqlSafe(sql))
        .bind(before)
        .bind(schedule_id)
        .bind(i64::from(limit))
        .fetch_all(p)
        .await)
}

/// Marks a queued (or interrupted) backup `running` for attempt `attempt`.
/// False when it already finished.
pub async fn start(
    db: &Db,
    id: Uuid,
    attempt: i32,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE backups SET status = 'running', attempts = $2, error = NULL, \
               started_at = $3, updated_at = $3 \
               WHERE id = $1 AND status IN ('queued', 'running')";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(attempt)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Notes why an attempt failed; the row stays `running` while its job retries.
pub async fn note_error(
    db: &Db,
    id: Uuid,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE backups SET error = $2, updated_at = $3 WHERE id = $1 AND status = 'running'";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(error)
        .bind(now)
        .execute(p)
        .await
        .map(|_| ()))
}

/// What a successful `backup.run` stored.
#[derive(Debug, Clone)]
pub struct Stored<'a> {
    pub location: &'a str,
    pub size_bytes: u64,
    pub source_bytes: u64,
    pub sha256: &'a str,
    pub now: DateTime<Utc>,
}

/// Marks a running backup `succeeded` with what it stored. False when it is
/// no longer running (deleted, or finished by another attempt).
pub async fn succeed(db: &Db, id: Uuid, s: &Stored<'_>) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE backups SET status = 'succeeded', location = $2, size_bytes = $3, \
               source_bytes = $4, sha256 = $5, error = NULL, finished_at = $6, updated_at = $6 \
               WHERE id = $1 AND status = 'running'";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(s.location)
        .bind(i64::try_from(s.size_bytes).unwrap_or(i64::MAX))
        .bind(i64::try_from(s.source_bytes).unwrap_or(i64::MAX))
        .bind(s.sha256)
        .bind(s.now)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Marks an unfinished backup `failed`. False when it had already finished.
pub async fn fail(db: &Db, id: Uuid, error: &str, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE backups SET status = 'failed', error = $2, finished_at = $3, \
               updated_at = $3 WHERE id = $1 AND status IN ('queued', 'running')";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(error)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Marks the backups of a `backup.run` job that ended without its handler
/// recording it `failed`.
pub async fn fail_job(
    db: &Db,
    job_id: Uuid,
    error: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let sql = "UPDATE backups SET status = 'failed', error = $2, finished_at = $3, \
               updated_at = $3 WHERE job_id = $1 AND status IN ('queued', 'running') RETURNING id";
    on_db!(db, p => sqlx::query_scalar::<_, Uuid>(sql)
        .bind(job_id)
        .bind(error)
        .bind(now)
        .fetch_all(p)
        .await)
}

/// Records a verification's outcome.
pub async fn record_verify(
    db: &Db,
    id: Uuid,
    status: VerifyStatus,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let verified_at = (status == VerifyStatus::Passed).then_some(now);
    let sql = "UPDATE backups SET verify_status = $2, verify_error = $3, \
               verified_at = COALESCE($4, verified_at), updated_at = $5 \
               WHERE id = $1 AND status = 'succeeded'";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(status.as_str())
        .bind(error)
        .bind(verified_at)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// The succeeded backups of a schedule, newest first.
pub async fn succeeded_for_schedule(
    db: &Db,
    schedule_id: Uuid,
) -> Result<Vec<BackupRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM backups WHERE schedule_id = $1 AND status = 'succeeded' \
         ORDER BY id DESC"
    );
    on_db!(db, p => sqlx::query_as::<_, BackupRow>(sqlx::AssertSqlSafe(sql))
        .bind(schedule_id)
        .fetch_all(p)
        .await)
}

/// The newest backup of a schedule (for the schedules' answers).
pub async fn latest_for_schedule(
    db: &Db,
    schedule_id: Uuid,
) -> Result<Option<BackupRow>, sqlx::Error> {
    let sql =
        format!("SELECT {COLUMNS} FROM backups WHERE schedule_id = $1 ORDER BY id DESC LIMIT 1");
    on_db!(db, p => sqlx::query_as::<_, BackupRow>(sqlx::AssertSqlSafe(sql))
        .bind(schedule_id)
        .fetch_optional(p)
        .await)
}

/// Deletes a backup's row. False when there was none.
pub async fn delete(db: &Db, id: Uuid) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query("DELETE FROM backups WHERE id = $1")
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}
