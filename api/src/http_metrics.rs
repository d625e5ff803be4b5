//! Request counters and latency histograms, labelled by OpenAPI operation id
//! (bounded cardinality: unknown paths count as `other`).

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
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
        let method = req.method().to_string();
        let start = Instant::now();
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
                .with_label_values(&[method.as_str(), operation, &status.to_string()])
                .inc();
            m.http_duration
                .with_label_values(&[method.as_str(), operation])
                .observe(start.elapsed().as_secs_f64());
        }
        resp
    }
}
