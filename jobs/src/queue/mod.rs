//! Queue names and the transport that carries ledger jobs to workers.
//!
//! In the embedded and PostgreSQL modes the queue lives in the same database as
//! the ledger (apalis-sqlite / apalis-postgres), so a ledger row and its queue
//! message are written in one transaction: a job answered with 202 is never
//! lost and never dangles. With `REDIS_URL` set the queues live in Redis
//! Streams ([`redis`]): the message is pushed right after the ledger commit.
//! On every transport a sweeper re-delivers the ledger jobs whose message the
//! transport lost or gave up ([`database`] tells which, on the SQL queues).

pub mod config;
pub mod database;
mod message;
pub mod redis;

pub use message::{QueueError, QueueMessage, QueueName};

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use apalis_core::task::builder::TaskBuilder;
use chrono::{DateTime, Utc};
use futures::channel::mpsc;
use serde::Serialize;

use crate::db::DbTx;

/// What carries messages from the ledger to the workers.
#[derive(Debug, Clone)]
pub enum Transport {
    /// The database's own queue tables, written in the ledger's transaction.
    Database,
    /// Redis Streams.
    Redis(redis::RedisQueue),
}

impl Transport {
    /// The backend's name, for logs and health output.
    pub fn name(&self) -> &'static str {
        match self {
            Transport::Database => "database",
            Transport::Redis(_) => "redis",
        }
    }
}

/// A queue's numbers: what waits, what runs, what died.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// Jobs due and waiting for a worker.
    pub ready: u64,
    /// Jobs waiting for their time (scheduled, or a retry's backoff).
    pub delayed: u64,
    /// Jobs a worker has fetched and not finished.
    pub in_flight: u64,
    /// Jobs that used every attempt (kept in the ledger with their last error).
    pub dead: u64,
    /// How long the oldest ready job has waited, in milliseconds (0 when none).
    pub oldest_ready_ms: u64,
}

/// How often a worker process reads which queues are paused: a pause or a
/// resume takes effect everywhere within this interval plus one read.
pub const PAUSE_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// A paused queue: its workers start nothing new; enqueueing goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuePause {
    /// The queue.
    pub queue: QueueName,
    /// When it was paused.
    pub paused_at: DateTime<Utc>,
    /// Who paused it: the operator's principal, or `cli` for `kiln queue pause`.
    pub paused_by: String,
}

/// Pushes a message inside the caller's transaction, due at `run_at` (now when `None`).
pub async fn push_in_tx(
    tx: &mut DbTx,
    queue: QueueName,
    msg: &QueueMessage,
    run_at: Option<DateTime<Utc>>,
) -> Result<(), QueueError> {
    push_many_in_tx(tx, queue, &[(msg, run_at)]).await
}

/// Pushes messages of one queue inside the caller's transaction, each due at
/// its `run_at` (now when `None`): one statement on PostgreSQL.
pub async fn push_many_in_tx(
    tx: &mut DbTx,
    queue: QueueName,
    msgs: &[(&QueueMessage, Option<DateTime<Utc>>)],
) -> Result<(), QueueError> {
    if msgs.is_empty() {
        return Ok(());
    }
    let tasks = msgs
        .iter()
        .map(|(msg, run_at)| sql_task(msg, *run_at))
        .collect::<Result<Vec<_>, _>>()?;
    match tx {
        DbTx::Sqlite(tx) => apalis_sqlite::queries::push_tasks(&mut **tx, queue.as_str(), &tasks)
            .await
            .map_err(|e| QueueError::Backend(e.to_string())),
        DbTx::Postgres(tx) => {
            apalis_postgres::queries::push_tasks(&mut **tx, queue.as_str(), tasks)
                .await
                .map_err(|e| QueueError::Backend(e.to_string()))
        }
    }
}

/// The SQL backends' task for a message.
fn sql_task(
    msg: &QueueMessage,
    run_at: Option<DateTime<Utc>>,
) -> Result<apalis_sqlite::SqliteTask, QueueError> {
    let bytes = serde_json::to_vec(msg)?;
    // The delivery id as idempotency key: the sweeper finds a delivery's
    // message by it (see [`database`]).
    let mut builder = TaskBuilder::new(bytes).idempotency_key(msg.delivery_id.to_string());
    if let Some(at) = run_at {
        // The SQL backends store whole seconds: round up so a job never runs early.
        let secs = at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0);
        builder = builder.run_at_timestamp(secs.max(0) as u64);
    }
    // The ledger, not the backend, counts attempts; this only bounds transport-level
    // redeliveries (e.g. the ledger was unreachable when a worker tried to record).
    Ok(builder.max_attempts(TRANSPORT_MAX_ATTEMPTS).build())
}

/// Transport-level delivery attempts before the backend gives a message up.
pub const TRANSPORT_MAX_ATTEMPTS: usize = 25;

/// In-process wake-ups: a producer that commits a job pokes its queue so a
/// worker in the same process fetches at once instead of at its next poll tick.
#[derive(Debug, Clone, Default)]
pub struct Wakeups {
    subscribers: Arc<Mutex<HashMap<QueueName, Vec<mpsc::Sender<()>>>>>,
}

impl Wakeups {
    /// No subscribers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A stream that yields whenever `queue` gets a job. At most one wake-up is
    /// buffered: a busy worker fetches everything due when it next looks.
    pub fn subscribe(&self, queue: QueueName) -> mpsc::Receiver<()> {
        let (tx, rx) = mpsc::channel(1);
        if let Ok(mut subs) = self.subscribers.lock() {
            subs.entry(queue).or_default().push(tx);
        }
        rx
    }

    /// Wakes the workers of `queue`.
    pub fn wake(&self, queue: QueueName) {
        if let Ok(mut subs) = self.subscribers.lock()
            && let Some(list) = subs.get_mut(&queue)
        {
            list.retain_mut(|tx| match tx.try_send(()) {
                Ok(()) => true,
                Err(e) => !e.is_disconnected(),
            });
        }
    }
}

/// How often idle workers look for due jobs that no in-process wake-up announced
/// (delayed retries, jobs pushed by another process).
pub fn default_poll_interval() -> Duration {
    Duration::from_millis(500)
}

/// Checks that the queue backend answers: its jobs table is readable.
pub async fn ping(db: &crate::db::Db) -> Result<(), sqlx::Error> {
    match db {
        crate::db::Db::Sqlite(p) => sqlx::query("SELECT 1 FROM Jobs LIMIT 1")
            .execute(p)
            .await
            .map(|_| ()),
        crate::db::Db::Postgres(p) => sqlx::query("SELECT 1 FROM apalis.jobs LIMIT 1")
            .execute(p)
            .await
            .map(|_| ()),
    }
}

/// Deletes queue messages the workers acknowledged more than `older_than` ago.
/// The ledger keeps the job's history; the transport's copy is only clutter.
pub async fn purge_acknowledged(
    db: &crate::db::Db,
    older_than: Duration,
) -> Result<u64, sqlx::Error> {
    let cutoff = chrono::Utc::now() - older_than;
    match db {
        crate::db::Db::Sqlite(p) => {
            sqlx::query("DELETE FROM Jobs WHERE status = 'Done' AND done_at < $1")
                .bind(cutoff.timestamp())
                .execute(p)
                .await
        }
        .map(|r| r.rows_affected()),
        crate::db::Db::Postgres(p) => {
            sqlx::query("DELETE FROM apalis.jobs WHERE status = 'Done' AND done_at < $1")
                .bind(cutoff)
                .execute(p)
                .await
        }
        .map(|r| r.rows_affected()),
    }
}

/// Counts queue messages not yet acknowledged (pending, running or retrying in the transport).
pub async fn unacknowledged(db: &crate::db::Db) -> Result<i64, sqlx::Error> {
    match db {
        crate::db::Db::Sqlite(p) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM Jobs WHERE status <> 'Done'")
                .fetch_one(p)
                .await
        }
        crate::db::Db::Postgres(p) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM apalis.jobs WHERE status <> 'Done'")
                .fetch_one(p)
                .await
        }
    }
}
