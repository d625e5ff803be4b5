//! Repository for `queue_throughput`: jobs that ended, per queue and minute.

use std::collections::HashMap;

use chrono::Utc;

use crate::{db::Db, on_db, queue::QueueName};

/// The current minute as `queue_throughput` keys it: unix time / 60.
pub fn current_minute() -> i64 {
    Utc::now().timestamp().div_euclid(60)
}

/// What one queue finished in one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteRow {
    pub queue: QueueName,
    /// See [`current_minute`].
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
            .bind(r.queue.as_str())
            .bind(r.minute)
            .bind(r.succeeded)
            .bind(r.failed)
            .execute(&mut **t)
            .await
            .map(drop))?;
    }
    tx.commit().await
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

/// Every queue's last hour up to the current minute, in one read, by queue
/// name (a queue with nothing ended is absent: its [`LastHour::default`]).
pub async fn last_hour(db: &Db) -> Result<HashMap<String, LastHour>, sqlx::Error> {
    let first = current_minute() - (HOUR as i64 - 1);
    let sql = "SELECT queue, minute, succeeded, failed FROM queue_throughput WHERE minute >= $1";
    let rows = on_db!(db, p => sqlx::query_as::<_, (String, i64, i64, i64)>(sql)
        .bind(first)
        .fetch_all(p)
        .await)?;
    let mut out: HashMap<String, LastHour> = HashMap::new();
    for (queue, minute, succeeded, failed) in rows {
        let Some(i) = usize::try_from(minute - first).ok().filter(|i| *i < HOUR) else {
            continue;
        };
        let hour = out.entry(queue).or_default();
        hour.succeeded[i] = u32::try_from(succeeded).unwrap_or(u32::MAX);
        hour.failed[i] = u32::try_from(failed).unwrap_or(u32::MAX);
    }
    Ok(out)
}
