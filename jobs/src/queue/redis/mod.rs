//! Kiln's Redis Streams transport.
//!
//! Per queue, under one hash tag so every key of a queue lives in one Redis
//! Cluster slot (`{prefix:queue}`):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{kiln:media}:stream` | stream, consumer group `workers` | ready and in-flight messages |
//! | `{kiln:media}:delayed` | sorted set, score = due time (ms, Redis clock) | delayed jobs and retries |
//! | `{kiln:media}:index` | hash job id → delivery id | every message currently in Redis |
//! | `{kiln:media}:poison` | list (capped at 1,000) | raw entries that were not Kiln messages |
//!
//! Fetching is `XREADGROUP … BLOCK` (no polling); finishing is `XACK` + `XDEL`
//! (so the stream only ever holds ready and in-flight entries); a worker that
//! dies leaves its entries in the group's pending list, where `XAUTOCLAIM`
//! hands them to another worker once they have been idle for the lease.
//! Live workers renew the lease of what they run with `XCLAIM … JUSTID`.
//!
//! Every script touches a bounded number of elements (callers chunk their
//! input at [`MAX_BATCH`]) and is safe with any number of replicas running it
//! at once. The index makes a push idempotent per ledger delivery: pushing the
//! same (job, delivery) twice leaves one message, so a timed-out push can be
//! retried and the sweeper can re-push whatever Redis lost.

use std::time::Duration;

use ::redis::{
    AsyncCommands, Client, RedisError, Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
    streams::{StreamInfoGroupsReply, StreamPendingReply},
};
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::{
    config::RedisConfig,
    message::{QueueError, QueueMessage, QueueName},
};

/// The consumer group every worker joins.
pub const GROUP: &str = "workers";

/// The most messages one script call or read handles.
pub const MAX_BATCH: usize = 500;

/// A message to push, due `delay` from now (Redis clock).
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The message.
    pub message: &'a QueueMessage,
    /// Zero for ready now.
    pub delay: Duration,
}

/// A delay in whole milliseconds for the push script, never short: rounded up,
/// plus one because the script reads Redis' clock truncated to the millisecond.
fn delay_ms(delay: Duration) -> u64 {
    if delay.is_zero() {
        return 0;
    }
    let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
    micros.div_ceil(1_000).saturating_add(1)
}

/// A queue's numbers, read in one round trip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StreamStats {
    /// Messages waiting for a worker.
    pub ready: u64,
    /// Delayed messages (scheduled jobs and retry backoff).
    pub delayed: u64,
    /// Messages a worker has fetched and not finished.
    pub in_flight: u64,
    /// Age of the oldest ready message in milliseconds (0 when none).
    pub oldest_ready_ms: u64,
}

/// The keys of one queue.
#[derive(Debug, Clone)]
pub struct QueueKeys {
    /// The stream.
    pub stream: String,
    /// The delayed set.
    pub delayed: String,
    /// The job → delivery index.
    pub index: String,
    /// Raw entries that were not Kiln messages.
    pub poison: String,
}

/// The Redis transport: cheap to clone, one multiplexed connection inside.
#[derive(Clone)]
pub struct RedisQueue {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    client: Client,
    conn: ConnectionManager,
    prefix: String,
    cfg: RedisConfig,
    push: Script,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

fn backend(e: RedisError) -> QueueError {
    QueueError::from(e)
}

impl RedisQueue {
    /// Prepares a transport for `cfg.url` without connecting: the process starts
    /// while Redis is down, and the connection comes (back) by itself.
    pub fn new(cfg: &RedisConfig) -> Result<RedisQueue, QueueError> {
        let url = cfg
            .url
            .as_ref()
            .ok_or_else(|| QueueError::Backend("redis.url is not set".into()))?;
        let client = Client::open(url.expose_secret()).map_err(backend)?;
        let conn =
            ConnectionManager::new_lazy_with_config(client.clone(), Self::manager_config(cfg, 0))
                .map_err(backend)?;
        Ok(RedisQueue {
            inner: std::sync::Arc::new(Inner {
                client,
                conn,
                prefix: cfg.prefix.clone(),
                cfg: cfg.clone(),
                push: Script::new(include_str!("scripts/push.lua")),
            }),
        })
    }

    fn manager_config(cfg: &RedisConfig, block_ms: u64) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(cfg.connect_timeout_ms)))
            .set_response_timeout(Some(Duration::from_millis(
                cfg.command_timeout_ms + block_ms,
            )))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(2))
            .set_number_of_retries(3)
    }

    /// The settings it runs with.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.cfg
    }

    /// The shared multiplexed connection (cheap to clone), for the workers'
    /// consumer operations (`kiln-worker`'s `consumer` module).
    pub fn connection(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    /// A connection of its own for one worker's blocking reads: a blocked
    /// `XREADGROUP` holds its connection until it returns.
    pub fn reader(&self) -> Result<ConnectionManager, QueueError> {
        ConnectionManager::new_lazy_with_config(
            self.inner.client.clone(),
            Self::manager_config(&self.inner.cfg, self.inner.cfg.block_ms),
        )
        .map_err(backend)
    }

    /// The keys of `queue`.
    pub fn keys(&self, queue: QueueName) -> QueueKeys {
        let tag = format!("{{{}:{}}}", self.inner.prefix, queue.as_str());
        QueueKeys {
            stream: format!("{tag}:stream"),
            delayed: format!("{tag}:delayed"),
            index: format!("{tag}:index"),
            poison: format!("{tag}:poison"),
        }
    }

    /// The sweeper's lock key.
    pub fn sweeper_lock_key(&self) -> String {
        format!("{{{}}}:sweeper", self.inner.prefix)
    }

    /// Round-trip time of a `PING`.
    pub async fn ping(&self) -> Result<Duration, QueueError> {
        let started = std::time::Instant::now();
        let mut conn = self.inner.conn.clone();
        let _: String = ::redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(backend)?;
        Ok(started.elapsed())
    }

    /// Creates the queue's stream and consumer group if they do not exist
    /// (first start, or a Redis that restarted empty).
    pub async fn ensure_group(&self, queue: QueueName) -> Result<(), QueueError> {
        let mut conn = self.inner.conn.clone();
        let keys = self.keys(queue);
        let res: Result<(), RedisError> =
            conn.xgroup_create_mkstream(&keys.stream, GROUP, "0").await;
        match res {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    /// Pushes messages of `queue`; a (job, delivery) already in Redis is left as
    /// it is. Returns how many were new.
    pub async fn push(&self, queue: QueueName, out: &[Outgoing<'_>]) -> Result<u64, QueueError> {
        let keys = self.keys(queue);
        let mut conn = self.inner.conn.clone();
        let mut pushed = 0;
        for chunk in out.chunks(MAX_BATCH) {
            let mut inv = self.inner.push.prepare_invoke();
            inv.key(&keys.stream).key(&keys.delayed).key(&keys.index);
            for o in chunk {
                let delay = delay_ms(o.delay);
                inv.arg(o.message.job_id.to_string())
                    .arg(o.message.delivery_id.to_string())
                    .arg(delay)
                    .arg(serde_json::to_string(o.message)?);
            }
            let n: u64 = inv.invoke_async(&mut conn).await.map_err(backend)?;
            pushed += n;
        }
        Ok(pushed)
    }

    /// Which of `jobs` (job id, delivery id) Redis does not hold.
    pub async fn missing(
        &self,
        queue: QueueName,
        jobs: &[(Uuid, Uuid)],
    ) -> Result<Vec<bool>, QueueError> {
        let keys = self.keys(queue);
        let mut conn = self.inner.conn.clone();
        let mut out = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(MAX_BATCH) {
            let ids: Vec<String> = chunk.iter().map(|(j, _)| j.to_string()).collect();
            let held: Vec<Option<String>> = ::redis::cmd("HMGET")
                .arg(&keys.index)
                .arg(&ids)
                .query_async(&mut conn)
                .await
                .map_err(backend)?;
            out.extend(
                chunk
                    .iter()
                    .zip(held)
                    .map(|((_, d), h)| h.as_deref() != Some(d.to_string().as_str())),
            );
        }
        Ok(out)
    }

    /// Ready, delayed and in-flight counts and the oldest ready message's age.
    pub async fn stats(&self, queue: QueueName) -> Result<StreamStats, QueueError> {
        match self.read_stats(queue).await {
            Err(e) if e.to_string().contains("NOGROUP") => {
                // No worker has started on this queue yet: create the group
                // (every entry is then ready) and read again.
                self.ensure_group(queue).await?;
                self.read_stats(queue).await.map_err(backend)
            }
            other => other.map_err(backend),
        }
    }

    async fn read_stats(&self, queue: QueueName) -> Result<StreamStats, RedisError> {
        let keys = self.keys(queue);
        let mut conn = self.inner.conn.clone();
        let (len, delayed, pending, groups, time): (
            u64,
            u64,
            StreamPendingReply,
            ::redis::Value,
            (String, String),
        ) = ::redis::pipe()
            .xlen(&keys.stream)
            .zcard(&keys.delayed)
            .xpending(&keys.stream, GROUP)
            .cmd("XINFO")
            .arg("GROUPS")
            .arg(&keys.stream)
            .cmd("TIME")
            .query_async(&mut conn)
            .await?;
        let in_flight = pending.count() as u64;
        // Acknowledged entries are deleted, so the stream holds ready + in-flight.
        let ready = len.saturating_sub(in_flight);
        let mut oldest_ready_ms = 0;
        if ready > 0 {
            let last: Option<String> = ::redis::from_redis_value::<StreamInfoGroupsReply>(groups)
                .ok()
                .and_then(|g| g.groups.into_iter().find(|g| g.name == GROUP))
                .map(|g| g.last_delivered_id);
            let start = match last.as_deref() {
                Some(id) if id != "0-0" => format!("({id}"),
                _ => "-".to_owned(),
            };
            let first: ::redis::streams::StreamRangeReply =
                conn.xrange_count(&keys.stream, start, "+", 1).await?;
            let now_ms = time.0.parse::<u64>().unwrap_or(0) * 1000
                + time.1.parse::<u64>().unwrap_or(0) / 1000;
            if let Some(first) = first.ids.first()
                && let Some(ms) = first
                    .id
                    .split('-')
                    .next()
                    .and_then(|s| s.parse::<u64>().ok())
            {
                oldest_ready_ms = now_ms.saturating_sub(ms);
            }
        }
        Ok(StreamStats {
            ready,
            delayed,
            in_flight,
            oldest_ready_ms,
        })
    }

    /// Deletes every key of `queue` (tests and operators' resets).
    pub async fn purge(&self, queue: QueueName) -> Result<(), QueueError> {
        let keys = self.keys(queue);
        let mut conn = self.inner.conn.clone();
        let _: i64 = conn
            .del(&[&keys.stream, &keys.delayed, &keys.index, &keys.poison])
            .await
            .map_err(backend)?;
        Ok(())
    }
}
