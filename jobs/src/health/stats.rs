//! The detailed health numbers: the build, the database pool, Redis and the
//! process. Operators read them; none of them is public.

use std::{
    collections::VecDeque,
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::{AppContext, QueueName, db::Db, queue::Transport};

/// What the running binary was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct BuildInfo {
    /// Kiln's version.
    pub version: String,
    /// The git commit built (`unknown` outside a git checkout).
    pub git_commit: String,
    /// When it was built (RFC 3339, UTC; `SOURCE_DATE_EPOCH` when set).
    pub build_time: String,
    /// The compiler (`rustc --version`).
    pub rustc: String,
}

static BUILD: OnceLock<BuildInfo> = OnceLock::new();

/// Records what the binary was built from (its `main` does, from its build
/// script); later calls are ignored.
pub fn set_build_info(info: BuildInfo) {
    let _ = BUILD.set(info);
}

/// What [`set_build_info`] recorded, or the crate version alone.
pub fn build_info() -> BuildInfo {
    BUILD.get().cloned().unwrap_or_else(|| BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        git_commit: "unknown".to_owned(),
        build_time: "unknown".to_owned(),
        rustc: "unknown".to_owned(),
    })
}

/// How many acquire samples [`PoolSamples`] keeps (five minutes at one a second).
const POOL_SAMPLES: usize = 300;

/// Timed acquisitions of a pool connection: sqlx does not report how long
/// queries wait for a connection, so a sampler acquires one now and then and
/// keeps how long that took, and whether the pool had none idle (a wait).
#[derive(Debug, Default)]
pub struct PoolSamples {
    samples: Mutex<VecDeque<(Duration, bool)>>,
}

impl PoolSamples {
    /// Times one acquisition from `db`'s pool and keeps it.
    pub async fn sample(&self, db: &Db) -> Result<Duration, sqlx::Error> {
        let started = Instant::now();
        let waited = crate::on_db!(db, p => {
            let waited = p.num_idle() == 0 && p.size() >= p.options().get_max_connections();
            drop(p.acquire().await?);
            waited
        });
        let took = started.elapsed();
        let mut samples = self
            .samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if samples.len() == POOL_SAMPLES {
            samples.pop_front();
        }
        samples.push_back((took, waited));
        Ok(took)
    }

    /// (samples, waits, p99 in milliseconds) over the samples kept.
    fn summary(&self) -> (u32, u32, Option<f64>) {
        let samples = self
            .samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let waits = samples.iter().filter(|(_, w)| *w).count();
        let mut times: Vec<Duration> = samples.iter().map(|(d, _)| *d).collect();
        times.sort_unstable();
        let p99 = (!times.is_empty()).then(|| {
            let i = (times.len() * 99).div_ceil(100).saturating_sub(1);
            (times[i].as_secs_f64() * 1e5).round() / 100.0
        });
        (
            u32::try_from(samples.len()).unwrap_or(u32::MAX),
            u32::try_from(waits).unwrap_or(u32::MAX),
            p99,
        )
    }
}

/// The database and its connection pool.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct DbStats {
    /// `sqlite` or `postgres`.
    pub kind: String,
    /// Most connections the pool opens.
    pub pool_max: u32,
    /// Connections open now.
    pub pool_size: u32,
    /// Of them, in use.
    pub in_use: u32,
    /// Of them, idle.
    pub idle: u32,
    /// Timed acquisitions kept (one a second, the last five minutes).
    pub acquire_samples: u32,
    /// Of them, how many found no idle connection and had to wait.
    pub acquire_waits: u32,
    /// The 99th percentile of the timed acquisitions, in milliseconds.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub acquire_p99_ms: Option<f64>,
    /// The database's size on disk in bytes.
    pub size_bytes: i64,
    /// PostgreSQL: connections to this database now (every client, not only this process).
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub connections: Option<i64>,
    /// PostgreSQL: the server's `max_connections`.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub max_connections: Option<i64>,
}

/// Reads the pool's numbers and the database's size, after one fresh timed
/// acquisition (so the answer never lacks a sample).
pub async fn db_stats(app: &AppContext) -> Result<DbStats, sqlx::Error> {
    app.pool_samples.sample(&app.db).await?;
    let (acquire_samples, acquire_waits, acquire_p99_ms) = app.pool_samples.summary();
    let (pool_max, pool_size, idle) = crate::on_db!(&app.db, p => (
        p.options().get_max_connections(),
        p.size(),
        u32::try_from(p.num_idle()).unwrap_or(u32::MAX),
    ));
    let (kind, size_bytes, connections, max_connections) = match &app.db {
        Db::Sqlite(p) => {
            let size: i64 = sqlx::query_scalar(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            )
            .fetch_one(p)
            .await?;
            ("sqlite", size, None, None)
        }
        Db::Postgres(p) => {
            let (size, connections, max): (i64, i64, String) = sqlx::query_as(
                "SELECT pg_database_size(current_database()), \
                        (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()), \
                        current_setting('max_connections')",
            )
            .fetch_one(p)
            .await?;
            ("postgres", size, Some(connections), max.parse().ok())
        }
    };
    Ok(DbStats {
        kind: kind.to_owned(),
        pool_max,
        pool_size,
        in_use: pool_size.saturating_sub(idle),
        idle,
        acquire_samples,
        acquire_waits,
        acquire_p99_ms,
        size_bytes,
        connections,
        max_connections,
    })
}

/// Kiln's keys of one queue in Redis.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct RedisQueueKeys {
    /// The queue.
    pub queue: String,
    /// How many of its keys exist (stream, delayed set, job index, poison list).
    pub keys: u32,
    /// Entries in its stream (ready, in flight and acknowledged not yet trimmed).
    pub stream_entries: u64,
    /// Members of its delayed set.
    pub delayed: u64,
    /// Entries of its job → delivery index.
    pub indexed_jobs: u64,
}

/// The Redis server the queues live on.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct RedisStats {
    /// `redis_version`.
    pub version: String,
    /// Seconds since the server started.
    pub uptime_secs: u64,
    /// Memory in use, in bytes.
    pub used_memory_bytes: u64,
    /// The memory limit in bytes; 0 when none is set.
    pub maxmemory_bytes: u64,
    /// What Redis does at the limit.
    pub maxmemory_policy: String,
    /// False unless the policy is `noeviction`: any other lets Redis drop
    /// queue keys under memory pressure (the sweeper re-pushes lost jobs,
    /// late).
    pub maxmemory_policy_ok: bool,
    /// True when the append-only file is on.
    pub aof_enabled: bool,
    /// Clients connected now.
    pub connected_clients: u64,
    /// Commands per second, as Redis measures them.
    pub ops_per_sec: u64,
    /// Round-trip time of a `PING` in milliseconds.
    pub ping_ms: f64,
    /// Kiln's keys, by queue.
    pub queues: Vec<RedisQueueKeys>,
}

/// Why Redis numbers cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RedisStatsError {
    /// The queues live in the database.
    #[error("the queues live in the database, not in Redis")]
    NotRedis,
    /// Redis failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis failed at the transport's own commands.
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
}

/// Reads `INFO` and each queue's key sizes.
pub async fn redis_stats(app: &AppContext) -> Result<RedisStats, RedisStatsError> {
    let Transport::Redis(redis) = app.ledger.transport() else {
        return Err(RedisStatsError::NotRedis);
    };
    let ping = redis.ping().await?;
    let mut conn = redis.connection();
    let info: String = redis::cmd("INFO").query_async(&mut conn).await?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
            .unwrap_or_default()
            .to_owned()
    };
    let number = |name: &str| field(name).parse::<u64>().unwrap_or(0);
    let mut pipe = redis::pipe();
    for queue in QueueName::ALL {
        let k = redis.keys(queue);
        pipe.cmd("EXISTS")
            .arg(&k.stream)
            .arg(&k.delayed)
            .arg(&k.index)
            .arg(&k.poison)
            .cmd("XLEN")
            .arg(&k.stream)
            .cmd("ZCARD")
            .arg(&k.delayed)
            .cmd("HLEN")
            .arg(&k.index);
    }
    let sizes: Vec<u64> = pipe.query_async(&mut conn).await?;
    let queues = QueueName::ALL
        .iter()
        .zip(sizes.chunks_exact(4))
        .map(|(queue, n)| RedisQueueKeys {
            queue: queue.as_str().to_owned(),
            keys: u32::try_from(n[0]).unwrap_or(u32::MAX),
            stream_entries: n[1],
            delayed: n[2],
            indexed_jobs: n[3],
        })
        .collect();
    let policy = field("maxmemory_policy");
    Ok(RedisStats {
        version: field("redis_version"),
        uptime_secs: number("uptime_in_seconds"),
        used_memory_bytes: number("used_memory"),
        maxmemory_bytes: number("maxmemory"),
        maxmemory_policy_ok: policy == "noeviction",
        maxmemory_policy: policy,
        aof_enabled: number("aof_enabled") == 1,
        connected_clients: number("connected_clients"),
        ops_per_sec: number("instantaneous_ops_per_sec"),
        ping_ms: (ping.as_secs_f64() * 1e5).round() / 100.0,
        queues,
    })
}

/// This process.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct ProcessStats {
    /// Its process id.
    pub pid: u32,
    /// Resident memory in bytes (absent where the platform does not say).
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub rss_bytes: Option<u64>,
    /// CPU time used, user plus system, in seconds.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub cpu_seconds: Option<f64>,
    /// File descriptors open now.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub open_fds: Option<u64>,
    /// The most it may open.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub max_fds: Option<u64>,
    /// Threads.
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub threads: Option<u64>,
    /// Tasks alive on the async runtime.
    pub tokio_tasks: u64,
    /// Seconds since the process started.
    pub uptime_secs: f64,
}

/// Reads this process's numbers from the same collector that serves the
/// `process_*` metrics.
pub fn process_stats(app: &AppContext) -> ProcessStats {
    let values = app.metrics.process_values();
    let read = |name: &str| values.get(name).copied();
    let started = read("process_start_time_seconds");
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1e3;
    ProcessStats {
        pid: std::process::id(),
        rss_bytes: read("process_resident_memory_bytes").map(|v| v as u64),
        cpu_seconds: read("process_cpu_seconds_total"),
        open_fds: read("process_open_fds").map(|v| v as u64),
        max_fds: read("process_max_fds").map(|v| v as u64),
        threads: read("process_threads").map(|v| v as u64),
        tokio_tasks: tokio::runtime::Handle::try_current()
            .map(|h| h.metrics().num_alive_tasks() as u64)
            .unwrap_or(0),
        uptime_secs: started.map_or_else(
            || app.metrics.uptime().as_secs_f64(),
            |s| ((now - s) * 100.0).round() / 100.0,
        ),
    }
}
