//! Queue control: pause and resume a queue. The pause is a ledger row, so it
//! outlives restarts and every worker of every replica reads the same one
//! (each polls it every [`PAUSE_POLL_INTERVAL`], and the workers of the
//! process that made the change read it at once).
//!
//! [`PAUSE_POLL_INTERVAL`]: crate::queue::PAUSE_POLL_INTERVAL

use chrono::Utc;

use super::{Ledger, LedgerError};
use crate::{
    db::queue_controls,
    queue::{QueueName, QueuePause},
};

impl Ledger {
    /// Pauses `queue`: its workers finish what runs and start nothing new.
    /// Pausing a paused queue changes nothing (it keeps when and by whom).
    pub async fn pause(&self, queue: QueueName, by: &str) -> Result<QueuePause, LedgerError> {
        let row = queue_controls::pause(&self.db, queue.as_str(), by, Utc::now()).await?;
        self.controls.notify_waiters();
        pause_from_row(row)
    }

    /// Resolves when this process next pauses or resumes a queue (the future
    /// is registered when made, so a change right after is not missed).
    pub fn controls_changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.controls.notified()
    }

    /// Resumes `queue`; false when it was not paused.
    pub async fn resume(&self, queue: QueueName) -> Result<bool, LedgerError> {
        let resumed = queue_controls::resume(&self.db, queue.as_str()).await?;
        self.controls.notify_waiters();
        if resumed {
            // Workers of the database transport poll at `queues.poll_interval_ms`
            // while idle: wake them for what waited.
            self.wakeups().wake(queue);
        }
        Ok(resumed)
    }

    /// Every paused queue.
    pub async fn paused(&self) -> Result<Vec<QueuePause>, LedgerError> {
        queue_controls::all(&self.db)
            .await?
            .into_iter()
            .map(pause_from_row)
            .collect()
    }
}

fn pause_from_row(row: queue_controls::QueueControlRow) -> Result<QueuePause, LedgerError> {
    Ok(QueuePause {
        queue: row.queue.parse().map_err(LedgerError::Corrupt)?,
        paused_at: row.paused_at,
        paused_by: row.paused_by,
    })
}
