//! Settings of the queues: each queue's runtime policy, the worker process,
//! and the Redis Streams transport.

use std::{net::SocketAddr, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::message::QueueName;

/// Runtime policy of one queue.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueuePolicy {
    /// Jobs of this queue run at once per worker process.
    pub concurrency: usize,
    /// Seconds one attempt may take before it is failed as a (retryable) timeout.
    pub timeout_secs: u64,
    /// Attempts before a failing job is `dead` (default for jobs that do not set their own).
    pub max_attempts: u32,
    /// First retry delay in milliseconds; doubles each attempt, with full jitter.
    pub backoff_base_ms: u64,
    /// Longest retry delay in milliseconds.
    pub backoff_max_ms: u64,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        Self {
            concurrency: 8,
            timeout_secs: 60,
            max_attempts: 5,
            backoff_base_ms: 1_000,
            backoff_max_ms: 300_000,
        }
    }
}

impl QueuePolicy {
    /// The per-attempt timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// Per-queue policies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueuesConfig {
    /// Milliseconds between polls of an idle queue for jobs no wake-up announced (default 500).
    pub poll_interval_ms: u64,
    /// Seconds between worker heartbeats in the SQL queue backends (default 10).
    pub heartbeat_secs: u64,
    /// Heartbeats a worker may miss before its jobs are handed to another (default 3).
    pub missed_heartbeats: usize,
    /// Seconds acknowledged messages stay in the queue backend before workers purge them
    /// (default 3600; the ledger keeps every job's history regardless).
    pub retain_acknowledged_secs: u64,
    /// Seconds between reconciliations of the SQL queues: each worker process
    /// re-delivers ledger jobs whose queue message was given up or lost (default 15).
    pub reconcile_interval_secs: u64,
    /// Seconds a `queued` or `running` ledger job must be unchanged before a
    /// reconciliation of the SQL queues may re-deliver it (default 10).
    pub reconcile_grace_secs: u64,
    /// `media` queue (CPU bound; concurrency defaults to the number of cores).
    pub media: QueuePolicy,
    /// `notifications` queue.
    pub notifications: QueuePolicy,
    /// `webhooks` queue.
    pub webhooks: QueuePolicy,
    /// `reports` queue.
    pub reports: QueuePolicy,
    /// `backups` queue (one at a time).
    pub backups: QueuePolicy,
}

impl Default for QueuesConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            poll_interval_ms: 500,
            heartbeat_secs: 10,
            missed_heartbeats: 3,
            retain_acknowledged_secs: 3_600,
            reconcile_interval_secs: 15,
            reconcile_grace_secs: 10,
            media: QueuePolicy {
                concurrency: cores,
                timeout_secs: 120,
                max_attempts: 3,
                ..QueuePolicy::default()
            },
            notifications: QueuePolicy {
                concurrency: 16,
                timeout_secs: 30,
                ..QueuePolicy::default()
            },
            // About 2.5 hours of retries: 5 s, 10 s, 20 s … capped at 1 hour.
            webhooks: QueuePolicy {
                concurrency: 16,
                timeout_secs: 30,
                max_attempts: 12,
                backoff_base_ms: 5_000,
                backoff_max_ms: 3_600_000,
            },
            reports: QueuePolicy::default(),
            backups: QueuePolicy {
                concurrency: 1,
                timeout_secs: 3_600,
                max_attempts: 3,
                ..QueuePolicy::default()
            },
        }
    }
}

impl QueuesConfig {
    /// The policy of `queue`.
    pub fn policy(&self, queue: QueueName) -> &QueuePolicy {
        match queue {
            QueueName::Media => &self.media,
            QueueName::Notifications => &self.notifications,
            QueueName::Webhooks => &self.webhooks,
            QueueName::Reports => &self.reports,
            QueueName::Backups => &self.backups,
        }
    }

    /// The idle poll interval.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// How long a worker's lock on a SQL queue message may last before the
    /// message counts as stuck: the queue's timeout, the time apalis waits
    /// before it hands a silent worker's messages to another, and the
    /// reconciliation grace.
    pub fn stuck_after(&self, queue: QueueName) -> Duration {
        let orphaned = self
            .heartbeat_secs
            .saturating_mul(self.missed_heartbeats as u64);
        self.policy(queue).timeout()
            + Duration::from_secs(orphaned.saturating_add(self.reconcile_grace_secs))
    }
}

/// Worker process settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Seconds in-flight jobs get to finish after SIGTERM before the process exits (default 30).
    pub shutdown_timeout_secs: u64,
    /// Queues this process consumes (default: all).
    pub queues: Vec<QueueName>,
    /// Address of the worker's own /health and /metrics listener (`kiln worker` only; default 127.0.0.1:9090).
    pub listen: SocketAddr,
    /// Seconds a worker keeps retrying, with backoff, to record a job's outcome when the ledger write fails, before it gives the message back for redelivery (default 60). It holds the message meanwhile, so a database blip does not run a finished job again.
    pub record_retry_secs: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            shutdown_timeout_secs: 30,
            queues: QueueName::ALL.to_vec(),
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            record_retry_secs: 60,
        }
    }
}

/// Redis Streams queue transport.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Redis URL (`REDIS_URL`); when set, every queue lives in Redis and the
    /// database holds only the ledger (default: unset, queues in the database).
    #[serde(skip_serializing)]
    pub url: Option<SecretString>,
    /// Prefix of every key; each queue's keys share the hash tag `{prefix:queue}` (default `kiln`).
    pub prefix: String,
    /// Seconds a fetched job may go without its worker renewing the lease before
    /// another worker takes it over (default 30).
    pub lease_secs: u64,
    /// Milliseconds an idle worker's blocking read waits before it reads again (default 1000).
    pub block_ms: u64,
    /// Milliseconds any other Redis command may take before it fails (default 2000).
    pub command_timeout_ms: u64,
    /// Milliseconds to establish a connection (default 2000).
    pub connect_timeout_ms: u64,
    /// Longest pause, in milliseconds, between moves of due delayed jobs onto
    /// their stream (default 50; bounds how late a delayed job or retry starts).
    pub promote_interval_ms: u64,
    /// Seconds between sweeps that re-push ledger jobs Redis does not hold (default 15).
    pub sweep_interval_secs: u64,
    /// Seconds a queued ledger job may be missing from Redis before a sweep re-pushes it (default 10).
    pub sweep_grace_secs: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: None,
            prefix: "kiln".into(),
            lease_secs: 30,
            block_ms: 1_000,
            command_timeout_ms: 2_000,
            connect_timeout_ms: 2_000,
            promote_interval_ms: 50,
            sweep_interval_secs: 15,
            sweep_grace_secs: 10,
        }
    }
}

impl RedisConfig {
    /// The lease.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }
}

impl QueuesConfig {
    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        for q in QueueName::ALL {
            let p = self.policy(q);
            if p.concurrency == 0 || p.max_attempts == 0 || p.timeout_secs == 0 {
                return Err(format!(
                    "queues.{q}: concurrency, max_attempts and timeout_secs must be at least 1"
                ));
            }
            if p.backoff_base_ms > p.backoff_max_ms {
                return Err(format!(
                    "queues.{q}: backoff_base_ms exceeds backoff_max_ms"
                ));
            }
        }
        if self.poll_interval_ms < 10 {
            return Err("queues.poll_interval_ms must be at least 10".into());
        }
        if self.reconcile_interval_secs == 0 {
            return Err("queues.reconcile_interval_secs must be at least 1".into());
        }
        Ok(())
    }
}

impl RedisConfig {
    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(url) = &self.url {
            let url = url.expose_secret();
            if !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("redis+unix://")
                || url.starts_with("unix://"))
            {
                return Err("redis.url must be a redis://, rediss:// or unix:// URL".into());
            }
        }
        if self.lease_secs == 0
            || self.block_ms == 0
            || self.command_timeout_ms == 0
            || self.promote_interval_ms == 0
        {
            return Err("redis: lease_secs, block_ms, command_timeout_ms and promote_interval_ms must be at least 1".into());
        }
        if self.prefix.is_empty() || self.prefix.contains(['{', '}']) {
            return Err("redis.prefix must be non-empty and contain no braces".into());
        }
        Ok(())
    }
}
