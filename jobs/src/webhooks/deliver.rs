//! The `webhook.deliver` handler: one signed POST of a stored delivery, its
//! outcome in the delivery log, and the endpoint's failure count.

use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    WebhookDeliverV1,
    repo::{self, AttemptOutcome, BegunDelivery},
    status::DeliveryStatus,
};
use crate::{
    JobRun, JobStatus,
    context::JobCtx,
    delivery::{
        DeliveryError,
        webhook::{WebhookRequest, WebhookSecret},
    },
    job::{Classify, JobError},
};

/// Records an attempt on a delivery. A delivery the receiver accepted is
/// retried with backoff while this attempt still holds it, since until it is
/// written a cut-off would post it again.
async fn record(ctx: &JobCtx, id: Uuid, o: &AttemptOutcome<'_>) -> Result<(), JobError> {
    let attempt = ctx.attempt_token();
    ctx.record_outcome(o.status == DeliveryStatus::Delivered, |db| async move {
        repo::record_attempt(&db, id, attempt, o, Utc::now()).await
    })
    .await
}

/// Ends a delivery that will not be sent.
async fn skip(ctx: &JobCtx, id: Uuid, reason: &str) -> Result<Value, JobError> {
    let outcome = AttemptOutcome {
        status: DeliveryStatus::Skipped,
        response_status: None,
        response_body: None,
        error: Some(reason),
    };
    record(ctx, id, &outcome).await?;
    Ok(json!({ "status": outcome.status, "reason": reason }))
}

/// Runs a `webhook.deliver` job: one signed POST of the stored body.
pub async fn run(ctx: &JobCtx, job: WebhookDeliverV1) -> Result<Value, JobError> {
    let db = &ctx.app.db;
    let (attempt, hold) = (ctx.attempt_token(), ctx.hold_until());
    let begun = repo::begin_delivery_attempt(db, job.delivery_id, attempt, hold, Utc::now())
        .await
        .retry()?;
    let delivery = match begun {
        BegunDelivery::Started(d) => d,
        BegunDelivery::Held { until } => return Err(ctx.held_elsewhere(until)),
        BegunDelivery::Ended(Some(d)) => return Ok(ctx.repeated(d.status.as_str())),
        BegunDelivery::Ended(None) => {
            let status = DeliveryStatus::Skipped;
            return Ok(json!({ "status": status, "reason": "the endpoint was deleted" }));
        }
    };
    let Some(hook) = repo::get(db, delivery.webhook_id, None).await.retry()? else {
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
                    status: DeliveryStatus::Delivered,
                    response_status: Some(i32::from(d.status)),
                    response_body: Some(&d.body),
                    error: None,
                },
            )
            .await?;
            repo::record_success(db, hook.id, Utc::now())
                .await
                .retry()?;
            let status = DeliveryStatus::Delivered;
            Ok(json!({ "delivery_id": delivery.id, "status": status, "response_status": d.status }))
        }
        Err(e) => {
            let limit = ctx.app.config.webhooks.disable_after_failures;
            let disabled_now = repo::record_failure(db, hook.id, limit, Utc::now())
                .await
                .retry()?
                .is_some_and(|(_, disabled)| disabled);
            let (e, delivery_status) = if disabled_now {
                tracing::warn!(webhook_id = %hook.id, failures = limit, "webhook endpoint disabled after consecutive failures");
                let reason = format!(
                    "{e}; the endpoint was disabled after {limit} consecutive failed attempts"
                );
                (DeliveryError::abort(reason), DeliveryStatus::Failed)
            } else if e.is_retryable() {
                (e, DeliveryStatus::Retrying)
            } else {
                (e, DeliveryStatus::Failed)
            };
            let reason = e.to_string();
            record(
                ctx,
                delivery.id,
                &AttemptOutcome {
                    status: delivery_status,
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

/// Closes the delivery-log row of a `webhook.deliver` job that ended `failed`
/// or `dead` without its handler recording it (a timeout, a lost worker). A
/// job that ended otherwise leaves its row alone.
pub async fn close_unfinished(
    app: &crate::context::AppContext,
    job: &JobRun,
    status: JobStatus,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    let db = &app.db;
    let Some(status) = DeliveryStatus::for_failed_job(status) else {
        return Ok(());
    };
    repo::finish_delivery_job(db, job.id, status, error, Utc::now()).await
}
