//! The `backup.prune` handler: apply a schedule's grandfather-father-son
//! retention ([`retention::select`]) to its stored backups, deleting each
//! dropped backup's objects, then its row. Manual backups are never pruned.

use chrono::Utc;
use serde_json::{Value, json};

use super::{BackupPruneV1, repo, retention, run::delete_backup, schedules};
use crate::{
    context::JobCtx,
    job::{Classify, JobError},
};

/// Runs `backup.prune`.
pub async fn run(ctx: &JobCtx, job: BackupPruneV1) -> Result<Value, JobError> {
    let app = &ctx.app;
    let Some(schedule) = schedules::get(&app.db, job.schedule_id).await.retry()? else {
        // A deleted schedule's backups are kept until deleted one by one.
        return Ok(json!({ "schedule_id": job.schedule_id, "deleted": [] }));
    };
    let tz = schedule
        .schedule()
        .map_err(|e| JobError::Abort(format!("the stored schedule does not parse: {e}")))?
        .timezone();
    let rows = repo::succeeded_for_schedule(&app.db, schedule.id)
        .await
        .retry()?;
    let candidates: Vec<retention::Candidate> = rows
        .iter()
        .filter(|r| !r.keep)
        .map(|r| retention::Candidate {
            id: r.id,
            finished_at: r.finished_at.unwrap_or(r.created_at),
            verified: r.verified_at.is_some(),
        })
        .collect();
    let selection = retention::select(&candidates, schedule.policy(), tz);
    let mut deleted = Vec::new();
    for id in &selection.delete {
        let Some(row) = rows.iter().find(|r| r.id == *id) else {
            continue;
        };
        if delete_backup(app, row).await.retry()? {
            deleted.push(row.id);
        }
    }
    if !deleted.is_empty() {
        tracing::info!(schedule_id = %schedule.id, deleted = deleted.len(), kept = selection.keep.len(), at = %Utc::now(), "backups pruned");
    }
    Ok(json!({
        "schedule_id": schedule.id,
        "kept": selection.keep,
        "deleted": deleted,
    }))
}
