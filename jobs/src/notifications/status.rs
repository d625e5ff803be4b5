//! Where one delivery of the notification history is: the `status` column of
//! `notifications`, defined once here for the repository, the handlers and
//! the API.

use std::{fmt, str::FromStr};

use serde::{Serialize, Serializer};

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
}

impl NotificationStatus {
    /// Every status.
    pub const ALL: [NotificationStatus; 8] = [
        NotificationStatus::Queued,
        NotificationStatus::Sending,
        NotificationStatus::Sent,
        NotificationStatus::Recorded,
        NotificationStatus::Retrying,
        NotificationStatus::Failed,
        NotificationStatus::Dead,
        NotificationStatus::Skipped,
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

impl fmt::Display for NotificationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serializes as the stored string (job results name the status they ended in).
impl Serialize for NotificationStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl FromStr for NotificationStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NotificationStatus::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unknown notification status {s:?}"))
    }
}

/// Decodes the stored column (`#[sqlx(try_from = "String")]`): an unknown
/// value is a corrupt row, never a guess.
impl TryFrom<String> for NotificationStatus {
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
