//! A moderator's decision on a report: a checked status transition, an
//! action on the target, a private note, optionally for every open report
//! on the same target. Each changed report gets its audit row in the same
//! transaction as the change, and a closed one a `report.notify` job.

use chrono::Utc;
use uuid::Uuid;

use super::{
    Action, ReportNotifyV1, ReportStatus, TargetType,
    repo::{self, ReportRow, Transition},
    submit::after_commit,
    triage,
};
use crate::{
    context::AppContext,
    db::users,
    identity::{AuditEntry, IdentityError, Role, UserPatch},
    ledger::{LedgerError, NewJob},
    media::{self, upload::UploadError},
};

/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;

/// Who decides.
#[derive(Debug, Clone, Copy)]
pub struct Moderator {
    /// Their user id.
    pub id: Uuid,
    /// Their role (moderator or admin).
    pub role: Role,
}

/// The decision.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The new status.
    pub status: ReportStatus,
    /// What to do about the target.
    pub action: Action,
    /// A private note (never shown to the reporter).
    pub note: Option<String>,
    /// Close every open report on the same target with it.
    pub apply_to_target: bool,
}

/// Why a decision was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// No such report.
    #[error("no such report")]
    NotFound,
    /// The transition is not allowed from the report's status.
    #[error("{0}")]
    Conflict(String),
    /// The decision does not fit the report.
    #[error("{0}")]
    Invalid(String),
    /// The moderator may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The identity service refused (disabling the last admin, say).
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Deleting the media failed.
    #[error(transparent)]
    Media(#[from] UploadError),
    /// The ledger or database failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl From<sqlx::Error> for ReviewError {
    fn from(e: sqlx::Error) -> Self {
        ReviewError::Ledger(e.into())
    }
}

/// Applies `decision` to report `id` (and, with `apply_to_target`, to every
/// other open report on its target). Returns the changed reports, the one
/// asked for first.
///
/// Disabling an account and deleting media happen first (each is safe to
/// repeat); hiding and restoring media are written in the transaction that
/// moves the reports.
pub async fn decide(
    app: &AppContext,
    id: Uuid,
    by: Moderator,
    decision: &Decision,
    from: &AuditEntry,
) -> Result<Vec<ReportRow>, ReviewError> {
    let report = repo::get(&app.db, id).await?.ok_or(ReviewError::NotFound)?;
    check(&report, decision)?;
    let note = decision
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
        return Err(ReviewError::Invalid(format!(
            "note is at most {MAX_NOTE_CHARS} characters"
        )));
    }
    match decision.action {
        Action::DisableUser => disable(app, &report, by, from).await?,
        Action::DeleteMedia => {
            if let Ok(media_id) = report.target_id.parse::<Uuid>() {
                media::upload::remove(app, media_id, None).await?;
            }
        }
        Action::None | Action::HideMedia | Action::RestoreMedia => {}
    }

    let now = Utc::now();
    let actor = by.id.to_string();
    let mut tx = app.db.begin().await?;
    // Taken first: decisions and triage runs on one target take turns.
    let target = repo::lock_target(&mut tx, report.target_ref)
        .await?
        .ok_or(ReviewError::NotFound)?;
    let mut ids = vec![report.id];
    if decision.apply_to_target {
        for other in repo::open_reports(&mut tx, report.target_ref).await? {
            if other.id != report.id {
                ids.push(other.id);
            }
        }
    }
    let mut jobs = Vec::new();
    let mut moved_ids = Vec::with_capacity(ids.len());
    for (i, rid) in ids.iter().enumerate() {
        let Some(current) = repo::get_in_tx(&mut tx, *rid).await? else {
            continue;
        };
        if !current.status.may_become(decision.status) {
            if i == 0 {
                return Err(conflict(current.status, decision.status));
            }
            continue; // closed meanwhile by someone else
        }
        let moved = repo::transition(
            &mut tx,
            &Transition {
                id: *rid,
                from: current.status,
                to: decision.status,
                action: decision.action,
                note,
                actor: &actor,
                now,
            },
        )
        .await?;
        if !moved {
            if i == 0 {
                return Err(conflict(current.status, decision.status));
            }
            continue;
        }
        moved_ids.push(*rid);
        if !decision.status.is_open() {
            let job = NewJob {
                idempotency_key: Some(format!("report:{rid}:notify:{}", decision.status)),
                ..NewJob::new(
                    "system",
                    ReportNotifyV1 {
                        report_id: *rid,
                        status: decision.status,
                    },
                )
            };
            jobs.push(app.ledger.enqueue_in_tx(&mut tx, job).await?);
        }
    }
    if let Ok(media_id) = report.target_id.parse::<Uuid>()
        && report.target_type == TargetType::Media
    {
        match decision.action {
            Action::HideMedia => {
                media::repo::hide(&mut tx, media_id, report.reason.as_str(), now).await?;
            }
            Action::RestoreMedia => {
                media::repo::restore(&mut tx, media_id, now).await?;
            }
            Action::None | Action::DeleteMedia | Action::DisableUser => {}
        }
    }
    // Closed reports no longer count towards the target's priority; a
    // target with none open is no longer escalated.
    triage::rescore(app, &mut tx, target, None, now).await?;
    tx.commit().await?;
    for out in &jobs {
        after_commit(app, out).await;
    }
    let mut changed = Vec::with_capacity(moved_ids.len());
    for rid in moved_ids {
        if let Some(r) = repo::get(&app.db, rid).await? {
            if !r.status.is_open() {
                app.metrics
                    .record_report_closed(r.status.as_str(), decision.action.as_str());
            }
            changed.push(r);
        }
    }
    Ok(changed)
}

fn conflict(from: ReportStatus, to: ReportStatus) -> ReviewError {
    ReviewError::Conflict(format!("a {from} report cannot become {to}"))
}

/// Checks the decision against the report before anything happens.
fn check(report: &ReportRow, d: &Decision) -> Result<(), ReviewError> {
    if !report.status.may_become(d.status) {
        return Err(conflict(report.status, d.status));
    }
    if let Some(t) = d.action.target()
        && t != report.target_type
    {
        return Err(ReviewError::Invalid(format!(
            "{} applies to {t} reports, and this one is about {}",
            d.action, report.target_type
        )));
    }
    if d.apply_to_target && d.status.is_open() {
        return Err(ReviewError::Invalid(
            "apply_to_target closes reports: use it with resolved or dismissed".into(),
        ));
    }
    Ok(())
}

/// Disables the reported account through the identity service (its
/// sessions end; its API keys stop with it). A moderator may disable only
/// plain users.
async fn disable(
    app: &AppContext,
    report: &ReportRow,
    by: Moderator,
    from: &AuditEntry,
) -> Result<(), ReviewError> {
    let Ok(user_id) = report.target_id.parse::<Uuid>() else {
        return Err(ReviewError::Invalid(
            "the reported account id is not valid".into(),
        ));
    };
    let Some(user) = users::get(&app.db, user_id).await? else {
        return Err(ReviewError::Conflict(
            "the reported account no longer exists".into(),
        ));
    };
    if by.role != Role::Admin && user.role != Role::User.as_str() {
        return Err(ReviewError::Forbidden(format!(
            "only admins may disable a {} account",
            user.role
        )));
    }
    if user.disabled {
        return Ok(());
    }
    let patch = UserPatch {
        role: None,
        disabled: Some(true),
    };
    app.identity
        .update_user(by.id, user_id, &patch, from)
        .await
        .map(|_| ())
        .map_err(Into::into)
}
