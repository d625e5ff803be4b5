//! CORS from an allow-list of exact origins (`http.cors_allowed_origins`).
//!
//! poem's own `Cors` treats an empty list as "allow every origin" and answers
//! any request from an unlisted origin with 403, same-origin POSTs from
//! Swagger UI included, so Kiln has this small one instead:
//!
//! * listed origin: a preflight gets 204 with the allow headers; any other
//!   request gets `Access-Control-Allow-Origin: <origin>` and the exposed headers;
//! * anything else passes through untouched, without `Access-Control-*`
//!   headers, so the browser keeps the response from the page (a preflight then
//!   meets the route's own 404/405);
//! * never `*`, never credentials: clients authenticate with headers, not cookies.

use std::{collections::HashSet, sync::Arc};

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response,
    http::{HeaderValue, Method, StatusCode, header},
};

/// Methods a listed origin may use.
const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
/// Request headers a listed origin may send.
const ALLOW_HEADERS: &str = "authorization, content-type, x-api-key, idempotency-key, x-request-id";
/// Response headers a listed origin's page may read.
const EXPOSE_HEADERS: &str = "x-request-id, retry-after, location, etag";
/// Seconds a browser may cache a preflight answer.
const MAX_AGE: &str = "600";

/// The CORS middleware.
pub struct Cors {
    origins: Arc<HashSet<HeaderValue>>,
}

impl Cors {
    /// Allows exactly `origins` (validated at config load).
    pub fn new(origins: &[String]) -> Self {
        Self {
            origins: Arc::new(
                origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok())
                    .collect(),
            ),
        }
    }
}

impl<E: Endpoint> Middleware<E> for Cors {
    type Output = CorsEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        CorsEndpoint {
            inner: ep,
            origins: self.origins.clone(),
        }
    }
}

/// See [`Cors`].
pub struct CorsEndpoint<E> {
    inner: E,
    origins: Arc<HashSet<HeaderValue>>,
}

impl<E: Endpoint> Endpoint for CorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if self.origins.is_empty() {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        }
        let allowed = req
            .headers()
            .get(header::ORIGIN)
            .filter(|o| self.origins.contains(*o))
            .cloned();
        let preflight = req.method() == Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if let (Some(origin), true) = (&allowed, preflight) {
            return Ok(Response::builder()
                .status(StatusCode::NO_CONTENT)
                .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone())
                .header(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS)
                .header(header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS)
                .header(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE)
                .header(
                    header::VARY,
                    "origin, access-control-request-method, access-control-request-headers",
                )
                .finish());
        }
        let mut resp = self.inner.call(req).await?.into_response();
        let h = resp.headers_mut();
        h.append(header::VARY, HeaderValue::from_static("origin"));
        if let Some(origin) = allowed {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
        }
        Ok(resp)
    }
}
