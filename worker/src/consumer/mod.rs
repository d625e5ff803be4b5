//! The workers' side of Kiln's Redis Streams transport
//! ([`kiln_jobs::queue::redis`] holds the connection, the keys and the
//! producers' side): read and reclaim entries, renew their lease, acknowledge
//! them, hand unstarted ones back, move due delayed messages onto the stream,
//! keep poison entries, and take the sweeper lock. The Lua scripts are the
//! `.lua` files beside this one.

use std::{sync::Arc, time::Duration};

use kiln_jobs::queue::{
    QueueError, QueueMessage, QueueName,
    redis::{GROUP, MAX_BATCH, RedisQueue},
};
use redis::{
    AsyncCommands, RedisError, Script,
    aio::ConnectionManager,
    streams::{
        StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamReadOptions, StreamReadReply,
    },
};
use uuid::Uuid;

/// Raw entries kept in a queue's poison list.
const POISON_KEEP: isize = 1_000;

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

/// What a finished entry was, for [`Consumer::ack`].
#[derive(Debug, Clone)]
pub struct Finished {
    /// The stream entry.
    pub entry_id: String,
    /// The job and delivery it carried; `None` for poison.
    pub job: Option<(Uuid, Uuid)>,
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

/// Consumer operations on one Redis transport; cheap to clone.
#[derive(Clone)]
pub struct Consumer {
    redis: RedisQueue,
    scripts: Arc<Scripts>,
}

struct Scripts {
    promote: Script,
    ack: Script,
    hand_back: Script,
    renew: Script,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// The consumer operations of `redis`.
    pub fn new(redis: RedisQueue) -> Consumer {
        Consumer {
            redis,
            scripts: Arc::new(Scripts {
                promote: Script::new(include_str!("promote.lua")),
                ack: Script::new(include_str!("ack.lua")),
                hand_back: Script::new(include_str!("hand_back.lua")),
                renew: Script::new(include_str!("renew.lua")),
            }),
        }
    }

    /// The transport these operations run on.
    pub fn redis(&self) -> &RedisQueue {
        &self.redis
    }

    /// The transport's settings.
    pub fn config(&self) -> &kiln_jobs::queue::config::RedisConfig {
        self.redis.config()
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
        let keys = self.redis.keys(queue);
        let opts = StreamReadOptions::default()
            .group(GROUP, consumer)
            .count(count.clamp(1, MAX_BATCH))
            .block(usize::try_from(self.redis.config().block_ms).unwrap_or(usize::MAX));
        let reply: Result<Option<StreamReadReply>, RedisError> =
            reader.xread_options(&[&keys.stream], &[">"], &opts).await;
        let reply = match reply {
            Ok(r) => r,
            Err(e) if e.code() == Some("NOGROUP") => {
                self.redis.ensure_group(queue).await?;
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
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
        let keys = self.redis.keys(queue);
        let mut conn = self.redis.connection();
        let lease_ms = self.redis.config().lease_secs.saturating_mul(1000);
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
                self.redis.ensure_group(queue).await?;
                Ok(("0-0".into(), Vec::new()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Renews the lease of entries `consumer` is running (resets their idle
    /// time), of those it still owns. Returns the ids it no longer owns:
    /// another consumer took them over after their lease ran out.
    pub async fn renew(
        &self,
        queue: QueueName,
        consumer: &str,
        entry_ids: &[String],
    ) -> Result<Vec<String>, QueueError> {
        let keys = self.redis.keys(queue);
        let mut conn = self.redis.connection();
        let mut lost = Vec::new();
        for chunk in entry_ids.chunks(MAX_BATCH) {
            let mut inv = self.scripts.renew.prepare_invoke();
            inv.key(&keys.stream).arg(GROUP).arg(consumer);
            for id in chunk {
                inv.arg(id);
            }
            let gone: Vec<String> = inv
                .invoke_async(&mut conn)
                .await
                .map_err(QueueError::from)?;
            lost.extend(gone);
        }
        Ok(lost)
    }

    /// Acknowledges finished entries.
    pub async fn ack(&self, queue: QueueName, done: &[Finished]) -> Result<(), QueueError> {
        let keys = self.redis.keys(queue);
        let mut conn = self.redis.connection();
        for chunk in done.chunks(MAX_BATCH) {
            let mut inv = self.scripts.ack.prepare_invoke();
            inv.key(&keys.stream).key(&keys.index).arg(GROUP);
            for f in chunk {
                let (job, delivery) = f
                    .job
                    .map(|(j, d)| (j.to_string(), d.to_string()))
                    .unwrap_or_default();
                inv.arg(&f.entry_id).arg(job).arg(delivery);
            }
            let _: u64 = inv
                .invoke_async(&mut conn)
                .await
                .map_err(QueueError::from)?;
        }
        Ok(())
    }

    /// Keeps a raw entry that is not a Kiln message for inspection (the newest
    /// 1,000 per queue); the caller acknowledges it.
    pub async fn keep_poison(&self, queue: QueueName, raw: &str) -> Result<(), QueueError> {
        let keys = self.redis.keys(queue);
        let mut conn = self.redis.connection();
        redis::pipe()
            .lpush(&keys.poison, raw)
            .ignore()
            .ltrim(&keys.poison, 0, POISON_KEEP - 1)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(QueueError::from)
    }

    /// Gives fetched-but-unstarted entries back to the group at once.
    pub async fn hand_back(
        &self,
        queue: QueueName,
        consumer: &str,
        entries: &[Delivery],
    ) -> Result<u64, QueueError> {
        let keys = self.redis.keys(queue);
        let mut conn = self.redis.connection();
        let mut n = 0;
        for chunk in entries.chunks(MAX_BATCH) {
            let mut inv = self.scripts.hand_back.prepare_invoke();
            inv.key(&keys.stream).arg(GROUP).arg(consumer);
            for d in chunk {
                inv.arg(&d.entry_id).arg(&d.raw);
            }
            let handed: u64 = inv
                .invoke_async(&mut conn)
                .await
                .map_err(QueueError::from)?;
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
        let keys = self.redis.keys(queue);
        let mut conn = self.redis.connection();
        let ids: redis::streams::StreamPendingCountReply = conn
            .xpending_consumer_count(&keys.stream, GROUP, "-", "+", count, consumer)
            .await
            .map_err(QueueError::from)?;
        if ids.ids.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<String> = ids.ids.into_iter().map(|p| p.id).collect();
        // Read the bodies without changing ownership or delivery counts.
        let mut out = Vec::with_capacity(wanted.len());
        for id in &wanted {
            let range: redis::streams::StreamRangeReply = conn
                .xrange_count(&keys.stream, id, id, 1)
                .await
                .map_err(QueueError::from)?;
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
        let keys = self.redis.keys(queue);
        let mut conn = self.redis.connection();
        let _: i64 = conn
            .xgroup_delconsumer(&keys.stream, GROUP, consumer)
            .await
            .map_err(QueueError::from)?;
        Ok(())
    }

    /// Moves due delayed messages onto the stream (at most [`MAX_BATCH`]).
    /// Returns how many moved and how long until the next one is due.
    pub async fn promote(&self, queue: QueueName) -> Result<(u64, Option<Duration>), QueueError> {
        let keys = self.redis.keys(queue);
        let mut conn = self.redis.connection();
        let (moved, wait): (u64, i64) = self
            .scripts
            .promote
            .key(&keys.stream)
            .key(&keys.delayed)
            .arg(MAX_BATCH)
            .invoke_async(&mut conn)
            .await
            .map_err(QueueError::from)?;
        let wait = u64::try_from(wait).ok().map(Duration::from_millis);
        Ok((moved, wait))
    }

    /// Takes the sweeper lock for `ttl` unless another replica holds it.
    pub async fn try_lock_sweeper(&self, holder: &str, ttl: Duration) -> Result<bool, QueueError> {
        let mut conn = self.redis.connection();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let got: Option<String> = redis::cmd("SET")
            .arg(self.redis.sweeper_lock_key())
            .arg(holder)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query_async(&mut conn)
            .await
            .map_err(QueueError::from)?;
        Ok(got.is_some())
    }
}
