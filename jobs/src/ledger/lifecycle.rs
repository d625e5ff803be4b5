//! The lifecycle the worker drives: claim a delivery, record progress, then
//! finish the job or put it back for a retry.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{JobRun, JobStatus, Ledger, LedgerError};
use crate::{
    db::{DbTx, job_runs},
    queue::{QueueMessage, QueueName},
};

impl Ledger {
    /// Records progress of a running job.
    pub async fn set_progress(&self, id: Uuid, percent: u8) -> Result<(), LedgerError> {
        job_runs::set_progress(&self.db, id, i32::from(percent), Utc::now()).await?;
        Ok(())
    }

    /// Marks a delivery running. `None`: the job must not run (terminal,
    /// cancelled, unknown, or the message is a stale duplicate).
    /// Concurrent claims are written together, one transaction per batch.
    pub async fn claim(&self, id: Uuid, delivery_id: Uuid) -> Result<Option<JobRun>, LedgerError> {
        let row = self.batcher.claim(&self.db, id, delivery_id).await?;
        row.map(JobRun::try_from).transpose()
    }

    /// Records success of the attempt `job` holds. False when the job was
    /// cancelled meanwhile or a later claim took it over (see
    /// [`Ledger::finish`]). Concurrent successes are written together, one
    /// transaction per batch.
    pub async fn succeed(
        &self,
        job: &JobRun,
        result: &serde_json::Value,
    ) -> Result<bool, LedgerError> {
        Ok(self
            .batcher
            .succeed(&self.db, job.id, fence(job), result.clone())
            .await?)
    }

    /// Records a job's end: `succeeded` with its result, `failed` (permanent)
    /// or `dead` (attempts spent) with its error.
    ///
    /// The write is fenced by the attempt `job` holds (its `attempts` after
    /// the claim): false when the job is not running under that attempt any
    /// more, because it was cancelled meanwhile or because a later claim took
    /// it over (this worker lost its lease and another one runs it now).
    /// Concurrent successes are written together, one transaction per batch.
    pub async fn finish(
        &self,
        job: &JobRun,
        status: JobStatus,
        result: Option<&serde_json::Value>,
        error: Option<&str>,
    ) -> Result<bool, LedgerError> {
        if status == JobStatus::Succeeded {
            return self
                .succeed(job, result.unwrap_or(&serde_json::Value::Null))
                .await;
        }
        let mut tx = self.db.begin().await?;
        let done = self
            .finish_in_tx(&mut tx, job, status, result, error)
            .await?;
        tx.commit().await?;
        Ok(done)
    }

    /// [`Ledger::finish`] inside the caller's transaction, so that what the
    /// end of a job causes (its webhook deliveries) commits with it.
    pub async fn finish_in_tx(
        &self,
        tx: &mut DbTx,
        job: &JobRun,
        status: JobStatus,
        result: Option<&serde_json::Value>,
        error: Option<&str>,
    ) -> Result<bool, LedgerError> {
        if !status.is_terminal() || status == JobStatus::Cancelled {
            return Err(LedgerError::Conflict(format!(
                "a job cannot finish as {}",
                status.as_str()
            )));
        }
        let attempt = fence(job);
        Ok(job_runs::finish(
            tx,
            job.id,
            attempt,
            status.as_str(),
            result,
            error,
            Utc::now(),
        )
        .await?)
    }

    /// Puts a failed attempt back in the queue at `run_at`, atomically with its
    /// queue message. False when the job was cancelled meanwhile or a later
    /// claim took it over (see [`Ledger::finish`]).
    pub async fn schedule_retry(
        &self,
        job: &JobRun,
        error: &str,
        run_at: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let queue: QueueName = job.queue.parse().map_err(LedgerError::Corrupt)?;
        let delivery_id = Uuid::now_v7();
        let mut tx = self.db.begin().await?;
        let requeued = job_runs::requeue_for_retry(
            &mut tx,
            job.id,
            fence(job),
            error,
            run_at,
            delivery_id,
            Utc::now(),
        )
        .await?;
        if !requeued {
            return Ok(false);
        }
        let msg = QueueMessage {
            job_id: job.id,
            delivery_id,
            payload: job.payload.clone(),
        };
        self.transport
            .stage(&mut tx, queue, &msg, Some(run_at))
            .await?;
        tx.commit().await?;
        let rearmed = JobRun {
            delivery_id: Some(delivery_id),
            next_run_at: Some(run_at),
            due_at: Some(run_at),
            status: JobStatus::Queued,
            ..job.clone()
        };
        self.announce_rearmed(&rearmed).await;
        Ok(true)
    }
}

/// The fencing token of the attempt `job` holds: its attempt count after the
/// claim, which every later claim of the same job increases.
fn fence(job: &JobRun) -> i32 {
    i32::try_from(job.attempts).unwrap_or(i32::MAX)
}
