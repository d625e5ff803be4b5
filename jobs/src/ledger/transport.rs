//! What the ledger asks of its transport. The database transport writes a
//! message in the ledger's own transaction ([`Transport::stage`]) and only
//! wakes in-process workers after the commit; Redis gets each message after
//! the commit ([`Transport::announce`]). On both, the sweeper asks which
//! deliveries the transport no longer holds ([`Transport::missing`]) and
//! re-delivers them ([`Transport::redeliver`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{JobRun, LedgerError};
use crate::{
    db::{Db, DbTx, job_runs},
    queue::{
        self, QueueError, QueueMessage, QueueName, QueueStats, Transport, Wakeups,
        redis::{Outgoing, RedisQueue},
    },
};

impl Transport {
    /// Checks that the queue backend answers.
    pub(crate) async fn ping(&self, db: &Db) -> Result<(), LedgerError> {
        match self {
            Transport::Database => Ok(queue::ping(db).await?),
            Transport::Redis(r) => r.ping().await.map(|_| ()).map_err(LedgerError::from),
        }
    }

    /// Writes a delivery's message inside the ledger's transaction, due at
    /// `run_at`. Only the database transport does; Redis is told after the
    /// commit.
    pub(crate) async fn stage(
        &self,
        tx: &mut DbTx,
        queue: QueueName,
        msg: &QueueMessage,
        run_at: Option<DateTime<Utc>>,
    ) -> Result<(), QueueError> {
        match self {
            Transport::Database => queue::push_in_tx(tx, queue, msg, run_at).await,
            Transport::Redis(_) => Ok(()),
        }
    }

    /// [`Transport::stage`] for many messages: one statement per queue.
    pub(crate) async fn stage_many(
        &self,
        tx: &mut DbTx,
        msgs: &[(QueueName, QueueMessage, Option<DateTime<Utc>>)],
    ) -> Result<(), QueueError> {
        match self {
            Transport::Database => {
                for q in QueueName::ALL {
                    let of_queue: Vec<_> = msgs
                        .iter()
                        .filter(|(queue, _, _)| *queue == q)
                        .map(|(_, m, at)| (m, *at))
                        .collect();
                    queue::push_many_in_tx(tx, q, &of_queue).await?;
                }
                Ok(())
            }
            Transport::Redis(_) => Ok(()),
        }
    }

    /// True when [`Transport::stage`] writes inside the ledger's transaction:
    /// only then does an enqueue need one.
    pub(crate) fn stages_in_tx(&self) -> bool {
        matches!(self, Transport::Database)
    }

    /// Hands just-committed deliveries to the workers: wakes the in-process
    /// workers of their queues (the database already holds the messages), or
    /// pushes them to Redis.
    pub(crate) async fn announce(
        &self,
        wakeups: &Wakeups,
        rows: &[JobRun],
    ) -> Result<(), LedgerError> {
        match self {
            Transport::Database => {
                for q in QueueName::ALL {
                    if rows.iter().any(|j| j.queue == q.as_str()) {
                        wakeups.wake(q);
                    }
                }
                Ok(())
            }
            Transport::Redis(r) => push_rows(r, rows).await,
        }
    }

    /// Which of `rows` (of `queue`) the transport holds no live message for:
    /// Redis' index lacks their delivery; the SQL queue has their message
    /// done, killed, given up, absent, or locked before `locked_since` (see
    /// [`queue::database::live_deliveries`]).
    pub(crate) async fn missing(
        &self,
        db: &Db,
        queue: QueueName,
        rows: &[&JobRun],
        locked_since: DateTime<Utc>,
    ) -> Result<Vec<bool>, LedgerError> {
        let deliveries: Vec<Uuid> = rows
            .iter()
            .map(|j| j.delivery_id.unwrap_or_default())
            .collect();
        match self {
            Transport::Redis(r) => {
                let pairs: Vec<(Uuid, Uuid)> = rows.iter().map(|j| j.id).zip(deliveries).collect();
                Ok(r.missing(queue, &pairs).await?)
            }
            Transport::Database => {
                let live =
                    queue::database::live_deliveries(db, queue, &deliveries, locked_since).await?;
                Ok(deliveries.iter().map(|d| !live.contains(d)).collect())
            }
        }
    }

    /// Delivers `rows` again (the sweeper's repair); returns how many were.
    /// Redis: pushes their current delivery, idempotent per delivery. SQL
    /// queues: gives each row a new delivery and writes its message in one
    /// transaction, skipping rows that changed since they were read, so
    /// sweepers that found the same row re-deliver it once; the old message,
    /// should it ever run, is a stale delivery and is skipped.
    pub(crate) async fn redeliver(
        &self,
        db: &Db,
        wakeups: &Wakeups,
        rows: &[JobRun],
    ) -> Result<u64, LedgerError> {
        match self {
            Transport::Redis(r) => {
                push_rows(r, rows).await?;
                Ok(rows.len() as u64)
            }
            Transport::Database => {
                let now = Utc::now();
                let mut tx = db.begin().await?;
                let mut redelivered = Vec::new();
                for job in rows {
                    let Some(old) = job.delivery_id else {
                        continue;
                    };
                    let queue: QueueName = job.queue.parse().map_err(LedgerError::Corrupt)?;
                    let attempts = i32::try_from(job.attempts).unwrap_or(i32::MAX);
                    let delivery_id = Uuid::now_v7();
                    if !job_runs::replace_delivery(&mut tx, job.id, old, attempts, delivery_id, now)
                        .await?
                    {
                        continue;
                    }
                    let msg = QueueMessage {
                        job_id: job.id,
                        delivery_id,
                        payload: job.payload.clone(),
                    };
                    let run_at = job.next_run_at.filter(|at| *at > now);
                    queue::push_in_tx(&mut tx, queue, &msg, run_at).await?;
                    redelivered.push(job.clone());
                }
                tx.commit().await?;
                self.announce(wakeups, &redelivered).await?;
                Ok(redelivered.len() as u64)
            }
        }
    }

    /// The numbers of `queue`: from Redis when it carries the queue (O(1)
    /// commands), from the ledger otherwise. `dead` comes from the ledger.
    pub(crate) async fn stats(
        &self,
        db: &Db,
        queue: QueueName,
        dead: u64,
    ) -> Result<QueueStats, LedgerError> {
        match self {
            Transport::Redis(r) => {
                let s = r.stats(queue).await?;
                Ok(QueueStats {
                    ready: s.ready,
                    delayed: s.delayed,
                    in_flight: s.in_flight,
                    dead,
                    oldest_ready_ms: s.oldest_ready_ms,
                })
            }
            Transport::Database => {
                let now = Utc::now();
                let c = job_runs::queue_counts(db, queue.as_str(), now).await?;
                let oldest_ready_ms = c.oldest_ready.map_or(0, |t| {
                    u64::try_from((now - t).num_milliseconds()).unwrap_or(0)
                });
                Ok(QueueStats {
                    ready: c.ready,
                    delayed: c.delayed,
                    in_flight: c.running,
                    dead,
                    oldest_ready_ms,
                })
            }
        }
    }
}

/// Pushes the current delivery of `rows` to Redis, grouped by queue.
async fn push_rows(r: &RedisQueue, rows: &[JobRun]) -> Result<(), LedgerError> {
    let now = Utc::now();
    let mut by_queue: HashMap<QueueName, Vec<(QueueMessage, std::time::Duration)>> = HashMap::new();
    for job in rows {
        let Some(delivery_id) = job.delivery_id else {
            continue;
        };
        let queue: QueueName = job.queue.parse().map_err(LedgerError::Corrupt)?;
        let delay = job
            .next_run_at
            .and_then(|at| (at - now).to_std().ok())
            .unwrap_or_default();
        by_queue.entry(queue).or_default().push((
            QueueMessage {
                job_id: job.id,
                delivery_id,
                payload: job.payload.clone(),
            },
            delay,
        ));
    }
    for (queue, msgs) in by_queue {
        let out: Vec<Outgoing<'_>> = msgs
            .iter()
            .map(|(message, delay)| Outgoing {
                message,
                delay: *delay,
            })
            .collect();
        r.push(queue, &out).await?;
    }
    Ok(())
}
