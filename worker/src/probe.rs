//! The worker process's own small HTTP listener: liveness, readiness and
//! metrics. It never serves the public API.

use poem::{
    EndpointExt, IntoResponse, Route, Server, get, handler,
    http::StatusCode,
    listener::{Listener as _, TcpListener},
    web::{Data, Json},
};
use tokio_util::sync::CancellationToken;

use kiln_jobs::AppContext;

#[handler]
fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

#[handler]
async fn ready(app: Data<&AppContext>) -> poem::Response {
    let timeout = std::time::Duration::from_secs(2);
    let db = matches!(
        tokio::time::timeout(timeout, app.db.ping()).await,
        Ok(Ok(()))
    );
    let queue = matches!(
        tokio::time::timeout(timeout, app.ledger.queue_ping()).await,
        Ok(Ok(()))
    );
    let state = |up: bool| if up { "up" } else { "down" };
    let queue_name = match app.ledger.transport() {
        kiln_jobs::queue::Transport::Redis(_) => "redis",
        kiln_jobs::queue::Transport::Database => "queue",
    };
    let body = serde_json::json!({
        "checks": [
            { "name": "database", "status": state(db) },
            { "name": queue_name, "status": state(queue) },
        ]
    });
    let ok = db && queue;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Json(body).with_status(status).into_response()
}

#[handler]
fn metrics(app: Data<&AppContext>) -> String {
    app.metrics.render()
}

/// Serves the probe endpoints until `shutdown`.
pub async fn serve(app: AppContext, shutdown: CancellationToken) -> anyhow::Result<()> {
    let addr = app.config.worker.listen;
    let acceptor = TcpListener::bind(addr)
        .into_acceptor()
        .await
        .map_err(|e| anyhow::anyhow!("worker probe listener on {addr}: {e}"))?;
    tracing::info!("worker health and metrics on http://{addr}");
    let routes = Route::new()
        .at("/health/live", get(live))
        .at("/health/ready", get(ready))
        .at("/metrics", get(metrics))
        .data(app);
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(routes, shutdown.cancelled_owned(), None)
        .await?;
    Ok(())
}
