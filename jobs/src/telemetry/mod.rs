//! Logs and traces.
//!
//! Logs: `RUST_LOG` filters (default `info`), `KILN_LOG_FORMAT=json` for JSON
//! lines. They go to stderr (stdout is for what a command prints, e.g. a
//! generated password or the OpenAPI document), with colours only on a
//! terminal.
//!
//! Traces: every `tracing` span is an OpenTelemetry span too, so a request's
//! span and the spans of the jobs it enqueued share one trace. The W3C
//! `traceparent` of the span that enqueues a job is stored with the job
//! ([`current_traceparent`]); each attempt's span continues it
//! ([`continue_trace`]). The spans that start a unit of work, a request or an
//! attempt, carry `trace_id` as a field, so it is in every log line written
//! inside them. Spans are exported over OTLP/HTTP when
//! `telemetry.otlp_endpoint` is set, and dropped otherwise.

pub mod config;

use std::{collections::HashMap, io::IsTerminal, time::Duration};

use opentelemetry::{
    KeyValue,
    propagation::{Extractor, TextMapPropagator},
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{Sampler, SdkTracerProvider},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, filter, fmt, prelude::*};

pub use config::TelemetryConfig;

/// How long one export may take before it is given up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The tracer provider installed by [`init`]; [`Telemetry::shutdown`] sends
/// the spans still buffered.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Exports what is buffered and stops the exporter. Blocks: call it
    /// outside the async runtime, or from a blocking task.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("kiln: could not flush the last spans: {e}");
        }
    }
}

/// A tracer provider for `service`: sampled as `config` says, exporting to
/// its OTLP endpoint if it has one. The exporter's HTTP client is a blocking
/// one, run on the batch processor's own thread: build this outside an async
/// runtime (or in a plain thread), as the client refuses to start inside one.
fn provider(config: &TelemetryConfig, service: &str) -> anyhow::Result<SdkTracerProvider> {
    let resource = Resource::builder()
        .with_service_name(service.to_owned())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio)));
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_resource(resource);
    if let Some(url) = config.traces_url() {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url)
            .with_timeout(EXPORT_TIMEOUT)
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

/// Installs the global subscriber (logs, and spans as OpenTelemetry spans)
/// for `service` (`kiln`, `kiln-api`, `kiln-worker`). Call it once, before the async runtime starts (see
/// [`provider`]); a second call installs nothing.
pub fn init(config: &TelemetryConfig, service: &str) -> anyhow::Result<Telemetry> {
    let provider = provider(config, service)?;
    // poem's `RequestId` wraps each request in a span with no name, only
    // there to carry `request_id` into the logs: it is no trace span (the
    // request's own span records the id), so the request span is the root.
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("kiln"))
        .with_tracked_inactivity(false)
        .with_filter(filter::filter_fn(|meta| {
            !(meta.is_span() && meta.name().is_empty())
        }));
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,apalis=warn,apalis_core=warn"));
    let json = std::env::var("KILN_LOG_FORMAT").is_ok_and(|v| v == "json");
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let _ = if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(
                fmt::layer()
                    .with_target(false)
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .try_init()
    };
    Ok(Telemetry { provider })
}

/// The W3C `traceparent` of the current span, when it is traced (none
/// outside a span, or without [`init`]).
pub fn current_traceparent() -> Option<String> {
    let cx = tracing::Span::current().context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span`, not yet entered, the child of a remote parent: a stored
/// `traceparent`, or a request's `traceparent` and `tracestate` headers.
/// Without a valid parent the span starts a trace of its own. Either way the
/// trace id is recorded in the span's `trace_id` field, which it must declare
/// (`trace_id = tracing::field::Empty`).
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    if let Some(parent) = traceparent {
        let carrier = Carrier {
            traceparent: parent,
            tracestate,
        };
        let cx = TraceContextPropagator::new().extract(&carrier);
        if cx.span().span_context().is_valid() {
            // Fails only when the span is disabled or already started: it
            // then keeps the parent it has.
            let _ = span.set_parent(cx);
        }
    }
    record_trace_id(span);
}

/// Records the trace id of `span` in its `trace_id` field.
pub fn record_trace_id(span: &tracing::Span) {
    let id = span.context().span().span_context().trace_id();
    if id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(id));
    }
}

/// A trace context's two headers, as a propagation carrier.
struct Carrier<'a> {
    traceparent: &'a str,
    tracestate: Option<&'a str>,
}

impl Extractor for Carrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => Some(self.traceparent),
            "tracestate" => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}
