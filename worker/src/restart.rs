//! Pacing worker restarts. A SQL queue's apalis worker ends with an error
//! when a fetch, heartbeat or acknowledgement fails (a locked SQLite file, a
//! dropped PostgreSQL connection), and the monitor restarts it at once. While
//! the database keeps failing, that is a loop of hundreds of restarts a
//! second, each a write that fails again. [`Paced`] makes a restarted worker
//! wait first: 100 ms after the first failure, doubling (with jitter) to at
//! most 5 s while the failures follow each other, back to 100 ms once a
//! minute has passed without one.

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use apalis::prelude::{Backend, WorkerContext};
use apalis_core::backend::{BackendConfig, WireFormatBackend};

use crate::backoff;

/// How long without a restart before the delay starts over.
const CALM: Duration = Duration::from_secs(60);

/// The restart history of one queue's worker.
#[derive(Debug, Clone, Default)]
pub struct Restarts {
    /// The failures in a row, and when the last one was.
    last: Arc<Mutex<(u32, Option<Instant>)>>,
}

impl Restarts {
    /// How long the worker built for run number `restart` (0: the first
    /// start) waits before it starts.
    pub fn delay(&self, restart: usize) -> Option<Duration> {
        if restart == 0 {
            return None;
        }
        // Plain data behind the lock: a panic elsewhere leaves it usable.
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let streak = match last.1 {
            Some(at) if now.duration_since(at) < CALM => last.0.saturating_add(1),
            _ => 0,
        };
        *last = (streak, Some(now));
        Some(backoff::record_delay(streak))
    }
}

/// A backend that waits `delay` before its first [`Backend::poll_ready`]
/// and is otherwise `inner`.
pub struct Paced<B> {
    inner: B,
    delay: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> Paced<B> {
    /// `inner`, started after `delay` (at once for `None`).
    pub fn new(inner: B, delay: Option<Duration>) -> Self {
        Self {
            inner,
            delay: delay.map(|d| Box::pin(tokio::time::sleep(d))),
        }
    }
}

impl<B: std::fmt::Debug> std::fmt::Debug for Paced<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paced")
            .field("inner", &self.inner)
            .field("waiting", &self.delay.is_some())
            .finish()
    }
}

impl<B: Backend> Backend for Paced<B> {
    type Task = B::Task;
    type Error = B::Error;

    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        if let Some(delay) = self.delay.as_mut() {
            futures::ready!(delay.as_mut().poll(cx));
            self.delay = None;
        }
        self.inner.poll_ready(cx, worker)
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, Self::Error>>> {
        self.inner.poll_next(cx, worker)
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_close(cx, worker)
    }
}

impl<B: BackendConfig> BackendConfig for Paced<B> {
    type Args = B::Args;
    type Id = B::Id;
    type Kind = B::Kind;
    type Config = B::Config;
    type Layer = B::Layer;

    fn config(&self) -> &Self::Config {
        self.inner.config()
    }

    fn middleware(&mut self, worker: &mut WorkerContext) -> Self::Layer {
        self.inner.middleware(worker)
    }
}

impl<B: WireFormatBackend> WireFormatBackend for Paced<B> {
    type Codec = B::Codec;
    type Compact = B::Compact;

    fn codec(&self) -> &Self::Codec {
        self.inner.codec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_start_does_not_wait_and_restarts_in_a_row_wait_longer() {
        let r = Restarts::default();
        assert_eq!(r.delay(0), None);
        let first = r.delay(1).expect("a delay");
        assert!(first <= Duration::from_millis(100), "{first:?}");
        let mut last = first;
        for n in 2..12 {
            last = r.delay(n).expect("a delay");
        }
        assert!(last >= Duration::from_millis(2_500), "{last:?}");
        assert!(last <= Duration::from_secs(5), "{last:?}");
    }
}
