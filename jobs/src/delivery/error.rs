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
        Self::retry_in(None, reason)
    }

    /// A retryable failure, no earlier than `after` when the provider said so.
    /// The reason is made [`storable`]: it often quotes the provider.
    pub fn retry_in(after: Option<Duration>, reason: impl Into<String>) -> Self {
        DeliveryError::Retry {
            after,
            reason: storable(reason.into()),
        }
    }

    /// A permanent failure; the reason is made [`storable`].
    pub fn abort(reason: impl Into<String>) -> Self {
        DeliveryError::Abort {
            reason: storable(reason.into()),
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

/// Text from a third party (a receiver's body, a provider's error, an SMTP
/// reply) made safe to record: NUL, which PostgreSQL's TEXT cannot hold,
/// becomes U+FFFD, the same mark lossy UTF-8 decoding leaves for bytes it
/// cannot represent. Every recorded provider text passes through here (the
/// [`DeliveryError`] constructors, the webhook client's response body).
pub(crate) fn storable(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

/// Decodes at most `max` bytes of a third party's answer into [`storable`]
/// text of at most `max` bytes (lossy UTF-8 can grow it: each undecodable
/// byte becomes a three-byte U+FFFD), cut on a character boundary.
pub(crate) fn storable_excerpt(bytes: &[u8], max: usize) -> String {
    let bytes = &bytes[..bytes.len().min(max)];
    let mut text = storable(String::from_utf8_lossy(bytes).into_owned());
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
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
    fn provider_text_with_nul_is_made_storable() {
        assert_eq!(storable("a\0b\0".into()), "a\u{FFFD}b\u{FFFD}");
        assert_eq!(storable("plain".into()), "plain");
        let retry = DeliveryError::retry_in(Some(Duration::from_secs(1)), "FCM 503: x\0y");
        assert!(!retry.to_string().contains('\0'), "{retry}");
        assert!(matches!(
            &retry,
            DeliveryError::Retry { after: Some(_), .. }
        ));
        let abort = DeliveryError::abort("smtp: 550 \0");
        assert!(!abort.to_string().contains('\0'), "{abort}");
        assert!(!JobError::from(abort).to_string().contains('\0'));
    }

    #[test]
    fn excerpts_are_bounded_valid_text_without_nul() {
        assert_eq!(storable_excerpt(b"ok\0", 100), "ok\u{FFFD}");
        assert_eq!(storable_excerpt(b"abcdef", 3), "abc");
        // Undecodable bytes grow threefold when decoded; the excerpt stays bounded.
        let e = storable_excerpt(&[0xff; 10], 10);
        assert!(e.len() <= 10 && !e.is_empty(), "{e:?}");
        assert!(e.chars().all(|c| c == '\u{FFFD}'));
        // A character cut by the byte cap is not split either.
        assert_eq!(storable_excerpt("aé\0".as_bytes(), 2), "a");
        let e = storable_excerpt("\0\0\0\0".as_bytes(), 4);
        assert!(e.len() <= 4 && !e.contains('\0'), "{e:?}");
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
