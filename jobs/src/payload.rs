//! Job payloads: versioned serde types inside one tagged enum, so a payload can
//! change while older jobs are still queued.

use serde::{Deserialize, Serialize};

use crate::{
    media::ImageProcessV1,
    noop::NoopV1,
    notify::{
        events::WebhookDeliverV1,
        jobs::{EmailSendV1, PushSendV1},
    },
    queue::QueueName,
};

/// Every job Kiln runs. The `type` tag names kind and version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum JobPayload {
    /// Make the variants of an uploaded image.
    #[serde(rename = "image.process.v1")]
    ImageProcessV1(ImageProcessV1),
    /// A job that does (almost) nothing: benchmarks and runtime tests.
    #[serde(rename = "noop.v1")]
    NoopV1(NoopV1),
    /// Send one email of the notification history.
    #[serde(rename = "email.send.v1")]
    EmailSendV1(EmailSendV1),
    /// Send one push notification to one device.
    #[serde(rename = "push.send.v1")]
    PushSendV1(PushSendV1),
    /// Deliver one event to one webhook endpoint.
    #[serde(rename = "webhook.deliver.v1")]
    WebhookDeliverV1(WebhookDeliverV1),
}

impl JobPayload {
    /// The job kind recorded in the ledger (version-less).
    pub fn kind(&self) -> &'static str {
        match self {
            JobPayload::ImageProcessV1(_) => "image.process",
            JobPayload::NoopV1(_) => "noop",
            JobPayload::EmailSendV1(_) => "email.send",
            JobPayload::PushSendV1(_) => "push.send",
            JobPayload::WebhookDeliverV1(_) => "webhook.deliver",
        }
    }

    /// The queue this job runs on.
    pub fn queue(&self) -> QueueName {
        match self {
            JobPayload::ImageProcessV1(_) => QueueName::Media,
            JobPayload::NoopV1(n) => n.queue,
            JobPayload::EmailSendV1(_) | JobPayload::PushSendV1(_) => QueueName::Notifications,
            JobPayload::WebhookDeliverV1(_) => QueueName::Webhooks,
        }
    }
}
