//! Enqueueing: a `queued` ledger row and its queue message, alone, in bulk,
//! or inside the caller's transaction.
//!
//! A lone enqueue joins the enqueues that wait while the previous group is
//! written (group commit, `group.rs`), so one statement and one commit carry
//! them all; a bulk enqueue writes 1,000 jobs per statement. Both go through
//! [`Writer::write`]: on PostgreSQL with Redis queues the rows are one
//! `INSERT` that commits on its own (one round trip), otherwise a
//! transaction also writes the database queue's messages.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SubsecRound as _, Utc};
use uuid::Uuid;

use super::{
    Enqueued, JobRun, JobStatus, Ledger, LedgerError, NewJob, Prepared,
    group::{Closed, GroupWrite},
};
use crate::{
    db::{
        Db, DbKind, DbTx, Exec, is_unique_violation,
        job_runs::{self, InsertJobRun, JobRunRow},
    },
    metrics::Metrics,
    queue::{QueueError, QueueMessage, QueueName, Transport, Wakeups},
};

impl Prepared {
    fn row(&self) -> InsertJobRun<'_> {
        InsertJobRun {
            id: self.id,
            kind: self.job.payload.kind(),
            queue: self.queue.as_str(),
            owner: &self.job.owner,
            idempotency_key: self.job.idempotency_key.as_deref(),
            payload: &self.payload,
            max_attempts: self.max_attempts,
            now: self.now,
            next_run_at: self.job.run_at,
            delivery_id: self.delivery_id,
            traceparent: self.traceparent.as_deref(),
        }
    }

    /// The job as its row now stands: what [`Prepared::row`] inserted.
    fn job_run(&self) -> JobRun {
        JobRun {
            id: self.id,
            kind: self.job.payload.kind().to_owned(),
            queue: self.queue.as_str().to_owned(),
            status: JobStatus::Queued,
            owner: self.job.owner.clone(),
            idempotency_key: self.job.idempotency_key.clone(),
            payload: self.payload.clone(),
            attempts: 0,
            max_attempts: u32::try_from(self.max_attempts).unwrap_or(1),
            progress: 0,
            result: None,
            last_error: None,
            created_at: self.now,
            updated_at: self.now,
            started_at: None,
            finished_at: None,
            next_run_at: self.job.run_at,
            due_at: self.job.run_at,
            delivery_id: Some(self.delivery_id),
            attempt_log: Vec::new(),
            traceparent: self.traceparent.clone(),
        }
    }

    fn message(&self) -> QueueMessage {
        QueueMessage {
            job_id: self.id,
            delivery_id: self.delivery_id,
            payload: self.payload.clone(),
        }
    }
}

/// What writing new jobs needs of the ledger; the group-commit task owns one.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    pub(super) db: Db,
    pub(super) transport: Transport,
    pub(super) wakeups: Wakeups,
    pub(super) metrics: std::sync::Arc<Metrics>,
}

impl Writer {
    /// Writes `new` and hands the created jobs to their queues; answers in
    /// the order of `new`. A job whose owner already has its idempotency key,
    /// in the ledger or earlier in `new`, answers that job. On error nothing
    /// of `new` stays behind.
    pub(super) async fn write(&self, new: &[Prepared]) -> Result<Vec<Enqueued>, LedgerError> {
        // One statement needs no transaction: PostgreSQL's multi-row insert,
        // when the messages go to Redis after the commit.
        let answers = if !self.transport.stages_in_tx() && self.db.kind() == DbKind::Postgres {
            insert_rows(Exec::Db(&self.db), new).await?
        } else {
            let mut tx = self.db.begin().await?;
            let answers = insert_rows(Exec::Tx(&mut tx), new).await?;
            let messages: Vec<_> = new
                .iter()
                .zip(&answers)
                .filter(|(_, a)| matches!(a, Enqueued::Created(_)))
                .map(|(n, _)| (n.queue, n.message(), n.job.run_at))
                .collect();
            self.transport.stage_many(&mut tx, &messages).await?;
            tx.commit().await?;
            answers
        };
        let created: Vec<JobRun> = answers
            .iter()
            .filter_map(|e| match e {
                Enqueued::Created(j) => Some(j.clone()),
                Enqueued::Existing(_) => None,
            })
            .collect();
        if let Err(e) = self.transport.announce(&self.wakeups, &created).await {
            for j in &created {
                forget_undelivered(&self.db, j.id).await;
            }
            return Err(e);
        }
        for j in &created {
            self.metrics.record_created(&j.kind);
        }
        Ok(answers)
    }
}

impl GroupWrite<Prepared, Enqueued, LedgerError> for Writer {
    async fn write(&self, items: &[Prepared]) -> Result<Vec<Enqueued>, LedgerError> {
        Writer::write(self, items).await
    }

    fn grouped(&self, items: usize) {
        self.metrics.observe_enqueue_group(items);
    }
}

impl From<Closed> for LedgerError {
    fn from(_: Closed) -> Self {
        LedgerError::Db(sqlx::Error::PoolClosed)
    }
}

/// Inserts the rows of `new` and answers each, in order: created, or the job
/// that already holds its idempotency key.
async fn insert_rows(mut exec: Exec<'_>, new: &[Prepared]) -> Result<Vec<Enqueued>, LedgerError> {
    let rows: Vec<_> = new.iter().map(Prepared::row).collect();
    let inserted: HashSet<Uuid> = job_runs::insert_many(exec.reborrow(), &rows)
        .await?
        .into_iter()
        .collect();
    // A job left out has an owner who already holds its key.
    let taken: Vec<(&str, &str)> = new
        .iter()
        .filter(|n| !inserted.contains(&n.id))
        .filter_map(|n| Some((n.job.owner.as_str(), n.job.idempotency_key.as_deref()?)))
        .collect();
    let existing: HashMap<(String, Option<String>), JobRunRow> = if taken.is_empty() {
        HashMap::new()
    } else {
        job_runs::find_by_idempotency_keys(exec, &taken)
            .await?
            .into_iter()
            .map(|r| ((r.owner.clone(), r.idempotency_key.clone()), r))
            .collect()
    };
    let mut out = Vec::with_capacity(new.len());
    for n in new {
        let answer = if inserted.contains(&n.id) {
            Enqueued::Created(n.job_run())
        } else {
            let key = (n.job.owner.clone(), n.job.idempotency_key.clone());
            let row = existing
                .get(&key)
                .cloned()
                .ok_or_else(|| LedgerError::Conflict("idempotency key raced; retry".into()))?;
            Enqueued::Existing(row.try_into()?)
        };
        out.push(answer);
    }
    Ok(out)
}

/// Removes a just-created job whose message never reached the queue. If
/// that fails too, the sweeper delivers the job later instead.
async fn forget_undelivered(db: &Db, id: Uuid) {
    if let Err(e) = job_runs::delete_undelivered(db, id).await {
        tracing::warn!(job_id = %id, error = %e, "could not remove an undelivered job; the sweeper will deliver it");
    }
}

/// The job that holds `job`'s idempotency key, which its insert left out.
async fn existing(tx: &mut DbTx, job: &NewJob) -> Result<Enqueued, LedgerError> {
    let key = job.idempotency_key.as_deref().unwrap_or_default();
    let row = job_runs::find_by_idempotency_key(tx, &job.owner, key)
        .await?
        .ok_or_else(|| LedgerError::Conflict("idempotency key raced; retry".into()))?;
    Ok(Enqueued::Existing(row.try_into()?))
}

impl Ledger {
    /// Checks that the queue backend answers.
    pub async fn queue_ping(&self) -> Result<(), LedgerError> {
        self.transport.ping(&self.db).await
    }

    /// Enqueues one job: once it answers, the job is committed and its
    /// message handed to the queue. It is written with the enqueues of other
    /// tasks that wait at the same time (group commit). If the message cannot
    /// be handed to the queue, the job is removed again and the error returned.
    pub async fn enqueue(&self, job: NewJob) -> Result<Enqueued, LedgerError> {
        let new = self.prepare(job)?;
        self.group.submit(new, || self.writer()).await
    }

    /// Enqueues many jobs, 1,000 per statement and push. A job whose owner
    /// already has its idempotency key, in the ledger or earlier in `jobs`,
    /// answers that job. On error, the chunks before the failing one stay
    /// enqueued and the failing chunk leaves nothing behind.
    pub async fn enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>, LedgerError> {
        let writer = self.writer();
        let mut out = Vec::with_capacity(jobs.len());
        let mut jobs = jobs.into_iter().peekable();
        while jobs.peek().is_some() {
            let chunk = jobs
                .by_ref()
                .take(1_000)
                .map(|j| self.prepare(j))
                .collect::<Result<Vec<_>, _>>()?;
            out.extend(writer.write(&chunk).await?);
        }
        Ok(out)
    }

    /// Removes a just-created job whose message never reached the queue. If
    /// that fails too, the sweeper delivers the job later instead.
    pub async fn forget_undelivered(&self, id: Uuid) {
        forget_undelivered(&self.db, id).await;
    }

    /// Enqueues inside the caller's transaction (so the job commits atomically
    /// with the caller's own rows). Call [`Ledger::after_commit`] once committed.
    pub async fn enqueue_in_tx(&self, tx: &mut DbTx, job: NewJob) -> Result<Enqueued, LedgerError> {
        let new = self.prepare(job)?;
        let row = match job_runs::insert(&mut *tx, &new.row()).await {
            Ok(Some(row)) => row,
            Ok(None) => return existing(tx, &new.job).await,
            Err(e) if is_unique_violation(&e) => return existing(tx, &new.job).await,
            Err(e) => return Err(e.into()),
        };
        self.transport
            .stage(tx, new.queue, &new.message(), new.job.run_at)
            .await?;
        Ok(Enqueued::Created(row.try_into()?))
    }

    /// Everything a new job's row and message hold, before anything is written.
    fn prepare(&self, mut job: NewJob) -> Result<Prepared, LedgerError> {
        // The answer is built from what was written, so times carry the
        // database's precision: microseconds, a due time rounded up.
        job.run_at = job.run_at.map(|at| {
            let down = at.trunc_subsecs(6);
            if down < at {
                down + chrono::TimeDelta::microseconds(1)
            } else {
                down
            }
        });
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
        Ok(Prepared {
            job,
            queue,
            payload,
            max_attempts: i32::try_from(max_attempts).unwrap_or(i32::MAX),
            now: Utc::now().trunc_subsecs(6),
            id: Uuid::now_v7(),
            delivery_id: Uuid::now_v7(),
            traceparent: crate::telemetry::current_traceparent(),
        })
    }

    fn writer(&self) -> Writer {
        Writer {
            db: self.db.clone(),
            transport: self.transport.clone(),
            wakeups: self.wakeups.clone(),
            metrics: self.metrics.clone(),
        }
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
