//! One span per request, and its log lines. The span continues the caller's
//! W3C trace context (`traceparent`, `tracestate`) when it sent one, so a
//! client's trace goes on through Kiln; the jobs the request enqueues store
//! this span's context, and their attempts continue it in the worker. The
//! span is named after the method, as OpenTelemetry's HTTP conventions ask
//! when the route is not known up front; the OpenAPI operation id
//! (`notifications_send`) is its `operation` attribute once routed. It
//! carries the request id and the trace id, which every log line written
//! while it is open then shows.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response, middleware::ReqId};
use poem_openapi::OperationId;
use tracing::{Instrument, field::Empty};

use kiln_jobs::telemetry;

use crate::rate_limit::ClientIp;

/// Opens the request's span; wrap it inside `RequestId` and `ResolveClientIp`.
pub struct RequestSpan;

impl<E: Endpoint> Middleware<E> for RequestSpan {
    type Output = RequestSpanEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        RequestSpanEndpoint(ep)
    }
}

/// See [`RequestSpan`].
pub struct RequestSpanEndpoint<E>(E);

impl<E: Endpoint> Endpoint for RequestSpanEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        // `ResolveClientIp`, outside this middleware, has set the client's
        // address (behind trusted proxies, the forwarded one).
        let remote = req
            .data::<ClientIp>()
            .map_or_else(|| req.remote_addr().to_string(), |ip| ip.0.to_string());
        let method = req.method().clone();
        let span = tracing::info_span!(
            "request",
            otel.name = %method,
            otel.kind = "server",
            method = %method,
            uri = %req.original_uri(),
            remote_addr = %remote,
            request_id = Empty,
            operation = Empty,
            status = Empty,
            trace_id = Empty,
        );
        if let Some(id) = req.extensions().get::<ReqId>() {
            span.record("request_id", tracing::field::display(id));
        }
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        telemetry::continue_trace(&span, header("traceparent"), header("tracestate"));
        let start = Instant::now();
        let res = self
            .0
            .call(req)
            .instrument(span.clone())
            .await
            .map(IntoResponse::into_response);
        let elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
        let _entered = span.enter();
        match &res {
            Ok(resp) => {
                if let Some(op) = resp.data::<OperationId>() {
                    span.record("operation", op.0);
                }
                span.record("status", resp.status().as_u16());
                tracing::info!(status = resp.status().as_u16(), elapsed_ms, "response");
            }
            Err(err) => {
                span.record("status", err.status().as_u16());
                tracing::info!(status = err.status().as_u16(), error = %err, elapsed_ms, "error");
            }
        }
        res
    }
}
