//! Response compression: brotli or gzip, as the client prefers, for responses
//! of a text-like type whose body is over [`MIN_SIZE`] bytes.
//!
//! poem's `Compression` compresses every body, however small (a 60-byte error
//! grows), never sets `Vary: Accept-Encoding`, answers `Accept-Encoding: *`
//! with zstd and inflates compressed request bodies. This one reuses poem's
//! encoder (`poem::web::Compress`) and decides for itself; compressed request
//! bodies are refused (415), so body limits count exactly what handlers read.

use futures::StreamExt as _;
use poem::{
    Body, Endpoint, IntoResponse, Middleware, Request, Response,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    web::{Compress, CompressionAlgo},
};

use crate::error::ApiError;

/// Bodies of at most this many bytes are sent as they are.
pub const MIN_SIZE: usize = 1024;

/// The compression middleware; sits inside the error shape.
pub struct Compression;

impl<E: Endpoint> Middleware<E> for Compression {
    type Output = CompressionEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        CompressionEndpoint(ep)
    }
}

/// See [`Compression`].
pub struct CompressionEndpoint<E>(E);

impl<E: Endpoint> Endpoint for CompressionEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let encoded = req
            .headers()
            .get(header::CONTENT_ENCODING)
            .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
        if encoded {
            return Err(ApiError::unsupported("compressed request bodies are not accepted").into());
        }
        let algo = negotiate(req.headers());
        let mut resp = self.0.call(req).await?.into_response();
        if !compressible(&resp) {
            return Ok(resp);
        }
        resp.headers_mut()
            .append(header::VARY, HeaderValue::from_static("accept-encoding"));
        let Some(algo) = algo else {
            return Ok(resp);
        };
        // Read just past MIN_SIZE: a small body is sent as it is, a larger
        // one (or a stream) is compressed without being buffered whole.
        let mut stream = resp.take_body().into_bytes_stream();
        let mut head = Vec::new();
        let mut size = 0;
        while size <= MIN_SIZE {
            match stream.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| ApiError::internal(&e))?;
                    size += chunk.len();
                    head.push(chunk);
                }
                None => {
                    resp.set_body(head.concat());
                    return Ok(resp);
                }
            }
        }
        let rest = futures::stream::iter(head.into_iter().map(Ok::<_, std::io::Error>));
        resp.set_body(Body::from_bytes_stream(rest.chain(stream)));
        Ok(Compress::new(resp, algo).into_response())
    }
}

/// Whether the response is worth compressing: text-like, not already encoded,
/// not a partial or empty answer, not an event stream.
fn compressible(resp: &Response) -> bool {
    if matches!(
        resp.status(),
        StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED | StatusCode::PARTIAL_CONTENT
    ) || resp.headers().contains_key(header::CONTENT_ENCODING)
    {
        return false;
    }
    let Some(ct) = resp.content_type() else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    (mime.starts_with("text/") && mime != "text/event-stream")
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
        || matches!(
            mime.as_str(),
            "application/json"
                | "application/javascript"
                | "application/xml"
                | "application/yaml"
                | "application/x-yaml"
        )
}

/// The client's preferred encoding among brotli and gzip (brotli on a tie);
/// `q=0` refuses an encoding, `*` stands for any not named.
fn negotiate(headers: &HeaderMap) -> Option<CompressionAlgo> {
    let (mut br, mut gzip, mut star) = (None, None, None);
    for item in headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
            .map_or(Some(1.0), |q| q.parse::<f32>().ok());
        let Some(q) = q else { continue };
        match coding.as_str() {
            "br" => br = Some(q),
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => star = Some(q),
            _ => {}
        }
    }
    let br = br.or(star).unwrap_or(0.0);
    let gzip = gzip.or(star).unwrap_or(0.0);
    if br <= 0.0 && gzip <= 0.0 {
        None
    } else if br >= gzip {
        Some(CompressionAlgo::BR)
    } else {
        Some(CompressionAlgo::GZIP)
    }
}

#[cfg(test)]
mod tests {
    use poem::{EndpointExt, Route, handler, test::TestClient};

    use super::*;

    fn accept(v: &str) -> Option<CompressionAlgo> {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(v).expect("value"),
        );
        negotiate(&h)
    }

    #[test]
    fn negotiation_honours_q_values() {
        assert_eq!(accept("gzip"), Some(CompressionAlgo::GZIP));
        assert_eq!(accept("gzip, deflate, br"), Some(CompressionAlgo::BR));
        assert_eq!(accept("br;q=0.5, gzip"), Some(CompressionAlgo::GZIP));
        assert_eq!(accept("br;q=0, gzip;q=0"), None);
        assert_eq!(accept("*"), Some(CompressionAlgo::BR));
        assert_eq!(accept("*;q=0.1, gzip"), Some(CompressionAlgo::GZIP));
        assert_eq!(accept("identity, deflate, zstd"), None);
        assert_eq!(accept("gzip;q=abc"), None, "a malformed entry is skipped");
    }

    #[handler]
    fn sized(req: &Request) -> String {
        let n = req.uri().query().and_then(|q| q.parse().ok()).unwrap_or(0);
        "a".repeat(n)
    }

    #[handler]
    fn image() -> Response {
        Response::builder()
            .content_type("image/jpeg")
            .body(vec![0u8; 4096])
    }

    #[tokio::test]
    async fn only_text_bodies_over_the_threshold_are_compressed() {
        let cli = TestClient::new(
            Route::new()
                .at("/text", sized)
                .at("/image", image)
                .with(Compression),
        );
        for (path, encoding) in [
            ("/text?1024", None),
            ("/text?1025", Some("gzip")),
            ("/text?100000", Some("gzip")),
            ("/image", None),
        ] {
            let resp = cli.get(path).header("accept-encoding", "gzip").send().await;
            resp.assert_status_is_ok();
            assert_eq!(
                resp.0
                    .headers()
                    .get("content-encoding")
                    .and_then(|v| v.to_str().ok()),
                encoding,
                "{path}"
            );
        }
        let resp = cli
            .get("/text?5000")
            .header("accept-encoding", "br")
            .send()
            .await;
        resp.assert_header("content-encoding", "br");
        resp.assert_header("vary", "accept-encoding");
    }
}
