//! Request body limits enforced while the body streams in: a declared
//! `Content-Length` over the limit is refused at once, and a body without one
//! is cut off as soon as it passes the limit. Either way the answer is 413 and
//! nothing larger than the limit is ever buffered.
//!
//! Every route gets [`DefaultBodyLimit`] (`http.max_body_bytes`) except those
//! in [`OWN_LIMIT`], whose `transform` applies a limit of their own.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response, http::Method};
use tokio::io::{AsyncRead, ReadBuf};

use kiln_jobs::AppContext;

use crate::error::ApiError;

/// Multipart framing allowed on top of the file itself.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// Routes with a limit of their own, which the default leaves alone.
pub const OWN_LIMIT: &[(Method, &str)] = &[(Method::POST, "/v1/media")];

/// The `http.max_body_bytes` limit on every route not in [`OWN_LIMIT`].
pub struct DefaultBodyLimit {
    /// Largest accepted body in bytes.
    pub max: u64,
}

impl<E: Endpoint> Middleware<E> for DefaultBodyLimit {
    type Output = DefaultBodyLimitEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        DefaultBodyLimitEndpoint {
            inner: ep,
            max: self.max,
        }
    }
}

/// See [`DefaultBodyLimit`].
pub struct DefaultBodyLimitEndpoint<E> {
    inner: E,
    max: u64,
}

impl<E: Endpoint> Endpoint for DefaultBodyLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let own = OWN_LIMIT
            .iter()
            .any(|(m, p)| req.method() == m && req.uri().path() == *p);
        if own {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        }
        let Some(exceeded) = limit_body(&mut req, self.max) else {
            return Ok(ApiError::too_large(self.max).into_response());
        };
        let out = self.inner.call(req).await;
        if exceeded.load(Ordering::Relaxed) {
            return Ok(ApiError::too_large(self.max).into_response());
        }
        out.map(IntoResponse::into_response)
    }
}

/// Wraps the body so reading past `max` bytes fails; `None` when the declared
/// `Content-Length` is already over. The flag tells whether the limit was hit.
fn limit_body(req: &mut Request, max: u64) -> Option<Arc<AtomicBool>> {
    let declared = req
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max) {
        return None;
    }
    let exceeded = Arc::new(AtomicBool::new(false));
    if declared != Some(0) {
        let body = req.take_body().into_async_read();
        req.set_body(Body::from_async_read(Limited {
            inner: Box::pin(body),
            remaining: max,
            exceeded: exceeded.clone(),
        }));
    }
    Some(exceeded)
}

/// The `transform` of `POST /v1/media`: the configured upload limit.
pub fn media_upload(ep: impl Endpoint + 'static) -> impl Endpoint {
    BodyLimit { inner: ep }
}

struct BodyLimit<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for BodyLimit<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let Some(limit) = req
            .data::<AppContext>()
            .map(|app| app.config.media.max_upload_bytes)
        else {
            return Ok(ApiError::internal(&"application context missing").into_response());
        };
        let Some(exceeded) = limit_body(&mut req, limit + MULTIPART_OVERHEAD) else {
            return Ok(ApiError::too_large(limit).into_response());
        };
        let out = self.inner.call(req).await;
        if exceeded.load(Ordering::Relaxed) {
            return Ok(ApiError::too_large(limit).into_response());
        }
        out.map(IntoResponse::into_response)
    }
}

struct Limited {
    inner: Pin<Box<dyn AsyncRead + Send + 'static>>,
    remaining: u64,
    exceeded: Arc<AtomicBool>,
}

impl AsyncRead for Limited {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match self.inner.as_mut().poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = (buf.filled().len() - before) as u64;
                if read > self.remaining {
                    self.exceeded.store(true, Ordering::Relaxed);
                    return Poll::Ready(Err(std::io::Error::other("request body too large")));
                }
                self.remaining -= read;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use poem::{EndpointExt, Route, handler, http::StatusCode, post, test::TestClient};

    use super::*;

    #[handler]
    async fn echo(body: Body) -> poem::Result<String> {
        Ok(body.into_string().await?)
    }

    fn client() -> TestClient<impl Endpoint> {
        TestClient::new(
            Route::new()
                .at("/echo", post(echo))
                .with(DefaultBodyLimit { max: 10 }),
        )
    }

    #[tokio::test]
    async fn a_streamed_body_is_cut_off_past_the_limit() {
        let cli = client();
        let within = cli
            .post("/echo")
            .body(Body::from_async_read(&b"0123456789"[..]))
            .send()
            .await;
        within.assert_status_is_ok();
        within.assert_text("0123456789").await;
        let over = cli
            .post("/echo")
            .body(Body::from_async_read(&b"0123456789x"[..]))
            .send()
            .await;
        over.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_before_reading() {
        let resp = client()
            .post("/echo")
            .header("content-length", "11")
            .body("0123456789x")
            .send()
            .await;
        resp.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
    }
}
