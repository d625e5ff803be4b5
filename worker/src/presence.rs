//! The worker registry: every worker process writes its row in `worker_processes`
//! every [`HEARTBEAT_INTERVAL`] (host, pid, version, queues, concurrency,
//! jobs running now) and deletes it when it stops, so `GET /v1/workers` and
//! `kiln_workers{queue}` show the live fleet. A process that dies leaves a
//! row whose heartbeat ages out of [`LIVE_WINDOW`].
//!
//! [`LIVE_WINDOW`]: kiln_jobs::db::workers::LIVE_WINDOW

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use chrono::Utc;
use kiln_jobs::{
    AppContext, QueueName,
    db::workers::{self, FORGET_AFTER, HEARTBEAT_INTERVAL, WorkerRow},
};
use tokio_util::sync::CancellationToken;

/// How many jobs this process runs now.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<AtomicI64>);

/// Counts one job for as long as it lives.
#[derive(Debug)]
pub struct Running(Arc<AtomicI64>);

impl InFlight {
    /// One more job, until the guard drops (also on a panic or a stop).
    pub fn start(&self) -> Running {
        self.0.fetch_add(1, Ordering::Relaxed);
        Running(self.0.clone())
    }

    /// Jobs running now.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Beats for this process (`id`, running `queues`) until `stop`, then
/// deletes its row.
pub async fn heartbeat(
    app: AppContext,
    id: String,
    host: String,
    queues: Vec<QueueName>,
    in_flight: InFlight,
    stop: CancellationToken,
) {
    let concurrency: usize = queues
        .iter()
        .map(|&q| app.config.queues.policy(q).concurrency)
        .sum();
    let mut row = WorkerRow {
        id,
        host,
        pid: i32::try_from(std::process::id()).unwrap_or(i32::MAX),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        queues: queues.iter().map(|q| q.as_str().to_owned()).collect(),
        concurrency: i32::try_from(concurrency).unwrap_or(i32::MAX),
        in_flight: 0,
        started_at: Utc::now(),
        heartbeat_at: Utc::now(),
    };
    let forget = chrono::Duration::from_std(FORGET_AFTER).unwrap_or(chrono::Duration::minutes(10));
    loop {
        row.heartbeat_at = Utc::now();
        row.in_flight = i32::try_from(in_flight.get()).unwrap_or(i32::MAX);
        if let Err(e) = workers::beat(&app.db, &row).await {
            tracing::debug!(error = %e, "could not write the worker heartbeat");
        }
        if let Err(e) = workers::forget(&app.db, row.heartbeat_at - forget).await {
            tracing::debug!(error = %e, "could not remove old worker rows");
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(HEARTBEAT_INTERVAL) => {}
        }
    }
    if let Err(e) = workers::remove(&app.db, &row.id).await {
        tracing::warn!(error = %e, worker = %row.id, "could not remove this worker's row; it ages out");
    }
}
