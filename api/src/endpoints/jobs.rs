//! `/v1/jobs`: read the ledger, cancel, retry and delete jobs.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Enum, Object, OpenApi, param::Path, param::Query, payload::Json};
use uuid::Uuid;

use kiln_jobs::{
    AppContext, JobRun, JobStatus,
    ledger::{AttemptOutcome, AttemptRecord, JobFilter},
};

use crate::{
    ApiTags, Scope,
    auth::Auth,
    endpoints::{auth::NoContent, parse_cursor, queue_name::QueueDto},
    error::ApiError,
};

/// Status of a job.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename = "JobStatus", rename_all = "lowercase")]
pub enum JobStatusDto {
    /// Waiting to run (first run or a scheduled retry).
    Queued,
    /// Running now.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Failed permanently (bad input); not retried.
    Failed,
    /// Failed on every attempt.
    Dead,
    /// Cancelled.
    Cancelled,
}

impl From<JobStatus> for JobStatusDto {
    fn from(s: JobStatus) -> Self {
        match s {
            JobStatus::Queued => JobStatusDto::Queued,
            JobStatus::Running => JobStatusDto::Running,
            JobStatus::Succeeded => JobStatusDto::Succeeded,
            JobStatus::Failed => JobStatusDto::Failed,
            JobStatus::Dead => JobStatusDto::Dead,
            JobStatus::Cancelled => JobStatusDto::Cancelled,
        }
    }
}

impl From<JobStatusDto> for JobStatus {
    fn from(s: JobStatusDto) -> Self {
        match s {
            JobStatusDto::Queued => JobStatus::Queued,
            JobStatusDto::Running => JobStatus::Running,
            JobStatusDto::Succeeded => JobStatus::Succeeded,
            JobStatusDto::Failed => JobStatus::Failed,
            JobStatusDto::Dead => JobStatus::Dead,
            JobStatusDto::Cancelled => JobStatus::Cancelled,
        }
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename = "AttemptOutcome", rename_all = "lowercase")]
pub enum AttemptOutcomeDto {
    /// It failed and a retry was scheduled.
    Retried,
    /// Its worker stopped renewing it (a crash, a lost lease); the job was
    /// delivered again.
    Lost,
    /// It runs now.
    Running,
    /// It succeeded.
    Succeeded,
    /// It failed permanently (bad input).
    Failed,
    /// It was the last attempt allowed, and failed.
    Dead,
    /// The job was cancelled while it ran.
    Cancelled,
}

impl From<AttemptOutcome> for AttemptOutcomeDto {
    fn from(o: AttemptOutcome) -> Self {
        match o {
            AttemptOutcome::Retried => Self::Retried,
            AttemptOutcome::Lost => Self::Lost,
            AttemptOutcome::Running => Self::Running,
            AttemptOutcome::Succeeded => Self::Succeeded,
            AttemptOutcome::Failed => Self::Failed,
            AttemptOutcome::Dead => Self::Dead,
            AttemptOutcome::Cancelled => Self::Cancelled,
        }
    }
}

/// One attempt of a job.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Attempt")]
pub struct AttemptOut {
    /// Which attempt, from 1 (the count starts over when a finished job is
    /// retried by hand).
    pub attempt: u32,
    /// When it started.
    #[oai(nullable)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended; null while it runs.
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
    /// How it ended.
    pub outcome: AttemptOutcomeDto,
    /// Why it failed.
    #[oai(nullable)]
    pub error: Option<String>,
}

impl From<AttemptRecord> for AttemptOut {
    fn from(a: AttemptRecord) -> Self {
        Self {
            attempt: a.attempt,
            started_at: a.started_at,
            finished_at: a.finished_at,
            outcome: a.outcome.into(),
            error: a.error,
        }
    }
}

/// A job as the ledger records it.
#[derive(Debug, Clone, Object)]
pub struct JobOut {
    /// Job id (UUIDv7).
    pub id: Uuid,
    /// Kind, e.g. `image.process`.
    pub kind: String,
    /// Queue it runs on.
    pub queue: String,
    /// Current status.
    pub status: JobStatusDto,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed before the job is `dead`.
    pub max_attempts: u32,
    /// Progress, 0–100.
    pub progress: u8,
    /// The handler's result, once succeeded.
    #[oai(nullable)]
    pub result: Option<serde_json::Value>,
    /// The last failure's reason.
    #[oai(nullable)]
    pub last_error: Option<String>,
    /// The idempotency key it was created with.
    #[oai(nullable)]
    pub idempotency_key: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When the current or last attempt started.
    #[oai(nullable)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a terminal status.
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
    /// When the next attempt is due (scheduled retries and delayed jobs).
    #[oai(nullable)]
    pub next_run_at: Option<DateTime<Utc>>,
    /// Every attempt so far, oldest first, with its timing and error.
    pub attempt_history: Vec<AttemptOut>,
    /// What the job was given (its tagged JSON), with the value of any field
    /// whose name looks secret (`secret`, `password`, `token`, `*_key`, …)
    /// replaced by `"[redacted]"`.
    pub payload: serde_json::Value,
}

/// Whether a payload field of this name may hold a secret.
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "secret",
        "password",
        "passphrase",
        "token",
        "authorization",
        "credential",
        "private",
    ]
    .iter()
    .any(|s| n.contains(s))
        || n == "key"
        || n.ends_with("_key")
}

/// `value` with every secret-looking field's value replaced, at any depth.
fn redacted(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| {
                    let v = if secret_name(&k) {
                        Value::String("[redacted]".into())
                    } else {
                        redacted(v)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redacted).collect()),
        other => other,
    }
}

impl From<JobRun> for JobOut {
    fn from(j: JobRun) -> Self {
        let attempt_history = j.history().into_iter().map(Into::into).collect();
        JobOut {
            id: j.id,
            kind: j.kind,
            queue: j.queue,
            status: j.status.into(),
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            progress: j.progress,
            result: j.result,
            last_error: j.last_error,
            idempotency_key: j.idempotency_key,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
            next_run_at: j.next_run_at,
            attempt_history,
            payload: redacted(j.payload),
        }
    }
}

/// A page of jobs.
#[derive(Debug, Clone, Object)]
pub struct JobPage {
    /// Jobs, newest first.
    pub items: Vec<JobOut>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// Job endpoints.
pub struct JobsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Jobs")]
impl JobsApi {
    /// Get a job
    #[oai(path = "/jobs/:id", method = "get", operation_id = "jobs_get")]
    async fn get(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<Json<JobOut>, ApiError> {
        auth.principal().require_scope(Scope::JobsRead)?;
        let job = app
            .ledger
            .get(id.0, auth.principal().owner_scope())
            .await?
            .ok_or_else(|| ApiError::not_found("job"))?;
        Ok(Json(job.into()))
    }

    /// List jobs
    ///
    /// Newest first; every filter given narrows the list. Users see their
    /// own jobs; operators and admins see all, and may filter by owner.
    #[oai(path = "/jobs", method = "get", operation_id = "jobs_list")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        /// Only jobs in this status.
        status: Query<Option<JobStatusDto>>,
        /// Only jobs of this kind, e.g. `image.process`.
        kind: Query<Option<String>>,
        /// Only jobs of this queue.
        queue: Query<Option<QueueDto>>,
        /// Only this owner's jobs (a user id). For a user, their own id or nothing.
        owner: Query<Option<String>>,
        /// Only jobs created at or after this time.
        created_after: Query<Option<DateTime<Utc>>>,
        /// Only jobs created before this time.
        created_before: Query<Option<DateTime<Utc>>>,
        /// The job with this id, or with this idempotency key.
        q: Query<Option<String>>,
        /// The `next_cursor` of the previous page (opaque).
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<JobPage>, ApiError> {
        let who = auth.principal();
        who.require_scope(Scope::JobsRead)?;
        let after = parse_cursor(cursor.0.as_deref())?;
        if let (Some(a), Some(b)) = (created_after.0, created_before.0)
            && a >= b
        {
            return Err(ApiError::unprocessable(
                "invalid_range",
                "created_after must be before created_before",
            ));
        }
        let owner = match (who.owner_scope(), owner.0) {
            // A user asking for someone else's jobs sees none of them.
            (Some(me), Some(other)) if other != me => {
                return Ok(Json(JobPage {
                    items: Vec::new(),
                    next_cursor: None,
                }));
            }
            (Some(me), _) => Some(me.to_owned()),
            (None, asked) => asked,
        };
        let filter = JobFilter {
            owner,
            status: status.0.map(Into::into),
            kind: kind.0,
            queue: queue.0.map(Into::into),
            created_from: created_after.0,
            created_until: created_before.0,
            search: q.0.filter(|s| !s.is_empty()),
            after,
            limit: limit.0.unwrap_or(50),
        };
        let (jobs, next) = app.ledger.list(&filter).await?;
        Ok(Json(JobPage {
            items: jobs.into_iter().map(Into::into).collect(),
            next_cursor: next.map(|id| id.to_string()),
        }))
    }

    /// Delete a finished job
    ///
    /// Removes the ledger row of a succeeded, failed, dead or cancelled job.
    /// 409 while it is queued or running (cancel it first), and while a
    /// media item points to it (delete the item instead). Notification and
    /// webhook delivery history keeps its own rows. Operators and admins only.
    #[oai(path = "/jobs/:id", method = "delete", operation_id = "jobs_delete")]
    async fn delete(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        auth.principal().require_scope(Scope::QueuesAdmin)?;
        app.ledger.delete(id.0).await?;
        Ok(NoContent::Done)
    }

    /// Cancel a job
    ///
    /// Queued jobs never run; a running job finishes its current attempt but its
    /// outcome is discarded and it is not retried. 409 once the job is finished.
    #[oai(
        path = "/jobs/:id/cancel",
        method = "post",
        operation_id = "jobs_cancel"
    )]
    async fn cancel(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<Json<JobOut>, ApiError> {
        auth.principal().require_scope(Scope::JobsWrite)?;
        Ok(Json(
            app.ledger
                .cancel(id.0, auth.principal().owner_scope())
                .await?
                .into(),
        ))
    }

    /// Retry a failed or dead job
    ///
    /// Queues it again with a fresh attempt budget. 409 for any other status.
    #[oai(path = "/jobs/:id/retry", method = "post", operation_id = "jobs_retry")]
    async fn retry(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<Json<JobOut>, ApiError> {
        auth.principal().require_scope(Scope::JobsWrite)?;
        Ok(Json(
            app.ledger
                .retry(id.0, auth.principal().owner_scope())
                .await?
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;
    use serde_json::json;

    #[test]
    fn secret_looking_fields_are_redacted_at_any_depth() {
        let payload = json!({
            "type": "x.v1",
            "media_id": "m",
            "signing_secret": "s",
            "params": {"api_key": "k", "password": "p", "display_name": "Ada"},
            "headers": [{"Authorization": "Bearer t", "accept": "*/*"}],
            "key": "k2",
            "idempotency_key": "i",
        });
        assert_eq!(
            redacted(payload),
            json!({
                "type": "x.v1",
                "media_id": "m",
                "signing_secret": "[redacted]",
                "params": {"api_key": "[redacted]", "password": "[redacted]", "display_name": "Ada"},
                "headers": [{"Authorization": "[redacted]", "accept": "*/*"}],
                "key": "[redacted]",
                "idempotency_key": "[redacted]",
            })
        );
    }
}
