//! `/v1/queues`: queue depth for operators, and bulk requeue of dead jobs.

use poem::web::Data;
use poem_openapi::{Enum, Object, OpenApi, param::Path, param::Query, payload::Json};
use uuid::Uuid;

use kiln_jobs::{AppContext, QueueName, queue::Transport};

use crate::{ApiTags, Scope, auth::Auth, error::ApiError};

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

/// Where the queues live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum QueueTransport {
    /// The queue tables of the database (embedded SQLite or PostgreSQL).
    Database,
    /// Redis Streams.
    Redis,
}

/// One queue's numbers.
#[derive(Debug, Clone, Object)]
pub struct QueueOut {
    /// Queue name.
    pub name: QueueDto,
    /// Jobs due and waiting for a worker.
    pub ready: u64,
    /// Jobs waiting for their time (scheduled or retry backoff).
    pub delayed: u64,
    /// Jobs fetched by a worker and not finished.
    pub in_flight: u64,
    /// Jobs that used every attempt; requeue them with `POST /v1/queues/{queue}/dead/retry`.
    pub dead: u64,
    /// How long the oldest ready job has waited, in milliseconds.
    pub oldest_ready_ms: u64,
}

/// Every queue.
#[derive(Debug, Clone, Object)]
pub struct QueueList {
    /// `database` (the embedded/PostgreSQL queue tables) or `redis`.
    pub transport: QueueTransport,
    /// One entry per queue.
    pub queues: Vec<QueueOut>,
}

/// The outcome of a bulk requeue.
#[derive(Debug, Clone, Object)]
pub struct Requeued {
    /// How many dead jobs were queued again.
    pub requeued: u64,
    /// Their ids.
    pub job_ids: Vec<Uuid>,
}

/// Queue operations.
pub struct QueuesApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Queues")]
impl QueuesApi {
    /// Queue depth
    ///
    /// Ready, delayed, in-flight and dead counts and the age of the oldest
    /// ready job, per queue. Operators and admins only.
    #[oai(path = "/queues", method = "get", operation_id = "queues_list")]
    async fn list(&self, auth: Auth, app: Data<&AppContext>) -> Result<Json<QueueList>, ApiError> {
        auth.principal().require_scope(Scope::QueuesRead)?;
        let mut queues = Vec::with_capacity(QueueName::ALL.len());
        for q in QueueName::ALL {
            let s = app.ledger.queue_stats(q).await?;
            queues.push(QueueOut {
                name: q.into(),
                ready: s.ready,
                delayed: s.delayed,
                in_flight: s.in_flight,
                dead: s.dead,
                oldest_ready_ms: s.oldest_ready_ms,
            });
        }
        Ok(Json(QueueList {
            transport: match app.ledger.transport() {
                Transport::Database => QueueTransport::Database,
                Transport::Redis(_) => QueueTransport::Redis,
            },
            queues,
        }))
    }

    /// Requeue dead jobs
    ///
    /// Queues up to `limit` dead jobs of the queue again (oldest first), each
    /// with a fresh attempt budget. Operators and admins only.
    #[oai(
        path = "/queues/:queue/dead/retry",
        method = "post",
        operation_id = "queues_retry_dead"
    )]
    async fn retry_dead(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        queue: Path<QueueDto>,
        /// Most jobs to requeue, 1–10000 (default 1000).
        #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<Requeued>, ApiError> {
        auth.principal().require_scope(Scope::QueuesAdmin)?;
        let ids = app
            .ledger
            .retry_dead(queue.0.into(), limit.0.unwrap_or(1000))
            .await?;
        Ok(Json(Requeued {
            requeued: ids.len() as u64,
            job_ids: ids,
        }))
    }
}
