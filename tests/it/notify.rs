//! Notifications end to end: devices, `POST /v1/notifications` through the
//! queue to a real SMTP conversation with a local sink and to a fake FCM
//! (wiremock) reached through a real service-account token exchange, the
//! history, idempotency and redelivery.

use std::time::Duration;

use kiln_api::Role;
use kiln_jobs::{
    JobCtx, QueueName,
    db::DbKind,
    testing::{
        Backend,
        smtp_sink::{Script, SmtpSink},
    },
};
use kiln_worker::registry::Payload;
use mail_parser::MessageParser;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{bearer_token, body_partial_json, method, path},
};

use crate::helpers::{TestApp, error_code, spawn_app_with};

const FCM_PROJECT: &str = "demo-project";
const SEND_PATH: &str = "/v1/projects/demo-project/messages:send";
const GOOD_TOKEN: &str = "device-token-good-0123456789";
const DEAD_TOKEN: &str = "device-token-dead-0123456789";

/// A fake Google: the OAuth2 token endpoint and FCM's send endpoint, which
/// accepts `GOOD_TOKEN` and answers UNREGISTERED for `DEAD_TOKEN`.
async fn fake_fcm() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "fake-access-token",
            "expires_in": 3600,
            "token_type": "Bearer",
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .and(bearer_token("fake-access-token"))
        .and(body_partial_json(json!({"message": {"token": GOOD_TOKEN}})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"name": "projects/demo-project/messages/0:1"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .and(bearer_token("fake-access-token"))
        .and(body_partial_json(json!({"message": {"token": DEAD_TOKEN}})))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "error": {
                "code": 404,
                "message": "Requested entity was not found.",
                "status": "NOT_FOUND",
                "details": [{
                    "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                    "errorCode": "UNREGISTERED"
                }]
            }
        })))
        .mount(&server)
        .await;
    server
}

/// Writes a service-account key file whose token URI is the fake's.
fn service_account(dir: &std::path::Path, fcm: &MockServer) -> std::path::PathBuf {
    let key = std::fs::read_to_string(format!(
        "{}/tests/fixtures/fcm/service-account-key.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture key");
    let file = dir.join("service-account.json");
    let json = json!({
        "type": "service_account",
        "project_id": FCM_PROJECT,
        "private_key_id": "test-key",
        "private_key": key,
        "client_email": "kiln-test@demo-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": format!("{}/token", fcm.uri()),
    });
    std::fs::write(&file, json.to_string()).expect("write service account");
    file
}

async fn spawn_notifying(
    backend: impl Into<kiln_jobs::testing::Backend>,
    smtp: &SmtpSink,
    fcm: &MockServer,
    keys_dir: &std::path::Path,
) -> TestApp {
    let sa = service_account(keys_dir, fcm);
    let (smtp_url, fcm_url) = (smtp.url(), fcm.uri());
    spawn_app_with(backend, true, move |c| {
        c.mail.smtp_url = Some(smtp_url.into());
        c.mail.from = "Kiln <noreply@kiln.test>".into();
        c.push.fcm_project_id = Some(FCM_PROJECT.into());
        c.push.fcm_credentials_file = Some(sa);
        c.push.fcm_base_url = fcm_url;
    })
    .await
}

/// Polls the caller's history until every delivery has ended.
async fn settled_history(app: &TestApp, token: &str, expect: usize) -> Vec<Value> {
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, page) = app
            .call(Method::GET, "/v1/notifications", token, None)
            .await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().expect("items").clone();
        let ended = items
            .iter()
            .filter(|n| {
                !matches!(
                    n["status"].as_str(),
                    Some("queued" | "sending" | "retrying")
                )
            })
            .count();
        if items.len() == expect && ended == expect {
            return items;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "notifications never settled: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

kiln_jobs::per_backend!(devices_are_registered_moved_and_removed, [sqlite, postgres]);
async fn devices_are_registered_moved_and_removed(kind: Backend) {
    let app = spawn_app_with(kind, false, |_| {}).await;
    let (_, alice) = app.account_token("alice@example.com", Role::User).await;
    let (_, bob) = app.account_token("bob@example.com", Role::User).await;
    let device = json!({"token": GOOD_TOKEN, "platform": "android", "app_version": "1.2.3"});
    let (s, first) = app
        .call(Method::POST, "/v1/devices", &alice, Some(&device))
        .await;
    assert_eq!(s, 201, "{kind:?} {first}");
    assert_eq!(first["token_hint"], "23456789");
    assert_eq!(first["active"], true);
    assert!(first.get("token").is_none(), "the token is not echoed");
    let (s, again) = app
        .call(Method::POST, "/v1/devices", &alice, Some(&device))
        .await;
    assert_eq!(s, 200, "re-registering updates: {again}");
    assert_eq!(again["id"], first["id"]);

    for bad in [
        json!({"token": "short", "platform": "android"}),
        json!({"token": GOOD_TOKEN, "platform": "symbian"}),
        json!({"token": "has whitespace inside 0123456789", "platform": "ios"}),
        json!({"token": GOOD_TOKEN, "platform": "ios", "extra": 1}),
    ] {
        let resp = app
            .send_as(Method::POST, "/v1/devices", &alice, Some(&bad))
            .await;
        let status = resp.status().as_u16();
        assert!(matches!(status, 400 | 422), "{bad}: {status}");
        error_code(resp, status).await;
    }

    // The same install signs in as Bob: the token moves to him.
    let (s, moved) = app
        .call(Method::POST, "/v1/devices", &bob, Some(&device))
        .await;
    assert_eq!((s, &moved["id"]), (200, &first["id"]));
    let (_, list) = app.call(Method::GET, "/v1/devices", &alice, None).await;
    assert_eq!(list["items"], json!([]), "{kind:?}");
    let path = format!("/v1/devices/{}", first["id"].as_str().expect("id"));
    let resp = app.send_as(Method::DELETE, &path, &alice, None).await;
    assert_eq!(error_code(resp, 404).await, "not_found");
    let (s, _) = app.call(Method::DELETE, &path, &bob, None).await;
    assert_eq!(s, 204);
    let (_, list) = app.call(Method::GET, "/v1/devices", &bob, None).await;
    assert_eq!(list["items"], json!([]));
    app.stop().await;
}

kiln_jobs::per_backend!(
    a_notification_is_emailed_and_pushed_once_and_recorded,
    [sqlite, postgres, redis]
);
async fn a_notification_is_emailed_and_pushed_once_and_recorded(backend: Backend) {
    let smtp = SmtpSink::start(Script::default()).await;
    let fcm = fake_fcm().await;
    let keys = tempfile::tempdir().expect("dir");
    let app = spawn_notifying(backend, &smtp, &fcm, keys.path()).await;
    let (_, operator) = app.account_token("ops@example.com", Role::Operator).await;
    let (ada_id, ada) = app.account_token("ada@example.com", Role::User).await;
    for token in [GOOD_TOKEN, DEAD_TOKEN] {
        let d = json!({"token": token, "platform": "ios"});
        let (s, _) = app.call(Method::POST, "/v1/devices", &ada, Some(&d)).await;
        assert_eq!(s, 201);
    }

    let job_id = "0190c0de-0000-7000-8000-00000000abcd";
    let body = json!({
        "user_id": ada_id,
        "channels": ["email", "push"],
        "template": "job_finished",
        "params": {
            "display_name": "Ada",
            "job_id": job_id,
            "kind": "image.process",
            "status": "succeeded",
            "job_url": format!("https://kiln.test/v1/jobs/{job_id}"),
        },
    });
    let send = |key: &'static str| {
        app.http
            .post(app.url("/v1/notifications"))
            .bearer_auth(&operator)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let resp = send("welcome-1").await.expect("send");
    assert_eq!(resp.status(), 202, "{backend:?}");
    let queued: Value = resp.json().await.expect("json");
    let items = queued["items"].as_array().expect("items");
    assert_eq!(items.len(), 3, "one email, one push per device: {queued}");
    assert!(items.iter().all(|n| n["job_id"].is_string()));

    let history = settled_history(&app, &ada, 3).await;
    let by = |channel: &str, status: &str| {
        history
            .iter()
            .filter(|n| n["channel"] == channel && n["status"] == status)
            .cloned()
            .collect::<Vec<_>>()
    };
    let email = by("email", "sent");
    assert_eq!(email.len(), 1, "{backend:?}: {history:?}");
    let pushed = by("push", "sent");
    assert_eq!(pushed.len(), 1, "{history:?}");
    assert_eq!(
        pushed[0]["provider_message_id"],
        "projects/demo-project/messages/0:1"
    );
    let dead = by("push", "failed");
    assert_eq!(dead.len(), 1, "{history:?}");
    assert!(
        dead[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("deactivated"))
    );

    // The real SMTP conversation: one message, both parts, and its
    // Message-ID is the one the history recorded.
    let received = smtp.received();
    assert_eq!(received.len(), 1, "{backend:?}");
    assert_eq!(received[0].rcpt_to, vec!["ada@example.com".to_owned()]);
    assert_eq!(received[0].mail_from, "noreply@kiln.test");
    let msg = MessageParser::default()
        .parse(&received[0].data)
        .expect("parse message");
    assert_eq!(msg.subject(), Some("Your image.process job succeeded"));
    let message_id = email[0]["provider_message_id"]
        .as_str()
        .expect("message id");
    assert_eq!(
        msg.message_id().map(|m| format!("<{m}>")).as_deref(),
        Some(message_id)
    );
    let text = msg.body_text(0).expect("text part");
    assert!(
        text.contains("Hello Ada") && text.contains(job_id),
        "{text}"
    );
    let html = msg.body_html(0).expect("html part");
    assert!(html.contains(&format!("<code>{job_id}</code>")), "{html}");

    // FCM: the push carried the rendered title and body, with the token
    // from the service-account exchange.
    let sends: Vec<Value> = fcm
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .filter(|r| r.url.path() == SEND_PATH)
        .map(|r| serde_json::from_slice(&r.body).expect("json"))
        .collect();
    assert_eq!(sends.len(), 2, "{sends:?}");
    let good = sends
        .iter()
        .find(|s| s["message"]["token"] == GOOD_TOKEN)
        .expect("good push");
    assert_eq!(
        good["message"]["notification"],
        json!({"title": "Your image.process job succeeded", "body": "image.process job succeeded"})
    );

    // The dead token's device is deactivated; the next notification skips it.
    let (_, devices) = app.call(Method::GET, "/v1/devices", &ada, None).await;
    let states: Vec<(bool, bool)> = devices["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| (d["active"] == true, d["last_error"].is_string()))
        .collect();
    assert_eq!(states.len(), 2);
    assert!(
        states.contains(&(false, true)) && states.contains(&(true, false)),
        "{devices}"
    );

    // The same key again: the first request's deliveries, nothing sent.
    let resp = send("welcome-1").await.expect("send");
    assert_eq!(resp.status(), 200);
    let repeat: Value = resp.json().await.expect("json");
    let ids = |v: &Value| {
        let mut ids: Vec<String> = v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|n| n["id"].as_str().expect("id").to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&repeat), ids(&queued));

    // A redelivered email job (a worker that died after the send, before
    // the ack) sends nothing: its row already holds the Message-ID.
    let email_job: uuid::Uuid = email[0]["job_id"]
        .as_str()
        .expect("job id")
        .parse()
        .expect("uuid");
    let run = app
        .ctx
        .app
        .ledger
        .get(email_job, None)
        .await
        .expect("ledger")
        .expect("job");
    let payload = Payload::decode(run.payload).expect("payload");
    assert!(matches!(payload, Payload::EmailSendV1(_)));
    let ctx = JobCtx {
        app: app.ctx.app.clone(),
        job_id: email_job,
        owner: run.owner,
        attempt: 2,
        deadline: chrono::Utc::now() + chrono::Duration::seconds(30),
    };
    let out = payload.run(&ctx).await.expect("redelivery is a success");
    assert_eq!(out["repeated"], true, "{out}");
    assert_eq!(out["status"], "sent", "{out}");
    // No wait needed: the handler has returned, so the redelivery is processed, and the sink
    // records a message before it acknowledges it. The history row still holds the first send.
    let after = settled_history(&app, &ada, 3).await;
    let email_after: Vec<&Value> = after.iter().filter(|n| n["channel"] == "email").collect();
    assert_eq!(email_after.len(), 1, "{after:?}");
    assert_eq!(email_after[0]["status"], "sent", "{after:?}");
    assert_eq!(
        email_after[0]["provider_message_id"], message_id,
        "{after:?}"
    );
    assert_eq!(smtp.received().len(), 1, "{backend:?}: sent once");

    let metrics = app.metrics().await;
    for line in [
        r#"kiln_notifications_total{channel="email",outcome="sent"} 1"#,
        r#"kiln_notifications_total{channel="push",outcome="sent"} 1"#,
        r#"kiln_notifications_total{channel="push",outcome="unregistered"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line}");
    }
    app.stop().await;
}

#[tokio::test]
async fn sending_is_for_operators_and_bad_requests_are_4xx() {
    let app = spawn_app_with(DbKind::Sqlite, false, |_| {}).await;
    let (_, operator) = app.account_token("ops@example.com", Role::Operator).await;
    let (ada_id, ada) = app.account_token("ada@example.com", Role::User).await;
    let ok = json!({"user_id": ada_id, "channels": ["email"], "template": "welcome"});
    let resp = app
        .send_as(Method::POST, "/v1/notifications", &ada, Some(&ok))
        .await;
    assert_eq!(error_code(resp, 403).await, "forbidden");

    let cases = [
        (
            json!({"user_id": ada_id, "channels": ["email"], "template": "job_finished"}),
            422,
            "invalid_params",
        ),
        (
            json!({"user_id": uuid::Uuid::now_v7(), "channels": ["email"], "template": "welcome"}),
            422,
            "unknown_user",
        ),
        (
            json!({"user_id": ada_id, "channels": ["email", "email"], "template": "welcome"}),
            400,
            "bad_request",
        ),
        (
            json!({"user_id": ada_id, "channels": ["email"], "template": "welcome", "params": [1]}),
            400,
            "bad_request",
        ),
        (
            json!({"user_id": ada_id, "channels": [], "template": "welcome"}),
            400,
            "bad_request",
        ),
        (
            json!({"user_id": ada_id, "channels": ["fax"], "template": "welcome"}),
            400,
            "bad_request",
        ),
        (
            json!({"user_id": ada_id, "channels": ["email"], "template": "nope"}),
            400,
            "bad_request",
        ),
    ];
    for (body, status, code) in cases {
        let resp = app
            .send_as(Method::POST, "/v1/notifications", &operator, Some(&body))
            .await;
        assert_eq!(error_code(resp, status).await, code, "{body}");
    }
    // Nothing was queued by the refused requests; the valid one is.
    let (s, _) = app.call(Method::GET, "/v1/notifications", &ada, None).await;
    assert_eq!(s, 200);
    assert_eq!(
        app.ctx
            .app
            .ledger
            .queue_stats(QueueName::Notifications)
            .await
            .expect("stats")
            .ready,
        0
    );
    let (s, queued) = app
        .call(Method::POST, "/v1/notifications", &operator, Some(&ok))
        .await;
    assert_eq!(s, 202, "{queued}");
    app.stop().await;
}

#[tokio::test]
async fn a_refused_recipient_fails_the_email_without_retrying() {
    let smtp = SmtpSink::start(Script::refusing(
        "gone@example.com",
        "550 5.1.1 no such user",
    ))
    .await;
    let url = smtp.url();
    let app = spawn_app_with(DbKind::Postgres, true, move |c| {
        c.mail.smtp_url = Some(url.into());
    })
    .await;
    let (_, operator) = app.account_token("ops@example.com", Role::Operator).await;
    let (gone_id, gone) = app.account_token("gone@example.com", Role::User).await;
    let body = json!({"user_id": gone_id, "channels": ["email"], "template": "welcome"});
    let (s, _) = app
        .call(Method::POST, "/v1/notifications", &operator, Some(&body))
        .await;
    assert_eq!(s, 202);
    let history = settled_history(&app, &gone, 1).await;
    assert_eq!(history[0]["status"], "failed", "{history:?}");
    assert_eq!(history[0]["attempts"], 1);
    assert!(
        history[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("550"))
    );
    let job = app
        .wait_job_as(&operator, history[0]["job_id"].as_str().expect("job"))
        .await;
    assert_eq!(
        (job["status"].as_str(), job["attempts"].as_u64()),
        (Some("failed"), Some(1))
    );
    assert!(smtp.received().is_empty());
    app.stop().await;
}
