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

/// The credentials a request carries: the one parser the rate limit and the
/// security-scheme checkers share, so what one of them authenticates the
/// other counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Credentials<'a> {
    /// The token of an `Authorization: Bearer …` header (the scheme is
    /// case-insensitive, RFC 9110 §11.1).
    pub bearer: Option<&'a str>,
    /// The `X-API-Key` header.
    pub api_key: Option<&'a str>,
}

impl<'a> Credentials<'a> {
    /// Reads both headers of `req`.
    pub(crate) fn of(req: &'a Request) -> Self {
        Credentials {
            bearer: req.header("authorization").and_then(bearer_token),
            api_key: req.header("x-api-key").filter(|k| !k.is_empty()),
        }
    }
}

/// The token of a bearer `Authorization` value, whatever the scheme's case.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

async fn check_bearer(req: &Request, _bearer: Bearer) -> poem::Result<Principal> {
    already_verified(req, false)
        .or_else(|| {
            Credentials::of(req)
                .bearer
                .and_then(|t| bearer_principal(req, t))
        })
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
/// Requests without valid credentials are counted against their client IP on
/// the same quota, then pass through to get their 401 (`/v1/auth/` has its
/// own per-IP limit).
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
        if req.uri().path().starts_with("/v1/auth/") {
            return self.0.call(req).await.map(IntoResponse::into_response);
        }
        let principal = verified_principal(&req).await;
        if let Some(limits) = req.data::<RateLimits>() {
            let counted = match &principal {
                Some(p) => limits.check_principal(&match &p.key {
                    Some((id, _)) => format!("api_key:{id}"),
                    None => format!("user:{}", p.subject),
                }),
                None => match client_ip(&req) {
                    Some(ip) => limits.check_client(ip),
                    None => Ok(()),
                },
            };
            if let Err(e) = counted {
                return Ok(e.into_response());
            }
        }
        if let Some(principal) = principal {
            // The checkers reuse it instead of verifying the credential again.
            req.extensions_mut().insert(principal);
        }
        self.0.call(req).await.map(IntoResponse::into_response)
    }
}

/// The caller named by the bearer token or, when there is none or it does not
/// verify, the API key (as an either-credential operation would accept it);
/// None when neither verifies.
async fn verified_principal(req: &Request) -> Option<Principal> {
    let creds = Credentials::of(req);
    if let Some(p) = creds.bearer.and_then(|t| bearer_principal(req, t)) {
        return Some(p);
    }
    let key = creds.api_key?;
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

/// The client address resolved through trusted proxies, else the peer.
fn client_ip(req: &Request) -> Option<std::net::IpAddr> {
    req.data::<ClientIp>()
        .map(|c| c.0)
        .or_else(|| req.remote_addr().as_socket_addr().map(|a| a.ip()))
}

/// Where a request came from, for the audit log.
pub fn audit_entry(req: &Request) -> AuditEntry {
    let ip = client_ip(req).map(|ip| ip.to_string());
    AuditEntry {
        ip,
        request_id: Some(current_request_id()).filter(|s| !s.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        for v in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR  abc "] {
            assert_eq!(bearer_token(v), Some("abc"), "{v:?}");
        }
        for v in ["Basic abc", "Bearer", "Bearer ", "Bearerabc", ""] {
            assert_eq!(bearer_token(v), None, "{v:?}");
        }
    }
}
