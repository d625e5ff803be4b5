//! Request counters and latency histograms.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

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

/// Collapses ids so routes have bounded cardinality.
fn route_label(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if uuid::Uuid::parse_str(seg).is_ok() {
                ":id"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl<E: Endpoint> Endpoint for HttpMetricsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let metrics = req.data::<AppContext>().map(|a| a.metrics.clone());
        let method = req.method().to_string();
        let route = route_label(req.uri().path());
        let start = Instant::now();
        let resp = self.0.call(req).await.map(IntoResponse::into_response);
        if let Some(m) = metrics {
            let status = resp
                .as_ref()
                .map_or(500, |r| r.status().as_u16())
                .to_string();
            let route = if route.starts_with("/v1/") || route.starts_with("/health") {
                route
            } else {
                "other".to_owned()
            };
            m.http_requests
                .with_label_values(&[&method, &route, &status])
                .inc();
            m.http_duration
                .with_label_values(&[&method, &route])
                .observe(start.elapsed().as_secs_f64());
        }
        resp
    }
}
