//! Dispatch from a decoded payload to its job family's handler, and the error
//! classification every handler uses.

use uuid::Uuid;

use crate::{context::AppContext, media, noop, payload::JobPayload};

/// How a job failed. Every failure is one or the other.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Transient (network, 5xx, timeouts, locks): retried with backoff.
    #[error("{0:#}")]
    Retry(anyhow::Error),
    /// Permanent (bad input, unsupported media, a provider's 4xx): never retried.
    #[error("{0}")]
    Abort(String),
}

impl JobError {
    /// True for [`JobError::Retry`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, JobError::Retry(_))
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
    }
}
