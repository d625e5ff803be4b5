//! The `notifications` job family: [`enqueue::enqueue`] turns one notification (a
//! user, channels, a template and its parameters) into one `email.send` job
//! and one `push.send` job per active device, each with its row in the
//! notification history; the handlers in `send.rs` send them. Devices (push
//! tokens) are this family's too.
//!
//! Exactly-once, as far as providers allow: a handler starts each attempt by
//! moving its row to `sending` (a row that already ended is not sent again, so
//! a redelivered job is a no-op) and writes the provider's message id before it
//! returns, which is before the worker acknowledges the job. Only a crash in
//! between the provider's acceptance and that write can repeat a send; an email
//! then carries the same Message-ID (derived from the row id), which mail
//! systems deduplicate.

pub mod config;
pub mod devices;
pub mod enqueue;
pub mod repo;
pub mod send;
pub mod status;

pub use status::NotificationStatus;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::{
    context::AppContext, delivery::email::TemplateError, job::Job, ledger::LedgerError,
    queue::QueueName,
};

/// Payload of `email.send`: one email of the notification history.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSendV1 {
    /// The history row this job sends.
    pub notification_id: Uuid,
    /// The recipient; the address is read when the job runs.
    pub user_id: Uuid,
    /// Template name, e.g. `job_finished`.
    pub template: String,
    /// Template parameters.
    pub params: Map<String, Value>,
}

/// Payload of `push.send`: one push to one device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSendV1 {
    /// The history row this job sends.
    pub notification_id: Uuid,
    /// The recipient.
    pub user_id: Uuid,
    /// The device; its token is read when the job runs.
    pub device_id: Uuid,
    /// Template name.
    pub template: String,
    /// Template parameters.
    pub params: Map<String, Value>,
}

/// A notification channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyChannel {
    /// An email to the user's address.
    Email,
    /// A push to each of the user's active devices.
    Push,
}

impl NotifyChannel {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyChannel::Email => "email",
            NotifyChannel::Push => "push",
        }
    }
}

/// One notification to send.
#[derive(Debug, Clone)]
pub struct NotificationRequest {
    /// The recipient.
    pub user_id: Uuid,
    /// Channels, each at most once.
    pub channels: Vec<NotifyChannel>,
    /// Template name.
    pub template: String,
    /// Template parameters (a JSON object).
    pub params: Map<String, Value>,
    /// Who asks: a user id, or `system` for Kiln itself.
    pub requested_by: String,
    /// Makes the request idempotent per sender and recipient.
    pub idempotency_key: Option<String>,
}

/// Why a notification could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// No such recipient.
    #[error("no such user")]
    UnknownUser,
    /// The template does not exist or does not render with these parameters.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// Bad request shape (no channels, a channel twice).
    #[error("{0}")]
    Invalid(String),
    /// The ledger or the queue failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl From<sqlx::Error> for NotifyError {
    fn from(e: sqlx::Error) -> Self {
        NotifyError::Ledger(LedgerError::Db(e))
    }
}

/// What [`enqueue::enqueue`] did.
#[derive(Debug, Clone)]
pub struct Queued {
    /// One history row per delivery (the push channel's row is `skipped` when
    /// the user has no active device).
    pub deliveries: Vec<repo::NotificationRow>,
    /// True when the idempotency key named an earlier request: nothing new was queued.
    pub repeated: bool,
}

impl Job for EmailSendV1 {
    const KIND: &'static str = "email.send";
    const TYPE: &'static str = "email.send.v1";
    fn queue(&self) -> QueueName {
        QueueName::Notifications
    }
}

impl Job for PushSendV1 {
    const KIND: &'static str = "push.send";
    const TYPE: &'static str = "push.send.v1";
    fn queue(&self) -> QueueName {
        QueueName::Notifications
    }
}

/// The template context: Kiln's defaults under the caller's parameters, and
/// the recipient's address, which parameters cannot change.
pub(crate) fn template_context(
    app: &AppContext,
    email: &str,
    params: &Map<String, Value>,
) -> Value {
    let mut ctx = Map::new();
    let local = email.split('@').next().unwrap_or(email);
    ctx.insert("display_name".into(), json!(local));
    ctx.insert("app_url".into(), json!(app.config.public_url()));
    ctx.extend(params.clone());
    ctx.insert("email".into(), json!(email));
    Value::Object(ctx)
}
