//! Refuses NUL characters in client input before any endpoint sees it.
//!
//! PostgreSQL's TEXT and JSONB cannot hold `\0`, so text with one would fail
//! at the database (a 503) on PostgreSQL and be stored on SQLite. Instead,
//! every request is checked once here, for every current and future
//! operation alike, and a NUL anywhere in its text answers 422
//! `invalid_input` naming where it was:
//!
//! - the URL: `%00` in the path or in a query parameter;
//! - a JSON body: a `\u0000` escape (or a raw NUL byte) in any string, key or
//!   value; an escaped backslash followed by `u0000` (the text `\\u0000`) is
//!   not a NUL and passes;
//! - a form body (`application/x-www-form-urlencoded`) or a text body: `%00`
//!   or a raw NUL;
//! - a multipart body: a NUL in a text part (one without a file name); file
//!   parts are binary and pass untouched, streamed, never buffered.
//!
//! Headers cannot carry NUL (the HTTP parser refuses them). JSON, form and
//! text bodies are read whole (they are bounded by `http.max_body_bytes`,
//! which wraps this check, and the endpoints read them whole anyway).

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response, http::Uri};
use tokio::io::{AsyncRead, ReadBuf};

use crate::error::ApiError;

/// The middleware; see the module docs.
pub struct RejectNul;

impl<E: Endpoint> Middleware<E> for RejectNul {
    type Output = RejectNulEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        RejectNulEndpoint(ep)
    }
}

/// See [`RejectNul`].
pub struct RejectNulEndpoint<E>(E);

/// How a body is checked, from its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BodyKind {
    Json,
    Form,
    Text,
    Multipart(String),
    Other,
}

impl<E: Endpoint> Endpoint for RejectNulEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        if let Some(place) = nul_in_uri(req.uri()) {
            return Ok(refuse(&place).into_response());
        }
        match body_kind(req.content_type()) {
            BodyKind::Other => {}
            BodyKind::Multipart(boundary) => {
                let scanner = Scanner::Multipart(MultipartNul::new(&boundary));
                return self.streamed(req, scanner).await;
            }
            kind if own_limit(&req) => {
                // Not bounded by the default limit: never buffered here.
                let scanner = match kind {
                    BodyKind::Json => Scanner::Json(JsonNul::default()),
                    _ => Scanner::Text {
                        form: kind == BodyKind::Form,
                        tail: Vec::new(),
                    },
                };
                return self.streamed(req, scanner).await;
            }
            kind => {
                // A failed read (over the body limit, a broken connection)
                // is left to the layers around this one to answer.
                let bytes = req.take_body().into_bytes().await?;
                let place = match kind {
                    BodyKind::Json => nul_in_json(&bytes),
                    _ => nul_in_text(&bytes, kind == BodyKind::Form),
                };
                if let Some(place) = place {
                    return Ok(refuse(&place).into_response());
                }
                req.set_body(Body::from(bytes));
            }
        }
        self.0.call(req).await.map(IntoResponse::into_response)
    }
}

impl<E: Endpoint> RejectNulEndpoint<E> {
    /// Calls the endpoint with the body checked by `scanner` as it streams.
    async fn streamed(&self, mut req: Request, scanner: Scanner) -> poem::Result<Response> {
        let found = Arc::new(Mutex::new(None));
        let body = req.take_body().into_async_read();
        req.set_body(Body::from_async_read(Scan {
            inner: Box::pin(body),
            scanner,
            found: found.clone(),
        }));
        let out = self.0.call(req).await;
        let place = found.lock().map(|f| f.clone()).unwrap_or_default();
        match place {
            Some(place) => Ok(refuse(&place).into_response()),
            None => out.map(IntoResponse::into_response),
        }
    }
}

/// Routes whose body limit is their own, applied inside this check.
fn own_limit(req: &Request) -> bool {
    crate::body_limit::OWN_LIMIT
        .iter()
        .any(|(m, p)| req.method() == m && req.uri().path() == *p)
}

/// The 422 for a NUL found at `place`.
fn refuse(place: &str) -> ApiError {
    ApiError::unprocessable(
        "invalid_input",
        format!("{place} contains a NUL character (U+0000), which is not allowed in text"),
    )
}

fn body_kind(content_type: Option<&str>) -> BodyKind {
    let Some(mime) = content_type.and_then(|ct| ct.parse::<mime::Mime>().ok()) else {
        return BodyKind::Other;
    };
    match (mime.type_(), mime.subtype()) {
        (mime::APPLICATION, mime::JSON) => BodyKind::Json,
        (_, _) if mime.suffix() == Some(mime::JSON) => BodyKind::Json,
        (mime::APPLICATION, mime::WWW_FORM_URLENCODED) => BodyKind::Form,
        (mime::TEXT, _) => BodyKind::Text,
        (mime::MULTIPART, mime::FORM_DATA) => match mime.get_param(mime::BOUNDARY) {
            Some(b) => BodyKind::Multipart(b.as_str().to_owned()),
            None => BodyKind::Other,
        },
        _ => BodyKind::Other,
    }
}

/// `%00` in the path or a query parameter. `%` always starts an escape in a
/// valid URI, so the text `%00` is exactly an encoded NUL.
fn nul_in_uri(uri: &Uri) -> Option<String> {
    if has_encoded_nul(uri.path().as_bytes()) {
        return Some("the URL path".into());
    }
    let query = uri.query()?;
    query
        .split('&')
        .find(|pair| has_encoded_nul(pair.as_bytes()))
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            if has_encoded_nul(name.as_bytes()) {
                "a query parameter name".to_owned()
            } else {
                format!("the query parameter `{name}`")
            }
        })
}

fn has_encoded_nul(text: &[u8]) -> bool {
    text.windows(3).any(|w| w == b"%00")
}

/// A raw NUL, or with `form` an encoded one, in a form or text body.
fn nul_in_text(bytes: &[u8], form: bool) -> Option<String> {
    if bytes.contains(&0) {
        return Some("the body".into());
    }
    if !form {
        return None;
    }
    let text = String::from_utf8_lossy(bytes);
    text.split('&')
        .find(|pair| has_encoded_nul(pair.as_bytes()))
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            format!("the form field `{name}`")
        })
}

/// Where a JSON body holds a NUL, if it does: the path of the first string
/// (key or value) with one, e.g. `the JSON field params.title`.
fn nul_in_json(bytes: &[u8]) -> Option<String> {
    if !json_has_nul(bytes) {
        return None;
    }
    let place = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| json_path_of_nul(&v, String::new()))
        .filter(|p| !p.is_empty())
        .map_or_else(
            || "the JSON body".to_owned(),
            |p| format!("the JSON field `{p}`"),
        );
    Some(place)
}

/// Scans JSON text for a `\u0000` escape inside a string, or a raw NUL byte,
/// without parsing it: escapes are followed so `\\u0000` (an escaped
/// backslash, then the text `u0000`) does not count.
fn json_has_nul(bytes: &[u8]) -> bool {
    JsonNul::default().feed(bytes)
}

/// The state of [`json_has_nul`]'s scan, kept between chunks.
#[derive(Debug, Clone, Copy, Default)]
enum JsonNul {
    #[default]
    Out,
    In,
    Escape,
    /// Inside `\uXXXX`: hex digits seen, and whether all were `0`.
    Unicode(u8, bool),
}

impl JsonNul {
    /// Feeds the next bytes; true once a NUL was seen.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        use JsonNul::*;
        for &b in bytes {
            if b == 0 {
                return true;
            }
            *self = match (*self, b) {
                (Out, b'"') => In,
                (Out, _) => Out,
                (In, b'"') => Out,
                (In, b'\\') => Escape,
                (In, _) => In,
                (Escape, b'u') => Unicode(0, true),
                (Escape, _) => In,
                (Unicode(3, true), b'0') => return true,
                (Unicode(3, _), _) => In,
                (Unicode(n, zero), b) => Unicode(n + 1, zero && b == b'0'),
            };
        }
        false
    }
}

/// The dotted path (`a.b[2]`) of the first key or string value holding a NUL.
fn json_path_of_nul(v: &serde_json::Value, at: String) -> Option<String> {
    match v {
        serde_json::Value::String(s) => s.contains('\0').then_some(at),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| json_path_of_nul(item, format!("{at}[{i}]"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, item)| {
            let path = if at.is_empty() {
                k.replace('\0', "\\u0000")
            } else {
                format!("{at}.{}", k.replace('\0', "\\u0000"))
            };
            if k.contains('\0') {
                return Some(path);
            }
            json_path_of_nul(item, path)
        }),
        _ => None,
    }
}

/// What a streamed body is checked with.
enum Scanner {
    Json(JsonNul),
    /// A text or form body; `tail` holds the last two bytes of the previous
    /// chunk, so a `%00` split between chunks is found.
    Text {
        form: bool,
        tail: Vec<u8>,
    },
    Multipart(MultipartNul),
}

impl Scanner {
    /// Feeds the next bytes; where a NUL is, once found.
    fn feed(&mut self, chunk: &[u8]) -> Option<String> {
        match self {
            Scanner::Json(st) => st.feed(chunk).then(|| "the JSON body".to_owned()),
            Scanner::Text { form, tail } => {
                tail.extend_from_slice(chunk);
                let found = tail.contains(&0) || (*form && has_encoded_nul(tail));
                let keep = tail.len().saturating_sub(2);
                tail.drain(..keep);
                found.then(|| "the body".to_owned())
            }
            Scanner::Multipart(m) => m
                .feed(chunk)
                .map(|field| format!("the multipart field `{field}`")),
        }
    }
}

/// A body passed through unchanged while a [`Scanner`] watches it; a NUL
/// fails the read (so the endpoint cannot act on the input) and says where in
/// `found`.
struct Scan {
    inner: Pin<Box<dyn AsyncRead + Send + 'static>>,
    scanner: Scanner,
    found: Arc<Mutex<Option<String>>>,
}

impl AsyncRead for Scan {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match this.inner.as_mut().poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if let Some(place) = this.scanner.feed(&buf.filled()[before..]) {
                    if let Ok(mut f) = this.found.lock() {
                        *f = Some(place);
                    }
                    return Poll::Ready(Err(std::io::Error::other("NUL in the request body")));
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

/// Where a streaming multipart parse is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Before the first delimiter, or in a file part: skip to the next delimiter.
    Skip,
    /// Reading a part's headers.
    Headers,
    /// In the content of the text part with this name.
    Text(String),
    /// After the closing delimiter, or the framing was not understood: the
    /// multipart parser behind will judge the rest.
    Done,
}

/// A minimal streaming multipart reader that only finds NULs in text parts.
/// It keeps at most a delimiter's length of bytes (and a part's headers,
/// bounded) between chunks.
struct MultipartNul {
    /// `\r\n--boundary`.
    delimiter: Vec<u8>,
    pending: Vec<u8>,
    part: Part,
}

/// Part headers longer than this are not inspected (multer refuses them too).
const MAX_PART_HEADERS: usize = 16 * 1024;

impl MultipartNul {
    fn new(boundary: &str) -> Self {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        MultipartNul {
            delimiter,
            // As if a CRLF preceded the body, so a leading delimiter matches.
            pending: b"\r\n".to_vec(),
            part: Part::Skip,
        }
    }

    /// Feeds the next bytes; the name of a text part with a NUL, once found.
    fn feed(&mut self, chunk: &[u8]) -> Option<String> {
        if self.part == Part::Done {
            return None;
        }
        self.pending.extend_from_slice(chunk);
        loop {
            match self.part.clone() {
                Part::Done => {
                    self.pending.clear();
                    return None;
                }
                Part::Skip | Part::Text(_) => {
                    let text = match &self.part {
                        Part::Text(name) => Some(name.clone()),
                        _ => None,
                    };
                    match find(&self.pending, &self.delimiter) {
                        Some(i) => {
                            if text.is_some() && self.pending[..i].contains(&0) {
                                return text;
                            }
                            self.pending.drain(..i + self.delimiter.len());
                            self.part = Part::Headers;
                        }
                        None => {
                            let keep = self.delimiter.len().min(self.pending.len());
                            let cut = self.pending.len() - keep;
                            if text.is_some() && self.pending[..cut].contains(&0) {
                                return text;
                            }
                            self.pending.drain(..cut);
                            return None;
                        }
                    }
                }
                Part::Headers => {
                    if self.pending.starts_with(b"--") {
                        self.part = Part::Done;
                        continue;
                    }
                    let Some(end) = find(&self.pending, b"\r\n\r\n") else {
                        if self.pending.len() > MAX_PART_HEADERS {
                            self.part = Part::Done;
                        }
                        return None;
                    };
                    let headers = String::from_utf8_lossy(&self.pending[..end]).into_owned();
                    // Keep the CRLF before the content, so an empty part's
                    // delimiter still matches.
                    self.pending.drain(..end + 2);
                    self.part = match disposition(&headers) {
                        Some((name, false)) => Part::Text(name),
                        Some((_, true)) => Part::Skip,
                        None => Part::Done,
                    };
                }
            }
        }
    }
}

/// The part's name and whether it is a file, from its `Content-Disposition`.
fn disposition(headers: &str) -> Option<(String, bool)> {
    let line = headers
        .split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
    let mut name = String::new();
    let mut file = false;
    for param in line.split(';').skip(1) {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        let value = value.trim().trim_matches('"');
        match key.trim().to_ascii_lowercase().as_str() {
            "name" => name = value.to_owned(),
            "filename" | "filename*" => file = true,
            _ => {}
        }
    }
    Some((name, file))
}

/// The first position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(i) = hay[from..].iter().position(|&b| b == first) {
        let at = from + i;
        if hay.len() - at < needle.len() {
            return None;
        }
        if &hay[at + 1..at + needle.len()] == rest {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use poem::{EndpointExt, Route, handler, http::StatusCode, post, test::TestClient};

    use super::*;

    #[test]
    fn json_escapes_are_followed() {
        for (text, nul) in [
            (r#"{"name":"a\u0000b"}"#, true),
            (r#"{"a\u0000":1}"#, true),
            (r#"["x","\u0000"]"#, true),
            (r#"{"name":"a\\u0000b"}"#, false),
            (r#"{"name":"a\\\u0000b"}"#, true),
            (r#"{"name":"\\\\u0000"}"#, false),
            (r#"{"name":"\u00001"}"#, true),
            (r#"{"name":"\u0001\u1000\u0100"}"#, false),
            (r#"{"name":"u0000 \"\u0000\""}"#, true),
            (r#"{"n":1, "u0000":"\n"}"#, false),
            ("{\"raw\":\"a\0b\"}", true),
        ] {
            assert_eq!(json_has_nul(text.as_bytes()), nul, "{text}");
        }
    }

    #[test]
    fn a_json_escape_split_between_chunks_is_found() {
        let text = br#"{"name":"ab\u0000"}"#;
        for cut in 0..text.len() {
            let mut st = JsonNul::default();
            let found = st.feed(&text[..cut]) || st.feed(&text[cut..]);
            assert!(found, "cut at {cut}");
        }
    }

    #[test]
    fn the_json_path_names_the_field() {
        assert_eq!(
            nul_in_json(br#"{"a":1,"params":{"title":"x\u0000"}}"#).unwrap(),
            "the JSON field `params.title`"
        );
        assert_eq!(
            nul_in_json(br#"{"events":["ok","\u0000"]}"#).unwrap(),
            "the JSON field `events[1]`"
        );
        assert_eq!(nul_in_json(br#""\u0000""#).unwrap(), "the JSON body");
        assert_eq!(nul_in_json(br#"{"name":"a\\u0000"}"#), None);
    }

    #[test]
    fn encoded_nuls_in_the_url_are_found() {
        let at = |u: &str| nul_in_uri(&u.parse::<Uri>().unwrap());
        assert_eq!(
            at("/v1/jobs?kind=a%00b").unwrap(),
            "the query parameter `kind`"
        );
        assert_eq!(at("/v1/media/x/variants/a%00").unwrap(), "the URL path");
        assert_eq!(at("/v1/jobs?a%00=1").unwrap(), "a query parameter name");
        assert_eq!(at("/v1/jobs?kind=a%2500b&x=%0A"), None);
        assert_eq!(at("/v1/jobs"), None);
    }

    fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, file, content) in fields {
            body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"");
            body.extend_from_slice(name.as_bytes());
            body.push(b'"');
            if let Some(f) = file {
                body.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
            }
            body.extend_from_slice(b"\r\n\r\n");
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--XyZ--\r\n");
        body
    }

    fn scan_in_chunks(body: &[u8], size: usize) -> Option<String> {
        let mut m = MultipartNul::new("XyZ");
        body.chunks(size).find_map(|c| m.feed(c))
    }

    #[test]
    fn multipart_text_parts_with_a_nul_are_found_however_the_body_is_cut() {
        let body = multipart(&[
            ("file", Some("a.png"), b"\x89PNG\0\0\0binary"),
            ("empty", None, b""),
            ("title", None, b"hello\0world"),
        ]);
        for size in 1..body.len() {
            assert_eq!(
                scan_in_chunks(&body, size).as_deref(),
                Some("title"),
                "{size}"
            );
        }
        let clean = multipart(&[
            ("file", Some("a.png"), b"\0\0\0\r\n--Xy\0"),
            ("title", None, b"hello world"),
        ]);
        for size in 1..clean.len() {
            assert_eq!(scan_in_chunks(&clean, size), None, "{size}");
        }
    }

    #[handler]
    async fn echo(body: Body) -> poem::Result<String> {
        Ok(body.into_string().await?)
    }

    #[tokio::test]
    async fn the_middleware_answers_422_before_the_endpoint() {
        let cli = TestClient::new(Route::new().at("/echo", post(echo)).with(RejectNul));
        for (ct, body) in [
            ("application/json", r#"{"name":"a\u0000"}"#),
            ("application/merge-patch+json", r#"{"name":"a\u0000"}"#),
            ("application/x-www-form-urlencoded", "name=a%00"),
            ("text/plain; charset=utf-8", "a\0b"),
        ] {
            let resp = cli.post("/echo").content_type(ct).body(body).send().await;
            resp.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
            resp.json()
                .await
                .value()
                .object()
                .get("code")
                .assert_string("invalid_input");
        }
        let resp = cli
            .post("/echo")
            .content_type("multipart/form-data; boundary=XyZ")
            .body(multipart(&[("title", None, b"a\0")]))
            .send()
            .await;
        resp.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        for (ct, body) in [
            ("application/json", r#"{"name":"a\\u0000"}"#),
            ("application/octet-stream", "a\0b"),
        ] {
            let resp = cli.post("/echo").content_type(ct).body(body).send().await;
            resp.assert_status_is_ok();
            resp.assert_text(body).await;
        }
    }
}
