//! Filing a report: the target is checked, the reporter's hourly limit and
//! the one-open-report rule are applied, and the report is written with its
//! `report.triage` job in one transaction.

use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use super::{
    Reason, ReportTriageV1, TargetType,
    repo::{self, NewReport, ReportRow},
};
use crate::{
    context::AppContext,
    db::users,
    ledger::{Enqueued, LedgerError, NewJob},
    media,
};

/// Longest `target_id`, in characters.
pub const MAX_TARGET_ID_CHARS: usize = 200;
/// Longest `details`, in characters.
pub const MAX_DETAILS_CHARS: usize = 2000;

/// A report as a user files it.
#[derive(Debug, Clone)]
pub struct Filing {
    /// Who reports.
    pub reporter: Uuid,
    /// Whether the reporter sees every media (moderators and admins).
    pub sees_all_media: bool,
    /// What kind of thing.
    pub target_type: TargetType,
    /// Which one.
    pub target_id: String,
    /// Why.
    pub reason: Reason,
    /// The reporter's words (required for `other`).
    pub details: Option<String>,
}

/// Why a report was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// No such target, or one the reporter cannot see.
    #[error("no such {0} to report")]
    UnknownTarget(TargetType),
    /// A user reporting their own account.
    #[error("you cannot report yourself")]
    SelfReport,
    /// `other` without details, or a field out of bounds.
    #[error("{0}")]
    Invalid(String),
    /// Over `reports.max_per_hour`.
    #[error("at most {limit} reports an hour")]
    TooMany {
        /// The limit.
        limit: u32,
        /// When the oldest report of the hour leaves the window.
        retry_after: Duration,
    },
    /// The ledger or database failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl From<sqlx::Error> for SubmitError {
    fn from(e: sqlx::Error) -> Self {
        SubmitError::Ledger(e.into())
    }
}

/// A report filed.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The report.
    pub report: ReportRow,
    /// False when the reporter already had an open report on the target.
    pub created: bool,
}

/// Files a report, or answers the reporter's open report on the same target.
pub async fn submit(app: &AppContext, f: &Filing) -> Result<Submitted, SubmitError> {
    let details = f
        .details
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    if f.reason == Reason::Other && details.is_none() {
        return Err(SubmitError::Invalid(
            "details are required when the reason is other".into(),
        ));
    }
    if details.is_some_and(|d| d.chars().count() > MAX_DETAILS_CHARS) {
        return Err(SubmitError::Invalid(format!(
            "details are at most {MAX_DETAILS_CHARS} characters"
        )));
    }
    let target_id = f.target_id.trim();
    if target_id.is_empty() || target_id.chars().count() > MAX_TARGET_ID_CHARS {
        return Err(SubmitError::Invalid(format!(
            "target_id is 1–{MAX_TARGET_ID_CHARS} characters"
        )));
    }
    let (target_id, owner) = resolve(app, f, target_id).await?;
    let reporter = users::get(&app.db, f.reporter)
        .await?
        .ok_or(SubmitError::UnknownTarget(TargetType::User))?;
    let now = Utc::now();
    let reporter_new = now - reporter.created_at < chrono::Duration::days(1);

    let mut tx = app.db.begin().await?;
    let target =
        repo::upsert_target(&mut tx, f.target_type, &target_id, owner.as_deref(), now).await?;
    if let Some(open) = repo::open_by_reporter(&mut tx, f.reporter, target.id).await? {
        return Ok(Submitted {
            report: open,
            created: false,
        });
    }
    repo::lock_reporter(&mut tx, f.reporter).await?;
    let limit = app.config.reports.max_per_hour;
    let (filed, oldest) =
        repo::filed_since(&mut tx, f.reporter, now - chrono::Duration::hours(1)).await?;
    if filed >= i64::from(limit) {
        let free_at = oldest.unwrap_or(now) + chrono::Duration::hours(1);
        let retry_after = (free_at - now)
            .to_std()
            .unwrap_or_default()
            .max(Duration::from_secs(1));
        return Err(SubmitError::TooMany { limit, retry_after });
    }
    let id = Uuid::now_v7();
    let out = app
        .ledger
        .enqueue_in_tx(
            &mut tx,
            NewJob::new("system", ReportTriageV1 { report_id: id }),
        )
        .await?;
    let report = repo::insert(
        &mut tx,
        &NewReport {
            id,
            target: &target,
            reporter_id: f.reporter,
            reporter_new,
            reason: f.reason,
            details,
            triage_job_id: out.job().id,
            now,
        },
    )
    .await?;
    let Some(report) = report else {
        // A concurrent request of the same reporter won the unique index.
        let open = repo::open_by_reporter(&mut tx, f.reporter, target.id)
            .await?
            .ok_or_else(|| LedgerError::Conflict("the open report was closed meanwhile".into()))?;
        return Ok(Submitted {
            report: open,
            created: false,
        });
    };
    tx.commit().await?;
    after_commit(app, &out).await;
    app.metrics
        .record_report_filed(f.target_type.as_str(), f.reason.as_str());
    Ok(Submitted {
        report,
        created: true,
    })
}

/// Hands a committed job to its queue; a refusal is logged, since the job is
/// in the ledger and the sweeper pushes it once the queue is back.
pub(crate) async fn after_commit(app: &AppContext, out: &Enqueued) {
    if let Err(e) = app.ledger.after_commit(out).await {
        tracing::warn!(job_id = %out.job().id, error = %e, "report job committed but not pushed; the sweeper will push it");
    }
}

/// The target's canonical id and owner, if the reporter may report it.
async fn resolve(
    app: &AppContext,
    f: &Filing,
    target_id: &str,
) -> Result<(String, Option<String>), SubmitError> {
    let unknown = || SubmitError::UnknownTarget(f.target_type);
    match f.target_type {
        TargetType::External => Ok((target_id.to_owned(), None)),
        TargetType::Media => {
            let id: Uuid = target_id.parse().map_err(|_| unknown())?;
            let m = media::repo::get(&app.db, id, None)
                .await?
                .ok_or_else(unknown)?;
            // Someone else's private media is as unknown as a missing one.
            if !(f.sees_all_media || m.visible_to(&f.reporter.to_string())) {
                return Err(unknown());
            }
            Ok((id.to_string(), Some(m.owner)))
        }
        TargetType::User => {
            let id: Uuid = target_id.parse().map_err(|_| unknown())?;
            if id == f.reporter {
                return Err(SubmitError::SelfReport);
            }
            let u = users::get(&app.db, id).await?.ok_or_else(unknown)?;
            Ok((u.id.to_string(), Some(u.id.to_string())))
        }
    }
}
