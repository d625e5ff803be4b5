//! Security headers on every response, errors and 404s included, and the one
//! Content-Security-Policy that lets Swagger UI run at `/docs`.
//!
//! poem-openapi's Swagger UI page is self-contained: its bundle, stylesheet
//! and the document are inlined in one HTML page (no CDN), plus an inline
//! script that starts it. [`DocsCsp`] allows exactly those inline scripts by
//! their SHA-256 hashes; every other response gets `default-src 'none'`.

use std::{collections::HashMap, sync::Mutex};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use poem::{
    Body, Endpoint, IntoResponse, Middleware, Request, Response,
    http::{HeaderName, HeaderValue, header},
};
use sha2::{Digest, Sha256};

/// The policy of every response that does not bring its own.
pub const STRICT_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// One year, without `includeSubDomains`: Kiln does not know what else runs
/// under its parent domain.
const HSTS: &str = "max-age=31536000";

/// Adds `X-Content-Type-Options`, `X-Frame-Options`, `Referrer-Policy`, a
/// default CSP, `Cache-Control: no-store` on `/v1` and, when Kiln is served
/// over TLS, `Strict-Transport-Security`. The outermost middleware.
pub struct SecurityHeaders {
    /// Whether to send `Strict-Transport-Security`.
    pub hsts: bool,
}

impl<E: Endpoint> Middleware<E> for SecurityHeaders {
    type Output = SecurityHeadersEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        SecurityHeadersEndpoint {
            inner: ep,
            hsts: self.hsts,
        }
    }
}

/// See [`SecurityHeaders`].
pub struct SecurityHeadersEndpoint<E> {
    inner: E,
    hsts: bool,
}

impl<E: Endpoint> Endpoint for SecurityHeadersEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let path = req.uri().path();
        let api = path == "/v1" || path.starts_with("/v1/");
        let mut resp = self.inner.get_response(req).await;
        let h = resp.headers_mut();
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(STRICT_CSP),
            );
        }
        if api && !h.contains_key(header::CACHE_CONTROL) {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        if self.hsts {
            h.insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            );
        }
        Ok(resp)
    }
}

/// The CSP of the Swagger UI pages: their inline scripts by hash, inline
/// styles (Swagger UI styles elements at run time), images from the page
/// itself, `data:` (the stylesheet's icons) and `blob:` (image responses in
/// "Try it out"), and requests to Kiln itself.
pub struct DocsCsp;

impl<E: Endpoint> Middleware<E> for DocsCsp {
    type Output = DocsCspEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        DocsCspEndpoint {
            inner: ep,
            cache: Mutex::default(),
        }
    }
}

/// See [`DocsCsp`]. The pages are fixed for the life of the process, so each
/// page's policy is computed once (keyed by path and length).
pub struct DocsCspEndpoint<E> {
    inner: E,
    cache: Mutex<HashMap<(String, usize), HeaderValue>>,
}

impl<E: Endpoint> Endpoint for DocsCspEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let path = req.uri().path().to_owned();
        let mut resp = self.inner.call(req).await?.into_response();
        let is_html = resp
            .content_type()
            .is_some_and(|ct| ct.starts_with("text/html"));
        if !is_html {
            return Ok(resp);
        }
        let html = resp.take_body().into_bytes().await?;
        let key = (path, html.len());
        let cached = self.cache.lock().ok().and_then(|c| c.get(&key).cloned());
        let csp = match cached {
            Some(csp) => csp,
            None => {
                let csp = HeaderValue::from_str(&docs_csp(&html)).map_err(|e| {
                    poem::Error::new(e, poem::http::StatusCode::INTERNAL_SERVER_ERROR)
                })?;
                if let Ok(mut c) = self.cache.lock() {
                    c.insert(key, csp.clone());
                }
                csp
            }
        };
        resp.headers_mut()
            .insert(HeaderName::from_static("content-security-policy"), csp);
        resp.set_body(Body::from_bytes(html));
        Ok(resp)
    }
}

/// The docs policy for one HTML page.
pub fn docs_csp(html: &[u8]) -> String {
    let scripts: Vec<String> = inline_scripts(html)
        .into_iter()
        .map(|s| format!("'sha256-{}'", BASE64.encode(Sha256::digest(s))))
        .collect();
    let script_src = if scripts.is_empty() {
        "'none'".to_owned()
    } else {
        scripts.join(" ")
    };
    format!(
        "default-src 'none'; script-src {script_src}; style-src 'unsafe-inline'; \
         img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The contents of every `<script>` element without a `src` attribute.
pub fn inline_scripts(html: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = find(rest, b"<script") {
        let after = &rest[start..];
        let Some(tag_end) = find(after, b">") else {
            break;
        };
        let tag = &after[..tag_end];
        let body = &after[tag_end + 1..];
        let Some(close) = find(body, b"</script>") else {
            break;
        };
        if find(&tag.to_ascii_lowercase(), b" src=").is_none() {
            out.push(&body[..close]);
        }
        rest = &body[close..];
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_found_and_external_ones_skipped() {
        let html = b"<html><script charset=\"UTF-8\">var a=1;</script>\
            <script src=\"x.js\"></script><body><script>\n go() \n</script>";
        let found = inline_scripts(html);
        assert_eq!(found, vec![&b"var a=1;"[..], &b"\n go() \n"[..]]);
        let csp = docs_csp(html);
        assert_eq!(csp.matches("'sha256-").count(), 2, "{csp}");
        let script_src = csp
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .expect("script-src");
        assert!(
            !script_src.contains("unsafe"),
            "scripts by hash only: {csp}"
        );
    }

    #[test]
    fn swagger_ui_scripts_all_get_a_hash() {
        let html = crate::openapi_service().swagger_ui_html();
        let scripts = inline_scripts(html.as_bytes());
        assert_eq!(scripts.len(), 2, "the bundle and the starter");
        let csp = docs_csp(html.as_bytes());
        for s in scripts {
            let hash = BASE64.encode(Sha256::digest(s));
            assert!(csp.contains(&hash), "{csp}");
        }
        assert!(!html.contains("<link"), "no external stylesheet to allow");
        assert!(!html.contains("<script src"), "no external script to allow");
    }
}
