//! The end of a job, as the worker records it: the ledger's terminal write,
//! the owner's webhook deliveries for it, and the family's own history rows.

use kiln_jobs::{AppContext, JobRun, JobStatus, ledger::LedgerError, webhooks::events};
use serde_json::Value;

use crate::registry;

/// Records that `job` ended with `status` (`succeeded` with `result`, or
/// `failed` / `dead` with `error`) and queues the owner's webhook deliveries
/// for it. False when the ledger did not finish the job: it was cancelled
/// meanwhile, or a later claim took it over (see
/// [`Ledger::finish`](kiln_jobs::Ledger::finish)).
///
/// When the owner has endpoints subscribed to the job's events, the ledger
/// write and the deliveries commit in one transaction, so a worker that dies
/// afterwards cannot lose them. Jobs nobody subscribes to (most) take the
/// ledger's batched path. Then the family closes its history rows of a job
/// that ended without its handler recording it.
pub async fn finish(
    app: &AppContext,
    job: &JobRun,
    status: JobStatus,
    result: Option<&Value>,
    error: Option<&str>,
) -> Result<bool, LedgerError> {
    let fanout = events::for_finished_job(app, job, status, result, error).await?;
    let done = if fanout.is_empty() {
        app.ledger.finish(job, status, result, error).await?
    } else {
        let mut tx = app.db.begin().await?;
        if !app
            .ledger
            .finish_in_tx(&mut tx, job, status, result, error)
            .await?
        {
            return Ok(false);
        }
        let queued = fanout.queue_in_tx(app, &mut tx).await?;
        tx.commit().await?;
        events::push(app, queued).await;
        true
    };
    if done {
        registry::close_unfinished(app, job, status, error).await;
    }
    Ok(done)
}
