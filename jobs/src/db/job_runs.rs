//! Repository for the job ledger (`job_runs`). One SQL text serves both dialects.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use uuid::Uuid;

use crate::{
    db::{Db, DbTx, Exec},
    on_db, on_exec, on_tx,
};

/// A `job_runs` row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRunRow {
    pub id: Uuid,
    pub kind: String,
    pub queue: String,
    pub status: String,
    pub owner: String,
    pub idempotency_key: Option<String>,
    pub payload: Json<serde_json::Value>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub progress: i32,
    pub result: Option<Json<serde_json::Value>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub next_run_at: Option<DateTime<Utc>>,
    pub delivery_id: Option<Uuid>,
    /// The attempts before the current one (see [`AttemptRecord`]).
    pub attempt_log: Option<Json<Vec<AttemptRecord>>>,
    /// The W3C trace context of the span that enqueued the job.
    pub traceparent: Option<String>,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptOutcome {
    /// It failed and a retry was scheduled.
    Retried,
    /// Its worker stopped renewing it; another delivery took over.
    Lost,
    /// It runs now.
    Running,
    /// It succeeded.
    Succeeded,
    /// It failed permanently.
    Failed,
    /// It was the last attempt allowed, and failed.
    Dead,
    /// The job was cancelled while it ran.
    Cancelled,
}

/// One attempt: the `attempt_log` holds those before the current one, oldest
/// first (attempt numbers start over when an operator retries a finished job).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// Which attempt, from 1.
    pub attempt: u32,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended; `None` while it runs.
    pub finished_at: Option<DateTime<Utc>>,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// Why it failed.
    pub error: Option<String>,
}

macro_rules! job_run_columns {
    () => {
        "id, kind, queue, status, owner, idempotency_key, payload, attempts, \
     max_attempts, progress, result, last_error, created_at, updated_at, started_at, \
     finished_at, next_run_at, delivery_id, attempt_log, traceparent"
    };
}

/// The SQL expression that appends one attempt to `attempt_log`: the row's
/// `attempts` and `started_at` (their values before the update) with the
/// given end time, outcome and error expressions. PostgreSQL's `jsonb` and
/// SQLite's JSON functions differ, so each dialect has its own.
macro_rules! append_attempt {
    (postgres, $finished:literal, $outcome:literal, $error:literal) => {
        concat!(
            "COALESCE(attempt_log, '[]'::jsonb) || jsonb_build_array(jsonb_build_object(\
             'attempt', attempts, 'started_at', started_at, 'finished_at', ",
            $finished,
            ", 'outcome', ",
            $outcome,
            ", 'error', ",
            $error,
            "))"
        )
    };
    (sqlite, $finished:literal, $outcome:literal, $error:literal) => {
        concat!(
            "json_insert(COALESCE(attempt_log, '[]'), '$[#]', json_object(\
             'attempt', attempts, 'started_at', started_at, 'finished_at', ",
            $finished,
            ", 'outcome', ",
            $outcome,
            ", 'error', ",
            $error,
            "))"
        )
    };
}

/// Values for a new ledger row.
#[derive(Debug, Clone)]
pub struct InsertJobRun<'a> {
    pub id: Uuid,
    pub kind: &'a str,
    pub queue: &'a str,
    pub owner: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub payload: &'a serde_json::Value,
    pub max_attempts: i32,
    pub now: DateTime<Utc>,
    pub next_run_at: Option<DateTime<Utc>>,
    /// Id of the queue message pushed with this row.
    pub delivery_id: Uuid,
    /// The enqueuing span's W3C trace context.
    pub traceparent: Option<&'a str>,
}

/// Inserts a `queued` row and returns it; `None` when the owner already has a
/// job with this idempotency key. On the pool ([`Exec::Db`]) the row commits
/// on its own, in one round trip.
pub async fn insert<'e>(
    exec: impl Into<Exec<'e>>,
    row: &InsertJobRun<'_>,
) -> Result<Option<JobRunRow>, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO job_runs (id, kind, queue, status, owner, idempotency_key, payload, \
               attempts, max_attempts, progress, created_at, updated_at, next_run_at, delivery_id, \
               traceparent) \
               VALUES ($1, $2, $3, 'queued', $4, $5, $6, 0, $7, 0, $8, $8, $9, $10, $11) \
               ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
               RETURNING ",
        job_run_columns!()
    );
    on_exec!(exec.into(), e => sqlx::query_as::<_, JobRunRow>(sql)
        .bind(row.id)
        .bind(row.kind)
        .bind(row.queue)
        .bind(row.owner)
        .bind(row.idempotency_key)
        .bind(Json(row.payload))
        .bind(row.max_attempts)
        .bind(row.now)
        .bind(row.next_run_at)
        .bind(row.delivery_id)
        .bind(row.traceparent)
        .fetch_optional(e)
        .await)
}

/// Inserts many `queued` rows and returns the ids of those inserted, in no
/// particular order; a row whose owner already has its idempotency key (in
/// the table, or earlier in `rows`) is left out. PostgreSQL takes the whole
/// batch in one statement (`unnest` of one array per column); SQLite,
/// in-process, takes one statement per row.
pub async fn insert_many<'e>(
    exec: impl Into<Exec<'e>>,
    rows: &[InsertJobRun<'_>],
) -> Result<Vec<Uuid>, sqlx::Error> {
    match exec.into() {
        Exec::Db(Db::Postgres(p)) => pg_insert_many(p, rows).await,
        Exec::Tx(DbTx::Postgres(t)) => pg_insert_many(&mut **t, rows).await,
        mut sqlite => {
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.extend(insert(sqlite.reborrow(), row).await?.map(|r| r.id));
            }
            Ok(out)
        }
    }
}

async fn pg_insert_many<'c>(
    e: impl sqlx::Executor<'c, Database = sqlx::Postgres>,
    rows: &[InsertJobRun<'_>],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let sql = "INSERT INTO job_runs (id, kind, queue, status, owner, idempotency_key, payload, \
         attempts, max_attempts, progress, created_at, updated_at, next_run_at, delivery_id, \
         traceparent) \
         SELECT id, kind, queue, 'queued', owner, key, payload::jsonb, 0, max_attempts, 0, \
                created_at, created_at, next_run_at, delivery_id, traceparent \
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                     $7::int4[], $8::timestamptz[], $9::timestamptz[], $10::uuid[], $11::text[]) \
              AS t(id, kind, queue, owner, key, payload, max_attempts, created_at, next_run_at, \
                   delivery_id, traceparent) \
         ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
         RETURNING id";
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let payloads = rows
        .iter()
        .map(|r| serde_json::to_string(r.payload))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| sqlx::Error::Encode(e.into()))?;
    sqlx::query_scalar::<_, Uuid>(sql)
        .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.kind).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.queue).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.owner).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.idempotency_key).collect::<Vec<_>>())
        .bind(payloads)
        .bind(rows.iter().map(|r| r.max_attempts).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.now).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.next_run_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.delivery_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.traceparent).collect::<Vec<_>>())
        .fetch_all(e)
        .await
}

/// The row an owner's idempotency key names.
pub async fn find_by_idempotency_key<'e>(
    exec: impl Into<Exec<'e>>,
    owner: &str,
    key: &str,
) -> Result<Option<JobRunRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        job_run_columns!(),
        " FROM job_runs WHERE owner = $1 AND idempotency_key = $2"
    );
    on_exec!(exec.into(), e => sqlx::query_as::<_, JobRunRow>(sql)
        .bind(owner)
        .bind(key)
        .fetch_optional(e)
        .await)
}

/// The rows that `(owner, idempotency key)` pairs name, in no particular order.
pub async fn find_by_idempotency_keys<'e>(
    exec: impl Into<Exec<'e>>,
    keys: &[(&str, &str)],
) -> Result<Vec<JobRunRow>, sqlx::Error> {
    match exec.into() {
        Exec::Db(Db::Postgres(p)) => pg_find_by_idempotency_keys(p, keys).await,
        Exec::Tx(DbTx::Postgres(t)) => pg_find_by_idempotency_keys(&mut **t, keys).await,
        mut sqlite => {
            let mut out = Vec::with_capacity(keys.len());
            for (owner, key) in keys {
                out.extend(find_by_idempotency_key(sqlite.reborrow(), owner, key).await?);
            }
            Ok(out)
        }
    }
}

async fn pg_find_by_idempotency_keys<'c>(
    e: impl sqlx::Executor<'c, Database = sqlx::Postgres>,
    keys: &[(&str, &str)],
) -> Result<Vec<JobRunRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        job_run_columns!(),
        " FROM job_runs WHERE (owner, idempotency_key) IN \
          (SELECT * FROM unnest($1::text[], $2::text[]))"
    );
    sqlx::query_as::<_, JobRunRow>(sql)
        .bind(keys.iter().map(|(o, _)| *o).collect::<Vec<_>>())
        .bind(keys.iter().map(|(_, k)| *k).collect::<Vec<_>>())
        .fetch_all(e)
        .await
}

/// One row by id, optionally restricted to an owner.
pub async fn get(db: &Db, id: Uuid, owner: Option<&str>) -> Result<Option<JobRunRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        job_run_columns!(),
        " FROM job_runs WHERE id = $1 AND ($2 IS NULL OR owner = $2)"
    );
    on_db!(db, p => sqlx::query_as::<_, JobRunRow>(sql)
        .bind(id)
        .bind(owner)
        .fetch_optional(p)
        .await)
}

/// One row by id inside a transaction.
pub async fn get_in_tx(tx: &mut DbTx, id: Uuid) -> Result<Option<JobRunRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        job_run_columns!(),
        " FROM job_runs WHERE id = $1"
    );
    on_tx!(tx, t => sqlx::query_as::<_, JobRunRow>(sql)
        .bind(id)
        .fetch_optional(&mut **t)
        .await)
}

/// Filters for [`list`]; each one given narrows the rows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter<'a> {
    pub owner: Option<&'a str>,
    pub status: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub queue: Option<&'a str>,
    /// Created at or after this instant.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before this instant.
    pub created_until: Option<DateTime<Utc>>,
    /// This job only.
    pub id: Option<Uuid>,
    /// The job with this idempotency key.
    pub idempotency_key: Option<&'a str>,
    /// Only rows with an id lower than this (newest first paging).
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// Rows newest first.
pub async fn list(db: &Db, f: &ListFilter<'_>) -> Result<Vec<JobRunRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        job_run_columns!(),
        " FROM job_runs \
         WHERE ($1 IS NULL OR owner = $1) AND ($2 IS NULL OR status = $2) \
           AND ($3 IS NULL OR kind = $3) AND ($4 IS NULL OR id < $4) \
           AND ($6 IS NULL OR queue = $6) AND ($7 IS NULL OR created_at >= $7) \
           AND ($8 IS NULL OR created_at < $8) AND ($9 IS NULL OR id = $9) \
           AND ($10 IS NULL OR idempotency_key = $10) \
         ORDER BY id DESC LIMIT $5"
    );
    on_db!(db, p => sqlx::query_as::<_, JobRunRow>(sql)
        .bind(f.owner)
        .bind(f.status)
        .bind(f.kind)
        .bind(f.before)
        .bind(f.limit)
        .bind(f.queue)
        .bind(f.created_from)
        .bind(f.created_until)
        .bind(f.id)
        .bind(f.idempotency_key)
        .fetch_all(p)
        .await)
}

/// The statuses a job never leaves by itself: a row in one of them may be deleted.
pub const FINISHED: [&str; 4] = ["succeeded", "failed", "dead", "cancelled"];

/// Deletes the row of a finished job that no media item points to (a media
/// item's row needs its job's). False when it is not finished, is pointed
/// to, or does not exist.
pub async fn delete_finished(db: &Db, id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM job_runs WHERE id = $1 \
               AND status IN ('succeeded', 'failed', 'dead', 'cancelled') \
               AND NOT EXISTS (SELECT 1 FROM media WHERE media.job_id = job_runs.id)";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// True when a media item points to job `id`.
pub async fn has_media(db: &Db, id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM media WHERE job_id = $1";
    on_db!(db, p => sqlx::query_scalar::<_, i64>(sql)
        .bind(id)
        .fetch_one(p)
        .await
        .map(|n| n > 0))
}

/// Deletes up to `limit` `dead` rows of `queue` that no media item points
/// to, oldest first; returns how many went. Callers loop, so a purge of
/// millions holds no long lock.
pub async fn delete_dead_batch(db: &Db, queue: &str, limit: i64) -> Result<u64, sqlx::Error> {
    let sql = "DELETE FROM job_runs WHERE id IN (\
                 SELECT id FROM job_runs WHERE status = 'dead' AND queue = $1 \
                 AND NOT EXISTS (SELECT 1 FROM media WHERE media.job_id = job_runs.id) \
                 ORDER BY id LIMIT $2)";
    on_db!(db, p => sqlx::query(sql)
        .bind(queue)
        .bind(limit)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
}

/// Marks a delivery as running: `queued` → `running`, or a redelivered
/// `running` row (its worker died) again. `next_run_at` stays: it is when the
/// attempt was due, from which its start latency is measured. Only the row's current delivery may
/// claim it, so a stale duplicate message never runs a job twice. Returns the
/// row after the update, or `None` when the job must not run.
pub async fn claim(
    tx: &mut DbTx,
    id: Uuid,
    delivery_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<JobRunRow>, sqlx::Error> {
    // A redelivered `running` row: the attempt before was lost.
    macro_rules! claim_sql {
        ($dialect:ident, $now:literal) => {
            concat!(
                "UPDATE job_runs SET status = 'running', attempts = attempts + 1, started_at = $2, \
                 updated_at = $2, progress = 0, attempt_log = \
                 CASE WHEN status = 'running' THEN ",
                append_attempt!($dialect, $now, "'lost'", "NULL"),
                " ELSE attempt_log END \
                 WHERE id = $1 AND delivery_id = $3 AND status IN ('queued', 'running') RETURNING ",
                job_run_columns!()
            )
        };
    }
    match tx {
        DbTx::Postgres(t) => {
            sqlx::query_as::<_, JobRunRow>(claim_sql!(postgres, "$2::timestamptz"))
                .bind(id)
                .bind(now)
                .bind(delivery_id)
                .fetch_optional(&mut **t)
                .await
        }
        DbTx::Sqlite(t) => {
            sqlx::query_as::<_, JobRunRow>(claim_sql!(sqlite, "$2"))
                .bind(id)
                .bind(now)
                .bind(delivery_id)
                .fetch_optional(&mut **t)
                .await
        }
    }
}

/// Moves a `running` row to a terminal status, for the attempt that claimed
/// it last (`attempt`, its fencing token). No-op (false) when the row is no
/// longer running (cancelled meanwhile) or a later claim took it over.
pub async fn finish(
    tx: &mut DbTx,
    id: Uuid,
    attempt: i32,
    status: &str,
    result: Option<&serde_json::Value>,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE job_runs SET status = $2, result = $3, last_error = COALESCE($4, last_error), finished_at = $5, \
               updated_at = $5, progress = CASE WHEN $2 = 'succeeded' THEN 100 ELSE progress END \
               WHERE id = $1 AND status = 'running' AND attempts = $6";
    on_tx!(tx, t => sqlx::query(sql)
        .bind(id)
        .bind(status)
        .bind(result.map(Json))
        .bind(error)
        .bind(now)
        .bind(attempt)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Puts a `running` row back to `queued` for a retry at `next_run_at`, for
/// the attempt that claimed it last (see [`finish`]).
pub async fn requeue_for_retry(
    tx: &mut DbTx,
    id: Uuid,
    attempt: i32,
    error: &str,
    next_run_at: DateTime<Utc>,
    delivery_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    macro_rules! retry_sql {
        ($dialect:ident, $finished:literal, $error:literal) => {
            concat!(
                "UPDATE job_runs SET status = 'queued', last_error = $2, next_run_at = $3, \
                 updated_at = $4, delivery_id = $5, attempt_log = ",
                append_attempt!($dialect, $finished, "'retried'", $error),
                " WHERE id = $1 AND status = 'running' AND attempts = $6"
            )
        };
    }
    let sql = match tx {
        DbTx::Postgres(_) => retry_sql!(postgres, "$4::timestamptz", "$2::text"),
        DbTx::Sqlite(_) => retry_sql!(sqlite, "$4", "$2"),
    };
    on_tx!(tx, t => sqlx::query(sql)
        .bind(id)
        .bind(error)
        .bind(next_run_at)
        .bind(now)
        .bind(delivery_id)
        .bind(attempt)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Cancels a `queued` or `running` row. Returns the row's status afterwards.
pub async fn cancel(tx: &mut DbTx, id: Uuid, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE job_runs SET status = 'cancelled', finished_at = $2, updated_at = $2, \
               next_run_at = NULL WHERE id = $1 AND status IN ('queued', 'running')";
    on_tx!(tx, t => sqlx::query(sql)
        .bind(id)
        .bind(now)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Re-arms a `failed` or `dead` row: attempts start over.
pub async fn rearm(
    tx: &mut DbTx,
    id: Uuid,
    delivery_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // The attempt that ended the job joins the log before the counts start over.
    macro_rules! rearm_sql {
        ($dialect:ident) => {
            concat!(
                "UPDATE job_runs SET status = 'queued', attempts = 0, progress = 0, result = NULL, \
                 started_at = NULL, finished_at = NULL, next_run_at = NULL, updated_at = $2, \
                 delivery_id = $3, attempt_log = CASE WHEN attempts > 0 THEN ",
                append_attempt!($dialect, "finished_at", "status", "last_error"),
                " ELSE attempt_log END WHERE id = $1 AND status IN ('failed', 'dead')"
            )
        };
    }
    let sql = match tx {
        DbTx::Postgres(_) => rearm_sql!(postgres),
        DbTx::Sqlite(_) => rearm_sql!(sqlite),
    };
    on_tx!(tx, t => sqlx::query(sql)
        .bind(id)
        .bind(now)
        .bind(delivery_id)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Records progress (0–100) of a running job.
pub async fn set_progress(
    db: &Db,
    id: Uuid,
    progress: i32,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql =
        "UPDATE job_runs SET progress = $2, updated_at = $3 WHERE id = $1 AND status = 'running'";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(progress.clamp(0, 100))
        .bind(now)
        .execute(p)
        .await
        .map(|_| ()))
}

/// Counts rows per status (for metrics and tests).
pub async fn count_by_status(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let sql = "SELECT status, COUNT(*) FROM job_runs GROUP BY status ORDER BY status";
    on_db!(db, p => sqlx::query_as::<_, (String, i64)>(sql).fetch_all(p).await)
}

/// Deletes a `queued` row whose queue message never got out (the enqueue is
/// answered with an error instead). False when the row moved on meanwhile.
pub async fn delete_undelivered(db: &Db, id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM job_runs WHERE id = $1 AND status = 'queued' AND attempts = 0";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// A page (by id) of rows in `status` last changed before `changed_before`:
/// what the sweeper compares against the queue transport.
pub async fn stale_in_status(
    db: &Db,
    status: &str,
    after: Option<Uuid>,
    changed_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<JobRunRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        job_run_columns!(),
        " FROM job_runs WHERE status = $1 AND id > $2 AND updated_at < $3 ORDER BY id LIMIT $4"
    );
    on_db!(db, p => sqlx::query_as::<_, JobRunRow>(sql)
        .bind(status)
        .bind(after.unwrap_or(Uuid::nil()))
        .bind(changed_before)
        .bind(limit)
        .fetch_all(p)
        .await)
}

/// Ids of up to `limit` rows of `queue` in `status`, oldest first.
pub async fn ids_in_queue(
    db: &Db,
    queue: &str,
    status: &str,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let sql = "SELECT id FROM job_runs WHERE status = $1 AND queue = $2 ORDER BY id LIMIT $3";
    on_db!(db, p => sqlx::query_scalar::<_, Uuid>(sql)
        .bind(status)
        .bind(queue)
        .bind(limit)
        .fetch_all(p)
        .await)
}

/// Rows of `queue` in `status`.
pub async fn count_in_queue(db: &Db, queue: &str, status: &str) -> Result<i64, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM job_runs WHERE status = $1 AND queue = $2";
    on_db!(db, p => sqlx::query_scalar::<_, i64>(sql)
        .bind(status)
        .bind(queue)
        .fetch_one(p)
        .await)
}

/// A queue's counts read from the ledger (the database transport's stats).
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueCounts {
    pub ready: u64,
    pub delayed: u64,
    pub running: u64,
    /// When the oldest ready job became due.
    pub oldest_ready: Option<DateTime<Utc>>,
}

/// Ready, delayed and running counts of `queue` at `now`, and when its oldest
/// ready job became due.
pub async fn queue_counts(
    db: &Db,
    queue: &str,
    now: DateTime<Utc>,
) -> Result<QueueCounts, sqlx::Error> {
    let counts = "SELECT \
        COALESCE(SUM(CASE WHEN status = 'queued' AND (next_run_at IS NULL OR next_run_at <= $2) THEN 1 ELSE 0 END), 0), \
        COALESCE(SUM(CASE WHEN status = 'queued' AND next_run_at > $2 THEN 1 ELSE 0 END), 0), \
        COALESCE(SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), 0) \
        FROM job_runs WHERE queue = $1 AND status IN ('queued', 'running')";
    let oldest = "SELECT created_at, next_run_at FROM job_runs WHERE status = 'queued' AND queue = $1 \
        AND (next_run_at IS NULL OR next_run_at <= $2) ORDER BY id LIMIT 1";
    let (ready, delayed, running): (i64, i64, i64) = on_db!(db, p => sqlx::query_as(counts)
        .bind(queue)
        .bind(now)
        .fetch_one(p)
        .await)?;
    let first: Option<(DateTime<Utc>, Option<DateTime<Utc>>)> = on_db!(db, p => sqlx::query_as(oldest)
        .bind(queue)
        .bind(now)
        .fetch_optional(p)
        .await)?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(QueueCounts {
        ready: n(ready),
        delayed: n(delayed),
        running: n(running),
        oldest_ready: first.map(|(created, next)| next.unwrap_or(created)),
    })
}

/// [`claim`] for many deliveries at once (one statement on PostgreSQL, one
/// transaction on SQLite): the rows that may run.
pub async fn claim_many(
    db: &Db,
    claims: &[(Uuid, Uuid)],
    now: DateTime<Utc>,
) -> Result<Vec<JobRunRow>, sqlx::Error> {
    match db {
        Db::Postgres(p) => {
            let sql = concat!(
                "UPDATE job_runs SET status = 'running', attempts = attempts + 1, started_at = $1, \
                 updated_at = $1, progress = 0, attempt_log = \
                 CASE WHEN status = 'running' THEN ",
                append_attempt!(postgres, "$1::timestamptz", "'lost'", "NULL"),
                " ELSE attempt_log END \
                 FROM unnest($2::uuid[], $3::uuid[]) AS v(vid, vdelivery) \
                 WHERE id = v.vid AND delivery_id = v.vdelivery AND status IN ('queued', 'running') \
                 RETURNING ",
                job_run_columns!()
            );
            let (ids, deliveries): (Vec<Uuid>, Vec<Uuid>) = claims.iter().copied().unzip();
            sqlx::query_as::<_, JobRunRow>(sql)
                .bind(now)
                .bind(ids)
                .bind(deliveries)
                .fetch_all(p)
                .await
        }
        Db::Sqlite(_) => {
            let mut tx = db.begin().await?;
            let mut out = Vec::with_capacity(claims.len());
            for (id, delivery) in claims {
                if let Some(row) = claim(&mut tx, *id, *delivery, now).await? {
                    out.push(row);
                }
            }
            tx.commit().await?;
            Ok(out)
        }
    }
}

/// One success for [`succeed_many`]: the job, the attempt that ran it (its
/// fencing token, see [`finish`]) and the result.
pub type Success = (Uuid, i32, serde_json::Value);

/// Records many successes at once (one statement on PostgreSQL, one
/// transaction on SQLite); returns the ids that were still `running` for the
/// attempt that ran them.
pub async fn succeed_many(
    db: &Db,
    results: &[Success],
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    match db {
        Db::Postgres(p) => {
            let sql = "UPDATE job_runs SET status = 'succeeded', result = v.vresult, progress = 100, \
                       finished_at = $1, updated_at = $1 \
                       FROM unnest($2::uuid[], $3::int4[], $4::jsonb[]) AS v(vid, vattempt, vresult) \
                       WHERE id = v.vid AND status = 'running' AND attempts = v.vattempt \
                       RETURNING id";
            let ids: Vec<Uuid> = results.iter().map(|(id, _, _)| *id).collect();
            let attempts: Vec<i32> = results.iter().map(|(_, a, _)| *a).collect();
            let values: Vec<Json<&serde_json::Value>> =
                results.iter().map(|(_, _, v)| Json(v)).collect();
            sqlx::query_scalar::<_, Uuid>(sql)
                .bind(now)
                .bind(ids)
                .bind(attempts)
                .bind(values)
                .fetch_all(p)
                .await
        }
        Db::Sqlite(_) => {
            let mut tx = db.begin().await?;
            let mut out = Vec::with_capacity(results.len());
            for (id, attempt, value) in results {
                if finish(&mut tx, *id, *attempt, "succeeded", Some(value), None, now).await? {
                    out.push(*id);
                }
            }
            tx.commit().await?;
            Ok(out)
        }
    }
}

/// Gives a `queued` or `running` row a new current delivery, unless the row
/// moved on since the caller read it (another delivery, a claim, an end):
/// the sweeper's re-delivery on the SQL queues, so that of several sweepers
/// that found the same lost message only one re-delivers it.
pub async fn replace_delivery(
    tx: &mut DbTx,
    id: Uuid,
    old_delivery: Uuid,
    attempts: i32,
    new_delivery: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE job_runs SET delivery_id = $4, updated_at = $5 \
               WHERE id = $1 AND delivery_id = $2 AND attempts = $3 \
               AND status IN ('queued', 'running')";
    on_tx!(tx, t => sqlx::query(sql)
        .bind(id)
        .bind(old_delivery)
        .bind(attempts)
        .bind(new_delivery)
        .bind(now)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected() == 1))
}
