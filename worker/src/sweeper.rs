//! The sweeper: with Redis as the transport, the ledger is the truth and Redis
//! may lose messages (a restart without persistence, a push that failed after
//! the ledger commit). A sweep pages through ledger rows that should have a
//! message in Redis and re-pushes the current delivery of those that have none.
//! Pushes are idempotent per delivery, so replicas sweeping at once are safe;
//! a Redis lock only keeps them from doing the same work twice.

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
    /// gone). The queue's timeout plus the lease plus `grace`.
    pub running_grace: fn(&Config, QueueName) -> Duration,
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
    /// Deliveries pushed again.
    pub repushed: u64,
}

impl Sweeper {
    /// A sweeper starting at the beginning of the ledger, with the grace
    /// periods of `config` (`redis.sweep_grace_secs`, each queue's timeout and
    /// `redis.lease_secs`).
    pub fn new(config: std::sync::Arc<Config>) -> Self {
        Self::with_grace(Duration::from_secs(config.redis.sweep_grace_secs), config)
    }

    /// As [`Sweeper::new`] with another grace for `queued` rows.
    pub fn with_grace(grace: Duration, config: std::sync::Arc<Config>) -> Self {
        fn running_grace(c: &Config, q: QueueName) -> Duration {
            c.queues.policy(q).timeout()
                + c.redis.lease()
                + Duration::from_secs(c.redis.sweep_grace_secs)
        }
        Self {
            grace,
            running_grace,
            config,
            max_pages: 20,
            queued_cursor: None,
            running_cursor: None,
        }
    }

    /// One bounded sweep. A no-op unless the transport is Redis.
    pub async fn sweep(&mut self, ledger: &Ledger) -> Result<SweepReport, LedgerError> {
        let Transport::Redis(_) = ledger.transport() else {
            return Ok(SweepReport::default());
        };
        let mut report = SweepReport::default();
        let grace = self.grace;
        let queued = sweep_status(
            ledger,
            JobStatus::Queued,
            &|_| grace,
            &mut self.queued_cursor,
            self.max_pages,
        )
        .await?;
        let (config, running_grace) = (self.config.clone(), self.running_grace);
        let running = sweep_status(
            ledger,
            JobStatus::Running,
            &|q| running_grace(&config, q),
            &mut self.running_cursor,
            self.max_pages,
        )
        .await?;
        report.checked = queued.checked + running.checked;
        report.repushed = queued.repushed + running.repushed;
        Ok(report)
    }
}

async fn sweep_status(
    ledger: &Ledger,
    status: JobStatus,
    grace: &(dyn Fn(QueueName) -> Duration + Sync),
    cursor: &mut Option<Uuid>,
    max_pages: usize,
) -> Result<SweepReport, LedgerError> {
    let Transport::Redis(redis) = ledger.transport() else {
        return Ok(SweepReport::default());
    };
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
            let pairs: Vec<(Uuid, Uuid)> = of_queue
                .iter()
                .map(|j| (j.id, j.delivery_id.unwrap_or_default()))
                .collect();
            let missing = redis.missing(queue, &pairs).await?;
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
                "re-pushing ledger jobs that Redis does not hold"
            );
            ledger.redeliver(&lost).await?;
            report.repushed += lost.len() as u64;
        }
        if !full_page {
            *cursor = None;
            break;
        }
    }
    Ok(report)
}
