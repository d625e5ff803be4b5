//! Settings of the application database (the `database` section).

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::DbKind;

/// Application database settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite:…` or `postgres://…` (env `DATABASE_URL`; default `sqlite:{data_dir}/kiln.db`).
    #[serde(skip_serializing)]
    pub url: Option<SecretString>,
    /// Pool size (default 10).
    pub max_connections: u32,
    /// Seconds to wait for a connection before giving up (default 5).
    pub acquire_timeout_secs: u64,
    /// Apply migrations when `kiln serve`/`api`/`worker` start (default true; `kiln migrate` always does).
    pub migrate_on_start: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
            acquire_timeout_secs: 5,
            migrate_on_start: true,
        }
    }
}

impl DatabaseConfig {
    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(url) = &self.url
            && let Err(e) = DbKind::from_url(url.expose_secret())
        {
            return Err(format!("database.url: {e}"));
        }
        if self.max_connections == 0 {
            return Err("database.max_connections must be at least 1".into());
        }
        Ok(())
    }
}
