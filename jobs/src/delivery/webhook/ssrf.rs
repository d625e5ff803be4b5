//! The SSRF guard: webhook targets are chosen by users, so Kiln must not be
//! made to call its own network (loopback, private ranges, cloud metadata).
//!
//! Two checks, both on the address actually dialled:
//! - [`check_url`] refuses non-http(s) URLs and IP-literal hosts that are not
//!   public (reqwest does not resolve IP literals, so the resolver never sees them);
//! - [`GuardedResolver`] is the client's DNS resolver: it drops every
//!   non-public address a name resolves to and fails when none is left. The
//!   connection uses exactly the addresses it returns, so a name cannot be
//!   re-pointed (DNS rebinding) between the check and the connect.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::{
    Url,
    dns::{Addrs, Name, Resolve, Resolving},
};

/// A target the guard refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not an absolute http(s) URL with a host.
    #[error("webhook URL must be http:// or https:// with a host")]
    Scheme,
    /// Resolves only to (or is) an address that is not public.
    #[error("webhook target {0} is not a public address")]
    Private(String),
    /// Not a URL, or one with credentials in it.
    #[error("webhook URL: {0}")]
    Invalid(String),
    /// The name did not resolve.
    #[error("webhook host {0} did not resolve")]
    Unresolved(String),
}

/// True when `ip` is public unicast: the only addresses webhooks may reach
/// unless `webhooks.allow_private_targets` is set. Follows the IANA IPv4 and
/// IPv6 special-purpose address registries; an IPv6 address that embeds an
/// IPv4 one it is delivered to (IPv4-mapped, NAT64) is judged by that IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Embedded::V4(v4) => is_public_v4(v4),
            Embedded::None => is_public_v6(v6),
        },
    }
}

/// What an IPv6 address reaches when it stands for an IPv4 address.
enum Embedded {
    /// It is delivered to this IPv4 address.
    V4(Ipv4Addr),
    /// It is an IPv6 destination of its own.
    None,
}

/// The IPv4 address behind `::ffff:0:0/96` (IPv4-mapped: the socket connects
/// over IPv4) and `64:ff9b::/96` (the well-known NAT64 prefix, RFC 6052: the
/// translator forwards to it). Other forms that embed IPv4 (IPv4-compatible
/// `::/96`, SIIT `::ffff:0:0:0/96`, local-use NAT64 `64:ff9b:1::/48`, 6to4
/// `2002::/16`, Teredo `2001::/32`) are refused by [`is_public_v6`] whatever
/// they embed: none is a place a receiver should be.
fn embedded_v4(ip: Ipv6Addr) -> Embedded {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Embedded::V4(v4);
    }
    let seg = ip.segments();
    if seg[..6] == [0x0064, 0xff9b, 0, 0, 0, 0] {
        let [.., a, b, c, d] = ip.octets();
        return Embedded::V4(Ipv4Addr::new(a, b, c, d));
    }
    Embedded::None
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()            // 0.0.0.0
        || a == 0                    // 0.0.0.0/8 "this network"
        || ip.is_loopback()          // 127.0.0.0/8
        || ip.is_private()           // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local()        // 169.254/16, cloud metadata
        || (a == 100 && (64..128).contains(&b)) // 100.64/10 CGNAT
        || (a == 192 && b == 0 && c == 0)       // 192.0.0/24 IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)       // 192.0.2/24 TEST-NET-1
        || (a == 192 && b == 88 && c == 99)     // 192.88.99/24 6to4 relay anycast (deprecated)
        || (a == 198 && (b & 0xfe) == 18)       // 198.18/15 benchmarking
        || (a == 198 && b == 51 && c == 100)    // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)     // TEST-NET-3
        || ip.is_multicast()         // 224/4
        || a >= 240) // 240/4 reserved, 255.255.255.255 broadcast
}

/// Public IPv6 is global unicast (`2000::/3`) outside its special-purpose
/// blocks; everything else (`::/8` with the loopback, unspecified,
/// IPv4-compatible and SIIT forms, `64:ff9b::/32` beyond the well-known
/// NAT64 /96, `100::/64` discard, `100:0:0:1::/64` dummy, unique local,
/// link-local, multicast, the unassigned rest) is not.
fn is_public_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    let global_unicast = (seg[0] & 0xe000) == 0x2000; // 2000::/3
    // 2001::/23 IETF protocol assignments (Teredo, ORCHID, benchmarking) and
    // 2001:db8::/32 documentation.
    let ietf = seg[0] == 0x2001 && (seg[1] < 0x0200 || seg[1] == 0x0db8);
    let special = ietf
        || seg[0] == 0x2002 // 2002::/16 6to4: embeds an arbitrary IPv4
        || (seg[0] == 0x3fff && seg[1] < 0x1000); // 3fff::/20 documentation
    global_unicast && !special
}

/// Checks a target URL before it is requested: http(s) only, and an IP-literal
/// host must be public unless `allow_private`.
pub fn check_url(url: &Url, allow_private: bool) -> Result<(), TargetError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError::Scheme);
    }
    let host = url.host_str().ok_or(TargetError::Scheme)?;
    // The URL parser has already normalised IPv4 literals ("127.1", "0x7f.1");
    // IPv6 ones keep their brackets.
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let Ok(ip) = literal.parse::<IpAddr>() else {
        return Ok(()); // a name: the resolver checks what it resolves to
    };
    if allow_private || is_public(ip) {
        Ok(())
    } else {
        Err(TargetError::Private(ip.to_string()))
    }
}

/// Checks an endpoint URL before it is stored: an absolute http(s) URL with a
/// host, no credentials (deliveries authenticate by signature) and, unless
/// `allow_private`, not a literal non-public address. Returns it normalised.
/// Names are checked again at each delivery, on the addresses they resolve to.
pub fn check_endpoint(url: &str, allow_private: bool) -> Result<String, TargetError> {
    let parsed = Url::parse(url.trim()).map_err(|e| TargetError::Invalid(e.to_string()))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(TargetError::Invalid(
            "credentials in the URL are not allowed; receivers verify the signature".into(),
        ));
    }
    check_url(&parsed, allow_private)?;
    Ok(parsed.to_string())
}

/// A DNS resolver that only returns public addresses (all of them when
/// `allow_private`). Install with `reqwest::ClientBuilder::dns_resolver`.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    /// Let non-public addresses through (development and tests).
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| TargetError::Unresolved(host.clone()))?
                .collect();
            if found.is_empty() {
                return Err(TargetError::Unresolved(host).into());
            }
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(TargetError::Private(format!("{host} ({})", found[0].ip())).into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked_before_they_are_stored() {
        assert_eq!(
            check_endpoint(" https://hooks.example.com/kiln ", false).unwrap(),
            "https://hooks.example.com/kiln"
        );
        for bad in [
            "not a url",
            "ftp://example.com/",
            "https://user:pw@example.com/",
        ] {
            assert!(
                matches!(
                    check_endpoint(bad, false),
                    Err(TargetError::Invalid(_) | TargetError::Scheme)
                ),
                "{bad}"
            );
        }
        for private in [
            "http://127.0.0.1:8080/",
            "http://[::1]/",
            "http://169.254.169.254/latest",
        ] {
            assert!(
                matches!(check_endpoint(private, false), Err(TargetError::Private(_))),
                "{private}"
            );
            assert!(check_endpoint(private, true).is_ok(), "{private}");
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_addresses_are_refused() {
        for s in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip(s)), "{s} must be refused");
        }
    }

    #[test]
    fn ipv4_mapped_addresses_are_judged_by_their_ipv4() {
        // ::ffff:0:0/96, written both ways.
        for s in [
            "::ffff:127.0.0.1",
            "::ffff:7f00:1",
            "::ffff:0.0.0.0",
            "::ffff:0:0",
            "::ffff:10.0.0.1",
            "::ffff:192.168.0.1",
            "::ffff:100.64.0.1",
            "::ffff:192.88.99.1",
            "::ffff:224.0.0.1",
            "::ffff:255.255.255.255",
        ] {
            assert!(!is_public(ip(s)), "{s} must be refused");
        }
        assert!(is_public(ip("::ffff:1.1.1.1")));
        assert!(is_public(ip("::ffff:808:808")));
    }

    #[test]
    fn the_6to4_relay_anycast_range_is_refused() {
        for s in ["192.88.99.0", "192.88.99.1", "192.88.99.255"] {
            assert!(!is_public(ip(s)), "{s} must be refused");
        }
        assert!(is_public(ip("192.88.98.1")));
        assert!(is_public(ip("192.88.100.1")));
    }

    #[test]
    fn well_known_nat64_is_judged_by_its_ipv4() {
        for s in [
            "64:ff9b::7f00:1",          // 127.0.0.1
            "64:ff9b::10.0.0.1",        // 10.0.0.1
            "64:ff9b::169.254.169.254", // cloud metadata
            "64:ff9b::c0a8:101",        // 192.168.1.1
            "64:ff9b::192.88.99.1",
        ] {
            assert!(!is_public(ip(s)), "{s} must be refused");
        }
        assert!(is_public(ip("64:ff9b::8.8.8.8")));
        assert!(is_public(ip("64:ff9b::101:101")));
    }

    #[test]
    fn other_ipv6_forms_that_embed_ipv4_are_refused_whatever_they_embed() {
        for s in [
            "64:ff9b:1::8.8.8.8", // local-use NAT64 (RFC 8215)
            "64:ff9b:1:ffff::1",
            "64:ff9b:0:1::808:808", // 64:ff9b::/32 outside the /96
            "::8.8.8.8",            // IPv4-compatible (deprecated)
            "::127.0.0.1",
            "::ffff:0:8.8.8.8", // SIIT IPv4-translated
            "::ffff:0:127.0.0.1",
            "2002:0a00:0001::1",                    // 6to4 of 10.0.0.1
            "2002:c0a8:0101::1",                    // 6to4 of 192.168.1.1
            "2002:7f00:1::",                        // 6to4 of 127.0.0.1
            "2002:0808:0808::1",                    // 6to4 of a public address
            "2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo
        ] {
            assert!(!is_public(ip(s)), "{s} must be refused");
        }
    }

    #[test]
    fn ipv6_special_purpose_blocks_are_refused() {
        for s in [
            "100::1",           // discard-only
            "100:0:0:1::1",     // dummy prefix (RFC 9780)
            "2001:2::1",        // benchmarking
            "2001:10::1",       // ORCHID
            "2001:20::1",       // ORCHIDv2
            "2001:1ff::1",      // the rest of 2001::/23
            "2001:db8:ffff::1", // documentation
            "3fff::1",          // documentation (RFC 9637)
            "3fff:fff::1",
            "4000::1", // outside 2000::/3: unassigned
            "5f00::1", // SRv6 SIDs
            "::2",     // ::/8 reserved
            "fec0::1",
            "febf::1",
        ] {
            assert!(!is_public(ip(s)), "{s} must be refused");
        }
        for s in ["2001:200::1", "2001:4860:4860::8888", "3fff:1000::1"] {
            assert!(is_public(ip(s)), "{s} is global unicast");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.0.1",
            "172.32.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(s)), "{s} is public");
        }
    }

    #[test]
    fn urls_must_be_http_and_literal_hosts_public() {
        let check = |u: &str, allow| check_url(&Url::parse(u).unwrap(), allow);
        assert_eq!(check("https://example.com/hook", false), Ok(()));
        assert_eq!(check("http://93.184.216.34/", false), Ok(()));
        assert_eq!(check("ftp://example.com/", false), Err(TargetError::Scheme));
        assert_eq!(check("file:///etc/passwd", false), Err(TargetError::Scheme));
        for u in [
            "http://127.0.0.1:8080/",
            "http://[::1]/",
            "http://10.0.0.7/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:127.0.0.1]/",
            // WHATWG URL parsing normalises these to 127.0.0.1.
            "http://2130706433/",
            "http://0x7f.1/",
            "http://127.1/",
        ] {
            assert!(
                matches!(check(u, false), Err(TargetError::Private(_))),
                "{u}"
            );
            assert_eq!(check(u, true), Ok(()), "{u} allowed by config");
        }
    }
}
