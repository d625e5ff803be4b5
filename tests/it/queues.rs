//! Queue control: pause and resume, through the API and as the workers see it.

use std::time::{Duration, Instant};

use kiln_api::Role;
use kiln_jobs::{
    JobStatus, QueueName, ledger::NewJob, noop::NoopV1, queue::PAUSE_POLL_INTERVAL,
    testing::Backend,
};
use uuid::Uuid;

use crate::helpers::{TestApp, error_code, spawn_app, spawn_app_with};

/// Long enough for every worker to have read a pause or a resume: the watch
/// interval twice over, plus the read.
const SEEN: Duration = Duration::from_millis(2 * PAUSE_POLL_INTERVAL.as_millis() as u64 + 200);

async fn enqueue(app: &TestApp, sleep_ms: u64) -> Uuid {
    app.ctx
        .app
        .ledger
        .enqueue(NewJob::new(
            "alice",
            NoopV1 {
                sleep_ms,
                ..NoopV1::default()
            },
        ))
        .await
        .expect("enqueue")
        .job()
        .id
}

async fn status(app: &TestApp, id: Uuid) -> JobStatus {
    app.ctx
        .app
        .ledger
        .get(id, None)
        .await
        .expect("read the ledger")
        .expect("the job exists")
        .status
}

/// Waits (up to 20 s) until job `id` is in `want`.
async fn wait_status(app: &TestApp, id: Uuid, want: JobStatus) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = status(app, id).await;
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} is {now:?}, not {want:?}, after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn control(app: &TestApp, bearer: &str, action: &str) -> serde_json::Value {
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            &format!("/v1/queues/notifications/{action}"),
            bearer,
            None,
        )
        .await;
    assert_eq!(status, 200, "{action}: {body}");
    body
}

kiln_jobs::per_backend!(
    a_paused_queue_finishes_what_runs_starts_nothing_new_and_resumes,
    [sqlite, postgres, redis]
);
async fn a_paused_queue_finishes_what_runs_starts_nothing_new_and_resumes(backend: Backend) {
    let app = spawn_app(backend).await;
    let ops = app.token_as("olga", Role::Operator);
    let running = enqueue(&app, 1500).await;
    wait_status(&app, running, JobStatus::Running).await;

    let paused = control(&app, &ops, "pause").await;
    assert_eq!(paused["name"], "notifications", "{paused}");
    assert_eq!(paused["paused"], true, "{paused}");
    assert_eq!(paused["paused_by"], "olga", "{paused}");
    let since = paused["paused_at"].clone();
    assert!(since.is_string(), "{paused}");
    // Pausing again changes nothing: when and by whom stay.
    let admin = app.token_as("ada", Role::Admin);
    let again = control(&app, &admin, "pause").await;
    assert_eq!(
        (&again["paused_at"], &again["paused_by"]),
        (&since, &serde_json::json!("olga")),
        "{again}"
    );
    tokio::time::sleep(SEEN).await;

    // Enqueueing goes on while paused; the job waits.
    let waiting = enqueue(&app, 0).await;
    // What ran when the pause came finishes.
    wait_status(&app, running, JobStatus::Succeeded).await;
    tokio::time::sleep(SEEN).await;
    assert_eq!(status(&app, waiting).await, JobStatus::Queued);
    let list: serde_json::Value = app
        .http
        .get(app.url("/v1/queues"))
        .bearer_auth(&ops)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let queues = list["queues"].as_array().expect("queues");
    for q in queues {
        let expect_paused = q["name"] == "notifications";
        assert_eq!(q["paused"], expect_paused, "{q}");
    }
    let n = queues
        .iter()
        .find(|q| q["name"] == "notifications")
        .expect("notifications");
    assert_eq!(n["ready"], 1, "{n}");

    let resumed = control(&app, &ops, "resume").await;
    assert_eq!(resumed["paused"], false, "{resumed}");
    assert!(resumed["paused_at"].is_null(), "{resumed}");
    wait_status(&app, waiting, JobStatus::Succeeded).await;
    // Resuming a running queue changes nothing.
    assert_eq!(control(&app, &ops, "resume").await["paused"], false);
    app.stop().await;
}

kiln_jobs::per_backend!(
    a_queue_paused_before_its_workers_start_stays_paused,
    [sqlite, postgres, redis]
);
async fn a_queue_paused_before_its_workers_start_stays_paused(backend: Backend) {
    let idle = spawn_app_with(backend, false, |_| {}).await;
    // Paused as `kiln queue pause` does it, with no worker running.
    idle.ctx
        .app
        .ledger
        .pause(QueueName::Notifications, "cli")
        .await
        .expect("pause");
    let waiting = enqueue(&idle, 0).await;
    let other = idle
        .ctx
        .app
        .ledger
        .enqueue(NewJob::new(
            "alice",
            NoopV1 {
                queue: QueueName::Webhooks,
                ..NoopV1::default()
            },
        ))
        .await
        .expect("enqueue")
        .job()
        .id;
    let (ctx, stop) = (
        idle.ctx.app.clone(),
        tokio_util::sync::CancellationToken::new(),
    );
    let workers = {
        let stop = stop.clone();
        tokio::spawn(async move { kiln_worker::run(ctx, &QueueName::ALL, stop).await })
    };
    // Other queues run.
    wait_status(&idle, other, JobStatus::Succeeded).await;
    tokio::time::sleep(SEEN).await;
    assert_eq!(status(&idle, waiting).await, JobStatus::Queued);
    assert!(
        idle.ctx
            .app
            .ledger
            .resume(QueueName::Notifications)
            .await
            .expect("resume")
    );
    wait_status(&idle, waiting, JobStatus::Succeeded).await;
    stop.cancel();
    workers.await.expect("join").expect("workers stop cleanly");
    idle.stop().await;
}

kiln_jobs::per_backend!(queue_control_is_for_queue_admins, [sqlite, redis]);
async fn queue_control_is_for_queue_admins(backend: Backend) {
    let app = spawn_app_with(backend, false, |_| {}).await;
    let user = app
        .send_as(
            reqwest::Method::POST,
            "/v1/queues/notifications/pause",
            &app.token("alice"),
            None,
        )
        .await;
    assert_eq!(error_code(user, 403).await, "forbidden");
    let ops = app.token_as("olga", Role::Operator);
    let bad = app
        .send_as(reqwest::Method::POST, "/v1/queues/nope/pause", &ops, None)
        .await;
    assert_eq!(error_code(bad, 400).await, "bad_request");
    assert!(
        app.ctx.app.ledger.paused().await.expect("read").is_empty(),
        "nothing was paused"
    );
    app.stop().await;
}

async fn enqueue_job(app: &TestApp, job: NewJob) -> Uuid {
    app.ctx
        .app
        .ledger
        .enqueue(job)
        .await
        .expect("enqueue")
        .job()
        .id
}

/// A job that fails its only attempt with a retryable error: dead.
/// A noop job due in an hour: it waits, queued, through any test.
fn in_an_hour() -> NewJob {
    NewJob {
        run_at: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        ..NewJob::new("alice", NoopV1::default())
    }
}

fn doomed() -> NewJob {
    NewJob {
        max_attempts: Some(1),
        ..NewJob::new(
            "alice",
            NoopV1 {
                fail_attempts: 1,
                ..NoopV1::default()
            },
        )
    }
}

kiln_jobs::per_backend!(
    dead_jobs_are_listed_deleted_and_purged_by_operators,
    [sqlite, postgres, redis]
);
async fn dead_jobs_are_listed_deleted_and_purged_by_operators(backend: Backend) {
    let app = spawn_app(backend).await;
    let ops = app.token_as("olga", Role::Operator);
    let mut dead = Vec::new();
    for _ in 0..3 {
        dead.push(enqueue_job(&app, doomed()).await);
    }
    let done = enqueue(&app, 0).await;
    for id in dead.iter().chain([&done]) {
        app.wait_job_as(&ops, &id.to_string()).await;
    }
    // Waiting for its time: not finished, so not deletable.
    let later = enqueue_job(&app, in_an_hour()).await;

    // The list, newest first, two to a page.
    let (s, first) = app
        .call(
            reqwest::Method::GET,
            "/v1/queues/notifications/dead?limit=2",
            &ops,
            None,
        )
        .await;
    assert_eq!(s, 200, "{first}");
    let items = first["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{first}");
    assert_eq!(items[0]["id"], dead[2].to_string(), "{first}");
    for j in items {
        assert_eq!(j["status"], "dead", "{j}");
        assert_eq!(j["attempts"], 1, "{j}");
        let error = j["last_error"].as_str().expect("an error");
        assert!(error.contains("asked to fail"), "{j}");
    }
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let (_, second) = app
        .call(
            reqwest::Method::GET,
            &format!("/v1/queues/notifications/dead?limit=2&cursor={cursor}"),
            &ops,
            None,
        )
        .await;
    let rest: Vec<&str> = second["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|j| j["id"].as_str())
        .collect();
    assert_eq!(rest, [dead[0].to_string()], "{second}");
    assert!(second["next_cursor"].is_null(), "{second}");

    // Users may do none of it.
    let alice = app.token("alice");
    for (method, path) in [
        (
            reqwest::Method::GET,
            "/v1/queues/notifications/dead".to_owned(),
        ),
        (
            reqwest::Method::DELETE,
            "/v1/queues/notifications/dead".to_owned(),
        ),
        (reqwest::Method::DELETE, format!("/v1/jobs/{done}")),
    ] {
        let r = app.send_as(method.clone(), &path, &alice, None).await;
        assert_eq!(error_code(r, 403).await, "forbidden", "{method} {path}");
    }

    // One at a time: a finished job goes, a waiting one stays.
    let del = |id: Uuid| {
        let (app, ops) = (&app, &ops);
        async move {
            app.send_as(
                reqwest::Method::DELETE,
                &format!("/v1/jobs/{id}"),
                ops,
                None,
            )
            .await
        }
    };
    assert_eq!(del(done).await.status(), 204);
    assert_eq!(del(dead[1]).await.status(), 204);
    assert_eq!(error_code(del(later).await, 409).await, "conflict");
    assert_eq!(status(&app, later).await, JobStatus::Queued);
    assert_eq!(error_code(del(done).await, 404).await, "not_found");
    let (s, _) = app
        .call(
            reqwest::Method::GET,
            &format!("/v1/jobs/{done}"),
            &ops,
            None,
        )
        .await;
    assert_eq!(s, 404);

    // The rest at once, counted.
    let (s, purged) = app
        .call(
            reqwest::Method::DELETE,
            "/v1/queues/notifications/dead",
            &ops,
            None,
        )
        .await;
    assert_eq!(s, 200, "{purged}");
    assert_eq!(
        (purged["deleted"].as_u64(), purged["kept"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(
        app.ctx
            .app
            .ledger
            .dead_count(QueueName::Notifications)
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        status(&app, later).await,
        JobStatus::Queued,
        "purge kept the rest"
    );
    app.stop().await;
}

kiln_jobs::per_backend!(a_job_a_media_item_points_to_is_not_deleted, [sqlite, redis]);
async fn a_job_a_media_item_points_to_is_not_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let resp = app
        .upload(
            "alice",
            "photo.jpg",
            crate::helpers::fixture("photo_1200x900.jpg"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 202);
    let body: serde_json::Value = resp.json().await.expect("json");
    let job = body["job_id"].as_str().expect("job id").to_owned();
    app.wait_job("alice", &job).await;
    let ops = app.token_as("olga", Role::Operator);
    let r = app
        .send_as(
            reqwest::Method::DELETE,
            &format!("/v1/jobs/{job}"),
            &ops,
            None,
        )
        .await;
    assert_eq!(r.status(), 409);
    let body: serde_json::Value = r.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("media item")),
        "{body}"
    );
    let (s, _) = app
        .call(reqwest::Method::GET, &format!("/v1/jobs/{job}"), &ops, None)
        .await;
    assert_eq!(s, 200, "the job is still there");
    // The upload is counted by the format sniffed from its bytes.
    let metrics = app.metrics().await;
    assert_eq!(
        crate::helpers::metric_value(&metrics, "kiln_media_uploads_total", &[("format", "jpeg")]),
        Some(1.0),
        "{metrics}"
    );
    app.stop().await;
}

kiln_jobs::per_backend!(operators_filter_the_job_list, [sqlite, postgres, redis]);
async fn operators_filter_the_job_list(backend: Backend) {
    let app = spawn_app_with(backend, false, |_| {}).await;
    let ops = app.token_as("olga", Role::Operator);
    let keyed = enqueue_job(
        &app,
        NewJob {
            idempotency_key: Some("order-41".into()),
            ..NewJob::new("alice", NoopV1::default())
        },
    )
    .await;
    let hook = enqueue_job(
        &app,
        NewJob::new(
            "bob",
            NoopV1 {
                queue: QueueName::Webhooks,
                ..NoopV1::default()
            },
        ),
    )
    .await;
    let cut = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let newest = enqueue(&app, 0).await;
    let ids = |body: &serde_json::Value| -> Vec<String> {
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|j| j["id"].as_str().map(str::to_owned))
            .collect()
    };
    let list = |query: String, bearer: String| {
        let app = &app;
        async move {
            let (s, body) = app
                .call(
                    reqwest::Method::GET,
                    &format!("/v1/jobs?{query}"),
                    &bearer,
                    None,
                )
                .await;
            assert_eq!(s, 200, "{query}: {body}");
            body
        }
    };
    let at = |t: chrono::DateTime<chrono::Utc>| {
        t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            .replace('+', "%2B")
    };
    for (query, want) in [
        ("queue=webhooks".to_owned(), vec![hook]),
        ("owner=bob".to_owned(), vec![hook]),
        (format!("q={keyed}"), vec![keyed]),
        ("q=order-41".to_owned(), vec![keyed]),
        ("q=order-4".to_owned(), vec![]),
        (format!("created_after={}", at(cut)), vec![newest]),
        (format!("created_before={}", at(cut)), vec![hook, keyed]),
        (
            "queue=notifications&owner=alice".to_owned(),
            vec![newest, keyed],
        ),
    ] {
        let body = list(query.clone(), ops.clone()).await;
        let want: Vec<String> = want.iter().map(Uuid::to_string).collect();
        assert_eq!(ids(&body), want, "{query}");
    }
    // A user sees only their own, whatever owner they ask for.
    let alice = app.token("alice");
    assert!(ids(&list("owner=bob".into(), alice.clone()).await).is_empty());
    assert_eq!(
        ids(&list("owner=alice&queue=webhooks".into(), alice).await),
        Vec::<String>::new()
    );
    let r = app
        .send_as(
            reqwest::Method::GET,
            &format!("/v1/jobs?created_after={0}&created_before={0}", at(cut)),
            &ops,
            None,
        )
        .await;
    assert_eq!(error_code(r, 422).await, "invalid_range");
    app.stop().await;
}

kiln_jobs::per_backend!(
    a_job_shows_every_attempt_with_its_error_and_timing,
    [sqlite, postgres, redis]
);
async fn a_job_shows_every_attempt_with_its_error_and_timing(backend: Backend) {
    let app = spawn_app(backend).await;
    let ops = app.token_as("olga", Role::Operator);
    // Fails twice, then succeeds.
    let flaky = enqueue_job(
        &app,
        NewJob {
            max_attempts: Some(3),
            ..NewJob::new(
                "alice",
                NoopV1 {
                    fail_attempts: 2,
                    ..NoopV1::default()
                },
            )
        },
    )
    .await;
    let job = app.wait_job_as(&ops, &flaky.to_string()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let history = job["attempt_history"].as_array().expect("history");
    let outcomes: Vec<&str> = history
        .iter()
        .filter_map(|a| a["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["retried", "retried", "succeeded"], "{job}");
    for (i, a) in history.iter().enumerate() {
        assert_eq!(a["attempt"], i + 1, "{job}");
        let started = a["started_at"].as_str().expect("started");
        let finished = a["finished_at"].as_str().expect("finished");
        let (s, f) = (
            chrono::DateTime::parse_from_rfc3339(started).expect("a time"),
            chrono::DateTime::parse_from_rfc3339(finished).expect("a time"),
        );
        assert!(s <= f, "{a}");
    }
    for a in &history[..2] {
        let error = a["error"].as_str().expect("an error");
        assert!(error.contains("asked to fail"), "{a}");
    }
    assert!(history[2]["error"].is_null(), "{job}");

    // Dead, retried by hand, dead again: both ends are kept.
    let dead = enqueue_job(&app, doomed()).await;
    app.wait_job_as(&ops, &dead.to_string()).await;
    let (s, _) = app
        .call(
            reqwest::Method::POST,
            &format!("/v1/jobs/{dead}/retry"),
            &ops,
            None,
        )
        .await;
    assert_eq!(s, 200);
    let job = app.wait_job_as(&ops, &dead.to_string()).await;
    let history = job["attempt_history"].as_array().expect("history");
    let outcomes: Vec<(u64, &str)> = history
        .iter()
        .filter_map(|a| Some((a["attempt"].as_u64()?, a["outcome"].as_str()?)))
        .collect();
    assert_eq!(outcomes, [(1, "dead"), (1, "dead")], "{job}");
    assert_ne!(history[0]["started_at"], history[1]["started_at"], "{job}");
    // A job that succeeds at once has one attempt.
    let quick = enqueue(&app, 0).await;
    let job = app.wait_job_as(&ops, &quick.to_string()).await;
    assert_eq!(
        job["attempt_history"].as_array().map(Vec::len),
        Some(1),
        "{job}"
    );
    // One more, scheduled for later and cancelled before it runs.
    let later = enqueue_job(&app, in_an_hour()).await;
    let (s, _) = app
        .call(
            reqwest::Method::POST,
            &format!("/v1/jobs/{later}/cancel"),
            &ops,
            None,
        )
        .await;
    assert_eq!(s, 200);

    // The job metrics count what happened above: 4 jobs created; 6 attempts
    // run (3 + 1 + 1 + 1); 2 succeeded, 2 dead (one job, twice), 1 cancelled.
    let metrics = app.metrics().await;
    let noop = [("kind", "noop")];
    let value = |name: &str, labels: &[(&str, &str)]| {
        crate::helpers::metric_value(&metrics, name, labels)
            .unwrap_or_else(|| panic!("{name}{labels:?} in:\n{metrics}"))
    };
    assert_eq!(value("kiln_jobs_created_total", &noop), 4.0);
    for (outcome, n) in [("succeeded", 2.0), ("dead", 2.0), ("cancelled", 1.0)] {
        let labels = [("kind", "noop"), ("outcome", outcome)];
        assert_eq!(value("kiln_jobs_completed_total", &labels), n, "{outcome}");
    }
    assert_eq!(value("kiln_job_attempts_count", &noop), 4.0);
    assert_eq!(value("kiln_job_attempts_sum", &noop), 6.0);
    assert_eq!(value("kiln_job_duration_seconds_count", &noop), 6.0);
    let queue = [("queue", "notifications")];
    assert_eq!(value("kiln_job_start_latency_seconds_count", &queue), 6.0);
    // Each retry waited for its backoff, not from the job's creation: the
    // suite's backoffs are tens of milliseconds, and nothing waits a minute.
    let slow = value(
        "kiln_job_start_latency_seconds_bucket",
        &[("queue", "notifications"), ("le", "30")],
    );
    assert_eq!(slow, 6.0, "{metrics}");

    // The queue's last hour, as the workers report it every few seconds:
    // 2 succeeded, 2 dead (the cancelled job never ran).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (s, list) = app
            .call(reqwest::Method::GET, "/v1/queues", &ops, None)
            .await;
        assert_eq!(s, 200);
        let q = list["queues"]
            .as_array()
            .and_then(|qs| qs.iter().find(|q| q["name"] == "notifications"))
            .cloned()
            .expect("the notifications queue");
        let sum = |k: &str| -> u64 {
            q[k].as_array()
                .map(|m| m.iter().filter_map(serde_json::Value::as_u64).sum())
                .unwrap_or(0)
        };
        assert_eq!(q["succeeded_per_minute"].as_array().map(Vec::len), Some(60));
        if (sum("succeeded_per_minute"), sum("failed_per_minute")) == (2, 2) {
            break;
        }
        assert!(Instant::now() < deadline, "{q}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    app.stop().await;
}

kiln_jobs::per_backend!(
    the_live_workers_are_listed_and_counted_per_queue,
    [sqlite, postgres, redis]
);
async fn the_live_workers_are_listed_and_counted_per_queue(backend: Backend) {
    let app = spawn_app(backend).await;
    let ops = app.token_as("olga", Role::Operator);
    let deadline = Instant::now() + Duration::from_secs(20);
    let list = loop {
        let (s, list) = app
            .call(reqwest::Method::GET, "/v1/workers", &ops, None)
            .await;
        assert_eq!(s, 200, "{list}");
        if !list["workers"].as_array().expect("workers").is_empty() {
            break list;
        }
        assert!(Instant::now() < deadline, "no worker registered: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let workers = list["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 1, "{list}");
    let w = &workers[0];
    assert_eq!(w["pid"], std::process::id(), "{w}");
    assert_eq!(w["version"], env!("CARGO_PKG_VERSION"), "{w}");
    assert_eq!(
        w["queues"].as_array().map(Vec::len),
        Some(QueueName::ALL.len()),
        "{w}"
    );
    let policy = &app.ctx.app.config.queues;
    let concurrency: usize = QueueName::ALL
        .iter()
        .map(|&q| policy.policy(q).concurrency)
        .sum();
    assert_eq!(w["concurrency"], concurrency, "{w}");
    assert_eq!(w["in_flight"], 0, "{w}");
    let user = app
        .send_as(
            reqwest::Method::GET,
            "/v1/workers",
            &app.token("alice"),
            None,
        )
        .await;
    assert_eq!(error_code(user, 403).await, "forbidden");

    // The gauges every replica publishes.
    app.ctx
        .app
        .ledger
        .pause(QueueName::Media, "cli")
        .await
        .expect("pause");
    kiln_worker::sampler::sample_once(&app.ctx.app, &app.ctx.app.metrics).await;
    let metrics = app.metrics().await;
    for line in [
        r#"kiln_workers{queue="media"} 1"#,
        r#"kiln_workers{queue="backups"} 1"#,
        r#"kiln_queue_paused{queue="media"} 1"#,
        r#"kiln_queue_paused{queue="webhooks"} 0"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }

    // A worker that stops takes its row with it.
    let db = app.ctx.app.db.clone();
    app.stop().await;
    let left = kiln_jobs::db::workers::live_now(&db).await.expect("read");
    assert!(left.is_empty(), "{left:?}");
}
