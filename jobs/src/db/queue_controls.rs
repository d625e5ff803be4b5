//! Repository for `queue_controls`: the queues an operator paused.

use chrono::{DateTime, Utc};

use crate::{db::Db, on_db};

/// A paused queue as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueueControlRow {
    pub queue: String,
    pub paused_at: DateTime<Utc>,
    pub paused_by: String,
}

/// Pauses `queue` (a queue already paused keeps when and by whom it was) and
/// returns its row.
pub async fn pause(
    db: &Db,
    queue: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<QueueControlRow, sqlx::Error> {
    let sql = "INSERT INTO queue_controls (queue, paused_at, paused_by) VALUES ($1, $2, $3) \
               ON CONFLICT (queue) DO UPDATE SET queue = excluded.queue \
               RETURNING queue, paused_at, paused_by";
    on_db!(db, p => sqlx::query_as::<_, QueueControlRow>(sql)
        .bind(queue)
        .bind(now)
        .bind(by)
        .fetch_one(p)
        .await)
}

/// Resumes `queue`; false when it was not paused.
pub async fn resume(db: &Db, queue: &str) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM queue_controls WHERE queue = $1";
    on_db!(db, p => sqlx::query(sql)
        .bind(queue)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Every paused queue.
pub async fn all(db: &Db) -> Result<Vec<QueueControlRow>, sqlx::Error> {
    let sql = "SELECT queue, paused_at, paused_by FROM queue_controls ORDER BY queue";
    on_db!(db, p => sqlx::query_as::<_, QueueControlRow>(sql).fetch_all(p).await)
}
