//! Rate limits (GCRA, `governor`): per client IP on every path under
//! `/v1/auth/`, and per principal everywhere else once the auth checker knows
//! who is calling ([`RateLimits::check_principal`]). Over a limit the answer is
//! 429 with `Retry-After`.
//!
//! Counts live in this process: N API instances allow N times the configured
//! rate in total (docs/security.md says why that is acceptable for now).

use std::{
    hash::Hash,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::NoOpMiddleware,
    state::keyed::DefaultKeyedStateStore,
};
use ipnet::IpNet;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, http::HeaderValue};

use kiln_jobs::config::http::RateLimitConfig;

use crate::error::ApiError;

/// Checks between sweeps that drop keys whose allowance is full again, so a
/// limiter's table holds only recently active clients.
const SWEEP_EVERY: u64 = 1024;

/// Paths limited per client IP.
const AUTH_PREFIX: &str = "/v1/auth/";

/// One keyed GCRA limiter that forgets idle keys.
struct Keyed<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    limiter: RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<C::Instant>>,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone, C: Clock> Keyed<K, C> {
    fn new(per_minute: u32, burst: u32, clock: C) -> Self {
        let nz = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(nz(per_minute)).allow_burst(nz(burst));
        Self {
            limiter: RateLimiter::dashmap_with_clock(quota, clock),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one request for `key`; `Err` holds how long until one is allowed.
    fn check(&self, key: &K) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }
}

/// The process's rate limiters, shared by the middleware and the auth checker
/// (request data). Cheap to clone.
#[derive(Clone)]
pub struct RateLimits(Option<Arc<Limits>>);

struct Limits {
    auth: Keyed<IpAddr>,
    principal: Keyed<String>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("enabled", &self.0.is_some())
            .finish_non_exhaustive()
    }
}

impl RateLimits {
    /// Limiters with the configured quotas (none when `enabled` is false).
    pub fn new(cfg: &RateLimitConfig) -> Self {
        if !cfg.enabled {
            return Self(None);
        }
        Self(Some(Arc::new(Limits {
            auth: Keyed::new(cfg.auth_per_minute, cfg.auth_burst, DefaultClock::default()),
            principal: Keyed::new(
                cfg.principal_per_minute,
                cfg.principal_burst,
                DefaultClock::default(),
            ),
        })))
    }

    /// Counts one request to `/v1/auth/…` from `ip` (IPv6 clients count per /64).
    pub fn check_auth_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        let Some(limits) = &self.0 else { return Ok(()) };
        limits.auth.check(&ip_key(ip)).map_err(|wait| {
            tracing::info!(client_ip = %ip, retry_after = ?wait, "auth rate limit exceeded");
            ApiError::too_many_requests(wait)
        })
    }

    /// Counts one request whose credentials are missing or do not verify,
    /// against its client IP, on the principal quota: failed and anonymous
    /// calls are limited everywhere, not only under `/v1/auth/`.
    pub fn check_client(&self, ip: IpAddr) -> Result<(), ApiError> {
        let Some(limits) = &self.0 else { return Ok(()) };
        let key = format!("ip:{}", ip_key(ip));
        limits.principal.check(&key).map_err(|wait| {
            tracing::info!(client_ip = %ip, retry_after = ?wait, "unauthenticated rate limit exceeded");
            ApiError::too_many_requests(wait)
        })
    }

    /// Counts one request by an authenticated principal. `key` names it
    /// stably, e.g. `user:{id}` or `api_key:{id}`; call this after the token
    /// or key is verified, never with unverified input
    /// (`crate::auth::PrincipalRateLimit` does).
    pub fn check_principal(&self, key: &str) -> Result<(), ApiError> {
        let Some(limits) = &self.0 else { return Ok(()) };
        limits.principal.check(&key.to_owned()).map_err(|wait| {
            tracing::info!(principal = key, retry_after = ?wait, "principal rate limit exceeded");
            ApiError::too_many_requests(wait)
        })
    }
}

/// IPv4-mapped addresses count as IPv4; an IPv6 client owns its whole /64.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(
            v6.to_bits() & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000,
        )),
        v4 => v4,
    }
}

/// The client's IP address (request data): the peer's, or, when the peer is a
/// trusted proxy, the nearest untrusted hop of `X-Forwarded-For`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Resolves [`ClientIp`] and writes it to `X-Real-IP` (replacing whatever the
/// client sent), so the request log shows the address rate limits count.
pub struct ResolveClientIp {
    trusted: Arc<[IpNet]>,
}

impl ResolveClientIp {
    /// Believes `X-Forwarded-For` only from peers inside `trusted`.
    pub fn new(trusted: Vec<IpNet>) -> Self {
        Self {
            trusted: trusted.into(),
        }
    }
}

impl<E: Endpoint> Middleware<E> for ResolveClientIp {
    type Output = ResolveClientIpEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        ResolveClientIpEndpoint {
            inner: ep,
            trusted: self.trusted.clone(),
        }
    }
}

/// See [`ResolveClientIp`].
pub struct ResolveClientIpEndpoint<E> {
    inner: E,
    trusted: Arc<[IpNet]>,
}

impl<E: Endpoint> Endpoint for ResolveClientIpEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let peer = req.remote_addr().as_socket_addr().map(SocketAddr::ip);
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let ip = client_ip(peer, &forwarded, &self.trusted);
        req.headers_mut().remove("forwarded");
        match HeaderValue::from_str(&ip.to_string()) {
            Ok(v) => req.headers_mut().insert("x-real-ip", v),
            Err(_) => req.headers_mut().remove("x-real-ip"),
        };
        req.set_data(ClientIp(ip));
        self.inner.call(req).await
    }
}

/// Walks `forwarded` (comma-separated hops, nearest last) from the peer
/// towards the client while the hops are trusted proxies.
fn client_ip(peer: Option<IpAddr>, forwarded: &str, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    let Some(mut client) = peer.map(|p| p.to_canonical()) else {
        return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    };
    for hop in forwarded
        .rsplit(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        if !is_trusted(&client) {
            break;
        }
        match parse_hop(hop) {
            Some(ip) => client = ip,
            None => break,
        }
    }
    client
}

/// A hop is an address, possibly with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// Limits every request under `/v1/auth/` per [`ClientIp`]. Sits inside the
/// error shape so a 429 carries the request id.
pub struct AuthRateLimit(pub RateLimits);

impl<E: Endpoint> Middleware<E> for AuthRateLimit {
    type Output = AuthRateLimitEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        AuthRateLimitEndpoint {
            inner: ep,
            limits: self.0.clone(),
        }
    }
}

/// See [`AuthRateLimit`].
pub struct AuthRateLimitEndpoint<E> {
    inner: E,
    limits: RateLimits,
}

impl<E: Endpoint> Endpoint for AuthRateLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if req.uri().path().starts_with(AUTH_PREFIX) {
            let ip = req
                .data::<ClientIp>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0);
            if let Err(e) = self.limits.check_auth_ip(ip) {
                return Ok(e.into_response());
            }
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn config(per_minute: u32, burst: u32) -> RateLimitConfig {
        RateLimitConfig {
            principal_per_minute: per_minute,
            principal_burst: burst,
            ..RateLimitConfig::default()
        }
    }

    #[test]
    fn a_burst_is_allowed_then_one_request_per_interval() {
        let clock = FakeRelativeClock::default();
        let limiter = Keyed::new(30, 3, clock.clone());
        let key = "user:alice".to_owned();
        for _ in 0..3 {
            assert_eq!(limiter.check(&key), Ok(()));
        }
        assert_eq!(limiter.check(&key), Err(Duration::from_secs(2)));
        clock.advance(Duration::from_millis(1500));
        assert_eq!(limiter.check(&key), Err(Duration::from_millis(500)));
        clock.advance(Duration::from_millis(500));
        assert_eq!(limiter.check(&key), Ok(()));
        assert_eq!(
            limiter.check(&"user:bob".to_owned()),
            Ok(()),
            "keys are separate"
        );
    }

    #[test]
    fn idle_keys_are_swept() {
        let clock = FakeRelativeClock::default();
        let limiter = Keyed::new(60, 1, clock.clone());
        for i in 0..SWEEP_EVERY - 1 {
            assert_eq!(limiter.check(&i), Ok(()));
        }
        assert_eq!(limiter.limiter.len(), (SWEEP_EVERY - 1) as usize);
        clock.advance(Duration::from_secs(2));
        assert_eq!(limiter.check(&u64::MAX), Ok(()));
        assert_eq!(
            limiter.limiter.len(),
            1,
            "only the key just checked is left"
        );
    }

    #[test]
    fn check_principal_answers_429_with_retry_after() {
        let limits = RateLimits::new(&config(1, 2));
        assert!(limits.check_principal("user:alice").is_ok());
        assert!(limits.check_principal("user:alice").is_ok());
        match limits.check_principal("user:alice") {
            Err(ApiError::TooManyRequests(body, retry_after)) => {
                assert_eq!(retry_after, 60, "one request per minute");
                assert_eq!(body.0.code, "too_many_requests");
            }
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(limits.check_principal("user:bob").is_ok());
    }

    #[test]
    fn disabled_limits_allow_everything() {
        let limits = RateLimits::new(&RateLimitConfig {
            enabled: false,
            ..config(1, 1)
        });
        for _ in 0..10 {
            assert!(limits.check_principal("user:alice").is_ok());
            assert!(
                limits
                    .check_auth_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
                    .is_ok()
            );
        }
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(ip_key(mapped), "192.0.2.7".parse::<IpAddr>().expect("ip"));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let proxy = Some(ip("10.1.2.3"));
        let stranger = Some(ip("198.51.100.9"));
        assert_eq!(
            client_ip(stranger, "203.0.113.5", &trusted),
            ip("198.51.100.9")
        );
        assert_eq!(client_ip(proxy, "203.0.113.5", &trusted), ip("203.0.113.5"));
        assert_eq!(
            client_ip(proxy, "1.1.1.1, 203.0.113.5, 10.9.9.9", &trusted),
            ip("203.0.113.5"),
            "a spoofed leftmost hop is ignored; trusted hops are skipped"
        );
        assert_eq!(
            client_ip(proxy, "[2001:db8::1]:443", &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(client_ip(proxy, "garbage", &trusted), ip("10.1.2.3"));
        assert_eq!(client_ip(proxy, "", &trusted), ip("10.1.2.3"));
        assert_eq!(client_ip(proxy, "10.0.0.1", &trusted), ip("10.0.0.1"));
    }
}
