//! kiln-worker: Kiln's queue runtime.
//!
//! One apalis worker per queue, each with the queue's concurrency, timeout and
//! retry policy; the [`execute::Executor`] records every transition in the
//! ledger and runs handlers through the [`registry`], the one list of job
//! types. Backends differ only in how a queue's apalis backend is built
//! ([`register_queue!`]); everything a delivery does is backend-agnostic.
//! Beside the workers run the [`sweeper`] (on every transport: Redis'
//! `sweep_loop` here, the SQL queues' in `recovery`), the queue [`sampler`]
//! the backup [`scheduler`] and the [`pause`] watcher, which pauses and
//! resumes the workers of the queues operators pause.

pub mod backoff;
pub mod consumer;
pub mod execute;
mod finish;
pub mod pause;
pub mod presence;
pub mod probe;
mod recovery;
pub mod registry;
mod restart;
pub mod sampler;
pub mod scheduler;
pub mod stream;
pub mod sweeper;
pub mod throughput;

use std::{sync::Arc, time::Duration};

use apalis::prelude::*;
use apalis_core::backend::ext::poll_strategy::Strategy;
use kiln_jobs::{AppContext, QueueName, db::Db, queue::Transport};
use tokio_util::sync::CancellationToken;

use consumer::{Consumer, Delivery};
pub use execute::{Executor, Outcome};
use pause::Pauses;
use stream::{StreamBackend, StreamShared};
use sweeper::Sweeper;

/// The apalis handler on the SQL queues: every message goes through the
/// executor. When its outcome could not be recorded, the message is handed
/// back to be fetched again after the queue's backoff.
async fn deliver(
    msg: serde_json::Value,
    exec: Data<Arc<Executor>>,
    task: TaskId,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    match exec.execute(msg).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let delay = recovery::hand_back(&exec, &task, attempt.current()).await;
            tracing::error!(
                error = %e,
                transport_attempt = attempt.current(),
                redeliver_in_ms = delay.map(|d| d.as_millis() as u64),
                "could not record job outcome; the message will be redelivered"
            );
            Err(e.into())
        }
    }
}

/// The apalis handler on Redis: runs the message, then acknowledges it (after
/// the ledger recorded the outcome) or, when that failed, leaves it for
/// redelivery once its lease runs out. A handler whose lease is lost is
/// stopped, and the entry left to the consumer that took it over.
async fn deliver_stream(
    d: Delivery,
    exec: Data<Arc<Executor>>,
    shared: Data<Arc<StreamShared>>,
) -> Result<(), BoxDynError> {
    let msg = match d.message {
        Ok(m) => m,
        Err(reason) => {
            tracing::error!(queue = %shared.queue, entry = %d.entry_id, %reason, "not a Kiln queue message; kept in the poison list and acknowledged");
            exec.metrics.record(shared.queue, Outcome::Skipped.as_str());
            if let Err(e) = shared.redis.keep_poison(shared.queue, &d.raw).await {
                tracing::warn!(error = %e, "could not keep the poison entry");
            }
            shared.finish(&d.entry_id);
            return Ok(());
        }
    };
    let fence = shared.fence(&d.entry_id);
    match exec.execute_fenced(msg, &fence).await {
        Ok(Outcome::Fenced) => {
            // Another consumer holds the entry now: it acknowledges it.
            shared.release(&d.entry_id);
            Ok(())
        }
        Ok(_) => {
            shared.finish(&d.entry_id);
            Ok(())
        }
        Err(e) => {
            shared.release(&d.entry_id);
            tracing::error!(error = %e, "could not record job outcome; the job is delivered again after its lease");
            Err(e.into())
        }
    }
}

/// A process-unique worker name: apalis refuses a name that is still registered.
fn worker_name(queue: QueueName, instance: &str, restart: usize) -> String {
    format!("{queue}-{instance}-{restart}")
}

/// Builds one queue's worker around `$backend` and registers it with `$monitor`.
macro_rules! register_queue {
    ($monitor:expr, $app:expr, $queue:expr, $instance:expr, $metrics:expr, $pauses:expr, $in_flight:expr, $throughput:expr, |$cfg:ident| $backend:expr) => {{
        let app: AppContext = $app.clone();
        let queue: QueueName = $queue;
        let instance: String = $instance.clone();
        let exec = Arc::new(Executor {
            app: app.clone(),
            queue,
            metrics: $metrics.clone(),
            in_flight: $in_flight.clone(),
            throughput: $throughput.clone(),
        });
        let policy = *app.config.queues.policy(queue);
        let pauses: Pauses = $pauses.clone();
        let restarts = restart::Restarts::default();
        $monitor.register(move |restart| {
            let $cfg = &app.config.queues;
            let strategy = Strategy::new()
                .stream(app.ledger.wakeups().subscribe(queue))
                .interval($cfg.poll_interval());
            let backend = restart::Paced::new(
                $backend.poll_with_strategy(strategy),
                restarts.delay(restart),
            );
            WorkerBuilder::new(worker_name(queue, &instance, restart))
                .backend(backend)
                .concurrency(policy.concurrency)
                .data(exec.clone())
                .on_event(pauses.listener(queue))
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
    let background = CancellationToken::new();
    let acks_done = CancellationToken::new();
    let mut tasks = Vec::new();
    let mut ack_tasks = Vec::new();
    let mut streams = Vec::new();
    // The queues paused now, before any worker starts: one that starts while
    // its queue is paused pauses at once.
    let pauses = Pauses::default();
    pauses.refresh(&app).await;
    let in_flight = presence::InFlight::default();
    let ended = throughput::Throughput::default();
    for &queue in queues {
        let batch = app.config.queues.policy(queue).concurrency.clamp(1, 100);
        let heartbeat = Duration::from_secs(app.config.queues.heartbeat_secs.max(1));
        let missed = app.config.queues.missed_heartbeats.max(1);
        monitor = match (app.ledger.transport(), &app.db) {
            (Transport::Redis(redis), _) => {
                let redis = Consumer::new(redis.clone());
                let (shared, acks) = StreamShared::new(redis.clone(), queue, instance.clone());
                ack_tasks.push(tokio::spawn(stream::ack_loop(
                    redis.clone(),
                    queue,
                    acks,
                    acks_done.clone(),
                )));
                tasks.push(tokio::spawn(stream::lease_loop(
                    shared.clone(),
                    background.clone(),
                )));
                tasks.push(tokio::spawn(stream::promote_loop(
                    redis.clone(),
                    queue,
                    background.clone(),
                )));
                streams.push(shared.clone());
                let exec = Arc::new(Executor {
                    app: app.clone(),
                    queue,
                    metrics: metrics.clone(),
                    in_flight: in_flight.clone(),
                    throughput: ended.clone(),
                });
                let instance = instance.clone();
                let app = app.clone();
                let pauses = pauses.clone();
                // One blocking-read connection per queue, reused across restarts.
                let reader = redis.redis().reader()?;
                monitor.register(move |restart| {
                    let backend = StreamBackend::new(shared.clone(), batch, reader.clone());
                    WorkerBuilder::new(worker_name(queue, &instance, restart))
                        .backend(backend)
                        .concurrency(app.config.queues.policy(queue).concurrency)
                        .data(exec.clone())
                        .data(shared.clone())
                        .on_event(pauses.listener(queue))
                        .build(deliver_stream)
                })
            }
            (Transport::Database, Db::Sqlite(pool)) => {
                let pool = pool.clone();
                register_queue!(
                    monitor,
                    app,
                    queue,
                    instance,
                    metrics,
                    pauses,
                    in_flight,
                    ended,
                    |_cfg| {
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
                    }
                )
            }
            (Transport::Database, Db::Postgres(pool)) => {
                let pool = pool.clone();
                register_queue!(
                    monitor,
                    app,
                    queue,
                    instance,
                    metrics,
                    pauses,
                    in_flight,
                    ended,
                    |_cfg| {
                        apalis_postgres::PostgresStorage::<serde_json::Value>::new(&pool)
                            .with_config(
                                apalis_postgres::Config::default()
                                    .queue(queue.as_str())
                                    .batch_size(batch)
                                    .heartbeat_interval(heartbeat)
                                    .missed_heartbeats(missed)
                                    // Acknowledgement rides on result persistence: without it a
                                    // finished task stays `Running` and comes back as an orphan.
                                    .persist_results(true),
                            )
                    }
                )
            }
        };
        tracing::info!(%queue, concurrency = app.config.queues.policy(queue).concurrency, transport = app.ledger.transport().name(), "worker registered");
    }
    tasks.push(tokio::spawn(presence::heartbeat(
        app.clone(),
        instance.clone(),
        hostname(),
        queues.to_vec(),
        in_flight.clone(),
        background.clone(),
    )));
    tasks.push(tokio::spawn(throughput::flush_loop(
        app.clone(),
        ended.clone(),
        background.clone(),
    )));
    tasks.push(tokio::spawn(pause::watch(
        app.clone(),
        pauses.clone(),
        background.clone(),
    )));
    tasks.push(tokio::spawn(scheduler::run(
        app.clone(),
        background.clone(),
    )));
    if let Transport::Redis(_) = app.ledger.transport() {
        tasks.push(tokio::spawn(sweep_loop(
            app.clone(),
            instance.clone(),
            background.clone(),
        )));
    }
    if let Transport::Database = app.ledger.transport() {
        tasks.push(tokio::spawn(purge_acknowledged(
            app.clone(),
            background.clone(),
        )));
        tasks.push(tokio::spawn(recovery::sweep_loop(
            app.clone(),
            background.clone(),
        )));
    }
    app.startup.workers_running();
    let outcome = monitor
        .run_with_signal(async move {
            shutdown.cancelled().await;
            Ok(())
        })
        .await;
    background.cancel();
    acks_done.cancel();
    for t in ack_tasks {
        let _ = t.await;
    }
    for shared in &streams {
        stream::release_consumer(shared).await;
    }
    for t in tasks {
        let _ = t.await;
    }
    outcome?;
    tracing::info!("workers stopped");
    Ok(())
}

/// Re-pushes ledger jobs Redis lost, every `redis.sweep_interval_secs`. One
/// replica sweeps at a time (a Redis lock); overlapping sweeps would be safe
/// anyway, since pushes are idempotent per delivery.
async fn sweep_loop(app: AppContext, instance: String, stop: CancellationToken) {
    let Transport::Redis(redis) = app.ledger.transport() else {
        return;
    };
    let redis = Consumer::new(redis.clone());
    let every = Duration::from_secs(app.config.redis.sweep_interval_secs.max(1));
    let mut sweeper = Sweeper::new(app.config.clone());
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        match redis.try_lock_sweeper(&instance, every).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "sweeper: Redis unavailable");
                continue;
            }
        }
        match sweeper.sweep(&app.ledger).await {
            Ok(r) if r.repushed > 0 => {
                tracing::warn!(
                    checked = r.checked,
                    repushed = r.repushed,
                    "sweeper re-pushed jobs Redis did not hold"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed; retrying next interval"),
        }
    }
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
