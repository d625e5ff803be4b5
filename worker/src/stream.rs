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

/// An entry this process holds: the job it carries, the fence its handler
/// stops on, and when its lease was last known to be this process's.
#[derive(Debug)]
struct Held {
    job: Option<(Uuid, Uuid)>,
    fence: CancellationToken,
    confirmed: Instant,
}

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
    held: Mutex<HashMap<String, Held>>,
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

    fn with_held<R>(&self, f: impl FnOnce(&mut HashMap<String, Held>) -> R) -> R {
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
        self.with_held(|h| match h.entry(d.entry_id.clone()) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Held {
                    job,
                    fence: CancellationToken::new(),
                    confirmed: Instant::now(),
                });
                true
            }
        })
    }

    /// The fence of a held entry: cancelled once its lease is lost. An entry
    /// no longer held (its lease was lost before it started) gets one that is
    /// cancelled already.
    pub fn fence(&self, entry_id: &str) -> CancellationToken {
        self.with_held(|h| h.get(entry_id).map(|e| e.fence.clone()))
            .unwrap_or_else(|| {
                let lost = CancellationToken::new();
                lost.cancel();
                lost
            })
    }

    /// The entry's outcome is in the ledger: acknowledge it (batched).
    pub fn finish(&self, entry_id: &str) {
        let job = self.with_held(|h| h.remove(entry_id)).and_then(|e| e.job);
        // The receiver only goes away after every worker stopped.
        let _ = self.acks.send(Finished {
            entry_id: entry_id.to_owned(),
            job,
        });
    }

    /// The outcome could not be recorded, or the entry is another
    /// consumer's now: stop renewing the lease, so the entry is delivered
    /// again once the lease runs out (or stays with its new holder).
    pub fn release(&self, entry_id: &str) {
        self.with_held(|h| h.remove(entry_id));
    }

    /// After a renewal of `renewed`: the leases of those not in `lost` are
    /// this process's again from now; the `lost` ones another consumer took
    /// over, so their handlers are stopped and they are let go.
    fn renewed(&self, renewed: &[String], lost: &[String]) {
        let now = Instant::now();
        self.with_held(|h| {
            for id in renewed {
                if let Some(e) = h.get_mut(id) {
                    e.confirmed = now;
                }
            }
            for id in lost {
                if let Some(e) = h.remove(id) {
                    e.fence.cancel();
                }
            }
        });
    }

    /// Stops the handlers of entries whose lease was last confirmed longer
    /// than `max_age` ago (renewals keep failing): another consumer may take
    /// them over once the lease runs out, and two must not run one job.
    /// Returns how many were stopped.
    fn fence_unconfirmed(&self, max_age: Duration) -> usize {
        self.with_held(|h| {
            let stale: Vec<String> = h
                .iter()
                .filter(|(_, e)| e.confirmed.elapsed() > max_age)
                .map(|(id, _)| id.clone())
                .collect();
            for id in &stale {
                if let Some(e) = h.remove(id) {
                    e.fence.cancel();
                }
            }
            stale.len()
        })
    }

    fn forget(&self, entries: &[Delivery]) {
        self.with_held(|h| {
            for d in entries {
                h.remove(&d.entry_id);
            }
        });
    }

    /// Hands entries fetched and never started back to the queue (a worker
    /// closing, or paused), and stops renewing their leases. When Redis
    /// refuses, they return to the queue once their lease runs out.
    async fn give_back(self: Arc<Self>, entries: Vec<Delivery>) {
        if entries.is_empty() {
            return;
        }
        match self
            .redis
            .hand_back(self.queue, &self.consumer, &entries)
            .await
        {
            Ok(n) => {
                tracing::info!(queue = %self.queue, handed_back = n, "gave unstarted jobs back to the queue");
                self.forget(&entries);
            }
            Err(e) => {
                tracing::warn!(queue = %self.queue, error = %e, "could not give unstarted jobs back; they return after the lease")
            }
        }
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

    /// Always ready. While the worker is paused (its queue is), entries
    /// fetched and not started go back to the queue, where another worker
    /// (once resumed) or this one takes them up again, rather than waiting
    /// here leased.
    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), QueueError>> {
        if worker.is_paused() {
            if let Some(fetch) = self.fetch.as_mut()
                && let Poll::Ready((st, res)) = fetch.poll_unpin(cx)
            {
                self.fetch = None;
                self.idle = Some(st);
                // A failed read brought nothing; the next fetch after the
                // resume reports it if Redis still fails.
                for d in res.unwrap_or_default() {
                    if self.shared.hold(&d) {
                        self.buffer.push_back(d);
                    }
                }
            }
            if !self.buffer.is_empty() {
                let unstarted: Vec<Delivery> = self.buffer.drain(..).collect();
                tokio::spawn(self.shared.clone().give_back(unstarted));
            }
        }
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
                    shared.give_back(buffered).await;
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

/// Renews the lease of everything this process holds, every third of the
/// lease. Entries another consumer took over, and entries whose lease could
/// not be confirmed for half the lease (Redis unreachable), have their
/// handlers stopped: by the time the lease runs out, only one worker runs a
/// job. The ledger fences what a stopped handler might still write.
pub async fn lease_loop(shared: Arc<StreamShared>, stop: CancellationToken) {
    let lease = shared.redis.config().lease();
    let every = (lease / 3).max(Duration::from_millis(200));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let ids = shared.held_ids();
        if !ids.is_empty() {
            let renewal = shared.redis.renew(shared.queue, &shared.consumer, &ids);
            match tokio::time::timeout(every, renewal).await {
                Ok(Ok(lost)) => {
                    if !lost.is_empty() {
                        tracing::warn!(queue = %shared.queue, count = lost.len(), "another worker took over jobs whose lease ran out here; stopping them");
                    }
                    shared.renewed(&ids, &lost);
                }
                Ok(Err(e)) => {
                    tracing::warn!(queue = %shared.queue, error = %e, "could not renew job leases");
                }
                Err(_) => tracing::warn!(queue = %shared.queue, "renewing job leases timed out"),
            }
        }
        let stopped = shared.fence_unconfirmed(lease / 2);
        if stopped > 0 {
            tracing::warn!(queue = %shared.queue, count = stopped, "could not renew job leases for half the lease; stopped those jobs, they are delivered again");
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
