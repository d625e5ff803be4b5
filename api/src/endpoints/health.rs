//! Health checks. Public and status-only: liveness (the process answers),
//! readiness and `/health` (its dependencies answer in time) and startup
//! (migrations applied, dependencies seen up, workers running). For
//! operators (`queues:read`): the build, the database pool, Redis, the
//! process and the readiness checks with their causes. The internal listener
//! (`kiln_worker::probe`) serves the same detailed routes without
//! credentials.

use poem::web::Data;
use poem_openapi::{Enum, Object, OpenApi, payload::Json};

use kiln_jobs::{
    AppContext,
    health::{
        self, Check, CheckDetail, Report, StartupStages,
        stats::{self, BuildInfo, DbStats, ProcessStats, RedisStats, RedisStatsError},
    },
};

use crate::{
    ApiTags, Scope,
    auth::Auth,
    error::{ApiError, EdgeError},
};

/// The liveness state: always `ok` when the process answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum LiveStatus {
    /// The process answers.
    Ok,
}

/// The readiness state of a 200 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ReadyStatus {
    /// Every dependency is up.
    Ready,
}

/// The startup state of a 200 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum StartedStatus {
    /// Every stage is reached.
    Started,
}

/// Liveness answer.
#[derive(Debug, Object)]
pub struct Live {
    /// Always `ok`.
    pub status: LiveStatus,
    /// Kiln's version.
    pub version: String,
}

/// Readiness answer.
#[derive(Debug, Object)]
pub struct Ready {
    /// Always `ready`.
    pub status: ReadyStatus,
    /// Every dependency checked.
    pub checks: Vec<Check>,
}

/// Startup answer.
#[derive(Debug, Object)]
pub struct Started {
    /// Always `started`.
    pub status: StartedStatus,
    /// Each stage (all reached).
    pub stages: StartupStages,
}

/// Health endpoints.
pub struct HealthApi;

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness
    ///
    /// 200 while the process can answer at all. Does not check dependencies.
    #[oai(path = "/health/live", method = "get", operation_id = "health_live")]
    async fn live(&self) -> Result<Json<Live>, EdgeError> {
        Ok(Json(Live {
            status: LiveStatus::Ok,
            version: env!("CARGO_PKG_VERSION").into(),
        }))
    }

    /// Readiness
    ///
    /// Checks the database, the queue backend and object storage, each
    /// within 2 s; 503 `degraded` when any is down, with each check's status
    /// and latency in `details.checks`. Public: it says only which
    /// dependency is up or down; why is in the server log and in
    /// `GET /health/checks`.
    #[oai(path = "/health/ready", method = "get", operation_id = "health_ready")]
    async fn ready(&self, app: Data<&AppContext>) -> Result<Json<Ready>, ApiError> {
        readiness(&app).await
    }

    /// Overall health
    ///
    /// The readiness checks under the path monitors and load balancers
    /// probe by default: 200 with every dependency up, else 503 `degraded`
    /// naming the dependencies that are down. Public, status only.
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self, app: Data<&AppContext>) -> Result<Json<Ready>, ApiError> {
        readiness(&app).await
    }

    /// Startup
    ///
    /// 503 `starting`, with each stage in `details.stages`, until every
    /// migration of this build is applied and a check of every dependency
    /// has passed (and, in a process that runs workers, they run); 200 from
    /// then on. Public, status only. Each call moves start-up on: the schema
    /// is looked at again and the dependencies checked (2 s each at most).
    #[oai(
        path = "/health/startup",
        method = "get",
        operation_id = "health_startup"
    )]
    async fn startup(&self, app: Data<&AppContext>) -> Result<Json<Started>, ApiError> {
        let stages = health::startup(&app, true).await;
        if stages.done() {
            return Ok(Json(Started {
                status: StartedStatus::Started,
                stages,
            }));
        }
        let details = serde_json::json!({ "stages": stages });
        Err(ApiError::not_ready("starting", "still starting", details))
    }

    /// Readiness in detail
    ///
    /// Every readiness check with its latency and, for a dependency that is
    /// down, the cause (which may name hosts and paths). Always 200; `status`
    /// says `ready` or `degraded`. Operators and admins (`queues:read`).
    #[oai(
        path = "/health/checks",
        method = "get",
        operation_id = "health_checks"
    )]
    async fn checks(&self, auth: Auth, app: Data<&AppContext>) -> Result<Json<Report>, ApiError> {
        auth.principal().require_scope(Scope::QueuesRead)?;
        Ok(Json(health::report(&app, true).await))
    }

    /// Build
    ///
    /// Version, git commit, build time and compiler of the running binary.
    /// Operators and admins (`queues:read`).
    #[oai(
        path = "/health/version",
        method = "get",
        operation_id = "health_version"
    )]
    async fn version(&self, auth: Auth) -> Result<Json<BuildInfo>, ApiError> {
        auth.principal().require_scope(Scope::QueuesRead)?;
        Ok(Json(stats::build_info()))
    }

    /// Database
    ///
    /// The connection pool (size, in use, idle), the time to acquire a
    /// connection (sampled once a second, with its p99 and how many samples
    /// had to wait), the database's size and, on PostgreSQL, its
    /// connections. Operators and admins (`queues:read`).
    #[oai(
        path = "/health/db-stats",
        method = "get",
        operation_id = "health_db_stats"
    )]
    async fn db_stats(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
    ) -> Result<Json<DbStats>, ApiError> {
        auth.principal().require_scope(Scope::QueuesRead)?;
        stats::db_stats(&app)
            .await
            .map(Json)
            .map_err(|e| ApiError::unavailable("the database", &e))
    }

    /// Redis
    ///
    /// Version, uptime, memory against `maxmemory`, the eviction policy
    /// (`maxmemory_policy_ok` is false for anything but `noeviction`), AOF,
    /// clients, operations per second and Kiln's keys per queue. 404 when
    /// the queues live in the database. Operators and admins (`queues:read`).
    #[oai(
        path = "/health/redis-stats",
        method = "get",
        operation_id = "health_redis_stats"
    )]
    async fn redis_stats(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
    ) -> Result<Json<RedisStats>, ApiError> {
        auth.principal().require_scope(Scope::QueuesRead)?;
        match stats::redis_stats(&app).await {
            Ok(s) => Ok(Json(s)),
            Err(RedisStatsError::NotRedis) => Err(ApiError::not_found_code(
                "not_redis",
                "the queues live in the database; there is no Redis to report on",
            )),
            Err(e) => Err(ApiError::unavailable("redis", &e)),
        }
    }

    /// Process
    ///
    /// Resident memory, CPU seconds, open file descriptors, threads, tasks
    /// on the async runtime and uptime of this process (one replica: the one
    /// that answers). Operators and admins (`queues:read`).
    #[oai(
        path = "/health/metrics",
        method = "get",
        operation_id = "health_metrics"
    )]
    async fn process(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
    ) -> Result<Json<ProcessStats>, ApiError> {
        auth.principal().require_scope(Scope::QueuesRead)?;
        Ok(Json(stats::process_stats(&app)))
    }
}

/// The public readiness answer: 200, or 503 `degraded` naming what is down.
async fn readiness(app: &AppContext) -> Result<Json<Ready>, ApiError> {
    let report = health::report(app, true).await;
    let checks: Vec<Check> = report.checks.iter().map(CheckDetail::public).collect();
    if report.ready() {
        return Ok(Json(Ready {
            status: ReadyStatus::Ready,
            checks,
        }));
    }
    let down: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| !c.is_up())
        .map(|c| c.name.as_str())
        .collect();
    let message = format!("not ready: {} down", down.join(", "));
    let details = serde_json::json!({ "checks": checks });
    Err(ApiError::degraded(message, details))
}
