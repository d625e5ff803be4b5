//! The sweeper (reconciler): the ledger is the truth, the transport only
//! carries messages, and a transport can drop one while its ledger row still
//! waits for it. Redis loses messages in a restart without persistence or a
//! push that failed after the ledger commit; the SQL queues give a message up
//! after [`TRANSPORT_MAX_ATTEMPTS`](kiln_jobs::queue::TRANSPORT_MAX_ATTEMPTS)
//! failed runs (each a ledger write that failed), and an acknowledgement lost
//! with its worker can leave one locked for good.
//!
//! A sweep pages through `queued` and `running` ledger rows unchanged for a
//! grace period, asks the transport which of their deliveries it holds no live
//! message for, and delivers those again: the job then runs, or, when its
//! attempts are spent, ends `dead` through the executor, whose end closes the
//! family's history rows. Redis pushes are idempotent per delivery; on the SQL
//! queues a re-delivery replaces the row's delivery with a guarded update, so
//! replicas sweeping at once re-deliver each row once.

use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use kiln_jobs::{
    Config, JobRun,
    db::job_runs,
    ledger::{JobStatus, Ledger, LedgerError},
    queue::{QueueName, Transport},
};

/// Rows compared per page.
const PAGE: i64 = 500;

/// Where a sweep continues, and the limits of one sweep.
#[derive(Debug, Clone)]
pub struct Sweeper {
    /// Rows changed within this long are left alone (their push may be under way).
    pub grace: Duration,
    /// Per queue: `running` rows unchanged for longer than this without a
    /// Redis message lost their delivery (the worker and the message are both
    /// gone). The queue's timeout plus the lease plus `grace`. (On the SQL
    /// queues, where a running job's message stays visible, `running` rows
    /// take `grace` too.)
    pub running_grace: fn(&Config, QueueName) -> Duration,
    /// Per queue, on the SQL queues: a message a worker has kept locked for
    /// longer than this is lost (its worker went away with its
    /// acknowledgement). `queues.stuck_after` by default
    /// ([`kiln_jobs::queue::config::QueuesConfig::stuck_after`]).
    pub stuck_after: fn(&Config, QueueName) -> Duration,
    config: std::sync::Arc<Config>,
    /// Pages per status and sweep; the next sweep continues where this one stopped.
    pub max_pages: usize,
    queued_cursor: Option<Uuid>,
    running_cursor: Option<Uuid>,
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Ledger rows compared with Redis.
    pub checked: u64,
    /// Jobs delivered again (pushed again to Redis; given a new delivery on
    /// the SQL queues).
    pub repushed: u64,
}

impl Sweeper {
    /// A sweeper starting at the beginning of the ledger, with the grace
    /// periods of `config`: on Redis `redis.sweep_grace_secs`, each queue's
    /// timeout and `redis.lease_secs`; on the SQL queues
    /// `queues.reconcile_grace_secs`.
    pub fn new(config: std::sync::Arc<Config>) -> Self {
        let grace = if config.redis.url.is_some() {
            config.redis.sweep_grace_secs
        } else {
            config.queues.reconcile_grace_secs
        };
        Self::with_grace(Duration::from_secs(grace), config)
    }

    /// As [`Sweeper::new`] with another grace for `queued` rows (and, on the
    /// SQL queues, `running` ones).
    pub fn with_grace(grace: Duration, config: std::sync::Arc<Config>) -> Self {
        fn running_grace(c: &Config, q: QueueName) -> Duration {
            c.queues.policy(q).timeout()
                + c.redis.lease()
                + Duration::from_secs(c.redis.sweep_grace_secs)
        }
        fn stuck_after(c: &Config, q: QueueName) -> Duration {
            c.queues.stuck_after(q)
        }
        Self {
            grace,
            running_grace,
            stuck_after,
            config,
            max_pages: 20,
            queued_cursor: None,
            running_cursor: None,
        }
    }

    /// One bounded sweep: at most `max_pages` pages of each status.
    pub async fn sweep(&mut self, ledger: &Ledger) -> Result<SweepReport, LedgerError> {
        let mut report = SweepReport::default();
        let (config, grace) = (self.config.clone(), self.grace);
        let (running_grace, stuck_after) = (self.running_grace, self.stuck_after);
        let on_redis = matches!(ledger.transport(), Transport::Redis(_));
        // Redis holds a message or not; on the SQL queues one locked for
        // longer than its queue allows is lost too.
        let locked = |q| {
            if on_redis {
                Duration::ZERO
            } else {
                stuck_after(&config, q)
            }
        };
        let queued = sweep_status(
            ledger,
            JobStatus::Queued,
            &|_| grace,
            &locked,
            &mut self.queued_cursor,
            self.max_pages,
        )
        .await?;
        let running = sweep_status(
            ledger,
            JobStatus::Running,
            &|q| {
                if on_redis {
                    running_grace(&config, q)
                } else {
                    grace
                }
            },
            &locked,
            &mut self.running_cursor,
            self.max_pages,
        )
        .await?;
        report.checked = queued.checked + running.checked;
        report.repushed = queued.repushed + running.repushed;
        Ok(report)
    }
}

/// Sweeps rows in `status` unchanged for their queue's `grace`; on the SQL
/// queues a message locked for longer than its queue's `locked` is lost.
async fn sweep_status(
    ledger: &Ledger,
    status: JobStatus,
    grace: &(dyn Fn(QueueName) -> Duration + Sync),
    locked: &(dyn Fn(QueueName) -> Duration + Sync),
    cursor: &mut Option<Uuid>,
    max_pages: usize,
) -> Result<SweepReport, LedgerError> {
    let now = Utc::now();
    let shortest = QueueName::ALL
        .into_iter()
        .map(grace)
        .min()
        .unwrap_or_default();
    let cutoff = now - shortest;
    let mut report = SweepReport::default();
    for _ in 0..max_pages {
        let rows =
            job_runs::stale_in_status(ledger.db(), status.as_str(), *cursor, cutoff, PAGE).await?;
        let Some(last) = rows.last() else {
            // Reached the end: the next sweep starts over.
            *cursor = None;
            break;
        };
        *cursor = Some(last.id);
        let full_page = rows.len() as i64 == PAGE;
        let jobs = rows
            .into_iter()
            .map(JobRun::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        report.checked += jobs.len() as u64;
        let mut lost = Vec::new();
        for queue in QueueName::ALL {
            let queue_cutoff = now - grace(queue);
            let of_queue: Vec<&JobRun> = jobs
                .iter()
                .filter(|j| {
                    j.queue == queue.as_str()
                        && j.delivery_id.is_some()
                        && j.updated_at < queue_cutoff
                })
                .collect();
            if of_queue.is_empty() {
                continue;
            }
            let missing = ledger
                .missing(queue, &of_queue, now - locked(queue))
                .await?;
            lost.extend(
                of_queue
                    .into_iter()
                    .zip(missing)
                    .filter(|(_, m)| *m)
                    .map(|(j, _)| j.clone()),
            );
        }
        if !lost.is_empty() {
            tracing::warn!(
                status = status.as_str(),
                count = lost.len(),
                transport = ledger.transport().name(),
                "re-delivering ledger jobs whose message the transport does not hold"
            );
            report.repushed += ledger.redeliver(&lost).await?;
        }
        if !full_page {
            *cursor = None;
            break;
        }
    }
    Ok(report)
}
