//! `/v1/users` (admins) and `/v1/audit-log` (admins).

use poem::{Request, web::Data};
use poem_openapi::{Object, OpenApi, param::Path, param::Query, payload::Json};
use uuid::Uuid;

use kiln_jobs::{AppContext, db::audit::AuditRow, identity::UserPatch};

use crate::{
    ApiTags,
    auth::{BearerAuth, audit_entry},
    endpoints::auth::{RoleDto, UserOut},
    error::ApiError,
};

/// A page of accounts.
#[derive(Debug, Clone, Object)]
pub struct UserPage {
    /// Accounts in id (creation) order.
    pub items: Vec<UserOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<Uuid>,
}

/// Changes to an account.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct UserPatchIn {
    /// New role.
    #[oai(nullable)]
    pub role: Option<RoleDto>,
    /// Disable (ends the user's sessions and refuses their API keys) or re-enable.
    #[oai(nullable)]
    pub disabled: Option<bool>,
}

/// One audit entry.
#[derive(Debug, Clone, Object)]
pub struct AuditOut {
    /// Entry id (UUIDv7, time ordered).
    pub id: Uuid,
    /// When it happened.
    pub at: chrono::DateTime<chrono::Utc>,
    /// What happened, e.g. `login_failed`, `account_locked`, `refresh_token_reuse`,
    /// `api_key_created`, `api_key_revoked`, `role_changed`.
    pub action: String,
    /// Who did it (user id), when known.
    #[oai(nullable)]
    pub actor: Option<String>,
    /// What it was done to (user, key).
    #[oai(nullable)]
    pub subject: Option<String>,
    /// The client address.
    #[oai(nullable)]
    pub ip: Option<String>,
    /// The request id.
    #[oai(nullable)]
    pub request_id: Option<String>,
    /// Action-specific details.
    #[oai(nullable)]
    pub details: Option<serde_json::Value>,
}

impl From<AuditRow> for AuditOut {
    fn from(r: AuditRow) -> Self {
        AuditOut {
            id: r.id,
            at: r.at,
            action: r.action,
            actor: r.actor,
            subject: r.subject,
            ip: r.ip,
            request_id: r.request_id,
            details: r.details.map(|d| d.0),
        }
    }
}

/// A page of audit entries.
#[derive(Debug, Clone, Object)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditOut>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<Uuid>,
}

/// Account administration.
pub struct UsersApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Users")]
impl UsersApi {
    /// List accounts
    ///
    /// Admins only (bearer token).
    #[oai(path = "/users", method = "get", operation_id = "users_list")]
    async fn list(
        &self,
        auth: BearerAuth,
        app: Data<&AppContext>,
        /// From `next_cursor` of the previous page.
        cursor: Query<Option<Uuid>>,
        /// Page size, 1–200 (default 50).
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<u32>,
    ) -> Result<Json<UserPage>, ApiError> {
        auth.0.require_admin()?;
        let rows = app.identity.users(cursor.0, limit.0 + 1).await?;
        let more = rows.len() > limit.0 as usize;
        let items: Vec<UserOut> = rows
            .into_iter()
            .take(limit.0 as usize)
            .map(Into::into)
            .collect();
        let next_cursor = more.then(|| items.last().map(|u| u.id)).flatten();
        Ok(Json(UserPage { items, next_cursor }))
    }

    /// Get an account
    ///
    /// Admins only (bearer token).
    #[oai(path = "/users/:id", method = "get", operation_id = "users_get")]
    async fn get(
        &self,
        auth: BearerAuth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<Json<UserOut>, ApiError> {
        auth.0.require_admin()?;
        Ok(Json(
            app.identity
                .user(id.0)
                .await
                .map_err(not_found_user)?
                .into(),
        ))
    }

    /// Change an account's role or disable it
    ///
    /// Admins only (bearer token). The last enabled admin cannot be demoted or
    /// disabled (409). Demoting or disabling a user ends their sessions.
    #[oai(path = "/users/:id", method = "patch", operation_id = "users_update")]
    async fn update(
        &self,
        auth: BearerAuth,
        req: &Request,
        app: Data<&AppContext>,
        id: Path<Uuid>,
        body: Json<UserPatchIn>,
    ) -> Result<Json<UserOut>, ApiError> {
        auth.0.require_admin()?;
        let admin = auth.0.user_id()?;
        let patch = UserPatch {
            role: body.role.map(Into::into),
            disabled: body.disabled,
        };
        let user = app
            .identity
            .update_user(admin, id.0, &patch, &audit_entry(req))
            .await
            .map_err(not_found_user)?;
        Ok(Json(user.into()))
    }

    /// Read the audit log
    ///
    /// Admins only (bearer token). Newest first.
    #[oai(path = "/audit-log", method = "get", operation_id = "audit_log_list")]
    async fn audit_log(
        &self,
        auth: BearerAuth,
        app: Data<&AppContext>,
        /// Only this action, e.g. `login_failed`.
        #[oai(validator(max_length = 64))]
        action: Query<Option<String>>,
        /// Only entries by this actor (user id).
        #[oai(validator(max_length = 64))]
        actor: Query<Option<String>>,
        /// From `next_cursor` of the previous page.
        cursor: Query<Option<Uuid>>,
        /// Page size, 1–200 (default 50).
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<u32>,
    ) -> Result<Json<AuditPage>, ApiError> {
        auth.0.require_admin()?;
        let rows = app
            .identity
            .audit_log(
                action.0.as_deref(),
                actor.0.as_deref(),
                cursor.0,
                limit.0 + 1,
            )
            .await?;
        let more = rows.len() > limit.0 as usize;
        let items: Vec<AuditOut> = rows
            .into_iter()
            .take(limit.0 as usize)
            .map(Into::into)
            .collect();
        let next_cursor = more.then(|| items.last().map(|a| a.id)).flatten();
        Ok(Json(AuditPage { items, next_cursor }))
    }
}

fn default_limit() -> u32 {
    50
}

fn not_found_user(e: kiln_jobs::identity::IdentityError) -> ApiError {
    match e {
        kiln_jobs::identity::IdentityError::NotFound => ApiError::not_found("user"),
        e => e.into(),
    }
}
