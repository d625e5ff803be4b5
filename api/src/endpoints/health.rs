//! Health checks: liveness (the process answers) and readiness (its
//! dependencies answer in time).

use std::time::{Duration, Instant};

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use kiln_jobs::{AppContext, queue::Transport};

use crate::{ApiTags, error::EdgeError};

/// How long one dependency check may take before it counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness answer.
#[derive(Debug, Object)]
pub struct Live {
    /// Always `ok`.
    pub status: String,
    /// Kiln's version.
    pub version: String,
}

/// One dependency's state.
#[derive(Debug, Clone, Object)]
pub struct DependencyStatus {
    /// `database`, `queue` (the database's queue tables) or `redis`, and `storage`.
    pub name: String,
    /// `up` or `down`.
    pub status: String,
    /// Round-trip time of the check in milliseconds.
    pub latency_ms: f64,
}

/// Readiness answer.
#[derive(Debug, Object)]
pub struct Ready {
    /// `ready` or `unavailable`.
    pub status: String,
    /// Every dependency checked.
    pub checks: Vec<DependencyStatus>,
}

/// Readiness outcomes.
#[derive(Debug, ApiResponse)]
pub enum ReadyResponse {
    /// Every dependency is up.
    #[oai(status = 200)]
    Ready(Json<Ready>),
    /// At least one dependency is down.
    #[oai(status = 503)]
    Unavailable(Json<Ready>),
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
        status: if up { "up" } else { "down" }.to_owned(),
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
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }))
    }

    /// Readiness
    ///
    /// Checks the database, the queue backend and object storage; 503 with
    /// per-dependency status and latency when any is down. Public: it says
    /// only which dependency is up or down; why is in the server log.
    #[oai(path = "/ready", method = "get", operation_id = "health_ready")]
    async fn ready(&self, app: Data<&AppContext>) -> Result<ReadyResponse, EdgeError> {
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
        let ok = checks.iter().all(|c| c.status == "up");
        let body = Json(Ready {
            status: if ok { "ready" } else { "unavailable" }.into(),
            checks,
        });
        Ok(if ok {
            ReadyResponse::Ready(body)
        } else {
            ReadyResponse::Unavailable(body)
        })
    }
}
