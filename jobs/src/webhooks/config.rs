//! Settings of the webhooks job family (the `webhooks` section): the
//! delivery client's limits and the endpoints' rules.

use serde::{Deserialize, Serialize};

/// Outgoing webhook settings (the `webhooks` section of Kiln's config).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Seconds one delivery may take, connect to last byte read (default 10).
    pub timeout_secs: u64,
    /// Seconds to establish the connection (default 5).
    pub connect_timeout_secs: u64,
    /// Allow targets on loopback, private, link-local and other non-public addresses; for
    /// development and tests only, it opens SSRF (default false).
    pub allow_private_targets: bool,
    /// Bytes of a receiver's response body kept for the delivery record; the rest is not read
    /// (default 4096).
    pub max_response_bytes: usize,
    /// Failed delivery attempts in a row (across all of an endpoint's deliveries) after which
    /// the endpoint is disabled until its owner enables it again (default 20).
    pub disable_after_failures: u32,
    /// Webhook endpoints one user may have (default 20).
    pub max_per_user: u32,
    /// Seconds the old secret keeps signing deliveries after a rotation, beside the new one, so
    /// receivers can switch without missing a delivery (default 86400).
    pub secret_rotation_grace_secs: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            timeout_secs: 10,
            connect_timeout_secs: 5,
            allow_private_targets: false,
            max_response_bytes: 4096,
            disable_after_failures: 20,
            max_per_user: 20,
            secret_rotation_grace_secs: 86_400,
        }
    }
}

impl WebhooksConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        if self.timeout_secs == 0 || self.connect_timeout_secs == 0 {
            return Err("webhooks.timeout_secs and connect_timeout_secs must be at least 1".into());
        }
        if self.disable_after_failures == 0 || self.max_per_user == 0 {
            return Err(
                "webhooks.disable_after_failures and max_per_user must be at least 1".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_refuse_private_targets() {
        let w = WebhooksConfig::default();
        assert_eq!(w.validate(), Ok(()));
        assert!(!w.allow_private_targets);
    }

    #[test]
    fn rejects_bad_values() {
        let hooks = WebhooksConfig {
            timeout_secs: 0,
            ..WebhooksConfig::default()
        };
        assert!(hooks.validate().unwrap_err().contains("timeout_secs"));
    }
}
