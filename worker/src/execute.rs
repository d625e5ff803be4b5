//! Runs one delivery: claim it in the ledger, decode its payload, run the
//! handler (through the [`registry`](crate::registry)) under the queue's
//! timeout with panics caught, and record the outcome. The ledger decides
//! attempts, retries and `dead`; the transport only carries messages.
//!
//! Each claim is an attempt with its own number, which fences the ledger
//! writes: once a later claim took the job over (this worker lost its lease),
//! this attempt's outcome is not recorded. A handler whose lease is lost is
//! stopped. An outcome whose write fails is retried, holding the message, for
//! up to `worker.record_retry_secs` before the message is given back, so a
//! database blip does not run a finished job again.

use std::{future::Future, panic::AssertUnwindSafe, sync::Arc, time::Duration};

use chrono::Utc;
use futures::FutureExt;
use kiln_jobs::{
    AppContext, JobCtx, JobError, JobRun, JobStatus, QueueName, ledger::LedgerError,
    metrics::Metrics, queue::QueueMessage, telemetry,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{
    backoff,
    finish::finish,
    registry::{self, Payload},
};

/// Shared by every delivery of one queue.
#[derive(Debug, Clone)]
pub struct Executor {
    pub(crate) app: AppContext,
    pub(crate) queue: QueueName,
    pub(crate) metrics: Arc<Metrics>,
    /// This process's running jobs, for the worker registry.
    pub(crate) in_flight: crate::presence::InFlight,
    /// The jobs this process ended, per minute, for the console.
    pub(crate) throughput: crate::throughput::Throughput,
}

/// How a delivery ended, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The job succeeded.
    Succeeded,
    /// Failed, a retry is scheduled.
    Retrying,
    /// Failed permanently.
    Failed,
    /// Attempts exhausted.
    Dead,
    /// Not run: terminal, cancelled or unknown in the ledger.
    Skipped,
    /// This worker lost its claim: its lease ran out (the handler was
    /// stopped) or a later claim took the job over. Nothing was recorded; the
    /// message is not acknowledged here, its new holder does that.
    Fenced,
}

impl Outcome {
    /// How the job ended, when this delivery ended it.
    pub fn ended(self) -> Option<JobStatus> {
        match self {
            Outcome::Succeeded => Some(JobStatus::Succeeded),
            Outcome::Failed => Some(JobStatus::Failed),
            Outcome::Dead => Some(JobStatus::Dead),
            Outcome::Retrying | Outcome::Skipped | Outcome::Fenced => None,
        }
    }

    /// Label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Retrying => "retrying",
            Outcome::Failed => "failed",
            Outcome::Dead => "dead",
            Outcome::Skipped => "skipped",
            Outcome::Fenced => "fenced",
        }
    }
}

/// How a write of an attempt's outcome went, before it is an [`Outcome`].
enum Recorded {
    /// Written.
    Done,
    /// The ledger refused it: the job is not running under this attempt.
    Refused,
    /// This worker lost its lease while it retried.
    Fenced,
}

impl Executor {
    /// Handles one raw queue message. Errors are ledger/database failures only:
    /// the transport then redelivers the message later.
    pub async fn execute(&self, raw: serde_json::Value) -> Result<Outcome, LedgerError> {
        let msg: QueueMessage = match serde_json::from_value(raw) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(queue = %self.queue, error = %e, "dropping queue message without a job id");
                self.metrics.record(self.queue, Outcome::Skipped.as_str());
                return Ok(Outcome::Skipped);
            }
        };
        self.execute_message(msg).await
    }

    /// Handles one decoded queue message (see [`Executor::execute`]).
    pub async fn execute_message(&self, msg: QueueMessage) -> Result<Outcome, LedgerError> {
        self.execute_fenced(msg, &CancellationToken::new()).await
    }

    /// [`Executor::execute_message`] for a message whose lease `fence` is
    /// cancelled when it is lost: the handler is stopped and nothing more is
    /// recorded ([`Outcome::Fenced`]).
    pub async fn execute_fenced(
        &self,
        msg: QueueMessage,
        fence: &CancellationToken,
    ) -> Result<Outcome, LedgerError> {
        if fence.is_cancelled() {
            // Lost while it waited in this worker's buffer: not started here.
            self.metrics.record(self.queue, Outcome::Fenced.as_str());
            return Ok(Outcome::Fenced);
        }
        let ledger = &self.app.ledger;
        let Some(job) = ledger.claim(msg.job_id, msg.delivery_id).await? else {
            tracing::debug!(job_id = %msg.job_id, "job is finished, cancelled, unknown or this message is stale; skipping");
            self.metrics.record(self.queue, Outcome::Skipped.as_str());
            return Ok(Outcome::Skipped);
        };
        if let Some(waited) = job.start_latency() {
            self.metrics.observe_start_latency(self.queue, waited);
        }
        let kind = registry::kind_of(&job.payload);
        let attempts = job.attempts;
        // One span per attempt, a child of the span that enqueued the job.
        let span = tracing::info_span!(
            "job",
            otel.name = kind,
            otel.kind = "consumer",
            job_id = %job.id,
            kind = %job.kind,
            attempt = job.attempts,
            queue = %self.queue,
            trace_id = tracing::field::Empty,
        );
        telemetry::continue_trace(&span, job.traceparent.as_deref(), None);
        let _running = self.in_flight.start();
        let outcome = self.run_claimed(job, kind, fence).instrument(span).await?;
        self.metrics.record(self.queue, outcome.as_str());
        if let Some(ended) = outcome.ended() {
            self.metrics
                .record_completed(kind, ended.as_str(), attempts);
            self.throughput
                .record(self.queue, ended == JobStatus::Succeeded);
        }
        Ok(outcome)
    }

    async fn run_claimed(
        &self,
        job: JobRun,
        kind: &str,
        fence: &CancellationToken,
    ) -> Result<Outcome, LedgerError> {
        if job.attempts > job.max_attempts {
            // Redelivered after its worker died on the last allowed attempt.
            let err = "attempts exhausted: the worker running the last attempt was lost";
            tracing::warn!("{err}");
            return self
                .end(&job, fence, JobStatus::Dead, None, Some(err), Outcome::Dead)
                .await;
        }
        let payload = match Payload::decode(job.payload.clone()) {
            Ok(p) => p,
            Err(e) => {
                let err = format!("payload could not be decoded: {e}");
                tracing::error!("{err}");
                return self
                    .end(
                        &job,
                        fence,
                        JobStatus::Failed,
                        None,
                        Some(&err),
                        Outcome::Failed,
                    )
                    .await;
            }
        };
        let policy = *self.app.config.queues.policy(self.queue);
        let ctx = JobCtx {
            app: self.app.clone(),
            job_id: job.id,
            owner: job.owner.clone(),
            attempt: job.attempts,
            deadline: Utc::now()
                + chrono::Duration::from_std(policy.timeout()).unwrap_or(chrono::Duration::MAX),
        };
        let started = std::time::Instant::now();
        let run = AssertUnwindSafe(payload.run(&ctx)).catch_unwind();
        let result = tokio::select! {
            biased;
            () = fence.cancelled() => {
                tracing::warn!("lease lost while the job ran; stopped it, another worker takes it over");
                return Ok(Outcome::Fenced);
            }
            r = tokio::time::timeout(policy.timeout(), run) => match r {
                Ok(Ok(r)) => r,
                Ok(Err(panic)) => Err(JobError::Retry(anyhow::anyhow!(
                    "handler panicked: {}",
                    panic_message(&panic)
                ))),
                Err(_) => Err(JobError::Retry(anyhow::anyhow!(
                    "timed out after {}s",
                    policy.timeout_secs
                ))),
            },
        };
        self.metrics.observe_duration(kind, started.elapsed());
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(value) => {
                let outcome = self
                    .end(
                        &job,
                        fence,
                        JobStatus::Succeeded,
                        Some(&value),
                        None,
                        Outcome::Succeeded,
                    )
                    .await?;
                match outcome {
                    Outcome::Succeeded => tracing::info!(elapsed_ms, "job succeeded"),
                    _ => tracing::info!(
                        "job was cancelled or taken over while it ran; result discarded"
                    ),
                }
                Ok(outcome)
            }
            Err(JobError::Abort(reason)) => {
                tracing::warn!(error = %reason, "job failed permanently");
                self.end(
                    &job,
                    fence,
                    JobStatus::Failed,
                    None,
                    Some(&reason),
                    Outcome::Failed,
                )
                .await
            }
            Err(e @ (JobError::Retry(_) | JobError::RetryAfter { .. })) => {
                let reason = e.to_string();
                if job.attempts >= job.max_attempts {
                    let msg = format!("attempts exhausted ({}): {reason}", job.max_attempts);
                    tracing::warn!(error = %reason, "job is dead");
                    return self
                        .end(
                            &job,
                            fence,
                            JobStatus::Dead,
                            None,
                            Some(&msg),
                            Outcome::Dead,
                        )
                        .await;
                }
                let delay = backoff::delay(&policy, job.attempts).max(
                    e.retry_after()
                        .unwrap_or_default()
                        .min(backoff::MAX_REQUESTED_DELAY),
                );
                let run_at = Utc::now() + delay;
                let ledger = &self.app.ledger;
                let written = self
                    .record(fence, || ledger.schedule_retry(&job, &reason, run_at))
                    .await?;
                let outcome = self.outcome_of(&job, written, Outcome::Retrying).await;
                if outcome == Outcome::Retrying {
                    tracing::warn!(error = %reason, retry_in_ms = delay.as_millis() as u64, "job failed; retry scheduled");
                }
                Ok(outcome)
            }
        }
    }

    /// Records the job's end (see [`finish`]); `outcome` when it was written.
    async fn end(
        &self,
        job: &JobRun,
        fence: &CancellationToken,
        status: JobStatus,
        result: Option<&serde_json::Value>,
        error: Option<&str>,
        outcome: Outcome,
    ) -> Result<Outcome, LedgerError> {
        let written = self
            .record(fence, || finish(&self.app, job, status, result, error))
            .await?;
        Ok(self.outcome_of(job, written, outcome).await)
    }

    /// Runs a ledger write (true: applied), retrying failures with backoff
    /// for up to `worker.record_retry_secs` while this worker keeps its lease.
    /// Only a failure that outlasts that is returned: the message then goes
    /// back to the transport and is delivered again.
    async fn record<F, Fut>(
        &self,
        fence: &CancellationToken,
        write: F,
    ) -> Result<Recorded, LedgerError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<bool, LedgerError>>,
    {
        let budget = Duration::from_secs(self.app.config.worker.record_retry_secs);
        let started = std::time::Instant::now();
        let mut failures = 0u32;
        loop {
            let err = match write().await {
                Ok(true) => return Ok(Recorded::Done),
                Ok(false) => return Ok(Recorded::Refused),
                Err(
                    e
                    @ (LedgerError::Corrupt(_) | LedgerError::Conflict(_) | LedgerError::NotFound),
                ) => {
                    return Err(e);
                }
                Err(e) => e,
            };
            let wait = backoff::record_delay(failures);
            failures += 1;
            if started.elapsed() + wait > budget {
                tracing::error!(error = %err, failures, "could not record the job's outcome; giving the message back");
                return Err(err);
            }
            if failures == 1 || failures.is_power_of_two() {
                tracing::warn!(error = %err, failures, "could not record the job's outcome; retrying");
            }
            tokio::select! {
                () = fence.cancelled() => {
                    tracing::warn!("lease lost while recording the outcome; another worker takes the job over");
                    return Ok(Recorded::Fenced);
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// What a write that was `written` means for the delivery: `done` when
    /// it applied; when the ledger refused it, [`Outcome::Skipped`] for a job
    /// cancelled meanwhile and [`Outcome::Fenced`] for one another claim took
    /// over (or whose state cannot be read now: redelivery settles it).
    async fn outcome_of(&self, job: &JobRun, written: Recorded, done: Outcome) -> Outcome {
        match written {
            Recorded::Done => done,
            Recorded::Fenced => Outcome::Fenced,
            Recorded::Refused => match self.app.ledger.get(job.id, None).await {
                Ok(Some(now)) if now.status == JobStatus::Cancelled => Outcome::Skipped,
                _ => Outcome::Fenced,
            },
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
