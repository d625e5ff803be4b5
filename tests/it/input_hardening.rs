//! Input hardening: NUL characters in client input and in recorded receiver
//! answers, per-user caps under parallel creation, and a readiness answer
//! that does not leak dependency errors.

use std::sync::Arc;

use chrono::Utc;
use kiln_api::Role;
use kiln_jobs::{identity::AuditEntry, notifications::devices, testing::Backend};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::helpers::{TestApp, spawn_app_with};

/// The API alone (no workers) on `backend`.
async fn api(backend: Backend) -> TestApp {
    spawn_app_with(backend, false, |_| {}).await
}

/// Sends `body` as raw JSON text, so a `\u0000` escape reaches the server as
/// written (the test controls the exact bytes).
async fn send_raw_json(
    app: &TestApp,
    method: Method,
    at: &str,
    bearer: &str,
    body: &str,
) -> reqwest::Response {
    app.http
        .request(method, app.url(at))
        .bearer_auth(bearer)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("request")
}

/// Asserts a 422 `invalid_input` whose message names `field`.
async fn assert_refused(resp: reqwest::Response, field: &str) {
    assert_eq!(resp.status(), 422, "status");
    let body: Value = resp.json().await.expect("error body");
    assert_eq!(body["code"], "invalid_input", "{body}");
    let message = body["message"].as_str().expect("message");
    assert!(message.contains(field), "{message} should name {field}");
    assert!(
        body["request_id"].as_str().is_some_and(|r| !r.is_empty()),
        "{body}"
    );
}

async fn items(app: &TestApp, at: &str, bearer: &str) -> Vec<Value> {
    let (s, page) = app.call(Method::GET, at, bearer, None).await;
    assert_eq!(s, 200, "{page}");
    page["items"].as_array().expect("items").clone()
}

kiln_jobs::per_backend!(
    api_key_names_with_nul_are_refused_with_422,
    [sqlite, postgres]
);
async fn api_key_names_with_nul_are_refused_with_422(backend: Backend) {
    let app = api(backend).await;
    let (_, token) = app.account_token("keys@example.com", Role::User).await;
    let resp = send_raw_json(
        &app,
        Method::POST,
        "/v1/api-keys",
        &token,
        r#"{"name": "ci\u0000key", "scopes": ["media:read"]}"#,
    )
    .await;
    assert_refused(resp, "`name`").await;
    assert!(items(&app, "/v1/api-keys", &token).await.is_empty());
    app.stop().await;
}

kiln_jobs::per_backend!(text_fields_refuse_numbers_and_booleans, [sqlite]);
/// poem-openapi would read `false` or `12` as the text "false" or "12": a
/// request body's text fields take strings only, as the document says.
async fn text_fields_refuse_numbers_and_booleans(backend: Backend) {
    let app = api(backend).await;
    let (_, token) = app.account_token("types@example.com", Role::User).await;
    let cases = [
        (
            "/v1/api-keys",
            json!({"name": 12, "scopes": ["media:read"]}),
        ),
        (
            "/v1/devices",
            json!({"token": "0123456789abcdef0123", "platform": "ios", "app_version": false}),
        ),
        (
            "/v1/webhooks",
            json!({"url": "https://example.com/hook", "events": ["job.dead"], "description": 7}),
        ),
    ];
    for (at, body) in cases {
        let (status, answer) = app.call(Method::POST, at, &token, Some(&body)).await;
        assert_eq!(status, 400, "{at} {body}: {answer}");
        assert_eq!(answer["code"], "bad_request", "{answer}");
    }
    assert!(items(&app, "/v1/api-keys", &token).await.is_empty());
    assert!(items(&app, "/v1/devices", &token).await.is_empty());
    assert!(items(&app, "/v1/webhooks", &token).await.is_empty());
    app.stop().await;
}

kiln_jobs::per_backend!(
    an_escaped_backslash_before_u0000_is_not_a_nul,
    [sqlite, postgres]
);
async fn an_escaped_backslash_before_u0000_is_not_a_nul(backend: Backend) {
    let app = api(backend).await;
    let (_, token) = app.account_token("keys@example.com", Role::User).await;
    let resp = send_raw_json(
        &app,
        Method::POST,
        "/v1/api-keys",
        &token,
        r#"{"name": "ci\\u0000key", "scopes": ["media:read"]}"#,
    )
    .await;
    assert_eq!(resp.status(), 201);
    let keys = items(&app, "/v1/api-keys", &token).await;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["name"], r"ci\u0000key");
    app.stop().await;
}

kiln_jobs::per_backend!(
    webhook_descriptions_with_nul_are_refused_with_422,
    [sqlite, postgres]
);
async fn webhook_descriptions_with_nul_are_refused_with_422(backend: Backend) {
    let app = api(backend).await;
    let (_, token) = app.account_token("hooks@example.com", Role::User).await;
    let resp = send_raw_json(
        &app,
        Method::POST,
        "/v1/webhooks",
        &token,
        r#"{"url": "https://hooks.example.com/k", "events": ["job.succeeded"],
            "description": "nul \u0000 here"}"#,
    )
    .await;
    assert_refused(resp, "`description`").await;
    assert!(items(&app, "/v1/webhooks", &token).await.is_empty());
    // A change to an existing endpoint is refused the same way.
    let (s, hook) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &token,
            Some(&json!({"url": "https://hooks.example.com/k", "events": ["job.succeeded"]})),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let id = hook["id"].as_str().expect("id");
    let resp = send_raw_json(
        &app,
        Method::PATCH,
        &format!("/v1/webhooks/{id}"),
        &token,
        r#"{"description": "\u0000"}"#,
    )
    .await;
    assert_refused(resp, "`description`").await;
    let (_, got) = app
        .call(Method::GET, &format!("/v1/webhooks/{id}"), &token, None)
        .await;
    assert_eq!(got["description"], Value::Null, "{got}");
    app.stop().await;
}

kiln_jobs::per_backend!(
    device_fields_with_nul_are_refused_with_422,
    [sqlite, postgres]
);
async fn device_fields_with_nul_are_refused_with_422(backend: Backend) {
    let app = api(backend).await;
    let (_, token) = app.account_token("phone@example.com", Role::User).await;
    for (body, field) in [
        (
            r#"{"token": "fcm-token-0123456789\u0000", "platform": "android"}"#,
            "`token`",
        ),
        (
            r#"{"token": "fcm-token-0123456789abc", "platform": "ios", "app_version": "1.0\u0000"}"#,
            "`app_version`",
        ),
    ] {
        let resp = send_raw_json(&app, Method::POST, "/v1/devices", &token, body).await;
        assert_refused(resp, field).await;
    }
    assert!(items(&app, "/v1/devices", &token).await.is_empty());
    app.stop().await;
}

kiln_jobs::per_backend!(
    notification_params_with_nul_are_refused_with_422,
    [sqlite, postgres]
);
async fn notification_params_with_nul_are_refused_with_422(backend: Backend) {
    let app = api(backend).await;
    let (ada_id, ada) = app.account_token("ada@example.com", Role::User).await;
    let (_, operator) = app.account_token("ops@example.com", Role::Operator).await;
    let body = format!(
        r#"{{"user_id": "{ada_id}", "channels": ["email"], "template": "welcome",
            "params": {{"display_name": "Ada\u0000"}}}}"#
    );
    let resp = send_raw_json(&app, Method::POST, "/v1/notifications", &operator, &body).await;
    assert_refused(resp, "`params.display_name`").await;
    assert!(items(&app, "/v1/notifications", &ada).await.is_empty());
    let jobs = items(&app, "/v1/jobs", &operator).await;
    assert!(jobs.is_empty(), "{jobs:?}");
    app.stop().await;
}

kiln_jobs::per_backend!(
    query_and_path_parameters_with_nul_are_refused_with_422,
    [sqlite, postgres]
);
async fn query_and_path_parameters_with_nul_are_refused_with_422(backend: Backend) {
    let app = api(backend).await;
    let (_, token) = app.account_token("reader@example.com", Role::User).await;
    let resp = app
        .send_as(Method::GET, "/v1/jobs?kind=noop%00", &token, None)
        .await;
    assert_refused(resp, "`kind`").await;
    let media = Uuid::now_v7();
    let resp = app
        .send_as(
            Method::GET,
            &format!("/v1/media/{media}/variants/thumb%00.webp"),
            &token,
            None,
        )
        .await;
    assert_refused(resp, "URL path").await;
    // The same query without the NUL is answered normally.
    let resp = app
        .send_as(Method::GET, "/v1/jobs?kind=noop", &token, None)
        .await;
    assert_eq!(resp.status(), 200);
    app.stop().await;
}

kiln_jobs::per_backend!(
    multipart_text_fields_with_nul_are_refused_with_422,
    [sqlite, postgres]
);
async fn multipart_text_fields_with_nul_are_refused_with_422(backend: Backend) {
    let app = api(backend).await;
    let (_, token) = app.account_token("uploader@example.com", Role::User).await;
    let png = crate::helpers::fixture("gray_320x240.jpg");
    let form = reqwest::multipart::Form::new().text("note", "a\0b").part(
        "file",
        reqwest::multipart::Part::bytes(png).file_name("gray.jpg"),
    );
    let resp = app
        .http
        .post(app.url("/v1/media"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_refused(resp, "`note`").await;
    let jobs = items(&app, "/v1/jobs", &token).await;
    assert!(jobs.is_empty(), "nothing was queued: {jobs:?}");
    app.stop().await;
}

kiln_jobs::per_backend!(unstorable_text_from_the_database_maps_to_422, [postgres]);
async fn unstorable_text_from_the_database_maps_to_422(backend: Backend) {
    let app = api(backend).await;
    let kiln_jobs::db::Db::Postgres(pool) = &app.ctx.app.db else {
        panic!("a PostgreSQL test runs on PostgreSQL");
    };
    for sql in ["SELECT $1::text", "SELECT $1::jsonb"] {
        let value = if sql.ends_with("jsonb") {
            r#"{"a": "\u0000"}"#
        } else {
            "a\0b"
        };
        let err = sqlx::query(sql)
            .bind(value)
            .execute(pool)
            .await
            .expect_err("PostgreSQL refuses NUL");
        let api_err = kiln_api::error::ApiError::from(err);
        assert!(
            matches!(&api_err, kiln_api::error::ApiError::Unprocessable(b) if b.0.code == "invalid_input"),
            "{sql}: {api_err:?}"
        );
    }
    app.stop().await;
}

kiln_jobs::per_backend!(
    a_receiver_answering_nul_is_delivered_after_one_post,
    [sqlite, postgres]
);
async fn a_receiver_answering_nul_is_delivered_after_one_post(backend: Backend) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/nul"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"ok\0thanks\xff".to_vec()))
        .mount(&receiver)
        .await;
    let app = spawn_app_with(backend, true, |c| {
        c.webhooks.allow_private_targets = true;
        c.queues.webhooks.backoff_base_ms = 50;
        c.queues.webhooks.backoff_max_ms = 100;
        c.queues.webhooks.max_attempts = 3;
    })
    .await;
    let (_, token) = app.account_token("hooks@example.com", Role::User).await;
    let url = format!("{}/nul", receiver.uri());
    let (s, hook) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &token,
            Some(&json!({"url": url, "events": ["job.succeeded"]})),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let id = hook["id"].as_str().expect("id");
    let (s, test) = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{id}/test"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, 202, "{test}");
    let job = app
        .wait_job_as(&token, test["job_id"].as_str().expect("job id"))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let log = items(&app, &format!("/v1/webhooks/{id}/deliveries"), &token).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["status"], "delivered", "{log:?}");
    assert_eq!(log[0]["attempts"], 1, "{log:?}");
    assert_eq!(
        log[0]["response_body"], "ok\u{FFFD}thanks\u{FFFD}",
        "{log:?}"
    );
    let posts = receiver.received_requests().await.expect("recording");
    assert_eq!(posts.len(), 1, "one POST");
    app.stop().await;
}

/// Sends `n` requests at once and returns their statuses and bodies.
async fn parallel(
    app: &Arc<TestApp>,
    n: usize,
    request: impl Fn(usize) -> (String, Value),
    bearer: &str,
) -> Vec<(u16, Value)> {
    let calls = (0..n).map(|i| {
        let (at, body) = request(i);
        let (app, bearer) = (app.clone(), bearer.to_owned());
        tokio::spawn(async move { app.call(Method::POST, &at, &bearer, Some(&body)).await })
    });
    futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("join"))
        .collect()
}

/// Exactly `room` of the answers are `created`; the rest are 409 `code`.
fn assert_exactly(answers: &[(u16, Value)], room: usize, created: u16, code: &str) {
    let ok = answers.iter().filter(|(s, _)| *s == created).count();
    assert_eq!(ok, room, "{answers:?}");
    for (s, body) in answers.iter().filter(|(s, _)| *s != created) {
        assert_eq!(*s, 409, "{body}");
        assert_eq!(body["code"], code, "{body}");
    }
}

kiln_jobs::per_backend!(
    parallel_webhook_creations_stop_at_the_cap,
    [sqlite, postgres]
);
async fn parallel_webhook_creations_stop_at_the_cap(backend: Backend) {
    let app = Arc::new(spawn_app_with(backend, false, |c| c.webhooks.max_per_user = 3).await);
    let (_, token) = app.account_token("hooks@example.com", Role::User).await;
    let answers = parallel(
        &app,
        20,
        |i| {
            let url = format!("https://hooks.example.com/{i}");
            (
                "/v1/webhooks".into(),
                json!({"url": url, "events": ["job.succeeded"]}),
            )
        },
        &token,
    )
    .await;
    assert_exactly(&answers, 3, 201, "too_many_webhooks");
    assert_eq!(items(&app, "/v1/webhooks", &token).await.len(), 3);
    Arc::into_inner(app).expect("one owner").stop().await;
}

/// Live API keys per user (`MAX_LIVE_KEYS` in kiln-jobs' identity module).
const API_KEY_CAP: usize = 50;

kiln_jobs::per_backend!(
    parallel_api_key_creations_stop_at_the_cap,
    [sqlite, postgres]
);
async fn parallel_api_key_creations_stop_at_the_cap(backend: Backend) {
    let app = Arc::new(api(backend).await);
    let (user, token) = app.account_token("keys@example.com", Role::User).await;
    let user: Uuid = user.parse().expect("uuid");
    let room = 3;
    for i in 0..API_KEY_CAP - room {
        app.ctx
            .app
            .identity
            .create_key(
                user,
                Role::User,
                &format!("old {i}"),
                &[kiln_api::Scope::MediaRead],
                None,
                &AuditEntry::default(),
            )
            .await
            .expect("create key");
    }
    let answers = parallel(
        &app,
        20,
        |i| {
            let body = json!({"name": format!("new {i}"), "scopes": ["media:read"]});
            ("/v1/api-keys".into(), body)
        },
        &token,
    )
    .await;
    assert_exactly(&answers, room, 201, "conflict");
    assert_eq!(items(&app, "/v1/api-keys", &token).await.len(), API_KEY_CAP);
    Arc::into_inner(app).expect("one owner").stop().await;
}

/// Devices per user (`MAX_DEVICES_PER_USER` in kiln-api's devices endpoint).
const DEVICE_CAP: usize = 50;

kiln_jobs::per_backend!(
    parallel_device_registrations_stop_at_the_cap,
    [sqlite, postgres]
);
async fn parallel_device_registrations_stop_at_the_cap(backend: Backend) {
    let app = Arc::new(api(backend).await);
    let (user, token) = app.account_token("phone@example.com", Role::User).await;
    let user: Uuid = user.parse().expect("uuid");
    let room = 3;
    for i in 0..DEVICE_CAP - room {
        devices::upsert(
            &app.ctx.app.db,
            &devices::Register {
                id: Uuid::now_v7(),
                user_id: user,
                token: &format!("old-token-{i:08}"),
                platform: devices::Platform::Android,
                app_version: None,
                now: Utc::now(),
            },
        )
        .await
        .expect("register");
    }
    let answers = parallel(
        &app,
        20,
        |i| {
            let body = json!({"token": format!("new-token-{i:08}"), "platform": "web"});
            ("/v1/devices".into(), body)
        },
        &token,
    )
    .await;
    assert_exactly(&answers, room, 201, "too_many_devices");
    assert_eq!(items(&app, "/v1/devices", &token).await.len(), DEVICE_CAP);
    // At the cap, re-registering a token the user already has still works.
    let (s, again) = app
        .call(
            Method::POST,
            "/v1/devices",
            &token,
            Some(&json!({"token": "old-token-00000000", "platform": "ios"})),
        )
        .await;
    assert_eq!(s, 200, "{again}");
    Arc::into_inner(app).expect("one owner").stop().await;
}

kiln_jobs::per_backend!(
    readiness_does_not_show_dependency_errors,
    [sqlite, postgres]
);
async fn readiness_does_not_show_dependency_errors(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let objects = dir.path().join("secret-bucket-7f3a9c");
    let url = objects.to_string_lossy().into_owned();
    let app = spawn_app_with(backend, false, |c| c.storage.url = Some(url)).await;
    let resp = app
        .http
        .get(app.url("/health/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(resp.status(), 200);
    // The storage folder is replaced by a file: every object lookup fails
    // with an error that names the path.
    std::fs::remove_dir_all(&objects).expect("remove the folder");
    std::fs::write(&objects, b"not a folder").expect("write a file");
    let resp = app
        .http
        .get(app.url("/health/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(resp.status(), 503);
    let text = resp.text().await.expect("body");
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body["code"], "degraded", "{body}");
    let storage = body["details"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "storage")
        .expect("storage check")
        .clone();
    assert_eq!(storage["status"], "down", "{body}");
    assert!(!text.contains("secret-bucket-7f3a9c"), "{text}");
    assert!(!text.contains(&*dir.path().to_string_lossy()), "{text}");
    for check in body["details"]["checks"].as_array().expect("checks") {
        let mut keys: Vec<&str> = check
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["latency_ms", "name", "status"], "{check}");
    }
    app.stop().await;
}
