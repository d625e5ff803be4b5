//! Where one delivery of the webhook delivery log is: the `status` column of
//! `webhook_deliveries`, defined once here for the repository, the handler
//! and the API.

use std::{fmt, str::FromStr};

use serde::{Serialize, Serializer};

use crate::JobStatus;

/// Status of a delivery in the webhook delivery log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its first attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// The last attempt failed; another is scheduled.
    Retrying,
    /// Failed permanently (a 4xx other than 408/429, a refused target, or the
    /// attempt that disabled the endpoint).
    Failed,
    /// Every attempt failed.
    Dead,
    /// Not sent: the endpoint was disabled or deleted first.
    Skipped,
}

impl DeliveryStatus {
    /// Every status.
    pub const ALL: [DeliveryStatus; 6] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Retrying,
        DeliveryStatus::Failed,
        DeliveryStatus::Dead,
        DeliveryStatus::Skipped,
    ];

    /// The stored string.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Dead => "dead",
            DeliveryStatus::Skipped => "skipped",
        }
    }

    /// True once the delivery will not be attempted again.
    pub const fn is_final(self) -> bool {
        !matches!(self, DeliveryStatus::Pending | DeliveryStatus::Retrying)
    }

    /// The status a delivery ends with when its job ended `status` without
    /// the handler recording it; `None` for a job that did not fail.
    pub const fn for_failed_job(status: JobStatus) -> Option<DeliveryStatus> {
        match status {
            JobStatus::Failed => Some(DeliveryStatus::Failed),
            JobStatus::Dead => Some(DeliveryStatus::Dead),
            JobStatus::Queued
            | JobStatus::Running
            | JobStatus::Succeeded
            | JobStatus::Cancelled => None,
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serializes as the stored string (job results name the status they ended in).
impl Serialize for DeliveryStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unknown webhook delivery status {s:?}"))
    }
}

/// Decodes the stored column (`#[sqlx(try_from = "String")]`): an unknown
/// value is a corrupt row, never a guess.
impl TryFrom<String> for DeliveryStatus {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in DeliveryStatus::ALL {
            assert_eq!(s.as_str().parse::<DeliveryStatus>(), Ok(s));
            assert_eq!(DeliveryStatus::try_from(s.to_string()), Ok(s));
            assert_eq!(serde_json::json!(s), serde_json::json!(s.as_str()));
        }
    }

    #[test]
    fn an_unknown_status_is_an_error() {
        assert!("sent".parse::<DeliveryStatus>().is_err());
        assert!("Delivered".parse::<DeliveryStatus>().is_err());
        assert!(DeliveryStatus::try_from(String::new()).is_err());
    }

    #[test]
    fn only_failed_and_dead_jobs_close_their_delivery() {
        assert_eq!(
            DeliveryStatus::for_failed_job(JobStatus::Failed),
            Some(DeliveryStatus::Failed)
        );
        assert_eq!(
            DeliveryStatus::for_failed_job(JobStatus::Dead),
            Some(DeliveryStatus::Dead)
        );
        assert_eq!(DeliveryStatus::for_failed_job(JobStatus::Cancelled), None);
    }
}
