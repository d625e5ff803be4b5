//! The SQL queues' side of recovery: which deliveries the apalis jobs table
//! still holds, and handing a message back with a delay.
//!
//! Every message a Kiln producer writes carries its delivery id as the apalis
//! idempotency key ([`push_in_tx`](super::push_in_tx)), so the ledger row that
//! names a delivery finds its message through the unique
//! `(job_type, idempotency_key)` index of either backend.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::QueueName;
use crate::db::Db;

/// Which of `deliveries` of `queue` have a live message: waiting (`Pending`,
/// or `Failed` with transport attempts left, however far its `run_at`), or
/// locked by a worker since `locked_since` or later. A message that is done,
/// killed, given up, absent, or locked before `locked_since` (its worker and
/// its acknowledgement were lost) is not live.
pub async fn live_deliveries(
    db: &Db,
    queue: QueueName,
    deliveries: &[Uuid],
    locked_since: DateTime<Utc>,
) -> Result<HashSet<Uuid>, sqlx::Error> {
    if deliveries.is_empty() {
        return Ok(HashSet::new());
    }
    let keys: Vec<String> = deliveries.iter().map(Uuid::to_string).collect();
    let live: Vec<String> = match db {
        Db::Sqlite(p) => {
            // SQLite keeps a `Pending` message's lock when a run hands it back
            // as pending, and its fetch then never takes it again.
            let sql = "SELECT idempotency_key FROM Jobs \
                       WHERE job_type = $1 AND idempotency_key IN (SELECT value FROM json_each($2)) \
                       AND ((status = 'Pending' AND lock_by IS NULL) \
                         OR (status = 'Failed' AND attempts < max_attempts) \
                         OR (status IN ('Queued', 'Running') AND lock_at >= $3))";
            let keys = serde_json::to_string(&keys).map_err(|e| sqlx::Error::Encode(e.into()))?;
            sqlx::query_scalar(sql)
                .bind(queue.as_str())
                .bind(keys)
                .bind(locked_since.timestamp())
                .fetch_all(p)
                .await?
        }
        Db::Postgres(p) => {
            let sql = "SELECT idempotency_key FROM apalis.jobs \
                       WHERE job_type = $1 AND idempotency_key = ANY($2) \
                       AND (status = 'Pending' \
                         OR (status = 'Failed' AND attempts < max_attempts) \
                         OR (status IN ('Queued', 'Running') AND lock_at >= $3))";
            sqlx::query_scalar(sql)
                .bind(queue.as_str())
                .bind(&keys)
                .bind(locked_since)
                .fetch_all(p)
                .await?
        }
    };
    Ok(live.iter().filter_map(|k| k.parse().ok()).collect())
}

/// Moves the due time of the message `task_id` (an apalis task id) that a
/// worker is running to `run_at`, so that when the run reports failure the
/// backend fetches it again no earlier than that (apalis' SQL backends
/// otherwise re-fetch a failed message at once). False when the message is not
/// running any more.
pub async fn defer(db: &Db, task_id: &str, run_at: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let done = match db {
        Db::Sqlite(p) => {
            // Whole seconds, rounded up: never earlier than asked.
            let secs = run_at.timestamp() + i64::from(run_at.timestamp_subsec_nanos() > 0);
            sqlx::query(
                "UPDATE Jobs SET run_at = $1 WHERE id = $2 AND status IN ('Queued', 'Running')",
            )
            .bind(secs)
            .bind(task_id)
            .execute(p)
            .await?
            .rows_affected()
        }
        Db::Postgres(p) => sqlx::query(
            "UPDATE apalis.jobs SET run_at = $1 WHERE id = $2 AND status IN ('Queued', 'Running')",
        )
        .bind(run_at)
        .bind(task_id)
        .execute(p)
        .await?
        .rows_affected(),
    };
    Ok(done == 1)
}

/// One delivery's message as the SQL transport holds it, for tests and
/// operators: its apalis status and transport attempts. `None` when absent.
pub async fn message_state(
    db: &Db,
    queue: QueueName,
    delivery_id: Uuid,
) -> Result<Option<(String, i64)>, sqlx::Error> {
    let key = delivery_id.to_string();
    match db {
        Db::Sqlite(p) => {
            sqlx::query_as::<_, (String, i64)>(
                "SELECT status, attempts FROM Jobs WHERE job_type = $1 AND idempotency_key = $2",
            )
            .bind(queue.as_str())
            .bind(key)
            .fetch_optional(p)
            .await
        }
        Db::Postgres(p) => sqlx::query_as::<_, (String, i32)>(
            "SELECT status, attempts FROM apalis.jobs WHERE job_type = $1 AND idempotency_key = $2",
        )
        .bind(queue.as_str())
        .bind(key)
        .fetch_optional(p)
        .await
        .map(|r| r.map(|(s, a)| (s, i64::from(a)))),
    }
}
