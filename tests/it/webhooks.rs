//! Webhooks end to end: endpoints over the API, job and media events fanned
//! out to a local receiver (wiremock) whose signatures are checked by an
//! independent HMAC, retries, auto-disable, the delivery log and SSRF refusal.

use std::time::Duration;

use kiln_api::Role;
use kiln_jobs::{
    db::DbKind,
    ledger::NewJob,
    noop::NoopV1,
    testing::{Backend, standard_webhook_signature_valid},
};
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path},
};

use crate::helpers::{TestApp, error_code, fixture, spawn_app_with};

/// A webhook-friendly app: private targets allowed (the receiver is local)
/// and fast retries.
async fn spawn(backend: impl Into<kiln_jobs::testing::Backend>, disable_after: u32) -> TestApp {
    spawn_app_with(backend, true, move |c| {
        c.webhooks.allow_private_targets = true;
        c.webhooks.disable_after_failures = disable_after;
        c.webhooks.timeout_secs = 2;
        c.queues.webhooks.backoff_base_ms = 50;
        c.queues.webhooks.backoff_max_ms = 200;
        c.queues.webhooks.max_attempts = 6;
    })
    .await
}

async fn create_hook(app: &TestApp, token: &str, url: &str, events: Value) -> (String, String) {
    let (s, hook) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            token,
            Some(&json!({"url": url, "events": events, "description": "test receiver"})),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let secret = hook["secret"].as_str().expect("secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    (
        hook["id"].as_str().expect("id").to_owned(),
        secret.to_owned(),
    )
}

/// Creates an endpoint at `url`, sends it a test event and waits until that
/// delivery settles; returns the endpoint id, its secret, the test answer and
/// the delivery log.
async fn tested_endpoint(
    app: &TestApp,
    token: &str,
    url: &str,
) -> (String, String, Value, Vec<Value>) {
    let (hook, secret) = create_hook(app, token, url, json!(["job.succeeded"])).await;
    let (s, test) = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{hook}/test"),
            token,
            None,
        )
        .await;
    assert_eq!(s, 202, "{test}");
    let log = settled_log(app, token, &hook).await;
    (hook, secret, test, log)
}

/// Makes the receiver answer the first POST to `at` with `first` and every
/// later one with `then`.
async fn answer_once_then(
    server: &MockServer,
    at: &str,
    first: ResponseTemplate,
    then: ResponseTemplate,
) {
    Mock::given(method("POST"))
        .and(path(at))
        .respond_with(first)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(at))
        .respond_with(then)
        .with_priority(2)
        .mount(server)
        .await;
}

/// Requests the receiver got on `path`.
async fn requests(server: &MockServer, at: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .expect("recording")
        .into_iter()
        .filter(|r| r.url.path() == at)
        .collect()
}

/// Waits until the receiver got `n` requests on `path`.
pub(crate) async fn wait_requests(server: &MockServer, at: &str, n: usize) -> Vec<Request> {
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = requests(server, at).await;
        if got.len() >= n {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "only {} of {n} requests",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until the endpoint's newest delivery reaches a status other than
/// pending/retrying, and returns the whole log.
async fn settled_log(app: &TestApp, token: &str, hook: &str) -> Vec<Value> {
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (s, page) = app
            .call(
                Method::GET,
                &format!("/v1/webhooks/{hook}/deliveries"),
                token,
                None,
            )
            .await;
        assert_eq!(s, 200, "{page}");
        let items = page["items"].as_array().expect("items").clone();
        if !items.is_empty()
            && items
                .iter()
                .all(|d| !matches!(d["status"].as_str(), Some("pending" | "retrying")))
        {
            return items;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "deliveries never settled: {page}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub(crate) fn header<'a>(r: &'a Request, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("header {name}"))
}

pub(crate) fn assert_signed(r: &Request, secret: &str) {
    assert!(
        standard_webhook_signature_valid(
            secret,
            header(r, "webhook-id"),
            header(r, "webhook-timestamp"),
            header(r, "webhook-signature"),
            &r.body,
        ),
        "signature does not verify"
    );
}

kiln_jobs::per_backend!(
    job_and_media_events_are_delivered_signed_and_logged,
    [sqlite, postgres, redis]
);
async fn job_and_media_events_are_delivered_signed_and_logged(backend: Backend) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let app = spawn(backend, 20).await;
    let (user_id, token) = app.account_token("hooks@example.com", Role::User).await;
    // A job finished before any endpoint exists: the worker caches "no
    // endpoints" for this user, and creating one must invalidate that.
    let early = app
        .ctx
        .app
        .ledger
        .enqueue(NewJob::new(&user_id, NoopV1::default()))
        .await
        .expect("enqueue");
    app.wait_job_as(&token, &early.job().id.to_string()).await;
    let (jobs_hook, jobs_secret) = create_hook(
        &app,
        &token,
        &format!("{}/jobs", receiver.uri()),
        json!(["job.succeeded", "job.failed"]),
    )
    .await;
    let (_, media_secret) = create_hook(
        &app,
        &token,
        &format!("{}/media", receiver.uri()),
        json!(["media.ready"]),
    )
    .await;
    let (_, listed) = app.call(Method::GET, "/v1/webhooks", &token, None).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(2));
    assert!(
        !listed.to_string().contains("whsec_"),
        "secrets are shown once: {listed}"
    );

    // A job of this user succeeds, another fails: one event each.
    let ok = app
        .ctx
        .app
        .ledger
        .enqueue(NewJob::new(&user_id, NoopV1::default()))
        .await
        .expect("enqueue");
    let failing = NoopV1 {
        abort: true,
        ..NoopV1::default()
    };
    let bad = app
        .ctx
        .app
        .ledger
        .enqueue(NewJob::new(&user_id, failing))
        .await
        .expect("enqueue");
    // The ledger write and the deliveries commit together: once the job
    // reads `succeeded`, its delivery is already in the log.
    app.wait_job_as(&token, &ok.job().id.to_string()).await;
    let (_, log) = app
        .call(
            Method::GET,
            &format!("/v1/webhooks/{jobs_hook}/deliveries"),
            &token,
            None,
        )
        .await;
    assert!(
        log["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|d| d["payload"]["data"]["job_id"] == ok.job().id.to_string()),
        "{backend:?}: {log}"
    );
    let got = wait_requests(&receiver, "/jobs", 2).await;
    let mut seen = Vec::new();
    for r in &got {
        assert_signed(r, &jobs_secret);
        assert_eq!(header(r, "content-type"), "application/json");
        assert!(header(r, "webhook-id").starts_with("msg_"));
        let body: Value = serde_json::from_slice(&r.body).expect("json body");
        seen.push((
            body["type"].as_str().expect("type").to_owned(),
            body["data"]["job_id"].as_str().expect("job id").to_owned(),
        ));
        assert!(body["timestamp"].is_string());
    }
    seen.sort();
    let mut want = vec![
        ("job.failed".to_owned(), bad.job().id.to_string()),
        ("job.succeeded".to_owned(), ok.job().id.to_string()),
    ];
    want.sort();
    assert_eq!(seen, want, "{backend:?}");

    // The delivery log matches what the receiver saw.
    let log = settled_log(&app, &token, &jobs_hook).await;
    assert_eq!(log.len(), 2);
    for d in &log {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(
            (d["attempts"].as_u64(), d["response_status"].as_u64()),
            (Some(1), Some(204))
        );
        assert!(
            got.iter()
                .any(|r| header(r, "webhook-id") == d["message_id"])
        );
    }

    // An upload of this user: media.ready on the other endpoint only.
    let resp = app
        .http
        .post(app.url("/v1/media"))
        .bearer_auth(&token)
        .multipart(reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(fixture("photo_1200x900.jpg")).file_name("p.jpg"),
        ))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 202);
    let upload: Value = resp.json().await.expect("json");
    let media = wait_requests(&receiver, "/media", 1).await;
    assert_signed(&media[0], &media_secret);
    let event: Value = serde_json::from_slice(&media[0].body).expect("json");
    assert_eq!(event["type"], "media.ready");
    assert_eq!(event["data"]["media_id"], upload["media_id"]);
    assert!(event["data"]["result"].is_object(), "{event}");
    // The image job's own job.succeeded went to the jobs endpoint too.
    let jobs = wait_requests(&receiver, "/jobs", 3).await;
    assert_eq!(jobs.len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn failed_deliveries_are_retried_then_the_endpoint_is_disabled() {
    let receiver = MockServer::start().await;
    // /flaky: 500 once, then 200. /down: always 503. /gone: 410 (not retried).
    answer_once_then(
        &receiver,
        "/flaky",
        ResponseTemplate::new(500).set_body_string("try later"),
        ResponseTemplate::new(200).set_body_string("thanks"),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/rotating"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    answer_once_then(
        &receiver,
        "/busy",
        ResponseTemplate::new(429).insert_header("Retry-After", "2"),
        ResponseTemplate::new(200),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/down"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/gone"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&receiver)
        .await;
    let app = spawn(DbKind::Postgres, 3).await;
    let (_, token) = app.account_token("retries@example.com", Role::User).await;

    // Retried after the 500, delivered on the second attempt.
    let (_, secret, test, log) =
        tested_endpoint(&app, &token, &format!("{}/flaky", receiver.uri())).await;
    assert_eq!(log[0]["status"], "delivered", "{log:?}");
    assert_eq!(log[0]["attempts"], 2);
    assert_eq!(log[0]["event_type"], "webhook.test");
    assert_eq!(log[0]["id"], test["delivery_id"]);
    let got = requests(&receiver, "/flaky").await;
    assert_eq!(got.len(), 2);
    assert_eq!(
        header(&got[0], "webhook-id"),
        header(&got[1], "webhook-id"),
        "one id for every attempt"
    );
    assert_eq!(got[0].body, got[1].body, "the same bytes every attempt");
    for r in &got {
        assert_signed(r, &secret);
    }

    // A rotated secret: the old one keeps signing beside the new one, so a
    // receiver holding either verifies.
    let (rotating, old_secret, _, _) =
        tested_endpoint(&app, &token, &format!("{}/rotating", receiver.uri())).await;
    let (s, rotated) = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{rotating}/rotate-secret"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().expect("secret").to_owned();
    assert!(new_secret.starts_with("whsec_") && new_secret != old_secret);
    assert!(
        rotated["previous_secret_expires_at"].is_string(),
        "{rotated}"
    );
    app.call(
        Method::POST,
        &format!("/v1/webhooks/{rotating}/test"),
        &token,
        None,
    )
    .await;
    let got = wait_requests(&receiver, "/rotating", 2).await;
    let last = &got[1];
    assert_eq!(header(last, "webhook-signature").split(' ').count(), 2);
    assert_signed(last, &new_secret);
    assert_signed(last, &old_secret);
    assert_eq!(header(&got[0], "webhook-signature").split(' ').count(), 1);

    // 429 with Retry-After: the retry waits that long, not the 50 ms backoff.
    let (_, _, _, log) = tested_endpoint(&app, &token, &format!("{}/busy", receiver.uri())).await;
    assert_eq!(
        (log[0]["status"].as_str(), log[0]["attempts"].as_u64()),
        (Some("delivered"), Some(2)),
        "{log:?}"
    );
    let stamps: Vec<i64> = requests(&receiver, "/busy")
        .await
        .iter()
        .map(|r| header(r, "webhook-timestamp").parse().expect("timestamp"))
        .collect();
    assert_eq!(stamps.len(), 2);
    assert!(stamps[1] - stamps[0] >= 2, "retried after {stamps:?}");

    // A 4xx other than 408/429 is not retried.
    let (_, _, _, log) = tested_endpoint(&app, &token, &format!("{}/gone", receiver.uri())).await;
    assert_eq!(
        (log[0]["status"].as_str(), log[0]["attempts"].as_u64()),
        (Some("failed"), Some(1)),
        "{log:?}"
    );
    assert_eq!(log[0]["response_status"], 410);

    // Always down: disabled after 3 failed attempts in a row.
    let (down, _, _, log) =
        tested_endpoint(&app, &token, &format!("{}/down", receiver.uri())).await;
    assert_eq!(
        (log[0]["status"].as_str(), log[0]["attempts"].as_u64()),
        (Some("failed"), Some(3)),
        "{log:?}"
    );
    assert_eq!(log[0]["response_status"], 503);
    assert_eq!(requests(&receiver, "/down").await.len(), 3);
    let (_, hook) = app
        .call(Method::GET, &format!("/v1/webhooks/{down}"), &token, None)
        .await;
    assert_eq!(hook["enabled"], false, "{hook}");
    assert_eq!(hook["consecutive_failures"], 3);
    assert!(
        hook["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.contains("3 consecutive"))
    );
    let resp = app
        .send_as(
            Method::POST,
            &format!("/v1/webhooks/{down}/test"),
            &token,
            None,
        )
        .await;
    assert_eq!(error_code(resp, 409).await, "webhook_disabled");

    // Its owner enables it again: the run starts over.
    let (s, hook) = app
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{down}"),
            &token,
            Some(&json!({"enabled": true})),
        )
        .await;
    assert_eq!(s, 200, "{hook}");
    assert_eq!(
        (
            hook["enabled"].as_bool(),
            hook["consecutive_failures"].as_i64()
        ),
        (Some(true), Some(0))
    );
    assert!(hook["disabled_reason"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn private_targets_are_refused_and_endpoints_are_private_to_their_owner() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    // Production settings: private targets refused.
    let app = spawn_app_with(DbKind::Sqlite, true, |c| {
        c.queues.webhooks.backoff_base_ms = 50;
        c.queues.webhooks.max_attempts = 2;
    })
    .await;
    let (_, token) = app.account_token("ssrf@example.com", Role::User).await;
    let port = receiver.address().port();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://[::1]/".to_owned(),
        "http://10.0.0.8/".to_owned(),
    ] {
        let body = json!({"url": url, "events": ["job.succeeded"]});
        let resp = app
            .send_as(Method::POST, "/v1/webhooks", &token, Some(&body))
            .await;
        assert_eq!(error_code(resp, 422).await, "private_target", "{url}");
    }
    for (url, status, code) in [
        ("ftp://example.com/", 422, "invalid_url"),
        ("https://user:pw@example.com/", 422, "invalid_url"),
        ("not a url", 422, "invalid_url"),
    ] {
        let body = json!({"url": url, "events": ["job.succeeded"]});
        let resp = app
            .send_as(Method::POST, "/v1/webhooks", &token, Some(&body))
            .await;
        assert_eq!(error_code(resp, status).await, code, "{url}");
    }
    let bad_event = json!({"url": "https://example.com/", "events": ["job.exploded"]});
    let resp = app
        .send_as(Method::POST, "/v1/webhooks", &token, Some(&bad_event))
        .await;
    assert_eq!(error_code(resp, 400).await, "bad_request");

    // A name is accepted, but what it resolves to is checked at delivery:
    // localhost is refused there, and nothing reaches the receiver.
    let (hook, _, _, log) =
        tested_endpoint(&app, &token, &format!("http://localhost:{port}/")).await;
    assert_eq!(
        (log[0]["status"].as_str(), log[0]["attempts"].as_u64()),
        (Some("failed"), Some(1)),
        "{log:?}"
    );
    assert!(
        log[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("not a public address")),
        "{log:?}"
    );
    assert!(
        receiver
            .received_requests()
            .await
            .expect("recording")
            .is_empty()
    );

    // Another user sees none of it.
    let (_, other) = app.account_token("other@example.com", Role::User).await;
    for (m, p) in [
        (Method::GET, format!("/v1/webhooks/{hook}")),
        (Method::GET, format!("/v1/webhooks/{hook}/deliveries")),
        (Method::POST, format!("/v1/webhooks/{hook}/test")),
        (Method::DELETE, format!("/v1/webhooks/{hook}")),
    ] {
        let resp = app.send_as(m, &p, &other, None).await;
        assert_eq!(error_code(resp, 404).await, "not_found", "{p}");
    }
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/webhooks/{hook}"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, 204);
    app.stop().await;
}
