//! What clients and operators do to jobs: read one, list, cancel, retry one
//! or every dead job of a queue, delete a finished one or purge a queue's
//! dead jobs, and the numbers of a queue.

use chrono::Utc;
use uuid::Uuid;

use super::{JobFilter, JobRun, JobStatus, Ledger, LedgerError, Purged};
use crate::{
    db::job_runs,
    queue::{QueueMessage, QueueName, QueueStats},
};

impl Ledger {
    /// One job; `owner` restricts visibility (`None` for operators).
    pub async fn get(&self, id: Uuid, owner: Option<&str>) -> Result<Option<JobRun>, LedgerError> {
        job_runs::get(&self.db, id, owner)
            .await?
            .map(JobRun::try_from)
            .transpose()
    }

    /// A page of jobs, newest first, and the cursor of the next page.
    pub async fn list(&self, f: &JobFilter) -> Result<(Vec<JobRun>, Option<Uuid>), LedgerError> {
        let limit = f.limit.clamp(1, 200);
        // A search term is an id when it reads as one, else an idempotency key.
        let search_id = f.search.as_deref().and_then(|s| s.parse::<Uuid>().ok());
        let rows = job_runs::list(
            &self.db,
            &job_runs::ListFilter {
                owner: f.owner.as_deref(),
                status: f.status.map(JobStatus::as_str),
                kind: f.kind.as_deref(),
                queue: f.queue.map(QueueName::as_str),
                created_from: f.created_from,
                created_until: f.created_until,
                id: search_id,
                idempotency_key: f.search.as_deref().filter(|_| search_id.is_none()),
                before: f.after,
                limit: i64::from(limit) + 1,
            },
        )
        .await?;
        let mut jobs = rows
            .into_iter()
            .map(JobRun::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next = if jobs.len() > limit as usize {
            jobs.truncate(limit as usize);
            jobs.last().map(|j| j.id)
        } else {
            None
        };
        Ok((jobs, next))
    }

    /// Cancels a queued or running job. A running handler is not interrupted,
    /// but its outcome is discarded and it is never retried.
    pub async fn cancel(&self, id: Uuid, owner: Option<&str>) -> Result<JobRun, LedgerError> {
        let job = self.get(id, owner).await?.ok_or(LedgerError::NotFound)?;
        if job.status == JobStatus::Cancelled {
            return Ok(job);
        }
        let mut tx = self.db.begin().await?;
        if !job_runs::cancel(&mut tx, id, Utc::now()).await? {
            return Err(LedgerError::Conflict(format!(
                "job is {} and can no longer be cancelled",
                job.status.as_str()
            )));
        }
        let row = job_runs::get_in_tx(&mut tx, id)
            .await?
            .ok_or(LedgerError::NotFound)?;
        tx.commit().await?;
        let job: JobRun = row.try_into()?;
        self.metrics
            .record_completed(&job.kind, JobStatus::Cancelled.as_str(), job.attempts);
        Ok(job)
    }

    /// Runs a `failed` or `dead` job again, with a fresh attempt budget.
    pub async fn retry(&self, id: Uuid, owner: Option<&str>) -> Result<JobRun, LedgerError> {
        let job = self.get(id, owner).await?.ok_or(LedgerError::NotFound)?;
        let queue: QueueName = job.queue.parse().map_err(LedgerError::Corrupt)?;
        let delivery_id = Uuid::now_v7();
        let mut tx = self.db.begin().await?;
        if !job_runs::rearm(&mut tx, id, delivery_id, Utc::now()).await? {
            return Err(LedgerError::Conflict(format!(
                "only failed or dead jobs can be retried; this one is {}",
                job.status.as_str()
            )));
        }
        let msg = QueueMessage {
            job_id: id,
            delivery_id,
            payload: job.payload,
        };
        self.transport.stage(&mut tx, queue, &msg, None).await?;
        let row: JobRun = job_runs::get_in_tx(&mut tx, id)
            .await?
            .ok_or(LedgerError::NotFound)?
            .try_into()?;
        tx.commit().await?;
        self.announce_rearmed(&row).await;
        Ok(row)
    }

    /// Runs up to `limit` `dead` jobs of `queue` again (oldest first). Returns
    /// the ids re-armed; jobs that changed state meanwhile are skipped.
    pub async fn retry_dead(&self, queue: QueueName, limit: u32) -> Result<Vec<Uuid>, LedgerError> {
        let ids = job_runs::ids_in_queue(
            &self.db,
            queue.as_str(),
            JobStatus::Dead.as_str(),
            i64::from(limit.clamp(1, 10_000)),
        )
        .await?;
        let mut done = Vec::with_capacity(ids.len());
        for id in ids {
            match self.retry(id, None).await {
                Ok(_) => done.push(id),
                Err(LedgerError::Conflict(_) | LedgerError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// Deletes a finished job's ledger row (its history goes with it).
    /// Conflict while it is queued or running, or while a media item points
    /// to it (the item's row needs it; delete the item instead).
    pub async fn delete(&self, id: Uuid) -> Result<(), LedgerError> {
        if job_runs::delete_finished(&self.db, id).await? {
            return Ok(());
        }
        let job = self.get(id, None).await?.ok_or(LedgerError::NotFound)?;
        if !job_runs::FINISHED.contains(&job.status.as_str()) {
            return Err(LedgerError::Conflict(format!(
                "job is {}; only a finished job can be deleted (cancel it first)",
                job.status.as_str()
            )));
        }
        if job_runs::has_media(&self.db, id).await? {
            return Err(LedgerError::Conflict(
                "a media item points to this job; delete the media item instead".into(),
            ));
        }
        // It changed between the delete and the look: report what it is now.
        Err(LedgerError::Conflict(format!(
            "job is {} and was not deleted; try again",
            job.status.as_str()
        )))
    }

    /// Deletes every `dead` job of `queue` that no media item points to, in
    /// batches of 1,000. Returns how many were deleted and how many dead
    /// jobs are left (those media items point to).
    pub async fn purge_dead(&self, queue: QueueName) -> Result<Purged, LedgerError> {
        const BATCH: i64 = 1_000;
        let mut deleted = 0;
        loop {
            let n = job_runs::delete_dead_batch(&self.db, queue.as_str(), BATCH).await?;
            deleted += n;
            if n < BATCH as u64 {
                break;
            }
        }
        let kept = u64::try_from(self.dead_count(queue).await?).unwrap_or(0);
        Ok(Purged { deleted, kept })
    }

    /// The numbers of `queue`: from Redis when it is the transport (cheap, O(1)
    /// commands), from the ledger otherwise. The dead count always comes from
    /// the ledger, which keeps dead jobs with their last error.
    pub async fn queue_stats(&self, queue: QueueName) -> Result<QueueStats, LedgerError> {
        let dead = u64::try_from(self.dead_count(queue).await?).unwrap_or(0);
        self.transport.stats(&self.db, queue, dead).await
    }

    /// How many jobs of `queue` are `dead`.
    pub async fn dead_count(&self, queue: QueueName) -> Result<i64, LedgerError> {
        Ok(job_runs::count_in_queue(&self.db, queue.as_str(), JobStatus::Dead.as_str()).await?)
    }
}
