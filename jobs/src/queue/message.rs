//! What the queues are called and what travels on them: a leaf of the queue
//! module, which its transports and its config build on.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Every queue Kiln runs. The string form is the queue's name in the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueName {
    /// Image processing (CPU bound).
    Media,
    /// Email and push notifications.
    Notifications,
    /// Signed webhook deliveries.
    Webhooks,
    /// Content-report triage, notification and export.
    Reports,
    /// Database backups, one at a time.
    Backups,
}

impl QueueName {
    /// All queues, in a stable order.
    pub const ALL: [QueueName; 5] = [
        QueueName::Media,
        QueueName::Notifications,
        QueueName::Webhooks,
        QueueName::Reports,
        QueueName::Backups,
    ];

    /// The queue's name in the backend and in metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            QueueName::Media => "media",
            QueueName::Notifications => "notifications",
            QueueName::Webhooks => "webhooks",
            QueueName::Reports => "reports",
            QueueName::Backups => "backups",
        }
    }
}

impl std::fmt::Display for QueueName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for QueueName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        QueueName::ALL
            .into_iter()
            .find(|q| q.as_str() == s)
            .ok_or_else(|| format!("unknown queue `{s}`"))
    }
}

/// What travels on the queue: the ledger id and the payload as raw JSON.
///
/// The payload stays untyped here on purpose: a message whose payload no longer
/// matches the code (an old version, a bad producer) still decodes, so the
/// worker can mark that one job failed instead of stopping.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueMessage {
    /// The ledger row this message runs.
    pub job_id: Uuid,
    /// This message's delivery id; only the ledger row's current one may run it.
    #[serde(default)]
    pub delivery_id: Uuid,
    /// The job payload (a [`crate::Job`]'s tagged JSON).
    #[serde(default)]
    pub payload: serde_json::Value,
}

/// Errors from the queue transport.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The backend refused or could not be reached.
    #[error("queue backend: {0}")]
    Backend(String),
    /// The message could not be encoded.
    #[error("encode queue message: {0}")]
    Encode(#[from] serde_json::Error),
}

impl From<::redis::RedisError> for QueueError {
    fn from(e: ::redis::RedisError) -> Self {
        QueueError::Backend(e.to_string())
    }
}
