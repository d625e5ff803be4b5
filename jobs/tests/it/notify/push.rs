//! FCM HTTP v1 against a wiremock fake that checks the bearer token and the
//! message JSON, and answers each error class.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use gcp_auth::{Token, TokenProvider};
use kiln_jobs::{
    delivery::{
        DeliveryError,
        config::PushConfig,
        push::{FcmAuth, PushMessage, PushOutcome, Pusher},
    },
    metrics::Metrics,
};
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{bearer_token, body_json, method, path},
};

const SEND_PATH: &str = "/v1/projects/demo-project/messages:send";

/// Hands out the given access tokens in order (the last one repeats).
struct StaticTokens {
    tokens: Vec<&'static str>,
    calls: AtomicUsize,
}

#[async_trait::async_trait]
impl TokenProvider for StaticTokens {
    async fn token(&self, _scopes: &[&str]) -> Result<Arc<Token>, gcp_auth::Error> {
        let i = self.calls.fetch_add(1, Ordering::SeqCst);
        let t = self.tokens[i.min(self.tokens.len() - 1)];
        let token: Token = serde_json::from_value(json!({"access_token": t, "expires_in": 3600}))
            .expect("token json");
        Ok(Arc::new(token))
    }

    async fn project_id(&self) -> Result<Arc<str>, gcp_auth::Error> {
        Ok(Arc::from("demo-project"))
    }
}

async fn pusher(server: &MockServer, tokens: Vec<&'static str>) -> (Pusher, Arc<StaticTokens>) {
    let provider = Arc::new(StaticTokens {
        tokens,
        calls: AtomicUsize::new(0),
    });
    let p = Pusher::fcm(
        &server.uri(),
        "demo-project",
        FcmAuth::Provider(provider.clone()),
        Duration::from_secs(5),
    )
    .await
    .expect("pusher");
    (p, provider)
}

fn message() -> PushMessage {
    PushMessage {
        token: "device-token-1".into(),
        title: "Job done".into(),
        body: "Your image is ready".into(),
        data: BTreeMap::from([("job_id".to_owned(), "j-1".to_owned())]),
    }
}

fn fcm_error(code: u16, status: &str, error_code: Option<&str>) -> ResponseTemplate {
    let details = match error_code {
        Some(c) => json!([{
            "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
            "errorCode": c,
        }]),
        None => json!([]),
    };
    ResponseTemplate::new(code).set_body_json(json!({
        "error": {"code": code, "message": "from the fake", "status": status, "details": details}
    }))
}

#[tokio::test]
async fn sends_the_v1_message_shape_with_the_bearer_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .and(bearer_token("tok-1"))
        .and(body_json(json!({
            "message": {
                "token": "device-token-1",
                "notification": {"title": "Job done", "body": "Your image is ready"},
                "data": {"job_id": "j-1"},
            }
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"name": "projects/demo-project/messages/0:42"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let metrics = Arc::new(Metrics::new());
    let (p, _) = pusher(&server, vec!["tok-1"]).await;
    let out = p
        .with_metrics(metrics.clone())
        .send(&message())
        .await
        .expect("sent");
    assert_eq!(
        out,
        PushOutcome::Sent {
            name: "projects/demo-project/messages/0:42".into()
        }
    );
    assert!(
        metrics
            .render()
            .contains(r#"kiln_notifications_total{channel="push",outcome="sent"} 1"#)
    );
}

#[tokio::test]
async fn unregistered_tokens_are_reported_dead_not_failed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(fcm_error(404, "NOT_FOUND", Some("UNREGISTERED")))
        .expect(1)
        .mount(&server)
        .await;
    let (p, _) = pusher(&server, vec!["tok"]).await;
    assert_eq!(
        p.send(&message()).await.expect("outcome"),
        PushOutcome::Unregistered
    );
}

#[tokio::test]
async fn quota_and_server_errors_retry_honouring_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            fcm_error(429, "RESOURCE_EXHAUSTED", Some("QUOTA_EXCEEDED"))
                .insert_header("Retry-After", "17"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(fcm_error(503, "UNAVAILABLE", Some("UNAVAILABLE")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(fcm_error(500, "INTERNAL", Some("INTERNAL")))
        .mount(&server)
        .await;
    let (p, _) = pusher(&server, vec!["tok"]).await;

    let err = p.send(&message()).await.expect_err("429");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(17)), "{err:?}");
    assert!(err.to_string().contains("QUOTA_EXCEEDED"), "{err}");
    let err = p.send(&message()).await.expect_err("503");
    assert!(err.is_retryable() && err.retry_after().is_none(), "{err:?}");
    let err = p.send(&message()).await.expect_err("500");
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn invalid_argument_aborts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(fcm_error(400, "INVALID_ARGUMENT", Some("INVALID_ARGUMENT")))
        .expect(1)
        .mount(&server)
        .await;
    let (p, _) = pusher(&server, vec!["tok"]).await;
    let err = p.send(&message()).await.expect_err("400");
    assert!(
        matches!(&err, DeliveryError::Abort { reason } if reason.contains("INVALID_ARGUMENT")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_refused_token_is_refetched_once_and_the_message_resent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(bearer_token("stale"))
        .respond_with(fcm_error(401, "UNAUTHENTICATED", None))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(bearer_token("fresh"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"name": "m/1"})))
        .expect(1)
        .mount(&server)
        .await;
    let (p, provider) = pusher(&server, vec!["stale", "fresh"]).await;
    assert_eq!(
        p.send(&message()).await.expect("sent"),
        PushOutcome::Sent { name: "m/1".into() }
    );
    assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn credentials_refused_twice_abort() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(fcm_error(403, "PERMISSION_DENIED", None))
        .expect(2)
        .mount(&server)
        .await;
    let (p, _) = pusher(&server, vec!["tok"]).await;
    let err = p.send(&message()).await.expect_err("403");
    assert!(
        matches!(&err, DeliveryError::Abort { reason } if reason.contains("403")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_token_of_another_sender_aborts_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(fcm_error(
            403,
            "PERMISSION_DENIED",
            Some("SENDER_ID_MISMATCH"),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let (p, provider) = pusher(&server, vec!["tok"]).await;
    let err = p.send(&message()).await.expect_err("mismatch");
    assert!(matches!(err, DeliveryError::Abort { .. }), "{err:?}");
    assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unreachable_fcm_retries() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let provider = Arc::new(StaticTokens {
        tokens: vec!["tok"],
        calls: AtomicUsize::new(0),
    });
    let p = Pusher::fcm(
        &format!("http://127.0.0.1:{port}"),
        "demo-project",
        FcmAuth::Provider(provider),
        Duration::from_secs(2),
    )
    .await
    .expect("pusher");
    let err = p.send(&message()).await.expect_err("refused");
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn without_fcm_pushes_are_recorded_not_sent() {
    let metrics = Arc::new(Metrics::new());
    let p = Pusher::from_config(&PushConfig::default())
        .await
        .expect("log-only")
        .with_metrics(metrics.clone());
    assert_eq!(
        p.send(&message()).await.expect("recorded"),
        PushOutcome::Recorded
    );
    assert!(
        metrics
            .render()
            .contains(r#"kiln_notifications_total{channel="push",outcome="recorded"} 1"#)
    );
}
