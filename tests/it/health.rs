//! The health routes: public status-only answers, operator details on the
//! public listener, the same details without credentials on the internal one.

use reqwest::Method;
use serde_json::Value;

use kiln_api::Role;
use kiln_jobs::testing::Backend;

use crate::helpers::{TestApp, error_code, spawn_app_with};

/// The detailed routes, served to operators and on the internal listener.
const DETAILED: [&str; 5] = [
    "/health/checks",
    "/health/version",
    "/health/db-stats",
    "/health/redis-stats",
    "/health/metrics",
];

/// The public routes.
const PUBLIC: [&str; 4] = [
    "/health",
    "/health/live",
    "/health/ready",
    "/health/startup",
];

async fn anonymous(app: &TestApp, url: String) -> (u16, Value) {
    let resp = app.http.get(url).send().await.expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON body"))
}

/// `GET path` with a bearer on the public listener, then without
/// credentials on the internal one; both answers must agree on the status.
async fn detail(app: &TestApp, operator: &str, path: &str) -> (Value, Value) {
    let (status, public) = app.call(Method::GET, path, operator, None).await;
    let (internal_status, internal) = anonymous(app, app.internal_url(path)).await;
    assert_eq!(status, internal_status, "{path}: {public} / {internal}");
    assert!(
        status == 200 || path == "/health/redis-stats",
        "{path}: {public}"
    );
    (public, internal)
}

kiln_jobs::per_backend!(
    health_details_need_an_operator_and_are_open_internally,
    [sqlite, postgres, redis]
);
/// Who may read the details on the public listener: operators and admins
/// (`queues:read`), never anonymous callers or users; on the internal
/// listener anyone who can reach it.
async fn health_details_need_an_operator_and_are_open_internally(backend: Backend) {
    let app = spawn_app_with(backend, false, |_| {}).await;
    let operator = app.token_as("ops", Role::Operator);
    let user = app.token_as("someone", Role::User);
    for path in DETAILED {
        let (status, body) = anonymous(&app, app.url(path)).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(body["code"], "unauthorized", "{path}: {body}");
        let (status, body) = app.call(Method::GET, path, &user, None).await;
        assert_eq!(status, 403, "{path}: {body}");
        detail(&app, &operator, path).await;
    }

    let (version, _) = detail(&app, &operator, "/health/version").await;
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"), "{version}");
    for field in ["git_commit", "build_time", "rustc"] {
        assert!(version[field].is_string(), "{version}");
    }

    let (db, internal) = detail(&app, &operator, "/health/db-stats").await;
    let kind = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres | Backend::Redis => "postgres",
    };
    assert_eq!(db["kind"], kind, "{db}");
    assert_eq!(
        db["pool_max"].as_u64(),
        Some(u64::from(app.ctx.app.config.database.max_connections)),
        "{db}"
    );
    assert!(db["size_bytes"].as_i64().is_some_and(|n| n > 0), "{db}");
    assert!(
        db["acquire_samples"].as_u64().is_some_and(|n| n >= 1),
        "{db}"
    );
    assert!(db["acquire_p99_ms"].as_f64().is_some(), "{db}");
    let in_use = db["in_use"].as_u64().expect("in_use");
    let idle = db["idle"].as_u64().expect("idle");
    assert_eq!(
        in_use + idle,
        db["pool_size"].as_u64().expect("size"),
        "{db}"
    );
    // Each read takes a fresh sample: the second answer has one more.
    assert!(
        internal["acquire_samples"].as_u64() > db["acquire_samples"].as_u64(),
        "{db} then {internal}"
    );
    if kind == "postgres" {
        assert!(db["connections"].as_i64().is_some_and(|n| n >= 1), "{db}");
        assert!(
            db["max_connections"].as_i64().is_some_and(|n| n > 0),
            "{db}"
        );
    } else {
        assert!(db["connections"].is_null(), "{db}");
    }

    let (redis, _) = detail(&app, &operator, "/health/redis-stats").await;
    if backend == Backend::Redis {
        assert!(
            redis["version"].as_str().is_some_and(|v| !v.is_empty()),
            "{redis}"
        );
        assert!(redis["uptime_secs"].as_u64().is_some(), "{redis}");
        assert!(
            redis["used_memory_bytes"].as_u64().is_some_and(|n| n > 0),
            "{redis}"
        );
        let policy = redis["maxmemory_policy"].as_str().expect("policy");
        assert!(!policy.is_empty(), "{redis}");
        assert_eq!(
            redis["maxmemory_policy_ok"],
            policy == "noeviction",
            "{redis}"
        );
        let queues = redis["queues"].as_array().expect("queues");
        assert_eq!(queues.len(), kiln_jobs::QueueName::ALL.len(), "{redis}");
        assert!(queues.iter().any(|q| q["queue"] == "media"), "{redis}");
    } else {
        assert_eq!(redis["code"], "not_redis", "{redis}");
    }

    let (process, _) = detail(&app, &operator, "/health/metrics").await;
    assert_eq!(process["pid"].as_u64(), Some(u64::from(std::process::id())));
    for field in ["rss_bytes", "open_fds", "max_fds", "threads", "tokio_tasks"] {
        assert!(
            process[field].as_u64().is_some_and(|n| n > 0),
            "{field}: {process}"
        );
    }
    assert!(
        process["cpu_seconds"].as_f64().is_some_and(|n| n >= 0.0), // whole CPU seconds: a young process may show 0
        "{process}"
    );

    let (checks, _) = detail(&app, &operator, "/health/checks").await;
    assert_eq!(checks["status"], "ready", "{checks}");
    assert_eq!(
        checks["checks"].as_array().map(Vec::len),
        Some(3),
        "{checks}"
    );

    // The public routes answer alike on both listeners.
    for path in PUBLIC {
        let (public, _) = anonymous(&app, app.url(path)).await;
        let (internal, _) = anonymous(&app, app.internal_url(path)).await;
        assert_eq!((public, internal), (200, 200), "{path}");
    }
    let (_, started) = anonymous(&app, app.url("/health/startup")).await;
    assert_eq!(started["status"], "started", "{started}");
    assert_eq!(started["stages"]["migrations"], true, "{started}");
    assert_eq!(started["stages"]["dependencies"], true, "{started}");
    // The process-wide Prometheus text carries the process collector.
    let metrics = app.metrics().await;
    for name in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(metrics.contains(name), "{name}");
    }
    app.stop().await;
}

/// With a dependency down, no public health body names a host, a URL or
/// an error: only dependency names and states.
pub async fn public_bodies_name_no_host_or_cause(app: &TestApp) {
    let config = &app.ctx.app.config;
    let mut secrets = vec![
        "127.0.0.1".to_owned(),
        "localhost".to_owned(),
        "postgres://".to_owned(),
        "redis://".to_owned(),
        "error".to_owned(),
        "timed out".to_owned(),
        "refused".to_owned(),
        config.data_dir.display().to_string(),
    ];
    if let Some(name) = app.ctx.database_url.rsplit('/').next() {
        secrets.push(name.to_owned());
    }
    for path in PUBLIC {
        let text = app
            .http
            .get(app.url(path))
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("text");
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{path} shows {secret:?}: {text}"
            );
        }
    }
}

/// With `dependency` down, the operator's and the internal detail name its
/// cause, and answer 200 with `degraded`.
pub async fn details_give_the_cause(app: &TestApp, dependency: &str) {
    let operator = app.token_as("ops", Role::Operator);
    let (public, internal) = detail(app, &operator, "/health/checks").await;
    for body in [public, internal] {
        assert_eq!(body["status"], "degraded", "{body}");
        let check = body["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == dependency)
            .expect("the check")
            .clone();
        assert_eq!(check["status"], "down", "{body}");
        assert!(
            check["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }
    let (status, body) = anonymous(app, app.internal_url("/health/ready")).await;
    assert_eq!(status, 503, "{body}");
    let resp = app
        .http
        .get(app.url("/health/checks"))
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(resp, 401).await, "unauthorized");
}
