//! Repository for `queue_throughput`: jobs that ended, per queue and minute.

use crate::{db::Db, on_db};

/// What one queue finished in one minute (`unix time / 60`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteRow {
    /// The queue's name.
    pub queue: &'static str,
    pub minute: i64,
    pub succeeded: i64,
    pub failed: i64,
}

/// Adds `rows` to the stored counts, in one transaction.
pub async fn add(db: &Db, rows: &[MinuteRow]) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO queue_throughput (queue, minute, succeeded, failed) VALUES ($1, $2, $3, $4) \
               ON CONFLICT (queue, minute) DO UPDATE SET \
               succeeded = queue_throughput.succeeded + excluded.succeeded, \
               failed = queue_throughput.failed + excluded.failed";
    let mut tx = db.begin().await?;
    for r in rows {
        crate::on_tx!(&mut tx, t => sqlx::query(sql)
            .bind(r.queue)
            .bind(r.minute)
            .bind(r.succeeded)
            .bind(r.failed)
            .execute(&mut **t)
            .await
            .map(drop))?;
    }
    tx.commit().await
}

/// Every queue's counts from minute `since` on, as `(queue, minute, succeeded, failed)`.
pub async fn since(db: &Db, since: i64) -> Result<Vec<(String, i64, i64, i64)>, sqlx::Error> {
    let sql = "SELECT queue, minute, succeeded, failed FROM queue_throughput WHERE minute >= $1 \
               ORDER BY queue, minute";
    on_db!(db, p => sqlx::query_as::<_, (String, i64, i64, i64)>(sql)
        .bind(since)
        .fetch_all(p)
        .await)
}

/// Deletes the counts of minutes before `before`.
pub async fn forget(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    let sql = "DELETE FROM queue_throughput WHERE minute < $1";
    on_db!(db, p => sqlx::query(sql)
        .bind(before)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
}

/// Minutes in [`last_hour`].
pub const HOUR: usize = 60;

/// One queue's last hour: jobs that succeeded, and that failed or died, in
/// each minute, oldest first; the last entry is the current minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastHour {
    pub succeeded: Vec<u32>,
    pub failed: Vec<u32>,
}

impl Default for LastHour {
    fn default() -> Self {
        Self {
            succeeded: vec![0; HOUR],
            failed: vec![0; HOUR],
        }
    }
}

/// Every queue's last hour up to minute `now` (`unix time / 60`), by queue name.
pub async fn last_hour(
    db: &Db,
    now: i64,
) -> Result<std::collections::HashMap<String, LastHour>, sqlx::Error> {
    let first = now - (HOUR as i64 - 1);
    let mut out: std::collections::HashMap<String, LastHour> = std::collections::HashMap::new();
    for (queue, minute, succeeded, failed) in since(db, first).await? {
        let Ok(i) = usize::try_from(minute - first) else {
            continue;
        };
        if i >= HOUR {
            continue;
        }
        let hour = out.entry(queue).or_default();
        hour.succeeded[i] = u32::try_from(succeeded).unwrap_or(u32::MAX);
        hour.failed[i] = u32::try_from(failed).unwrap_or(u32::MAX);
    }
    Ok(out)
}
