//! Request counters and latency histograms, labelled by OpenAPI operation id
//! and method, both bounded: unknown paths and non-standard methods count as
//! `other`, so a client cannot create series at will; and the gauge of
//! requests in flight.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response, http::Method};
use poem_openapi::OperationId;

use kiln_jobs::AppContext;

/// Records every request in the process's metrics.
pub struct HttpMetrics;

impl<E: Endpoint> Middleware<E> for HttpMetrics {
    type Output = HttpMetricsEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        HttpMetricsEndpoint(ep)
    }
}

/// See [`HttpMetrics`].
pub struct HttpMetricsEndpoint<E>(E);

impl<E: Endpoint> Endpoint for HttpMetricsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let metrics = req.data::<AppContext>().map(|a| a.metrics.clone());
        let method = method_label(req.method());
        let start = Instant::now();
        // Decremented on drop, so a request whose client went away (its
        // future dropped mid-flight) leaves the gauge too.
        let _in_flight = metrics.as_ref().map(|m| InFlight::enter(&m.http_in_flight));
        let resp = self.0.call(req).await.map(IntoResponse::into_response);
        if let Some(m) = metrics {
            let (status, operation) = match &resp {
                Ok(r) => (
                    r.status().as_u16(),
                    r.data::<OperationId>().map_or("other", |op| op.0),
                ),
                Err(e) => (e.status().as_u16(), "other"),
            };
            m.http_requests
                .with_label_values(&[method, operation, &status.to_string()])
                .inc();
            m.http_duration
                .with_label_values(&[method, operation])
                .observe(start.elapsed().as_secs_f64());
        }
        resp
    }
}

/// One request counted in `kiln_http_in_flight` while it lives.
struct InFlight(prometheus::IntGauge);

impl InFlight {
    fn enter(gauge: &prometheus::IntGauge) -> Self {
        gauge.inc();
        InFlight(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The metric label of `method`: one of the standard methods, else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_standard_methods_get_a_label_of_their_own() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        for m in ["M1", "PURGE", "get"] {
            let m = Method::from_bytes(m.as_bytes()).expect("method");
            assert_eq!(method_label(&m), "other");
        }
    }
}
