//! Prometheus metrics shared by the HTTP tier and the workers of one process.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

use crate::queue::QueueName;

/// The process's registry and Kiln's own collectors.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    jobs_total: IntCounterVec,
    job_duration: HistogramVec,
    /// HTTP requests by method, OpenAPI operation id and status.
    pub http_requests: IntCounterVec,
    /// HTTP latency by method and OpenAPI operation id.
    pub http_duration: HistogramVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every collector registered.
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("kiln".into()), None).unwrap_or_else(|_| Registry::new());
        // The names and label sets below are constants, so construction cannot fail.
        let jobs_total = IntCounterVec::new(
            Opts::new(
                "jobs_processed_total",
                "Job deliveries by queue and outcome",
            ),
            &["queue", "outcome"],
        )
        .expect("valid metric");
        let job_duration = HistogramVec::new(
            HistogramOpts::new("job_duration_seconds", "Handler run time per attempt").buckets(
                vec![0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 10.0, 60.0, 300.0],
            ),
            &["queue"],
        )
        .expect("valid metric");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, OpenAPI operation and status",
            ),
            &["method", "operation", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP latency").buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
            ]),
            &["method", "operation"],
        )
        .expect("valid metric");
        for c in [
            Box::new(jobs_total.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(job_duration.clone()),
            Box::new(http_requests.clone()),
            Box::new(http_duration.clone()),
        ] {
            let _ = registry.register(c);
        }
        Self {
            registry,
            jobs_total,
            job_duration,
            http_requests,
            http_duration,
        }
    }

    /// Counts one delivery outcome.
    pub fn record(&self, queue: QueueName, outcome: impl AsRef<str>) {
        self.jobs_total
            .with_label_values(&[queue.as_str(), outcome.as_ref()])
            .inc();
    }

    /// Records one handler run time.
    pub fn observe_duration(&self, queue: QueueName, elapsed: Duration) {
        self.job_duration
            .with_label_values(&[queue.as_str()])
            .observe(elapsed.as_secs_f64());
    }

    /// Renders the text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
