//! Webhook delivery against local wiremock receivers: signatures checked
//! independently, each answer class, and the SSRF guard.

use std::{sync::Arc, time::Duration};

use kiln_jobs::{
    delivery::{
        DeliveryError,
        webhook::{WebhookClient, WebhookRequest, WebhookSecret, new_message_id},
    },
    metrics::Metrics,
    webhooks::config::WebhooksConfig,
};
use wiremock::{
    Match, Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path},
};

const BODY: &[u8] = br#"{"type":"job.finished","data":{"job_id":"j-1","status":"succeeded"}}"#;

/// Checks a Standard Webhooks signature from first principles (its own HMAC,
/// not Kiln's signer), as a receiver would.
struct ValidSignature {
    secret: String,
}

impl Match for ValidSignature {
    fn matches(&self, req: &Request) -> bool {
        let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(id), Some(ts), Some(sigs)) = (
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
        ) else {
            return false;
        };
        let Ok(ts_num) = ts.parse::<i64>() else {
            return false;
        };
        if (chrono::Utc::now().timestamp() - ts_num).abs() > 60
            || header("content-type") != Some("application/json")
        {
            return false;
        }
        kiln_jobs::testing::standard_webhook_signature_valid(&self.secret, id, ts, sigs, &req.body)
    }
}

fn client(allow_private: bool) -> WebhookClient {
    WebhookClient::new(&WebhooksConfig {
        timeout_secs: 2,
        connect_timeout_secs: 2,
        allow_private_targets: allow_private,
        max_response_bytes: 100,
        ..WebhooksConfig::default()
    })
    .expect("client")
}

async fn deliver(
    c: &WebhookClient,
    url: &str,
    secret: &WebhookSecret,
) -> Result<u16, DeliveryError> {
    let id = new_message_id();
    c.deliver(&WebhookRequest {
        url,
        message_id: &id,
        body: BODY,
        secrets: std::slice::from_ref(secret),
    })
    .await
    .map(|d| d.status)
}

#[tokio::test]
async fn a_receiver_verifies_the_signature_independently() {
    let server = MockServer::start().await;
    let secret = WebhookSecret::generate();
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(ValidSignature {
            secret: secret.expose(),
        })
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let metrics = Arc::new(Metrics::new());
    let c = client(true).with_metrics(metrics.clone());
    let id = new_message_id();
    let delivered = c
        .deliver(&WebhookRequest {
            url: &format!("{}/hook", server.uri()),
            message_id: &id,
            body: BODY,
            secrets: std::slice::from_ref(&secret),
        })
        .await
        .expect("delivered");
    assert_eq!(delivered.status, 204);

    let req = &server.received_requests().await.expect("recorded")[0];
    assert_eq!(req.body, BODY, "the body is sent byte for byte");
    assert_eq!(req.headers["webhook-id"], id.as_str());
    assert_eq!(
        req.headers["webhook-timestamp"],
        delivered.timestamp.to_string().as_str()
    );
    assert!(
        req.headers["user-agent"]
            .to_str()
            .expect("ascii")
            .starts_with("Kiln-Webhooks/")
    );
    // Kiln's own verifier agrees with the independent one.
    secret
        .verify(
            &id,
            delivered.timestamp,
            req.headers["webhook-signature"].to_str().expect("ascii"),
            BODY,
            delivered.timestamp,
        )
        .expect("verifies");
    assert!(
        metrics
            .render()
            .contains(r#"kiln_notifications_total{channel="webhook",outcome="delivered"} 1"#)
    );

    // A receiver holding another secret refuses it: 401 is permanent.
    let err = deliver(
        &c,
        &format!("{}/hook", server.uri()),
        &WebhookSecret::generate(),
    )
    .await
    .expect_err("wrong secret");
    assert!(matches!(err, DeliveryError::Abort { .. }), "{err:?}");
}

#[tokio::test]
async fn answers_are_classified_retry_or_abort() {
    let server = MockServer::start().await;
    for (code, p) in [
        (408, "/408"),
        (429, "/429"),
        (500, "/500"),
        (503, "/503"),
        (400, "/400"),
        (404, "/404"),
        (410, "/410"),
    ] {
        let mut r = ResponseTemplate::new(code).set_body_string(format!("answer {code}"));
        if code == 429 {
            r = r.insert_header("Retry-After", "30");
        }
        Mock::given(path(p)).respond_with(r).mount(&server).await;
    }
    let c = client(true);
    let secret = WebhookSecret::generate();
    for code in [408, 429, 500, 503] {
        let err = deliver(&c, &format!("{}/{code}", server.uri()), &secret)
            .await
            .expect_err("retry");
        assert!(err.is_retryable(), "{code}: {err:?}");
        assert!(err.to_string().contains(&format!("answer {code}")), "{err}");
    }
    let err = deliver(&c, &format!("{}/429", server.uri()), &secret)
        .await
        .expect_err("429");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    for code in [400, 404, 410] {
        let err = deliver(&c, &format!("{}/{code}", server.uri()), &secret)
            .await
            .expect_err("abort");
        assert!(
            matches!(err, DeliveryError::Abort { .. }),
            "{code}: {err:?}"
        );
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = MockServer::start().await;
    Mock::given(path("/moved"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("Location", format!("{}/target", server.uri())),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/target"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let err = deliver(
        &client(true),
        &format!("{}/moved", server.uri()),
        &WebhookSecret::generate(),
    )
    .await
    .expect_err("redirect");
    assert!(
        matches!(&err, DeliveryError::Abort { reason } if reason.contains("redirects are not followed")),
        "{err:?}"
    );
}

#[tokio::test]
async fn slow_receivers_and_refused_connections_retry() {
    let server = MockServer::start().await;
    Mock::given(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let secret = WebhookSecret::generate();
    let started = std::time::Instant::now();
    let err = deliver(&client(true), &format!("{}/slow", server.uri()), &secret)
        .await
        .expect_err("timeout");
    assert!(err.is_retryable(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(4));

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let err = deliver(&client(true), &format!("http://127.0.0.1:{port}/"), &secret)
        .await
        .expect_err("refused");
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn only_the_first_max_response_bytes_are_kept() {
    let server = MockServer::start().await;
    Mock::given(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(1 << 20)))
        .mount(&server)
        .await;
    let id = new_message_id();
    let d = client(true)
        .deliver(&WebhookRequest {
            url: &format!("{}/big", server.uri()),
            message_id: &id,
            body: BODY,
            secrets: &[WebhookSecret::generate()],
        })
        .await
        .expect("delivered");
    assert_eq!(d.body.len(), 100);
}

#[tokio::test]
async fn private_targets_are_refused_unless_allowed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let port = server.address().port();
    let secret = WebhookSecret::generate();
    let guarded = client(false);
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        "http://10.1.2.3/hook".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::ffff:127.0.0.1]/".to_owned(),
    ] {
        let err = deliver(&guarded, &url, &secret).await.expect_err("refused");
        assert!(
            matches!(&err, DeliveryError::Abort { reason } if reason.contains("not a public address")),
            "{url}: {err:?}"
        );
    }
    for url in ["ftp://example.com/hook", "file:///etc/passwd"] {
        let err = deliver(&guarded, url, &secret).await.expect_err("scheme");
        assert!(matches!(err, DeliveryError::Abort { .. }), "{url}: {err:?}");
    }
    assert!(
        server
            .received_requests()
            .await
            .expect("recorded")
            .is_empty(),
        "nothing reached the loopback receiver"
    );

    let open = client(true);
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
    ] {
        assert_eq!(deliver(&open, &url, &secret).await, Ok(200), "{url}");
    }
}

/// Interop with the Python reference library: a receiver written with PyPI's
/// `standardwebhooks` verifies what Kiln sends. scripts/test.sh installs the
/// package and names the Python in `KILN_STANDARDWEBHOOKS_PYTHON`.
#[tokio::test]
async fn python_standardwebhooks_accepts_our_deliveries() {
    use tokio::io::AsyncBufReadExt;

    let python = std::env::var("KILN_STANDARDWEBHOOKS_PYTHON")
        .expect("KILN_STANDARDWEBHOOKS_PYTHON must name a python with standardwebhooks installed");
    let secret = WebhookSecret::generate();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/notify/standardwebhooks_receiver.py"
    );
    let mut child = tokio::process::Command::new(python)
        .arg(script)
        .arg(secret.expose())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let port: u16 = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("python prints its port")
        .expect("read")
        .expect("a line")
        .trim()
        .parse()
        .expect("port");
    let c = client(true);
    let url = format!("http://127.0.0.1:{port}/hook");
    for body in [
        &br#"{"a":1}"#[..],
        BODY,
        "{\"emoji\":\"\u{1F525} ünïcode\"}".as_bytes(),
    ] {
        let id = new_message_id();
        let d = c
            .deliver(&WebhookRequest {
                url: &url,
                message_id: &id,
                body,
                secrets: std::slice::from_ref(&secret),
            })
            .await
            .expect("python verified the signature");
        assert_eq!(d.status, 200);
        assert_eq!(d.body, "verified");
    }
    // And it refuses a signature made with another secret.
    let err = deliver(&c, &url, &WebhookSecret::generate())
        .await
        .expect_err("python refuses");
    assert!(err.to_string().contains("401"), "{err}");
}
