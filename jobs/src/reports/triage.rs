//! `report.triage`: scores a reported target from its open reports and
//! escalates it once the score reaches `reports.auto_hide_threshold` —
//! reported media is hidden, the moderators get one email each and
//! `report.escalated` is sent. The score is a function of the open reports
//! alone and the escalation is recorded on the target, so running triage
//! again changes nothing.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{
    Action, Reason, ReportStatus, ReportTriageV1, TargetType,
    config::ReportsConfig,
    repo::{self, ActionRow, OpenReport, TargetRow},
};
use crate::{
    context::{AppContext, JobCtx},
    db::{DbTx, users},
    job::{Classify, JobError},
    media,
    notifications::{self, NotificationRequest, NotifyChannel, NotifyError},
    webhooks::{EventType, events},
};

/// The email moderators get when a target is escalated.
pub const ESCALATED_TEMPLATE: &str = "report_escalated";

/// A target's priority: every open reporter adds the weight of their
/// report's reason, half of it when their account was younger than a day
/// when they reported. (One open report per reporter and target, by the
/// unique index, so this counts distinct reporters.)
pub fn priority(config: &ReportsConfig, open: &[OpenReport]) -> f64 {
    open.iter()
        .map(|r| {
            let w = config.weights.of(r.reason);
            if r.reporter_new { w / 2.0 } else { w }
        })
        .sum()
}

/// The reason that weighs most among the open reports (the reason class a
/// hidden media's owner is shown).
fn heaviest(config: &ReportsConfig, open: &[OpenReport]) -> Option<Reason> {
    let mut totals: Vec<(Reason, f64)> = Vec::new();
    for r in open {
        match totals.iter_mut().find(|(reason, _)| *reason == r.reason) {
            Some((_, total)) => *total += config.weights.of(r.reason),
            None => totals.push((r.reason, config.weights.of(r.reason))),
        }
    }
    totals
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(reason, _)| reason)
}

/// What scoring a target did.
#[derive(Debug, Clone)]
pub struct Scored {
    /// The target as it now is.
    pub target: TargetRow,
    /// Its priority.
    pub priority: f64,
    /// This run escalated it.
    pub escalated_now: bool,
    /// This run hid its media.
    pub hidden_now: bool,
}

/// Recomputes the priority of `target` (locked in `tx` by
/// [`repo::lock_target`]) from its open reports, and escalates it when the
/// priority reaches the threshold and it is not escalated yet. `report` is
/// the report the escalation's audit row is written for.
pub(crate) async fn rescore(
    app: &AppContext,
    tx: &mut DbTx,
    mut target: TargetRow,
    report: Option<(Uuid, ReportStatus)>,
    now: DateTime<Utc>,
) -> Result<Scored, sqlx::Error> {
    let target_ref = target.id;
    let config = &app.config.reports;
    let open = repo::open_reports(tx, target_ref).await?;
    let priority = priority(config, &open);
    repo::set_priority(tx, target_ref, priority, now).await?;
    target.priority = priority;
    let mut escalated_now = false;
    let mut hidden_now = false;
    if priority >= config.auto_hide_threshold && repo::escalate(tx, target_ref, now).await? {
        escalated_now = true;
        target.escalated_at = Some(now);
        if target.target_type == TargetType::Media
            && let Ok(media_id) = target.target_id.parse::<Uuid>()
        {
            let reason = heaviest(config, &open).unwrap_or(Reason::Other);
            hidden_now = media::repo::hide(tx, media_id, reason.as_str(), now).await?;
            if let (true, Some((report_id, status))) = (hidden_now, report) {
                repo::insert_action(
                    tx,
                    &ActionRow {
                        id: Uuid::now_v7(),
                        report_id,
                        actor: "system".into(),
                        from_status: status.as_str().into(),
                        to_status: status.as_str().into(),
                        action: Action::HideMedia.as_str().into(),
                        note: Some(format!(
                            "priority {priority} reached the threshold {}",
                            config.auto_hide_threshold
                        )),
                        created_at: now,
                    },
                )
                .await?;
            }
        }
    }
    repo::settle(tx, target_ref, now).await?;
    if open.is_empty() {
        target.escalated_at = None;
    }
    Ok(Scored {
        target,
        priority,
        escalated_now,
        hidden_now,
    })
}

/// Runs `report.triage`.
pub async fn run(ctx: &JobCtx, job: ReportTriageV1) -> Result<Value, JobError> {
    let app = &ctx.app;
    let report = repo::get(&app.db, job.report_id)
        .await
        .retry()?
        .ok_or_else(|| JobError::Abort("the report no longer exists".into()))?;
    let now = Utc::now();
    let mut tx = app.db.begin().await.retry()?;
    let target = repo::lock_target(&mut tx, report.target_ref)
        .await
        .retry()?
        .ok_or_else(|| JobError::Abort("the report's target no longer exists".into()))?;
    let scored = rescore(app, &mut tx, target, Some((report.id, report.status)), now)
        .await
        .retry()?;
    tx.commit().await.retry()?;
    app.metrics.record_report_triage(scored.escalated_now);
    // Told on every run while the target stays escalated: the idempotency
    // keys name the escalation, so a repeated run (or a crash between the
    // commit and here) sends nothing twice and misses nothing.
    if let Some(at) = scored.target.escalated_at {
        announce(app, &scored.target, report.id, at).await?;
    }
    Ok(json!({
        "target_type": scored.target.target_type.as_str(),
        "target_id": scored.target.target_id,
        "priority": scored.priority,
        "escalated": scored.target.escalated_at.is_some(),
        "escalated_now": scored.escalated_now,
        "hidden_now": scored.hidden_now,
    }))
}

/// Emails the moderators and sends `report.escalated` for an escalation.
async fn announce(
    app: &AppContext,
    target: &TargetRow,
    report_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), JobError> {
    let key = format!(
        "report-target:{}:escalated:{}",
        target.id,
        at.timestamp_micros()
    );
    let hidden = match target.target_type {
        TargetType::Media => match target.target_id.parse::<Uuid>() {
            Ok(id) => media::repo::get(&app.db, id, None)
                .await
                .retry()?
                .is_some_and(|m| m.hidden_at.is_some()),
            Err(_) => false,
        },
        TargetType::User | TargetType::External => false,
    };
    let report_url = format!("{}/v1/reports/{report_id}", app.config.public_url());
    let data = json!({
        "report_id": report_id,
        "target_type": target.target_type.as_str(),
        "target_id": target.target_id,
        "priority": target.priority,
        "hidden": hidden,
        "escalated_at": at,
    });
    let mut params = Map::new();
    params.insert("report_url".into(), json!(report_url));
    params.insert("target_type".into(), json!(target.target_type.as_str()));
    params.insert("target_id".into(), json!(target.target_id));
    params.insert("priority".into(), json!(target.priority));
    params.insert("hidden".into(), json!(hidden));
    let moderators = users::moderator_ids(&app.db).await.retry()?;
    let event = events::Event {
        kind: EventType::ReportEscalated.as_str(),
        key: Some(key.clone()),
        data,
    };
    for moderator in moderators {
        let req = NotificationRequest {
            user_id: moderator,
            channels: vec![NotifyChannel::Email],
            template: ESCALATED_TEMPLATE.into(),
            params: params.clone(),
            requested_by: "system".into(),
            idempotency_key: Some(key.clone()),
        };
        match notifications::enqueue::enqueue(app, &req).await {
            Ok(_) | Err(NotifyError::UnknownUser) => {}
            Err(e @ (NotifyError::Template(_) | NotifyError::Invalid(_))) => {
                return Err(JobError::Abort(e.to_string()));
            }
            Err(e) => return Err(JobError::Retry(e.into())),
        }
        events::emit(app, moderator, &event, None).await.retry()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(reason: Reason, reporter_new: bool) -> OpenReport {
        OpenReport {
            id: Uuid::now_v7(),
            reporter_id: Uuid::now_v7(),
            reason,
            reporter_new,
        }
    }

    #[test]
    fn new_accounts_count_half_and_reasons_weigh_what_the_config_says() {
        let config = ReportsConfig::default();
        let reports = [
            open(Reason::Illegal, false),
            open(Reason::Illegal, true),
            open(Reason::Spam, false),
        ];
        assert_eq!(priority(&config, &reports), 5.0 + 2.5 + 1.0);
        assert_eq!(priority(&config, &[]), 0.0);
        assert_eq!(heaviest(&config, &reports), Some(Reason::Illegal));
    }
}
