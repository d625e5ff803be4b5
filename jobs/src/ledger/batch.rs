//! Coalesces the ledger writes every delivery makes (claim, success) into one
//! transaction per batch. Callers still await their own answer; while one
//! batch is being written the next one collects, so batches grow with load and
//! stay at one row when the queue is quiet (no added latency).
//!
//! These commits do not wait for PostgreSQL's WAL flush
//! ([`Db::begin_relaxed`]): a claim or success a database crash loses leaves
//! the row `running` with its message redelivered or swept, so the job runs
//! again, the at-least-once behaviour every crash already has. Enqueues, which
//! a 202 promises, stay fully synchronous.

use std::sync::{Arc, OnceLock};

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::db::{Db, job_runs};

/// The most rows one batch writes.
const MAX_BATCH: usize = 256;

type Reply<T> = oneshot::Sender<Result<T, Arc<sqlx::Error>>>;

struct Claim {
    id: Uuid,
    delivery_id: Uuid,
    reply: Reply<Option<job_runs::JobRunRow>>,
}

struct Success {
    id: Uuid,
    result: serde_json::Value,
    reply: Reply<bool>,
}

/// The batching writer; its tasks start on first use.
#[derive(Debug, Clone, Default)]
pub(crate) struct Batcher {
    channels: Arc<OnceLock<Channels>>,
}

#[derive(Debug)]
struct Channels {
    claims: mpsc::UnboundedSender<Claim>,
    successes: mpsc::UnboundedSender<Success>,
}

impl Batcher {
    fn channels(&self, db: &Db) -> &Channels {
        self.channels.get_or_init(|| {
            let (claims, claim_rx) = mpsc::unbounded_channel();
            let (successes, success_rx) = mpsc::unbounded_channel();
            tokio::spawn(claim_loop(db.clone(), claim_rx));
            tokio::spawn(success_loop(db.clone(), success_rx));
            Channels { claims, successes }
        })
    }

    /// See [`crate::Ledger::claim`].
    pub(crate) async fn claim(
        &self,
        db: &Db,
        id: Uuid,
        delivery_id: Uuid,
    ) -> Result<Option<job_runs::JobRunRow>, sqlx::Error> {
        let (reply, rx) = oneshot::channel();
        let sent = self.channels(db).claims.send(Claim {
            id,
            delivery_id,
            reply,
        });
        if sent.is_err() {
            return Err(closed());
        }
        rx.await.map_err(|_| closed())?.map_err(unshare)
    }

    /// See [`crate::Ledger::succeed`].
    pub(crate) async fn succeed(
        &self,
        db: &Db,
        id: Uuid,
        result: serde_json::Value,
    ) -> Result<bool, sqlx::Error> {
        let (reply, rx) = oneshot::channel();
        let sent = self
            .channels(db)
            .successes
            .send(Success { id, result, reply });
        if sent.is_err() {
            return Err(closed());
        }
        rx.await.map_err(|_| closed())?.map_err(unshare)
    }
}

fn closed() -> sqlx::Error {
    sqlx::Error::PoolClosed
}

/// One batch's error, handed to every caller of the batch.
fn unshare(e: Arc<sqlx::Error>) -> sqlx::Error {
    match Arc::try_unwrap(e) {
        Ok(e) => e,
        Err(shared) => sqlx::Error::Protocol(shared.to_string()),
    }
}

/// Takes what is waiting, up to [`MAX_BATCH`], after the first item arrived.
async fn next_batch<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> Option<Vec<T>> {
    let first = rx.recv().await?;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    Some(batch)
}

async fn claim_loop(db: Db, mut rx: mpsc::UnboundedReceiver<Claim>) {
    while let Some(batch) = next_batch(&mut rx).await {
        let pairs: Vec<(Uuid, Uuid)> = batch.iter().map(|c| (c.id, c.delivery_id)).collect();
        let written = async {
            let mut tx = db.begin_relaxed().await?;
            let rows = job_runs::claim_many(&mut tx, &pairs, Utc::now()).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(rows)
        }
        .await;
        match written {
            Ok(rows) => {
                let mut by_id: std::collections::HashMap<Uuid, job_runs::JobRunRow> =
                    rows.into_iter().map(|r| (r.id, r)).collect();
                for c in batch {
                    // The same delivery twice in one batch runs once.
                    let _ = c.reply.send(Ok(by_id.remove(&c.id)));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for c in batch {
                    let _ = c.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

async fn success_loop(db: Db, mut rx: mpsc::UnboundedReceiver<Success>) {
    while let Some(batch) = next_batch(&mut rx).await {
        let results: Vec<(Uuid, serde_json::Value)> =
            batch.iter().map(|s| (s.id, s.result.clone())).collect();
        let written = async {
            let mut tx = db.begin_relaxed().await?;
            let done = job_runs::succeed_many(&mut tx, &results, Utc::now()).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done)
        }
        .await;
        match written {
            Ok(done) => {
                let done: std::collections::HashSet<Uuid> = done.into_iter().collect();
                for s in batch {
                    let _ = s.reply.send(Ok(done.contains(&s.id)));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for s in batch {
                    let _ = s.reply.send(Err(e.clone()));
                }
            }
        }
    }
}
