//! The apalis backend over Kiln's Redis Streams transport
//! ([`kiln_jobs::queue::redis`]).
//!
//! Per queue and process there is one consumer in the queue's group and one
//! [`StreamShared`]: what the process holds (fetched entries, for lease
//! renewal and hand-back) and the channel of finished entries, acknowledged
//! in batches by [`ack_loop`]. Each apalis worker (re)start builds a
//! [`StreamBackend`] around it that reads with `XREADGROUP … BLOCK`, first
//! taking over entries dead workers left idle past the lease.

use std::{
    collections::{HashMap, VecDeque},
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use apalis_core::{
    backend::{Backend, BackendConfig},
    layers::Identity,
    task::{Task, task_id::RandomId},
    worker::context::WorkerContext,
};
use futures::{FutureExt, future::BoxFuture};
use kiln_jobs::{
    QueueName,
    queue::{QueueError, redis::MAX_BATCH},
};
use tokio::sync::mpsc;

use crate::consumer::{Consumer, Delivery, Finished};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What one process holds of one queue.
#[derive(Debug)]
pub struct StreamShared {
    /// The transport.
    pub redis: Consumer,
    /// The queue.
    pub queue: QueueName,
    /// This process's consumer name in the group.
    pub consumer: String,
    /// Entries fetched and not yet finished (buffered or running), by entry id.
    held: Mutex<HashMap<String, Option<(Uuid, Uuid)>>>,
    acks: mpsc::UnboundedSender<Finished>,
}

impl StreamShared {
    /// Shared state for `queue`, and the receiving end of its finished entries.
    pub fn new(
        redis: Consumer,
        queue: QueueName,
        consumer: String,
    ) -> (Arc<StreamShared>, mpsc::UnboundedReceiver<Finished>) {
        let (acks, rx) = mpsc::unbounded_channel();
        let shared = StreamShared {
            redis,
            queue,
            consumer,
            held: Mutex::new(HashMap::new()),
            acks,
        };
        (Arc::new(shared), rx)
    }

    fn with_held<R>(&self, f: impl FnOnce(&mut HashMap<String, Option<(Uuid, Uuid)>>) -> R) -> R {
        // A poisoned lock only means another thread panicked mid-update of a
        // plain map; the map itself is still usable.
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut held)
    }

    /// Entry ids this process holds (for lease renewal).
    pub fn held_ids(&self) -> Vec<String> {
        self.with_held(|h| h.keys().cloned().collect())
    }

    fn hold(&self, d: &Delivery) -> bool {
        let job = d.message.as_ref().ok().map(|m| (m.job_id, m.delivery_id));
        self.with_held(|h| h.insert(d.entry_id.clone(), job).is_none())
    }

    /// The entry's outcome is in the ledger: acknowledge it (batched).
    pub fn finish(&self, entry_id: &str) {
        let job = self.with_held(|h| h.remove(entry_id)).flatten();
        // The receiver only goes away after every worker stopped.
        let _ = self.acks.send(Finished {
            entry_id: entry_id.to_owned(),
            job,
        });
    }

    /// The outcome could not be recorded: stop renewing the lease, so the
    /// entry is delivered again once the lease runs out.
    pub fn release(&self, entry_id: &str) {
        self.with_held(|h| h.remove(entry_id));
    }

    fn forget(&self, entries: &[Delivery]) {
        self.with_held(|h| {
            for d in entries {
                h.remove(&d.entry_id);
            }
        });
    }
}

type Fetch = BoxFuture<'static, (FetchState, Result<Vec<Delivery>, QueueError>)>;

/// What a fetch carries back and forth.
struct FetchState {
    reader: redis::aio::ConnectionManager,
    cursor: String,
    last_reclaim: Instant,
}

/// One apalis worker's view of a Redis queue.
pub struct StreamBackend {
    shared: Arc<StreamShared>,
    batch: usize,
    buffer: VecDeque<Delivery>,
    idle: Option<FetchState>,
    fetch: Option<Fetch>,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
    failures: u32,
    close: Option<BoxFuture<'static, ()>>,
}

impl std::fmt::Debug for StreamBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamBackend")
            .field("queue", &self.shared.queue)
            .field("consumer", &self.shared.consumer)
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl StreamBackend {
    /// A backend reading up to `batch` entries at a time on `reader`, a
    /// connection used by nothing else (see [`RedisQueue::reader`](kiln_jobs::queue::redis::RedisQueue::reader)).
    pub fn new(
        shared: Arc<StreamShared>,
        batch: usize,
        reader: redis::aio::ConnectionManager,
    ) -> StreamBackend {
        StreamBackend {
            shared,
            batch: batch.clamp(1, MAX_BATCH),
            buffer: VecDeque::new(),
            idle: Some(FetchState {
                reader,
                cursor: "0-0".into(),
                // Look for orphans at once on start.
                last_reclaim: Instant::now() - Duration::from_secs(3600),
            }),
            fetch: None,
            pause: None,
            failures: 0,
            close: None,
        }
    }

    fn start_fetch(&mut self, mut st: FetchState) -> Fetch {
        let shared = self.shared.clone();
        let batch = self.batch;
        async move {
            let lease = shared.redis.config().lease();
            let res = async {
                // Orphans first: entries dead workers left idle past the lease.
                if st.cursor != "0-0" || st.last_reclaim.elapsed() >= lease / 4 {
                    let (next, found) = shared
                        .redis
                        .reclaim(shared.queue, &shared.consumer, &st.cursor, batch)
                        .await?;
                    st.cursor = next;
                    if st.cursor == "0-0" {
                        st.last_reclaim = Instant::now();
                    }
                    if !found.is_empty() {
                        tracing::info!(queue = %shared.queue, count = found.len(), "took over jobs from a worker that stopped renewing its lease");
                        return Ok(found);
                    }
                }
                shared
                    .redis
                    .read(&mut st.reader, shared.queue, &shared.consumer, batch)
                    .await
            }
            .await;
            (st, res)
        }
        .boxed()
    }

    fn task(d: Delivery) -> Task<Delivery> {
        apalis_core::task::builder::TaskBuilder::new(d).build()
    }
}

impl Backend for StreamBackend {
    type Task = Task<Delivery>;
    type Error = QueueError;

    fn poll_ready(
        &mut self,
        _: &mut Context<'_>,
        _: &WorkerContext,
    ) -> Poll<Result<(), QueueError>> {
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        _: &WorkerContext,
    ) -> Poll<Option<Result<Task<Delivery>, QueueError>>> {
        loop {
            if let Some(d) = self.buffer.pop_front() {
                return Poll::Ready(Some(Ok(Self::task(d))));
            }
            if let Some(pause) = self.pause.as_mut() {
                futures::ready!(pause.as_mut().poll(cx));
                self.pause = None;
            }
            if self.fetch.is_none() {
                let Some(st) = self.idle.take() else {
                    return Poll::Pending;
                };
                self.fetch = Some(self.start_fetch(st));
            }
            let Some(fetch) = self.fetch.as_mut() else {
                return Poll::Pending;
            };
            let (st, res) = futures::ready!(fetch.poll_unpin(cx));
            self.fetch = None;
            self.idle = Some(st);
            match res {
                Ok(found) => {
                    if self.failures > 0 {
                        tracing::info!(queue = %self.shared.queue, "Redis answers again; fetching");
                    }
                    self.failures = 0;
                    for d in found {
                        // An entry this process already holds came back through
                        // a reclaim: it is running here, do not start it twice.
                        if self.shared.hold(&d) {
                            self.buffer.push_back(d);
                        }
                    }
                }
                Err(e) => {
                    self.failures += 1;
                    if self.failures == 1 || self.failures.is_power_of_two() {
                        tracing::warn!(queue = %self.shared.queue, error = %e, failures = self.failures, "cannot fetch from Redis; retrying");
                    }
                    let backoff = Duration::from_millis(100 * 2u64.pow(self.failures.min(5)));
                    self.pause = Some(Box::pin(tokio::time::sleep(backoff)));
                }
            }
        }
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        _: &WorkerContext,
    ) -> Poll<Result<(), QueueError>> {
        if self.close.is_none() {
            let shared = self.shared.clone();
            let fetch = self.fetch.take();
            let mut buffered: Vec<Delivery> = self.buffer.drain(..).collect();
            self.close = Some(
                async move {
                    // A read under way may still bring entries: wait for it
                    // (at most `block_ms`) and give those back too.
                    if let Some(fetch) = fetch
                        && let (_, Ok(found)) = fetch.await
                    {
                        buffered.extend(found);
                    }
                    if buffered.is_empty() {
                        return;
                    }
                    match shared
                        .redis
                        .hand_back(shared.queue, &shared.consumer, &buffered)
                        .await
                    {
                        Ok(n) => {
                            tracing::info!(queue = %shared.queue, handed_back = n, "gave unstarted jobs back to the queue");
                            shared.forget(&buffered);
                        }
                        Err(e) => tracing::warn!(queue = %shared.queue, error = %e, "could not give unstarted jobs back; they return after the lease"),
                    }
                }
                .boxed(),
            );
        }
        match self.close.as_mut() {
            Some(close) => close.poll_unpin(cx).map(|()| Ok(())),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl BackendConfig for StreamBackend {
    type Args = Delivery;
    type Id = RandomId;
    type Kind = apalis_core::backend::finalize::Ephemeral;
    type Config = ();
    type Layer = Identity;

    fn config(&self) -> &Self::Config {
        &()
    }

    fn middleware(&mut self, _: &mut WorkerContext) -> Self::Layer {
        Identity::new()
    }
}

/// Acknowledges finished entries in batches. Once `stop` is cancelled (the
/// workers have stopped) it acknowledges what is left and returns.
pub async fn ack_loop(
    redis: Consumer,
    queue: QueueName,
    mut rx: mpsc::UnboundedReceiver<Finished>,
    stop: CancellationToken,
) {
    let mut batch: Vec<Finished> = Vec::new();
    let mut failures = 0u32;
    loop {
        if batch.is_empty() {
            tokio::select! {
                biased;
                f = rx.recv() => match f {
                    Some(f) => batch.push(f),
                    None => return,
                },
                () = stop.cancelled() => {
                    while let Ok(f) = rx.try_recv() {
                        batch.push(f);
                    }
                    if batch.is_empty() {
                        return;
                    }
                }
            }
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(f) => batch.push(f),
                Err(_) => break,
            }
        }
        match redis.ack(queue, &batch).await {
            Ok(()) => {
                failures = 0;
                batch.clear();
            }
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(%queue, error = %e, pending = batch.len(), "cannot acknowledge finished jobs; retrying");
                }
                if stop.is_cancelled() && failures >= 5 {
                    tracing::warn!(%queue, pending = batch.len(), "giving up acknowledging at shutdown; those jobs are skipped when redelivered");
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(failures.min(5)))).await;
            }
        }
    }
}

/// Renews the lease of everything this process holds, every third of the lease.
pub async fn lease_loop(shared: Arc<StreamShared>, stop: CancellationToken) {
    let every = (shared.redis.config().lease() / 3).max(Duration::from_millis(200));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let ids = shared.held_ids();
        if ids.is_empty() {
            continue;
        }
        if let Err(e) = shared
            .redis
            .renew(shared.queue, &shared.consumer, &ids)
            .await
        {
            tracing::warn!(queue = %shared.queue, error = %e, "could not renew job leases");
        }
    }
}

/// Moves due delayed jobs and retries onto the stream, sleeping until the next
/// one is due (at most `promote_interval_ms`).
pub async fn promote_loop(redis: Consumer, queue: QueueName, stop: CancellationToken) {
    let most = Duration::from_millis(redis.config().promote_interval_ms);
    let mut failures = 0u32;
    loop {
        let wait = match redis.promote(queue).await {
            Ok((moved, _)) if moved as usize >= MAX_BATCH => Duration::ZERO,
            Ok((_, next)) => {
                failures = 0;
                next.map_or(most, |n| n.min(most))
            }
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(%queue, error = %e, "cannot promote delayed jobs; retrying");
                }
                Duration::from_millis(100 * 2u64.pow(failures.min(5)))
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// After the workers stopped: gives back whatever this consumer still has
/// pending and nobody runs, then leaves the group if nothing is left.
pub async fn release_consumer(shared: &StreamShared) {
    let redis = &shared.redis;
    let pending = match redis
        .pending_of(shared.queue, &shared.consumer, MAX_BATCH)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(queue = %shared.queue, error = %e, "could not list this worker's pending jobs at shutdown; they return after the lease");
            return;
        }
    };
    let held = shared.held_ids();
    let unstarted: Vec<Delivery> = pending
        .into_iter()
        .filter(|d| !held.contains(&d.entry_id))
        .collect();
    if !unstarted.is_empty()
        && let Err(e) = redis
            .hand_back(shared.queue, &shared.consumer, &unstarted)
            .await
    {
        tracing::warn!(queue = %shared.queue, error = %e, "could not give pending jobs back at shutdown");
        return;
    }
    if held.is_empty()
        && let Ok(left) = redis.pending_of(shared.queue, &shared.consumer, 1).await
        && left.is_empty()
        && let Err(e) = redis.remove_consumer(shared.queue, &shared.consumer).await
    {
        tracing::debug!(queue = %shared.queue, error = %e, "could not remove the consumer");
    }
}
