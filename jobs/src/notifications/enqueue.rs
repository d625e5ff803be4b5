//! Queueing one notification: its history rows and their jobs, in one
//! transaction, idempotent per sender and recipient.

use chrono::Utc;
use uuid::Uuid;

use super::{
    EmailSendV1, NotificationRequest, NotifyChannel, NotifyError, PushSendV1, Queued, devices,
    repo as notifications, status::NotificationStatus, template_context,
};
use crate::{
    context::AppContext,
    db::users,
    job::JobPayload,
    ledger::{Enqueued, LedgerError, NewJob},
};

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
    let mut deliveries = Vec::new();
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
            let payload: JobPayload = match device_id {
                None => EmailSendV1 {
                    notification_id: id,
                    user_id: user.id,
                    template: req.template.clone(),
                    params: req.params.clone(),
                }
                .into(),
                Some(device_id) => PushSendV1 {
                    notification_id: id,
                    user_id: user.id,
                    device_id,
                    template: req.template.clone(),
                    params: req.params.clone(),
                }
                .into(),
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
            deliveries.push(
                notifications::insert(
                    &mut tx,
                    &notifications::NewNotification {
                        job_id: Some(j.id),
                        status: NotificationStatus::Queued,
                        ..row
                    },
                )
                .await?,
            );
            created.push(out);
        }
    }
    if let Some(channel) = skipped {
        let id = Uuid::now_v7();
        let row = new_row(req, user.id, id, channel, None, now);
        deliveries.push(
            notifications::insert(
                &mut tx,
                &notifications::NewNotification {
                    status: NotificationStatus::Skipped,
                    error: Some("the user has no active device"),
                    ..row
                },
            )
            .await?,
        );
    }
    tx.commit().await.map_err(LedgerError::from)?;
    for out in &created {
        // The rows and jobs are committed: if Redis refuses the message now, the
        // sweeper pushes it once Redis is back, so the request stays accepted.
        if let Err(e) = app.ledger.after_commit(out).await {
            tracing::warn!(job_id = %out.job().id, error = %e, "notification committed but not pushed; the sweeper will push it");
        }
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
        status: NotificationStatus::Queued,
        error: None,
        now,
    }
}
