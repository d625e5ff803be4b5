//! Settings of the backups job family (the `backups` section).

use std::{path::PathBuf, str::FromStr};

use serde::{Deserialize, Serialize};

/// Database backup settings (the `backups` section of Kiln's config).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupsConfig {
    /// age X25519 public keys (`age1…`) every encrypted backup is encrypted to; the matching
    /// identity files stay off the servers (see docs/backups.md). A schedule or run asking for
    /// encryption fails while this is empty.
    pub recipients: Vec<String>,
    /// An age identity file the workers may use to verify encrypted backups by restoring them;
    /// without it an encrypted backup's verify checks only its checksum (default none).
    pub identity_file: Option<PathBuf>,
    /// Folder holding `pg_dump` and `pg_restore`; by default Kiln looks in
    /// `/usr/lib/postgresql/<server major>/bin`, `/usr/pgsql-<major>/bin` and `PATH` for the
    /// tools that match the server's major version.
    pub pg_bin_dir: Option<PathBuf>,
    /// Restore every backup into a scratch database after it is made (default true).
    pub verify: bool,
    /// Seconds between the scheduler's looks at the schedules, in every worker (default 15).
    pub scheduler_interval_secs: u64,
}

impl Default for BackupsConfig {
    fn default() -> Self {
        Self {
            recipients: Vec::new(),
            identity_file: None,
            pg_bin_dir: None,
            verify: true,
            scheduler_interval_secs: 15,
        }
    }
}

impl BackupsConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        self.parsed_recipients()?;
        if self.scheduler_interval_secs == 0 {
            return Err("backups.scheduler_interval_secs must be at least 1".into());
        }
        Ok(())
    }

    /// The recipients as age keys.
    pub fn parsed_recipients(&self) -> Result<Vec<age::x25519::Recipient>, String> {
        self.recipients
            .iter()
            .map(|r| {
                age::x25519::Recipient::from_str(r.trim()).map_err(|e| {
                    format!("backups.recipients: {r:?} is not an age X25519 public key: {e}")
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_must_be_age_public_keys() {
        let key = age::x25519::Identity::generate().to_public().to_string();
        let good = BackupsConfig {
            recipients: vec![key],
            ..BackupsConfig::default()
        };
        assert!(good.validate().is_ok());
        let bad = BackupsConfig {
            recipients: vec!["ssh-ed25519 AAAA".into()],
            ..BackupsConfig::default()
        };
        assert!(
            bad.validate()
                .is_err_and(|e| e.contains("backups.recipients"))
        );
    }
}
