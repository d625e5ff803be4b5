use figment::Jail;
use kiln_jobs::Config;

/// Loads the config inside a jail (private env and working directory).
fn load(jail: &mut Jail, vars: &[(&str, &str)], file: Option<&str>) -> Result<Config, String> {
    for (k, v) in vars {
        jail.set_env(k, v);
    }
    let path = match file {
        Some(body) => {
            jail.create_file("kiln.toml", body)
                .map_err(|e| e.to_string())?;
            Some(std::path::PathBuf::from("kiln.toml"))
        }
        None => None,
    };
    Config::load(path.as_deref()).map_err(|e| e.to_string())
}

#[test]
fn defaults_run_embedded() {
    Jail::expect_with(|jail| {
        let c = load(jail, &[], None)?;
        assert_eq!(c.database_url(), "sqlite:./data/kiln.db");
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.media.presets.len(), 3);
        Ok(())
    });
}

#[test]
fn environment_overrides_file_which_overrides_defaults() {
    Jail::expect_with(|jail| {
        let c = load(
            jail,
            &[
                ("KILN__QUEUES__MEDIA__CONCURRENCY", "5"),
                ("DATABASE_URL", "postgres://u@db/kiln"),
            ],
            Some("[http]\nlisten = \"127.0.0.1:9001\"\n[queues.media]\nconcurrency = 3\n"),
        )?;
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:9001", "from the file");
        assert_eq!(c.queues.media.concurrency, 5, "env wins");
        assert_eq!(c.database_url(), "postgres://u@db/kiln");
        Ok(())
    });
}

#[test]
fn unknown_keys_are_refused_at_startup() {
    Jail::expect_with(|jail| {
        let err = load(jail, &[("KILN__HTTP__LISTN", "127.0.0.1:1")], None).expect_err("typo");
        assert!(err.contains("listn"), "{err}");
        Ok(())
    });
    Jail::expect_with(|jail| {
        let err = load(jail, &[], Some("[queues.media]\nconcurency = 3\n")).expect_err("typo");
        assert!(err.contains("concurency"), "{err}");
        Ok(())
    });
}

#[test]
fn a_missing_config_file_is_an_error() {
    Jail::expect_with(|_| {
        let err = Config::load(Some(std::path::Path::new("nope.toml"))).expect_err("missing");
        assert!(err.to_string().contains("does not exist"), "{err}");
        Ok(())
    });
}

#[test]
fn invalid_values_are_refused_with_a_clear_message() {
    for (var, value, expected) in [
        ("KILN__QUEUES__BACKUPS__CONCURRENCY", "0", "queues.backups"),
        ("DATABASE_URL", "mysql://x", "database.url"),
        ("KILN__AUTH__JWT_SECRET", "short", "at least 32 bytes"),
        ("KILN__HTTP__LISTEN", "not-an-address", "listen"),
    ] {
        Jail::expect_with(|jail| {
            let err = load(jail, &[(var, value)], None).expect_err(var);
            assert!(err.to_lowercase().contains(expected), "{var}: {err}");
            Ok(())
        });
    }
}

#[test]
fn production_refuses_to_start_without_secrets() {
    Jail::expect_with(|jail| {
        let prod = [
            ("KILN__ENVIRONMENT", "production"),
            ("DATABASE_URL", "postgres://u@db/kiln"),
        ];
        let err = load(jail, &prod, None).expect_err("no signing key");
        assert!(err.contains("auth.keys needs a key that can sign"), "{err}");

        // A development HS256 secret, however long, is refused in production.
        let mut with_secret = prod.to_vec();
        with_secret.push((
            "KILN__AUTH__JWT_SECRET",
            "0123456789abcdef0123456789abcdef!!",
        ));
        let err = load(jail, &with_secret, None).expect_err("hs256 in production");
        assert!(err.contains("production"), "{err}");
        Ok(())
    });
}

#[test]
fn production_accepts_an_eddsa_signing_key_and_verification_only_keys() {
    Jail::expect_with(|jail| {
        let good = r#"
environment = "production"
[auth]
signing_kid = "2026-11"
[[auth.keys]]
kid = "2026-11"
algorithm = "EdDSA"
private_key_file = "/etc/kiln/2026-11.pem"
public_key_file = "/etc/kiln/2026-11.pub.pem"
[[auth.keys]]
kid = "2026-05"
algorithm = "RS256"
public_key_file = "/etc/kiln/2026-05.pub.pem"
"#;
        let db = [("DATABASE_URL", "postgres://u@db/kiln")];
        let c = load(jail, &db, Some(good))?;
        assert_eq!(c.auth.keys.len(), 2);

        let bad = r#"
environment = "production"
[auth]
signing_kid = "old"
[[auth.keys]]
kid = "old"
algorithm = "RS256"
public_key_file = "/etc/kiln/old.pub.pem"
"#;
        let err = load(jail, &db, Some(bad)).expect_err("verification-only signer");
        assert!(err.contains("cannot sign"), "{err}");
        Ok(())
    });
}

#[test]
fn secrets_are_redacted_when_logged() {
    Jail::expect_with(|jail| {
        let c = load(
            jail,
            &[
                ("DATABASE_URL", "postgres://u:hunter2@db/kiln"),
                (
                    "KILN__AUTH__JWT_SECRET",
                    "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t",
                ),
            ],
            None,
        )?;
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cr3t"),
            "{shown}"
        );
        Ok(())
    });
}
