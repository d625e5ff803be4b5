//! Enqueueing: a `queued` ledger row and its queue message, alone, in bulk,
//! or inside the caller's transaction.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Enqueued, JobRun, Ledger, LedgerError, NewJob};
use crate::{
    db::{DbTx, is_unique_violation, job_runs},
    queue::{QueueError, QueueMessage, QueueName},
};

impl Ledger {
    /// Checks that the queue backend answers.
    pub async fn queue_ping(&self) -> Result<(), LedgerError> {
        self.transport.ping(&self.db).await
    }

    /// Enqueues one job in its own transaction. If the message cannot be
    /// handed to the queue, the job is removed again and the error returned.
    pub async fn enqueue(&self, job: NewJob) -> Result<Enqueued, LedgerError> {
        let mut tx = self.db.begin().await?;
        let out = self.enqueue_in_tx(&mut tx, job).await?;
        tx.commit().await?;
        if let Err(e) = self.after_commit(&out).await {
            self.forget_undelivered(out.job().id).await;
            return Err(e);
        }
        Ok(out)
    }

    /// Enqueues many jobs: a transaction and one batched push per 1,000 jobs.
    /// On error, the chunks before the failing one stay enqueued and the
    /// failing chunk leaves nothing behind.
    pub async fn enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>, LedgerError> {
        let mut out = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(1_000) {
            let mut tx = self.db.begin().await?;
            let mut part = Vec::with_capacity(chunk.len());
            for job in chunk {
                part.push(self.enqueue_in_tx(&mut tx, job.clone()).await?);
            }
            tx.commit().await?;
            let created: Vec<JobRun> = part
                .iter()
                .filter_map(|e| match e {
                    Enqueued::Created(j) => Some(j.clone()),
                    Enqueued::Existing(_) => None,
                })
                .collect();
            if let Err(e) = self.transport.announce(&self.wakeups, &created).await {
                for j in &created {
                    self.forget_undelivered(j.id).await;
                }
                return Err(e);
            }
            for j in &created {
                self.metrics.record_created(&j.kind);
            }
            out.extend(part);
        }
        Ok(out)
    }

    /// Removes a just-created job whose message never reached the queue. If
    /// that fails too, the sweeper delivers the job later instead.
    pub async fn forget_undelivered(&self, id: Uuid) {
        if let Err(e) = job_runs::delete_undelivered(&self.db, id).await {
            tracing::warn!(job_id = %id, error = %e, "could not remove an undelivered job; the sweeper will deliver it");
        }
    }

    /// Enqueues inside the caller's transaction (so the job commits atomically
    /// with the caller's own rows). Call [`Ledger::after_commit`] once committed.
    pub async fn enqueue_in_tx(&self, tx: &mut DbTx, job: NewJob) -> Result<Enqueued, LedgerError> {
        let queue = job.payload.queue();
        let payload = job
            .payload
            .json()
            .map_err(|e| QueueError::Backend(format!("encode job payload: {e}")))?
            .clone();
        let max_attempts = job
            .max_attempts
            .unwrap_or(self.queues.policy(queue).max_attempts)
            .max(1);
        let now = Utc::now();
        let id = Uuid::now_v7();
        let delivery_id = Uuid::now_v7();
        let traceparent = crate::telemetry::current_traceparent();
        let inserted = job_runs::insert(
            tx,
            &job_runs::InsertJobRun {
                id,
                kind: job.payload.kind(),
                queue: queue.as_str(),
                owner: &job.owner,
                idempotency_key: job.idempotency_key.as_deref(),
                payload: &payload,
                max_attempts: i32::try_from(max_attempts).unwrap_or(i32::MAX),
                now,
                next_run_at: job.run_at,
                delivery_id,
                traceparent: traceparent.as_deref(),
            },
        )
        .await;
        let row = match inserted {
            Ok(Some(row)) => row,
            Ok(None) => return self.existing(tx, &job).await,
            Err(e) if is_unique_violation(&e) => return self.existing(tx, &job).await,
            Err(e) => return Err(e.into()),
        };
        let msg = QueueMessage {
            job_id: id,
            delivery_id,
            payload,
        };
        self.transport.stage(tx, queue, &msg, job.run_at).await?;
        Ok(Enqueued::Created(row.try_into()?))
    }

    async fn existing(&self, tx: &mut DbTx, job: &NewJob) -> Result<Enqueued, LedgerError> {
        let key = job.idempotency_key.as_deref().unwrap_or_default();
        let row = job_runs::find_by_idempotency_key(tx, &job.owner, key)
            .await?
            .ok_or_else(|| LedgerError::Conflict("idempotency key raced; retry".into()))?;
        Ok(Enqueued::Existing(row.try_into()?))
    }

    /// Hands a just-committed job to its queue: wakes in-process workers (the
    /// database transport already holds the message) or pushes it to Redis.
    /// On error the caller answers 503 and removes the job
    /// ([`Ledger::forget_undelivered`]).
    pub async fn after_commit(&self, out: &Enqueued) -> Result<(), LedgerError> {
        match out {
            Enqueued::Created(job) => {
                self.transport
                    .announce(&self.wakeups, std::slice::from_ref(job))
                    .await?;
                self.metrics.record_created(&job.kind);
                Ok(())
            }
            Enqueued::Existing(_) => Ok(()),
        }
    }

    /// Which of `rows` (of `queue`) the transport holds no live message for;
    /// a message locked before `locked_since` counts as lost (see
    /// [`Transport::missing`](crate::queue::Transport)).
    pub async fn missing(
        &self,
        queue: QueueName,
        rows: &[&JobRun],
        locked_since: DateTime<Utc>,
    ) -> Result<Vec<bool>, LedgerError> {
        self.transport
            .missing(&self.db, queue, rows, locked_since)
            .await
    }

    /// Delivers ledger rows whose message the transport lost again (the
    /// sweeper's repair, safe to run from several workers at once); returns
    /// how many were.
    pub async fn redeliver(&self, rows: &[JobRun]) -> Result<u64, LedgerError> {
        self.transport
            .redeliver(&self.db, &self.wakeups, rows)
            .await
    }

    /// After a commit that re-armed a job (retry, backoff): tell the workers.
    /// A failure is logged, not returned: the ledger already holds the job as
    /// `queued`, and the sweeper delivers it once Redis is back.
    pub(super) async fn announce_rearmed(&self, job: &JobRun) {
        if let Err(e) = self
            .transport
            .announce(&self.wakeups, std::slice::from_ref(job))
            .await
        {
            tracing::warn!(job_id = %job.id, error = %e, "could not push a re-armed job; the sweeper will deliver it");
        }
    }
}
