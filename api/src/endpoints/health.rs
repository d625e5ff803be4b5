//! Health checks: liveness (the process answers) and readiness (its
//! dependencies answer in time).

use std::time::{Duration, Instant};

use poem::web::Data;
use poem_openapi::{Enum, Object, OpenApi, payload::Json};

use kiln_jobs::{AppContext, queue::Transport};

use crate::{
    ApiTags,
    error::{ApiError, EdgeError},
};

/// How long one dependency check may take before it counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The liveness state: always `ok` when the process answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum LiveStatus {
    /// The process answers.
    Ok,
}

/// A dependency's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DependencyState {
    /// It answered in time.
    Up,
    /// It failed or did not answer in time.
    Down,
}

/// The readiness state of a 200 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ReadyStatus {
    /// Every dependency is up.
    Ready,
}

/// Liveness answer.
#[derive(Debug, Object)]
pub struct Live {
    /// Always `ok`.
    pub status: LiveStatus,
    /// Kiln's version.
    pub version: String,
}

/// One dependency's state.
#[derive(Debug, Clone, Object)]
pub struct DependencyStatus {
    /// `database`, `queue` (the database's queue tables) or `redis`, and `storage`.
    pub name: String,
    /// `up` or `down`.
    pub status: DependencyState,
    /// Round-trip time of the check in milliseconds.
    pub latency_ms: f64,
}

/// Readiness answer.
#[derive(Debug, Object)]
pub struct Ready {
    /// Always `ready`.
    pub status: ReadyStatus,
    /// Every dependency checked.
    pub checks: Vec<DependencyStatus>,
}

async fn check<F, E>(name: &str, fut: F) -> DependencyStatus
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let start = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, fut).await;
    let latency_ms = start.elapsed().as_secs_f64() * 1e3;
    // The cause names hosts, buckets and paths: it goes to the log, and the
    // public answer says only up or down.
    let up = match outcome {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(dependency = name, error = %e, "readiness check failed");
            false
        }
        Err(_) => {
            let secs = CHECK_TIMEOUT.as_secs();
            tracing::warn!(
                dependency = name,
                "readiness check: no answer within {secs}s"
            );
            false
        }
    };
    DependencyStatus {
        name: name.to_owned(),
        status: if up {
            DependencyState::Up
        } else {
            DependencyState::Down
        },
        latency_ms: (latency_ms * 100.0).round() / 100.0,
    }
}

/// Health endpoints.
pub struct HealthApi;

#[OpenApi(prefix_path = "/health", tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness
    ///
    /// 200 while the process can answer at all. Does not check dependencies.
    #[oai(path = "/live", method = "get", operation_id = "health_live")]
    async fn live(&self) -> Result<Json<Live>, EdgeError> {
        Ok(Json(Live {
            status: LiveStatus::Ok,
            version: env!("CARGO_PKG_VERSION").into(),
        }))
    }

    /// Readiness
    ///
    /// Checks the database, the queue backend and object storage; 503
    /// `degraded` when any is down, with each check's status and latency in
    /// `details.checks`. Public: it says only which dependency is up or
    /// down; why is in the server log.
    #[oai(path = "/ready", method = "get", operation_id = "health_ready")]
    async fn ready(&self, app: Data<&AppContext>) -> Result<Json<Ready>, ApiError> {
        let (db, queue, storage) = tokio::join!(
            check("database", app.db.ping()),
            check(
                match app.ledger.transport() {
                    Transport::Redis(_) => "redis",
                    Transport::Database => "queue",
                },
                app.ledger.queue_ping()
            ),
            check("storage", app.storage.ping()),
        );
        let checks = vec![db, queue, storage];
        if checks.iter().all(|c| c.status == DependencyState::Up) {
            return Ok(Json(Ready {
                status: ReadyStatus::Ready,
                checks,
            }));
        }
        let down: Vec<&str> = checks
            .iter()
            .filter(|c| c.status == DependencyState::Down)
            .map(|c| c.name.as_str())
            .collect();
        let message = format!("not ready: {} down", down.join(", "));
        let details =
            serde_json::json!({ "checks": poem_openapi::types::ToJSON::to_json(&checks) });
        Err(ApiError::degraded(message, details))
    }
}
