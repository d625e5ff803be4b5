//! The backup API over HTTP, with real workers: run now, download, the
//! manifest, schedules and who may call them.

use kiln_api::Role;
use kiln_jobs::{db::DbKind, testing::Backend};
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

async fn wait_stored(app: &TestApp, token: &str, id: &str) -> serde_json::Value {
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, b) = app
            .call(Method::GET, &format!("/v1/backups/{id}"), token, None)
            .await;
        assert_eq!(status, 200, "{b}");
        if b["status"] == "succeeded" && b["verify_status"].is_string() {
            return b;
        }
        assert_ne!(b["status"], "failed", "{b}");
        assert!(tokio::time::Instant::now() < until, "never stored: {b}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn run_now_and_download(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, op) = app.account_token("op@example.com", Role::Operator).await;
    let (status, made) = app
        .call(Method::POST, "/v1/backups", &op, Some(&json!({})))
        .await;
    assert_eq!(status, 202, "{made}");
    let id = made["backup"]["id"].as_str().expect("id").to_owned();
    assert_eq!(made["backup"]["status"], "queued");
    assert_eq!(made["backup"]["keep"], true, "manual backups are kept");
    // The same Idempotency-Key answers the same backup.
    let again = |key: &'static str| {
        app.http
            .post(app.url("/v1/backups"))
            .bearer_auth(&op)
            .header("Idempotency-Key", key)
            .json(&json!({}))
            .send()
    };
    let first = again("nightly-manual").await.expect("post");
    assert_eq!(first.status(), 202);
    let first: serde_json::Value = first.json().await.expect("json");
    let second = again("nightly-manual").await.expect("post");
    assert_eq!(second.status(), 200);
    let second: serde_json::Value = second.json().await.expect("json");
    assert_eq!(first["backup"]["id"], second["backup"]["id"]);
    wait_stored(&app, &op, first["backup"]["id"].as_str().expect("id")).await;
    let stored = wait_stored(&app, &op, &id).await;
    assert_eq!(stored["verify_status"], "passed", "{stored}");

    let resp = app
        .send_as(
            Method::GET,
            &format!("/v1/backups/{id}/download"),
            &op,
            None,
        )
        .await;
    assert_eq!(resp.status(), 200);
    let header = resp
        .headers()
        .get("x-backup-sha256")
        .and_then(|v| v.to_str().ok())
        .expect("checksum header")
        .to_owned();
    let body = resp.bytes().await.expect("body");
    let sha = hex::encode(Sha256::digest(&body));
    let (status, manifest) = app
        .call(
            Method::GET,
            &format!("/v1/backups/{id}/manifest"),
            &op,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        sha,
        manifest["sha256"].as_str().expect("sha"),
        "download = manifest"
    );
    assert_eq!(sha, header);
    assert_eq!(
        body.len() as u64,
        manifest["stored_bytes"].as_u64().expect("size")
    );
    assert_eq!(stored["sha256"], manifest["sha256"]);

    let metrics = app.metrics().await;
    for name in [
        "kiln_backup_last_success_timestamp_seconds{schedule=\"manual\"}",
        "kiln_backup_size_bytes{schedule=\"manual\"}",
        "kiln_backup_duration_seconds_count{outcome=\"succeeded\"}",
    ] {
        assert!(metrics.contains(name), "{name} in /metrics");
    }
    let (status, page) = app.call(Method::GET, "/v1/backups", &op, None).await;
    assert_eq!(status, 200);
    assert_eq!(page["items"][1]["id"], id.as_str(), "newest first: {page}");

    let (status, _) = app
        .call(Method::DELETE, &format!("/v1/backups/{id}"), &op, None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .call(Method::GET, &format!("/v1/backups/{id}"), &op, None)
        .await;
    assert_eq!(status, 404);
    let left = app.ctx.app.storage.list("backups").await.expect("list");
    assert!(
        left.iter().all(|(k, _)| !k.contains(&id)),
        "its objects went with it: {left:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_operator_runs_downloads_and_deletes_a_backup_sqlite() {
    run_now_and_download(Backend::Sqlite).await;
}

#[tokio::test]
async fn an_operator_runs_downloads_and_deletes_a_backup_postgres() {
    run_now_and_download(Backend::Postgres).await;
}

#[tokio::test]
async fn users_and_moderators_get_403_on_every_backup_route_sqlite() {
    let app = spawn_app_with(DbKind::Sqlite, false, |_| {}).await;
    let any = uuid::Uuid::now_v7();
    let routes = [
        (Method::POST, "/v1/backups".to_owned(), Some(json!({}))),
        (Method::GET, "/v1/backups".to_owned(), None),
        (Method::GET, format!("/v1/backups/{any}"), None),
        (Method::GET, format!("/v1/backups/{any}/download"), None),
        (Method::GET, format!("/v1/backups/{any}/manifest"), None),
        (Method::DELETE, format!("/v1/backups/{any}"), None),
        (
            Method::POST,
            "/v1/backup-schedules".to_owned(),
            Some(json!({"name": "n", "cron": "@daily"})),
        ),
        (Method::GET, "/v1/backup-schedules".to_owned(), None),
        (Method::GET, format!("/v1/backup-schedules/{any}"), None),
        (
            Method::PATCH,
            format!("/v1/backup-schedules/{any}"),
            Some(json!({"enabled": false})),
        ),
        (Method::DELETE, format!("/v1/backup-schedules/{any}"), None),
    ];
    for role in [Role::User, Role::Moderator] {
        let token = app.token_as(&uuid::Uuid::now_v7().to_string(), role);
        for (method, path, body) in &routes {
            let (status, b) = app.call(method.clone(), path, &token, body.as_ref()).await;
            assert_eq!(status, 403, "{role:?} {method} {path}: {b}");
            assert_eq!(b["code"], "forbidden", "{b}");
        }
    }
    // A user cannot subscribe to the operators' backup events either.
    let (_, user) = app.account_token("u@example.com", Role::User).await;
    let (status, b) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &user,
            Some(&json!({"url": "https://example.com/hook", "events": ["backup.failed"]})),
        )
        .await;
    assert_eq!(status, 403, "{b}");
    app.stop().await;
}

#[tokio::test]
async fn schedules_name_the_bad_field_and_show_their_next_run_sqlite() {
    let app = spawn_app_with(DbKind::Sqlite, false, |_| {}).await;
    let (_, op) = app.account_token("op@example.com", Role::Operator).await;
    for (body, code) in [
        (json!({"name": "n", "cron": "61 * * * *"}), "invalid_cron"),
        (json!({"name": "n", "cron": "0 0 31 2 *"}), "invalid_cron"),
        (
            json!({"name": "n", "cron": "0 3 * * *", "timezone": "Mars/Olympus"}),
            "invalid_timezone",
        ),
        (
            json!({"name": "n", "cron": "0 3 * * *", "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0}),
            "invalid_retention",
        ),
        (
            json!({"name": "n", "cron": "0 3 * * *", "encrypted": true}),
            "no_recipients",
        ),
    ] {
        let (status, b) = app
            .call(Method::POST, "/v1/backup-schedules", &op, Some(&body))
            .await;
        assert_eq!(status, 422, "{body}: {b}");
        assert_eq!(b["code"], code, "{b}");
    }
    let (status, s) = app
        .call(
            Method::POST,
            "/v1/backup-schedules",
            &op,
            Some(&json!({"name": "nightly", "cron": "0 30 2 * * *", "timezone": "Europe/Berlin"})),
        )
        .await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(s["keep_daily"], 7);
    assert_eq!(s["keep_weekly"], 4);
    assert_eq!(s["keep_monthly"], 12);
    assert_eq!(s["encrypted"], false);
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(s["next_run_at"].clone()).expect("next_run_at");
    assert!(next > chrono::Utc::now());
    let id = s["id"].as_str().expect("id");
    let (status, p) = app
        .call(
            Method::PATCH,
            &format!("/v1/backup-schedules/{id}"),
            &op,
            Some(&json!({"enabled": false, "cron": "bogus"})),
        )
        .await;
    assert_eq!(status, 422, "{p}");
    let (status, p) = app
        .call(
            Method::PATCH,
            &format!("/v1/backup-schedules/{id}"),
            &op,
            Some(&json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    assert!(p["next_run_at"].is_null());
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/backup-schedules/{id}"),
            &op,
            None,
        )
        .await;
    assert_eq!(status, 204);
    app.stop().await;
}

/// After a restore, the jobs that were queued in the backup run again: the
/// ledger is the truth, and the sweeper pushes to Redis what it lacks.
#[tokio::test]
async fn jobs_queued_in_a_backup_run_after_it_is_restored_redis() {
    use std::{sync::Arc, time::Duration};

    use kiln_jobs::{
        JobStatus, QueueName,
        backups::restore,
        ledger::NewJob,
        noop::NoopV1,
        testing::{TestContext, back_up},
    };
    use tokio_util::sync::CancellationToken;

    let t = TestContext::with_backend(Backend::Redis, |c| {
        c.redis.sweep_interval_secs = 1;
        c.redis.sweep_grace_secs = 1;
        c.backups.verify = false;
    })
    .await;
    let app = t.app.clone();
    let jobs: Vec<uuid::Uuid> = app
        .ledger
        .enqueue_many(
            (0..20)
                .map(|_| NewJob::new("owner", NoopV1::default()))
                .collect(),
        )
        .await
        .expect("enqueue")
        .iter()
        .map(|e| e.job().id)
        .collect();
    // The backup, taken while the 20 jobs are queued.
    let location = back_up(&app, false).await.location.expect("stored");

    let wait_all = |status: JobStatus| {
        let app = app.clone();
        let jobs = jobs.clone();
        async move {
            let until = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                let mut done = 0;
                for id in &jobs {
                    if app
                        .ledger
                        .get(*id, None)
                        .await
                        .expect("get")
                        .expect("job")
                        .status
                        == status
                    {
                        done += 1;
                    }
                }
                if done == jobs.len() {
                    return;
                }
                assert!(
                    tokio::time::Instant::now() < until,
                    "{done}/{} {status:?}",
                    jobs.len()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let workers = |stop: CancellationToken| {
        let app = app.clone();
        tokio::spawn(async move {
            kiln_worker::run(
                app,
                &[
                    QueueName::Reports,
                    QueueName::Media,
                    QueueName::Notifications,
                    QueueName::Webhooks,
                ],
                stop,
            )
            .await
        })
    };
    // The jobs run and their messages are acknowledged...
    let stop = CancellationToken::new();
    let running = workers(stop.clone());
    wait_all(JobStatus::Succeeded).await;
    stop.cancel();
    running.await.expect("join").expect("workers stop");

    // ...then the database is restored from the backup: they are queued again,
    // with no message left for them in Redis.
    let plan = restore::Plan {
        input: restore::Input::Stored {
            storage: app.storage.clone(),
            key: location,
        },
        identities: Arc::new(Vec::new()),
        expected: None,
        target_url: t.database_url.clone(),
        safety_backup: false,
    };
    let report = restore::restore(&app, &plan, |_| {})
        .await
        .expect("restore");
    assert!(report.differences.is_empty(), "{:?}", report.differences);
    wait_all(JobStatus::Queued).await;

    // The sweeper re-pushes them and they run once more.
    let stop = CancellationToken::new();
    let running = workers(stop.clone());
    wait_all(JobStatus::Succeeded).await;
    stop.cancel();
    running.await.expect("join").expect("workers stop");
}

/// `kiln backup restore FILE`: a downloaded dump with its manifest beside it
/// and no database row restores into another database after a safety backup
/// of that database; a wrong `--sha256` is refused before anything is
/// touched.
#[tokio::test]
async fn the_cli_restores_a_downloaded_file_and_refuses_a_wrong_checksum_postgres() {
    use std::process::Command;

    use kiln_jobs::{
        backups::manifest_key,
        ledger::NewJob,
        noop::NoopV1,
        testing::{TestContext, back_up, fresh_database_url},
    };

    let t = TestContext::new(DbKind::Postgres, |c| c.backups.verify = false).await;
    let app = t.app.clone();
    app.ledger
        .enqueue_many(
            (0..25)
                .map(|_| NewJob::new("owner", NoopV1::default()))
                .collect(),
        )
        .await
        .expect("enqueue");
    let row = back_up(&app, false).await;
    let key = row.location.clone().expect("location");

    // "Download" the dump and its manifest into a folder of their own.
    let downloads = tempfile::tempdir().expect("dir");
    let name = key.rsplit('/').next().expect("name");
    let file = downloads.path().join(name);
    std::fs::write(&file, app.storage.get(&key).await.expect("dump")).expect("write");
    let manifest = manifest_key(&key);
    std::fs::write(
        downloads
            .path()
            .join(manifest.rsplit('/').next().expect("name")),
        app.storage.get(&manifest).await.expect("manifest"),
    )
    .expect("write");

    // The target: another database, already holding something.
    let target_dir = tempfile::tempdir().expect("dir");
    let target = fresh_database_url(DbKind::Postgres, target_dir.path()).await;
    let target_db = kiln_jobs::db::Db::connect(&target, 2, std::time::Duration::from_secs(10))
        .await
        .expect("target");
    target_db.migrate().await.expect("migrate the target");
    target_db.close().await;

    let restore = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args(["backup", "restore"])
            .arg(&file)
            .args(["--target-url", &target])
            .args(extra)
            .env("KILN__DATA_DIR", t.dir.path())
            .env("DATABASE_URL", &t.database_url)
            .env("STORAGE_URL", t.dir.path().join("objects"))
            .env_remove("REDIS_URL")
            .output()
            .expect("kiln backup restore")
    };
    let wrong = restore(&["--sha256", &"0".repeat(64), "--yes"]);
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    let unconfirmed = restore(&[]);
    assert!(!unconfirmed.status.success());
    assert!(String::from_utf8_lossy(&unconfirmed.stderr).contains("--yes"));

    let ok = restore(&["--yes"]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.contains("row counts and migration version match the manifest"),
        "{stdout}"
    );
    let safety = stdout
        .lines()
        .find_map(|l| l.strip_prefix("safety backup of the previous contents: "))
        .expect("the safety backup is named");
    assert!(app.storage.size(safety).await.is_ok(), "{safety} is stored");
    assert!(app.storage.size(&manifest_key(safety)).await.is_ok());

    let target_db = kiln_jobs::db::Db::connect(&target, 2, std::time::Duration::from_secs(10))
        .await
        .expect("target");
    let noops: i64 = kiln_jobs::on_db!(&target_db, p => sqlx::query_scalar(
        "SELECT count(*) FROM job_runs WHERE kind = 'noop'",
    )
    .fetch_one(p)
    .await
    .expect("count"));
    assert_eq!(noops, 25);
}

/// `backup.succeeded` reaches an operator's subscribed endpoint (signed like
/// every event), and a user's endpoint never gets it.
#[tokio::test]
async fn an_operator_endpoint_gets_backup_succeeded_sqlite() {
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};

    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let app = spawn_app_with(DbKind::Sqlite, true, |c| {
        c.webhooks.allow_private_targets = true;
    })
    .await;
    let (_, op) = app.account_token("op@example.com", Role::Operator).await;
    let (_, user) = app.account_token("user@example.com", Role::User).await;
    let hook = |events: serde_json::Value, path: &str| json!({"url": format!("{}{path}", receiver.uri()), "events": events});
    let (status, b) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &op,
            Some(&hook(json!(["backup.succeeded", "backup.failed"]), "/ops")),
        )
        .await;
    assert_eq!(status, 201, "{b}");
    let (status, b) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &user,
            Some(&hook(json!(["job.succeeded"]), "/user")),
        )
        .await;
    assert_eq!(status, 201, "{b}");
    let (status, made) = app
        .call(Method::POST, "/v1/backups", &op, Some(&json!({})))
        .await;
    assert_eq!(status, 202, "{made}");
    let id = made["backup"]["id"].as_str().expect("id").to_owned();
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let event = loop {
        let got = receiver.received_requests().await.expect("recording");
        let found = got.iter().find_map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
            (r.url.path() == "/ops" && body["type"] == "backup.succeeded")
                .then_some((r.clone(), body))
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "no backup.succeeded: {got:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let (request, body) = event;
    assert_eq!(body["data"]["backup_id"], id.as_str());
    assert!(body["data"]["sha256"].is_string());
    assert!(request.headers.get("webhook-signature").is_some());
    let got = receiver.received_requests().await.expect("recording");
    assert!(
        got.iter().all(|r| r.url.path() != "/user"),
        "the user's endpoint got nothing of the backup"
    );
    app.stop().await;
}
