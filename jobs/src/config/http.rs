//! Settings of the HTTP tier: the listener, CORS, body limits and rate limits.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// HTTP tier settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Address of the internal listener: health details and `/metrics`
    /// without credentials, for probes and Prometheus inside the network; keep
    /// it off the public network (default `127.0.0.1:9091`; `kiln worker`
    /// uses `worker.listen` instead).
    pub internal_listen: SocketAddr,
    /// Base URL clients use to reach Kiln, for links in responses (default `http://{listen}`).
    pub public_url: Option<String>,
    /// Seconds to wait for in-flight requests on shutdown (default 10).
    pub shutdown_timeout_secs: u64,
    /// Origins (`scheme://host[:port]`, e.g. `https://app.example.com`) whose browser
    /// pages may call the API; never `*` (default: empty, no cross-origin access).
    pub cors_allowed_origins: Vec<String>,
    /// Largest request body in bytes for routes without a limit of their own; uploads
    /// use `media.max_upload_bytes` (default 64 KiB).
    pub max_body_bytes: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            internal_listen: SocketAddr::from(([127, 0, 0, 1], 9091)),
            public_url: None,
            shutdown_timeout_secs: 10,
            cors_allowed_origins: Vec::new(),
            max_body_bytes: 64 * 1024,
        }
    }
}

impl HttpConfig {
    /// Whether clients reach Kiln over TLS (`public_url` starts with `https://`);
    /// responses then carry `Strict-Transport-Security`.
    pub fn is_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

/// Request rate limits. Each API instance counts on its own (see docs/security.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Whether requests are rate limited at all (default true).
    pub enabled: bool,
    /// Sustained requests per minute one client IP may make to `/v1/auth/…` (default 20).
    pub auth_per_minute: u32,
    /// Requests one client IP may make to `/v1/auth/…` in a burst (default 10).
    pub auth_burst: u32,
    /// Sustained requests per minute one authenticated principal may make (default 600).
    pub principal_per_minute: u32,
    /// Requests one authenticated principal may make in a burst (default 120).
    pub principal_burst: u32,
    /// Proxies (IP addresses or CIDR ranges such as `10.0.0.0/8`) whose
    /// `X-Forwarded-For` is believed; from anyone else the peer address is the
    /// client IP (default: empty, trust no proxy).
    pub trusted_proxies: Vec<String>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            auth_per_minute: 20,
            auth_burst: 10,
            principal_per_minute: 600,
            principal_burst: 120,
            trusted_proxies: Vec::new(),
        }
    }
}

impl RateLimitConfig {
    /// `trusted_proxies` parsed; a bare address is a single-host range.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| {
                        format!(
                            "rate_limit.trusted_proxies: {p:?} is not an IP address or CIDR range"
                        )
                    })
            })
            .collect()
    }
}

/// Checks that `origin` is a serialized origin: `http(s)://host[:port]`, lowercase,
/// without path, query, userinfo or trailing slash (what browsers send in `Origin`).
fn validate_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or("must start with https:// or http://")?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => (h, Some(p)),
        _ => (rest, None),
    };
    if let Some(p) = port
        && !p.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Err("has an invalid port".into());
    }
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
    };
    if !host_ok {
        return Err(
            "must be scheme://host[:port] with a lowercase host and nothing after it".into(),
        );
    }
    Ok(())
}

impl HttpConfig {
    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        for origin in &self.cors_allowed_origins {
            if let Err(e) = validate_origin(origin) {
                return Err(format!("http.cors_allowed_origins: {origin:?} {e}"));
            }
        }
        if self.max_body_bytes == 0 {
            return Err("http.max_body_bytes must be at least 1".into());
        }
        Ok(())
    }
}

impl RateLimitConfig {
    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.auth_per_minute == 0
            || self.auth_burst == 0
            || self.principal_per_minute == 0
            || self.principal_burst == 0
        {
            return Err("rate_limit: *_per_minute and *_burst must be at least 1".into());
        }
        self.trusted_proxy_nets().map(|_| ())
    }
}
