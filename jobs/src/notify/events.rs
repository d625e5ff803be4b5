//! Webhook events: what a finished job tells its owner's endpoints, the
//! fan-out into `webhook.deliver` jobs (one per subscribed endpoint, each with
//! its delivery-log row), and the handler that signs and sends one delivery.
//!
//! Every body is the Standard Webhooks envelope
//! `{"type": …, "timestamp": …, "data": {…}}`, stored with its delivery and
//! sent byte for byte on every attempt, under one `webhook-id`
//! (`msg_` + the delivery id) that receivers deduplicate on.

use std::{
    collections::HashMap,
    fmt,
    str::FromStr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    DeliveryError, already_done, db_retry,
    webhook::{WebhookRequest, WebhookSecret},
};
use crate::{
    JobPayload, JobRun, JobStatus,
    context::AppContext,
    db::{
        Db, DbTx, job_runs,
        webhooks::{self, AttemptOutcome, WebhookRow},
    },
    handler::{JobCtx, JobError},
    ledger::{Enqueued, LedgerError, NewJob},
};

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
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 4] = [
        EventType::JobSucceeded,
        EventType::JobFailed,
        EventType::JobDead,
        EventType::MediaReady,
    ];

    /// The wire name, e.g. `job.succeeded`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::JobSucceeded => "job.succeeded",
            EventType::JobFailed => "job.failed",
            EventType::JobDead => "job.dead",
            EventType::MediaReady => "media.ready",
        }
    }

    fn for_status(status: JobStatus) -> Option<EventType> {
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

/// One event for one user's endpoints.
#[derive(Debug, Clone)]
pub struct Event {
    /// The `type` field.
    pub kind: &'static str,
    /// Deduplicates the fan-out: the same key never makes a second delivery
    /// to the same endpoint (a hook that runs twice for one job attempt).
    pub key: Option<String>,
    /// The `data` field.
    pub data: Value,
}

impl Event {
    /// The body as sent and signed.
    fn body(&self) -> String {
        json!({
            "type": self.kind,
            "timestamp": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": self.data,
        })
        .to_string()
    }
}

/// Each user's enabled endpoints, cached for [`SubscriptionCache::TTL`] so that
/// a finished job does not cost a database round trip (most users have no
/// endpoint at all). The API invalidates a user's entry when it changes their
/// endpoints, so a single process sees changes at once; other processes within
/// the TTL. A stale entry can only send an event to an endpoint that was just
/// disabled or deleted, and the delivery handler skips those.
#[derive(Debug, Default)]
pub struct SubscriptionCache {
    entries: Mutex<HashMap<Uuid, Subscriptions>>,
}

/// When a user's entry was written, and their endpoints (id and event list);
/// `None` marks an invalidation.
type Subscriptions = (Instant, Option<Arc<Vec<(Uuid, String)>>>);

impl SubscriptionCache {
    /// How long an entry is trusted.
    pub const TTL: Duration = Duration::from_secs(2);
    /// Entries kept before the expired ones are swept.
    const SWEEP_AT: usize = 10_000;

    /// The ids of `user_id`'s enabled endpoints subscribed to `kind`.
    async fn subscribed(
        &self,
        db: &Db,
        user_id: Uuid,
        kind: &str,
    ) -> Result<Vec<Uuid>, sqlx::Error> {
        let cached = self
            .lock()
            .get(&user_id)
            .and_then(|(at, hooks)| hooks.as_ref().filter(|_| at.elapsed() < Self::TTL).cloned());
        let hooks = match cached {
            Some(h) => h,
            None => {
                let read_at = Instant::now();
                let rows = webhooks::enabled_for(db, user_id).await?;
                let hooks: Arc<Vec<(Uuid, String)>> =
                    Arc::new(rows.into_iter().map(|h| (h.id, h.events)).collect());
                let mut entries = self.lock();
                if entries.len() >= Self::SWEEP_AT {
                    entries.retain(|_, (at, _)| at.elapsed() < Self::TTL);
                }
                // An invalidation (or a fresher read) since this read started
                // wins: what was read may predate the change.
                if entries.get(&user_id).is_none_or(|(at, _)| *at < read_at) {
                    entries.insert(user_id, (read_at, Some(hooks.clone())));
                }
                hooks
            }
        };
        Ok(hooks
            .iter()
            .filter(|(_, events)| events.split_whitespace().any(|e| e == kind))
            .map(|(id, _)| *id)
            .collect())
    }

    /// Forgets `user_id`'s endpoints (they changed); a read that started
    /// before this call is not cached.
    pub fn invalidate(&self, user_id: Uuid) {
        self.lock().insert(user_id, (Instant::now(), None));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Subscriptions>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A delivery [`emit`] queued.
#[derive(Debug, Clone, Copy)]
pub struct Queued {
    /// The delivery-log row.
    pub delivery_id: Uuid,
    /// Its `webhook.deliver` job.
    pub job_id: Uuid,
}

/// Queues `event` to `to` (one endpoint, whatever it subscribes to), or to every
/// enabled endpoint of `user_id` subscribed to its type. The deliveries commit
/// with their jobs; if Redis then refuses the messages, the sweeper pushes
/// them later.
pub async fn emit(
    app: &AppContext,
    user_id: Uuid,
    event: &Event,
    to: Option<&WebhookRow>,
) -> Result<Vec<Queued>, LedgerError> {
    let hooks = match to {
        Some(h) => vec![h.id],
        None => {
            app.notifier
                .subscriptions
                .subscribed(&app.db, user_id, event.kind)
                .await?
        }
    };
    let planned: Vec<(Uuid, &Event)> = hooks.into_iter().map(|h| (h, event)).collect();
    if planned.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = app.db.begin().await?;
    let created = queue_in_tx(app, &mut tx, user_id, &planned).await?;
    tx.commit().await?;
    Ok(push(app, created).await)
}

/// Writes one delivery row and its `webhook.deliver` job per (endpoint, event)
/// inside `tx`; deliveries an idempotency key already made are left out.
async fn queue_in_tx(
    app: &AppContext,
    tx: &mut DbTx,
    user_id: Uuid,
    planned: &[(Uuid, &Event)],
) -> Result<Vec<(Enqueued, Queued)>, LedgerError> {
    let now = Utc::now();
    let mut created = Vec::new();
    for &(hook, event) in planned {
        let delivery_id = Uuid::now_v7();
        let job = NewJob {
            idempotency_key: event.key.as_ref().map(|k| format!("webhook:{k}:{hook}")),
            ..NewJob::new(
                user_id.to_string(),
                JobPayload::WebhookDeliverV1(WebhookDeliverV1 {
                    delivery_id,
                    webhook_id: hook,
                }),
            )
        };
        let out = app.ledger.enqueue_in_tx(tx, job).await?;
        if let Enqueued::Created(j) = &out {
            let queued = Queued {
                delivery_id,
                job_id: j.id,
            };
            webhooks::insert_delivery(
                tx,
                &webhooks::NewDelivery {
                    id: delivery_id,
                    webhook_id: hook,
                    event_type: event.kind,
                    payload: &event.body(),
                    job_id: j.id,
                    now,
                },
            )
            .await?;
            created.push((out, queued));
        }
    }
    Ok(created)
}

/// Hands committed deliveries to the queue. A refusal is logged: the rows are
/// committed, and the sweeper pushes them once Redis is back.
async fn push(app: &AppContext, created: Vec<(Enqueued, Queued)>) -> Vec<Queued> {
    for (out, _) in &created {
        if let Err(e) = app.ledger.after_commit(out).await {
            tracing::warn!(job_id = %out.job().id, error = %e, "webhook delivery committed but not pushed; the sweeper will push it");
        }
    }
    created.into_iter().map(|(_, q)| q).collect()
}

/// The event types a job that ended with `status` makes for its owner.
fn event_kinds(job: &JobRun, status: JobStatus) -> Vec<EventType> {
    if job.kind == "webhook.deliver" {
        return Vec::new(); // a delivery's own outcome never makes events (no loops)
    }
    let Some(kind) = EventType::for_status(status) else {
        return Vec::new();
    };
    let mut kinds = vec![kind];
    if status == JobStatus::Succeeded && job.kind == "image.process" {
        kinds.push(EventType::MediaReady);
    }
    kinds
}

/// The event of type `kind` for a job that ended with `status`; built only
/// when someone subscribes to it.
fn job_event(
    kind: EventType,
    job: &JobRun,
    status: JobStatus,
    result: Option<&Value>,
    error: Option<&str>,
) -> Option<Event> {
    if kind == EventType::MediaReady {
        let Ok(JobPayload::ImageProcessV1(p)) = serde_json::from_value(job.payload.clone()) else {
            return None;
        };
        return Some(Event {
            kind: kind.as_str(),
            key: Some(format!("media:{}:{}", p.media_id, job.id)),
            data: json!({ "media_id": p.media_id, "job_id": job.id, "result": result }),
        });
    }
    Some(Event {
        kind: kind.as_str(),
        key: Some(format!("job:{}:{}:{kind}", job.id, job.attempts)),
        data: json!({
            "job_id": job.id,
            "kind": job.kind,
            "queue": job.queue,
            "status": status.as_str(),
            "attempts": job.attempts,
            "result": result,
            "error": error,
            "created_at": job.created_at,
            "finished_at": Utc::now(),
        }),
    })
}

/// Records a job's end in the ledger (`succeeded` with `result`, or `failed` /
/// `dead` with `error`) and queues the owner's webhook deliveries for it.
///
/// When the owner has endpoints subscribed to the job's events, the ledger
/// write and the deliveries commit in one transaction, so a worker that dies
/// afterwards cannot lose them. Jobs nobody subscribes to (most) take the
/// ledger's batched path. Returns false when the ledger did not finish the
/// job (it was cancelled meanwhile). Then closes the history rows of
/// notification and delivery jobs that ended without their handler recording
/// it (timeouts, lost workers); failures there are only logged.
pub async fn finish_job(
    app: &AppContext,
    job: &JobRun,
    status: JobStatus,
    result: Option<&Value>,
    error: Option<&str>,
) -> Result<bool, LedgerError> {
    // Most jobs have no subscriber: only the (cached) lookup runs for them,
    // and no event is built.
    let mut events: Vec<(Vec<Uuid>, Event)> = Vec::new();
    let owner = job.owner.parse::<Uuid>().ok();
    if let Some(user_id) = owner {
        for kind in event_kinds(job, status) {
            let hooks = app
                .notifier
                .subscriptions
                .subscribed(&app.db, user_id, kind.as_str())
                .await?;
            if !hooks.is_empty()
                && let Some(event) = job_event(kind, job, status, result, error)
            {
                events.push((hooks, event));
            }
        }
    }
    let done = match owner {
        Some(user_id) if !events.is_empty() => {
            let planned: Vec<(Uuid, &Event)> = events
                .iter()
                .flat_map(|(hooks, event)| hooks.iter().map(move |h| (*h, event)))
                .collect();
            let mut tx = app.db.begin().await?;
            if !job_runs::finish(&mut tx, job.id, status.as_str(), result, error, Utc::now())
                .await?
            {
                return Ok(false);
            }
            let created = queue_in_tx(app, &mut tx, user_id, &planned).await?;
            tx.commit().await?;
            push(app, created).await;
            true
        }
        _ if status == JobStatus::Succeeded => {
            app.ledger
                .succeed(job.id, result.unwrap_or(&Value::Null))
                .await?
        }
        _ => app.ledger.finish(job.id, status, result, error).await?,
    };
    if done && let Err(e) = close_history(app, job, status, error).await {
        tracing::warn!(job_id = %job.id, error = %e, "could not close the job's notification or delivery row");
    }
    Ok(done)
}

/// Marks the history row of a notification or delivery job that ended `failed`
/// or `dead` without its handler recording it.
async fn close_history(
    app: &AppContext,
    job: &JobRun,
    status: JobStatus,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    if !matches!(status, JobStatus::Failed | JobStatus::Dead) {
        return Ok(());
    }
    let now = Utc::now();
    match job.kind.as_str() {
        "email.send" | "push.send" => {
            crate::db::notifications::finish_job(&app.db, job.id, status.as_str(), error, now).await
        }
        "webhook.deliver" => {
            webhooks::finish_delivery_job(&app.db, job.id, status.as_str(), error, now).await
        }
        _ => Ok(()),
    }
}

/// Records an attempt on a delivery.
async fn record(ctx: &JobCtx, id: Uuid, o: &AttemptOutcome<'_>) -> Result<(), JobError> {
    webhooks::record_attempt(&ctx.app.db, id, o, Utc::now())
        .await
        .map_err(db_retry)
}

/// Ends a delivery that will not be sent.
async fn skip(ctx: &JobCtx, id: Uuid, reason: &str) -> Result<Value, JobError> {
    let outcome = AttemptOutcome {
        status: "skipped",
        response_status: None,
        response_body: None,
        error: Some(reason),
    };
    record(ctx, id, &outcome).await?;
    Ok(json!({ "status": "skipped", "reason": reason }))
}

/// Runs a `webhook.deliver` job: one signed POST of the stored body.
pub async fn deliver(ctx: &JobCtx, job: WebhookDeliverV1) -> Result<Value, JobError> {
    let db = &ctx.app.db;
    let now = Utc::now();
    let Some(delivery) = webhooks::begin_delivery_attempt(db, job.delivery_id, now)
        .await
        .map_err(db_retry)?
    else {
        return match webhooks::get_delivery(db, job.delivery_id)
            .await
            .map_err(db_retry)?
        {
            Some(d) => Ok(already_done(ctx, &d.status)),
            None => Ok(json!({ "status": "skipped", "reason": "the endpoint was deleted" })),
        };
    };
    let Some(hook) = webhooks::get(db, delivery.webhook_id, None)
        .await
        .map_err(db_retry)?
    else {
        return skip(ctx, delivery.id, "the endpoint was deleted").await;
    };
    if !hook.enabled {
        let why = hook.disabled_reason.as_deref().unwrap_or("disabled");
        return skip(
            ctx,
            delivery.id,
            &format!("the endpoint is disabled ({why})"),
        )
        .await;
    }
    let unusable = |e| JobError::Abort(format!("the endpoint's secret is unusable: {e}"));
    let mut secrets = vec![WebhookSecret::parse(&hook.secret).map_err(unusable)?];
    if let (Some(old), Some(until)) = (&hook.previous_secret, hook.previous_secret_expires_at)
        && until > Utc::now()
    {
        secrets.push(WebhookSecret::parse(old).map_err(unusable)?);
    }
    let message_id = format!("msg_{}", delivery.id.simple());
    let attempt = ctx
        .app
        .notifier
        .webhooks
        .attempt(&WebhookRequest {
            url: &hook.url,
            message_id: &message_id,
            body: delivery.payload.as_bytes(),
            secrets: &secrets,
        })
        .await;
    let (status, body) = match &attempt.answer {
        Some((s, b)) => (Some(i32::from(*s)), Some(b.as_str())),
        None => (None, None),
    };
    match attempt.result {
        Ok(d) => {
            record(
                ctx,
                delivery.id,
                &AttemptOutcome {
                    status: "delivered",
                    response_status: Some(i32::from(d.status)),
                    response_body: Some(&d.body),
                    error: None,
                },
            )
            .await?;
            webhooks::record_success(db, hook.id, Utc::now())
                .await
                .map_err(db_retry)?;
            Ok(
                json!({ "delivery_id": delivery.id, "status": "delivered", "response_status": d.status }),
            )
        }
        Err(e) => {
            let limit = ctx.app.config.webhooks.disable_after_failures;
            let disabled_now = webhooks::record_failure(db, hook.id, limit, Utc::now())
                .await
                .map_err(db_retry)?
                .is_some_and(|(_, disabled)| disabled);
            let (e, status_name) = if disabled_now {
                tracing::warn!(webhook_id = %hook.id, failures = limit, "webhook endpoint disabled after consecutive failures");
                let reason = format!(
                    "{e}; the endpoint was disabled after {limit} consecutive failed attempts"
                );
                (DeliveryError::abort(reason), "failed")
            } else if e.is_retryable() {
                (e, "retrying")
            } else {
                (e, "failed")
            };
            let reason = e.to_string();
            record(
                ctx,
                delivery.id,
                &AttemptOutcome {
                    status: status_name,
                    response_status: status,
                    response_body: body,
                    error: Some(&reason),
                },
            )
            .await?;
            Err(e.into())
        }
    }
}
