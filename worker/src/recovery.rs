//! Recovery on the SQL queues (apalis-sqlite, apalis-postgres): the periodic
//! sweep that re-delivers ledger jobs whose message the queue gave up or lost,
//! and the delay a message gets when its run could not record its outcome.
//!
//! apalis' SQL backends re-fetch a failed message at once and give it up after
//! [`TRANSPORT_MAX_ATTEMPTS`](kiln_jobs::queue::TRANSPORT_MAX_ATTEMPTS) runs.
//! A run fails only when the ledger could not be written, so without a delay a
//! short database outage would use up every run; [`hand_back`] moves the
//! message's due time out by the queue's backoff first. Whatever still falls
//! through (a message given up, lost with its worker, or deleted) the sweep
//! finds from the ledger side.

use std::time::Duration;

use apalis::prelude::TaskId;
use chrono::Utc;
use kiln_jobs::{AppContext, queue::database};
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::{Executor, backoff, sweeper::Sweeper};

/// After a run of the SQL message `task` (its `attempt`th, counted by the
/// transport) failed to record its outcome: makes the backend fetch it again
/// only after the queue's backoff for that attempt. Returns the delay, or
/// `None` when the message could not be deferred (the database is away too;
/// it then comes back at once, and the sweep covers it if its runs run out).
pub(crate) async fn hand_back(exec: &Executor, task: &TaskId, attempt: usize) -> Option<Duration> {
    let policy = exec.app.config.queues.policy(exec.queue);
    let attempt = u32::try_from(attempt).unwrap_or(u32::MAX);
    let delay = backoff::delay(policy, attempt);
    let run_at = Utc::now() + delay;
    match database::defer(&exec.app.db, &task.to_string(), run_at).await {
        Ok(true) => Some(delay),
        Ok(false) => None,
        Err(e) => {
            tracing::warn!(queue = %exec.queue, error = %e, "could not delay the message's next delivery");
            None
        }
    }
}

/// Sweeps the SQL queues every `queues.reconcile_interval_secs` (with up to a
/// fifth of it added at random, so that replicas spread out), until `stop`.
/// Every worker process sweeps; a re-delivery is a guarded update, so two
/// sweeps that find the same lost job re-deliver it once.
pub(crate) async fn sweep_loop(app: AppContext, stop: CancellationToken) {
    let every = Duration::from_secs(app.config.queues.reconcile_interval_secs.max(1));
    let mut sweeper = Sweeper::new(app.config.clone());
    loop {
        let jitter = every.mul_f64(rand::rng().random_range(0.0..0.2));
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every + jitter) => {}
        }
        match sweeper.sweep(&app.ledger).await {
            Ok(r) if r.repushed > 0 => tracing::warn!(
                checked = r.checked,
                redelivered = r.repushed,
                "sweeper re-delivered jobs the SQL queue no longer held"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed; retrying next interval"),
        }
    }
}
