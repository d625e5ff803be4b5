//! `/v1/reports`: users report media, accounts and their own objects
//! (scopes `reports:write`, `reports:read`); moderators and admins review,
//! act and export (scope `reports:moderate`).

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use poem::{Body, Request, web::Data};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::{Binary, Json},
};
use uuid::Uuid;

use kiln_jobs::{
    AppContext, JobRun, JobStatus, media,
    reports::{
        Action, Filter, Reason, ReportStatus, TargetType, export,
        repo::{self, ActionRow, GroupCursor, ReportRow, Sort, TargetRow},
        review::{self, Decision, Moderator, ReviewError},
        submit::{self, Filing, SubmitError},
    },
};

use crate::{
    ApiTags, Scope,
    auth::{Auth, audit_entry},
    endpoints::{jobs::JobStatusDto, object_err, page, parse_cursor, upload_err},
    error::ApiError,
};

/// What a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "ReportTargetType", rename_all = "lowercase")]
pub enum TargetTypeDto {
    /// An uploaded image (`target_id` is its media id).
    Media,
    /// An account (`target_id` is its user id).
    User,
    /// Your own object, e.g. a comment id (`target_id` is opaque, at most 200 characters).
    External,
}

impl From<TargetTypeDto> for TargetType {
    fn from(t: TargetTypeDto) -> Self {
        match t {
            TargetTypeDto::Media => TargetType::Media,
            TargetTypeDto::User => TargetType::User,
            TargetTypeDto::External => TargetType::External,
        }
    }
}

impl From<TargetType> for TargetTypeDto {
    fn from(t: TargetType) -> Self {
        match t {
            TargetType::Media => TargetTypeDto::Media,
            TargetType::User => TargetTypeDto::User,
            TargetType::External => TargetTypeDto::External,
        }
    }
}

/// Why something is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "ReportReason", rename_all = "snake_case")]
pub enum ReasonDto {
    /// Unsolicited advertising, scams.
    Spam,
    /// Targeted abuse.
    Harassment,
    /// Hate speech.
    Hate,
    /// Violence or threats.
    Violence,
    /// Sexual content.
    Sexual,
    /// Self-harm or suicide.
    SelfHarm,
    /// Illegal content.
    Illegal,
    /// Copyright infringement.
    Copyright,
    /// Pretending to be someone else.
    Impersonation,
    /// Anything else (`details` required).
    Other,
}

impl From<ReasonDto> for Reason {
    fn from(r: ReasonDto) -> Self {
        match r {
            ReasonDto::Spam => Reason::Spam,
            ReasonDto::Harassment => Reason::Harassment,
            ReasonDto::Hate => Reason::Hate,
            ReasonDto::Violence => Reason::Violence,
            ReasonDto::Sexual => Reason::Sexual,
            ReasonDto::SelfHarm => Reason::SelfHarm,
            ReasonDto::Illegal => Reason::Illegal,
            ReasonDto::Copyright => Reason::Copyright,
            ReasonDto::Impersonation => Reason::Impersonation,
            ReasonDto::Other => Reason::Other,
        }
    }
}

impl From<Reason> for ReasonDto {
    fn from(r: Reason) -> Self {
        match r {
            Reason::Spam => ReasonDto::Spam,
            Reason::Harassment => ReasonDto::Harassment,
            Reason::Hate => ReasonDto::Hate,
            Reason::Violence => ReasonDto::Violence,
            Reason::Sexual => ReasonDto::Sexual,
            Reason::SelfHarm => ReasonDto::SelfHarm,
            Reason::Illegal => ReasonDto::Illegal,
            Reason::Copyright => ReasonDto::Copyright,
            Reason::Impersonation => ReasonDto::Impersonation,
            Reason::Other => ReasonDto::Other,
        }
    }
}

/// Where a report is in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "ReportStatus", rename_all = "lowercase")]
pub enum StatusDto {
    /// Filed; not looked at yet.
    Open,
    /// A moderator is on it.
    Reviewing,
    /// Acted on by a moderator.
    Resolved,
    /// Found unfounded.
    Dismissed,
}

impl From<StatusDto> for ReportStatus {
    fn from(s: StatusDto) -> Self {
        match s {
            StatusDto::Open => ReportStatus::Open,
            StatusDto::Reviewing => ReportStatus::Reviewing,
            StatusDto::Resolved => ReportStatus::Resolved,
            StatusDto::Dismissed => ReportStatus::Dismissed,
        }
    }
}

impl From<ReportStatus> for StatusDto {
    fn from(s: ReportStatus) -> Self {
        match s {
            ReportStatus::Open => StatusDto::Open,
            ReportStatus::Reviewing => StatusDto::Reviewing,
            ReportStatus::Resolved => StatusDto::Resolved,
            ReportStatus::Dismissed => StatusDto::Dismissed,
        }
    }
}

/// The status a moderator moves a report to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "ReportDecisionStatus", rename_all = "lowercase")]
pub enum DecisionStatusDto {
    /// Take it up (from `open`).
    Reviewing,
    /// Close it as acted on.
    Resolved,
    /// Close it as unfounded.
    Dismissed,
}

impl From<DecisionStatusDto> for ReportStatus {
    fn from(s: DecisionStatusDto) -> Self {
        match s {
            DecisionStatusDto::Reviewing => ReportStatus::Reviewing,
            DecisionStatusDto::Resolved => ReportStatus::Resolved,
            DecisionStatusDto::Dismissed => ReportStatus::Dismissed,
        }
    }
}

/// What a moderator does about a report's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "ReportAction", rename_all = "snake_case")]
pub enum ActionDto {
    /// Nothing.
    None,
    /// Hide the reported media (its variants are then served to moderators and admins only).
    HideMedia,
    /// Show the reported media again.
    RestoreMedia,
    /// Delete the reported media and its variants.
    DeleteMedia,
    /// Disable the reported account: its sessions and API keys stop.
    DisableUser,
}

impl From<ActionDto> for Action {
    fn from(a: ActionDto) -> Self {
        match a {
            ActionDto::None => Action::None,
            ActionDto::HideMedia => Action::HideMedia,
            ActionDto::RestoreMedia => Action::RestoreMedia,
            ActionDto::DeleteMedia => Action::DeleteMedia,
            ActionDto::DisableUser => Action::DisableUser,
        }
    }
}

impl From<Action> for ActionDto {
    fn from(a: Action) -> Self {
        match a {
            Action::None => ActionDto::None,
            Action::HideMedia => ActionDto::HideMedia,
            Action::RestoreMedia => ActionDto::RestoreMedia,
            Action::DeleteMedia => ActionDto::DeleteMedia,
            Action::DisableUser => ActionDto::DisableUser,
        }
    }
}

/// How the moderator list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "ReportSort", rename_all = "lowercase")]
pub enum SortDto {
    /// Highest priority first (the default).
    Priority,
    /// The target reported first comes first.
    Age,
}

/// A report to file.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ReportIn {
    /// What kind of thing.
    pub target_type: TargetTypeDto,
    /// Which one: a media or user id, or your own object's id (1–200 characters).
    #[oai(
        validator(min_length = 1, max_length = 200),
        deserialize_with = "crate::endpoints::text"
    )]
    pub target_id: String,
    /// Why.
    pub reason: ReasonDto,
    /// In your words, at most 2,000 characters; required when the reason is `other`.
    #[oai(
        nullable,
        validator(max_length = 2000),
        deserialize_with = "crate::endpoints::optional_text"
    )]
    pub details: Option<String>,
}

/// One of your reports.
#[derive(Debug, Clone, Object)]
pub struct MyReportOut {
    /// The report id.
    pub id: Uuid,
    /// What kind of thing.
    pub target_type: TargetTypeDto,
    /// Which one.
    pub target_id: String,
    /// Why.
    pub reason: ReasonDto,
    /// Your words.
    #[oai(nullable)]
    pub details: Option<String>,
    /// Where it is in review.
    pub status: StatusDto,
    /// When you filed it.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was resolved or dismissed.
    #[oai(nullable)]
    pub closed_at: Option<DateTime<Utc>>,
}

impl From<ReportRow> for MyReportOut {
    fn from(r: ReportRow) -> Self {
        MyReportOut {
            id: r.id,
            target_type: r.target_type.into(),
            target_id: r.target_id,
            reason: r.reason.into(),
            details: r.details,
            status: r.status.into(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            closed_at: r.closed_at,
        }
    }
}

/// A report as moderators see it.
#[derive(Debug, Clone, Object)]
pub struct ReportOut {
    /// The report id.
    pub id: Uuid,
    /// What kind of thing.
    pub target_type: TargetTypeDto,
    /// Which one.
    pub target_id: String,
    /// Who reported it.
    pub reporter_id: Uuid,
    /// The reporter's account was younger than a day (counts half in the priority).
    pub reporter_new_account: bool,
    /// Why.
    pub reason: ReasonDto,
    /// The reporter's words.
    #[oai(nullable)]
    pub details: Option<String>,
    /// Where it is in review.
    pub status: StatusDto,
    /// Its target's priority.
    pub priority: f64,
    /// What the last moderator decision did.
    #[oai(nullable, skip_serializing_if_is_none)]
    pub action: Option<ActionDto>,
    /// The moderators' private note.
    #[oai(nullable)]
    pub note: Option<String>,
    /// Who last changed it.
    #[oai(nullable)]
    pub reviewed_by: Option<String>,
    /// Its `report.triage` job.
    #[oai(nullable)]
    pub triage_job_id: Option<Uuid>,
    /// When it was filed.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was resolved or dismissed.
    #[oai(nullable)]
    pub closed_at: Option<DateTime<Utc>>,
}

impl From<ReportRow> for ReportOut {
    fn from(r: ReportRow) -> Self {
        ReportOut {
            action: r.action().map(Into::into),
            id: r.id,
            target_type: r.target_type.into(),
            target_id: r.target_id,
            reporter_id: r.reporter_id,
            reporter_new_account: r.reporter_new,
            reason: r.reason.into(),
            details: r.details,
            status: r.status.into(),
            priority: r.priority,
            note: r.note,
            reviewed_by: r.reviewed_by,
            triage_job_id: r.triage_job_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            closed_at: r.closed_at,
        }
    }
}

/// Filing outcomes.
#[derive(Debug, ApiResponse)]
pub enum ReportCreated {
    /// Filed; its target is triaged by a `report.triage` job.
    #[oai(status = 201)]
    Created(Json<MyReportOut>, #[oai(header = "location")] String),
    /// You already have an open report on this target: that one.
    #[oai(status = 200)]
    Existing(Json<MyReportOut>, #[oai(header = "location")] String),
}

/// A page of your reports, newest first.
#[derive(Debug, Clone, Object)]
pub struct MyReportPage {
    /// The reports.
    pub items: Vec<MyReportOut>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// How many of a group's reports give one reason.
#[derive(Debug, Clone, Object)]
pub struct ReasonCountOut {
    /// The reason.
    pub reason: ReasonDto,
    /// Reports giving it.
    pub reports: u64,
}

/// The reports on one target that the filters select.
#[derive(Debug, Clone, Object)]
pub struct ReportGroupOut {
    /// What kind of thing.
    pub target_type: TargetTypeDto,
    /// Which one.
    pub target_id: String,
    /// Its priority (from its open reports).
    pub priority: f64,
    /// Reports on it that the filters select.
    pub reports: u64,
    /// Those reports by reason, most first.
    pub reasons: Vec<ReasonCountOut>,
    /// Its newest report: `GET /v1/reports/{id}` shows it with the others.
    pub latest_report_id: Uuid,
    /// The priority crossed the threshold and no moderator has closed every report since.
    pub escalated: bool,
    /// When it was first reported.
    pub first_reported_at: DateTime<Utc>,
    /// The newest selected report.
    pub last_reported_at: DateTime<Utc>,
}

/// A page of the moderator list: reports grouped by target.
#[derive(Debug, Clone, Object)]
pub struct ReportGroupPage {
    /// The groups, in the order asked for.
    pub items: Vec<ReportGroupOut>,
    /// Pass as `cursor` (with the same filters and sort) for the next page; absent on the last.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// The reported media, as a moderator sees it.
#[derive(Debug, Clone, Object)]
pub struct MediaSummary {
    /// Its owner's user id.
    pub owner: String,
    /// `processing`, `ready` or `failed`.
    pub status: String,
    /// `private` or `public`.
    pub visibility: String,
    /// Hidden by moderation.
    pub hidden: bool,
    /// A thumbnail moderators may load, once processed.
    #[oai(nullable)]
    pub thumbnail_url: Option<String>,
}

/// The reported account, as a moderator sees it.
#[derive(Debug, Clone, Object)]
pub struct UserSummary {
    /// Its email.
    pub email: String,
    /// Its role.
    pub role: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Whether it is disabled.
    pub disabled: bool,
}

/// What a report is about, summed up.
#[derive(Debug, Clone, Object)]
pub struct TargetSummary {
    /// What kind of thing.
    pub target_type: TargetTypeDto,
    /// Which one.
    pub target_id: String,
    /// Its priority.
    pub priority: f64,
    /// When its priority crossed the threshold, while any report on it is open.
    #[oai(nullable)]
    pub escalated_at: Option<DateTime<Utc>>,
    /// When it was first reported.
    pub first_reported_at: DateTime<Utc>,
    /// The media (media targets that still exist).
    #[oai(nullable, skip_serializing_if_is_none)]
    pub media: Option<MediaSummary>,
    /// The account (user targets that still exist).
    #[oai(nullable, skip_serializing_if_is_none)]
    pub user: Option<UserSummary>,
}

/// One change to a report.
#[derive(Debug, Clone, Object)]
pub struct ReportActionOut {
    /// Who: a user id, or `system` (triage hiding media).
    pub actor: String,
    /// Status before.
    pub from_status: String,
    /// Status after.
    pub to_status: String,
    /// What was done.
    pub action: String,
    /// The note given.
    #[oai(nullable)]
    pub note: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

impl From<ActionRow> for ReportActionOut {
    fn from(a: ActionRow) -> Self {
        ReportActionOut {
            actor: a.actor,
            from_status: a.from_status,
            to_status: a.to_status,
            action: a.action,
            note: a.note,
            at: a.created_at,
        }
    }
}

/// A report with its target and the other reports on it.
#[derive(Debug, Clone, Object)]
pub struct ReportDetail {
    /// The report.
    pub report: ReportOut,
    /// Its target.
    pub target: TargetSummary,
    /// The other reports on the same target, newest first (at most 100).
    pub others: Vec<ReportOut>,
    /// Every change to this report, oldest first.
    pub history: Vec<ReportActionOut>,
}

/// A moderator's decision.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ReportPatch {
    /// The new status: `reviewing` from `open`, or `resolved` / `dismissed` from either.
    pub status: DecisionStatusDto,
    /// What to do about the target (default `none`).
    #[oai(nullable)]
    pub action: Option<ActionDto>,
    /// A private note for the moderators (at most 2,000 characters; never shown to the reporter).
    #[oai(
        nullable,
        validator(max_length = 2000),
        deserialize_with = "crate::endpoints::optional_text"
    )]
    pub note: Option<String>,
    /// Also close every other open report on the same target (with `resolved` or `dismissed`).
    #[oai(nullable)]
    pub apply_to_target: Option<bool>,
}

/// The reports a decision changed.
#[derive(Debug, Clone, Object)]
pub struct ReportDecided {
    /// The report asked for.
    pub report: ReportOut,
    /// The other reports on its target it closed (with `apply_to_target`).
    pub also_changed: Vec<Uuid>,
}

/// The filters of an export (those of the moderator list).
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ExportIn {
    /// Only reports in this status.
    #[oai(nullable)]
    pub status: Option<StatusDto>,
    /// Only reports for this reason.
    #[oai(nullable)]
    pub reason: Option<ReasonDto>,
    /// Only reports on this kind of target.
    #[oai(nullable)]
    pub target_type: Option<TargetTypeDto>,
    /// Only reports on this target id.
    #[oai(
        nullable,
        validator(min_length = 1, max_length = 200),
        deserialize_with = "crate::endpoints::optional_text"
    )]
    pub target_id: Option<String>,
    /// Only reports filed at or after this time.
    #[oai(nullable)]
    pub created_after: Option<DateTime<Utc>>,
    /// Only reports filed before this time.
    #[oai(nullable)]
    pub created_before: Option<DateTime<Utc>>,
}

/// A CSV export of reports.
#[derive(Debug, Clone, Object)]
pub struct ExportOut {
    /// The export id (its `report.export` job).
    pub id: Uuid,
    /// Its job's status.
    pub status: JobStatusDto,
    /// Percent of the rows written.
    pub progress: u8,
    /// Rows written, once done.
    #[oai(nullable)]
    pub rows: Option<u64>,
    /// Bytes of CSV, once done.
    #[oai(nullable)]
    pub bytes: Option<u64>,
    /// Where to download it, once done.
    #[oai(nullable)]
    pub download_url: Option<String>,
    /// Why it failed.
    #[oai(nullable)]
    pub error: Option<String>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When it finished.
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
}

/// Export outcomes.
#[derive(Debug, ApiResponse)]
pub enum ExportCreated {
    /// Queued as a `report.export` job.
    #[oai(status = 202)]
    Accepted(Json<ExportOut>, #[oai(header = "location")] String),
}

/// Download outcomes.
#[derive(Debug, ApiResponse)]
pub enum ExportDownload {
    /// The CSV (RFC 4180, header row first), streamed.
    #[oai(status = 200, content_type = "text/csv")]
    Ok(Binary<Body>, #[oai(header = "content-disposition")] String),
}

fn submit_error(e: SubmitError) -> ApiError {
    match e {
        e @ SubmitError::UnknownTarget(_) => {
            ApiError::unprocessable("unknown_target", e.to_string())
        }
        e @ SubmitError::SelfReport => ApiError::unprocessable("self_report", e.to_string()),
        SubmitError::Invalid(m) => ApiError::unprocessable("invalid_report", m),
        SubmitError::TooMany { retry_after, .. } => ApiError::too_many_requests(retry_after),
        SubmitError::Ledger(e) => e.into(),
    }
}

fn review_error(e: ReviewError) -> ApiError {
    match e {
        ReviewError::NotFound => ApiError::not_found("report"),
        ReviewError::Conflict(m) => ApiError::conflict_code("invalid_transition", m),
        ReviewError::Invalid(m) => ApiError::unprocessable("invalid_decision", m),
        ReviewError::Forbidden(m) => ApiError::forbidden(m),
        ReviewError::Identity(e) => e.into(),
        ReviewError::Media(e) => upload_err(e),
        ReviewError::Ledger(e) => e.into(),
    }
}

/// The list's cursor: `p:{priority}:{target}` or `a:{unix micros}:{target}`.
fn group_cursor(sort: Sort, cursor: Option<&str>) -> Result<Option<GroupCursor>, ApiError> {
    let Some(c) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let bad = || ApiError::bad_request("invalid_cursor", "cursor is not valid");
    let mut parts = c.splitn(3, ':');
    let (Some(kind), Some(key), Some(target)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let target: Uuid = target.parse().map_err(|_| bad())?;
    match (sort, kind) {
        (Sort::Priority, "p") => {
            let p: f64 = key.parse().map_err(|_| bad())?;
            if !p.is_finite() {
                return Err(bad());
            }
            Ok(Some(GroupCursor::Priority(p, target)))
        }
        (Sort::Age, "a") => {
            let micros: i64 = key.parse().map_err(|_| bad())?;
            let at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
            Ok(Some(GroupCursor::Age(at, target)))
        }
        _ => Err(bad()),
    }
}

fn next_group_cursor(sort: Sort, g: &repo::GroupRow) -> String {
    match sort {
        Sort::Priority => format!("p:{}:{}", g.priority, g.target_ref),
        Sort::Age => format!(
            "a:{}:{}",
            g.target_first_at.timestamp_micros(),
            g.target_ref
        ),
    }
}

/// The filters of the moderator list and of an export; 422 when the
/// created range is empty.
fn filter(f: ExportIn) -> Result<Filter, ApiError> {
    if let (Some(a), Some(b)) = (f.created_after, f.created_before)
        && a >= b
    {
        return Err(ApiError::unprocessable(
            "invalid_range",
            "created_after must be before created_before",
        ));
    }
    Ok(Filter {
        status: f.status.map(Into::into),
        reason: f.reason.map(Into::into),
        target_type: f.target_type.map(Into::into),
        target_id: f.target_id,
        created_after: f.created_after,
        created_before: f.created_before,
    })
}

async fn target_summary(app: &AppContext, t: TargetRow) -> Result<TargetSummary, ApiError> {
    let mut out = TargetSummary {
        target_type: t.target_type.into(),
        target_id: t.target_id.clone(),
        priority: t.priority,
        escalated_at: t.escalated_at,
        first_reported_at: t.first_reported_at,
        media: None,
        user: None,
    };
    let Ok(id) = t.target_id.parse::<Uuid>() else {
        return Ok(out);
    };
    match t.target_type {
        TargetType::Media => {
            if let Some(m) = media::repo::get(&app.db, id, None).await? {
                let thumb = m
                    .variants
                    .0
                    .iter()
                    .find(|v| v.preset == "thumb")
                    .or_else(|| m.variants.0.first())
                    .map(|v| media::variant_url(&app.config.public_url(), m.id, &v.name));
                out.media = Some(MediaSummary {
                    owner: m.owner,
                    status: m.status,
                    visibility: m.visibility,
                    hidden: m.hidden_at.is_some(),
                    thumbnail_url: thumb,
                });
            }
        }
        TargetType::User => {
            if let Some(u) = kiln_jobs::db::users::get(&app.db, id).await? {
                out.user = Some(UserSummary {
                    email: u.email,
                    role: u.role,
                    created_at: u.created_at,
                    disabled: u.disabled,
                });
            }
        }
        TargetType::External => {}
    }
    Ok(out)
}

/// An export's job, if the caller may see it.
async fn export_job(app: &AppContext, auth: &Auth, id: Uuid) -> Result<JobRun, ApiError> {
    let owner = (auth.principal().role != kiln_jobs::identity::Role::Admin)
        .then_some(auth.principal().subject.as_str());
    app.ledger
        .get(id, owner)
        .await?
        .filter(|j| export::is_export(&j.kind))
        .ok_or_else(|| ApiError::not_found("export"))
}

fn export_out(app: &AppContext, job: JobRun) -> ExportOut {
    let result = job.result.as_ref();
    let done = job.status == JobStatus::Succeeded;
    let number = |k: &str| {
        result
            .and_then(|r| r.get(k))
            .and_then(serde_json::Value::as_u64)
    };
    ExportOut {
        id: job.id,
        status: job.status.into(),
        progress: job.progress,
        rows: number("rows"),
        bytes: number("bytes"),
        download_url: done.then(|| {
            format!(
                "{}/v1/reports/exports/{}/download",
                app.config.public_url(),
                job.id
            )
        }),
        error: job.last_error,
        created_at: job.created_at,
        finished_at: job.finished_at,
    }
}

/// Content reports.
pub struct ReportsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Reports")]
impl ReportsApi {
    /// Report something
    ///
    /// Files a report on media you can see, an account (not your own), or an
    /// object of your own (`external`). A `report.triage` job then scores
    /// the target. You have at most one open report per target: repeating
    /// it answers 200 with that report. At most `reports.max_per_hour`
    /// reports an hour (429 with Retry-After). Any signed-in user (scope
    /// `reports:write`).
    #[oai(path = "/reports", method = "post", operation_id = "reports_create")]
    async fn create(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        body: Json<ReportIn>,
    ) -> Result<ReportCreated, ApiError> {
        let who = auth.principal();
        who.require_scope(Scope::ReportsWrite)?;
        let body = body.0;
        let filed = submit::submit(
            &app,
            &Filing {
                reporter: who.user_id()?,
                sees_all_media: who.role.may_moderate(),
                target_type: body.target_type.into(),
                target_id: body.target_id,
                reason: body.reason.into(),
                details: body.details,
            },
        )
        .await
        .map_err(submit_error)?;
        let location = format!("/v1/reports/mine/{}", filed.report.id);
        let out = Json(MyReportOut::from(filed.report));
        Ok(if filed.created {
            ReportCreated::Created(out, location)
        } else {
            ReportCreated::Existing(out, location)
        })
    }

    /// List your reports
    ///
    /// Newest first, with their status (scope `reports:read`).
    #[oai(path = "/reports/mine", method = "get", operation_id = "reports_mine")]
    async fn mine(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 64))]
        cursor: Query<Option<String>>,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<MyReportPage>, ApiError> {
        auth.principal().require_scope(Scope::ReportsRead)?;
        let me = auth.principal().user_id()?;
        let limit = limit.0.unwrap_or(50);
        let before = parse_cursor(cursor.0.as_deref())?;
        let rows = repo::mine(&app.db, me, before, limit + 1).await?;
        let (rows, next_cursor) = page(rows, limit, |r| r.id);
        Ok(Json(MyReportPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    /// Get one of your reports
    ///
    /// Someone else's report is not found (scope `reports:read`).
    #[oai(
        path = "/reports/mine/:id",
        method = "get",
        operation_id = "reports_mine_get"
    )]
    async fn mine_get(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<Json<MyReportOut>, ApiError> {
        auth.principal().require_scope(Scope::ReportsRead)?;
        let me = auth.principal().user_id()?;
        let r = repo::get(&app.db, id.0)
            .await?
            .filter(|r| r.reporter_id == me)
            .ok_or_else(|| ApiError::not_found("report"))?;
        Ok(Json(r.into()))
    }

    /// List reports, grouped by target
    ///
    /// The reports the filters select, one entry per target with their
    /// count and reasons, highest priority first or oldest target first,
    /// with cursor paging. Moderators and admins (scope `reports:moderate`).
    #[oai(path = "/reports", method = "get", operation_id = "reports_list")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        /// Only reports in this status.
        status: Query<Option<StatusDto>>,
        /// Only reports for this reason.
        reason: Query<Option<ReasonDto>>,
        /// Only reports on this kind of target.
        target_type: Query<Option<TargetTypeDto>>,
        /// Only reports on this target id.
        #[oai(validator(min_length = 1, max_length = 200))]
        target_id: Query<Option<String>>,
        /// Only reports filed at or after this time.
        created_after: Query<Option<DateTime<Utc>>>,
        /// Only reports filed before this time.
        created_before: Query<Option<DateTime<Utc>>>,
        /// `priority` (default) or `age`.
        sort: Query<Option<SortDto>>,
        /// `next_cursor` of the previous page (same filters and sort).
        #[oai(validator(max_length = 128))]
        cursor: Query<Option<String>>,
        /// Groups per page, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<ReportGroupPage>, ApiError> {
        auth.principal().require_scope(Scope::ReportsModerate)?;
        let filter = filter(ExportIn {
            status: status.0,
            reason: reason.0,
            target_type: target_type.0,
            target_id: target_id.0,
            created_after: created_after.0,
            created_before: created_before.0,
        })?;
        let sort = match sort.0 {
            Some(SortDto::Age) => Sort::Age,
            Some(SortDto::Priority) | None => Sort::Priority,
        };
        let after = group_cursor(sort, cursor.0.as_deref())?;
        let limit = limit.0.unwrap_or(50);
        let mut groups = repo::groups(&app.db, &filter, sort, after, limit + 1).await?;
        let next_cursor = if groups.len() > limit as usize {
            groups.truncate(limit as usize);
            groups.last().map(|g| next_group_cursor(sort, g))
        } else {
            None
        };
        let ids: Vec<Uuid> = groups.iter().map(|g| g.target_ref).collect();
        let targets = repo::targets(&app.db, &ids).await?;
        let reasons = repo::reasons(&app.db, &filter, &ids).await?;
        let mut items = Vec::with_capacity(groups.len());
        for g in groups {
            let Some((t, latest)) = targets.iter().find(|(t, _)| t.id == g.target_ref) else {
                continue;
            };
            let mut by_reason: Vec<ReasonCountOut> = reasons
                .iter()
                .filter(|r| r.target_ref == g.target_ref)
                .map(|r| ReasonCountOut {
                    reason: r.reason.into(),
                    reports: u64::try_from(r.reports).unwrap_or(0),
                })
                .collect();
            by_reason.sort_by_key(|r| std::cmp::Reverse(r.reports));
            items.push(ReportGroupOut {
                target_type: t.target_type.into(),
                target_id: t.target_id.clone(),
                priority: t.priority,
                reports: u64::try_from(g.reports).unwrap_or(0),
                reasons: by_reason,
                latest_report_id: *latest,
                escalated: t.escalated_at.is_some(),
                first_reported_at: t.first_reported_at,
                last_reported_at: g.last_created_at,
            });
        }
        Ok(Json(ReportGroupPage { items, next_cursor }))
    }

    /// Get a report
    ///
    /// The report, a summary of its target, the other reports on it and
    /// the report's history. Moderators and admins.
    #[oai(path = "/reports/:id", method = "get", operation_id = "reports_get")]
    async fn get(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<Json<ReportDetail>, ApiError> {
        auth.principal().require_scope(Scope::ReportsModerate)?;
        let r = repo::get(&app.db, id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("report"))?;
        let target = repo::target(&app.db, r.target_ref)
            .await?
            .ok_or_else(|| ApiError::internal(&"a report without its target"))?;
        let others = repo::on_target(&app.db, r.target_ref, 101)
            .await?
            .into_iter()
            .filter(|o| o.id != r.id)
            .take(100)
            .map(Into::into)
            .collect();
        let history = repo::actions(&app.db, r.id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(ReportDetail {
            report: r.into(),
            target: target_summary(&app, target).await?,
            others,
            history,
        }))
    }

    /// Decide on a report
    ///
    /// Moves it to `reviewing`, `resolved` or `dismissed` (409 for any
    /// other transition: a closed report stays closed), optionally acting
    /// on the target and for every open report on it. Every change is in
    /// the report's history; a closed report's reporter is emailed and
    /// gets `report.updated`. Moderators and admins.
    #[oai(
        path = "/reports/:id",
        method = "patch",
        operation_id = "reports_update"
    )]
    async fn update(
        &self,
        req: &Request,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
        body: Json<ReportPatch>,
    ) -> Result<Json<ReportDecided>, ApiError> {
        let who = auth.principal();
        who.require_scope(Scope::ReportsModerate)?;
        let by = Moderator {
            id: who.user_id()?,
            role: who.role,
        };
        let decision = Decision {
            status: body.status.into(),
            action: body.action.map_or(Action::None, Into::into),
            note: body.note.clone(),
            apply_to_target: body.apply_to_target.unwrap_or(false),
        };
        let mut changed = review::decide(&app, id.0, by, &decision, &audit_entry(req))
            .await
            .map_err(review_error)?
            .into_iter();
        let report = changed
            .next()
            .ok_or_else(|| ApiError::internal(&"a decision that changed nothing"))?;
        Ok(Json(ReportDecided {
            report: report.into(),
            also_changed: changed.map(|r| r.id).collect(),
        }))
    }

    /// Export reports as CSV
    ///
    /// Queues a `report.export` job for the reports the filters select and
    /// answers 202; poll the export, then download it. Moderators and admins.
    #[oai(
        path = "/reports/exports",
        method = "post",
        operation_id = "reports_export"
    )]
    async fn export(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        body: Json<ExportIn>,
    ) -> Result<ExportCreated, ApiError> {
        auth.principal().require_scope(Scope::ReportsModerate)?;
        let filter = filter(body.0)?;
        let out = export::enqueue(&app, &auth.principal().subject, filter).await?;
        let job = out.job().clone();
        let location = format!("/v1/reports/exports/{}", job.id);
        Ok(ExportCreated::Accepted(
            Json(export_out(&app, job)),
            location,
        ))
    }

    /// Get an export
    ///
    /// Its status and progress, and once done its row count and download
    /// URL. Your own exports (admins: all).
    #[oai(
        path = "/reports/exports/:id",
        method = "get",
        operation_id = "reports_export_get"
    )]
    async fn export_get(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<Json<ExportOut>, ApiError> {
        auth.principal().require_scope(Scope::ReportsModerate)?;
        let job = export_job(&app, &auth, id.0).await?;
        Ok(Json(export_out(&app, job)))
    }

    /// Download an export
    ///
    /// The CSV, streamed; 409 until the export has succeeded.
    #[oai(
        path = "/reports/exports/:id/download",
        method = "get",
        operation_id = "reports_export_download"
    )]
    async fn export_download(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<ExportDownload, ApiError> {
        auth.principal().require_scope(Scope::ReportsModerate)?;
        let job = export_job(&app, &auth, id.0).await?;
        if job.status != JobStatus::Succeeded {
            return Err(ApiError::conflict_code(
                "export_not_ready",
                format!("the export is {}", job.status.as_str()),
            ));
        }
        let stream = app
            .storage
            .get_stream(&kiln_jobs::reports::export_key(job.id))
            .await
            .map_err(object_err("export file"))?;
        let body = Body::from_bytes_stream(stream.map_err(std::io::Error::other));
        Ok(ExportDownload::Ok(
            Binary(body),
            format!("attachment; filename=\"reports-{}.csv\"", job.id),
        ))
    }
}
