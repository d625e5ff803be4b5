//! Where one delivery of the notification history is: the `status` column of
//! `notifications`, defined once here for the repository, the handlers and
//! the API.

use crate::JobStatus;

/// Status of a delivery in the notification history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationStatus {
    /// Waiting for a worker.
    Queued,
    /// An attempt is under way.
    Sending,
    /// The provider accepted it.
    Sent,
    /// Written to the outbox or log instead of sent (no SMTP or FCM configured).
    Recorded,
    /// The last attempt failed; another is scheduled.
    Retrying,
    /// Failed permanently (a refused address, an unregistered device).
    Failed,
    /// Every attempt failed.
    Dead,
    /// Nothing to send (no active device, the device or recipient is gone).
    Skipped,
    /// An attempt was cut off while it may have been sending, and the channel
    /// is at-most-once (`notifications.delivery`): it may or may not have
    /// arrived, and is not sent again.
    Unknown,
}

impl NotificationStatus {
    /// Every status.
    pub const ALL: [NotificationStatus; 9] = [
        NotificationStatus::Queued,
        NotificationStatus::Sending,
        NotificationStatus::Sent,
        NotificationStatus::Recorded,
        NotificationStatus::Retrying,
        NotificationStatus::Failed,
        NotificationStatus::Dead,
        NotificationStatus::Skipped,
        NotificationStatus::Unknown,
    ];

    /// The stored string.
    pub const fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Queued => "queued",
            NotificationStatus::Sending => "sending",
            NotificationStatus::Sent => "sent",
            NotificationStatus::Recorded => "recorded",
            NotificationStatus::Retrying => "retrying",
            NotificationStatus::Failed => "failed",
            NotificationStatus::Dead => "dead",
            NotificationStatus::Skipped => "skipped",
            NotificationStatus::Unknown => "unknown",
        }
    }

    /// True once the delivery will not be attempted again.
    pub const fn is_final(self) -> bool {
        !matches!(
            self,
            NotificationStatus::Queued | NotificationStatus::Sending | NotificationStatus::Retrying
        )
    }

    /// True when the provider took it (or it was recorded in its stead): the
    /// row keeps the time as `sent_at`.
    pub const fn is_sent(self) -> bool {
        matches!(
            self,
            NotificationStatus::Sent | NotificationStatus::Recorded
        )
    }

    /// The status a delivery ends with when its job ended `status` without
    /// the handler recording it; `None` for a job that did not fail.
    pub const fn for_failed_job(status: JobStatus) -> Option<NotificationStatus> {
        match status {
            JobStatus::Failed => Some(NotificationStatus::Failed),
            JobStatus::Dead => Some(NotificationStatus::Dead),
            JobStatus::Queued
            | JobStatus::Running
            | JobStatus::Succeeded
            | JobStatus::Cancelled => None,
        }
    }
}

crate::stored_name!(NotificationStatus, "notification status", serialize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in NotificationStatus::ALL {
            assert_eq!(s.as_str().parse::<NotificationStatus>(), Ok(s));
            assert_eq!(NotificationStatus::try_from(s.to_string()), Ok(s));
            assert_eq!(serde_json::json!(s), serde_json::json!(s.as_str()));
        }
    }

    #[test]
    fn an_unknown_status_is_an_error() {
        assert!("delivered".parse::<NotificationStatus>().is_err());
        assert!("Sent".parse::<NotificationStatus>().is_err());
        assert!(NotificationStatus::try_from(String::new()).is_err());
    }

    #[test]
    fn only_failed_and_dead_jobs_close_their_delivery() {
        assert_eq!(
            NotificationStatus::for_failed_job(JobStatus::Failed),
            Some(NotificationStatus::Failed)
        );
        assert_eq!(
            NotificationStatus::for_failed_job(JobStatus::Dead),
            Some(NotificationStatus::Dead)
        );
        assert_eq!(
            NotificationStatus::for_failed_job(JobStatus::Succeeded),
            None
        );
    }
}
