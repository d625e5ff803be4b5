//! Group commit: callers submit one item each and await their own answer,
//! given once the group that carried it is written. While one group is being
//! written the next one collects, so groups grow with load and stay at one
//! item when callers are few (no added wait). One bad item does not fail its
//! group's neighbours: when a group's write fails, each of its items is
//! written again alone and answered with its own outcome.

use std::{
    future::Future,
    sync::{Arc, OnceLock},
};

use tokio::sync::{mpsc, oneshot};

/// The most items one group writes.
const MAX_GROUP: usize = 500;

/// Writes a group of items; answers one output per item, in order.
pub(super) trait GroupWrite<In, Out, E>: Send + Sync + 'static {
    /// Writes `items` as one group.
    fn write(&self, items: &[In]) -> impl Future<Output = Result<Vec<Out>, E>> + Send;
    /// Told the size of each group before it is written.
    fn grouped(&self, items: usize);
}

/// The writer went away (the runtime is shutting down), or answered a group
/// with fewer outputs than items.
#[derive(Debug, Clone, Copy)]
pub(super) struct Closed;

struct Pending<In, Out, E> {
    input: In,
    reply: oneshot::Sender<Result<Out, E>>,
}

/// The group-commit queue; its writer task starts on first use.
pub(super) struct Group<In, Out, E> {
    sender: Arc<OnceLock<mpsc::UnboundedSender<Pending<In, Out, E>>>>,
}

impl<In, Out, E> Clone for Group<In, Out, E> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
        }
    }
}

impl<In, Out, E> Default for Group<In, Out, E> {
    fn default() -> Self {
        Self {
            sender: Arc::default(),
        }
    }
}

impl<In, Out, E> std::fmt::Debug for Group<In, Out, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("started", &self.sender.get().is_some())
            .finish()
    }
}

impl<In, Out, E> Group<In, Out, E>
where
    In: Send + Sync + 'static,
    Out: Send + 'static,
    E: From<Closed> + std::fmt::Display + Send + 'static,
{
    /// Writes `input` with whatever else waits, through the writer that
    /// `writer` makes on first use, and answers once its group is written.
    pub(super) async fn submit<W: GroupWrite<In, Out, E>>(
        &self,
        input: In,
        writer: impl FnOnce() -> W,
    ) -> Result<Out, E> {
        let sender = self.sender.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run_groups(writer(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        sender
            .send(Pending { input, reply })
            .map_err(|_| E::from(Closed))?;
        answer.await.map_err(|_| E::from(Closed))?
    }
}

async fn run_groups<In, Out, E, W>(writer: W, mut rx: mpsc::UnboundedReceiver<Pending<In, Out, E>>)
where
    In: Send + Sync,
    Out: Send,
    E: From<Closed> + std::fmt::Display + Send,
    W: GroupWrite<In, Out, E>,
{
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        let (inputs, replies): (Vec<In>, Vec<_>) =
            group.into_iter().map(|p| (p.input, p.reply)).unzip();
        writer.grouped(inputs.len());
        match writer.write(&inputs).await {
            Ok(outs) => {
                let mut outs = outs.into_iter();
                for reply in replies {
                    let _ = reply.send(outs.next().ok_or(E::from(Closed)));
                }
            }
            Err(e) if inputs.len() == 1 => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, items = inputs.len(), "a group write failed; writing its items one by one");
                for (input, reply) in inputs.iter().zip(replies) {
                    let out = writer
                        .write(std::slice::from_ref(input))
                        .await
                        .and_then(|mut o| o.pop().ok_or(E::from(Closed)));
                    let _ = reply.send(out);
                }
            }
        }
    }
}
