//! Repository for `worker_processes`: the worker processes that beat recently.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use crate::{db::Db, on_db};

/// How often a worker process writes its row.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// A row whose heartbeat is older than this is a process that is gone (or
/// cannot reach the database, which stops its work as well).
pub const LIVE_WINDOW: Duration = Duration::from_secs(15);

/// Rows older than this are deleted by the next heartbeat of any worker.
pub const FORGET_AFTER: Duration = Duration::from_secs(600);

/// A worker process as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkerRow {
    /// `<host>-<random>`, unique per process start.
    pub id: String,
    pub host: String,
    pub pid: i32,
    /// Kiln's version.
    pub version: String,
    /// The queues it runs.
    #[sqlx(json)]
    pub queues: Vec<String>,
    /// Its jobs at once, summed over its queues.
    pub concurrency: i32,
    /// Its jobs running now.
    pub in_flight: i32,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
}

/// Writes `row` (a heartbeat).
pub async fn beat(db: &Db, row: &WorkerRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO worker_processes (id, host, pid, version, queues, concurrency, in_flight, \
               started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
               ON CONFLICT (id) DO UPDATE SET queues = excluded.queues, \
               concurrency = excluded.concurrency, in_flight = excluded.in_flight, \
               heartbeat_at = excluded.heartbeat_at";
    on_db!(db, p => sqlx::query(sql)
        .bind(&row.id)
        .bind(&row.host)
        .bind(row.pid)
        .bind(&row.version)
        .bind(Json(&row.queues))
        .bind(row.concurrency)
        .bind(row.in_flight)
        .bind(row.started_at)
        .bind(row.heartbeat_at)
        .execute(p)
        .await
        .map(|_| ()))
}

/// Removes worker `id` (it stopped).
pub async fn remove(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    let sql = "DELETE FROM worker_processes WHERE id = $1";
    on_db!(db, p => sqlx::query(sql).bind(id).execute(p).await.map(|_| ()))
}

/// Removes the rows whose last heartbeat is before `before`.
pub async fn forget(db: &Db, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let sql = "DELETE FROM worker_processes WHERE heartbeat_at < $1";
    on_db!(db, p => sqlx::query(sql)
        .bind(before)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
}

/// The workers that beat at or after `since`, by host and start.
pub async fn live(db: &Db, since: DateTime<Utc>) -> Result<Vec<WorkerRow>, sqlx::Error> {
    let sql = "SELECT id, host, pid, version, queues, concurrency, in_flight, started_at, \
               heartbeat_at FROM worker_processes WHERE heartbeat_at >= $1 ORDER BY host, started_at, id";
    on_db!(db, p => sqlx::query_as::<_, WorkerRow>(sql)
        .bind(since)
        .fetch_all(p)
        .await)
}

/// [`live`] now, by [`LIVE_WINDOW`].
pub async fn live_now(db: &Db) -> Result<Vec<WorkerRow>, sqlx::Error> {
    let window = chrono::Duration::from_std(LIVE_WINDOW).unwrap_or(chrono::Duration::seconds(15));
    live(db, Utc::now() - window).await
}
