//! The hardening settings: CORS origins, body limit, rate limits, proxies.

use figment::Jail;
use kiln_jobs::Config;

fn load(jail: &mut Jail, toml: &str) -> Result<Config, String> {
    jail.create_file("kiln.toml", toml)
        .map_err(|e| e.to_string())?;
    Config::load(Some(std::path::Path::new("kiln.toml"))).map_err(|e| e.to_string())
}

#[test]
fn hardening_defaults_are_closed_and_limited() {
    let c = Config::default();
    assert!(c.http.cors_allowed_origins.is_empty());
    assert_eq!(c.http.max_body_bytes, 64 * 1024);
    assert!(!c.http.is_https());
    assert!(c.rate_limit.enabled);
    assert!(c.rate_limit.trusted_proxies.is_empty());
}

#[test]
fn valid_origins_and_proxies_load() {
    Jail::expect_with(|jail| {
        let c = load(
            jail,
            "[http]\ncors_allowed_origins = [\"https://app.example.com\", \"http://localhost:5173\", \"https://[::1]:8443\"]\npublic_url = \"https://kiln.example.com\"\n\
             [rate_limit]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\", \"2001:db8::/32\"]\n",
        )?;
        assert_eq!(c.http.cors_allowed_origins.len(), 3);
        assert!(c.http.is_https());
        let nets = c
            .rate_limit
            .trusted_proxy_nets()
            .map_err(|e| e.to_string())?;
        assert_eq!(nets.len(), 3);
        assert!(
            nets[1].contains(
                &"192.0.2.7"
                    .parse::<std::net::IpAddr>()
                    .map_err(|e| e.to_string())?
            )
        );
        Ok(())
    });
}

#[test]
fn bad_origins_are_refused_at_load() {
    for origin in [
        "*",
        "app.example.com",
        "https://app.example.com/",
        "https://app.example.com/path",
        "https://App.Example.com",
        "https://user@app.example.com",
        "https://app.example.com:99999",
        "ftp://app.example.com",
        "https://",
        "null",
    ] {
        Jail::expect_with(|jail| {
            let err = load(
                jail,
                &format!("[http]\ncors_allowed_origins = [{origin:?}]\n"),
            )
            .expect_err(origin);
            assert!(err.contains("cors_allowed_origins"), "{origin}: {err}");
            Ok(())
        });
    }
}

#[test]
fn bad_limits_and_proxies_are_refused_at_load() {
    for (toml, expected) in [
        ("[http]\nmax_body_bytes = 0\n", "max_body_bytes"),
        ("[rate_limit]\nauth_burst = 0\n", "rate_limit"),
        ("[rate_limit]\nprincipal_per_minute = 0\n", "rate_limit"),
        (
            "[rate_limit]\ntrusted_proxies = [\"10.0.0.0/33\"]\n",
            "trusted_proxies",
        ),
        (
            "[rate_limit]\ntrusted_proxies = [\"proxy.local\"]\n",
            "trusted_proxies",
        ),
        ("[rate_limit]\nburst = 3\n", "burst"),
    ] {
        Jail::expect_with(|jail| {
            let err = load(jail, toml).expect_err(toml);
            assert!(err.contains(expected), "{toml}: {err}");
            Ok(())
        });
    }
}
