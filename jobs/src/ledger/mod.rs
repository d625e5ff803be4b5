//! The job ledger: the durable truth about every job, and the one enqueue API
//! every producer uses.
//!
//! - [`enqueue`](Ledger::enqueue) and its variants: producers (the API, job
//!   families, the scheduler) write a `queued` row and its queue message;
//! - the lifecycle the worker drives: [`claim`](Ledger::claim), then
//!   [`finish`](Ledger::finish) or [`schedule_retry`](Ledger::schedule_retry);
//! - what clients and operators do to jobs: get, list, cancel, retry.
//!
//! The transport (database queue tables or Redis) is reached only through
//! the `impl Transport` methods of `transport.rs`.

mod batch;
mod control;
mod enqueue;
mod group;
mod lifecycle;
mod manage;
mod transport;

use std::{str::FromStr, sync::Arc};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    db::{Db, job_runs},
    job::JobPayload,
    metrics::Metrics,
    queue::{QueueError, QueueName, Transport, Wakeups, config::QueuesConfig},
};

/// The database error type, re-exported for callers without a direct sqlx dependency.
pub use crate::db::job_runs::{AttemptOutcome, AttemptRecord};
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
    /// When the next attempt is due, while the job waits for it.
    pub next_run_at: Option<DateTime<Utc>>,
    /// When the current (or next) attempt was due, if not at creation: a
    /// scheduled run or a retry. Unlike `next_run_at` it stays once the
    /// attempt starts.
    #[serde(skip)]
    pub due_at: Option<DateTime<Utc>>,
    /// The queue message currently allowed to run this job.
    #[serde(skip)]
    pub delivery_id: Option<Uuid>,
    /// The attempts before the current one, oldest first; see [`JobRun::history`].
    #[serde(skip)]
    pub attempt_log: Vec<AttemptRecord>,
    /// The W3C trace context of the span that enqueued the job, which each
    /// attempt's span continues.
    #[serde(skip)]
    pub traceparent: Option<String>,
}

impl JobRun {
    /// How long the running attempt waited between being due and starting;
    /// `None` unless it runs, and for an attempt that took over from a lost
    /// one (whose wait includes the lost worker's lease).
    pub fn start_latency(&self) -> Option<std::time::Duration> {
        let started = self
            .started_at
            .filter(|_| self.status == JobStatus::Running)?;
        let took_over = self
            .attempt_log
            .last()
            .is_some_and(|a| a.outcome == AttemptOutcome::Lost && a.finished_at == Some(started));
        if took_over {
            return None;
        }
        let due = self.due_at.unwrap_or(self.created_at).max(self.created_at);
        Some((started - due).to_std().unwrap_or_default())
    }

    /// Every attempt, oldest first: the logged ones, then the current one
    /// from the row's own columns (none while the job waits for its next
    /// attempt, whose predecessor is logged already).
    pub fn history(&self) -> Vec<AttemptRecord> {
        let mut all = self.attempt_log.clone();
        let outcome = match self.status {
            JobStatus::Queued => None,
            JobStatus::Running => Some(AttemptOutcome::Running),
            JobStatus::Succeeded => Some(AttemptOutcome::Succeeded),
            JobStatus::Failed => Some(AttemptOutcome::Failed),
            JobStatus::Dead => Some(AttemptOutcome::Dead),
            JobStatus::Cancelled => Some(AttemptOutcome::Cancelled),
        };
        // A job cancelled between attempts: its last attempt is logged already.
        let logged = |started: Option<DateTime<Utc>>| {
            all.last()
                .is_some_and(|a| a.started_at.is_some() && a.started_at == started)
        };
        if let Some(outcome) = outcome
            && self.attempts > 0
            && self.started_at.is_some()
            && !logged(self.started_at)
        {
            let failed = matches!(outcome, AttemptOutcome::Failed | AttemptOutcome::Dead);
            all.push(AttemptRecord {
                attempt: self.attempts,
                started_at: self.started_at,
                finished_at: self.finished_at,
                outcome,
                error: failed.then(|| self.last_error.clone()).flatten(),
            });
        }
        all
    }
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
            next_run_at: r.next_run_at.filter(|_| r.status == "queued"),
            due_at: r.next_run_at,
            delivery_id: r.delivery_id,
            attempt_log: r.attempt_log.map(|j| j.0).unwrap_or_default(),
            traceparent: r.traceparent,
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
    pub fn new(owner: impl Into<String>, payload: impl Into<JobPayload>) -> Self {
        Self {
            owner: owner.into(),
            payload: payload.into(),
            idempotency_key: None,
            max_attempts: None,
            run_at: None,
        }
    }
}

/// A new job's row and message, ready to write. Built in the caller's task,
/// so that it carries the caller's trace context.
#[derive(Debug, Clone)]
struct Prepared {
    job: NewJob,
    queue: QueueName,
    payload: serde_json::Value,
    max_attempts: i32,
    now: DateTime<Utc>,
    id: Uuid,
    delivery_id: Uuid,
    traceparent: Option<String>,
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
    /// Only this queue.
    pub queue: Option<QueueName>,
    /// Created at or after this instant.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before this instant.
    pub created_until: Option<DateTime<Utc>>,
    /// The job whose id or idempotency key this is.
    pub search: Option<String>,
    /// Continue after this id (the previous page's cursor).
    pub after: Option<Uuid>,
    /// Page size.
    pub limit: u32,
}

/// What [`Ledger::purge_dead`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Dead jobs deleted.
    pub deleted: u64,
    /// Dead jobs left because a media item points to them.
    pub kept: u64,
}

/// The ledger service.
#[derive(Debug, Clone)]
pub struct Ledger {
    db: Db,
    wakeups: Wakeups,
    queues: Arc<QueuesConfig>,
    transport: Transport,
    batcher: batch::Batcher,
    /// Lone enqueues, written in groups.
    group: group::Group<Prepared, Enqueued, LedgerError>,
    /// Jobs created and cancelled are counted where they happen, here.
    metrics: Arc<Metrics>,
    /// Woken when this process pauses or resumes a queue, so its own
    /// workers apply it at once rather than at their next read.
    controls: Arc<tokio::sync::Notify>,
}

impl Ledger {
    /// A ledger over `db` whose messages travel on `transport`.
    pub fn new(
        db: Db,
        wakeups: Wakeups,
        queues: Arc<QueuesConfig>,
        transport: Transport,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            db,
            wakeups,
            queues,
            transport,
            batcher: batch::Batcher::default(),
            group: group::Group::default(),
            metrics,
            controls: Arc::default(),
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
}
