//! Authentication and authorization: who is calling ([`Principal`]) and what
//! they may do.
//!
//! An operation authenticates with [`Auth`] (a bearer JWT or an `X-API-Key`)
//! or, where a key must not be enough (managing keys, sessions and users),
//! with [`BearerAuth`] alone. It then states who may call it with
//! [`Principal::require_scope`] and the role checks.

mod keys;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use poem_openapi::{
    SecurityScheme,
    auth::{ApiKey, Bearer},
};
use uuid::Uuid;

use kiln_jobs::{
    AppContext,
    identity::{AuditEntry, Role, Scope},
};

pub use keys::{AuthKeys, AuthKeysBuilder, Claims};

use crate::{
    error::{ApiError, current_request_id},
    rate_limit::{ClientIp, RateLimits},
};

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The subject (user id); owner of what it creates.
    pub subject: String,
    /// Its role.
    pub role: Role,
    /// The API key used, if any; its scopes limit what the call may do.
    pub key: Option<(Uuid, Vec<Scope>)>,
}

impl Principal {
    /// The owner filter for reads: operators and admins see everyone's jobs.
    pub fn owner_scope(&self) -> Option<&str> {
        (!self.role.is_staff()).then_some(self.subject.as_str())
    }

    /// 403 unless the call may use `scope`: a bearer token may use what its
    /// role allows; an API key only the scopes it was created with.
    pub fn require_scope(&self, scope: Scope) -> Result<(), ApiError> {
        if !scope.allowed_for(self.role) {
            return Err(ApiError::forbidden(format!(
                "the {} role may not use {scope}",
                self.role
            )));
        }
        match &self.key {
            Some((_, scopes)) if !scopes.contains(&scope) => Err(ApiError::forbidden_code(
                "insufficient_scope",
                format!("this API key lacks the scope {scope}"),
            )),
            _ => Ok(()),
        }
    }

    /// 403 unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("admins only"))
        }
    }

    /// The caller's user id. Tokens minted by `kiln token` for a non-user
    /// subject have none: 404 for operations on "my account".
    pub fn user_id(&self) -> Result<Uuid, ApiError> {
        self.subject
            .parse()
            .map_err(|_| ApiError::not_found("user"))
    }
}

/// A bearer JWT (access token from `POST /v1/auth/login`).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Principal);

/// An API key (`POST /v1/api-keys`) in the `X-API-Key` header.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "X-API-Key",
    key_in = "header",
    checker = "check_api_key"
)]
pub struct ApiKeyAuth(pub Principal);

/// Either credential.
#[derive(SecurityScheme)]
pub enum Auth {
    /// A bearer access token.
    Bearer(BearerAuth),
    /// An API key.
    ApiKey(ApiKeyAuth),
}

impl Auth {
    /// The authenticated caller.
    pub fn principal(&self) -> &Principal {
        match self {
            Auth::Bearer(b) => &b.0,
            Auth::ApiKey(k) => &k.0,
        }
    }
}

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    already_verified(req, false)
        .or_else(|| bearer_principal(req, &bearer.token))
        .ok_or_else(|| reject(ApiError::unauthorized("invalid or expired access token")))
}

fn reject(e: ApiError) -> poem::Error {
    poem::Error::from_response(poem::IntoResponse::into_response(e))
}

/// The per-principal rate limit (middleware). It verifies the credential
/// itself, so the limiter is keyed by a verified user or key id, never by
/// client input, and answers 429 before the operation runs. It cannot live in
/// the security-scheme checkers: with either-scheme operations poem-openapi
/// reports the last scheme's error, which would turn a 429 into a 401.
/// Requests without valid credentials pass through to get their 401.
pub struct PrincipalRateLimit;

impl<E: Endpoint> Middleware<E> for PrincipalRateLimit {
    type Output = PrincipalRateLimitEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        PrincipalRateLimitEndpoint(ep)
    }
}

/// See [`PrincipalRateLimit`].
pub struct PrincipalRateLimitEndpoint<E>(E);

impl<E: Endpoint> Endpoint for PrincipalRateLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        if !req.uri().path().starts_with("/v1/auth/")
            && let Some(principal) = verified_principal(&req).await
        {
            let key = match &principal.key {
                Some((id, _)) => format!("api_key:{id}"),
                None => format!("user:{}", principal.subject),
            };
            if let Some(limits) = req.data::<RateLimits>()
                && let Err(e) = limits.check_principal(&key)
            {
                return Ok(e.into_response());
            }
            // The checkers reuse it instead of verifying the credential again.
            req.extensions_mut().insert(principal);
        }
        self.0.call(req).await.map(IntoResponse::into_response)
    }
}

/// The caller named by the bearer token or, without one, the API key; None
/// when neither verifies.
async fn verified_principal(req: &Request) -> Option<Principal> {
    if let Some(token) = req.header("authorization").and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    }) {
        return bearer_principal(req, token.trim());
    }
    let key = req.header("x-api-key")?;
    let app = req.data::<AppContext>()?;
    match app.identity.authenticate_key(key).await {
        Ok(Some(k)) => Some(Principal {
            subject: k.user_id.to_string(),
            role: k.role,
            key: Some((k.key_id, k.scopes)),
        }),
        _ => None,
    }
}

fn bearer_principal(req: &Request, token: &str) -> Option<Principal> {
    let claims = req.data::<AuthKeys>()?.verify(token)?;
    Some(Principal {
        subject: claims.sub,
        role: claims.role,
        key: None,
    })
}

/// The principal [`PrincipalRateLimit`] already verified, if it was of this kind.
fn already_verified(req: &Request, api_key: bool) -> Option<Principal> {
    req.extensions()
        .get::<Principal>()
        .filter(|p| p.key.is_some() == api_key)
        .cloned()
}

async fn check_api_key(req: &Request, key: ApiKey) -> poem::Result<Principal> {
    if let Some(p) = already_verified(req, true) {
        return Ok(p);
    }
    let unauthorized = || reject(ApiError::unauthorized("invalid API key"));
    let app = req.data::<AppContext>().ok_or_else(unauthorized)?;
    match app.identity.authenticate_key(&key.key).await {
        Ok(Some(k)) => Ok(Principal {
            subject: k.user_id.to_string(),
            role: k.role,
            key: Some((k.key_id, k.scopes)),
        }),
        Ok(None) => Err(unauthorized()),
        Err(e) => Err(poem::Error::from_response(
            poem::IntoResponse::into_response(ApiError::unavailable("database", &e)),
        )),
    }
}

/// Where a request came from, for the audit log.
pub fn audit_entry(req: &Request) -> AuditEntry {
    // The client address resolved through trusted proxies, else the peer.
    let ip = req.data::<ClientIp>().map(|c| c.0.to_string()).or_else(|| {
        req.remote_addr()
            .as_socket_addr()
            .map(|a| a.ip().to_string())
    });
    AuditEntry {
        ip,
        request_id: Some(current_request_id()).filter(|s| !s.is_empty()),
    }
}
