//! Pausing queues: every apalis worker of this process registers here when it
//! starts, and [`watch`] reads the paused queues from the ledger every
//! [`PAUSE_POLL_INTERVAL`] and pauses or resumes the workers of each.
//!
//! A paused apalis worker polls nothing new (its service is not ready), so
//! the jobs it runs finish and none starts; enqueueing goes on. On Redis the
//! entries a worker had fetched and not started go back to the queue (see
//! `StreamBackend::poll_ready`); on the database transports they wait in the
//! worker, leased, until the resume.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use apalis::prelude::{Event, WorkerContext};
use kiln_jobs::{AppContext, QueueName, queue::PAUSE_POLL_INTERVAL};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct State {
    /// The queues last read as paused.
    paused: HashSet<QueueName>,
    /// The running workers, by apalis worker name.
    workers: HashMap<String, (QueueName, WorkerContext)>,
}

/// This process's workers and the queues paused.
#[derive(Default, Clone)]
pub struct Pauses {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Pauses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (paused, workers) = self.with(|s| (s.paused.len(), s.workers.len()));
        f.debug_struct("Pauses")
            .field("paused", &paused)
            .field("workers", &workers)
            .finish()
    }
}

fn apply(queue: QueueName, name: &str, ctx: &WorkerContext, paused: bool) {
    let outcome = if paused && ctx.is_running() {
        ctx.pause().map(|()| "paused")
    } else if !paused && ctx.is_paused() {
        ctx.resume().map(|()| "resumed")
    } else {
        return;
    };
    match outcome {
        Ok(what) => tracing::info!(%queue, worker = name, "worker {what}"),
        Err(e) => tracing::debug!(%queue, worker = name, error = %e, "worker state unchanged"),
    }
}

impl Pauses {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A panic while holding the lock leaves plain data behind: keep using it.
        let mut guard = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// The event listener of `queue`'s workers: a worker that starts while
    /// its queue is paused is paused at once; one that exits is forgotten.
    pub fn listener(
        &self,
        queue: QueueName,
    ) -> impl Fn(&WorkerContext, &Event) + Send + Sync + 'static {
        let pauses = self.clone();
        move |ctx, event| match event {
            Event::Start => pauses.with(|s| {
                let name = ctx.name().to_owned();
                apply(queue, &name, ctx, s.paused.contains(&queue));
                s.workers.insert(name, (queue, ctx.clone()));
            }),
            Event::Exit => pauses.with(|s| {
                s.workers.remove(ctx.name());
            }),
            _ => {}
        }
    }

    /// Takes `paused` as the paused queues and brings every worker in line.
    pub fn set(&self, paused: HashSet<QueueName>) {
        self.with(|s| {
            for (name, (queue, ctx)) in &s.workers {
                apply(*queue, name, ctx, paused.contains(queue));
            }
            s.paused = paused;
        });
    }

    /// Reads the paused queues once; on failure the last state stands.
    pub async fn refresh(&self, app: &AppContext) {
        match app.ledger.paused().await {
            Ok(paused) => self.set(paused.into_iter().map(|p| p.queue).collect()),
            Err(e) => {
                tracing::debug!(error = %e, "could not read the paused queues; keeping the last state")
            }
        }
    }
}

/// Refreshes `pauses` every [`PAUSE_POLL_INTERVAL`], and at once when this
/// process pauses or resumes a queue, until `stop`.
pub async fn watch(app: AppContext, pauses: Pauses, stop: CancellationToken) {
    loop {
        let changed = app.ledger.controls_changed();
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(PAUSE_POLL_INTERVAL) => {}
            () = changed => {}
        }
        pauses.refresh(&app).await;
    }
}
