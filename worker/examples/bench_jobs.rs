//! Queue-runtime benchmark: `noop` jobs through the real ledger, transport and
//! worker runtime.
//!
//! ```text
//! cargo run --release -p kiln-worker --example bench_jobs -- --jobs 20000 --concurrency 8
//! cargo run --release -p kiln-worker --example bench_jobs -- --database-url postgres://…/kiln_bench
//! cargo run --release -p kiln-worker --example bench_jobs -- --database-url postgres://… --redis-url redis://127.0.0.1:6379
//! ```
//!
//! Phase 1 enqueues `--jobs` jobs with no worker running (enqueue rate), then
//! starts the workers and times the drain until every job has succeeded.
//! Phase 2 enqueues at a steady `--rate` for `--latency-secs` while the workers
//! run, and reads enqueue→start latency (`started_at − created_at`) back from
//! the ledger. The database must be empty (the default is a fresh temporary
//! SQLite file). Figures belong in notes, never in tests.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use clap::Parser;
use kiln_jobs::{
    AppContext, Config, QueueName,
    db::{Db, job_runs},
    ledger::NewJob,
    noop::NoopV1,
};
use tokio_util::sync::CancellationToken;

/// Benchmark Kiln's job runtime with no-op jobs.
#[derive(Debug, Parser)]
struct Args {
    /// Jobs enqueued up front, then drained (phase 1).
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,
    /// Concurrency of the `notifications` queue's worker.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Database to use; must be empty (default: a fresh temporary SQLite file).
    #[arg(long)]
    database_url: Option<String>,
    /// Redis URL: queues on Redis Streams (under a fresh key prefix, removed afterwards).
    #[arg(long)]
    redis_url: Option<String>,
    /// Measure the Redis transport alone (needs --redis-url): push --jobs
    /// messages, drain them through the apalis backend with a handler that
    /// only acknowledges; no ledger.
    #[arg(long)]
    transport_only: bool,
    /// Enqueue in batches of this many jobs (one transaction and one push per batch);
    /// 1 enqueues each job on its own.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Idle poll interval of the workers in milliseconds.
    #[arg(long, default_value_t = 50)]
    poll_ms: u64,
    /// Enqueue rate of the latency phase, jobs per second (0 skips the phase).
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Length of the latency phase in seconds.
    #[arg(long, default_value_t = 5)]
    latency_secs: u64,
    /// Jobs of a third phase, all due 2 s after they are enqueued: how late
    /// after their due time they start (0 skips the phase).
    #[arg(long, default_value_t = 0)]
    delayed: usize,
    /// Owner of the jobs. A user id (any UUID) makes every completion look up
    /// that user's webhooks, as production jobs do; the default owner has none.
    #[arg(long, default_value = "bench")]
    owner: String,
    /// Concurrent producers of the up-front enqueue (each enqueue is its own transaction).
    #[arg(long, default_value_t = 1)]
    producers: usize,
    /// Database pool size (default: 2 × concurrency + 4, at most 64).
    #[arg(long)]
    pool: Option<u32>,
    /// Give up when a phase has not finished after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

/// The jobs' owner (`--owner`), set once at start.
static OWNER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn noop_job() -> NewJob {
    NewJob::new(
        OWNER.get().map_or("bench", String::as_str),
        NoopV1 {
            queue: QueueName::Notifications,
            ..Default::default()
        },
    )
}

/// Waits until `expected` jobs have succeeded; fails on any other terminal
/// status or when `timeout` passes.
async fn wait_succeeded(db: &Db, expected: i64, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let counts = job_runs::count_by_status(db).await?;
        let count = |s: &str| counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
        if count("failed") + count("dead") > 0 {
            bail!("jobs failed: {counts:?}");
        }
        if count("succeeded") >= expected {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "only {} of {expected} jobs succeeded after {timeout:?}: {counts:?}",
                count("succeeded")
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = OWNER.set(args.owner.clone());
    if args.transport_only {
        return transport_only(&args).await;
    }
    let dir = tempfile::tempdir().context("temp dir")?;
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite:{}", dir.path().join("bench.db").display()));
    let kind = match (url.starts_with("sqlite:"), args.redis_url.is_some()) {
        (true, false) => "sqlite",
        (false, false) => "postgres",
        (true, true) => "sqlite+redis",
        (false, true) => "postgres+redis",
    };

    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.storage.url = Some(dir.path().join("objects").display().to_string());
    config.queues.poll_interval_ms = args.poll_ms;
    config.queues.notifications.concurrency = args.concurrency.max(1);
    config.worker.shutdown_timeout_secs = 10;
    let redis_prefix = format!("kiln-bench-{}", uuid::Uuid::now_v7().simple());
    if let Some(url) = &args.redis_url {
        config.redis.url = Some(secrecy::SecretString::from(url.clone()));
        config.redis.prefix = redis_prefix.clone();
    }
    let pool = args.pool.unwrap_or_else(|| {
        u32::try_from(args.concurrency * 2 + 4)
            .unwrap_or(64)
            .min(64)
    });
    let db = Db::connect(&url, pool, Duration::from_secs(10)).await?;
    db.migrate().await?;
    let app = AppContext::with_db(Arc::new(config), db.clone())?;
    if !job_runs::count_by_status(&db).await?.is_empty() {
        bail!("the database already holds jobs; give the benchmark an empty database");
    }
    let timeout = Duration::from_secs(args.timeout_secs);
    let queues = [QueueName::Notifications];

    // Phase 1: enqueue everything, then drain.
    let t = Instant::now();
    let producers = args.producers.max(1);
    let mut tasks = tokio::task::JoinSet::new();
    for p in 0..producers {
        let app = app.clone();
        let n = args.jobs / producers + usize::from(p < args.jobs % producers);
        let batch = args.batch.max(1);
        tasks.spawn(async move {
            if batch == 1 {
                for _ in 0..n {
                    app.ledger.enqueue(noop_job()).await?;
                }
            } else {
                let mut left = n;
                while left > 0 {
                    let k = left.min(batch);
                    app.ledger
                        .enqueue_many((0..k).map(|_| noop_job()).collect())
                        .await?;
                    left -= k;
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.context("producer panicked")??;
    }
    let enqueue_secs = t.elapsed().as_secs_f64();
    let enqueue_rate = args.jobs as f64 / enqueue_secs;
    println!(
        "enqueue: {} jobs in {enqueue_secs:.2}s = {enqueue_rate:.0} jobs/s ({producers} producer(s), {} job(s) per transaction)",
        args.jobs,
        args.batch.max(1)
    );

    let token = CancellationToken::new();
    let cpu0 = match &args.redis_url {
        Some(u) => Some(redis_cpu(u).await?),
        None => None,
    };
    let t = Instant::now();
    let workers = {
        let (app, token) = (app.clone(), token.clone());
        tokio::spawn(async move { kiln_worker::run(app, &queues, token).await })
    };
    let drained = wait_succeeded(&db, args.jobs as i64, timeout).await;
    let drain_secs = t.elapsed().as_secs_f64();
    if let Err(e) = drained {
        token.cancel();
        return Err(e);
    }
    let drain_rate = args.jobs as f64 / drain_secs;
    let redis_us = match (&args.redis_url, cpu0) {
        (Some(u), Some(c0)) => {
            let us = (redis_cpu(u).await? - c0) * 1e6 / args.jobs as f64;
            format!("; Redis CPU {us:.1} us/job")
        }
        _ => String::new(),
    };
    println!(
        "drain: {} jobs in {drain_secs:.2}s = {drain_rate:.0} jobs/s (workers started after the enqueue){redis_us}",
        args.jobs
    );

    // Phase 2: a steady trickle while the workers run.
    let total = usize::try_from(u64::from(args.rate) * args.latency_secs).unwrap_or(0);
    let mut latency = None;
    if total > 0 {
        let period = Duration::from_secs_f64(1.0 / f64::from(args.rate));
        // One second of the same trickle first, not measured: pools open their
        // connections and the workers settle, as in a process that has been up.
        let warmup = usize::try_from(args.rate).unwrap_or(0);
        {
            let start = tokio::time::Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..warmup {
                tokio::time::sleep_until(start + period * u32::try_from(i).unwrap_or(u32::MAX))
                    .await;
                let app = app.clone();
                tasks.spawn(async move { app.ledger.enqueue(noop_job()).await.map(|_| ()) });
            }
            while let Some(joined) = tasks.join_next().await {
                joined.context("producer panicked")??;
            }
        }
        let start = tokio::time::Instant::now();
        // Each enqueue is its own task, so a slow commit does not lower the offered rate.
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..total {
            tokio::time::sleep_until(start + period * u32::try_from(i).unwrap_or(u32::MAX)).await;
            let app = app.clone();
            tasks.spawn(async move {
                let t = Instant::now();
                app.ledger
                    .enqueue(noop_job())
                    .await
                    .map(|_| t.elapsed().as_secs_f64() * 1e3)
            });
        }
        let offered = total as f64 / start.elapsed().as_secs_f64();
        let mut enqueue_ms = Vec::with_capacity(total);
        while let Some(joined) = tasks.join_next().await {
            enqueue_ms.push(joined.context("producer panicked")??);
        }
        enqueue_ms.sort_by(f64::total_cmp);
        println!(
            "enqueue call (ledger commit + push) at {offered:.0}/s: p50 {:.1} ms, p99 {:.1} ms",
            percentile(&enqueue_ms, 50.0),
            percentile(&enqueue_ms, 99.0)
        );
        let done = wait_succeeded(&db, (args.jobs + warmup + total) as i64, timeout).await;
        if let Err(e) = done {
            token.cancel();
            return Err(e);
        }
        // Ids are UUIDv7, so the newest `total` rows are this phase's.
        let rows = job_runs::list(
            &db,
            &job_runs::ListFilter {
                limit: i64::try_from(total).unwrap_or(i64::MAX),
                ..Default::default()
            },
        )
        .await?;
        let mut ms: Vec<f64> = rows
            .iter()
            .filter_map(|r| Some((r.started_at? - r.created_at).num_microseconds()? as f64 / 1e3))
            .collect();
        ms.sort_by(f64::total_cmp);
        let (p50, p99, max) = (
            percentile(&ms, 50.0),
            percentile(&ms, 99.0),
            percentile(&ms, 100.0),
        );
        println!(
            "latency: {total} jobs at {offered:.0}/s offered; enqueue->start p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms"
        );
        latency = Some((p50, p99));
    }

    // Phase 3: delayed jobs, due together.
    if args.delayed > 0 {
        let run_at = chrono::Utc::now() + chrono::Duration::seconds(2);
        let jobs: Vec<NewJob> = (0..args.delayed)
            .map(|_| NewJob {
                run_at: Some(run_at),
                ..noop_job()
            })
            .collect();
        let created = app.ledger.enqueue_many(jobs).await?;
        let done_before =
            (args.jobs + total + if total > 0 { args.rate as usize } else { 0 }) as i64;
        wait_succeeded(&db, done_before + args.delayed as i64, timeout).await?;
        let mut late = Vec::with_capacity(created.len());
        for e in &created {
            if let Some(j) = app.ledger.get(e.job().id, None).await?
                && let Some(started) = j.started_at
            {
                late.push((started - run_at).num_microseconds().unwrap_or(0) as f64 / 1e3);
            }
        }
        late.sort_by(f64::total_cmp);
        println!(
            "delayed: {} jobs due together; start after due time: min {:.1} ms, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            args.delayed,
            percentile(&late, 0.0),
            percentile(&late, 50.0),
            percentile(&late, 99.0),
            percentile(&late, 100.0)
        );
    }

    token.cancel();
    match tokio::time::timeout(Duration::from_secs(15), workers).await {
        Ok(joined) => joined.context("worker task panicked")??,
        Err(_) => bail!("workers did not stop within 15s"),
    }
    db.close().await;
    if let kiln_jobs::queue::Transport::Redis(r) = app.ledger.transport() {
        for q in QueueName::ALL {
            let _ = r.purge(q).await;
        }
    }

    let lat = latency.map_or_else(
        || "latency skipped".to_owned(),
        |(p50, p99)| format!("{}/s latency p50={p50:.1}ms p99={p99:.1}ms", args.rate),
    );
    println!(
        "SUMMARY bench_jobs db={kind} jobs={} concurrency={} poll={}ms enqueue={enqueue_rate:.0}/s drain={drain_rate:.0}/s {lat}",
        args.jobs, args.concurrency, args.poll_ms
    );
    Ok(())
}

/// Redis CPU seconds used so far (user + system), from `INFO cpu`.
async fn redis_cpu(url: &str) -> anyhow::Result<f64> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO").arg("cpu").query_async(&mut conn).await?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok(field("used_cpu_user") + field("used_cpu_sys"))
}

/// The transport alone: push, then drain through `StreamBackend` with a
/// handler that only acknowledges.
async fn transport_only(args: &Args) -> anyhow::Result<()> {
    use apalis::prelude::*;
    use kiln_jobs::queue::redis::{Outgoing, RedisQueue};
    use kiln_worker::{
        consumer::{Consumer, Delivery},
        stream::{StreamBackend, StreamShared},
    };

    let url = args
        .redis_url
        .clone()
        .context("--transport-only needs --redis-url")?;
    let mut cfg = kiln_jobs::queue::config::RedisConfig {
        url: Some(secrecy::SecretString::from(url.clone())),
        prefix: format!("kiln-bench-{}", uuid::Uuid::now_v7().simple()),
        ..Default::default()
    };
    cfg.block_ms = 200;
    let redis = RedisQueue::new(&cfg)?;
    let queue = QueueName::Notifications;
    let messages: Vec<kiln_jobs::queue::QueueMessage> = (0..args.jobs)
        .map(|_| kiln_jobs::queue::QueueMessage {
            job_id: uuid::Uuid::now_v7(),
            delivery_id: uuid::Uuid::now_v7(),
            payload: serde_json::json!({ "type": "noop.v1" }),
        })
        .collect();
    let cpu0 = redis_cpu(&url).await?;
    let t = Instant::now();
    for chunk in messages.chunks(args.batch.max(1)) {
        let out: Vec<Outgoing<'_>> = chunk
            .iter()
            .map(|message| Outgoing {
                message,
                delay: Duration::ZERO,
            })
            .collect();
        redis.push(queue, &out).await?;
    }
    let push_secs = t.elapsed().as_secs_f64();
    let cpu1 = redis_cpu(&url).await?;
    println!(
        "push: {} messages in {push_secs:.2}s = {:.0}/s ({} per call); Redis CPU {:.1} us/message",
        args.jobs,
        args.jobs as f64 / push_secs,
        args.batch.max(1),
        (cpu1 - cpu0) * 1e6 / args.jobs as f64
    );

    async fn ack_only(d: Delivery, shared: Data<Arc<StreamShared>>) -> Result<(), BoxDynError> {
        shared.finish(&d.entry_id);
        Ok(())
    }
    let consumer = Consumer::new(redis.clone());
    let (shared, acks) = StreamShared::new(consumer.clone(), queue, "bench".into());
    let stop_acks = CancellationToken::new();
    let ack_task = tokio::spawn(kiln_worker::stream::ack_loop(
        consumer,
        queue,
        acks,
        stop_acks.clone(),
    ));
    let reader = redis.reader()?;
    let concurrency = args.concurrency.max(1);
    let monitor = {
        let shared = shared.clone();
        Monitor::new().register(move |run| {
            WorkerBuilder::new(format!("bench-{run}"))
                .backend(StreamBackend::new(
                    shared.clone(),
                    concurrency.min(500),
                    reader.clone(),
                ))
                .concurrency(concurrency)
                .data(shared.clone())
                .build(ack_only)
        })
    };
    let token = CancellationToken::new();
    let t = Instant::now();
    let cpu0 = redis_cpu(&url).await?;
    let running = {
        let token = token.clone();
        tokio::spawn(async move {
            monitor
                .run_with_signal(async move {
                    token.cancelled().await;
                    Ok(())
                })
                .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    loop {
        let s = redis.stats(queue).await?;
        if s.ready == 0 && s.in_flight == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("transport drain did not finish: {s:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain_secs = t.elapsed().as_secs_f64();
    let cpu1 = redis_cpu(&url).await?;
    token.cancel();
    running.await.context("monitor panicked")??;
    stop_acks.cancel();
    ack_task.await.context("ack task panicked")?;
    redis.purge(queue).await?;
    let rate = args.jobs as f64 / drain_secs;
    let us = (cpu1 - cpu0) * 1e6 / args.jobs as f64;
    println!(
        "drain: {} messages in {drain_secs:.2}s = {rate:.0}/s at concurrency {concurrency}; Redis CPU {us:.1} us/message",
        args.jobs
    );
    println!(
        "SUMMARY bench_jobs transport=redis-only jobs={} concurrency={concurrency} drain={rate:.0}/s redis_cpu={us:.1}us/job",
        args.jobs
    );
    Ok(())
}
