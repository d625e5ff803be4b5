//! Events: what a finished job tells its owner's endpoints, and the fan-out
//! of one event into `webhook.deliver` jobs with their delivery-log rows.

use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    EventType, WebhookDeliverV1,
    repo::{self, WebhookRow},
};
use crate::{
    JobRun, JobStatus,
    context::AppContext,
    db::DbTx,
    job::Job,
    ledger::{Enqueued, LedgerError, NewJob},
    media::ImageProcessV1,
};

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
            app.subscriptions
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
/// Call [`push`] once `tx` is committed.
pub async fn queue_in_tx(
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
                WebhookDeliverV1 {
                    delivery_id,
                    webhook_id: hook,
                },
            )
        };
        let out = app.ledger.enqueue_in_tx(tx, job).await?;
        if let Enqueued::Created(j) = &out {
            let queued = Queued {
                delivery_id,
                job_id: j.id,
            };
            repo::insert_delivery(
                tx,
                &repo::NewDelivery {
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
pub async fn push(app: &AppContext, created: Vec<(Enqueued, Queued)>) -> Vec<Queued> {
    for (out, _) in &created {
        if let Err(e) = app.ledger.after_commit(out).await {
            tracing::warn!(job_id = %out.job().id, error = %e, "webhook delivery committed but not pushed; the sweeper will push it");
        }
    }
    created.into_iter().map(|(_, q)| q).collect()
}

/// The event types a job that ended with `status` makes for its owner.
fn event_kinds(job: &JobRun, status: JobStatus) -> Vec<EventType> {
    if job.kind == WebhookDeliverV1::KIND {
        return Vec::new(); // a delivery's own outcome never makes events (no loops)
    }
    let Some(kind) = EventType::for_status(status) else {
        return Vec::new();
    };
    let mut kinds = vec![kind];
    if status == JobStatus::Succeeded && job.kind == ImageProcessV1::KIND {
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
        let Ok(p) = ImageProcessV1::from_payload(job.payload.clone()) else {
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

/// The events a job that ended with `status` makes for its owner's
/// subscribed endpoints, each with the endpoints to send it to. Most jobs have
/// no subscriber: only the (cached) lookup runs for them, and no event is built.
pub async fn for_finished_job(
    app: &AppContext,
    job: &JobRun,
    status: JobStatus,
    result: Option<&Value>,
    error: Option<&str>,
) -> Result<Fanout, LedgerError> {
    let mut events = Vec::new();
    let Ok(user_id) = job.owner.parse::<Uuid>() else {
        return Ok(Fanout {
            user_id: None,
            events,
        });
    };
    for kind in event_kinds(job, status) {
        let hooks = app
            .subscriptions
            .subscribed(&app.db, user_id, kind.as_str())
            .await?;
        if !hooks.is_empty()
            && let Some(event) = job_event(kind, job, status, result, error)
        {
            events.push((hooks, event));
        }
    }
    Ok(Fanout {
        user_id: Some(user_id),
        events,
    })
}

/// What [`for_finished_job`] found: the events and their endpoints.
#[derive(Debug, Clone)]
pub struct Fanout {
    user_id: Option<Uuid>,
    events: Vec<(Vec<Uuid>, Event)>,
}

impl Fanout {
    /// True when nobody subscribes: nothing to queue.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Queues every delivery inside `tx` (see [`queue_in_tx`]).
    pub async fn queue_in_tx(
        &self,
        app: &AppContext,
        tx: &mut DbTx,
    ) -> Result<Vec<(Enqueued, Queued)>, LedgerError> {
        let Some(user_id) = self.user_id else {
            return Ok(Vec::new());
        };
        let planned: Vec<(Uuid, &Event)> = self
            .events
            .iter()
            .flat_map(|(hooks, event)| hooks.iter().map(move |h| (*h, event)))
            .collect();
        queue_in_tx(app, tx, user_id, &planned).await
    }
}
