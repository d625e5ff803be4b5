//! `/v1/auth` and `/v1/me`: register, log in, refresh (rotating), log out.

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, payload::Json};
use uuid::Uuid;

use kiln_jobs::{
    AppContext,
    db::users::UserRow,
    identity::{Role, Session},
};

use crate::{
    ApiTags,
    auth::{Auth, AuthKeys, BearerAuth, audit_entry},
    error::ApiError,
};

/// A role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "Role", rename_all = "lowercase")]
pub enum RoleDto {
    /// Own media, jobs, reports, devices.
    User,
    /// Reviews reports.
    Moderator,
    /// Backups, schedules, queues.
    Operator,
    /// Everything, including users.
    Admin,
}

impl From<Role> for RoleDto {
    fn from(r: Role) -> Self {
        match r {
            Role::User => RoleDto::User,
            Role::Moderator => RoleDto::Moderator,
            Role::Operator => RoleDto::Operator,
            Role::Admin => RoleDto::Admin,
        }
    }
}

impl From<RoleDto> for Role {
    fn from(r: RoleDto) -> Self {
        match r {
            RoleDto::User => Role::User,
            RoleDto::Moderator => Role::Moderator,
            RoleDto::Operator => Role::Operator,
            RoleDto::Admin => Role::Admin,
        }
    }
}

/// An account.
#[derive(Debug, Clone, Object)]
pub struct UserOut {
    /// User id; the `owner` of what this user creates.
    pub id: Uuid,
    /// Email address (lower-cased).
    pub email: String,
    /// Role.
    pub role: RoleDto,
    /// Disabled accounts cannot log in or use their API keys.
    pub disabled: bool,
    /// Set while the account is locked after repeated failed logins.
    #[oai(nullable)]
    pub locked_until: Option<chrono::DateTime<chrono::Utc>>,
    /// When the account was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<UserRow> for UserOut {
    fn from(u: UserRow) -> Self {
        let role = u.role.parse::<Role>().unwrap_or_default().into();
        let locked_until = u.locked_until.filter(|t| *t > chrono::Utc::now());
        UserOut {
            id: u.id,
            email: u.email,
            role,
            disabled: u.disabled,
            locked_until,
            created_at: u.created_at,
        }
    }
}

/// Email and password.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct CredentialsIn {
    /// Email address (case does not matter).
    #[oai(
        validator(min_length = 3, max_length = 254),
        deserialize_with = "crate::endpoints::text"
    )]
    pub email: String,
    /// Password: at least `auth.password_min_length` characters (default 12), not the email.
    #[oai(
        validator(min_length = 1, max_length = 1024),
        deserialize_with = "crate::endpoints::text"
    )]
    pub password: String,
}

/// A refresh token.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct RefreshIn {
    /// The refresh token from the last login or refresh; it is used up by this call.
    #[oai(
        validator(min_length = 1, max_length = 200),
        deserialize_with = "crate::endpoints::text"
    )]
    pub refresh_token: String,
}

/// What to log out.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct LogoutIn {
    /// End this session only (its refresh token); omit to end every session of the caller.
    #[oai(
        nullable,
        validator(min_length = 1, max_length = 200),
        deserialize_with = "crate::endpoints::optional_text"
    )]
    pub refresh_token: Option<String>,
}

/// How an access token is presented: `Authorization: Bearer …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum TokenType {
    /// RFC 6750 bearer token.
    Bearer,
}

/// Tokens for a session.
#[derive(Debug, Clone, Object)]
pub struct TokenOut {
    /// Bearer token for `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: TokenType,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
    /// Opaque token for `POST /v1/auth/refresh`; single use, rotated on each refresh.
    pub refresh_token: String,
    /// When `refresh_token` expires.
    pub refresh_expires_at: chrono::DateTime<chrono::Utc>,
    /// The account.
    pub user: UserOut,
}

/// A new account.
#[derive(Debug, ApiResponse)]
pub enum Registered {
    /// Created.
    #[oai(status = 201)]
    Created(Json<UserOut>),
}

/// Done, nothing to return.
#[derive(Debug, ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

fn tokens(keys: &AuthKeys, ttl: u64, s: Session) -> Result<Json<TokenOut>, ApiError> {
    let access = keys
        .mint(&s.user.id.to_string(), s.role, ttl)
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(TokenOut {
        access_token: access,
        token_type: TokenType::Bearer,
        expires_in: ttl,
        refresh_token: s.refresh_token,
        refresh_expires_at: s.refresh_expires_at,
        user: s.user.into(),
    }))
}

/// Authentication endpoints.
pub struct AuthApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Register an account
    ///
    /// Public, unless `auth.allow_registration` is false (then 403
    /// `registration_closed`). New accounts get the `user` role; a taken email
    /// is 409 `email_taken`, a weak password 422. When too many password
    /// hashes are queued already: 503 `busy` with `Retry-After`.
    #[oai(
        path = "/auth/register",
        method = "post",
        operation_id = "auth_register"
    )]
    async fn register(
        &self,
        req: &Request,
        app: Data<&AppContext>,
        body: Json<CredentialsIn>,
    ) -> Result<Registered, ApiError> {
        let user = app
            .identity
            .register(&body.email, &body.password, &audit_entry(req))
            .await?;
        Ok(Registered::Created(Json(user.into())))
    }

    /// Log in
    ///
    /// Public. Answers an access token and a refresh token. Any failure
    /// (unknown email, wrong password, locked or disabled account) is the same
    /// 401 `invalid_credentials`; after `auth.lockout_threshold` failures in a
    /// row the account is locked for `auth.lockout_secs`. When too many
    /// logins are waiting for password hashing: 503 `busy` with `Retry-After`
    /// (the attempt is not counted).
    #[oai(path = "/auth/login", method = "post", operation_id = "auth_login")]
    async fn login(
        &self,
        req: &Request,
        app: Data<&AppContext>,
        keys: Data<&AuthKeys>,
        body: Json<CredentialsIn>,
    ) -> Result<Json<TokenOut>, ApiError> {
        let session = app
            .identity
            .login(&body.email, &body.password, &audit_entry(req))
            .await?;
        tokens(&keys, app.config.auth.access_token_ttl_secs, session)
    }

    /// Refresh the tokens
    ///
    /// Public. Uses up the refresh token and answers a new pair. A refresh
    /// token presented a second time ends its whole session (every token
    /// descended from the same login) and is recorded in the audit log.
    #[oai(path = "/auth/refresh", method = "post", operation_id = "auth_refresh")]
    async fn refresh(
        &self,
        req: &Request,
        app: Data<&AppContext>,
        keys: Data<&AuthKeys>,
        body: Json<RefreshIn>,
    ) -> Result<Json<TokenOut>, ApiError> {
        let session = app
            .identity
            .refresh(&body.refresh_token, &audit_entry(req))
            .await?;
        tokens(&keys, app.config.auth.access_token_ttl_secs, session)
    }

    /// Log out
    ///
    /// Bearer token only. Ends the session of the given refresh token, or
    /// every session of the caller. Access tokens already issued stay valid
    /// until they expire (`auth.access_token_ttl_secs`).
    #[oai(path = "/auth/logout", method = "post", operation_id = "auth_logout")]
    async fn logout(
        &self,
        auth: BearerAuth,
        req: &Request,
        app: Data<&AppContext>,
        body: Json<LogoutIn>,
    ) -> Result<NoContent, ApiError> {
        let user = auth.0.user_id()?;
        app.identity
            .logout(user, body.refresh_token.as_deref(), &audit_entry(req))
            .await?;
        Ok(NoContent::Done)
    }

    /// The caller's account
    ///
    /// Any authenticated caller (bearer token or API key).
    #[oai(path = "/me", method = "get", operation_id = "me_get")]
    async fn me(&self, auth: Auth, app: Data<&AppContext>) -> Result<Json<UserOut>, ApiError> {
        let id = auth.principal().user_id()?;
        Ok(Json(app.identity.user(id).await?.into()))
    }
}
