//! `/v1/api-keys`: the caller's API keys.

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use kiln_jobs::{AppContext, db::api_keys::ApiKeyRow, identity::Scope};

use crate::{
    ApiTags,
    auth::{BearerAuth, audit_entry},
    endpoints::{auth::NoContent, stored_list},
    error::ApiError,
};

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "Scope")]
pub enum ScopeDto {
    /// Read own media.
    #[oai(rename = "media:read")]
    MediaRead,
    /// Upload and delete own media.
    #[oai(rename = "media:write")]
    MediaWrite,
    /// Read jobs.
    #[oai(rename = "jobs:read")]
    JobsRead,
    /// Cancel and retry jobs.
    #[oai(rename = "jobs:write")]
    JobsWrite,
    /// Read queue depths (operators and admins).
    #[oai(rename = "queues:read")]
    QueuesRead,
    /// Requeue dead jobs (operators and admins).
    #[oai(rename = "queues:admin")]
    QueuesAdmin,
    /// Run and schedule backups (operators and admins).
    #[oai(rename = "backups:admin")]
    BackupsAdmin,
    /// Send notifications to users (operators and admins).
    #[oai(rename = "notifications:write")]
    NotificationsWrite,
    /// Read own webhook endpoints and their delivery logs.
    #[oai(rename = "webhooks:read")]
    WebhooksRead,
    /// Create, change, test and delete own webhook endpoints.
    #[oai(rename = "webhooks:write")]
    WebhooksWrite,
    /// Read own content reports.
    #[oai(rename = "reports:read")]
    ReportsRead,
    /// File content reports.
    #[oai(rename = "reports:write")]
    ReportsWrite,
    /// Review, act on and export content reports (moderators and admins).
    #[oai(rename = "reports:moderate")]
    ReportsModerate,
}

impl From<ScopeDto> for Scope {
    fn from(s: ScopeDto) -> Self {
        match s {
            ScopeDto::MediaRead => Scope::MediaRead,
            ScopeDto::MediaWrite => Scope::MediaWrite,
            ScopeDto::JobsRead => Scope::JobsRead,
            ScopeDto::JobsWrite => Scope::JobsWrite,
            ScopeDto::QueuesRead => Scope::QueuesRead,
            ScopeDto::QueuesAdmin => Scope::QueuesAdmin,
            ScopeDto::BackupsAdmin => Scope::BackupsAdmin,
            ScopeDto::NotificationsWrite => Scope::NotificationsWrite,
            ScopeDto::WebhooksRead => Scope::WebhooksRead,
            ScopeDto::WebhooksWrite => Scope::WebhooksWrite,
            ScopeDto::ReportsRead => Scope::ReportsRead,
            ScopeDto::ReportsWrite => Scope::ReportsWrite,
            ScopeDto::ReportsModerate => Scope::ReportsModerate,
        }
    }
}

/// A new API key.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ApiKeyIn {
    /// A name to recognise the key by (1–100 characters).
    #[oai(
        validator(min_length = 1, max_length = 100),
        deserialize_with = "crate::endpoints::text"
    )]
    pub name: String,
    /// What the key may do; each must be allowed to the caller's role.
    #[oai(validator(min_items = 1, max_items = 16))]
    pub scopes: Vec<ScopeDto>,
    /// When the key stops working (default: never).
    #[oai(nullable)]
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// An API key (never the key itself after creation).
#[derive(Debug, Clone, Object)]
pub struct ApiKeyOut {
    /// Key id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// The key's visible start (`kiln_` + 8 characters), to tell keys apart.
    pub prefix: String,
    /// What it may do.
    pub scopes: Vec<ScopeDto>,
    /// When it was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it stops working, if ever.
    #[oai(nullable)]
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it was last used (to the minute).
    #[oai(nullable)]
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it was revoked.
    #[oai(nullable)]
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ApiKeyRow> for ApiKeyOut {
    fn from(k: ApiKeyRow) -> Self {
        ApiKeyOut {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: stored_list("scope", &k.scopes),
            created_at: k.created_at,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A key just created: the only time the key itself is shown.
#[derive(Debug, Clone, Object)]
pub struct ApiKeyCreatedOut {
    /// The key, for the `X-API-Key` header. Store it now: it cannot be shown again.
    pub key: String,
    /// The stored key.
    #[oai(flatten)]
    pub info: ApiKeyOut,
}

/// A created key.
#[derive(Debug, ApiResponse)]
pub enum KeyCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<ApiKeyCreatedOut>),
}

/// The caller's API keys.
#[derive(Debug, Clone, Object)]
pub struct ApiKeyList {
    /// Newest first, revoked keys included.
    pub items: Vec<ApiKeyOut>,
}

/// API key endpoints. Bearer token only: a key cannot mint or revoke keys.
pub struct ApiKeysApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::ApiKeys")]
impl ApiKeysApi {
    /// Create an API key
    ///
    /// Any user, for themselves (bearer token). Scopes beyond the caller's
    /// role are refused (422).
    #[oai(path = "/api-keys", method = "post", operation_id = "api_keys_create")]
    async fn create(
        &self,
        auth: BearerAuth,
        req: &Request,
        app: Data<&AppContext>,
        body: Json<ApiKeyIn>,
    ) -> Result<KeyCreated, ApiError> {
        let user = auth.0.user_id()?;
        let scopes: Vec<Scope> = body.scopes.iter().map(|s| (*s).into()).collect();
        let created = app
            .identity
            .create_key(
                user,
                auth.0.role,
                &body.name,
                &scopes,
                body.expires_at,
                &audit_entry(req),
            )
            .await?;
        Ok(KeyCreated::Created(Json(ApiKeyCreatedOut {
            key: created.key,
            info: created.row.into(),
        })))
    }

    /// List the caller's API keys
    ///
    /// Any user (bearer token).
    #[oai(path = "/api-keys", method = "get", operation_id = "api_keys_list")]
    async fn list(
        &self,
        auth: BearerAuth,
        app: Data<&AppContext>,
    ) -> Result<Json<ApiKeyList>, ApiError> {
        let user = auth.0.user_id()?;
        let items = app
            .identity
            .keys(user)
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(ApiKeyList { items }))
    }

    /// Revoke an API key
    ///
    /// Any user, their own keys only (bearer token); another user's key is 404.
    #[oai(
        path = "/api-keys/:id",
        method = "delete",
        operation_id = "api_keys_delete"
    )]
    async fn delete(
        &self,
        auth: BearerAuth,
        req: &Request,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        let user = auth.0.user_id()?;
        match app.identity.revoke_key(user, id.0, &audit_entry(req)).await {
            Ok(()) => Ok(NoContent::Done),
            Err(kiln_jobs::identity::IdentityError::NotFound) => {
                Err(ApiError::not_found("API key"))
            }
            Err(e) => Err(e.into()),
        }
    }
}
