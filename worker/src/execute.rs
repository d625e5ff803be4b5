//! Runs one delivery: claim it in the ledger, decode its payload, run the
//! handler (through the [`registry`](crate::registry)) under the queue's
//! timeout with panics caught, and record the outcome. The ledger decides
//! attempts, retries and `dead`; the transport only carries messages.

use std::{panic::AssertUnwindSafe, sync::Arc};

use chrono::Utc;
use futures::FutureExt;
use kiln_jobs::{
    AppContext, JobCtx, JobError, JobRun, JobStatus, QueueName, ledger::LedgerError,
    metrics::Metrics, queue::QueueMessage,
};
use tracing::Instrument;

use crate::{backoff, finish::finish, registry::Payload};

/// Shared by every delivery of one queue.
#[derive(Debug, Clone)]
pub struct Executor {
    pub(crate) app: AppContext,
    pub(crate) queue: QueueName,
    pub(crate) metrics: Arc<Metrics>,
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
}

impl Outcome {
    /// Label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Retrying => "retrying",
            Outcome::Failed => "failed",
            Outcome::Dead => "dead",
            Outcome::Skipped => "skipped",
        }
    }
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
        let ledger = &self.app.ledger;
        let Some(job) = ledger.claim(msg.job_id, msg.delivery_id).await? else {
            tracing::debug!(job_id = %msg.job_id, "job is finished, cancelled, unknown or this message is stale; skipping");
            self.metrics.record(self.queue, Outcome::Skipped.as_str());
            return Ok(Outcome::Skipped);
        };
        let span =
            tracing::info_span!("job", job_id = %job.id, kind = %job.kind, attempt = job.attempts);
        let outcome = self.run_claimed(job).instrument(span).await?;
        self.metrics.record(self.queue, outcome.as_str());
        Ok(outcome)
    }

    async fn run_claimed(&self, job: JobRun) -> Result<Outcome, LedgerError> {
        let ledger = &self.app.ledger;
        if job.attempts > job.max_attempts {
            // Redelivered after its worker died on the last allowed attempt.
            let err = "attempts exhausted: the worker running the last attempt was lost";
            finish(&self.app, &job, JobStatus::Dead, None, Some(err)).await?;
            tracing::warn!("{err}");
            return Ok(Outcome::Dead);
        }
        let payload = match Payload::decode(job.payload.clone()) {
            Ok(p) => p,
            Err(e) => {
                let err = format!("payload could not be decoded: {e}");
                finish(&self.app, &job, JobStatus::Failed, None, Some(&err)).await?;
                tracing::error!("{err}");
                return Ok(Outcome::Failed);
            }
        };
        let ctx = JobCtx {
            app: self.app.clone(),
            job_id: job.id,
            owner: job.owner.clone(),
            attempt: job.attempts,
        };
        let policy = *self.app.config.queues.policy(self.queue);
        let started = std::time::Instant::now();
        let run = AssertUnwindSafe(payload.run(&ctx)).catch_unwind();
        let result = match tokio::time::timeout(policy.timeout(), run).await {
            Ok(Ok(r)) => r,
            Ok(Err(panic)) => Err(JobError::Retry(anyhow::anyhow!(
                "handler panicked: {}",
                panic_message(&panic)
            ))),
            Err(_) => Err(JobError::Retry(anyhow::anyhow!(
                "timed out after {}s",
                policy.timeout_secs
            ))),
        };
        self.metrics.observe_duration(self.queue, started.elapsed());
        match result {
            Ok(value) => {
                if !finish(&self.app, &job, JobStatus::Succeeded, Some(&value), None).await? {
                    tracing::info!("job was cancelled while it ran; result discarded");
                    return Ok(Outcome::Skipped);
                }
                tracing::info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "job succeeded"
                );
                Ok(Outcome::Succeeded)
            }
            Err(JobError::Abort(reason)) => {
                if !finish(&self.app, &job, JobStatus::Failed, None, Some(&reason)).await? {
                    return Ok(Outcome::Skipped);
                }
                tracing::warn!(error = %reason, "job failed permanently");
                Ok(Outcome::Failed)
            }
            Err(e @ (JobError::Retry(_) | JobError::RetryAfter { .. })) => {
                let reason = e.to_string();
                if job.attempts >= job.max_attempts {
                    let msg = format!("attempts exhausted ({}): {reason}", job.max_attempts);
                    if !finish(&self.app, &job, JobStatus::Dead, None, Some(&msg)).await? {
                        return Ok(Outcome::Skipped);
                    }
                    tracing::warn!(error = %reason, "job is dead");
                    return Ok(Outcome::Dead);
                }
                let delay = backoff::delay(&policy, job.attempts).max(
                    e.retry_after()
                        .unwrap_or_default()
                        .min(backoff::MAX_REQUESTED_DELAY),
                );
                let run_at = Utc::now() + delay;
                if !ledger.schedule_retry(&job, &reason, run_at).await? {
                    tracing::info!(error = %reason, "job was cancelled while it ran; not retried");
                    return Ok(Outcome::Skipped);
                }
                tracing::warn!(error = %reason, retry_in_ms = delay.as_millis() as u64, "job failed; retry scheduled");
                Ok(Outcome::Retrying)
            }
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
