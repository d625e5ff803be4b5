//! HTTP hardening: security headers, the docs CSP, CORS, rate limits, client
//! IPs behind proxies, compression, body limits and request ids.

use std::{io::Read as _, net::IpAddr};

use base64::Engine as _;
use kiln_api::Role;
use kiln_jobs::{Config, db::DbKind, testing::Backend};
use sha2::Digest as _;

use crate::helpers::{TestApp, error_code, spawn_app_with};

const STRICT_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

async fn api_only(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with(DbKind::Sqlite, false, tweak).await
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A client whose connections come from `ip` (any 127.0.0.0/8 address works).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().expect("ip"))
        .build()
        .expect("client")
}

kiln_jobs::per_backend!(
    security_headers_are_on_successes_errors_and_404s,
    [sqlite, postgres]
);
async fn security_headers_are_on_successes_errors_and_404s(kind: Backend) {
    let app = spawn_app_with(kind, false, |_| {}).await;
    let token = app.token("alice");
    for (path, auth, status, api) in [
        ("/v1/jobs", true, 200, true),
        ("/v1/jobs", false, 401, true),
        ("/v1/nothing-here", true, 404, true),
        ("/nothing-here", false, 404, false),
        ("/health/live", false, 200, false),
    ] {
        let mut req = app.http.get(app.url(path));
        if auth {
            req = req.bearer_auth(&token);
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status().as_u16(), status, "{kind:?} {path}");
        assert_eq!(header(&resp, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(&resp, "x-frame-options"), Some("DENY"));
        assert_eq!(header(&resp, "referrer-policy"), Some("no-referrer"));
        assert_eq!(header(&resp, "content-security-policy"), Some(STRICT_CSP));
        assert_eq!(
            header(&resp, "cache-control"),
            api.then_some("no-store"),
            "{path}"
        );
        assert_eq!(
            header(&resp, "strict-transport-security"),
            None,
            "plain http"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn hsts_is_sent_when_the_public_url_is_https() {
    let app = api_only(|c| c.http.public_url = Some("https://kiln.example.com".into())).await;
    let resp = app
        .http
        .get(app.url("/health/live"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        header(&resp, "strict-transport-security"),
        Some("max-age=31536000")
    );
    app.stop().await;
}

/// The bodies of the page's inline `<script>` elements.
fn inline_scripts(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let open_end = after.find('>').expect("tag end");
        let body = &after[open_end + 1..];
        let close = body.find("</script>").expect("closing tag");
        assert!(!after[..open_end].contains("src="), "an external script");
        out.push(&body[..close]);
        rest = &body[close..];
    }
    out
}

#[tokio::test]
async fn the_docs_page_loads_under_a_csp_that_admits_exactly_its_scripts() {
    let app = api_only(|_| {}).await;
    for path in ["/docs", "/docs/oauth-receiver.html"] {
        let resp = app.http.get(app.url(path)).send().await.expect("send");
        assert_eq!(resp.status(), 200, "{path}");
        assert!(
            header(&resp, "content-type").is_some_and(|ct| ct.starts_with("text/html")),
            "{path}"
        );
        let csp = header(&resp, "content-security-policy")
            .expect("csp")
            .to_owned();
        assert_ne!(csp, STRICT_CSP);
        let html = resp.text().await.expect("html");
        let scripts = inline_scripts(&html);
        assert!(!scripts.is_empty(), "{path} has inline scripts");
        let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
        let script_src = directives
            .iter()
            .find(|d| d.starts_with("script-src "))
            .expect("script-src");
        assert!(!script_src.contains("unsafe"), "{script_src}");
        for s in &scripts {
            let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(s));
            assert!(
                script_src.contains(&format!("'sha256-{hash}'")),
                "{path}: a script the CSP would block"
            );
        }
        for needed in [
            "default-src 'none'",
            "style-src 'unsafe-inline'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(directives.contains(&needed), "{path}: {needed} in {csp}");
        }
        if path == "/docs" {
            assert!(
                html.contains("SwaggerUIBundle("),
                "the page starts Swagger UI"
            );
            assert!(html.contains("\"openapi\""), "with the document inlined");
            assert!(!html.contains("<link"), "no stylesheet from elsewhere");
        }
    }
    app.stop().await;
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.http
        .request(reqwest::Method::OPTIONS, app.url("/v1/jobs"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type, idempotency-key",
        )
        .send()
        .await
        .expect("preflight")
}

#[tokio::test]
async fn cors_answers_listed_origins_only() {
    let allowed = "https://app.example.com";
    let app = api_only(|c| c.http.cors_allowed_origins = vec![allowed.to_owned()]).await;

    let resp = preflight(&app, allowed).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(header(&resp, "access-control-allow-origin"), Some(allowed));
    let allow_headers = header(&resp, "access-control-allow-headers")
        .expect("allow headers")
        .to_ascii_lowercase();
    for h in [
        "authorization",
        "content-type",
        "x-api-key",
        "idempotency-key",
        "x-request-id",
    ] {
        assert!(allow_headers.contains(h), "{h} in {allow_headers}");
    }
    assert!(header(&resp, "access-control-allow-methods").is_some_and(|m| m.contains("POST")));
    assert_eq!(header(&resp, "access-control-allow-credentials"), None);

    for origin in [
        "https://evil.example.com",
        "https://app.example.com.evil.example",
        "http://app.example.com",
        "null",
    ] {
        let resp = preflight(&app, origin).await;
        assert_ne!(resp.status(), 204, "{origin}");
        assert_eq!(
            header(&resp, "access-control-allow-origin"),
            None,
            "{origin}"
        );
        assert_eq!(
            header(&resp, "access-control-allow-headers"),
            None,
            "{origin}"
        );
    }

    let get = |origin: &'static str| {
        app.http
            .get(app.url("/v1/jobs"))
            .bearer_auth(app.token("alice"))
            .header("Origin", origin)
            .send()
    };
    let resp = get(allowed).await.expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "access-control-allow-origin"), Some(allowed));
    let exposed = header(&resp, "access-control-expose-headers").expect("exposed");
    assert!(
        exposed.contains("x-request-id") && exposed.contains("retry-after"),
        "{exposed}"
    );
    let resp = get("https://evil.example.com").await.expect("send");
    assert_eq!(resp.status(), 200, "non-browser clients are unaffected");
    assert_eq!(header(&resp, "access-control-allow-origin"), None);
    app.stop().await;

    let closed = api_only(|_| {}).await;
    let resp = preflight(&closed, allowed).await;
    assert_eq!(
        header(&resp, "access-control-allow-origin"),
        None,
        "the default list is empty"
    );
    closed.stop().await;
}

async fn login(
    http: &reqwest::Client,
    app: &TestApp,
    forwarded: Option<&str>,
) -> reqwest::Response {
    let mut req = http
        .post(app.url("/v1/auth/login"))
        .json(&serde_json::json!({"email": "alice@example.com", "password": "wrong"}));
    if let Some(f) = forwarded {
        req = req.header("X-Forwarded-For", f);
    }
    req.send().await.expect("login")
}

/// Sends `burst` requests that must pass, then one that must get 429, and
/// returns its `Retry-After`.
async fn exhaust(http: &reqwest::Client, app: &TestApp, burst: u32, forwarded: &[&str]) -> u64 {
    for i in 0..burst as usize {
        let resp = login(
            http,
            app,
            forwarded.get(i % forwarded.len().max(1)).copied(),
        )
        .await;
        assert_ne!(resp.status(), 429, "request {i} is within the burst");
    }
    let resp = login(http, app, forwarded.last().copied()).await;
    let retry_after = header(&resp, "retry-after")
        .expect("Retry-After")
        .parse::<u64>()
        .expect("whole seconds");
    assert_eq!(error_code(resp, 429).await, "too_many_requests");
    retry_after
}

#[tokio::test]
async fn a_burst_to_auth_from_one_ip_gets_429_with_retry_after() {
    // 6 a minute is one every 10 s.
    let app = api_only(|c| {
        c.rate_limit.auth_per_minute = 6;
        c.rate_limit.auth_burst = 3;
    })
    .await;
    let first = client_from("127.0.0.1");
    let retry_after = exhaust(&first, &app, 3, &[]).await;
    assert!(
        (8..=10).contains(&retry_after),
        "about one emission interval: {retry_after}"
    );
    // X-Forwarded-For from an untrusted peer changes nothing.
    let resp = login(&first, &app, Some("203.0.113.77")).await;
    assert_eq!(resp.status(), 429);
    // Other paths are not limited per IP.
    let resp = first
        .get(app.url("/health/live"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    // Another client IP has its own allowance.
    let second = client_from("127.0.0.2");
    let resp = login(&second, &app, None).await;
    assert_ne!(resp.status(), 429);
    app.stop().await;
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let app = api_only(|c| {
        c.rate_limit.auth_per_minute = 6;
        c.rate_limit.auth_burst = 2;
        c.rate_limit.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let proxy = client_from("127.0.0.1");
    // Behind the trusted proxy each forwarded client has its own allowance,
    // and a spoofed leftmost hop does not pick the key.
    exhaust(
        &proxy,
        &app,
        2,
        &["198.51.100.1, 203.0.113.1", "198.51.100.2, 203.0.113.1"],
    )
    .await;
    let resp = login(&proxy, &app, Some("203.0.113.2")).await;
    assert_ne!(resp.status(), 429, "another client behind the proxy");
    // An untrusted peer's X-Forwarded-For is ignored: varying it does not
    // escape the peer's own limit.
    let stranger = client_from("127.0.0.3");
    exhaust(
        &stranger,
        &app,
        2,
        &["203.0.113.10", "203.0.113.11", "203.0.113.12"],
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn large_responses_are_compressed_and_small_ones_are_not() {
    let app = api_only(|_| {}).await;
    let plain = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("send")
        .bytes()
        .await
        .expect("body");
    assert!(plain.len() > 1024);
    let resp = app
        .http
        .get(app.url("/openapi.json"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .expect("send");
    assert_eq!(header(&resp, "content-encoding"), Some("gzip"));
    assert_eq!(header(&resp, "vary"), Some("accept-encoding"));
    let gz = resp.bytes().await.expect("body");
    assert!(gz.len() < plain.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut unzipped)
        .expect("valid gzip");
    assert_eq!(unzipped, plain);

    let resp = app
        .http
        .get(app.url("/openapi.json"))
        .header("Accept-Encoding", "br;q=1.0, gzip;q=0.5")
        .send()
        .await
        .expect("send");
    assert_eq!(
        header(&resp, "content-encoding"),
        Some("br"),
        "brotli is offered"
    );

    let resp = app
        .http
        .get(app.url("/health/live"))
        .header("Accept-Encoding", "gzip, br")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-encoding"), None);
    let live: serde_json::Value = resp.json().await.expect("plain JSON");
    assert_eq!(live["status"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn an_oversized_body_gets_413_in_the_error_shape() {
    let app = api_only(|c| c.http.max_body_bytes = 1024).await;
    let big = serde_json::json!({ "note": "x".repeat(2048) });
    let resp = app
        .http
        .post(app.url("/v1/jobs/01a2018c-4512-7400-b58a-6b923da7c244/retry"))
        .bearer_auth(app.token("alice"))
        .json(&big)
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(resp, 413).await, "payload_too_large");
    let resp = app
        .http
        .post(app.url("/v1/auth/login"))
        .json(&big)
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(resp, 413).await, "payload_too_large");
    let resp = app
        .http
        .post(app.url("/v1/jobs/01a2018c-4512-7400-b58a-6b923da7c244/retry"))
        .bearer_auth(app.token("alice"))
        .header("Content-Encoding", "gzip")
        .body(vec![0u8; 16])
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(resp, 415).await, "unsupported_media_type");
    app.stop().await;
}

#[tokio::test]
async fn a_good_request_id_is_echoed_and_a_bad_one_replaced() {
    let app = api_only(|_| {}).await;
    let send = |id: String| {
        app.http
            .get(app.url("/v1/jobs"))
            .header("x-request-id", id)
            .send()
    };
    let good = "client-42.retry:1_a";
    let resp = send(good.into()).await.expect("send");
    assert_eq!(header(&resp, "x-request-id"), Some(good));
    let body: serde_json::Value = resp.json().await.expect("error body");
    assert_eq!(body["request_id"], good);

    for bad in [
        "x".repeat(65),
        "has spaces".into(),
        "<script>alert(1)</script>".into(),
        "a\"b".into(),
    ] {
        let resp = send(bad.clone()).await.expect("send");
        let echoed = header(&resp, "x-request-id").expect("id").to_owned();
        assert_ne!(echoed, bad);
        assert!(
            uuid::Uuid::parse_str(&echoed).is_ok(),
            "a fresh id: {echoed}"
        );
        let body: serde_json::Value = resp.json().await.expect("error body");
        assert_eq!(body["request_id"], echoed.as_str());
    }
    app.stop().await;
}

/// Runs the real binary (its own log subscriber, as in production) and reads
/// its log (stderr).
#[tokio::test]
async fn every_log_line_of_a_request_carries_its_id() {
    let dir = tempfile::tempdir().expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let log_path = dir.path().join("kiln.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("serve")
        .current_dir(dir.path())
        .env("KILN__DATA_DIR", dir.path())
        .env("KILN__HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("KILN__HTTP__INTERNAL_LISTEN", "127.0.0.1:0")
        .env("KILN__RATE_LIMIT__AUTH_BURST", "1")
        .env(
            "KILN__AUTH__JWT_SECRET",
            "test-secret-test-secret-test-secret!",
        )
        .env("RUST_LOG", "info")
        .env_remove("KILN_LOG_FORMAT")
        .env_remove("DATABASE_URL")
        .env_remove("STORAGE_URL")
        .env_remove("REDIS_URL")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start kiln");
    crate::process::wait_ready_on(port).await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let resp = http
            .post(format!("http://127.0.0.1:{port}/v1/auth/login"))
            .header("x-request-id", "trace-me-7")
            .send()
            .await
            .expect("send");
        assert_eq!(header(&resp, "x-request-id"), Some("trace-me-7"));
        statuses.push(resp.status().as_u16());
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");

    let text = strip_ansi(&std::fs::read_to_string(&log_path).expect("log"));
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("/v1/auth/login") || l.contains("rate limit"))
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("auth rate limit exceeded")),
        "the 429 is logged: {text}"
    );
    assert!(lines.len() >= 3, "two request logs and the 429: {text}");
    for line in lines {
        assert!(line.contains("request_id=trace-me-7"), "{line}");
        assert!(line.contains("remote_addr=127.0.0.1"), "{line}");
    }
}

/// The text without terminal colour codes (`ESC [ … m`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Ten calls of `GET /v1/jobs` with `headers`; returns their statuses.
async fn ten_calls(client: &reqwest::Client, app: &TestApp, headers: &[(&str, &str)]) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let mut req = client.get(app.url("/v1/jobs"));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        statuses.push(req.send().await.expect("send").status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn the_principal_limit_holds_whatever_the_scheme_case_or_a_failed_bearer_beside_a_key() {
    let app = api_only(|c| {
        c.rate_limit.principal_burst = 2;
        c.rate_limit.principal_per_minute = 1;
    })
    .await;
    let (_, upper) = app.account_token("upper@example.com", Role::User).await;
    let (_, mixed) = app.account_token("mixed@example.com", Role::User).await;
    let (keyed, _) = app.account_token("keyed@example.com", Role::User).await;
    let key = app
        .ctx
        .app
        .identity
        .create_key(
            keyed.parse().expect("user id"),
            Role::User,
            "limit test",
            &[kiln_api::Scope::JobsRead],
            None,
            &Default::default(),
        )
        .await
        .expect("key")
        .key;
    let limited = |ok: u16| {
        let mut want = vec![ok, ok];
        want.extend([429; 8]);
        want
    };
    let upper_auth = format!("BEARER {upper}");
    let statuses = ten_calls(&app.http, &app, &[("authorization", &upper_auth)]).await;
    assert_eq!(statuses, limited(200), "BEARER");
    let mixed_auth = format!("bEaReR {mixed}");
    let statuses = ten_calls(&app.http, &app, &[("authorization", &mixed_auth)]).await;
    assert_eq!(statuses, limited(200), "bEaReR");
    let statuses = ten_calls(
        &app.http,
        &app,
        &[("authorization", "Bearer x"), ("x-api-key", &key)],
    )
    .await;
    assert_eq!(statuses, limited(200), "a bad bearer beside a good key");
    // Credentials that do not verify count against the client's address.
    let stranger = client_from("127.0.0.5");
    let statuses = ten_calls(&stranger, &app, &[("authorization", "Bearer forged")]).await;
    assert_eq!(statuses, limited(401), "a forged bearer");
    app.stop().await;
}

#[tokio::test]
async fn random_methods_and_paths_do_not_grow_the_metrics() {
    use futures::StreamExt as _;
    // Above 10,000 requests from one address: no 429 series mid-run.
    let app = api_only(|c| c.rate_limit.principal_burst = 100_000).await;
    let series = |body: String| body.lines().filter(|l| l.starts_with("kiln_http_")).count();
    // Every request is a fresh method or path: non-standard methods, unknown
    // paths and ids in known paths (bounded by their operation id).
    let send = |i: usize| {
        let method = match i % 4 {
            0 => reqwest::Method::from_bytes(format!("M{i}").as_bytes()).expect("method"),
            1 => reqwest::Method::GET,
            2 => reqwest::Method::DELETE,
            _ => reqwest::Method::from_bytes(format!("X-{i:x}").as_bytes()).expect("method"),
        };
        let path = match i % 3 {
            0 => format!("/v1/no-such-path-{i}"),
            1 => format!("/v1/jobs/{}", uuid::Uuid::now_v7()),
            _ => format!("/v1/media/{i}/variants/v{i}.webp"),
        };
        app.http.request(method, app.url(&path)).send()
    };
    for i in 0..12 {
        send(i).await.expect("send");
    }
    // The internal listener's scrapes are not counted: only the API's requests are.
    let before = series(app.metrics().await);
    let sent = futures::stream::iter(12..10_012)
        .map(send)
        .buffer_unordered(32)
        .filter(|r| std::future::ready(r.is_ok()))
        .count()
        .await;
    assert_eq!(sent, 10_000);
    let after = series(app.metrics().await);
    assert_eq!(before, after, "series grew with random methods and paths");
    app.stop().await;
}
