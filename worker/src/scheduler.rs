//! The backup scheduler. Every worker replica runs it: each look enqueues
//! the ticks that have come under their idempotency keys
//! ([`schedules::tick`]), so any number of replicas make one backup per tick,
//! and a tick missed while every worker was down runs once when one returns.

use std::time::Duration;

use chrono::Utc;
use kiln_jobs::{AppContext, backups::schedules};
use rand::Rng as _;
use tokio_util::sync::CancellationToken;

/// Looks at the schedules every `backups.scheduler_interval_secs` (±10%, so
/// replicas spread out) until `stop`.
pub async fn run(app: AppContext, stop: CancellationToken) {
    let every = Duration::from_secs(app.config.backups.scheduler_interval_secs.max(1));
    loop {
        match schedules::tick(&app, Utc::now()).await {
            Ok(created) if !created.is_empty() => {
                tracing::debug!(backups = created.len(), "scheduler queued backups");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "backup scheduler: could not look at the schedules")
            }
        }
        let jitter = rand::rng().random_range(0.9..1.1);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every.mul_f64(jitter)) => {}
        }
    }
}
