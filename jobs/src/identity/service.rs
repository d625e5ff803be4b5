//! The identity service handle: [`Identity`], its state and its error type.
//! What it does lives beside: accounts (and passwords), sessions (refresh
//! tokens), API keys and the audit log, one file each.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{
    config::AuthConfig,
    password::{BUSY_RETRY_AFTER, HashError, Passwords},
};
use crate::db::Db;

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
    /// Too many password checks are waiting already; retry after `retry_after`.
    #[error("too many logins are in progress; retry later")]
    Busy {
        /// How long to wait before retrying.
        retry_after: std::time::Duration,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// Hashing failed.
    #[error(transparent)]
    Hash(HashError),
}

impl From<HashError> for IdentityError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => IdentityError::Busy {
                retry_after: BUSY_RETRY_AFTER,
            },
            e @ HashError::Failed(_) => IdentityError::Hash(e),
        }
    }
}

/// Accounts, sessions and keys over the application database.
#[derive(Debug, Clone)]
pub struct Identity {
    pub(super) db: Db,
    pub(super) passwords: Passwords,
    pub(super) config: Arc<AuthConfig>,
    /// `api_keys_created_total`.
    pub(super) keys_created: prometheus::IntCounter,
}

/// SHA-256 hex of a high-entropy secret (refresh tokens, API keys): a fast
/// hash suffices because the secret cannot be guessed.
pub(super) fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Identity {
    /// Builds the service; fails on argon2 parameters it refuses.
    pub fn new(db: Db, config: &AuthConfig) -> Result<Self, IdentityError> {
        Ok(Self {
            db,
            passwords: Passwords::from_config(config)?,
            config: Arc::new(config.clone()),
            // A constant name and help text: construction cannot fail.
            keys_created: prometheus::IntCounter::new("api_keys_created_total", "API keys created")
                .expect("valid metric"),
        })
    }

    /// The service's metrics, for the process registry: password hashing
    /// (`kiln_password_verifications_total`, `kiln_password_busy_total`) and
    /// `kiln_api_keys_created_total`.
    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        let mut all = self.passwords.collectors();
        all.push(Box::new(self.keys_created.clone()));
        all
    }

    /// The settings in force.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }
}
