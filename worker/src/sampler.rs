//! The queue sampler: publishes each queue's numbers as gauges, so that
//! `/metrics` of any replica (API or worker) shows queue depth and age for
//! autoscaling and alerts.

use std::{sync::Arc, time::Duration};

use kiln_jobs::{Ledger, QueueName, metrics::Metrics};

/// How often [`sample_queues`] refreshes the queue gauges.
pub const QUEUE_SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// Refreshes the queue gauges every [`QUEUE_SAMPLE_INTERVAL`], forever (callers
/// abort it at shutdown). A queue whose numbers cannot be read keeps its last values.
pub async fn sample_queues(ledger: Ledger, metrics: Arc<Metrics>) {
    loop {
        match ledger.paused().await {
            Ok(paused) => {
                for queue in QueueName::ALL {
                    metrics.set_queue_paused(queue, paused.iter().any(|p| p.queue == queue));
                }
            }
            Err(e) => tracing::debug!(error = %e, "could not sample paused queues"),
        }
        for queue in QueueName::ALL {
            match ledger.queue_stats(queue).await {
                Ok(s) => metrics.set_queue_stats(queue, &s),
                Err(e) => tracing::debug!(%queue, error = %e, "could not sample queue stats"),
            }
        }
        tokio::time::sleep(QUEUE_SAMPLE_INTERVAL).await;
    }
}
