//! The `reports` job family (`reports` queue): users report media, accounts
//! or a client's own objects ([`submit`]); `report.triage` scores each
//! reported target and hides media whose score crosses the threshold
//! ([`triage`]); moderators review and act ([`review`]); `report.notify`
//! tells the reporter how their report ended ([`notify`]); `report.export`
//! streams a filtered CSV into object storage ([`export`]). [`repo`] holds
//! the tables: `report_targets` (one per thing reported, with its priority),
//! `reports` and `report_actions` (the audit trail of every change).

pub mod config;
pub mod export;
pub mod notify;
pub mod repo;
pub mod review;
pub mod submit;
pub mod triage;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{job::Job, queue::QueueName, stored_name};

/// What a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    /// An uploaded image (`target_id` is its media id).
    Media,
    /// An account (`target_id` is its user id).
    User,
    /// A client's own object (a comment id, say): an opaque string.
    External,
}

impl TargetType {
    /// Every target type.
    pub const ALL: [TargetType; 3] = [TargetType::Media, TargetType::User, TargetType::External];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Media => "media",
            TargetType::User => "user",
            TargetType::External => "external",
        }
    }
}

stored_name!(TargetType, "report target type");

/// Why something is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Unsolicited advertising, scams.
    Spam,
    /// Targeted abuse.
    Harassment,
    /// Hate speech.
    Hate,
    /// Violence or threats.
    Violence,
    /// Sexual content.
    Sexual,
    /// Self-harm or suicide.
    SelfHarm,
    /// Illegal content.
    Illegal,
    /// Copyright infringement.
    Copyright,
    /// Pretending to be someone else.
    Impersonation,
    /// Anything else (details required).
    Other,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Reason; 10] = [
        Reason::Spam,
        Reason::Harassment,
        Reason::Hate,
        Reason::Violence,
        Reason::Sexual,
        Reason::SelfHarm,
        Reason::Illegal,
        Reason::Copyright,
        Reason::Impersonation,
        Reason::Other,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Spam => "spam",
            Reason::Harassment => "harassment",
            Reason::Hate => "hate",
            Reason::Violence => "violence",
            Reason::Sexual => "sexual",
            Reason::SelfHarm => "self_harm",
            Reason::Illegal => "illegal",
            Reason::Copyright => "copyright",
            Reason::Impersonation => "impersonation",
            Reason::Other => "other",
        }
    }
}

stored_name!(Reason, "report reason");

/// Where a report is in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// Filed; nobody has looked at it yet.
    Open,
    /// A moderator is on it.
    Reviewing,
    /// Acted on (or found to need no action) by a moderator.
    Resolved,
    /// Found unfounded.
    Dismissed,
}

impl ReportStatus {
    /// Every status.
    pub const ALL: [ReportStatus; 4] = [
        ReportStatus::Open,
        ReportStatus::Reviewing,
        ReportStatus::Resolved,
        ReportStatus::Dismissed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Open => "open",
            ReportStatus::Reviewing => "reviewing",
            ReportStatus::Resolved => "resolved",
            ReportStatus::Dismissed => "dismissed",
        }
    }

    /// Open or being reviewed: it counts towards its target's priority.
    pub fn is_open(self) -> bool {
        matches!(self, ReportStatus::Open | ReportStatus::Reviewing)
    }

    /// Whether a moderator may move a report from `self` to `to`: open →
    /// reviewing, resolved or dismissed; reviewing → resolved or dismissed.
    /// A closed report stays closed.
    pub fn may_become(self, to: ReportStatus) -> bool {
        matches!(
            (self, to),
            (
                ReportStatus::Open,
                ReportStatus::Reviewing | ReportStatus::Resolved | ReportStatus::Dismissed
            ) | (
                ReportStatus::Reviewing,
                ReportStatus::Resolved | ReportStatus::Dismissed
            )
        )
    }
}

stored_name!(ReportStatus, "report status");

/// What a moderator does about a report's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing.
    None,
    /// Hide the reported media.
    HideMedia,
    /// Show the reported media again.
    RestoreMedia,
    /// Delete the reported media and its variants.
    DeleteMedia,
    /// Disable the reported account: its sessions and API keys stop.
    DisableUser,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 5] = [
        Action::None,
        Action::HideMedia,
        Action::RestoreMedia,
        Action::DeleteMedia,
        Action::DisableUser,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::HideMedia => "hide_media",
            Action::RestoreMedia => "restore_media",
            Action::DeleteMedia => "delete_media",
            Action::DisableUser => "disable_user",
        }
    }

    /// The target type the action applies to (`None` for any).
    pub fn target(self) -> Option<TargetType> {
        match self {
            Action::None => None,
            Action::HideMedia | Action::RestoreMedia | Action::DeleteMedia => {
                Some(TargetType::Media)
            }
            Action::DisableUser => Some(TargetType::User),
        }
    }
}

stored_name!(Action, "report action");

/// The filters of the moderator list and of an export.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Only reports in this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ReportStatus>,
    /// Only reports for this reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Only reports on this kind of target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
    /// Only reports on this target id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// Only reports filed at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_after: Option<DateTime<Utc>>,
    /// Only reports filed before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_before: Option<DateTime<Utc>>,
}

/// Payload of `report.triage`: score the target of one new report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportTriageV1 {
    /// The new report.
    pub report_id: Uuid,
}

impl Job for ReportTriageV1 {
    const KIND: &'static str = "report.triage";
    const TYPE: &'static str = "report.triage.v1";
    fn queue(&self) -> QueueName {
        QueueName::Reports
    }
}

/// Payload of `report.notify`: tell a reporter their report was closed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportNotifyV1 {
    /// The report.
    pub report_id: Uuid,
    /// The status it was closed with (`resolved` or `dismissed`).
    pub status: ReportStatus,
}

impl Job for ReportNotifyV1 {
    const KIND: &'static str = "report.notify";
    const TYPE: &'static str = "report.notify.v1";
    fn queue(&self) -> QueueName {
        QueueName::Reports
    }
}

/// Payload of `report.export`: write the reports a filter selects as CSV.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportExportV1 {
    /// Which reports.
    pub filter: Filter,
}

impl Job for ReportExportV1 {
    const KIND: &'static str = "report.export";
    const TYPE: &'static str = "report.export.v1";
    fn queue(&self) -> QueueName {
        QueueName::Reports
    }
}

/// Object key of an export's CSV.
pub fn export_key(job_id: Uuid) -> String {
    format!("exports/reports/{job_id}.csv")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_reports_stay_closed() {
        use ReportStatus::*;
        assert!(Open.may_become(Reviewing));
        assert!(Open.may_become(Resolved));
        assert!(Open.may_become(Dismissed));
        assert!(Reviewing.may_become(Resolved));
        assert!(Reviewing.may_become(Dismissed));
        for from in ReportStatus::ALL {
            assert!(!from.may_become(Open), "{from} -> open");
            assert!(!from.may_become(from), "{from} -> {from}");
        }
        for to in ReportStatus::ALL {
            assert!(!Resolved.may_become(to), "resolved -> {to}");
            assert!(!Dismissed.may_become(to), "dismissed -> {to}");
        }
    }

    #[test]
    fn names_round_trip() {
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>(), Ok(r));
        }
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>(), Ok(a));
        }
        for t in TargetType::ALL {
            assert_eq!(t.as_str().parse::<TargetType>(), Ok(t));
        }
    }
}
