use std::time::Duration;

use kiln_api::Role;
use kiln_jobs::{db::DbKind, ledger::NewJob, noop::NoopV1, testing::Backend};

use crate::helpers::{error_code, fixture, spawn_app, spawn_app_with};

#[tokio::test]
async fn requests_without_a_valid_token_get_401_in_the_error_shape() {
    let app = spawn_app_with(DbKind::Sqlite, false, |_| {}).await;
    let resp = app
        .http
        .get(app.url("/v1/jobs"))
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(resp, 401).await, "unauthorized");

    let other = kiln_api::AuthKeys::hs256(
        b"another-secret-another-secret-another!",
        "kiln",
        "kiln-api",
    );
    let forged = other
        .mint("alice", kiln_api::Role::Admin, 600)
        .expect("mint");
    let wrong_aud = kiln_api::AuthKeys::hs256(crate::helpers::SECRET, "kiln", "someone-else")
        .mint("alice", kiln_api::Role::User, 600)
        .expect("mint");
    let expired = app
        .keys
        .mint("alice", kiln_api::Role::User, 0)
        .expect("mint");
    // Wall clock: `exp` is in whole seconds, so the token is past it only once the second turns.
    let exp = jsonwebtoken::get_current_timestamp();
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    while jsonwebtoken::get_current_timestamp() <= exp {
        assert!(
            tokio::time::Instant::now() < until,
            "the clock never passed the token's exp"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for token in [
        forged.as_str(),
        wrong_aud.as_str(),
        "not.a.jwt",
        expired.as_str(),
    ] {
        let resp = app
            .http
            .get(app.url("/v1/jobs"))
            .bearer_auth(token)
            .send()
            .await
            .expect("send");
        // A just-expired token stays valid for the 5 s leeway; the others never are.
        if token == expired {
            assert_eq!(resp.status(), 200);
        } else {
            assert_eq!(error_code(resp, 401).await, "unauthorized", "{token}");
        }
    }
    let resp = app
        .upload("alice", "a.jpg", fixture("photo_1200x900.jpg"), None)
        .await;
    assert_eq!(resp.status(), 202);
    let resp = app
        .http
        .post(app.url("/v1/media"))
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(resp, 401).await, "unauthorized");
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_4xx_in_the_error_shape_never_a_500() {
    let app = spawn_app_with(DbKind::Sqlite, false, |_| {}).await;
    for (path, status) in [
        ("/v1/jobs/not-a-uuid", 400),
        ("/v1/jobs?status=sleeping", 400),
        ("/v1/jobs?limit=0", 400),
        ("/v1/jobs?limit=5000", 400),
        ("/v1/jobs?cursor=abc", 400),
        ("/v1/media/01a2018c-4512-7400-b58a-6b923da7c244", 404),
        (
            "/v1/media/01a2018c-4512-7400-b58a-6b923da7c244/variants/..%2F..%2Fetc",
            404,
        ),
        ("/v1/nothing-here", 404),
    ] {
        let resp = app.get("alice", path).await;
        error_code(resp, status).await;
    }
    let resp = app
        .http
        .delete(app.url("/v1/jobs"))
        .bearer_auth(app.token("alice"))
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(resp, 405).await, "method_not_allowed");
    app.stop().await;
}

#[tokio::test]
async fn jobs_are_listed_newest_first_with_filters_and_a_cursor() {
    let app = spawn_app_with(DbKind::Sqlite, false, |_| {}).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let resp = app
            .upload("alice", "a.jpg", fixture("photo_1200x900.jpg"), None)
            .await;
        let body: serde_json::Value = resp.json().await.expect("json");
        ids.push(body["job_id"].as_str().expect("id").to_owned());
    }
    app.upload("bob", "b.jpg", fixture("photo_1200x900.jpg"), None)
        .await;
    let resp = app
        .post("alice", &format!("/v1/jobs/{}/cancel", ids[0]))
        .await;
    let cancelled: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(cancelled["status"], "cancelled");

    let page1: serde_json::Value = app.get_json("alice", "/v1/jobs?limit=2").await;
    let cursor = page1["next_cursor"]
        .as_str()
        .expect("more pages")
        .to_owned();
    let page2: serde_json::Value = app
        .get_json("alice", &format!("/v1/jobs?limit=2&cursor={cursor}"))
        .await;
    assert!(
        page2.get("next_cursor").is_none_or(|c| c.is_null()),
        "{page2}"
    );
    let listed: Vec<String> = page1["items"]
        .as_array()
        .expect("items")
        .iter()
        .chain(page2["items"].as_array().expect("items"))
        .map(|j| j["id"].as_str().expect("id").to_owned())
        .collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first, "only alice's, newest first");

    let filtered: serde_json::Value = app
        .get_json("alice", "/v1/jobs?status=cancelled&kind=image.process")
        .await;
    let items = filtered["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"].as_str(), Some(ids[0].as_str()));
    app.stop().await;
}

/// RFC 9110: a 405 lists the methods the resource has, in `Allow`.
#[tokio::test]
async fn a_405_names_the_allowed_methods_sqlite() {
    let app = spawn_app_with(DbKind::Sqlite, false, |_| {}).await;
    let id = uuid::Uuid::now_v7();
    for (method, at, allow) in [
        ("DELETE", format!("/v1/users/{id}"), "GET, HEAD, PATCH"),
        ("TRACE", "/health/live".to_owned(), "GET, HEAD"),
        ("PUT", format!("/v1/media/{id}"), "GET, HEAD, PATCH, DELETE"),
        ("GET", "/v1/auth/login".to_owned(), "POST"),
        ("POST", "/openapi.json".to_owned(), "GET, HEAD"),
    ] {
        let resp = app
            .http
            .request(method.parse().expect("method"), app.url(&at))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 405, "{method} {at}");
        assert_eq!(
            resp.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {at}"
        );
        let body: serde_json::Value = resp.json().await.expect("error body");
        assert_eq!(body["code"], "method_not_allowed", "{body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn docs_and_the_openapi_document_are_served() {
    let app = spawn_app_with(DbKind::Sqlite, false, |_| {}).await;
    let spec: serde_json::Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("spec")
        .json()
        .await
        .expect("json");
    assert_eq!(spec["info"]["title"], "Kiln");
    assert_eq!(
        spec,
        serde_json::from_str::<serde_json::Value>(&kiln_api::spec_json()).expect("json")
    );
    for op in [
        "media_create",
        "media_get",
        "media_variant_get",
        "media_delete",
        "jobs_get",
        "jobs_list",
        "jobs_cancel",
        "jobs_retry",
        "health_live",
        "health_ready",
    ] {
        assert!(
            kiln_api::spec_json().contains(&format!("\"operationId\": \"{op}\"")),
            "{op}"
        );
    }
    let docs = app.http.get(app.url("/docs")).send().await.expect("docs");
    assert_eq!(docs.status(), 200);
    let html = docs.text().await.expect("html");
    assert!(html.contains("swagger"));
    assert!(
        html.contains(&kiln_api::spec_json()),
        "Swagger UI shows the published document, not poem-openapi's draft"
    );
    let live: serde_json::Value = app
        .http
        .get(app.url("/health/live"))
        .send()
        .await
        .expect("live")
        .json()
        .await
        .expect("json");
    assert_eq!(live["status"], "ok");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            r#"kiln_http_requests_total{method="GET",operation="health_live",status="200"} 1"#
        ),
        "requests are labelled by operation id: {metrics}"
    );
    // The scrape is on the internal listener, outside the public tier's
    // count; every public request above has finished.
    assert!(
        metrics.lines().any(|l| l == "kiln_http_in_flight 0"),
        "{metrics}"
    );
    // `/metrics` is not on the public listener.
    let public = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(error_code(public, 404).await, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn readiness_reports_each_dependency_and_503_when_the_database_is_unreachable() {
    let app = spawn_app(DbKind::Postgres).await;
    for path in ["/health/ready", "/health"] {
        let ready = app.http.get(app.url(path)).send().await.expect("ready");
        assert_eq!(ready.status(), 200, "{path}");
        let body: serde_json::Value = ready.json().await.expect("json");
        assert_eq!(body["status"], "ready", "{path}: {body}");
        assert_eq!(body["checks"].as_array().map(Vec::len), Some(3), "{body}");
    }

    // Take the database away: no new connections, existing ones killed.
    let name = app
        .ctx
        .database_url
        .rsplit('/')
        .next()
        .expect("db name")
        .to_owned();
    let admin = kiln_jobs::testing::pg_admin_url();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("admin");
    let set = |allow: bool| {
        sqlx::AssertSqlSafe(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}"))
    };
    sqlx::query(set(false))
        .execute(&mut conn)
        .await
        .expect("disallow");
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&name)
        .execute(&mut conn)
        .await
        .expect("terminate");
    let down = app
        .http
        .get(app.url("/health/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(down.status(), 503);
    let body: serde_json::Value = down.json().await.expect("json");
    assert_eq!(body["code"], "degraded", "{body}");
    let db = body["details"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "database")
        .expect("db")
        .clone();
    assert_eq!(db["status"], "down", "{body}");
    assert!(db["latency_ms"].as_f64().is_some(), "{body}");
    assert!(
        db.get("error").is_none(),
        "the public readiness body names states, not causes: {body}"
    );
    // `/health` answers as readiness does.
    let health = app
        .http
        .get(app.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().await.expect("json");
    assert_eq!(body["code"], "degraded", "{body}");
    crate::health::public_bodies_name_no_host_or_cause(&app).await;
    crate::health::details_give_the_cause(&app, "database").await;
    // A request that needs the database says so with 503, not 500.
    let resp = app.get("alice", "/v1/jobs").await;
    assert_eq!(error_code(resp, 503).await, "service_unavailable");

    sqlx::query(set(true))
        .execute(&mut conn)
        .await
        .expect("allow");
    let until = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let r = app
            .http
            .get(app.url("/health/ready"))
            .send()
            .await
            .expect("ready");
        if r.status() == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "readiness never recovered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}

kiln_jobs::per_backend!(
    upload_to_variants_works_through_job_polling,
    [sqlite, postgres]
);
async fn upload_to_variants_works_through_job_polling(kind: Backend) {
    let app = spawn_app(kind).await;
    let resp = app
        .upload("carol", "p.png", fixture("alpha_300x200.png"), None)
        .await;
    assert_eq!(resp.status(), 202);
    let body: serde_json::Value = resp.json().await.expect("json");
    let job = app
        .wait_job("carol", body["job_id"].as_str().expect("id"))
        .await;
    assert_eq!(job["status"], "succeeded", "{kind:?}: {job}");
    assert_eq!(job["result"]["variants"].as_array().map(Vec::len), Some(6));
    app.stop().await;
}

kiln_jobs::per_backend!(
    queue_depth_and_dead_job_requeue_are_for_operators,
    [sqlite, redis]
);
async fn queue_depth_and_dead_job_requeue_are_for_operators(backend: Backend) {
    let app = spawn_app_with(backend, false, |_| {}).await;
    let user = app
        .http
        .get(app.url("/v1/queues"))
        .bearer_auth(app.token("alice"))
        .send()
        .await
        .expect("request");
    assert_eq!(error_code(user, 403).await, "forbidden");
    // Two queued jobs, not running (no workers in this app).
    for _ in 0..2 {
        app.ctx
            .app
            .ledger
            .enqueue(NewJob::new("alice", NoopV1::default()))
            .await
            .expect("enqueue");
    }
    let ops = app.token_as("olga", Role::Operator);
    let body: serde_json::Value = app
        .http
        .get(app.url("/v1/queues"))
        .bearer_auth(&ops)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let expected = match backend {
        Backend::Redis => "redis",
        _ => "database",
    };
    assert_eq!(body["transport"], expected, "{body}");
    let queues = body["queues"].as_array().expect("queues");
    assert_eq!(queues.len(), 5);
    let n = queues
        .iter()
        .find(|q| q["name"] == "notifications")
        .expect("notifications");
    assert_eq!(
        (n["ready"].as_u64(), n["dead"].as_u64()),
        (Some(2), Some(0)),
        "{body}"
    );
    let r = app
        .http
        .post(app.url("/v1/queues/notifications/dead/retry"))
        .bearer_auth(&ops)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let r: serde_json::Value = r.json().await.expect("json");
    assert_eq!(r["requeued"], 0);
    let bad = app
        .http
        .post(app.url("/v1/queues/nope/dead/retry"))
        .bearer_auth(&ops)
        .send()
        .await
        .expect("request");
    assert_eq!(error_code(bad, 400).await, "bad_request");
    app.stop().await;
}

#[tokio::test]
async fn uploads_get_503_and_leave_nothing_behind_while_redis_is_unreachable() {
    let app = spawn_app_with(Backend::Redis, false, |c| {
        // Nothing listens on port 1.
        c.redis.url = Some(secrecy::SecretString::from("redis://127.0.0.1:1"));
        c.redis.connect_timeout_ms = 300;
        c.redis.command_timeout_ms = 300;
    })
    .await;
    let started = std::time::Instant::now();
    let resp = app
        .upload("alice", "a.jpg", fixture("gray_320x240.jpg"), None)
        .await;
    assert_eq!(error_code(resp, 503).await, "service_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered within its timeout"
    );
    assert!(
        kiln_jobs::db::job_runs::count_by_status(&app.ctx.app.db)
            .await
            .expect("count")
            .is_empty(),
        "no job left behind"
    );
    let list = app.get_json("alice", "/v1/jobs").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
    let objects = app.ctx.dir.path().join("objects");
    let stored = walk_files(&objects);
    assert!(stored.is_empty(), "no stored original left: {stored:?}");
    let ready = app
        .http
        .get(app.url("/health/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["code"], "degraded", "{body}");
    let redis = body["details"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "redis")
        .expect("a redis check")
        .clone();
    assert_eq!(redis["status"], "down", "{body}");
    app.stop().await;
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk_files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

kiln_jobs::per_backend!(
    the_console_is_served_under_a_policy_with_no_inline_script,
    [sqlite]
);
async fn the_console_is_served_under_a_policy_with_no_inline_script(backend: Backend) {
    let app = spawn_app_with(backend, false, |_| {}).await;
    let page = app
        .http
        .get(app.url("/console"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    let html = page.text().await.expect("html");
    // Every script is a file of the page's own origin: none is inline.
    for tag in html.split("<script").skip(1) {
        let open = tag.split('>').next().unwrap_or_default();
        assert!(
            open.contains("src=\"/console/"),
            "an inline or foreign script: <script{open}>"
        );
    }
    for (path, kind) in [
        ("/console/console.js", "text/javascript"),
        ("/console/console.css", "text/css"),
    ] {
        let r = app.http.get(app.url(path)).send().await.expect("asset");
        assert_eq!(r.status(), 200, "{path}");
        let ct = r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(ct.starts_with(kind), "{path}: {ct}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    }
    let missing = app
        .http
        .get(app.url("/console/other.js"))
        .send()
        .await
        .expect("404");
    assert_eq!(missing.status(), 404);
    app.stop().await;
}
