//! The `webhooks` job family: owners subscribe endpoints to events; a
//! finished job (or a processed upload) becomes one `webhook.deliver` job per
//! subscribed endpoint, each with its row in the delivery log, and the
//! handler signs and sends one delivery.
//!
//! Every body is the Standard Webhooks envelope
//! `{"type": …, "timestamp": …, "data": {…}}`, stored with its delivery and
//! sent byte for byte on every attempt, under one `webhook-id`
//! (`msg_` + the delivery id) that receivers deduplicate on.

pub mod config;
pub mod deliver;
pub mod events;
pub mod repo;
pub mod status;
pub mod subscriptions;

pub use status::DeliveryStatus;

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{JobStatus, identity::Role, job::Job, queue::QueueName};

/// Events an endpoint can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A job succeeded.
    JobSucceeded,
    /// A job failed permanently (bad input, a provider's refusal).
    JobFailed,
    /// A job spent its attempts.
    JobDead,
    /// An uploaded image was processed; its variants are ready.
    MediaReady,
    /// A database backup was stored (operators and admins only).
    BackupSucceeded,
    /// A database backup failed for good (operators and admins only).
    BackupFailed,
    /// A stored backup did not restore, or did not match its manifest
    /// (operators and admins only).
    BackupVerifyFailed,
    /// A reported target's priority crossed the threshold (moderators and
    /// admins only).
    ReportEscalated,
    /// One of your reports was resolved or dismissed.
    ReportUpdated,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 9] = [
        EventType::JobSucceeded,
        EventType::JobFailed,
        EventType::JobDead,
        EventType::MediaReady,
        EventType::BackupSucceeded,
        EventType::BackupFailed,
        EventType::BackupVerifyFailed,
        EventType::ReportEscalated,
        EventType::ReportUpdated,
    ];

    /// The wire name, e.g. `job.succeeded`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::JobSucceeded => "job.succeeded",
            EventType::JobFailed => "job.failed",
            EventType::JobDead => "job.dead",
            EventType::MediaReady => "media.ready",
            EventType::BackupSucceeded => "backup.succeeded",
            EventType::BackupFailed => "backup.failed",
            EventType::BackupVerifyFailed => "backup.verify_failed",
            EventType::ReportEscalated => "report.escalated",
            EventType::ReportUpdated => "report.updated",
        }
    }

    /// Who may subscribe: events about the system (backups) are for
    /// operators and admins, escalated reports for moderators and admins;
    /// everything else is about the subscriber's own work.
    pub fn allowed_for(self, role: Role) -> bool {
        match self {
            EventType::BackupSucceeded
            | EventType::BackupFailed
            | EventType::BackupVerifyFailed => role.is_staff(),
            EventType::ReportEscalated => matches!(role, Role::Moderator | Role::Admin),
            EventType::JobSucceeded
            | EventType::JobFailed
            | EventType::JobDead
            | EventType::MediaReady
            | EventType::ReportUpdated => true,
        }
    }

    pub(crate) fn for_status(status: JobStatus) -> Option<EventType> {
        match status {
            JobStatus::Succeeded => Some(EventType::JobSucceeded),
            JobStatus::Failed => Some(EventType::JobFailed),
            JobStatus::Dead => Some(EventType::JobDead),
            _ => None,
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| format!("unknown event type {s:?}"))
    }
}

/// The type of the event `POST /v1/webhooks/{id}/test` sends (not subscribable).
pub const TEST_EVENT: &str = "webhook.test";

/// Payload of `webhook.deliver`: one stored delivery to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookDeliverV1 {
    /// The delivery-log row (holds the exact body).
    pub delivery_id: Uuid,
    /// The endpoint.
    pub webhook_id: Uuid,
}

impl Job for WebhookDeliverV1 {
    const KIND: &'static str = "webhook.deliver";
    const TYPE: &'static str = "webhook.deliver.v1";
    fn queue(&self) -> QueueName {
        QueueName::Webhooks
    }
}
