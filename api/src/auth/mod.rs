//! Authentication and authorization: who is calling ([`Principal`]) and what
//! they may do.
//!
//! An operation authenticates with [`Auth`] (a bearer JWT or an `X-API-Key`)
//! or, where a key must not be enough (managing keys, sessions and users),
//! with [`BearerAuth`] alone. It then states who may call it with
//! [`Principal::require_scope`] and the role checks.

mod keys;

use poem::Request;
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

use crate::error::{ApiError, current_request_id};

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

async fn check_bearer(req: &Request, bearer: Bearer) -> Option<Principal> {
    let claims = req.data::<AuthKeys>()?.verify(&bearer.token)?;
    Some(Principal {
        subject: claims.sub,
        role: claims.role,
        key: None,
    })
}

async fn check_api_key(req: &Request, key: ApiKey) -> poem::Result<Principal> {
    let unauthorized = || {
        poem::Error::from_response(poem::IntoResponse::into_response(ApiError::unauthorized(
            "invalid API key",
        )))
    };
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
    let ip = req
        .remote_addr()
        .as_socket_addr()
        .map(|a| a.ip().to_string());
    AuditEntry {
        ip,
        request_id: Some(current_request_id()).filter(|s| !s.is_empty()),
    }
}
