//! The queue sampler: publishes each queue's numbers as gauges, so that
//! `/metrics` of any replica (API or worker) shows queue depth and age,
//! whether the queue is paused and how many workers run it, for autoscaling
//! and alerts.

use std::{sync::Arc, time::Duration};

use kiln_jobs::{AppContext, QueueName, db::workers, metrics::Metrics};

/// How often [`sample_queues`] refreshes the queue gauges.
pub const QUEUE_SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// Refreshes the queue gauges every [`QUEUE_SAMPLE_INTERVAL`], forever (callers
/// abort it at shutdown).
pub async fn sample_queues(app: AppContext, metrics: Arc<Metrics>) {
    loop {
        sample_once(&app, &metrics).await;
        tokio::time::sleep(QUEUE_SAMPLE_INTERVAL).await;
    }
}

/// Refreshes the queue gauges once. A number that cannot be read keeps its
/// last value.
pub async fn sample_once(app: &AppContext, metrics: &Metrics) {
    let ledger = &app.ledger;
    for queue in QueueName::ALL {
        match ledger.queue_stats(queue).await {
            Ok(s) => metrics.set_queue_stats(queue, &s),
            Err(e) => tracing::debug!(%queue, error = %e, "could not sample queue stats"),
        }
    }
    match ledger.paused().await {
        Ok(paused) => {
            for queue in QueueName::ALL {
                metrics.set_queue_paused(queue, paused.iter().any(|p| p.queue == queue));
            }
        }
        Err(e) => tracing::debug!(error = %e, "could not sample paused queues"),
    }
    match workers::live_now(&app.db).await {
        Ok(live) => {
            for queue in QueueName::ALL {
                let n = live
                    .iter()
                    .filter(|w| w.queues.iter().any(|q| q == queue.as_str()))
                    .count();
                metrics.set_workers(queue, n);
            }
        }
        Err(e) => tracing::debug!(error = %e, "could not sample the worker registry"),
    }
}
