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
    streams::{
        StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamInfoGroupsReply,
        StreamPendingReply, StreamReadOptions, StreamReadReply,
    },
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

/// Raw entries kept in a queue's poison list.
const POISON_KEEP: isize = 1_000;

/// Pushes messages, each at most once per (job, delivery), onto the stream or,
/// when delayed, into the delayed set. Due times use the Redis clock so the
/// producers' clocks do not matter.
const PUSH: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pushed = 0
for i = 1, #ARGV, 4 do
  local job, delivery, delay, msg = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  if redis.call('HGET', KEYS[3], job) ~= delivery then
    redis.call('HSET', KEYS[3], job, delivery)
    if delay > 0 then
      redis.call('ZADD', KEYS[2], now + delay, msg)
    else
      redis.call('XADD', KEYS[1], '*', 'm', msg)
    end
    pushed = pushed + 1
  end
end
return pushed
";

/// Moves up to ARGV[1] due delayed messages onto the stream; returns
/// {moved, milliseconds until the next one is due or -1}.
const PROMOTE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, msg in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'm', msg)
  redis.call('ZREM', KEYS[2], msg)
end
local nxt = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local wait = -1
if nxt[2] then wait = math.max(0, tonumber(nxt[2]) - now) end
return {#due, wait}
";

/// Acknowledges and deletes finished entries and drops their index entry
/// unless a newer delivery of the job replaced it.
const ACK: &str = r"
for i = 2, #ARGV, 3 do
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  redis.call('XDEL', KEYS[1], ARGV[i])
  if ARGV[i + 1] ~= '' and redis.call('HGET', KEYS[2], ARGV[i + 1]) == ARGV[i + 2] then
    redis.call('HDEL', KEYS[2], ARGV[i + 1])
  end
end
return (#ARGV - 1) / 3
";

/// Gives entries a consumer fetched but never started back to the group as
/// fresh entries, at once, if that consumer still owns them.
const HAND_BACK: &str = r"
local n = 0
for i = 3, #ARGV, 2 do
  local owned = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #owned == 1 then
    redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
    redis.call('XDEL', KEYS[1], ARGV[i])
    redis.call('XADD', KEYS[1], '*', 'm', ARGV[i + 1])
    n = n + 1
  end
end
return n
";

/// One message read from a stream.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The stream entry id (what `XACK` takes).
    pub entry_id: String,
    /// The raw message.
    pub raw: String,
    /// The decoded message, or why it is not a Kiln message.
    pub message: Result<QueueMessage, String>,
}

impl Delivery {
    fn from_entry(entry: &StreamId) -> Delivery {
        let raw: Option<String> = entry.get("m");
        let (raw, message) = match raw {
            Some(raw) => {
                let msg = serde_json::from_str::<QueueMessage>(&raw).map_err(|e| e.to_string());
                (raw, msg)
            }
            None => (
                format!("{:?}", entry.map),
                Err("stream entry has no `m` field".into()),
            ),
        };
        Delivery {
            entry_id: entry.id.clone(),
            raw,
            message,
        }
    }
}

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

/// What a finished entry was, for [`RedisQueue::ack`].
#[derive(Debug, Clone)]
pub struct Finished {
    /// The stream entry.
    pub entry_id: String,
    /// The job and delivery it carried; `None` for poison.
    pub job: Option<(Uuid, Uuid)>,
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
    promote: Script,
    ack: Script,
    hand_back: Script,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

fn backend(e: RedisError) -> QueueError {
    QueueError::Backend(e.to_string())
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
                push: Script::new(PUSH),
                promote: Script::new(PROMOTE),
                ack: Script::new(ACK),
                hand_back: Script::new(HAND_BACK),
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

    /// Reads up to `count` new messages for `consumer`, blocking up to
    /// `redis.block_ms` when there are none. A missing group is recreated.
    pub async fn read(
        &self,
        reader: &mut ConnectionManager,
        queue: QueueName,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Delivery>, QueueError> {
        let keys = self.keys(queue);
        let opts = StreamReadOptions::default()
            .group(GROUP, consumer)
            .count(count.clamp(1, MAX_BATCH))
            .block(usize::try_from(self.inner.cfg.block_ms).unwrap_or(usize::MAX));
        let reply: Result<Option<StreamReadReply>, RedisError> =
            reader.xread_options(&[&keys.stream], &[">"], &opts).await;
        let reply = match reply {
            Ok(r) => r,
            Err(e) if e.code() == Some("NOGROUP") => {
                self.ensure_group(queue).await?;
                return Ok(Vec::new());
            }
            Err(e) => return Err(backend(e)),
        };
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .map(|id| Delivery::from_entry(&id))
            .collect())
    }

    /// Takes over up to `count` entries that other consumers left idle for
    /// longer than the lease, scanning from `cursor`. Returns the next cursor
    /// (`0-0` once the pending list was scanned to its end).
    pub async fn reclaim(
        &self,
        queue: QueueName,
        consumer: &str,
        cursor: &str,
        count: usize,
    ) -> Result<(String, Vec<Delivery>), QueueError> {
        let keys = self.keys(queue);
        let mut conn = self.inner.conn.clone();
        let lease_ms = self.inner.cfg.lease_secs.saturating_mul(1000);
        let res: Result<StreamAutoClaimReply, RedisError> = conn
            .xautoclaim_options(
                &keys.stream,
                GROUP,
                consumer,
                lease_ms,
                cursor,
                StreamAutoClaimOptions::default().count(count.clamp(1, MAX_BATCH)),
            )
            .await;
        match res {
            Ok(reply) => Ok((
                reply.next_stream_id,
                reply.claimed.iter().map(Delivery::from_entry).collect(),
            )),
            Err(e) if e.code() == Some("NOGROUP") => {
                self.ensure_group(queue).await?;
                Ok(("0-0".into(), Vec::new()))
            }
            Err(e) => Err(backend(e)),
        }
    }

    /// Renews the lease of entries `consumer` is running (resets their idle time).
    pub async fn renew(
        &self,
        queue: QueueName,
        consumer: &str,
        entry_ids: &[String],
    ) -> Result<(), QueueError> {
        let keys = self.keys(queue);
        let mut conn = self.inner.conn.clone();
        for chunk in entry_ids.chunks(MAX_BATCH) {
            let mut cmd = ::redis::cmd("XCLAIM");
            cmd.arg(&keys.stream).arg(GROUP).arg(consumer).arg(0);
            cmd.arg(chunk).arg("JUSTID");
            let _: ::redis::Value = cmd.query_async(&mut conn).await.map_err(backend)?;
        }
        Ok(())
    }

    /// Acknowledges finished entries.
    pub async fn ack(&self, queue: QueueName, done: &[Finished]) -> Result<(), QueueError> {
        let keys = self.keys(queue);
        let mut conn = self.inner.conn.clone();
        for chunk in done.chunks(MAX_BATCH) {
            let mut inv = self.inner.ack.prepare_invoke();
            inv.key(&keys.stream).key(&keys.index).arg(GROUP);
            for f in chunk {
                let (job, delivery) = f
                    .job
                    .map(|(j, d)| (j.to_string(), d.to_string()))
                    .unwrap_or_default();
                inv.arg(&f.entry_id).arg(job).arg(delivery);
            }
            let _: u64 = inv.invoke_async(&mut conn).await.map_err(backend)?;
        }
        Ok(())
    }

    /// Keeps a raw entry that is not a Kiln message for inspection (the newest
    /// 1,000 per queue); the caller acknowledges it.
    pub async fn keep_poison(&self, queue: QueueName, raw: &str) -> Result<(), QueueError> {
        let keys = self.keys(queue);
        let mut conn = self.inner.conn.clone();
        ::redis::pipe()
            .lpush(&keys.poison, raw)
            .ignore()
            .ltrim(&keys.poison, 0, POISON_KEEP - 1)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(backend)
    }

    /// Gives fetched-but-unstarted entries back to the group at once.
    pub async fn hand_back(
        &self,
        queue: QueueName,
        consumer: &str,
        entries: &[Delivery],
    ) -> Result<u64, QueueError> {
        let keys = self.keys(queue);
        let mut conn = self.inner.conn.clone();
        let mut n = 0;
        for chunk in entries.chunks(MAX_BATCH) {
            let mut inv = self.inner.hand_back.prepare_invoke();
            inv.key(&keys.stream).arg(GROUP).arg(consumer);
            for d in chunk {
                inv.arg(&d.entry_id).arg(&d.raw);
            }
            let handed: u64 = inv.invoke_async(&mut conn).await.map_err(backend)?;
            n += handed;
        }
        Ok(n)
    }

    /// Entries still pending for `consumer` (at most `count`).
    pub async fn pending_of(
        &self,
        queue: QueueName,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Delivery>, QueueError> {
        let keys = self.keys(queue);
        let mut conn = self.inner.conn.clone();
        let ids: ::redis::streams::StreamPendingCountReply = conn
            .xpending_consumer_count(&keys.stream, GROUP, "-", "+", count, consumer)
            .await
            .map_err(backend)?;
        if ids.ids.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<String> = ids.ids.into_iter().map(|p| p.id).collect();
        // Read the bodies without changing ownership or delivery counts.
        let mut out = Vec::with_capacity(wanted.len());
        for id in &wanted {
            let range: ::redis::streams::StreamRangeReply = conn
                .xrange_count(&keys.stream, id, id, 1)
                .await
                .map_err(backend)?;
            out.extend(range.ids.iter().map(Delivery::from_entry));
        }
        Ok(out)
    }

    /// Removes `consumer` from the group (its pending list must be empty, or
    /// what remains is dropped from the group: callers hand entries back first).
    pub async fn remove_consumer(
        &self,
        queue: QueueName,
        consumer: &str,
    ) -> Result<(), QueueError> {
        let keys = self.keys(queue);
        let mut conn = self.inner.conn.clone();
        let _: i64 = conn
            .xgroup_delconsumer(&keys.stream, GROUP, consumer)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Moves due delayed messages onto the stream (at most [`MAX_BATCH`]).
    /// Returns how many moved and how long until the next one is due.
    pub async fn promote(&self, queue: QueueName) -> Result<(u64, Option<Duration>), QueueError> {
        let keys = self.keys(queue);
        let mut conn = self.inner.conn.clone();
        let (moved, wait): (u64, i64) = self
            .inner
            .promote
            .key(&keys.stream)
            .key(&keys.delayed)
            .arg(MAX_BATCH)
            .invoke_async(&mut conn)
            .await
            .map_err(backend)?;
        let wait = u64::try_from(wait).ok().map(Duration::from_millis);
        Ok((moved, wait))
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

    /// Takes the sweeper lock for `ttl` unless another replica holds it.
    pub async fn try_lock_sweeper(&self, holder: &str, ttl: Duration) -> Result<bool, QueueError> {
        let mut conn = self.inner.conn.clone();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let got: Option<String> = ::redis::cmd("SET")
            .arg(self.sweeper_lock_key())
            .arg(holder)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query_async(&mut conn)
            .await
            .map_err(backend)?;
        Ok(got.is_some())
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
