//! Coalesces the ledger writes every delivery makes (claim, success) into one
//! transaction per batch. Callers still await their own answer; while one
//! batch is being written the next one collects, so batches grow with load and
//! stay at one row when the queue is quiet (no added latency).
//!
//! On PostgreSQL a batch is one statement on a small pool of its own whose
//! commits do not wait for the WAL flush ([`Db::relaxed`]): a claim or success
//! a database crash loses leaves the row `running` with its message
//! redelivered or swept, so the job runs again, the at-least-once behaviour
//! every crash already has. Enqueues, which a 202 promises, stay fully
//! synchronous.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, OnceLock},
};

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::db::{Db, job_runs};

/// The most rows one batch writes.
const MAX_BATCH: usize = 256;

/// Connections of the relaxed pool: one per batch loop.
const RELAXED_CONNECTIONS: u32 = 2;

type Reply<T> = oneshot::Sender<Result<T, Arc<sqlx::Error>>>;

/// One caller's input and where its answer goes.
struct Pending<In, Out> {
    input: In,
    reply: Reply<Out>,
}

type ClaimIn = (Uuid, Uuid);
type ClaimOut = Option<job_runs::JobRunRow>;
type SuccessIn = job_runs::Success;

/// The batching writer; its tasks start on first use.
#[derive(Debug, Clone, Default)]
pub(crate) struct Batcher {
    channels: Arc<OnceLock<Channels>>,
}

#[derive(Debug)]
struct Channels {
    claims: mpsc::UnboundedSender<Pending<ClaimIn, ClaimOut>>,
    successes: mpsc::UnboundedSender<Pending<SuccessIn, bool>>,
}

impl Batcher {
    fn channels(&self, db: &Db) -> &Channels {
        self.channels.get_or_init(|| {
            let db = db.relaxed(RELAXED_CONNECTIONS);
            let (claims, claim_rx) = mpsc::unbounded_channel();
            let (successes, success_rx) = mpsc::unbounded_channel();
            tokio::spawn(run_batches(db.clone(), claim_rx, write_claims));
            tokio::spawn(run_batches(db, success_rx, write_successes));
            Channels { claims, successes }
        })
    }

    /// See [`crate::Ledger::claim`].
    pub(crate) async fn claim(
        &self,
        db: &Db,
        id: Uuid,
        delivery_id: Uuid,
    ) -> Result<ClaimOut, sqlx::Error> {
        submit(&self.channels(db).claims, (id, delivery_id)).await
    }

    /// See [`crate::Ledger::succeed`].
    pub(crate) async fn succeed(
        &self,
        db: &Db,
        id: Uuid,
        attempt: i32,
        result: serde_json::Value,
    ) -> Result<bool, sqlx::Error> {
        submit(&self.channels(db).successes, (id, attempt, result)).await
    }
}

async fn submit<In, Out>(
    tx: &mpsc::UnboundedSender<Pending<In, Out>>,
    input: In,
) -> Result<Out, sqlx::Error> {
    let (reply, rx) = oneshot::channel();
    tx.send(Pending { input, reply })
        .map_err(|_| sqlx::Error::PoolClosed)?;
    rx.await
        .map_err(|_| sqlx::Error::PoolClosed)?
        .map_err(unshare)
}

/// One batch's error, handed to every caller of the batch.
fn unshare(e: Arc<sqlx::Error>) -> sqlx::Error {
    match Arc::try_unwrap(e) {
        Ok(e) => e,
        Err(shared) => sqlx::Error::Protocol(shared.to_string()),
    }
}

/// Writes whatever is waiting (up to [`MAX_BATCH`]) with `write`, then
/// answers each caller with its own result.
async fn run_batches<In, Out, W>(
    db: Db,
    mut rx: mpsc::UnboundedReceiver<Pending<In, Out>>,
    write: W,
) where
    W: AsyncFn(&Db, &[In]) -> Result<Vec<Out>, sqlx::Error>,
{
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let (inputs, replies): (Vec<In>, Vec<Reply<Out>>) =
            batch.into_iter().map(|p| (p.input, p.reply)).unzip();
        match write(&db, &inputs).await {
            Ok(outs) => {
                for (reply, out) in replies.into_iter().zip(outs) {
                    let _ = reply.send(Ok(out));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Claims, answered in input order. The same delivery twice in one batch runs once.
async fn write_claims(db: &Db, inputs: &[ClaimIn]) -> Result<Vec<ClaimOut>, sqlx::Error> {
    let rows = job_runs::claim_many(db, inputs, Utc::now()).await?;
    let mut by_id: HashMap<Uuid, job_runs::JobRunRow> =
        rows.into_iter().map(|r| (r.id, r)).collect();
    Ok(inputs.iter().map(|(id, _)| by_id.remove(id)).collect())
}

/// Successes, answered in input order: false when the row was no longer
/// running for that attempt.
async fn write_successes(db: &Db, inputs: &[SuccessIn]) -> Result<Vec<bool>, sqlx::Error> {
    let done: HashSet<Uuid> = job_runs::succeed_many(db, inputs, Utc::now())
        .await?
        .into_iter()
        .collect();
    Ok(inputs.iter().map(|(id, _, _)| done.contains(id)).collect())
}
