//! What a job is: a versioned payload type that names its kind and queue
//! ([`Job`]), and how it fails ([`JobError`]). A leaf module: the ledger,
//! every job family and the worker's dispatch build on it.

use std::time::Duration;

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::queue::QueueName;

/// The payload of one job kind at one version (`ImageProcessV1`, …).
///
/// On the queue and in the ledger a payload is its fields plus a `type` tag
/// ([`Job::TYPE`]), so a changed payload gets a new type (`….v2`) while jobs
/// of the old one are still queued. The worker's registry maps each type to
/// its handler.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The version-less kind recorded in the ledger, e.g. `image.process`.
    const KIND: &'static str;
    /// The type tag of this version, e.g. `image.process.v1`. Stable: renaming
    /// the Rust type never changes it.
    const TYPE: &'static str;

    /// The queue this job runs on.
    fn queue(&self) -> QueueName;

    /// The tagged JSON stored in the ledger and sent on the queue.
    fn to_payload(&self) -> Result<Value, serde_json::Error> {
        let mut value = serde_json::to_value(self)?;
        match &mut value {
            Value::Object(fields) => {
                fields.insert("type".to_owned(), Value::String(Self::TYPE.to_owned()));
                Ok(value)
            }
            _ => Err(serde::ser::Error::custom(format!(
                "the payload of {} is not a JSON object",
                Self::TYPE
            ))),
        }
    }

    /// Reads a tagged payload of this type (the inverse of [`Job::to_payload`]).
    fn from_payload(mut payload: Value) -> Result<Self, serde_json::Error> {
        let Value::Object(fields) = &mut payload else {
            return Err(serde::de::Error::custom("a job payload is a JSON object"));
        };
        match fields.remove("type") {
            Some(Value::String(t)) if t == Self::TYPE => serde_json::from_value(payload),
            other => Err(serde::de::Error::custom(format!(
                "payload type is {other:?}, not {:?}",
                Self::TYPE
            ))),
        }
    }
}

/// A payload ready for the ledger: any [`Job`], with its kind and queue read
/// off it and its tagged JSON made once.
#[derive(Debug, Clone)]
pub struct JobPayload {
    kind: &'static str,
    queue: QueueName,
    json: Result<Value, String>,
}

impl JobPayload {
    /// The version-less kind, e.g. `image.process`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The queue the job runs on.
    pub fn queue(&self) -> QueueName {
        self.queue
    }

    /// The tagged JSON, or why the payload could not be encoded.
    pub fn json(&self) -> Result<&Value, &str> {
        self.json.as_ref().map_err(String::as_str)
    }
}

impl<J: Job> From<J> for JobPayload {
    fn from(job: J) -> Self {
        JobPayload {
            kind: J::KIND,
            queue: job.queue(),
            json: job.to_payload().map_err(|e| format!("{}: {e}", J::TYPE)),
        }
    }
}

/// The `type` tag of a stored payload, if it has one.
pub fn payload_type(payload: &Value) -> Option<&str> {
    payload.get("type").and_then(Value::as_str)
}

/// How a job failed. Every failure is one or the other.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Transient (network, 5xx, timeouts, locks): retried with backoff.
    #[error("{0:#}")]
    Retry(anyhow::Error),
    /// Transient, and the other side said when to come back (`Retry-After`):
    /// retried no earlier than `after` (and never sooner than the backoff).
    #[error("{error:#} (asked to retry after {}s)", after.as_secs())]
    RetryAfter {
        /// What went wrong.
        error: anyhow::Error,
        /// The requested delay.
        after: Duration,
    },
    /// Permanent (bad input, unsupported media, a provider's 4xx): never retried.
    #[error("{0}")]
    Abort(String),
}

impl JobError {
    /// True for [`JobError::Retry`] and [`JobError::RetryAfter`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, JobError::Retry(_) | JobError::RetryAfter { .. })
    }

    /// The delay the other side asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            JobError::RetryAfter { after, .. } => Some(*after),
            JobError::Retry(_) | JobError::Abort(_) => None,
        }
    }
}

/// Classifies a failure at the call site, as `.retry()?` or `.abort()?`.
pub trait Classify<T> {
    /// A transient failure: the job is retried.
    fn retry(self) -> Result<T, JobError>;
    /// A permanent failure: the job fails without a retry.
    fn abort(self) -> Result<T, JobError>;
}

impl<T, E> Classify<T> for Result<T, E>
where
    E: Into<anyhow::Error>,
{
    fn retry(self) -> Result<T, JobError> {
        self.map_err(|e| JobError::Retry(e.into()))
    }

    fn abort(self) -> Result<T, JobError> {
        self.map_err(|e| JobError::Abort(format!("{:#}", e.into())))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        n: u32,
    }

    impl Job for Sample {
        const KIND: &'static str = "sample";
        const TYPE: &'static str = "sample.v1";
        fn queue(&self) -> QueueName {
            QueueName::Reports
        }
    }

    #[test]
    fn payloads_carry_their_type_and_read_back() {
        let v = Sample { n: 3 }.to_payload().expect("payload");
        assert_eq!(v, serde_json::json!({ "type": "sample.v1", "n": 3 }));
        assert_eq!(payload_type(&v), Some("sample.v1"));
        assert_eq!(Sample::from_payload(v).expect("decode"), Sample { n: 3 });
    }

    #[test]
    fn another_type_or_a_missing_tag_does_not_decode() {
        for v in [
            serde_json::json!({ "type": "sample.v2", "n": 3 }),
            serde_json::json!({ "n": 3 }),
            serde_json::json!([1]),
        ] {
            assert!(Sample::from_payload(v).is_err());
        }
    }

    #[test]
    fn classify_splits_retry_from_abort() {
        let r: Result<(), std::io::Error> = Err(std::io::Error::other("down"));
        assert!(r.retry().is_err_and(|e| e.is_retryable()));
        let a: Result<(), std::io::Error> = Err(std::io::Error::other("bad"));
        assert!(a.abort().is_err_and(|e| !e.is_retryable()));
    }
}
