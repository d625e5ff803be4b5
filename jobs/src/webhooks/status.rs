//! Where one delivery of the webhook delivery log is: the `status` column of
//! `webhook_deliveries`, defined once here for the repository, the handler
//! and the API.

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

crate::stored_name!(DeliveryStatus, "webhook delivery status", serialize);

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
