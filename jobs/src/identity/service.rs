//! The identity service: what register, login, refresh, logout, API keys and
//! user administration do, with their audit entries.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::config::AuthConfig;
use super::{
    HashError, Passwords, Role, Scope, check_password_policy, normalize_email, valid_email,
};
use crate::{
    db::{
        Db, api_keys, audit,
        audit::AuditRow,
        is_unique_violation, refresh_tokens,
        users::{self, UserRow},
    },
    secrets::random_token,
};

/// Why an identity operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Wrong email or password, unknown, locked or disabled account: one
    /// answer for all, so the response reveals nothing about the account.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The refresh token is unknown, expired, revoked or already used.
    #[error("the refresh token is invalid")]
    InvalidRefreshToken,
    /// The email is already registered.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Registration is turned off.
    #[error("registration is closed; ask an administrator for an account")]
    RegistrationClosed,
    /// Input that fails a rule (password policy, email syntax, scopes).
    #[error("{0}")]
    Invalid(String),
    /// The change is not allowed in this state (e.g. removing the last admin).
    #[error("{0}")]
    Conflict(String),
    /// No such user or key (or not the caller's).
    #[error("not found")]
    NotFound,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// Where a request came from, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    /// The client address.
    pub ip: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
}

/// A signed-in user: the account plus a fresh refresh token (shown once).
#[derive(Debug, Clone)]
pub struct Session {
    /// The account.
    pub user: UserRow,
    /// The user's role.
    pub role: Role,
    /// The opaque refresh token to hand to the client.
    pub refresh_token: String,
    /// When that token expires.
    pub refresh_expires_at: DateTime<Utc>,
}

/// The result of a login attempt that did not fail for an infrastructure reason.
pub type LoginOutcome = Result<Session, IdentityError>;

/// A new API key: the row plus the key itself, shown once.
#[derive(Debug, Clone)]
pub struct ApiKeyCreated {
    /// The stored row.
    pub row: api_keys::ApiKeyRow,
    /// The whole key (`kiln_<8>_<secret>`); only its hash is stored.
    pub key: String,
}

/// Who an API key authenticates.
#[derive(Debug, Clone)]
pub struct KeyPrincipal {
    /// The key's id.
    pub key_id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// The owner's current role.
    pub role: Role,
    /// The key's scopes that the owner's current role still allows.
    pub scopes: Vec<Scope>,
}

/// Changes an admin may make to an account.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New role.
    pub role: Option<Role>,
    /// Disable (true) or re-enable (false).
    pub disabled: Option<bool>,
}

/// Live keys a user may hold at once.
const MAX_LIVE_KEYS: i64 = 50;
/// A key's last-used time is written at most this often (seconds).
const TOUCH_EVERY_SECS: i64 = 60;

/// Accounts, sessions and keys over the application database.
#[derive(Debug, Clone)]
pub struct Identity {
    db: Db,
    passwords: Passwords,
    config: Arc<AuthConfig>,
}

/// SHA-256 hex of a high-entropy secret (refresh tokens, API keys): a fast
/// hash suffices because the secret cannot be guessed.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn parse_role(row: &UserRow) -> Role {
    // The column has a CHECK constraint; an unknown value cannot be stored.
    row.role.parse().unwrap_or(Role::User)
}

impl Identity {
    /// Builds the service; fails on argon2 parameters it refuses.
    pub fn new(db: Db, config: &AuthConfig) -> Result<Self, IdentityError> {
        Ok(Self {
            db,
            passwords: Passwords::from_config(config)?,
            config: Arc::new(config.clone()),
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Appends to the audit log. A failure is logged, never fatal: the action
    /// it records has already happened.
    pub async fn audit(
        &self,
        action: &str,
        actor: Option<String>,
        subject: Option<String>,
        from: &AuditEntry,
        details: Option<serde_json::Value>,
    ) {
        let row = AuditRow {
            id: Uuid::now_v7(),
            at: Utc::now(),
            action: action.to_owned(),
            actor,
            subject,
            ip: from.ip.clone(),
            request_id: from.request_id.clone(),
            details: details.map(sqlx::types::Json),
        };
        if let Err(e) = audit::insert(&self.db, &row).await {
            tracing::error!(error = %e, action, "could not write the audit log");
        }
        tracing::info!(target: "kiln::audit", action, actor = ?row.actor, subject = ?row.subject, ip = ?row.ip);
    }

    /// Creates an account (`kiln user create`, or registration with `role = User`).
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        role: Role,
    ) -> Result<UserRow, IdentityError> {
        let email = normalize_email(email);
        if !valid_email(&email) {
            return Err(IdentityError::Invalid(
                "email is not a valid address".into(),
            ));
        }
        check_password_policy(password, &email, self.config.password_min_length)
            .map_err(IdentityError::Invalid)?;
        let hash = self.passwords.hash(password).await?;
        let id = Uuid::now_v7();
        match users::insert(&self.db, id, &email, &hash, role.as_str(), Utc::now()).await {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => return Err(IdentityError::EmailTaken),
            Err(e) => return Err(e.into()),
        }
        users::get(&self.db, id)
            .await?
            .ok_or(IdentityError::NotFound)
    }

    /// Self-service registration, when open: always the `user` role.
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        from: &AuditEntry,
    ) -> Result<UserRow, IdentityError> {
        if !self.config.allow_registration {
            return Err(IdentityError::RegistrationClosed);
        }
        let user = self.create_user(email, password, Role::User).await?;
        self.audit(
            "user_registered",
            Some(user.id.to_string()),
            Some(user.id.to_string()),
            from,
            None,
        )
        .await;
        Ok(user)
    }

    /// Checks email and password and opens a session. Every failure costs one
    /// argon2 verification and answers [`IdentityError::InvalidCredentials`].
    pub async fn login(&self, email: &str, password: &str, from: &AuditEntry) -> LoginOutcome {
        let email = normalize_email(email);
        let now = Utc::now();
        let Some(user) = users::by_email(&self.db, &email).await? else {
            self.passwords.verify_dummy(password).await?;
            self.audit(
                "login_failed",
                None,
                None,
                from,
                Some(serde_json::json!({"reason": "unknown_account"})),
            )
            .await;
            return Err(IdentityError::InvalidCredentials);
        };
        let subject = Some(user.id.to_string());
        let ok = self.passwords.verify(password, &user.password_hash).await?;
        let locked = user.locked_until.is_some_and(|t| t > now);
        if ok && !locked && !user.disabled {
            users::record_success(&self.db, user.id, now).await?;
            if self.passwords.needs_rehash(&user.password_hash) {
                let hash = self.passwords.hash(password).await?;
                users::set_password_hash(&self.db, user.id, &hash, now).await?;
            }
            self.audit("login_succeeded", subject.clone(), subject, from, None)
                .await;
            return self.open_session(user, Uuid::now_v7(), now).await;
        }
        let reason = if user.disabled {
            "disabled"
        } else if locked {
            "locked"
        } else {
            "wrong_password"
        };
        if !ok && !user.disabled {
            let until = now + Duration::seconds(self.config.lockout_secs as i64);
            let (count, locked_now) =
                users::record_failure(&self.db, user.id, self.config.lockout_threshold, until, now)
                    .await?;
            if locked_now {
                self.audit(
                    "account_locked",
                    None,
                    subject.clone(),
                    from,
                    Some(serde_json::json!({"failed_logins": count, "locked_until": until})),
                )
                .await;
            }
        }
        self.audit(
            "login_failed",
            None,
            subject,
            from,
            Some(serde_json::json!({"reason": reason})),
        )
        .await;
        Err(IdentityError::InvalidCredentials)
    }

    async fn open_session(&self, user: UserRow, family: Uuid, now: DateTime<Utc>) -> LoginOutcome {
        let token = format!("kiln_rt_{}", random_token(43));
        let expires = now + Duration::seconds(self.config.refresh_token_ttl_secs as i64);
        refresh_tokens::insert(
            &self.db,
            family,
            user.id,
            &secret_hash(&token),
            now,
            expires,
        )
        .await?;
        Ok(Session {
            role: parse_role(&user),
            user,
            refresh_token: token,
            refresh_expires_at: expires,
        })
    }

    /// Trades a refresh token for a new one in the same family. Presenting a
    /// token that was already used revokes its whole family: either the
    /// client or a thief holds a copy, and neither can be told apart.
    pub async fn refresh(&self, token: &str, from: &AuditEntry) -> LoginOutcome {
        let now = Utc::now();
        let hash = secret_hash(token);
        if let Some(c) = refresh_tokens::consume(&self.db, &hash, now).await? {
            let user = users::get(&self.db, c.user_id).await?;
            return match user {
                Some(u) if !u.disabled => self.open_session(u, c.family_id, now).await,
                _ => {
                    refresh_tokens::revoke_family(&self.db, c.family_id, now).await?;
                    Err(IdentityError::InvalidRefreshToken)
                }
            };
        }
        if let Some(state) = refresh_tokens::state(&self.db, &hash).await?
            && state.used_at.is_some()
        {
            let revoked = refresh_tokens::revoke_family(&self.db, state.family_id, now).await?;
            self.audit(
                "refresh_token_reuse",
                None,
                Some(state.user_id.to_string()),
                from,
                Some(serde_json::json!({"family_id": state.family_id, "revoked": revoked})),
            )
            .await;
        }
        Err(IdentityError::InvalidRefreshToken)
    }

    /// Ends sessions of `user_id`: the family of `token` when given (only if
    /// it is that user's), otherwise every session of the user.
    pub async fn logout(
        &self,
        user_id: Uuid,
        token: Option<&str>,
        from: &AuditEntry,
    ) -> Result<(), IdentityError> {
        let now = Utc::now();
        let revoked = match token {
            Some(t) => match refresh_tokens::state(&self.db, &secret_hash(t)).await? {
                Some(s) if s.user_id == user_id => {
                    refresh_tokens::revoke_family(&self.db, s.family_id, now).await?
                }
                _ => return Err(IdentityError::InvalidRefreshToken),
            },
            None => refresh_tokens::revoke_user(&self.db, user_id, now).await?,
        };
        let who = Some(user_id.to_string());
        self.audit(
            "logout",
            who.clone(),
            who,
            from,
            Some(serde_json::json!({"revoked": revoked})),
        )
        .await;
        Ok(())
    }

    /// One account.
    pub async fn user(&self, id: Uuid) -> Result<UserRow, IdentityError> {
        users::get(&self.db, id)
            .await?
            .ok_or(IdentityError::NotFound)
    }

    /// A page of accounts in id order.
    pub async fn users(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<UserRow>, IdentityError> {
        Ok(users::list(&self.db, after, limit).await?)
    }

    /// An admin changes a role or the disabled flag. The last enabled admin
    /// cannot be demoted or disabled; a demoted or disabled user's sessions end.
    pub async fn update_user(
        &self,
        admin: Uuid,
        id: Uuid,
        patch: &UserPatch,
        from: &AuditEntry,
    ) -> Result<UserRow, IdentityError> {
        let before = self.user(id).await?;
        let old_role = parse_role(&before);
        let loses_admin = old_role == Role::Admin
            && !before.disabled
            && (patch.role.is_some_and(|r| r != Role::Admin) || patch.disabled == Some(true));
        if loses_admin && users::count_active_admins(&self.db).await? <= 1 {
            return Err(IdentityError::Conflict(
                "this is the last enabled admin; promote another admin first".into(),
            ));
        }
        let now = Utc::now();
        let after = users::update(
            &self.db,
            id,
            patch.role.map(Role::as_str),
            patch.disabled,
            now,
        )
        .await?
        .ok_or(IdentityError::NotFound)?;
        let (actor, subject) = (Some(admin.to_string()), Some(id.to_string()));
        let demoted = patch.role.is_some_and(|r| r < old_role);
        if patch.disabled == Some(true) || demoted {
            refresh_tokens::revoke_user(&self.db, id, now).await?;
        }
        if let Some(role) = patch.role.filter(|r| *r != old_role) {
            self.audit(
                "role_changed",
                actor.clone(),
                subject.clone(),
                from,
                Some(serde_json::json!({"from": old_role.as_str(), "to": role.as_str()})),
            )
            .await;
        }
        if let Some(d) = patch.disabled.filter(|d| *d != before.disabled) {
            let action = if d { "user_disabled" } else { "user_enabled" };
            self.audit(action, actor, subject, from, None).await;
        }
        Ok(after)
    }

    /// Creates an API key for `user_id` with `scopes`, each of which the
    /// user's role must allow.
    pub async fn create_key(
        &self,
        user_id: Uuid,
        role: Role,
        name: &str,
        scopes: &[Scope],
        expires_at: Option<DateTime<Utc>>,
        from: &AuditEntry,
    ) -> Result<ApiKeyCreated, IdentityError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(IdentityError::Invalid(
                "name must have 1 to 100 characters".into(),
            ));
        }
        if scopes.is_empty() {
            return Err(IdentityError::Invalid(
                "at least one scope is required".into(),
            ));
        }
        if let Some(s) = scopes.iter().find(|s| !s.allowed_for(role)) {
            return Err(IdentityError::Invalid(format!(
                "the {role} role cannot grant the scope {s}"
            )));
        }
        if expires_at.is_some_and(|t| t <= Utc::now()) {
            return Err(IdentityError::Invalid(
                "expires_at must be in the future".into(),
            ));
        }
        if api_keys::count_live(&self.db, user_id).await? >= MAX_LIVE_KEYS {
            return Err(IdentityError::Conflict(format!(
                "at most {MAX_LIVE_KEYS} live API keys per user; revoke one first"
            )));
        }
        let mut unique: Vec<Scope> = Vec::new();
        for s in scopes {
            if !unique.contains(s) {
                unique.push(*s);
            }
        }
        let prefix = format!("kiln_{}", random_token(8));
        let key = format!("{prefix}_{}", random_token(40));
        let scope_text = unique
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let id = Uuid::now_v7();
        let now = Utc::now();
        api_keys::insert(
            &self.db,
            &api_keys::NewKey {
                id,
                user_id,
                name,
                prefix: &prefix,
                key_hash: &secret_hash(&key),
                scopes: &scope_text,
                now,
                expires_at,
            },
        )
        .await?;
        let who = Some(user_id.to_string());
        self.audit(
            "api_key_created",
            who,
            Some(id.to_string()),
            from,
            Some(serde_json::json!({"name": name, "scopes": scope_text, "prefix": prefix})),
        )
        .await;
        let row = api_keys::ApiKeyRow {
            id,
            user_id,
            name: name.to_owned(),
            prefix,
            scopes: scope_text,
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        Ok(ApiKeyCreated { row, key })
    }

    /// A user's keys.
    pub async fn keys(&self, user_id: Uuid) -> Result<Vec<api_keys::ApiKeyRow>, IdentityError> {
        Ok(api_keys::list(&self.db, user_id).await?)
    }

    /// Revokes one of `user_id`'s keys.
    pub async fn revoke_key(
        &self,
        user_id: Uuid,
        key_id: Uuid,
        from: &AuditEntry,
    ) -> Result<(), IdentityError> {
        if !api_keys::revoke(&self.db, key_id, user_id, Utc::now()).await? {
            return Err(IdentityError::NotFound);
        }
        self.audit(
            "api_key_revoked",
            Some(user_id.to_string()),
            Some(key_id.to_string()),
            from,
            None,
        )
        .await;
        Ok(())
    }

    /// Who `key` authenticates, if it is live and its owner enabled.
    pub async fn authenticate_key(&self, key: &str) -> Result<Option<KeyPrincipal>, IdentityError> {
        if !key.starts_with("kiln_") || key.len() > 100 {
            return Ok(None);
        }
        let now = Utc::now();
        let Some(k) = api_keys::authenticate(&self.db, &secret_hash(key), now).await? else {
            return Ok(None);
        };
        if k.last_used_at
            .is_none_or(|t| now - t > Duration::seconds(TOUCH_EVERY_SECS))
        {
            api_keys::touch(&self.db, k.id, now).await?;
        }
        let role: Role = k.role.parse().unwrap_or(Role::User);
        let scopes = k
            .scopes
            .split_whitespace()
            .filter_map(|s| s.parse::<Scope>().ok())
            .filter(|s| s.allowed_for(role))
            .collect();
        Ok(Some(KeyPrincipal {
            key_id: k.id,
            user_id: k.user_id,
            role,
            scopes,
        }))
    }

    /// The audit log, newest first.
    pub async fn audit_log(
        &self,
        action: Option<&str>,
        actor: Option<&str>,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<AuditRow>, IdentityError> {
        Ok(audit::list(&self.db, action, actor, before, limit).await?)
    }
}
