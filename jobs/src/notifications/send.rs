//! The `email.send` and `push.send` handlers: one delivery each, recorded on
//! its history row before the job is acknowledged.

use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    EmailSendV1, NotifyChannel, PushSendV1,
    config::Guarantee,
    devices,
    repo::{self as notifications, Begun},
    status::NotificationStatus,
    template_context,
};
use crate::{
    JobRun, JobStatus,
    context::JobCtx,
    db::users,
    delivery::{
        DeliveryError,
        email::{EmailMessage, Via},
        push::{PushMessage, PushOutcome},
    },
    job::{Classify, JobError},
};

/// Where an attempt ended, written to the history row at once: a send the
/// provider accepted is retried with backoff while this attempt still holds
/// the row, since until it is written a cut-off would send it again.
async fn record(
    ctx: &JobCtx,
    id: Uuid,
    result: &Result<(NotificationStatus, Option<&str>), DeliveryError>,
) -> Result<(), JobError> {
    let (status, provider_id, error) = match result {
        Ok((status, provider_id)) => (*status, *provider_id, None),
        Err(e) if e.is_retryable() => (NotificationStatus::Retrying, None, Some(e.to_string())),
        Err(e) => (NotificationStatus::Failed, None, Some(e.to_string())),
    };
    let (attempt, error) = (ctx.attempt_token(), error.as_deref());
    ctx.record_outcome(status.is_sent(), |db| async move {
        let at = Utc::now();
        notifications::set_outcome(&db, id, attempt, status, provider_id, error, at).await
    })
    .await
}

/// Ends a delivery with `status` and `reason` without sending it.
async fn end_unsent(
    ctx: &JobCtx,
    id: Uuid,
    status: NotificationStatus,
    reason: &str,
) -> Result<(), JobError> {
    let attempt = ctx.attempt_token();
    notifications::set_outcome(
        &ctx.app.db,
        id,
        attempt,
        status,
        None,
        Some(reason),
        Utc::now(),
    )
    .await
    .retry()
    .map(|_| ())
}

/// Ends a delivery that has nothing to send.
async fn skip(ctx: &JobCtx, id: Uuid, reason: &str) -> Result<Value, JobError> {
    let status = NotificationStatus::Skipped;
    end_unsent(ctx, id, status, reason).await?;
    tracing::info!(notification_id = %id, reason, "notification skipped");
    Ok(json!({ "status": status, "reason": reason }))
}

/// Starts an attempt on a history row; `Some(result)` when the job has
/// nothing left to do (the row already ended). A row another attempt still
/// holds is retried once that hold runs out; one that ends `unknown` now
/// fails the job.
async fn begin(ctx: &JobCtx, id: Uuid, channel: NotifyChannel) -> Result<Option<Value>, JobError> {
    let guarantees = &ctx.app.config.notifications;
    let guarantee = match channel {
        NotifyChannel::Email => guarantees.email(),
        NotifyChannel::Push => guarantees.push(),
    };
    let at_most_once = guarantee == Guarantee::AtMostOnce;
    let begun = notifications::begin_attempt(
        &ctx.app.db,
        id,
        ctx.attempt_token(),
        ctx.hold_until(),
        at_most_once,
        Utc::now(),
    )
    .await
    .retry()?;
    match begun {
        Begun::Started(_) => Ok(None),
        Begun::Unknown(_) => {
            // The job fails, so the operator sees it beside other failures;
            // the row keeps `unknown`, which is final.
            ctx.app
                .metrics
                .record_notification(channel.as_str(), NotificationStatus::Unknown.as_str());
            Err(JobError::Abort(format!(
                "notification {id}: an earlier attempt was cut off while it may have been \
                 sending; delivery is at-most-once, so its outcome is unknown and it is not \
                 sent again"
            )))
        }
        Begun::Held { until } => Err(ctx.held_elsewhere(until)),
        Begun::Ended(Some(row)) => Ok(Some(ctx.repeated(row.status.as_str()))),
        Begun::Ended(None) => Err(JobError::Abort(format!(
            "notification {id} no longer exists (its user was deleted)"
        ))),
    }
}

/// Runs an `email.send` job.
pub async fn send_email(ctx: &JobCtx, job: EmailSendV1) -> Result<Value, JobError> {
    let id = job.notification_id;
    if let Some(done) = begin(ctx, id, NotifyChannel::Email).await? {
        return Ok(done);
    }
    let app = &ctx.app;
    let Some(user) = users::get(&app.db, job.user_id).await.retry()? else {
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
                Via::Smtp => NotificationStatus::Sent,
                Via::File => NotificationStatus::Recorded,
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
    if let Some(done) = begin(ctx, id, NotifyChannel::Push).await? {
        return Ok(done);
    }
    let app = &ctx.app;
    let device = devices::get(&app.db, job.device_id).await.retry()?;
    let Some(device) = device.filter(|d| d.user_id == job.user_id) else {
        return skip(ctx, id, "the device was removed").await;
    };
    if !device.active {
        return skip(ctx, id, "the device is no longer registered").await;
    }
    let Some(user) = users::get(&app.db, job.user_id).await.retry()? else {
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
            let status = NotificationStatus::Sent;
            record(ctx, id, &Ok((status, Some(name.as_str())))).await?;
            Ok(json!({ "notification_id": id, "status": status, "message_id": name }))
        }
        Ok(PushOutcome::Recorded) => {
            let status = NotificationStatus::Recorded;
            record(ctx, id, &Ok((status, None))).await?;
            Ok(json!({ "notification_id": id, "status": status }))
        }
        Ok(PushOutcome::Unregistered) => {
            let reason = "FCM says the token is no longer registered; the device was deactivated";
            devices::deactivate(&app.db, device.id, &device.token, reason, Utc::now())
                .await
                .retry()?;
            let status = NotificationStatus::Failed;
            end_unsent(ctx, id, status, reason).await?;
            tracing::info!(device_id = %device.id, "device token unregistered; deactivated");
            Ok(json!({ "notification_id": id, "status": status, "reason": reason }))
        }
        Err(e) => {
            record(ctx, id, &Err(e.clone())).await?;
            Err(e.into())
        }
    }
}

/// Closes the history row of an `email.send` or `push.send` job that ended
/// `failed` or `dead` without its handler recording it (a timeout, a lost
/// worker). A job that ended otherwise leaves its row alone.
pub async fn close_unfinished(
    app: &crate::context::AppContext,
    job: &JobRun,
    status: JobStatus,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    let db = &app.db;
    let Some(status) = NotificationStatus::for_failed_job(status) else {
        return Ok(());
    };
    notifications::finish_job(db, job.id, status, error, Utc::now()).await
}
