//! kiln-worker: Kiln's queue runtime.
//!
//! One apalis worker per queue, each with the queue's concurrency, timeout and
//! retry policy; the [`execute::Executor`] records every transition in the
//! ledger. Backends differ only in how a queue's apalis backend is built
//! ([`register_queue!`]); everything a delivery does is backend-agnostic.

pub mod backoff;
pub mod execute;
mod probe;

use std::{sync::Arc, time::Duration};

use apalis::prelude::*;
use apalis_core::backend::ext::poll_strategy::Strategy;
use kiln_jobs::{AppContext, QueueName, db::Db};
use tokio_util::sync::CancellationToken;

pub use execute::{Executor, Outcome};

/// The apalis handler: every queue message goes through the executor.
async fn deliver(msg: serde_json::Value, exec: Data<Arc<Executor>>) -> Result<(), BoxDynError> {
    exec.execute(msg).await.map(|_| ()).map_err(|e| {
        tracing::error!(error = %e, "could not record job outcome; the message will be redelivered");
        e.into()
    })
}

/// A process-unique worker name: apalis refuses a name that is still registered.
fn worker_name(queue: QueueName, instance: &str, restart: usize) -> String {
    format!("{queue}-{instance}-{restart}")
}

/// Builds one queue's worker around `$backend` and registers it with `$monitor`.
macro_rules! register_queue {
    ($monitor:expr, $app:expr, $queue:expr, $instance:expr, $metrics:expr, |$cfg:ident| $backend:expr) => {{
        let app: AppContext = $app.clone();
        let queue: QueueName = $queue;
        let instance: String = $instance.clone();
        let exec = Arc::new(Executor {
            app: app.clone(),
            queue,
            metrics: $metrics.clone(),
        });
        let policy = *app.config.queues.policy(queue);
        $monitor.register(move |restart| {
            let $cfg = &app.config.queues;
            let strategy = Strategy::new()
                .stream(app.ledger.wakeups().subscribe(queue))
                .interval($cfg.poll_interval());
            WorkerBuilder::new(worker_name(queue, &instance, restart))
                .backend($backend.poll_with_strategy(strategy))
                .concurrency(policy.concurrency)
                .data(exec.clone())
                .build(deliver)
        })
    }};
}

/// Runs workers for `queues` until `shutdown` is cancelled, then lets in-flight
/// jobs finish for up to `worker.shutdown_timeout_secs`.
pub async fn run(
    app: AppContext,
    queues: &[QueueName],
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let instance = format!(
        "{}-{}",
        hostname(),
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    let metrics = app.metrics.clone();
    let grace = Duration::from_secs(app.config.worker.shutdown_timeout_secs);
    let mut monitor = Monitor::new()
        .should_restart(|ctx, err| {
            tracing::warn!(worker = ctx.name(), error = %err, "worker stopped; restarting");
            true
        })
        .shutdown_timeout(grace);
    for &queue in queues {
        let batch = app.config.queues.policy(queue).concurrency.clamp(1, 100);
        let heartbeat = Duration::from_secs(app.config.queues.heartbeat_secs.max(1));
        let missed = app.config.queues.missed_heartbeats.max(1);
        monitor = match &app.db {
            Db::Sqlite(pool) => {
                let pool = pool.clone();
                register_queue!(monitor, app, queue, instance, metrics, |_cfg| {
                    apalis_sqlite::SqliteStorage::<serde_json::Value>::new(&pool).with_config(
                        apalis_sqlite::Config::default()
                            .queue(queue.as_str())
                            .batch_size(batch)
                            .heartbeat_interval(heartbeat)
                            .missed_heartbeats(missed)
                            // Acknowledgement rides on result persistence: without it a
                            // finished task stays `Running` and comes back as an orphan.
                            .persist_results(true),
                    )
                })
            }
            Db::Postgres(pool) => {
                let pool = pool.clone();
                register_queue!(monitor, app, queue, instance, metrics, |_cfg| {
                    apalis_postgres::PostgresStorage::<serde_json::Value>::new(&pool).with_config(
                        apalis_postgres::Config::default()
                            .queue(queue.as_str())
                            .batch_size(batch)
                            .heartbeat_interval(heartbeat)
                            .missed_heartbeats(missed)
                            // Acknowledgement rides on result persistence: without it a
                            // finished task stays `Running` and comes back as an orphan.
                            .persist_results(true),
                    )
                })
            }
        };
        tracing::info!(%queue, concurrency = app.config.queues.policy(queue).concurrency, "worker registered");
    }
    let janitor = tokio::spawn(purge_acknowledged(app.clone(), shutdown.clone()));
    monitor
        .run_with_signal(async move {
            shutdown.cancelled().await;
            Ok(())
        })
        .await?;
    janitor.abort();
    tracing::info!("workers stopped");
    Ok(())
}

/// Periodically removes acknowledged messages from the queue backend.
async fn purge_acknowledged(app: AppContext, shutdown: CancellationToken) {
    let keep = Duration::from_secs(app.config.queues.retain_acknowledged_secs);
    let every = (keep / 4).clamp(Duration::from_secs(1), Duration::from_secs(300));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        match kiln_jobs::queue::purge_acknowledged(&app.db, keep).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(purged = n, "purged acknowledged queue messages"),
            Err(e) => tracing::warn!(error = %e, "could not purge acknowledged queue messages"),
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kiln".to_owned())
}

/// Runs the workers; in a worker-only process also serves `/health/live`,
/// `/health/ready` and `/metrics` on `worker.listen` for probes and scraping.
pub async fn serve(
    app: AppContext,
    queues: &[QueueName],
    shutdown: CancellationToken,
    with_probe_server: bool,
) -> anyhow::Result<()> {
    if with_probe_server {
        let probe = probe::serve(app.clone(), shutdown.clone());
        let (w, p) = tokio::join!(run(app, queues, shutdown.clone()), probe);
        w.and(p)
    } else {
        run(app, queues, shutdown).await
    }
}

/// Runs the workers of `queues` until the ledger holds no `queued` or
/// `running` job, then shuts them down gracefully. Tests and one-off drains
/// use it to drive work deterministically instead of sleeping.
pub async fn run_until_idle(
    app: AppContext,
    queues: &[QueueName],
    deadline: Duration,
) -> anyhow::Result<()> {
    let token = CancellationToken::new();
    let runtime = {
        let (app, queues, token) = (app.clone(), queues.to_vec(), token.clone());
        tokio::spawn(async move { run(app, &queues, token).await })
    };
    let until = tokio::time::Instant::now() + deadline;
    let outcome = loop {
        let counts = kiln_jobs::db::job_runs::count_by_status(&app.db).await?;
        let active: i64 = counts
            .iter()
            .filter(|(s, _)| s == "queued" || s == "running")
            .map(|(_, n)| n)
            .sum();
        if active == 0 {
            break Ok(());
        }
        if tokio::time::Instant::now() >= until {
            break Err(anyhow::anyhow!(
                "jobs still active after {deadline:?}: {counts:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    token.cancel();
    runtime.await??;
    outcome
}
