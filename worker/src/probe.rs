//! The internal listener: health and metrics without credentials, for
//! probes and scrapers inside the network. `kiln worker` serves it on
//! `worker.listen`; `kiln api` and `kiln serve` on `http.internal_listen`.
//! It never serves the public API. Its bodies are those of the API's
//! health routes (the same types), with the causes of failed checks.

use poem::{
    EndpointExt, IntoResponse, Route, Server, get, handler,
    http::StatusCode,
    listener::{Listener as _, TcpListener},
    web::{Data, Json},
};
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

use kiln_jobs::{
    AppContext, QueueName,
    health::{self, stats},
};

/// What this process's checks include.
#[derive(Debug, Clone, Copy)]
struct Checks {
    /// Object storage: the API and the media, report and backup workers need it.
    storage: bool,
}

/// True when a process with the API (`api`) or these workers needs object storage.
pub fn needs_storage(api: bool, queues: &[QueueName]) -> bool {
    api || queues.iter().any(|q| {
        matches!(
            q,
            QueueName::Media | QueueName::Reports | QueueName::Backups
        )
    })
}

fn json_status(ok: bool, body: impl serde::Serialize + Send) -> poem::Response {
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Json(body).with_status(status).into_response()
}

#[handler]
fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

#[handler]
async fn ready(app: Data<&AppContext>, checks: Data<&Checks>) -> poem::Response {
    let report = health::report(&app, checks.storage).await;
    let ok = report.ready();
    json_status(ok, report)
}

/// Always 200: the status field says ready or degraded.
#[handler]
async fn checks_detail(app: Data<&AppContext>, checks: Data<&Checks>) -> Json<health::Report> {
    Json(health::report(&app, checks.storage).await)
}

#[handler]
async fn startup(app: Data<&AppContext>, checks: Data<&Checks>) -> poem::Response {
    let stages = health::startup(&app, checks.storage).await;
    let body = serde_json::json!({
        "status": if stages.done() { "started" } else { "starting" },
        "stages": stages,
    });
    json_status(stages.done(), body)
}

#[handler]
fn version() -> Json<stats::BuildInfo> {
    Json(stats::build_info())
}

#[handler]
async fn db_stats(app: Data<&AppContext>) -> poem::Response {
    match stats::db_stats(&app).await {
        Ok(s) => Json(s).into_response(),
        Err(e) => unavailable(&e),
    }
}

#[handler]
async fn redis_stats(app: Data<&AppContext>) -> poem::Response {
    match stats::redis_stats(&app).await {
        Ok(s) => Json(s).into_response(),
        Err(stats::RedisStatsError::NotRedis) => Json(serde_json::json!({
            "code": "not_redis",
            "message": "the queues live in the database; there is no Redis to report on",
        }))
        .with_status(StatusCode::NOT_FOUND)
        .into_response(),
        Err(e) => unavailable(&e),
    }
}

fn unavailable(e: &dyn std::fmt::Display) -> poem::Response {
    Json(serde_json::json!({ "code": "service_unavailable", "message": e.to_string() }))
        .with_status(StatusCode::SERVICE_UNAVAILABLE)
        .into_response()
}

#[handler]
fn process(app: Data<&AppContext>) -> Json<stats::ProcessStats> {
    Json(stats::process_stats(&app))
}

#[handler]
fn metrics(app: Data<&AppContext>) -> String {
    app.metrics.render()
}

/// The internal routes over `app`. `storage`: whether readiness checks
/// object storage (see [`needs_storage`]).
pub fn routes(app: AppContext, storage: bool) -> impl poem::Endpoint {
    Route::new()
        .at("/health", get(ready))
        .at("/health/live", get(live))
        .at("/health/ready", get(ready))
        .at("/health/startup", get(startup))
        .at("/health/checks", get(checks_detail))
        .at("/health/version", get(version))
        .at("/health/db-stats", get(db_stats))
        .at("/health/redis-stats", get(redis_stats))
        .at("/health/metrics", get(process))
        .at("/metrics", get(metrics))
        .data(Checks { storage })
        .data(app)
}

/// Serves [`routes`] on `addr` until `shutdown`.
pub async fn serve(
    app: AppContext,
    addr: SocketAddr,
    storage: bool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let acceptor = TcpListener::bind(addr)
        .into_acceptor()
        .await
        .map_err(|e| anyhow::anyhow!("internal listener on {addr}: {e}"))?;
    tracing::info!("health and metrics (internal) on http://{addr}");
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(routes(app, storage), shutdown.cancelled_owned(), None)
        .await?;
    Ok(())
}
