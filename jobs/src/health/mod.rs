//! What the health routes of the API and of the worker listener report: the
//! dependency checks behind readiness, the startup latch, and the detailed
//! numbers operators read ([`stats`]: build, database pool, Redis, process).
//!
//! The types serialise the same way through serde (the worker listener) and,
//! with the `openapi` feature, through poem-openapi (the API's document).

pub mod stats;

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::{AppContext, queue::Transport};

/// How long one dependency check may take before it counts as down.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// A dependency's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "lowercase"))]
pub enum DependencyState {
    /// It answered in time.
    Up,
    /// It failed or did not answer in time.
    Down,
}

/// One dependency check, with the cause of a failure. The cause names hosts,
/// buckets and paths: public answers leave it out ([`Check::public`]).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct CheckDetail {
    /// `database`, `queue` (the database's queue tables) or `redis`, and `storage`.
    pub name: String,
    /// `up` or `down`.
    pub status: DependencyState,
    /// Round-trip time of the check in milliseconds.
    pub latency_ms: f64,
    /// Why it is down; absent when up.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub error: Option<String>,
}

/// One dependency's state as public answers show it: name and state only.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(rename = "DependencyStatus"))]
pub struct Check {
    /// `database`, `queue` (the database's queue tables) or `redis`, and `storage`.
    pub name: String,
    /// `up` or `down`.
    pub status: DependencyState,
    /// Round-trip time of the check in milliseconds.
    pub latency_ms: f64,
}

impl CheckDetail {
    /// The public view: no cause.
    pub fn public(&self) -> Check {
        Check {
            name: self.name.clone(),
            status: self.status,
            latency_ms: self.latency_ms,
        }
    }

    /// True when the dependency answered in time.
    pub fn is_up(&self) -> bool {
        self.status == DependencyState::Up
    }
}

async fn check<F, E>(name: &str, fut: F) -> CheckDetail
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let start = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, fut).await;
    let latency_ms = (start.elapsed().as_secs_f64() * 1e5).round() / 100.0;
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {}s", CHECK_TIMEOUT.as_secs())),
    };
    if let Some(error) = &error {
        tracing::warn!(dependency = name, %error, "dependency check failed");
    }
    CheckDetail {
        name: name.to_owned(),
        status: if error.is_none() {
            DependencyState::Up
        } else {
            DependencyState::Down
        },
        latency_ms,
        error,
    }
}

/// Checks the dependencies at once, each within [`CHECK_TIMEOUT`]: the
/// database, the queue backend and, when `storage` is true, object storage
/// (a worker of the database transport needs no object store to run its
/// queues, but every API and media worker does).
pub async fn dependencies(app: &AppContext, storage: bool) -> Vec<CheckDetail> {
    let queue_name = match app.ledger.transport() {
        Transport::Redis(_) => "redis",
        Transport::Database => "queue",
    };
    let (db, queue, objects) = tokio::join!(
        check("database", app.db.ping()),
        check(queue_name, app.ledger.queue_ping()),
        async {
            if storage {
                Some(check("storage", app.storage.ping()).await)
            } else {
                None
            }
        },
    );
    let mut checks = vec![db, queue];
    checks.extend(objects);
    if checks.iter().all(CheckDetail::is_up) {
        app.startup.dependencies_checked();
    }
    checks
}

/// The state of every check together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "lowercase"))]
pub enum ChecksStatus {
    /// Every dependency is up.
    Ready,
    /// At least one is down.
    Degraded,
}

/// The readiness checks with their causes, as operators read them.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(rename = "Checks"))]
pub struct Report {
    /// `ready` or `degraded`.
    pub status: ChecksStatus,
    /// Every dependency checked, with why it is down.
    pub checks: Vec<CheckDetail>,
}

impl Report {
    /// True when every dependency is up.
    pub fn ready(&self) -> bool {
        self.status == ChecksStatus::Ready
    }
}

/// [`dependencies`] with their overall state.
pub async fn report(app: &AppContext, storage: bool) -> Report {
    let checks = dependencies(app, storage).await;
    let status = if checks.iter().all(CheckDetail::is_up) {
        ChecksStatus::Ready
    } else {
        ChecksStatus::Degraded
    };
    Report { status, checks }
}

/// The startup latch: `/health/startup` answers 503 until the schema is
/// current, a dependency check has passed and, in a process that runs
/// workers, they run. Each stage, once reached, stays reached: after start-up
/// readiness and liveness take over.
#[derive(Debug, Default)]
pub struct Startup {
    migrated: AtomicBool,
    dependencies: AtomicBool,
    workers_expected: AtomicBool,
    workers_running: AtomicBool,
}

/// Where start-up stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct StartupStages {
    /// Every migration this build knows is applied.
    pub migrations: bool,
    /// A check of every dependency has passed.
    pub dependencies: bool,
    /// This process's workers run; absent in a process without workers.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub workers: Option<bool>,
}

impl StartupStages {
    /// True when every stage is reached.
    pub fn done(&self) -> bool {
        self.migrations && self.dependencies && self.workers.unwrap_or(true)
    }
}

impl Startup {
    /// The schema is current (migrations applied, or found applied).
    pub fn migrated(&self) {
        self.migrated.store(true, Ordering::Release);
    }

    /// A check of every dependency passed.
    pub fn dependencies_checked(&self) {
        self.dependencies.store(true, Ordering::Release);
    }

    /// This process runs workers: start-up waits for them.
    pub fn expect_workers(&self) {
        self.workers_expected.store(true, Ordering::Release);
    }

    /// This process's workers run.
    pub fn workers_running(&self) {
        self.workers_running.store(true, Ordering::Release);
    }

    /// The stages as they stand.
    pub fn stages(&self) -> StartupStages {
        StartupStages {
            migrations: self.migrated.load(Ordering::Acquire),
            dependencies: self.dependencies.load(Ordering::Acquire),
            workers: self
                .workers_expected
                .load(Ordering::Acquire)
                .then(|| self.workers_running.load(Ordering::Acquire)),
        }
    }
}

/// Where start-up stands, moving it on where it can: a schema not yet seen
/// current is looked at again (another process may have migrated it), and
/// dependencies not yet seen up are checked.
pub async fn startup(app: &AppContext, storage: bool) -> StartupStages {
    let stages = app.startup.stages();
    if !stages.migrations {
        match app.db.schema_current().await {
            Ok(true) => app.startup.migrated(),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "startup: cannot read the applied migrations"),
        }
    }
    if !stages.dependencies {
        dependencies(app, storage).await;
    }
    app.startup.stages()
}
