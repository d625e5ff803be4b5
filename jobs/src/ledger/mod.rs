//! The job ledger: the durable truth about every job, and the one enqueue API
//! every producer uses.

mod batch;

use std::{str::FromStr, sync::Arc};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    config::QueuesConfig,
    db::{Db, DbTx, is_unique_violation, job_runs},
    payload::JobPayload,
    queue::{
        self, QueueError, QueueMessage, QueueName, Transport, Wakeups,
        redis::{Outgoing, RedisQueue},
    },
};

/// The database error type, re-exported for callers without a direct sqlx dependency.
pub use sqlx::Error as SqlxError;

/// Status of a job in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting in the queue (first run or a scheduled retry).
    Queued,
    /// A worker is running it.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Failed permanently (bad input); not retried.
    Failed,
    /// Failed on every attempt.
    Dead,
    /// Cancelled by its owner or an operator.
    Cancelled,
}

impl JobStatus {
    /// The stored string.
    pub const fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Dead => "dead",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// True once the job will not run again by itself.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Dead | JobStatus::Cancelled
        )
    }
}

impl FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "succeeded" => JobStatus::Succeeded,
            "failed" => JobStatus::Failed,
            "dead" => JobStatus::Dead,
            "cancelled" => JobStatus::Cancelled,
            other => return Err(format!("unknown job status `{other}`")),
        })
    }
}

/// A ledger entry.
#[derive(Debug, Clone, Serialize)]
pub struct JobRun {
    pub id: Uuid,
    pub kind: String,
    pub queue: String,
    pub status: JobStatus,
    pub owner: String,
    pub idempotency_key: Option<String>,
    pub payload: serde_json::Value,
    pub attempts: u32,
    pub max_attempts: u32,
    pub progress: u8,
    pub result: Option<serde_json::Value>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub next_run_at: Option<DateTime<Utc>>,
    /// The queue message currently allowed to run this job.
    #[serde(skip)]
    pub delivery_id: Option<Uuid>,
}

impl TryFrom<job_runs::JobRunRow> for JobRun {
    type Error = LedgerError;
    fn try_from(r: job_runs::JobRunRow) -> Result<Self, Self::Error> {
        Ok(JobRun {
            id: r.id,
            kind: r.kind,
            queue: r.queue,
            status: r.status.parse().map_err(LedgerError::Corrupt)?,
            owner: r.owner,
            idempotency_key: r.idempotency_key,
            payload: r.payload.0,
            attempts: u32::try_from(r.attempts).unwrap_or(0),
            max_attempts: u32::try_from(r.max_attempts).unwrap_or(1),
            progress: u8::try_from(r.progress.clamp(0, 100)).unwrap_or(0),
            result: r.result.map(|j| j.0),
            last_error: r.last_error,
            created_at: r.created_at,
            updated_at: r.updated_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            next_run_at: r.next_run_at,
            delivery_id: r.delivery_id,
        })
    }
}

/// Errors from the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The database failed or is unreachable.
    #[error("ledger database: {0}")]
    Db(#[from] sqlx::Error),
    /// The queue refused the message (nothing was committed).
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A stored value does not parse.
    #[error("ledger row is corrupt: {0}")]
    Corrupt(String),
    /// The request conflicts with the job's state.
    #[error("{0}")]
    Conflict(String),
    /// No such job (or not visible to the caller).
    #[error("job not found")]
    NotFound,
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Who the job belongs to (a user id, or `system`).
    pub owner: String,
    /// What to run.
    pub payload: JobPayload,
    /// Makes the enqueue idempotent per owner: the same key returns the existing job.
    pub idempotency_key: Option<String>,
    /// Attempts before `dead` (default: the queue's policy).
    pub max_attempts: Option<u32>,
    /// Run no earlier than this.
    pub run_at: Option<DateTime<Utc>>,
}

impl NewJob {
    /// A job for `owner` with defaults for everything else.
    pub fn new(owner: impl Into<String>, payload: JobPayload) -> Self {
        Self {
            owner: owner.into(),
            payload,
            idempotency_key: None,
            max_attempts: None,
            run_at: None,
        }
    }
}

/// The outcome of an enqueue.
#[derive(Debug, Clone)]
pub enum Enqueued {
    /// A new job was created.
    Created(JobRun),
    /// The idempotency key named an existing job; nothing new was queued.
    Existing(JobRun),
}

impl Enqueued {
    /// The job either way.
    pub fn job(&self) -> &JobRun {
        match self {
            Enqueued::Created(j) | Enqueued::Existing(j) => j,
        }
    }
}

/// Filters for [`Ledger::list`].
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this owner's jobs (`None`: everyone's, for operators).
    pub owner: Option<String>,
    /// Only this status.
    pub status: Option<JobStatus>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Continue after this id (the previous page's cursor).
    pub after: Option<Uuid>,
    /// Page size.
    pub limit: u32,
}

/// The ledger service.
#[derive(Debug, Clone)]
pub struct Ledger {
    db: Db,
    wakeups: Wakeups,
    queues: Arc<QueuesConfig>,
    transport: Transport,
    batcher: batch::Batcher,
}

impl Ledger {
    /// A ledger over `db` whose messages travel on `transport`.
    pub fn new(db: Db, wakeups: Wakeups, queues: Arc<QueuesConfig>, transport: Transport) -> Self {
        Self {
            db,
            wakeups,
            queues,
            transport,
            batcher: batch::Batcher::default(),
        }
    }

    /// The queue transport.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The in-process wake-ups.
    pub fn wakeups(&self) -> &Wakeups {
        &self.wakeups
    }

    /// Checks that the queue backend answers.
    pub async fn queue_ping(&self) -> Result<(), LedgerError> {
        match &self.transport {
            Transport::Database => Ok(queue::ping(&self.db).await?),
            Transport::Redis(r) => r.ping().await.map(|_| ()).map_err(LedgerError::from),
        }
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
            match &self.transport {
                Transport::Database => {
                    for q in QueueName::ALL {
                        if created.iter().any(|j| j.queue == q.as_str()) {
                            self.wakeups.wake(q);
                        }
                    }
                }
                Transport::Redis(r) => {
                    if let Err(e) = push_rows(r, &created).await {
                        for j in &created {
                            self.forget_undelivered(j.id).await;
                        }
                        return Err(e);
                    }
                }
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
        let payload = serde_json::to_value(&job.payload).map_err(QueueError::from)?;
        let max_attempts = job
            .max_attempts
            .unwrap_or(self.queues.policy(queue).max_attempts)
            .max(1);
        let now = Utc::now();
        let id = Uuid::now_v7();
        let delivery_id = Uuid::now_v7();
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
            },
        )
        .await;
        let row = match inserted {
            Ok(Some(row)) => row,
            Ok(None) => return self.existing(tx, &job).await,
            Err(e) if is_unique_violation(&e) => return self.existing(tx, &job).await,
            Err(e) => return Err(e.into()),
        };
        if let Transport::Database = self.transport {
            let msg = QueueMessage {
                job_id: id,
                delivery_id,
                payload,
            };
            queue::push_in_tx(tx, queue, &msg, job.run_at).await?;
        }
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
        let Enqueued::Created(job) = out else {
            return Ok(());
        };
        match &self.transport {
            Transport::Database => {
                if let Ok(q) = job.queue.parse() {
                    self.wakeups.wake(q);
                }
                Ok(())
            }
            Transport::Redis(r) => push_rows(r, std::slice::from_ref(job)).await,
        }
    }

    /// Pushes the current delivery of ledger rows to Redis (idempotent per
    /// delivery: what Redis already holds is left alone).
    pub async fn redeliver(&self, rows: &[JobRun]) -> Result<(), LedgerError> {
        match &self.transport {
            Transport::Database => Ok(()),
            Transport::Redis(r) => push_rows(r, rows).await,
        }
    }

    /// After a commit that re-armed a job (retry, backoff): push it to Redis.
    /// A failure is logged, not returned: the ledger already holds the job as
    /// `queued`, and the sweeper delivers it once Redis is back.
    async fn push_after_rearm(&self, job: &JobRun) {
        if let Transport::Redis(r) = &self.transport
            && let Err(e) = push_rows(r, std::slice::from_ref(job)).await
        {
            tracing::warn!(job_id = %job.id, error = %e, "could not push a re-armed job; the sweeper will deliver it");
        }
    }

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
        let rows = job_runs::list(
            &self.db,
            &job_runs::ListFilter {
                owner: f.owner.as_deref(),
                status: f.status.map(JobStatus::as_str),
                kind: f.kind.as_deref(),
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
        row.try_into()
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
        if let Transport::Database = self.transport {
            let msg = QueueMessage {
                job_id: id,
                delivery_id,
                payload: job.payload,
            };
            queue::push_in_tx(&mut tx, queue, &msg, None).await?;
        }
        let row: JobRun = job_runs::get_in_tx(&mut tx, id)
            .await?
            .ok_or(LedgerError::NotFound)?
            .try_into()?;
        tx.commit().await?;
        self.wakeups.wake(queue);
        self.push_after_rearm(&row).await;
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

    /// The numbers of `queue`: from Redis when it is the transport (cheap, O(1)
    /// commands), from the ledger otherwise. The dead count always comes from
    /// the ledger, which keeps dead jobs with their last error.
    pub async fn queue_stats(&self, queue: QueueName) -> Result<queue::QueueStats, LedgerError> {
        let dead = u64::try_from(self.dead_count(queue).await?).unwrap_or(0);
        match &self.transport {
            Transport::Redis(r) => {
                let s = r.stats(queue).await?;
                Ok(queue::QueueStats {
                    ready: s.ready,
                    delayed: s.delayed,
                    in_flight: s.in_flight,
                    dead,
                    oldest_ready_ms: s.oldest_ready_ms,
                })
            }
            Transport::Database => {
                let now = Utc::now();
                let c = job_runs::queue_counts(&self.db, queue.as_str(), now).await?;
                let oldest_ready_ms = c.oldest_ready.map_or(0, |t| {
                    u64::try_from((now - t).num_milliseconds()).unwrap_or(0)
                });
                Ok(queue::QueueStats {
                    ready: c.ready,
                    delayed: c.delayed,
                    in_flight: c.running,
                    dead,
                    oldest_ready_ms,
                })
            }
        }
    }

    /// How many jobs of `queue` are `dead`.
    pub async fn dead_count(&self, queue: QueueName) -> Result<i64, LedgerError> {
        Ok(job_runs::count_in_queue(&self.db, queue.as_str(), JobStatus::Dead.as_str()).await?)
    }

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

    /// Records success. False when the job was cancelled meanwhile.
    /// Concurrent successes are written together, one transaction per batch.
    pub async fn succeed(&self, id: Uuid, result: &serde_json::Value) -> Result<bool, LedgerError> {
        Ok(self.batcher.succeed(&self.db, id, result.clone()).await?)
    }

    /// Records a terminal failure: `failed` (permanent) or `dead` (attempts spent).
    pub async fn finish(
        &self,
        id: Uuid,
        status: JobStatus,
        result: Option<&serde_json::Value>,
        error: Option<&str>,
    ) -> Result<bool, LedgerError> {
        let mut tx = self.db.begin().await?;
        let done =
            job_runs::finish(&mut tx, id, status.as_str(), result, error, Utc::now()).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Puts a failed attempt back in the queue at `run_at`, atomically with its
    /// queue message. False when the job was cancelled meanwhile.
    pub async fn schedule_retry(
        &self,
        job: &JobRun,
        error: &str,
        run_at: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let queue: QueueName = job.queue.parse().map_err(LedgerError::Corrupt)?;
        let delivery_id = Uuid::now_v7();
        let mut tx = self.db.begin().await?;
        if !job_runs::requeue_for_retry(&mut tx, job.id, error, run_at, delivery_id, Utc::now())
            .await?
        {
            return Ok(false);
        }
        if let Transport::Database = self.transport {
            let msg = QueueMessage {
                job_id: job.id,
                delivery_id,
                payload: job.payload.clone(),
            };
            queue::push_in_tx(&mut tx, queue, &msg, Some(run_at)).await?;
        }
        tx.commit().await?;
        let rearmed = JobRun {
            delivery_id: Some(delivery_id),
            next_run_at: Some(run_at),
            status: JobStatus::Queued,
            ..job.clone()
        };
        self.push_after_rearm(&rearmed).await;
        Ok(true)
    }
}

/// Pushes the current delivery of `rows` to Redis, grouped by queue.
async fn push_rows(r: &RedisQueue, rows: &[JobRun]) -> Result<(), LedgerError> {
    let now = Utc::now();
    let mut by_queue: std::collections::HashMap<
        QueueName,
        Vec<(QueueMessage, std::time::Duration)>,
    > = std::collections::HashMap::new();
    for job in rows {
        let Some(delivery_id) = job.delivery_id else {
            continue;
        };
        let queue: QueueName = job.queue.parse().map_err(LedgerError::Corrupt)?;
        let delay = job
            .next_run_at
            .and_then(|at| (at - now).to_std().ok())
            .unwrap_or_default();
        by_queue.entry(queue).or_default().push((
            QueueMessage {
                job_id: job.id,
                delivery_id,
                payload: job.payload.clone(),
            },
            delay,
        ));
    }
    for (queue, msgs) in by_queue {
        let out: Vec<Outgoing<'_>> = msgs
            .iter()
            .map(|(message, delay)| Outgoing {
                message,
                delay: *delay,
            })
            .collect();
        r.push(queue, &out).await?;
    }
    Ok(())
}
