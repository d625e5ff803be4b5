//! API keys: created with scopes the owner's role allows, stored as a hash,
//! revoked by their owner, and checked on every request that presents one.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{
    audit::AuditEntry,
    roles::{Role, Scope},
    service::{Identity, IdentityError, secret_hash},
};
use crate::{db::api_keys, secrets::random_token};

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

/// Live keys a user may hold at once (checked atomically with the insert).
const MAX_LIVE_KEYS: i64 = 50;
/// A key's last-used time is written at most this often (seconds).
const TOUCH_EVERY_SECS: i64 = 60;

impl Identity {
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
        let new = api_keys::NewKey {
            id,
            user_id,
            name,
            prefix: &prefix,
            key_hash: &secret_hash(&key),
            scopes: &scope_text,
            now,
            expires_at,
        };
        if !api_keys::insert_capped(&self.db, &new, MAX_LIVE_KEYS).await? {
            return Err(IdentityError::Conflict(format!(
                "at most {MAX_LIVE_KEYS} live API keys per user; revoke one first"
            )));
        }
        self.keys_created.inc();
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
}
