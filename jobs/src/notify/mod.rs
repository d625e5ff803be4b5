//! Provider-facing delivery for the notifications and webhooks job families:
//! email ([`email::Mailer`]: SMTP, or `.eml` files in the embedded default),
//! push ([`push::Pusher`]: FCM HTTP v1, or logged) and signed webhooks
//! ([`webhook::WebhookClient`]).
//!
//! Every send returns `Ok` with what happened or a [`DeliveryError`] that says
//! whether the job should be retried (and when) or dropped. The clients count
//! each outcome in `kiln_notifications_total{channel,outcome}` when built
//! `with_metrics`, so handlers do not count them again.

pub mod config;
pub mod email;
pub mod events;
pub mod jobs;
pub mod push;
mod retry_after;
pub mod webhook;

use std::{sync::Arc, time::Duration};

use tokio::sync::OnceCell;

use crate::{
    config::Config,
    handler::{JobCtx, JobError},
    metrics::Metrics,
};

/// The delivery clients of one process, built from its configuration. Cheap to
/// clone.
#[derive(Clone)]
pub struct Notifier {
    /// Email (SMTP, or the outbox folder).
    pub mailer: email::Mailer,
    /// The compiled email and push templates.
    pub templates: Arc<email::Templates>,
    /// Webhook deliveries.
    pub webhooks: webhook::WebhookClient,
    /// Each user's endpoints, cached for the event fan-out.
    pub subscriptions: Arc<events::SubscriptionCache>,
    push: config::PushConfig,
    pusher: Arc<OnceCell<push::Pusher>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("smtp", &self.mailer.is_smtp())
            .field("pusher", &self.pusher.get())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// The clients `config` describes. Mail and webhook settings are checked
    /// here (a bad `mail.smtp_url` stops startup); FCM credentials are loaded on
    /// the first push, since finding Application Default Credentials may ask
    /// the network.
    pub fn from_config(config: &Config, metrics: Arc<Metrics>) -> anyhow::Result<Notifier> {
        let mailer = email::Mailer::from_config(&config.mail, &config.data_dir)?
            .with_metrics(metrics.clone());
        let webhooks = webhook::WebhookClient::new(&config.webhooks)?.with_metrics(metrics.clone());
        Ok(Notifier {
            mailer,
            templates: Arc::new(email::Templates::embedded()?),
            webhooks,
            subscriptions: Arc::default(),
            push: config.push.clone(),
            pusher: Arc::new(OnceCell::new()),
            metrics,
        })
    }

    /// The push client, built on first use.
    pub async fn pusher(&self) -> Result<&push::Pusher, DeliveryError> {
        self.pusher
            .get_or_try_init(|| async {
                push::Pusher::from_config(&self.push)
                    .await
                    .map(|p| p.with_metrics(self.metrics.clone()))
            })
            .await
            .map_err(|e| DeliveryError::retry(e.to_string()))
    }

    /// Uses `pusher` instead of the configured one (tests with their own
    /// credentials). False when a push client was already built.
    pub fn set_pusher(&self, pusher: push::Pusher) -> bool {
        self.pusher
            .set(pusher.with_metrics(self.metrics.clone()))
            .is_ok()
    }
}

/// A database failure inside a delivery handler: retried like any outage.
fn db_retry(e: sqlx::Error) -> JobError {
    JobError::Retry(anyhow::Error::new(e).context("notification database"))
}

/// `Ok` result of a job whose delivery had already ended (a redelivered job).
fn already_done(ctx: &JobCtx, status: &str) -> serde_json::Value {
    tracing::info!(job_id = %ctx.job_id, status, "delivery already ended; nothing sent again");
    serde_json::json!({ "status": status, "repeated": true })
}

/// Why a delivery failed, classified the way every job failure is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Transient (connection, timeout, 4xx SMTP, 429/5xx HTTP): try again later,
    /// no earlier than `after` when the provider said so (`Retry-After`).
    #[error("temporary delivery failure: {reason}")]
    Retry {
        /// The provider's requested delay, if it gave one.
        after: Option<Duration>,
        /// What went wrong, for the ledger and logs.
        reason: String,
    },
    /// Permanent (bad address or payload, refused target, 5xx SMTP, most 4xx
    /// HTTP): retrying cannot help.
    #[error("permanent delivery failure: {reason}")]
    Abort {
        /// What went wrong, for the ledger and logs.
        reason: String,
    },
}

impl DeliveryError {
    /// A retryable failure without a provider-requested delay.
    pub fn retry(reason: impl Into<String>) -> Self {
        DeliveryError::Retry {
            after: None,
            reason: reason.into(),
        }
    }

    /// A permanent failure.
    pub fn abort(reason: impl Into<String>) -> Self {
        DeliveryError::Abort {
            reason: reason.into(),
        }
    }

    /// True for [`DeliveryError::Retry`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, DeliveryError::Retry { .. })
    }

    /// The delay the provider asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DeliveryError::Retry { after, .. } => *after,
            DeliveryError::Abort { .. } => None,
        }
    }

    fn outcome(&self) -> &'static str {
        match self {
            DeliveryError::Retry { .. } => "retry",
            DeliveryError::Abort { .. } => "abort",
        }
    }
}

impl From<DeliveryError> for JobError {
    /// Maps onto the job classification, keeping the provider's `Retry-After`.
    fn from(e: DeliveryError) -> Self {
        match e {
            DeliveryError::Retry {
                reason,
                after: Some(after),
            } => JobError::RetryAfter {
                error: anyhow::anyhow!(reason),
                after,
            },
            DeliveryError::Retry {
                reason,
                after: None,
            } => JobError::Retry(anyhow::anyhow!(reason)),
            DeliveryError::Abort { reason } => JobError::Abort(reason),
        }
    }
}

/// The channel label of `kiln_notifications_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Email.
    Email,
    /// Push notification.
    Push,
    /// Webhook delivery.
    Webhook,
}

impl Channel {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Push => "push",
            Channel::Webhook => "webhook",
        }
    }
}

/// Counts one outcome when metrics are attached.
fn count<T>(
    metrics: Option<&Arc<Metrics>>,
    channel: Channel,
    result: &Result<T, DeliveryError>,
    ok: impl FnOnce(&T) -> &'static str,
) {
    if let Some(m) = metrics {
        let outcome = match result {
            Ok(v) => ok(v),
            Err(e) => e.outcome(),
        };
        m.record_notification(channel.as_str(), outcome);
    }
}

/// Shortens a provider's answer for an error message.
fn snippet(text: &str) -> String {
    const MAX: usize = 300;
    let t = text.trim();
    match t.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_errors_map_onto_job_errors() {
        let r = DeliveryError::Retry {
            after: Some(Duration::from_secs(7)),
            reason: "busy".into(),
        };
        assert!(r.is_retryable());
        assert_eq!(r.retry_after(), Some(Duration::from_secs(7)));
        let j = JobError::from(r);
        assert!(j.is_retryable());
        assert_eq!(j.retry_after(), Some(Duration::from_secs(7)));
        assert!(
            JobError::from(DeliveryError::retry("x"))
                .retry_after()
                .is_none()
        );
        let a = DeliveryError::abort("bad address");
        assert!(!a.is_retryable());
        assert_eq!(a.retry_after(), None);
        assert!(matches!(JobError::from(a), JobError::Abort(m) if m == "bad address"));
    }

    #[test]
    fn snippet_cuts_long_answers_on_a_char_boundary() {
        assert_eq!(snippet("  short \n"), "short");
        let long = "é".repeat(400);
        let s = snippet(&long);
        assert_eq!(s.chars().count(), 301);
        assert!(s.ends_with('…'));
    }
}
