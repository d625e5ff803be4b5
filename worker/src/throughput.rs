//! The jobs this process ended, per queue and minute: counted in memory by
//! the executors and added to `queue_throughput` every few seconds, so every
//! replica's share is in one place for the console's last hour. A count
//! whose write fails is kept for the next flush.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use kiln_jobs::{
    AppContext, QueueName,
    db::throughput::{self, MinuteRow, current_minute},
};
use tokio_util::sync::CancellationToken;

/// How often the counts are written.
const FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// Counts older than this many minutes are deleted.
const KEEP_MINUTES: i64 = 24 * 60;

/// Per (queue, minute): how many succeeded, and how many failed or died.
type Counts = HashMap<(QueueName, i64), (i64, i64)>;

/// This process's counts since the last flush.
#[derive(Debug, Clone, Default)]
pub struct Throughput {
    counts: Arc<Mutex<Counts>>,
}

impl Throughput {
    fn with<T>(&self, f: impl FnOnce(&mut Counts) -> T) -> T {
        // Plain counts behind the lock: a panic elsewhere leaves them usable.
        let mut guard = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// Counts one job of `queue` that ended, well or not.
    pub fn record(&self, queue: QueueName, succeeded: bool) {
        self.with(|c| {
            let entry = c.entry((queue, current_minute())).or_default();
            if succeeded {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        });
    }

    fn take(&self) -> Vec<MinuteRow> {
        self.with(|c| {
            c.drain()
                .map(|((queue, minute), (succeeded, failed))| MinuteRow {
                    queue,
                    minute,
                    succeeded,
                    failed,
                })
                .collect()
        })
    }

    fn put_back(&self, rows: &[MinuteRow]) {
        self.with(|c| {
            for r in rows {
                let entry = c.entry((r.queue, r.minute)).or_default();
                entry.0 += r.succeeded;
                entry.1 += r.failed;
            }
        });
    }

    /// Writes what was counted since the last flush.
    pub async fn flush(&self, app: &AppContext) {
        let rows = self.take();
        if rows.is_empty() {
            return;
        }
        if let Err(e) = throughput::add(&app.db, &rows).await {
            tracing::debug!(error = %e, "could not write the queue throughput; kept for the next flush");
            self.put_back(&rows);
        }
    }
}

/// Flushes `counts` every [`FLUSH_INTERVAL`], and once more at `stop`;
/// deletes day-old counts once an hour.
pub async fn flush_loop(app: AppContext, counts: Throughput, stop: CancellationToken) {
    let mut last_prune = None;
    loop {
        let stopping = tokio::select! {
            () = stop.cancelled() => true,
            () = tokio::time::sleep(FLUSH_INTERVAL) => false,
        };
        counts.flush(&app).await;
        if stopping {
            return;
        }
        let minute = current_minute();
        if last_prune != Some(minute / 60) {
            last_prune = Some(minute / 60);
            if let Err(e) = throughput::forget(&app.db, minute - KEEP_MINUTES).await {
                tracing::debug!(error = %e, "could not delete old queue throughput");
            }
        }
    }
}
