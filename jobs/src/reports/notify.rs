//! `report.notify`: tells a reporter that their report was resolved or
//! dismissed — an email with the `report_status` template and the
//! `report.updated` event to their subscribed endpoints. The moderator's
//! note is never part of either. Both are keyed by report and status, so a
//! repeated delivery sends nothing twice.

use serde_json::{Map, Value, json};

use super::{ReportNotifyV1, repo};
use crate::{
    context::JobCtx,
    job::{Classify, JobError},
    notifications::{self, NotificationRequest, NotifyChannel, NotifyError},
    webhooks::{EventType, events},
};

/// The email a reporter gets.
pub const STATUS_TEMPLATE: &str = "report_status";

/// Runs `report.notify`.
pub async fn run(ctx: &JobCtx, job: ReportNotifyV1) -> Result<Value, JobError> {
    let app = &ctx.app;
    let report = repo::get(&app.db, job.report_id)
        .await
        .retry()?
        .ok_or_else(|| JobError::Abort("the report no longer exists".into()))?;
    let key = format!("report:{}:{}", report.id, job.status);
    let report_url = format!("{}/v1/reports/mine/{}", app.config.public_url(), report.id);
    let mut params = Map::new();
    params.insert("report_id".into(), json!(report.id));
    params.insert("status".into(), json!(job.status.as_str()));
    params.insert("report_url".into(), json!(report_url));
    let req = NotificationRequest {
        user_id: report.reporter_id,
        channels: vec![NotifyChannel::Email],
        template: STATUS_TEMPLATE.into(),
        params,
        requested_by: "system".into(),
        idempotency_key: Some(key.clone()),
    };
    let emailed = match notifications::enqueue::enqueue(app, &req).await {
        Ok(_) => true,
        Err(NotifyError::UnknownUser) => false, // the reporter's account is gone
        Err(e @ (NotifyError::Template(_) | NotifyError::Invalid(_))) => {
            return Err(JobError::Abort(e.to_string()));
        }
        Err(e) => return Err(JobError::Retry(e.into())),
    };
    let event = events::Event {
        kind: EventType::ReportUpdated.as_str(),
        key: Some(key),
        data: json!({
            "report_id": report.id,
            "status": job.status.as_str(),
            "target_type": report.target_type.as_str(),
            "target_id": report.target_id,
            "reason": report.reason.as_str(),
            "closed_at": report.closed_at,
        }),
    };
    let deliveries = events::emit(app, report.reporter_id, &event, None)
        .await
        .retry()?;
    Ok(json!({
        "report_id": report.id,
        "status": job.status.as_str(),
        "emailed": emailed,
        "webhook_deliveries": deliveries.len(),
    }))
}
