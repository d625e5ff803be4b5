//! `noop`: a job that does no real work, for throughput benchmarks and for
//! exercising the runtime (retries, aborts, panics, timeouts) in tests.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{
    context::JobCtx,
    job::{Job, JobError},
    queue::QueueName,
};

/// Payload of a `noop` job. Every field is optional; the default does nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoopV1 {
    /// Queue to run on (default `notifications`).
    pub queue: QueueName,
    /// Sleep this long before finishing.
    pub sleep_ms: u64,
    /// Fail with a retryable error on attempts `1..=fail_attempts`.
    pub fail_attempts: u32,
    /// With `fail_attempts`: ask for the retry no earlier than this (as a
    /// provider's `Retry-After` would).
    pub retry_after_ms: u64,
    /// Fail with a permanent error.
    pub abort: bool,
    /// Panic inside the handler.
    pub panic: bool,
}

impl Default for NoopV1 {
    fn default() -> Self {
        Self {
            queue: QueueName::Notifications,
            sleep_ms: 0,
            fail_attempts: 0,
            retry_after_ms: 0,
            abort: false,
            panic: false,
        }
    }
}

impl Job for NoopV1 {
    const KIND: &'static str = "noop";
    const TYPE: &'static str = "noop.v1";
    fn queue(&self) -> QueueName {
        self.queue
    }
}

/// Runs a `noop` job.
pub async fn run(ctx: &JobCtx, job: NoopV1) -> Result<serde_json::Value, JobError> {
    let attempt = ctx.attempt;
    if job.sleep_ms > 0 {
        tokio::time::sleep(Duration::from_millis(job.sleep_ms)).await;
    }
    if job.panic {
        panic!("noop job asked to panic");
    }
    if job.abort {
        return Err(JobError::Abort("noop job asked to abort".into()));
    }
    if attempt <= job.fail_attempts {
        let error = anyhow::anyhow!(
            "noop job asked to fail attempt {attempt} of {}",
            job.fail_attempts
        );
        return Err(match job.retry_after_ms {
            0 => JobError::Retry(error),
            ms => JobError::RetryAfter {
                error,
                after: Duration::from_millis(ms),
            },
        });
    }
    Ok(serde_json::json!({ "attempt": attempt }))
}
