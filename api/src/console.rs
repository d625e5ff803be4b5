//! `/console`: the operator console, three files compiled into the binary
//! (`api/console/`), so `cargo run` serves it with no toolchain beside
//! Rust. The page runs only its own script and stylesheet (no inline code,
//! no third-party origin) and talks to nothing but this API.

use poem::{
    Endpoint, EndpointExt, Response, Route, get, handler,
    http::{HeaderValue, StatusCode, header},
};

/// The page's policy: its own script, style and API, nothing else.
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

const INDEX: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/console.js");
const STYLE: &str = include_str!("../console/console.css");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = Response::builder()
        .status(StatusCode::OK)
        .content_type(content_type)
        .body(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONSOLE_CSP),
    );
    // Revalidated on every load, so a new release's console is picked up.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[handler]
fn index() -> Response {
    asset(INDEX, "text/html; charset=utf-8")
}

#[handler]
fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

#[handler]
fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

/// The console's routes, to nest at `/console`.
pub fn routes() -> impl Endpoint<Output = Response> {
    Route::new()
        .at("/", get(index))
        .at("/console.js", get(script))
        .at("/console.css", get(style))
        .map_to_response()
}
