//! Settings of authentication (the `auth` section of Kiln's config): access-token
//! keys and lifetimes, registration, password policy, lockout and argon2 cost.

use std::{collections::HashSet, path::PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Authentication settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HS256 secret for access tokens, at least 32 bytes: the single-key shortcut
    /// (key id `default`), allowed only in development. When neither this nor
    /// `keys` is set in development, a random secret is generated once and kept
    /// in `{data_dir}/jwt-secret`.
    #[serde(skip_serializing)]
    pub jwt_secret: Option<SecretString>,
    /// Signing and verification keys, each with a key id (`kid`). Tokens are
    /// signed with `signing_kid`; every listed key verifies, so a new key can be
    /// introduced and an old one retired without logging anyone out.
    pub keys: Vec<JwtKeyConfig>,
    /// The `kid` of the key that signs new tokens (default: the first key able to sign).
    pub signing_kid: Option<String>,
    /// `iss` claim written and required (default `kiln`).
    pub issuer: String,
    /// `aud` claim written and required (default `kiln-api`).
    pub audience: String,
    /// Lifetime of access tokens, in seconds (default 900).
    pub access_token_ttl_secs: u64,
    /// Lifetime of a refresh token, in seconds; each refresh issues a new one
    /// (default 2,592,000 = 30 days).
    pub refresh_token_ttl_secs: u64,
    /// Whether `POST /v1/auth/register` is open (default true). When false,
    /// accounts are made by admins (`kiln user create`).
    pub allow_registration: bool,
    /// Minimum password length in characters (default 12).
    pub password_min_length: usize,
    /// Consecutive failed logins that lock an account (default 5).
    pub lockout_threshold: u32,
    /// How long a locked account stays locked, in seconds (default 900).
    pub lockout_secs: u64,
    /// argon2id memory cost in KiB (default 19,456 = 19 MiB, OWASP's minimum).
    pub argon2_memory_kib: u32,
    /// argon2id iterations (default 2).
    pub argon2_iterations: u32,
    /// argon2id lanes (default 1).
    pub argon2_parallelism: u32,
    /// How many password hashes or verifications run at once, each holding
    /// `argon2_memory_kib` of RAM (default: twice the number of CPUs).
    pub argon2_permits: Option<usize>,
    /// How many logins and registrations may wait for a free permit; when the
    /// queue is full they get 503 `busy` with `Retry-After` (default: eight
    /// times the permits).
    pub argon2_queue: Option<usize>,
    /// Longest wait for a permit, in milliseconds, before the request gets
    /// 503 `busy` (default 5,000).
    pub argon2_max_wait_ms: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            keys: Vec::new(),
            signing_kid: None,
            issuer: "kiln".into(),
            audience: "kiln-api".into(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            allow_registration: true,
            password_min_length: 12,
            lockout_threshold: 5,
            lockout_secs: 900,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            argon2_permits: None,
            argon2_queue: None,
            argon2_max_wait_ms: 5_000,
        }
    }
}

/// JWT signature algorithms Kiln accepts; each key is pinned to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JwtAlgorithm {
    /// Ed25519 signatures (recommended).
    EdDSA,
    /// RSA PKCS#1 v1.5 with SHA-256.
    RS256,
    /// HMAC-SHA256 with a shared secret (development only).
    HS256,
}

/// One JWT key. EdDSA and RS256 keys name PEM files: `private_key_file` to
/// sign (PKCS#8), `public_key_file` to verify; a key with only a public key
/// verifies tokens but never signs. HS256 keys carry `secret`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyConfig {
    /// Key id, written into each token's header.
    pub kid: String,
    /// The algorithm this key signs and verifies with; tokens naming another are refused.
    pub algorithm: JwtAlgorithm,
    /// PEM file of the private key (EdDSA, RS256).
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// PEM file of the public key (EdDSA, RS256).
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    /// Shared secret, at least 32 bytes (HS256).
    #[serde(default, skip_serializing)]
    pub secret: Option<SecretString>,
}

impl AuthConfig {
    /// Checks the settings; `production` refuses development secrets (HS256).
    /// The error names the offending field.
    pub fn validate(&self, production: bool) -> Result<(), String> {
        if let Some(secret) = &self.jwt_secret {
            if secret.expose_secret().len() < 32 {
                return Err("auth.jwt_secret must be at least 32 bytes".into());
            }
            if production {
                return Err(
                    "auth.jwt_secret (HS256) is for development; production signs with \
                            an EdDSA or RS256 key in auth.keys"
                        .into(),
                );
            }
        }
        let mut kids = HashSet::new();
        for k in &self.keys {
            if k.kid.is_empty() || !kids.insert(k.kid.as_str()) {
                return Err(format!("auth.keys: kid {:?} is empty or repeated", k.kid));
            }
            match k.algorithm {
                JwtAlgorithm::HS256 => {
                    let len = k.secret.as_ref().map_or(0, |s| s.expose_secret().len());
                    if len < 32 {
                        return Err(format!(
                            "auth.keys[{}]: an HS256 secret of at least 32 bytes is required",
                            k.kid
                        ));
                    }
                    if k.private_key_file.is_some() || k.public_key_file.is_some() {
                        return Err(format!(
                            "auth.keys[{}]: HS256 takes a secret, not key files",
                            k.kid
                        ));
                    }
                }
                JwtAlgorithm::EdDSA | JwtAlgorithm::RS256 => {
                    if k.secret.is_some() {
                        return Err(format!(
                            "auth.keys[{}]: {:?} takes key files, not a secret",
                            k.kid, k.algorithm
                        ));
                    }
                    if k.public_key_file.is_none() {
                        return Err(format!("auth.keys[{}]: public_key_file is required", k.kid));
                    }
                }
            }
        }
        let can_sign = |k: &&JwtKeyConfig| k.secret.is_some() || k.private_key_file.is_some();
        let signer =
            match &self.signing_kid {
                Some(kid) => Some(self.keys.iter().find(|k| &k.kid == kid).ok_or_else(|| {
                    format!("auth.signing_kid {kid:?} names no key in auth.keys")
                })?),
                None => self.keys.iter().find(can_sign),
            };
        if let Some(k) = signer {
            if !can_sign(&k) {
                return Err(format!(
                    "auth.keys[{}] cannot sign: it has no private key",
                    k.kid
                ));
            }
            if production && k.algorithm == JwtAlgorithm::HS256 {
                return Err("production signs with an EdDSA or RS256 key, not HS256".into());
            }
        } else if !self.keys.is_empty() || production {
            return Err("auth.keys needs a key that can sign (production: EdDSA or RS256)".into());
        }
        if !(1..=86_400).contains(&self.access_token_ttl_secs) {
            return Err("auth.access_token_ttl_secs must be between 1 and 86400".into());
        }
        if !(1..=10 * 365 * 86_400).contains(&self.refresh_token_ttl_secs) {
            return Err("auth.refresh_token_ttl_secs must be between 1 and 10 years".into());
        }
        if self.lockout_secs > 365 * 86_400 {
            return Err("auth.lockout_secs must be at most a year".into());
        }
        if self.password_min_length < 8 {
            return Err("auth.password_min_length must be at least 8".into());
        }
        if self.argon2_permits == Some(0) {
            return Err("auth.argon2_permits must be at least 1".into());
        }
        if !(1..=60_000).contains(&self.argon2_max_wait_ms) {
            return Err("auth.argon2_max_wait_ms must be between 1 and 60000".into());
        }
        if self.lockout_threshold == 0 {
            return Err("auth.lockout_threshold must be at least 1".into());
        }
        Ok(())
    }
}
