//! Access tokens: signing with one key, verifying with every configured key,
//! each pinned to its algorithm and looked up by the token's `kid`.

use std::collections::HashMap;

use anyhow::Context as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kiln_jobs::{
    Config,
    config::Environment,
    identity::{Role, config::JwtAlgorithm},
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Access-token claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: the user id.
    pub sub: String,
    /// The user's role when the token was issued.
    pub role: Role,
    /// Token id.
    pub jti: String,
    /// Issued at (unix seconds).
    pub iat: u64,
    /// Expiry (unix seconds).
    pub exp: u64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
}

/// Clock skew tolerated on `exp`, in seconds.
const LEEWAY_SECS: u64 = 5;

struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

/// The signing key and every verification key.
#[derive(Clone)]
pub struct AuthKeys {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    signer: Option<(String, Algorithm, EncodingKey)>,
    verifiers: HashMap<String, Verifier>,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for AuthKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthKeys")
            .field("signing_kid", &self.inner.signer.as_ref().map(|s| &s.0))
            .field("kids", &self.inner.verifiers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn algorithm(a: JwtAlgorithm) -> Algorithm {
    match a {
        JwtAlgorithm::EdDSA => Algorithm::EdDSA,
        JwtAlgorithm::RS256 => Algorithm::RS256,
        JwtAlgorithm::HS256 => Algorithm::HS256,
    }
}

/// Builds [`AuthKeys`] key by key.
pub struct AuthKeysBuilder {
    inner: Inner,
}

impl AuthKeysBuilder {
    /// No keys yet.
    pub fn new(issuer: &str, audience: &str) -> Self {
        Self {
            inner: Inner {
                signer: None,
                verifiers: HashMap::new(),
                issuer: issuer.to_owned(),
                audience: audience.to_owned(),
            },
        }
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.inner.issuer]);
        v.set_audience(&[&self.inner.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = LEEWAY_SECS;
        v
    }

    /// Adds a verification key; `signing` also makes it the signer.
    pub fn key(
        mut self,
        kid: &str,
        alg: Algorithm,
        decoding: DecodingKey,
        signing: Option<EncodingKey>,
    ) -> Self {
        let validation = self.validation(alg);
        self.inner.verifiers.insert(
            kid.to_owned(),
            Verifier {
                key: decoding,
                validation,
            },
        );
        if let Some(enc) = signing {
            self.inner.signer = Some((kid.to_owned(), alg, enc));
        }
        self
    }

    /// Adds an HS256 key from a shared secret.
    pub fn hs256(self, kid: &str, secret: &[u8], sign: bool) -> Self {
        let enc = sign.then(|| EncodingKey::from_secret(secret));
        self.key(kid, Algorithm::HS256, DecodingKey::from_secret(secret), enc)
    }

    /// The finished key set.
    pub fn build(self) -> AuthKeys {
        AuthKeys {
            inner: std::sync::Arc::new(self.inner),
        }
    }
}

impl AuthKeys {
    /// One HS256 key (`kid` `default`) that signs and verifies.
    pub fn hs256(secret: &[u8], issuer: &str, audience: &str) -> Self {
        AuthKeysBuilder::new(issuer, audience)
            .hs256("default", secret, true)
            .build()
    }

    /// The keys `auth` configures. In development without any, an HS256
    /// secret is generated once and kept in `{data_dir}/jwt-secret`.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let auth = &config.auth;
        let mut b = AuthKeysBuilder::new(&auth.issuer, &auth.audience);
        let signing_kid = auth.signing_kid.clone().or_else(|| {
            auth.keys
                .iter()
                .find(|k| k.secret.is_some() || k.private_key_file.is_some())
                .map(|k| k.kid.clone())
        });
        for k in &auth.keys {
            let alg = algorithm(k.algorithm);
            let signs = signing_kid.as_deref() == Some(k.kid.as_str());
            let read = |p: &std::path::PathBuf| {
                std::fs::read(p)
                    .with_context(|| format!("auth.keys[{}]: read {}", k.kid, p.display()))
            };
            b = match k.algorithm {
                JwtAlgorithm::HS256 => {
                    let secret = k.secret.as_ref().context("HS256 key without a secret")?;
                    b.hs256(&k.kid, secret.expose_secret().as_bytes(), signs)
                }
                JwtAlgorithm::EdDSA | JwtAlgorithm::RS256 => {
                    let public = k
                        .public_key_file
                        .as_ref()
                        .context("key without public_key_file")?;
                    let public = read(public)?;
                    let dec = match k.algorithm {
                        JwtAlgorithm::EdDSA => DecodingKey::from_ed_pem(&public),
                        _ => DecodingKey::from_rsa_pem(&public),
                    }
                    .with_context(|| format!("auth.keys[{}]: parse the public key", k.kid))?;
                    let enc = match (&k.private_key_file, signs) {
                        (Some(p), true) => {
                            let private = read(p)?;
                            Some(
                                match k.algorithm {
                                    JwtAlgorithm::EdDSA => EncodingKey::from_ed_pem(&private),
                                    _ => EncodingKey::from_rsa_pem(&private),
                                }
                                .with_context(|| {
                                    format!("auth.keys[{}]: parse the private key", k.kid)
                                })?,
                            )
                        }
                        _ => None,
                    };
                    b.key(&k.kid, alg, dec, enc)
                }
            };
        }
        if let Some(secret) = &auth.jwt_secret {
            let signs = b.inner.signer.is_none();
            b = b.hs256("default", secret.expose_secret().as_bytes(), signs);
        } else if auth.keys.is_empty() {
            anyhow::ensure!(
                config.environment == Environment::Development,
                "auth: production needs a signing key in auth.keys"
            );
            b = b.hs256("default", &dev_secret(config)?, true);
        }
        let keys = b.build();
        anyhow::ensure!(keys.inner.signer.is_some(), "auth: no key can sign tokens");
        Ok(keys)
    }

    /// Mints an access token for `subject`, valid `ttl_secs`.
    pub fn mint(
        &self,
        subject: &str,
        role: Role,
        ttl_secs: u64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = jsonwebtoken::get_current_timestamp();
        self.sign(&Claims {
            sub: subject.to_owned(),
            role,
            jti: Uuid::new_v4().to_string(),
            iat: now,
            exp: now + ttl_secs,
            iss: self.inner.issuer.clone(),
            aud: self.inner.audience.clone(),
        })
    }

    /// Signs arbitrary claims with the signing key.
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        let Some((kid, alg, key)) = &self.inner.signer else {
            return Err(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into());
        };
        let mut header = Header::new(*alg);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, claims, key)
    }

    /// Verifies a token: a known `kid`, that key's algorithm only, the
    /// signature, expiry, issuer, audience, and every claim present.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let kid = header.kid.as_deref().unwrap_or("default");
        let v = self.inner.verifiers.get(kid)?;
        let data = jsonwebtoken::decode::<Claims>(token, &v.key, &v.validation).ok()?;
        let c = data.claims;
        (!c.sub.is_empty() && !c.jti.is_empty()).then_some(c)
    }
}

/// The development secret: read from `{data_dir}/jwt-secret`, or generated
/// there once (two processes starting together agree through `create_new`).
/// The file is created readable by its owner only; an existing file that
/// others may read is tightened to 0600, with a warning.
fn dev_secret(config: &Config) -> anyhow::Result<Vec<u8>> {
    let path = config.data_dir.join("jwt-secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim();
        if s.len() >= 32 {
            keep_private(&path);
            return Ok(s.as_bytes().to_vec());
        }
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("create {}", config.data_dir.display()))?;
    let secret = kiln_jobs::secrets::random_token(48);
    match private_options().open(&path) {
        Ok(mut f) => {
            use std::io::Write;
            f.write_all(secret.as_bytes())
                .with_context(|| format!("write {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a development JWT secret");
            Ok(secret.into_bytes())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let s = std::fs::read_to_string(&path)
                .with_context(|| format!("read {}", path.display()))?;
            anyhow::ensure!(
                s.trim().len() >= 32,
                "{} holds a secret shorter than 32 bytes",
                path.display()
            );
            keep_private(&path);
            Ok(s.trim().as_bytes().to_vec())
        }
        Err(e) => Err(e).with_context(|| format!("create {}", path.display())),
    }
}

/// Options that create a new file, mode 0600 from the start on Unix (no
/// window in which it is readable by others).
fn private_options() -> std::fs::OpenOptions {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o
}

/// Tightens a secret file that its group or others may read to 0600, and
/// says so; a file it cannot change is left with a warning.
fn keep_private(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return;
        }
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "the JWT secret was readable by others; its mode is now 600"
            ),
            Err(e) => tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                error = %e,
                "the JWT secret is readable by others and its mode could not be changed"
            ),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &std::path::Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn the_dev_secret_file_is_private_and_tightened_when_it_is_not() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        let path = config.data_dir.join("jwt-secret");
        let first = AuthKeys::from_config(&config).expect("keys");
        assert_eq!(mode(&path), 0o600);

        // A file others could read (made by an older Kiln, or by hand) is
        // tightened, and the secret in it is kept.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let again = AuthKeys::from_config(&config).expect("keys");
        assert_eq!(mode(&path), 0o600);
        let token = first.mint("alice", Role::User, 60).expect("mint");
        assert_eq!(again.verify(&token).map(|c| c.sub), Some("alice".into()));
    }
}
