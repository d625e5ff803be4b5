//! Dispatch from a decoded payload to its job family's handler, and the error
//! classification every handler uses.

use std::time::Duration;

use uuid::Uuid;

use crate::{context::AppContext, media, noop, notify, payload::JobPayload};

/// How a job failed. Every failure is one or the other.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Transient (network, 5xx, timeouts, locks): retried with backoff.
    #[error("{0:#}")]
    Retry(anyhow::Error),
    /// Transient, and the other side said when to come back (`Retry-After`):
    /// retried no earlier than `after` (and never sooner than the backoff).
    #[error("{error:#} (asked to retry after {}s)", after.as_secs())]
    RetryAfter {
        /// What went wrong.
        error: anyhow::Error,
        /// The requested delay.
        after: Duration,
    },
    /// Permanent (bad input, unsupported media, a provider's 4xx): never retried.
    #[error("{0}")]
    Abort(String),
}

impl JobError {
    /// True for [`JobError::Retry`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, JobError::Retry(_) | JobError::RetryAfter { .. })
    }

    /// The delay the other side asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            JobError::RetryAfter { after, .. } => Some(*after),
            JobError::Retry(_) | JobError::Abort(_) => None,
        }
    }
}

/// What a handler sees of the job it runs.
#[derive(Debug, Clone)]
pub struct JobCtx {
    /// Shared services.
    pub app: AppContext,
    /// The ledger id.
    pub job_id: Uuid,
    /// The owner recorded in the ledger.
    pub owner: String,
    /// This attempt, 1-based.
    pub attempt: u32,
}

impl JobCtx {
    /// Records progress (0–100) in the ledger; failures are only logged.
    pub async fn progress(&self, percent: u8) {
        if let Err(e) = self.app.ledger.set_progress(self.job_id, percent).await {
            tracing::warn!(job_id = %self.job_id, error = %e, "could not record progress");
        }
    }
}

/// Runs one job and returns its result JSON.
pub async fn run(ctx: &JobCtx, payload: JobPayload) -> Result<serde_json::Value, JobError> {
    match payload {
        JobPayload::ImageProcessV1(p) => media::run(ctx, p).await,
        JobPayload::NoopV1(p) => noop::run(&p, ctx.attempt).await,
        JobPayload::EmailSendV1(p) => notify::jobs::send_email(ctx, p).await,
        JobPayload::PushSendV1(p) => notify::jobs::send_push(ctx, p).await,
        JobPayload::WebhookDeliverV1(p) => notify::events::deliver(ctx, p).await,
    }
}
