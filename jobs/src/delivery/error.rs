//! How a delivery failed (retry or abort, as every job failure is), the
//! channel label of the delivery metrics, and small helpers the clients share.

use std::{sync::Arc, time::Duration};

use crate::{job::JobError, metrics::Metrics};

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

    pub(super) fn outcome(&self) -> &'static str {
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
pub(super) fn count<T>(
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
pub(super) fn snippet(text: &str) -> String {
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
