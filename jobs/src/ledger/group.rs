//! Group commit for lone enqueues. Each caller still awaits its own answer,
//! given only once its job is committed and handed to its queue; while one
//! group is being written the next one collects, so groups grow with load and
//! stay at one job when producers are few (no added wait). One bad job does
//! not fail its group's neighbours: when a group's write fails, each of its
//! jobs is written again alone and answered with its own outcome.

use std::sync::OnceLock;

use tokio::sync::{mpsc, oneshot};

use super::{
    Enqueued, LedgerError,
    enqueue::{Prepared, Writer},
};

/// The most jobs one group writes.
const MAX_GROUP: usize = 500;

struct Pending {
    job: Prepared,
    reply: oneshot::Sender<Result<Enqueued, LedgerError>>,
}

/// The group-commit writer; its task starts on first use.
#[derive(Debug, Clone, Default)]
pub(super) struct Group {
    sender: std::sync::Arc<OnceLock<mpsc::UnboundedSender<Pending>>>,
}

impl Group {
    /// Writes `job` with whatever else waits, and answers once it is
    /// committed and handed to its queue.
    pub(super) async fn submit(
        &self,
        writer: Writer,
        job: Prepared,
    ) -> Result<Enqueued, LedgerError> {
        let sender = self.sender.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run_groups(writer, rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        sender
            .send(Pending { job, reply })
            .map_err(|_| LedgerError::Db(sqlx::Error::PoolClosed))?;
        answer
            .await
            .map_err(|_| LedgerError::Db(sqlx::Error::PoolClosed))?
    }
}

async fn run_groups(writer: Writer, mut rx: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        let (jobs, replies): (Vec<Prepared>, Vec<_>) =
            group.into_iter().map(|p| (p.job, p.reply)).unzip();
        writer.metrics.observe_enqueue_group(jobs.len());
        match writer.write(&jobs).await {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(e) if jobs.len() == 1 => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, jobs = jobs.len(), "a grouped enqueue failed; writing its jobs one by one");
                for (job, reply) in jobs.iter().zip(replies) {
                    let answer = writer
                        .write(std::slice::from_ref(job))
                        .await
                        .and_then(|mut a| a.pop().ok_or(LedgerError::NotFound));
                    let _ = reply.send(answer);
                }
            }
        }
    }
}
