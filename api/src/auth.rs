//! Authentication: a bearer JWT (HS256) names the principal.
//!
//! This is the seam the identity work extends (refresh tokens, API keys, key
//! rotation): operations take a [`BearerAuth`] and read its [`Principal`].

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};
use serde::{Deserialize, Serialize};

/// Roles, from least to most privileged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Own media, jobs, reports, devices.
    #[default]
    User,
    /// Reviews reports.
    Moderator,
    /// Backups, schedules, queues.
    Operator,
    /// Everything.
    Admin,
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The subject (user id); owner of what it creates.
    pub subject: String,
    /// Its role.
    pub role: Role,
}

impl Principal {
    /// The owner filter for reads: operators and admins see everyone's jobs.
    pub fn owner_scope(&self) -> Option<&str> {
        match self.role {
            Role::Operator | Role::Admin => None,
            Role::User | Role::Moderator => Some(&self.subject),
        }
    }
}

/// Access-token claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Subject.
    pub sub: String,
    /// Role.
    #[serde(default)]
    pub role: Role,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Issued at (unix seconds).
    pub iat: u64,
    /// Expiry (unix seconds).
    pub exp: u64,
}

/// Verification and signing keys, from config.
#[derive(Clone)]
pub struct AuthKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for AuthKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthKeys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl AuthKeys {
    /// HS256 keys from a shared secret.
    pub fn hs256(secret: &[u8], issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// Mints an access token.
    pub fn mint(
        &self,
        subject: &str,
        role: Role,
        ttl_secs: u64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            role,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + ttl_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Verifies a token (signature, algorithm, expiry, issuer, audience).
    pub fn verify(&self, token: &str) -> Option<Principal> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        if data.claims.sub.is_empty() {
            return None;
        }
        Some(Principal {
            subject: data.claims.sub,
            role: data.claims.role,
        })
    }
}

/// A bearer JWT.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Principal);

async fn check_bearer(req: &Request, bearer: Bearer) -> Option<Principal> {
    req.data::<AuthKeys>()?.verify(&bearer.token)
}
