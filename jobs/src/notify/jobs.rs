//! The `notifications` job family: [`enqueue`] turns one notification (a user,
//! channels, a template and its parameters) into one `email.send` job and one
//! `push.send` job per active device, each with its row in the notification
//! history; the handlers send them.
//!
//! Exactly-once, as far as providers allow: a handler starts each attempt by
//! moving its row to `sending` (a row that already ended is not sent again, so
//! a redelivered job is a no-op) and writes the provider's message id before it
//! returns, which is before the worker acknowledges the job. Only a crash in
//! between the provider's acceptance and that write can repeat a send; an email
//! then carries the same Message-ID (derived from the row id), which mail
//! systems deduplicate.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{
    DeliveryError, already_done, db_retry,
    email::{EmailMessage, TemplateError, Via},
    push::{PushMessage, PushOutcome},
};
use crate::{
    context::AppContext,
    db::{devices, notifications, users},
    handler::{JobCtx, JobError},
    ledger::{Enqueued, LedgerError, NewJob},
    payload::JobPayload,
};

/// Payload of `email.send`: one email of the notification history.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSendV1 {
    /// The history row this job sends.
    pub notification_id: Uuid,
    /// The recipient; the address is read when the job runs.
    pub user_id: Uuid,
    /// Template name, e.g. `job_finished`.
    pub template: String,
    /// Template parameters.
    pub params: Map<String, Value>,
}

/// Payload of `push.send`: one push to one device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSendV1 {
    /// The history row this job sends.
    pub notification_id: Uuid,
    /// The recipient.
    pub user_id: Uuid,
    /// The device; its token is read when the job runs.
    pub device_id: Uuid,
    /// Template name.
    pub template: String,
    /// Template parameters.
    pub params: Map<String, Value>,
}

/// A notification channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyChannel {
    /// An email to the user's address.
    Email,
    /// A push to each of the user's active devices.
    Push,
}

impl NotifyChannel {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyChannel::Email => "email",
            NotifyChannel::Push => "push",
        }
    }
}

/// One notification to send.
#[derive(Debug, Clone)]
pub struct NotificationRequest {
    /// The recipient.
    pub user_id: Uuid,
    /// Channels, each at most once.
    pub channels: Vec<NotifyChannel>,
    /// Template name.
    pub template: String,
    /// Template parameters (a JSON object).
    pub params: Map<String, Value>,
    /// Who asks: a user id, or `system` for Kiln itself.
    pub requested_by: String,
    /// Makes the request idempotent per sender and recipient.
    pub idempotency_key: Option<String>,
}

/// Why a notification could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// No such recipient.
    #[error("no such user")]
    UnknownUser,
    /// The template does not exist or does not render with these parameters.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// Bad request shape (no channels, a channel twice).
    #[error("{0}")]
    Invalid(String),
    /// The ledger or the queue failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl From<sqlx::Error> for NotifyError {
    fn from(e: sqlx::Error) -> Self {
        NotifyError::Ledger(LedgerError::Db(e))
    }
}

/// What [`enqueue`] did.
#[derive(Debug, Clone)]
pub struct Queued {
    /// One history row per delivery (the push channel's row is `skipped` when
    /// the user has no active device).
    pub deliveries: Vec<notifications::NotificationRow>,
    /// True when the idempotency key named an earlier request: nothing new was queued.
    pub repeated: bool,
}

/// The template context: Kiln's defaults under the caller's parameters, and
/// the recipient's address, which parameters cannot change.
fn template_context(app: &AppContext, email: &str, params: &Map<String, Value>) -> Value {
    let mut ctx = Map::new();
    let local = email.split('@').next().unwrap_or(email);
    ctx.insert("display_name".into(), json!(local));
    ctx.insert("app_url".into(), json!(app.config.public_url()));
    ctx.extend(params.clone());
    ctx.insert("email".into(), json!(email));
    Value::Object(ctx)
}

/// Queues `req`: checks the recipient and renders the template once (so a
/// missing parameter is the caller's error now, not a failed job later), then
/// writes the history rows and their jobs in one transaction. A request whose
/// idempotency key this sender already used for this recipient returns the
/// earlier rows and queues nothing.
pub async fn enqueue(app: &AppContext, req: &NotificationRequest) -> Result<Queued, NotifyError> {
    if req.channels.is_empty() {
        return Err(NotifyError::Invalid("name at least one channel".into()));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = req.channels.iter().find(|c| !seen.insert(**c)) {
        return Err(NotifyError::Invalid(format!(
            "channel {} is named twice",
            dup.as_str()
        )));
    }
    let user = users::get(&app.db, req.user_id)
        .await?
        .ok_or(NotifyError::UnknownUser)?;
    if let Some(key) = &req.idempotency_key {
        let earlier = notifications::by_request(&app.db, user.id, &req.requested_by, key).await?;
        if !earlier.is_empty() {
            return Ok(Queued {
                deliveries: earlier,
                repeated: true,
            });
        }
    }
    let ctx = template_context(app, &user.email, &req.params);
    for channel in &req.channels {
        match channel {
            NotifyChannel::Email => {
                app.notifier.templates.render(&req.template, &ctx)?;
            }
            NotifyChannel::Push => {
                app.notifier.templates.render_push(&req.template, &ctx)?;
            }
        }
    }
    let devices = if req.channels.contains(&NotifyChannel::Push) {
        devices::list(&app.db, user.id, false).await?
    } else {
        Vec::new()
    };

    let owner = user.id.to_string();
    let now = Utc::now();
    let key = |suffix: &str| {
        req.idempotency_key
            .as_ref()
            .map(|k| format!("notify:{}:{k}:{suffix}", req.requested_by))
    };
    let mut tx = app.db.begin().await.map_err(LedgerError::from)?;
    let mut created = Vec::new();
    let mut ids = Vec::new();
    let mut skipped = None;
    for channel in &req.channels {
        let targets: Vec<Option<Uuid>> = match channel {
            NotifyChannel::Email => vec![None],
            NotifyChannel::Push => devices.iter().map(|d| Some(d.id)).collect(),
        };
        if targets.is_empty() {
            skipped = Some(*channel);
        }
        for device_id in targets {
            let id = Uuid::now_v7();
            let payload = match device_id {
                None => JobPayload::EmailSendV1(EmailSendV1 {
                    notification_id: id,
                    user_id: user.id,
                    template: req.template.clone(),
                    params: req.params.clone(),
                }),
                Some(device_id) => JobPayload::PushSendV1(PushSendV1 {
                    notification_id: id,
                    user_id: user.id,
                    device_id,
                    template: req.template.clone(),
                    params: req.params.clone(),
                }),
            };
            let suffix = match device_id {
                None => channel.as_str().to_owned(),
                Some(d) => format!("push:{d}"),
            };
            let job = NewJob {
                idempotency_key: key(&suffix),
                ..NewJob::new(owner.clone(), payload)
            };
            let out = app.ledger.enqueue_in_tx(&mut tx, job).await?;
            let Enqueued::Created(j) = &out else {
                // A concurrent request with the same key committed first:
                // answer with its deliveries, add nothing.
                drop(tx);
                let key = req.idempotency_key.as_deref().unwrap_or_default();
                return Ok(Queued {
                    deliveries: notifications::by_request(&app.db, user.id, &req.requested_by, key)
                        .await?,
                    repeated: true,
                });
            };
            let row = new_row(req, user.id, id, *channel, device_id, now);
            notifications::insert(
                &mut tx,
                &notifications::NewNotification {
                    job_id: Some(j.id),
                    status: "queued",
                    ..row
                },
            )
            .await?;
            ids.push(id);
            created.push(out);
        }
    }
    if let Some(channel) = skipped {
        let id = Uuid::now_v7();
        let row = new_row(req, user.id, id, channel, None, now);
        notifications::insert(
            &mut tx,
            &notifications::NewNotification {
                status: "skipped",
                error: Some("the user has no active device"),
                ..row
            },
        )
        .await?;
        ids.push(id);
    }
    tx.commit().await.map_err(LedgerError::from)?;
    for out in &created {
        // The rows and jobs are committed: if Redis refuses the message now, the
        // sweeper pushes it once Redis is back, so the request stays accepted.
        if let Err(e) = app.ledger.after_commit(out).await {
            tracing::warn!(job_id = %out.job().id, error = %e, "notification committed but not pushed; the sweeper will push it");
        }
    }
    let mut deliveries = Vec::with_capacity(ids.len());
    for id in ids {
        deliveries.extend(notifications::get(&app.db, id).await?);
    }
    Ok(Queued {
        deliveries,
        repeated: false,
    })
}

/// A history row of `req` (status and job filled in by the caller).
fn new_row<'a>(
    req: &'a NotificationRequest,
    user_id: Uuid,
    id: Uuid,
    channel: NotifyChannel,
    device_id: Option<Uuid>,
    now: chrono::DateTime<Utc>,
) -> notifications::NewNotification<'a> {
    notifications::NewNotification {
        id,
        user_id,
        channel: channel.as_str(),
        template: &req.template,
        device_id,
        job_id: None,
        requested_by: &req.requested_by,
        idempotency_key: req.idempotency_key.as_deref(),
        status: "queued",
        error: None,
        now,
    }
}

/// Where an attempt ended, written to the history row.
async fn record(
    ctx: &JobCtx,
    id: Uuid,
    result: &Result<(&str, Option<&str>), DeliveryError>,
) -> Result<(), JobError> {
    let (status, provider_id, error) = match result {
        Ok((status, provider_id)) => (*status, *provider_id, None),
        Err(e) if e.is_retryable() => ("retrying", None, Some(e.to_string())),
        Err(e) => ("failed", None, Some(e.to_string())),
    };
    notifications::set_outcome(
        &ctx.app.db,
        id,
        status,
        provider_id,
        error.as_deref(),
        Utc::now(),
    )
    .await
    .map_err(db_retry)
}

/// Ends a delivery that has nothing to send.
async fn skip(ctx: &JobCtx, id: Uuid, reason: &str) -> Result<Value, JobError> {
    notifications::set_outcome(&ctx.app.db, id, "skipped", None, Some(reason), Utc::now())
        .await
        .map_err(db_retry)?;
    tracing::info!(notification_id = %id, reason, "notification skipped");
    Ok(json!({ "status": "skipped", "reason": reason }))
}

/// Starts an attempt on a history row; `Some(result)` when the row already
/// ended and the job has nothing left to do.
async fn begin(ctx: &JobCtx, id: Uuid) -> Result<Option<Value>, JobError> {
    let db = &ctx.app.db;
    if notifications::begin_attempt(db, id, Utc::now())
        .await
        .map_err(db_retry)?
        .is_some()
    {
        return Ok(None);
    }
    match notifications::get(db, id).await.map_err(db_retry)? {
        Some(row) => Ok(Some(already_done(ctx, &row.status))),
        None => Err(JobError::Abort(format!(
            "notification {id} no longer exists (its user was deleted)"
        ))),
    }
}

/// Runs an `email.send` job.
pub async fn send_email(ctx: &JobCtx, job: EmailSendV1) -> Result<Value, JobError> {
    let id = job.notification_id;
    if let Some(done) = begin(ctx, id).await? {
        return Ok(done);
    }
    let app = &ctx.app;
    let Some(user) = users::get(&app.db, job.user_id).await.map_err(db_retry)? else {
        return skip(ctx, id, "the recipient no longer exists").await;
    };
    if user.disabled {
        return skip(ctx, id, "the recipient's account is disabled").await;
    }
    let tctx = template_context(app, &user.email, &job.params);
    let sent = match EmailMessage::from_template(
        &app.notifier.templates,
        &job.template,
        user.email.clone(),
        &tctx,
        Some(format!("notification:{id}")),
    ) {
        Ok(msg) => app.notifier.mailer.send(&msg).await,
        Err(e) => Err(DeliveryError::from(e)),
    };
    match sent {
        Ok(sent) => {
            let status = match sent.via {
                Via::Smtp => "sent",
                Via::File => "recorded",
            };
            record(ctx, id, &Ok((status, Some(sent.message_id.as_str())))).await?;
            Ok(json!({ "notification_id": id, "status": status, "message_id": sent.message_id }))
        }
        Err(e) => {
            record(ctx, id, &Err(e.clone())).await?;
            Err(e.into())
        }
    }
}

/// Runs a `push.send` job.
pub async fn send_push(ctx: &JobCtx, job: PushSendV1) -> Result<Value, JobError> {
    let id = job.notification_id;
    if let Some(done) = begin(ctx, id).await? {
        return Ok(done);
    }
    let app = &ctx.app;
    let device = devices::get(&app.db, job.device_id)
        .await
        .map_err(db_retry)?;
    let Some(device) = device.filter(|d| d.user_id == job.user_id) else {
        return skip(ctx, id, "the device was removed").await;
    };
    if !device.active {
        return skip(ctx, id, "the device is no longer registered").await;
    }
    let Some(user) = users::get(&app.db, job.user_id).await.map_err(db_retry)? else {
        return skip(ctx, id, "the recipient no longer exists").await;
    };
    if user.disabled {
        return skip(ctx, id, "the recipient's account is disabled").await;
    }
    let tctx = template_context(app, &user.email, &job.params);
    let rendered = match app.notifier.templates.render_push(&job.template, &tctx) {
        Ok(r) => r,
        Err(e) => {
            let e = DeliveryError::from(e);
            record(ctx, id, &Err(e.clone())).await?;
            return Err(e.into());
        }
    };
    let msg = PushMessage {
        token: device.token.clone(),
        title: rendered.title,
        body: rendered.body,
        data: [
            ("notification_id".to_owned(), id.to_string()),
            ("template".to_owned(), job.template.clone()),
        ]
        .into(),
    };
    let sent = match app.notifier.pusher().await {
        Ok(p) => p.send(&msg).await,
        Err(e) => Err(e),
    };
    match sent {
        Ok(PushOutcome::Sent { name }) => {
            record(ctx, id, &Ok(("sent", Some(name.as_str())))).await?;
            Ok(json!({ "notification_id": id, "status": "sent", "message_id": name }))
        }
        Ok(PushOutcome::Recorded) => {
            record(ctx, id, &Ok(("recorded", None))).await?;
            Ok(json!({ "notification_id": id, "status": "recorded" }))
        }
        Ok(PushOutcome::Unregistered) => {
            let reason = "FCM says the token is no longer registered; the device was deactivated";
            devices::deactivate(&app.db, device.id, &device.token, reason, Utc::now())
                .await
                .map_err(db_retry)?;
            notifications::set_outcome(&app.db, id, "failed", None, Some(reason), Utc::now())
                .await
                .map_err(db_retry)?;
            tracing::info!(device_id = %device.id, "device token unregistered; deactivated");
            Ok(json!({ "notification_id": id, "status": "failed", "reason": reason }))
        }
        Err(e) => {
            record(ctx, id, &Err(e.clone())).await?;
            Err(e.into())
        }
    }
}
