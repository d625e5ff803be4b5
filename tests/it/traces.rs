//! One trace from request to worker: a `kiln api` and a `kiln worker`
//! process export their spans over OTLP/HTTP to a collector in this test,
//! and the request's span, the enqueued job's attempt and the webhook that
//! its end fired share one trace, each span the child of the one before.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use kiln_api::{AuthKeys, Role};
use kiln_jobs::testing::{Backend, TestContext};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use poem::{EndpointExt, Route, Server, handler, listener::TcpListener, post, web::Data};
use prost::Message;
use serde_json::json;

use crate::{
    helpers::{PASSWORD, SECRET},
    process::{free_port, signal, start_redis_process, wait_ready_on},
};

/// One span as the collector received it.
#[derive(Debug, Clone)]
struct Collected {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    /// The string attributes.
    attributes: std::collections::HashMap<String, String>,
}

/// A string attribute's value.
fn string_value(v: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> Option<String> {
    match v.and_then(|v| v.value.as_ref()) {
        Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => {
            Some(s.clone())
        }
        _ => None,
    }
}

type Store = Arc<Mutex<Vec<Collected>>>;

#[handler]
fn receive(body: Vec<u8>, store: Data<&Store>) -> poem::http::StatusCode {
    let Ok(request) = ExportTraceServiceRequest::decode(body.as_slice()) else {
        return poem::http::StatusCode::BAD_REQUEST;
    };
    let mut spans = store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for resource in request.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .and_then(|a| string_value(a.value.as_ref()))
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                spans.push(Collected {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex::encode(span.trace_id),
                    span_id: hex::encode(span.span_id),
                    parent_span_id: hex::encode(span.parent_span_id),
                    attributes: span
                        .attributes
                        .iter()
                        .filter_map(|a| Some((a.key.clone(), string_value(a.value.as_ref())?)))
                        .collect(),
                });
            }
        }
    }
    poem::http::StatusCode::OK
}

/// An OTLP/HTTP receiver on a free port.
async fn collector() -> (Store, u16, tokio_util::sync::CancellationToken) {
    let store = Store::default();
    let port = free_port();
    let stop = tokio_util::sync::CancellationToken::new();
    let app = Route::new()
        .at("/v1/traces", post(receive))
        .data(store.clone());
    let server = Server::new(TcpListener::bind(format!("127.0.0.1:{port}")));
    let signal = stop.clone();
    tokio::spawn(async move {
        let _ = server
            .run_with_graceful_shutdown(app, signal.cancelled_owned(), None)
            .await;
    });
    (store, port, stop)
}

/// Ada, a user, and the keys that mint tokens the processes of `t` accept.
async fn ada(t: &TestContext) -> (uuid::Uuid, AuthKeys) {
    let user = t
        .app
        .identity
        .create_user("ada@example.com", PASSWORD, Role::User)
        .await
        .expect("user");
    let keys = AuthKeys::hs256(
        SECRET,
        &t.app.config.auth.issuer,
        &t.app.config.auth.audience,
    );
    (user.id, keys)
}

/// An operator's `POST /v1/notifications` of a welcome email to `user`, sent
/// with `traceparent`; returns the queued email's job id.
async fn notify(port: u16, keys: &AuthKeys, user: uuid::Uuid, traceparent: &str) -> uuid::Uuid {
    let operator = keys.mint("ops", Role::Operator, 600).expect("mint");
    let resp = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/notifications"))
        .bearer_auth(&operator)
        .header("traceparent", traceparent)
        .json(&json!({
            "user_id": user,
            "channels": ["email"],
            "template": "welcome",
            "params": {"display_name": "Ada"},
        }))
        .send()
        .await
        .expect("notify");
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    assert_eq!(status, 202, "{body}");
    body["items"][0]["job_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("job id")
}

#[tokio::test]
async fn one_trace_runs_from_the_request_through_the_worker_to_the_webhook_on_redis() {
    let t = TestContext::with_backend(Backend::Redis, |_| {}).await;
    let (spans, collector_port, stop) = collector().await;
    let receiver = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let telemetry = [
        (
            "KILN__TELEMETRY__OTLP_ENDPOINT",
            format!("http://127.0.0.1:{collector_port}"),
        ),
        // The batch exporter sends every 100 ms rather than every 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        // The receiver is on loopback, which deliveries refuse by default.
        ("KILN__WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true".to_owned()),
    ];
    let (mut api, api_port) = start_redis_process(&t, "api", 30, &telemetry, None);
    let (mut worker, worker_port) = start_redis_process(&t, "worker", 30, &telemetry, None);
    wait_ready_on(api_port).await;
    wait_ready_on(worker_port).await;

    // A user with a webhook on finished jobs, and an operator who notifies them.
    let (user, keys) = ada(&t).await;
    let token = keys.mint(&user.to_string(), Role::User, 600).expect("mint");
    let hook = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{api_port}/v1/webhooks"))
        .bearer_auth(&token)
        .json(&json!({"url": format!("{}/hook", receiver.uri()), "events": ["job.succeeded"]}))
        .send()
        .await
        .expect("webhook");
    assert_eq!(
        hook.status(),
        201,
        "{}",
        hook.text().await.unwrap_or_default()
    );

    // The client starts the trace: its span is the request's parent.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    notify(
        api_port,
        &keys,
        user,
        &format!("00-{trace_id}-{client_span}-01"),
    )
    .await;

    // The API's request span, the worker's email attempt, and the webhook
    // delivery the email's end fired.
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    let (request, email, webhook) = loop {
        let all: Vec<Collected> = spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect();
        let find = |service: &str, name: &str| {
            all.iter()
                .find(|s| s.service == service && s.name == name)
                .cloned()
        };
        if let (Some(r), Some(e), Some(w)) = (
            find("kiln-api", "POST"),
            find("kiln-worker", "email.send"),
            find("kiln-worker", "webhook.deliver"),
        ) {
            break (r, e, w);
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the trace is incomplete after 30 s: {all:#?}\nevery span: {:#?}",
            spans.lock().map(|s| s.clone()).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(request.parent_span_id, client_span, "{request:?}");
    assert_eq!(
        request.attributes.get("operation").map(String::as_str),
        Some("notifications_send"),
        "{request:?}"
    );
    // Every span the request made is in the client's trace: none starts a
    // trace of its own (poem's request-id span is no trace span).
    let strays: Vec<Collected> = spans
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.parent_span_id.is_empty() && s.name.is_empty())
        .collect();
    assert!(strays.is_empty(), "{strays:#?}");
    assert_eq!(
        email.parent_span_id, request.span_id,
        "{email:?} under {request:?}"
    );
    assert_eq!(
        webhook.parent_span_id, email.span_id,
        "{webhook:?} under {email:?}"
    );

    for p in [&api, &worker] {
        signal(p, "TERM");
    }
    assert!(api.0.wait().expect("wait").success());
    assert!(worker.0.wait().expect("wait").success());
    stop.cancel();
}

/// The `trace_id` of every JSON log line in `path` that has one.
fn logged_trace_ids(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|line| {
            let spans = line["spans"].as_array()?.clone();
            spans
                .iter()
                .find_map(|s| s["trace_id"].as_str().map(str::to_owned))
        })
        .collect()
}

#[tokio::test]
async fn without_an_exporter_both_processes_log_the_trace_id_on_redis() {
    let t = TestContext::with_backend(Backend::Redis, |_| {}).await;
    let logs = tempfile::tempdir().expect("dir");
    let (api_log, worker_log) = (logs.path().join("api.log"), logs.path().join("worker.log"));
    let json = [("KILN_LOG_FORMAT", "json".to_owned())];
    let file = |p: &std::path::Path| Some(std::fs::File::create(p).expect("log file"));
    let (mut api, api_port) = start_redis_process(&t, "api", 30, &json, file(&api_log));
    let (mut worker, worker_port) = start_redis_process(&t, "worker", 30, &json, file(&worker_log));
    wait_ready_on(api_port).await;
    wait_ready_on(worker_port).await;
    let (user, keys) = ada(&t).await;
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let job = notify(
        api_port,
        &keys,
        user,
        &format!("00-{trace_id}-b7ad6b7169203331-01"),
    )
    .await;
    crate::process::wait_until(&t.app, &[job], kiln_jobs::JobStatus::Succeeded, 30).await;
    for p in [&api, &worker] {
        signal(p, "TERM");
    }
    assert!(api.0.wait().expect("wait").success());
    assert!(worker.0.wait().expect("wait").success());
    for (name, path) in [("api", &api_log), ("worker", &worker_log)] {
        let ids = logged_trace_ids(path);
        assert!(
            ids.iter().any(|id| id == trace_id),
            "{name}: no log line has trace_id {trace_id}; trace ids seen: {ids:?}\n{}",
            std::fs::read_to_string(path).unwrap_or_default()
        );
    }
}
