//! Identity: accounts and roles, password hashing, refresh-token sessions,
//! API keys and the audit log. The HTTP tier mints access tokens (JWT) on top
//! of what this module decides; nothing here knows about HTTP.
//!
//! This file only wires the parts together; none of them imports it.

mod accounts;
mod api_keys;
mod audit;
pub mod config;
mod password;
mod roles;
mod service;
mod sessions;

pub use accounts::{
    MAX_PASSWORD_BYTES, UserPatch, check_password_policy, normalize_email, valid_email,
};
pub use api_keys::{ApiKeyCreated, KeyPrincipal};
pub use audit::AuditEntry;
pub use password::{BUSY_RETRY_AFTER, HashError, HashSlot, Passwords};
pub use roles::{Role, Scope};
pub use service::{Identity, IdentityError};
pub use sessions::{LoginOutcome, Session};
