//! Shared services handed to endpoints and job handlers ([`AppContext`]), and
//! what a handler sees of the job it runs ([`JobCtx`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::{
    Config,
    db::Db,
    delivery::Notifier,
    health::{Startup, stats::PoolSamples},
    identity::Identity,
    job::JobError,
    ledger::Ledger,
    metrics::Metrics,
    queue::{Transport, Wakeups, redis::RedisQueue},
    storage::Storage,
    webhooks::subscriptions::SubscriptionCache,
};

/// Connections of [`AppContext::records`].
const RECORD_CONNECTIONS: u32 = 2;

/// Everything a request or a job needs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppContext {
    /// The loaded configuration.
    pub config: Arc<Config>,
    /// The application database.
    pub db: Db,
    /// A small pool of its own on the same database for the records written
    /// right after a provider accepted a send, so that they do not wait behind
    /// other queries: until one is written, a cut-off would send again.
    pub records: Db,
    /// Uploads and variants.
    pub storage: Storage,
    /// The job ledger and enqueue API.
    pub ledger: Ledger,
    /// Bounds CPU-bound image work in this process.
    pub cpu_permits: Arc<Semaphore>,
    /// This process's metrics.
    pub metrics: Arc<Metrics>,
    /// Accounts, sessions, API keys and the audit log.
    pub identity: Identity,
    /// Email, push and webhook delivery clients.
    pub notifier: Notifier,
    /// Each user's webhook endpoints, cached for the event fan-out.
    pub subscriptions: Arc<SubscriptionCache>,
    /// How far start-up has come (`/health/startup`).
    pub startup: Arc<Startup>,
    /// Timed acquisitions of a database connection (`/health/db-stats`).
    pub pool_samples: Arc<PoolSamples>,
}

impl AppContext {
    /// Connects to the database and object store named by `config`.
    pub async fn connect(config: Config) -> anyhow::Result<AppContext> {
        let config = Arc::new(config);
        let db = Db::connect(
            &config.database_url(),
            config.database.max_connections,
            std::time::Duration::from_secs(config.database.acquire_timeout_secs),
        )
        .await?;
        Self::with_db(config, db)
    }

    /// Builds the context around an open database.
    pub fn with_db(config: Arc<Config>, db: Db) -> anyhow::Result<AppContext> {
        let storage_url = config
            .storage
            .url
            .clone()
            .unwrap_or_else(|| config.data_dir.join("objects").display().to_string());
        let storage = Storage::open(&storage_url)?;
        let transport = match &config.redis.url {
            Some(_) => Transport::Redis(RedisQueue::new(&config.redis)?),
            None => Transport::Database,
        };
        let metrics = Arc::new(Metrics::new());
        let ledger = Ledger::new(
            db.clone(),
            Wakeups::new(),
            Arc::new(config.queues.clone()),
            transport,
            metrics.clone(),
        );
        let identity = Identity::new(db.clone(), &config.auth)?;
        let cpu = config.queues.media.concurrency.max(1);
        metrics.register(identity.collectors());
        let notifier = Notifier::from_config(&config, metrics.clone())?;
        Ok(AppContext {
            config,
            records: db.dedicated(RECORD_CONNECTIONS),
            db,
            storage,
            ledger,
            cpu_permits: Arc::new(Semaphore::new(cpu)),
            metrics,
            identity,
            notifier,
            subscriptions: Arc::default(),
            startup: Arc::default(),
            pool_samples: Arc::default(),
        })
    }

    /// A short description of the backends, for the startup log.
    pub fn describe(&self) -> String {
        let db = match &self.db {
            crate::db::Db::Sqlite(_) => format!("sqlite ({})", self.config.database_url()),
            crate::db::Db::Postgres(_) => "postgres".to_owned(),
        };
        let queue = match self.ledger.transport() {
            Transport::Database => "same database".to_owned(),
            Transport::Redis(r) => format!("redis streams (prefix {})", r.config().prefix),
        };
        format!(
            "database={db} queue={queue} objects={}",
            self.storage.description()
        )
    }
}

/// What a handler sees of the job it runs.
#[derive(Debug, Clone)]
pub struct JobCtx {
    /// Shared services.
    pub app: AppContext,
    /// The ledger id.
    pub job_id: Uuid,
    /// The owner recorded in the ledger.
    pub owner: String,
    /// This attempt, 1-based; every claim of the job counts one, so it also
    /// tells this attempt from any other (a fencing token).
    pub attempt: u32,
    /// When the worker stops this attempt (its start plus the queue's
    /// timeout). A history row an attempt holds stays its own until a little
    /// after this, so no other attempt sends while it may still be sending.
    pub deadline: DateTime<Utc>,
}

/// How long after an attempt's deadline the history row it holds stays its
/// own. The worker drops a handler at its deadline, so this is only room for
/// the clocks of two workers to disagree.
pub const HOLD_GRACE: chrono::Duration = chrono::Duration::seconds(5);

impl JobCtx {
    /// Until when a history row this attempt starts stays its own (see
    /// [`JobCtx::deadline`]).
    pub fn hold_until(&self) -> DateTime<Utc> {
        self.deadline + HOLD_GRACE
    }

    /// This attempt's number as the history tables store it.
    pub fn attempt_token(&self) -> i32 {
        i32::try_from(self.attempt).unwrap_or(i32::MAX)
    }

    /// Writes this attempt's outcome to its history row with `write` (true:
    /// written; false: another attempt took the row over, whose outcome
    /// stands). An `accepted` outcome (the provider took the message) goes
    /// to [`AppContext::records`] and is retried with backoff until just
    /// before the deadline, since until it is written a cut-off would send it
    /// again; anything else goes to the main pool and is tried once.
    pub async fn record_outcome<F, Fut>(&self, accepted: bool, write: F) -> Result<(), JobError>
    where
        F: Fn(Db) -> Fut,
        Fut: std::future::Future<Output = Result<bool, sqlx::Error>>,
    {
        let db = if accepted {
            &self.app.records
        } else {
            &self.app.db
        };
        let mut wait = std::time::Duration::from_millis(50);
        loop {
            match write(db.clone()).await {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    tracing::warn!(job_id = %self.job_id, "another attempt took this delivery over; its outcome stands");
                    return Ok(());
                }
                Err(e) if accepted && Utc::now() + wait < self.deadline => {
                    tracing::warn!(job_id = %self.job_id, error = %e, "could not record an accepted send; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(1));
                }
                Err(e) => return Err(JobError::Retry(e.into())),
            }
        }
    }

    /// The error of an attempt that found its row held by another attempt
    /// until `until`: retried once that hold has run out.
    pub fn held_elsewhere(&self, until: DateTime<Utc>) -> JobError {
        let after =
            (until - Utc::now()).to_std().unwrap_or_default() + std::time::Duration::from_secs(1);
        JobError::RetryAfter {
            error: anyhow::anyhow!(
                "another attempt holds this delivery until {until} and may be sending it; trying again after that"
            ),
            after,
        }
    }

    /// Records progress (0–100) in the ledger; failures are only logged.
    pub async fn progress(&self, percent: u8) {
        if let Err(e) = self.app.ledger.set_progress(self.job_id, percent).await {
            tracing::warn!(job_id = %self.job_id, error = %e, "could not record progress");
        }
    }

    /// The result of a job whose work an earlier delivery of it already did
    /// (its history row ended with `status`): nothing is done again.
    pub fn repeated(&self, status: &str) -> serde_json::Value {
        tracing::info!(job_id = %self.job_id, status, "delivery already ended; nothing sent again");
        serde_json::json!({ "status": status, "repeated": true })
    }
}
