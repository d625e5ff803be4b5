//! Prometheus metrics shared by the HTTP tier and the workers of one process.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder, proto::MetricType,
};

use crate::queue::{QueueName, QueueStats};

/// The process's registry and Kiln's own collectors.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// The `process_*` collectors, unprefixed (the names every Prometheus
    /// client library uses).
    process: Registry,
    started: Instant,
    jobs_total: IntCounterVec,
    jobs_created: IntCounterVec,
    jobs_completed: IntCounterVec,
    job_attempts: HistogramVec,
    job_duration: HistogramVec,
    job_start_latency: HistogramVec,
    enqueue_group: Histogram,
    media_uploads: IntCounterVec,
    /// HTTP requests by method, OpenAPI operation id and status.
    pub http_requests: IntCounterVec,
    /// HTTP latency by method and OpenAPI operation id.
    pub http_duration: HistogramVec,
    /// Requests being served now.
    pub http_in_flight: IntGauge,
    queue_jobs: IntGaugeVec,
    queue_oldest: GaugeVec,
    queue_paused: IntGaugeVec,
    workers: IntGaugeVec,
    notifications_total: IntCounterVec,
    backup_last_success: GaugeVec,
    backup_duration: HistogramVec,
    backup_size: GaugeVec,
    backup_verify_failures: IntCounter,
    reports_filed: IntCounterVec,
    reports_escalated: IntCounter,
    reports_closed: IntCounterVec,
    report_export_rows: IntCounter,
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
        let jobs_created = IntCounterVec::new(
            Opts::new("jobs_created_total", "Jobs enqueued, by kind"),
            &["kind"],
        )
        .expect("valid metric");
        let jobs_completed = IntCounterVec::new(
            Opts::new(
                "jobs_completed_total",
                "Jobs that ended, by kind and outcome: succeeded, failed, dead or cancelled",
            ),
            &["kind", "outcome"],
        )
        .expect("valid metric");
        let job_attempts = HistogramVec::new(
            HistogramOpts::new(
                "job_attempts",
                "Attempts a job took before it ended, by kind (cancelled jobs excluded)",
            )
            .buckets(vec![1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 25.0]),
            &["kind"],
        )
        .expect("valid metric");
        let job_duration = HistogramVec::new(
            HistogramOpts::new(
                "job_duration_seconds",
                "Handler run time per attempt, by kind",
            )
            .buckets(vec![
                0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 10.0, 60.0, 300.0,
            ]),
            &["kind"],
        )
        .expect("valid metric");
        let job_start_latency = HistogramVec::new(
            HistogramOpts::new(
                "job_start_latency_seconds",
                "From the time an attempt was due (enqueue, or its scheduled time) to its start, by queue",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0, 300.0,
            ]),
            &["queue"],
        )
        .expect("valid metric");
        let enqueue_group = Histogram::with_opts(
            HistogramOpts::new(
                "enqueue_group_size",
                "Lone enqueues written together by one ledger statement and commit (group commit)",
            )
            .buckets(vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 500.0,
            ]),
        )
        .expect("valid metric");
        let media_uploads = IntCounterVec::new(
            Opts::new(
                "media_uploads_total",
                "Uploads accepted, by the format sniffed from their bytes",
            ),
            &["format"],
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
        let http_in_flight =
            IntGauge::with_opts(Opts::new("http_in_flight", "HTTP requests being served"))
                .expect("valid metric");
        let queue_jobs = IntGaugeVec::new(
            Opts::new(
                "queue_jobs",
                "Jobs per queue by state: ready, delayed, in_flight, dead (sampled)",
            ),
            &["queue", "state"],
        )
        .expect("valid metric");
        let queue_oldest = GaugeVec::new(
            Opts::new(
                "queue_oldest_ready_age_seconds",
                "How long the oldest ready job of a queue has waited (sampled)",
            ),
            &["queue"],
        )
        .expect("valid metric");
        let queue_paused = IntGaugeVec::new(
            Opts::new(
                "queue_paused",
                "1 while an operator has paused the queue, else 0 (sampled)",
            ),
            &["queue"],
        )
        .expect("valid metric");
        let workers = IntGaugeVec::new(
            Opts::new(
                "workers",
                "Live worker processes running the queue (sampled from the worker registry)",
            ),
            &["queue"],
        )
        .expect("valid metric");
        let notifications_total = IntCounterVec::new(
            Opts::new(
                "notifications_total",
                "Email, push and webhook deliveries by channel and outcome",
            ),
            &["channel", "outcome"],
        )
        .expect("valid metric");
        let backup_last_success = GaugeVec::new(
            Opts::new(
                "backup_last_success_timestamp_seconds",
                "Unix time of the newest successful backup, by schedule id (`manual` for the rest)",
            ),
            &["schedule"],
        )
        .expect("valid metric");
        let backup_duration = HistogramVec::new(
            HistogramOpts::new(
                "backup_duration_seconds",
                "Time to dump, compress, hash and upload one backup, by outcome",
            )
            .buckets(vec![
                1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0,
            ]),
            &["outcome"],
        )
        .expect("valid metric");
        let backup_size = GaugeVec::new(
            Opts::new(
                "backup_size_bytes",
                "Stored bytes of the newest successful backup, by schedule id (`manual` for the rest)",
            ),
            &["schedule"],
        )
        .expect("valid metric");
        let backup_verify_failures = IntCounter::with_opts(Opts::new(
            "backup_verify_failures_total",
            "Backups whose verification (restore and compare) failed",
        ))
        .expect("valid metric");
        let reports_filed = IntCounterVec::new(
            Opts::new(
                "reports_filed_total",
                "Content reports filed, by target type and reason",
            ),
            &["target_type", "reason"],
        )
        .expect("valid metric");
        let reports_escalated = IntCounter::with_opts(Opts::new(
            "reports_escalated_total",
            "Reported targets whose priority crossed reports.auto_hide_threshold",
        ))
        .expect("valid metric");
        let reports_closed = IntCounterVec::new(
            Opts::new(
                "reports_closed_total",
                "Reports resolved or dismissed by moderators, by status and action",
            ),
            &["status", "action"],
        )
        .expect("valid metric");
        let report_export_rows = IntCounter::with_opts(Opts::new(
            "report_export_rows_total",
            "Rows written by report.export jobs",
        ))
        .expect("valid metric");
        for c in [
            Box::new(jobs_total.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(reports_filed.clone()),
            Box::new(reports_escalated.clone()),
            Box::new(reports_closed.clone()),
            Box::new(report_export_rows.clone()),
            Box::new(backup_last_success.clone()),
            Box::new(backup_duration.clone()),
            Box::new(backup_size.clone()),
            Box::new(backup_verify_failures.clone()),
            Box::new(jobs_created.clone()),
            Box::new(jobs_completed.clone()),
            Box::new(job_attempts.clone()),
            Box::new(job_duration.clone()),
            Box::new(job_start_latency.clone()),
            Box::new(enqueue_group.clone()),
            Box::new(media_uploads.clone()),
            Box::new(http_requests.clone()),
            Box::new(http_duration.clone()),
            Box::new(http_in_flight.clone()),
            Box::new(queue_jobs.clone()),
            Box::new(queue_oldest.clone()),
            Box::new(queue_paused.clone()),
            Box::new(workers.clone()),
            Box::new(notifications_total.clone()),
        ] {
            let _ = registry.register(c);
        }
        let process = Registry::new();
        #[cfg(target_os = "linux")]
        {
            let _ = process.register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ));
        }
        Self {
            registry,
            process,
            started: Instant::now(),
            jobs_total,
            jobs_created,
            jobs_completed,
            job_attempts,
            job_duration,
            job_start_latency,
            enqueue_group,
            media_uploads,
            http_requests,
            http_duration,
            http_in_flight,
            queue_jobs,
            queue_oldest,
            queue_paused,
            workers,
            notifications_total,
            backup_last_success,
            backup_duration,
            backup_size,
            backup_verify_failures,
            reports_filed,
            reports_escalated,
            reports_closed,
            report_export_rows,
        }
    }

    /// Counts one filed report (both labels are closed sets).
    pub fn record_report_filed(&self, target_type: &str, reason: &str) {
        self.reports_filed
            .with_label_values(&[target_type, reason])
            .inc();
    }

    /// Counts a triage run; `escalated` when it escalated its target.
    pub fn record_report_triage(&self, escalated: bool) {
        if escalated {
            self.reports_escalated.inc();
        }
    }

    /// Counts one report a moderator closed.
    pub fn record_report_closed(&self, status: &str, action: &str) {
        self.reports_closed
            .with_label_values(&[status, action])
            .inc();
    }

    /// Counts rows an export wrote.
    pub fn record_export_rows(&self, rows: u64) {
        self.report_export_rows.inc_by(rows);
    }

    /// Records one finished backup attempt: its duration, and for a success
    /// its size and time under `schedule` (a schedule id, or `manual`).
    pub fn record_backup(
        &self,
        schedule: &str,
        outcome: &str,
        elapsed: Duration,
        stored_bytes: Option<u64>,
    ) {
        self.backup_duration
            .with_label_values(&[outcome])
            .observe(elapsed.as_secs_f64());
        if let Some(bytes) = stored_bytes {
            self.backup_size
                .with_label_values(&[schedule])
                .set(bytes as f64);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            self.backup_last_success
                .with_label_values(&[schedule])
                .set(now);
        }
    }

    /// Counts one failed backup verification.
    pub fn record_verify_failure(&self) {
        self.backup_verify_failures.inc();
    }

    /// Adds collectors a service keeps itself (e.g. the identity service's
    /// password metrics) to the registry.
    pub fn register(&self, collectors: Vec<Box<dyn prometheus::core::Collector>>) {
        for c in collectors {
            let _ = self.registry.register(c);
        }
    }

    /// Counts one notification delivery outcome (`kiln_notifications_total`).
    pub fn record_notification(&self, channel: &str, outcome: &str) {
        self.notifications_total
            .with_label_values(&[channel, outcome])
            .inc();
    }

    /// Publishes a queue's sampled numbers.
    pub fn set_queue_stats(&self, queue: QueueName, s: &QueueStats) {
        let q = queue.as_str();
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        for (state, v) in [
            ("ready", s.ready),
            ("delayed", s.delayed),
            ("in_flight", s.in_flight),
            ("dead", s.dead),
        ] {
            self.queue_jobs.with_label_values(&[q, state]).set(clamp(v));
        }
        self.queue_oldest
            .with_label_values(&[q])
            .set(s.oldest_ready_ms as f64 / 1e3);
    }

    /// Records how many live worker processes run `queue`.
    pub fn set_workers(&self, queue: QueueName, live: usize) {
        self.workers
            .with_label_values(&[queue.as_str()])
            .set(i64::try_from(live).unwrap_or(i64::MAX));
    }

    /// Records whether `queue` is paused.
    pub fn set_queue_paused(&self, queue: QueueName, paused: bool) {
        self.queue_paused
            .with_label_values(&[queue.as_str()])
            .set(i64::from(paused));
    }

    /// Counts one delivery outcome.
    pub fn record(&self, queue: QueueName, outcome: impl AsRef<str>) {
        self.jobs_total
            .with_label_values(&[queue.as_str(), outcome.as_ref()])
            .inc();
    }

    /// Records one handler run time of a job of `kind`.
    pub fn observe_duration(&self, kind: &str, elapsed: Duration) {
        self.job_duration
            .with_label_values(&[kind])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one job enqueued.
    pub fn record_created(&self, kind: &str) {
        self.jobs_created.with_label_values(&[kind]).inc();
    }

    /// Counts one job that ended after `attempts` attempts. `outcome` is
    /// `succeeded`, `failed`, `dead` or `cancelled`; a cancelled job's
    /// attempts are not observed (it may never have run).
    pub fn record_completed(&self, kind: &str, outcome: &str, attempts: u32) {
        self.jobs_completed
            .with_label_values(&[kind, outcome])
            .inc();
        if outcome != "cancelled" {
            self.job_attempts
                .with_label_values(&[kind])
                .observe(f64::from(attempts));
        }
    }

    /// Records how long an attempt of a `queue` job waited past its due time.
    pub fn observe_start_latency(&self, queue: QueueName, waited: Duration) {
        self.job_start_latency
            .with_label_values(&[queue.as_str()])
            .observe(waited.as_secs_f64());
    }

    /// Records how many lone enqueues one group wrote.
    pub fn observe_enqueue_group(&self, jobs: usize) {
        self.enqueue_group.observe(jobs as f64);
    }

    /// Counts one accepted upload of `format` (a closed set: the sniffed formats).
    pub fn record_upload(&self, format: &str) {
        self.media_uploads.with_label_values(&[format]).inc();
    }

    /// How long ago these metrics were made (the process's start, near enough).
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The `process_*` values now, by name (empty where the platform has no
    /// process collector).
    pub fn process_values(&self) -> HashMap<String, f64> {
        let mut values = HashMap::new();
        for family in self.process.gather() {
            let Some(m) = family.get_metric().first() else {
                continue;
            };
            let v = match family.get_field_type() {
                MetricType::GAUGE => m.get_gauge().get_value(),
                MetricType::COUNTER => m.get_counter().get_value(),
                _ => continue,
            };
            values.insert(family.name().to_owned(), v);
        }
        values
    }

    /// Renders the text exposition format: Kiln's metrics, then the process's.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let mut families = self.registry.gather();
        families.extend(self.process.gather());
        if TextEncoder::new().encode(&families, &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
