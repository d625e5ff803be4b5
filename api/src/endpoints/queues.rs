//! `/v1/queues`: queue depth for operators, pause and resume, and a queue's
//! dead jobs: list, requeue, purge.

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{Enum, Object, OpenApi, param::Path, param::Query, payload::Json};
use uuid::Uuid;

use kiln_jobs::{
    AppContext, JobStatus, QueueName,
    db::throughput,
    ledger::JobFilter,
    queue::{QueuePause, Transport},
};

use crate::{
    ApiTags, Scope,
    auth::{Auth, audit_entry},
    endpoints::{
        jobs::{JobOut, JobPage},
        parse_cursor,
        queue_name::QueueDto,
    },
    error::ApiError,
};

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
    /// True while an operator has paused the queue: its workers start
    /// nothing new, and enqueueing goes on.
    pub paused: bool,
    /// When it was paused; null when running.
    #[oai(nullable)]
    pub paused_at: Option<DateTime<Utc>>,
    /// Who paused it (a user id, or `cli`); null when running.
    #[oai(nullable)]
    pub paused_by: Option<String>,
    /// Jobs that succeeded in each of the last 60 minutes, oldest first (the
    /// last entry is the current minute), summed over every worker process.
    pub succeeded_per_minute: Vec<u32>,
    /// Jobs that failed or died in each of those minutes.
    pub failed_per_minute: Vec<u32>,
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

/// The outcome of a purge.
#[derive(Debug, Clone, Object)]
pub struct PurgedOut {
    /// How many dead jobs were deleted.
    pub deleted: u64,
    /// Dead jobs left because a media item points to them (delete the
    /// media items to let them go).
    pub kept: u64,
}

/// A live worker process.
#[derive(Debug, Clone, Object)]
pub struct WorkerOut {
    /// `<host>-<random>`, unique per process start.
    pub id: String,
    /// Its host name (the pod's, in Kubernetes).
    pub host: String,
    /// Its process id.
    pub pid: i32,
    /// Kiln's version it runs.
    pub version: String,
    /// The queues it runs.
    pub queues: Vec<QueueDto>,
    /// Jobs it may run at once, summed over its queues.
    pub concurrency: i32,
    /// Jobs it runs now (as of its last heartbeat).
    pub in_flight: i32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat (every 5 s; a worker silent for 15 s is not listed).
    pub heartbeat_at: DateTime<Utc>,
}

/// The live workers.
#[derive(Debug, Clone, Object)]
pub struct WorkerList {
    /// By host and start.
    pub workers: Vec<WorkerOut>,
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
        let paused = app.ledger.paused().await?;
        let mut hours = throughput::last_hour(&app.db).await?;
        let mut queues = Vec::with_capacity(QueueName::ALL.len());
        for q in QueueName::ALL {
            let hour = hours.remove(q.as_str()).unwrap_or_default();
            queues.push(queue_out(&app, q, &paused, hour).await?);
        }
        Ok(Json(QueueList {
            transport: match app.ledger.transport() {
                Transport::Database => QueueTransport::Database,
                Transport::Redis(_) => QueueTransport::Redis,
            },
            queues,
        }))
    }

    /// Live workers
    ///
    /// Every worker process that sent a heartbeat in the last 15 s (they
    /// beat every 5 s), with its queues, concurrency and running jobs.
    /// Operators and admins only.
    #[oai(path = "/workers", method = "get", operation_id = "workers_list")]
    async fn workers(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
    ) -> Result<Json<WorkerList>, ApiError> {
        auth.principal().require_scope(Scope::QueuesRead)?;
        let rows = kiln_jobs::db::workers::live_now(&app.db).await?;
        let workers = rows
            .into_iter()
            .map(|w| WorkerOut {
                // A queue this build does not know (a newer worker's) is left out.
                queues: w
                    .queues
                    .iter()
                    .filter_map(|q| q.parse::<QueueName>().ok())
                    .map(QueueDto::from)
                    .collect(),
                id: w.id,
                host: w.host,
                pid: w.pid,
                version: w.version,
                concurrency: w.concurrency,
                in_flight: w.in_flight,
                started_at: w.started_at,
                heartbeat_at: w.heartbeat_at,
            })
            .collect();
        Ok(Json(WorkerList { workers }))
    }

    /// Pause a queue
    ///
    /// The queue's workers, on every replica, finish the jobs they run and
    /// start no new one within a second; enqueueing goes on and the jobs
    /// wait. Pausing a paused queue changes nothing. The pause is kept in the
    /// database: it outlives restarts until `POST /v1/queues/{queue}/resume`.
    /// Operators and admins only.
    #[oai(
        path = "/queues/:queue/pause",
        method = "post",
        operation_id = "queues_pause"
    )]
    async fn pause(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        req: &Request,
        queue: Path<QueueDto>,
    ) -> Result<Json<QueueOut>, ApiError> {
        let who = auth.principal();
        who.require_scope(Scope::QueuesAdmin)?;
        let q: QueueName = queue.0.into();
        let pause = app.ledger.pause(q, &who.subject).await?;
        audit(&app, req, &who.subject, "queue.pause", q, None).await;
        let hour = hour_of(&app, q).await?;
        Ok(Json(queue_out(&app, q, &[pause], hour).await?))
    }

    /// Resume a queue
    ///
    /// Its workers take jobs again within a second. Resuming a running queue
    /// changes nothing. Operators and admins only.
    #[oai(
        path = "/queues/:queue/resume",
        method = "post",
        operation_id = "queues_resume"
    )]
    async fn resume(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        req: &Request,
        queue: Path<QueueDto>,
    ) -> Result<Json<QueueOut>, ApiError> {
        let who = auth.principal();
        who.require_scope(Scope::QueuesAdmin)?;
        let q: QueueName = queue.0.into();
        if app.ledger.resume(q).await? {
            audit(&app, req, &who.subject, "queue.resume", q, None).await;
        }
        let hour = hour_of(&app, q).await?;
        Ok(Json(queue_out(&app, q, &[], hour).await?))
    }

    /// List dead jobs
    ///
    /// The queue's jobs that used every attempt, newest first, with their
    /// attempts and last error. Retry one with `POST /v1/jobs/{id}/retry`,
    /// delete one with `DELETE /v1/jobs/{id}`. Operators and admins only.
    #[oai(
        path = "/queues/:queue/dead",
        method = "get",
        operation_id = "queues_list_dead"
    )]
    async fn list_dead(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        queue: Path<QueueDto>,
        /// The `next_cursor` of the previous page (opaque).
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<JobPage>, ApiError> {
        auth.principal().require_scope(Scope::QueuesRead)?;
        let filter = JobFilter {
            status: Some(JobStatus::Dead),
            queue: Some(queue.0.into()),
            after: parse_cursor(cursor.0.as_deref())?,
            limit: limit.0.unwrap_or(50),
            ..JobFilter::default()
        };
        let (jobs, next) = app.ledger.list(&filter).await?;
        Ok(Json(JobPage {
            items: jobs.into_iter().map(JobOut::from).collect(),
            next_cursor: next.map(|id| id.to_string()),
        }))
    }

    /// Purge dead jobs
    ///
    /// Deletes every dead job of the queue (their ledger rows and last
    /// errors), except those a media item points to; the answer counts
    /// both. Operators and admins only.
    #[oai(
        path = "/queues/:queue/dead",
        method = "delete",
        operation_id = "queues_purge_dead"
    )]
    async fn purge_dead(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        req: &Request,
        queue: Path<QueueDto>,
    ) -> Result<Json<PurgedOut>, ApiError> {
        let who = auth.principal();
        who.require_scope(Scope::QueuesAdmin)?;
        let q: QueueName = queue.0.into();
        let purged = app.ledger.purge_dead(q).await?;
        let counts = serde_json::json!({ "deleted": purged.deleted, "kept": purged.kept });
        audit(&app, req, &who.subject, "queue.purge_dead", q, Some(counts)).await;
        Ok(Json(PurgedOut {
            deleted: purged.deleted,
            kept: purged.kept,
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

/// One queue's numbers, and its pause when `paused` holds one for it.
/// The last hour of queue `q` alone.
async fn hour_of(app: &AppContext, q: QueueName) -> Result<throughput::LastHour, ApiError> {
    Ok(throughput::last_hour(&app.db)
        .await?
        .remove(q.as_str())
        .unwrap_or_default())
}

async fn queue_out(
    app: &AppContext,
    q: QueueName,
    paused: &[QueuePause],
    hour: throughput::LastHour,
) -> Result<QueueOut, ApiError> {
    let s = app.ledger.queue_stats(q).await?;
    let pause = paused.iter().find(|p| p.queue == q);
    Ok(QueueOut {
        name: q.into(),
        ready: s.ready,
        delayed: s.delayed,
        in_flight: s.in_flight,
        dead: s.dead,
        oldest_ready_ms: s.oldest_ready_ms,
        paused: pause.is_some(),
        paused_at: pause.map(|p| p.paused_at),
        paused_by: pause.map(|p| p.paused_by.clone()),
        succeeded_per_minute: hour.succeeded,
        failed_per_minute: hour.failed,
    })
}

/// Records an operator's `action` on queue `q` in the audit log.
async fn audit(
    app: &AppContext,
    req: &Request,
    actor: &str,
    action: &str,
    q: QueueName,
    details: Option<serde_json::Value>,
) {
    app.identity
        .audit(
            action,
            Some(actor.to_owned()),
            Some(q.to_string()),
            &audit_entry(req),
            details,
        )
        .await;
}
