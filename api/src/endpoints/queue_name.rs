//! The queue names of the API: a path parameter of `/v1/queues/{queue}/…`
//! and a filter of `GET /v1/jobs`.

use poem_openapi::Enum;

use kiln_jobs::QueueName;

/// A queue.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename = "QueueName", rename_all = "snake_case")]
pub enum QueueDto {
    /// Image processing.
    Media,
    /// Email and push.
    Notifications,
    /// Webhook deliveries.
    Webhooks,
    /// Content reports.
    Reports,
    /// Database backups.
    Backups,
}

impl From<QueueDto> for QueueName {
    fn from(q: QueueDto) -> Self {
        match q {
            QueueDto::Media => QueueName::Media,
            QueueDto::Notifications => QueueName::Notifications,
            QueueDto::Webhooks => QueueName::Webhooks,
            QueueDto::Reports => QueueName::Reports,
            QueueDto::Backups => QueueName::Backups,
        }
    }
}

impl From<QueueName> for QueueDto {
    fn from(q: QueueName) -> Self {
        match q {
            QueueName::Media => QueueDto::Media,
            QueueName::Notifications => QueueDto::Notifications,
            QueueName::Webhooks => QueueDto::Webhooks,
            QueueName::Reports => QueueDto::Reports,
            QueueName::Backups => QueueDto::Backups,
        }
    }
}
