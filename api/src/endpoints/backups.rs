//! `/v1/backups` and `/v1/backup-schedules`: database backups for operators
//! and admins (scope `backups:admin`): run one now, list, download and
//! delete them, and schedule them with cron expressions and retention.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use poem::{Body, web::Data};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Header, Path, Query},
    payload::{Binary, Json},
};
use uuid::Uuid;

use kiln_jobs::{
    AppContext,
    backups::{
        BackupStatus, Trigger, VerifyStatus,
        repo::{self, BackupRow},
        retention::Policy,
        run::{self, Request, RequestError},
        schedule::Schedule,
        schedules::{self, Fields, ScheduleRow},
    },
};

use crate::{
    ApiTags, Scope,
    auth::Auth,
    endpoints::{auth::NoContent, object_err, page, parse_cursor},
    error::ApiError,
};

/// Where a backup is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "BackupStatus", rename_all = "lowercase")]
pub enum BackupStatusDto {
    /// Waiting for its job.
    Queued,
    /// Being dumped and uploaded.
    Running,
    /// Stored with its manifest.
    Succeeded,
    /// Failed for good; `error` says why.
    Failed,
}

/// Who asked for a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "BackupTrigger", rename_all = "lowercase")]
pub enum TriggerDto {
    /// An operator.
    Manual,
    /// A schedule's tick.
    Schedule,
}

/// What a backup's verification found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "BackupVerifyStatus", rename_all = "snake_case")]
pub enum VerifyStatusDto {
    /// Restored into a scratch database; row counts and schema match.
    Passed,
    /// The checksum, the restore or the comparison failed.
    Failed,
    /// Encrypted, and the workers hold no identity: only the checksum was checked.
    ChecksumOnly,
}

/// Which database a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "BackupDatabase", rename_all = "lowercase")]
pub enum DatabaseDto {
    /// A `pg_dump` custom-format archive.
    Postgres,
    /// A SQLite database file.
    Sqlite,
}

/// A database backup.
#[derive(Debug, Clone, Object)]
pub struct BackupOut {
    /// The backup id.
    pub id: Uuid,
    /// Who asked for it.
    pub trigger: TriggerDto,
    /// The schedule that made it.
    #[oai(nullable)]
    pub schedule_id: Option<Uuid>,
    /// Its `backup.run` job.
    #[oai(nullable)]
    pub job_id: Option<Uuid>,
    /// The user who asked, or `system`.
    pub requested_by: String,
    /// Where it is.
    pub status: BackupStatusDto,
    /// The database it holds.
    pub database: DatabaseDto,
    /// Encrypted to the configured age recipients.
    pub encrypted: bool,
    /// Kept until deleted (manual backups); false: its schedule's retention prunes it.
    pub keep: bool,
    /// Object key of the dump in storage.
    #[oai(nullable)]
    pub location: Option<String>,
    /// Stored bytes.
    #[oai(nullable)]
    pub size_bytes: Option<i64>,
    /// Bytes of the dump before compression.
    #[oai(nullable)]
    pub source_bytes: Option<i64>,
    /// Hex SHA-256 of the stored bytes (what the download sends).
    #[oai(nullable)]
    pub sha256: Option<String>,
    /// Attempts of its job so far.
    pub attempts: i32,
    /// Why it failed (or why the last attempt did).
    #[oai(nullable)]
    pub error: Option<String>,
    /// The outcome of its verification, once run.
    #[oai(nullable, skip_serializing_if_is_none)]
    pub verify_status: Option<VerifyStatusDto>,
    /// Why its verification failed.
    #[oai(nullable)]
    pub verify_error: Option<String>,
    /// When a restore of it last matched its manifest.
    #[oai(nullable)]
    pub verified_at: Option<DateTime<Utc>>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When its latest attempt started.
    #[oai(nullable)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it was stored or failed.
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<BackupRow> for BackupOut {
    fn from(r: BackupRow) -> Self {
        BackupOut {
            id: r.id,
            trigger: match r.trigger {
                Trigger::Manual => TriggerDto::Manual,
                Trigger::Schedule => TriggerDto::Schedule,
            },
            schedule_id: r.schedule_id,
            job_id: r.job_id,
            requested_by: r.requested_by.clone(),
            status: match r.status {
                BackupStatus::Queued => BackupStatusDto::Queued,
                BackupStatus::Running => BackupStatusDto::Running,
                BackupStatus::Succeeded => BackupStatusDto::Succeeded,
                BackupStatus::Failed => BackupStatusDto::Failed,
            },
            database: if r.database_kind == "postgres" {
                DatabaseDto::Postgres
            } else {
                DatabaseDto::Sqlite
            },
            encrypted: r.encrypted,
            keep: r.keep,
            verify_status: r.verify().map(|v| match v {
                VerifyStatus::Passed => VerifyStatusDto::Passed,
                VerifyStatus::Failed => VerifyStatusDto::Failed,
                VerifyStatus::ChecksumOnly => VerifyStatusDto::ChecksumOnly,
            }),
            location: r.location,
            size_bytes: r.size_bytes,
            source_bytes: r.source_bytes,
            sha256: r.sha256,
            attempts: r.attempts,
            error: r.error,
            verify_error: r.verify_error,
            verified_at: r.verified_at,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}

/// A backup to run now.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct BackupIn {
    /// Encrypt to the configured age recipients (default: when recipients are configured).
    #[oai(nullable)]
    pub encrypted: Option<bool>,
}

/// A queued backup.
#[derive(Debug, Clone, Object)]
pub struct BackupAccepted {
    /// The backup (`queued`).
    pub backup: BackupOut,
    /// Its `backup.run` job; poll `GET /v1/jobs/{job_id}` or the backup.
    pub job_id: Uuid,
}

/// Run-now outcomes.
#[derive(Debug, ApiResponse)]
pub enum BackupCreated {
    /// Queued: a worker on the `backups` queue makes it.
    #[oai(status = 202)]
    Accepted(Json<BackupAccepted>, #[oai(header = "location")] String),
    /// The idempotency key was used before: the earlier backup.
    #[oai(status = 200)]
    Existing(Json<BackupAccepted>, #[oai(header = "location")] String),
}

/// A page of backups, newest first.
#[derive(Debug, Clone, Object)]
pub struct BackupPage {
    /// The backups.
    pub items: Vec<BackupOut>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// Download outcomes.
#[derive(Debug, ApiResponse)]
pub enum BackupDownload {
    /// The stored bytes, streamed (zstd, age-encrypted when `encrypted`).
    #[oai(status = 200, content_type = "application/octet-stream")]
    Ok(
        Binary<Body>,
        #[oai(header = "content-disposition")] String,
        /// Hex SHA-256 of the body, as the backup recorded it.
        #[oai(header = "x-backup-sha256")]
        String,
        /// Strong ETag: the SHA-256.
        #[oai(header = "etag")]
        String,
    ),
}

/// A new schedule.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ScheduleIn {
    /// A name for operators, e.g. `nightly`.
    #[oai(
        validator(min_length = 1, max_length = 100),
        deserialize_with = "crate::endpoints::text"
    )]
    pub name: String,
    /// Cron expression: five fields, or six with seconds first (`0 30 2 * * *`).
    #[oai(
        validator(min_length = 1, max_length = 200),
        deserialize_with = "crate::endpoints::text"
    )]
    pub cron: String,
    /// IANA time zone the expression is read in (default `UTC`).
    #[oai(
        nullable,
        validator(min_length = 1, max_length = 64),
        deserialize_with = "crate::endpoints::optional_text"
    )]
    pub timezone: Option<String>,
    /// Keep the newest backup of each of this many days (default 7).
    #[oai(nullable, validator(maximum(value = "1000")))]
    pub keep_daily: Option<u32>,
    /// Keep the newest backup of each of this many ISO weeks (default 4).
    #[oai(nullable, validator(maximum(value = "1000")))]
    pub keep_weekly: Option<u32>,
    /// Keep the newest backup of each of this many months (default 12).
    #[oai(nullable, validator(maximum(value = "1000")))]
    pub keep_monthly: Option<u32>,
    /// Encrypt its backups (default: when recipients are configured).
    #[oai(nullable)]
    pub encrypted: Option<bool>,
    /// Whether it runs (default true).
    #[oai(nullable)]
    pub enabled: Option<bool>,
}

/// Changes to a schedule; absent fields stay as they are.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct SchedulePatch {
    /// A name for operators.
    #[oai(
        nullable,
        validator(min_length = 1, max_length = 100),
        deserialize_with = "crate::endpoints::optional_text"
    )]
    pub name: Option<String>,
    /// Cron expression: five fields, or six with seconds first.
    #[oai(
        nullable,
        validator(min_length = 1, max_length = 200),
        deserialize_with = "crate::endpoints::optional_text"
    )]
    pub cron: Option<String>,
    /// IANA time zone.
    #[oai(
        nullable,
        validator(min_length = 1, max_length = 64),
        deserialize_with = "crate::endpoints::optional_text"
    )]
    pub timezone: Option<String>,
    /// Days to keep.
    #[oai(nullable, validator(maximum(value = "1000")))]
    pub keep_daily: Option<u32>,
    /// ISO weeks to keep.
    #[oai(nullable, validator(maximum(value = "1000")))]
    pub keep_weekly: Option<u32>,
    /// Months to keep.
    #[oai(nullable, validator(maximum(value = "1000")))]
    pub keep_monthly: Option<u32>,
    /// Encrypt its backups.
    #[oai(nullable)]
    pub encrypted: Option<bool>,
    /// Whether it runs.
    #[oai(nullable)]
    pub enabled: Option<bool>,
}

/// A backup schedule.
#[derive(Debug, Clone, Object)]
pub struct ScheduleOut {
    /// The schedule id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Cron expression.
    pub cron: String,
    /// IANA time zone.
    pub timezone: String,
    /// Days kept.
    pub keep_daily: u32,
    /// ISO weeks kept.
    pub keep_weekly: u32,
    /// Months kept.
    pub keep_monthly: u32,
    /// Its backups are encrypted.
    pub encrypted: bool,
    /// Whether it runs.
    pub enabled: bool,
    /// When its next backup is due (absent when disabled).
    #[oai(nullable)]
    pub next_run_at: Option<DateTime<Utc>>,
    /// The latest tick a scheduler queued.
    #[oai(nullable)]
    pub last_tick_at: Option<DateTime<Utc>>,
    /// Its newest backup.
    #[oai(nullable, skip_serializing_if_is_none)]
    pub last_backup: Option<BackupOut>,
    /// Who created it.
    pub created_by: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Every schedule.
#[derive(Debug, Clone, Object)]
pub struct ScheduleList {
    /// The schedules, oldest first.
    pub items: Vec<ScheduleOut>,
}

/// A created schedule.
#[derive(Debug, ApiResponse)]
pub enum ScheduleCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<ScheduleOut>, #[oai(header = "location")] String),
}

fn request_error(e: RequestError) -> ApiError {
    match e {
        e @ RequestError::NoRecipients => ApiError::unprocessable("no_recipients", e.to_string()),
        RequestError::Ledger(e) => e.into(),
    }
}

/// Checks a cron expression and time zone: 422 naming the field at fault.
fn check_schedule(cron: &str, timezone: &str) -> Result<Schedule, ApiError> {
    Schedule::parse(cron, timezone).map_err(|e| {
        ApiError::unprocessable(
            &format!("invalid_{}", e.field()),
            format!("{}: {e}", e.field()),
        )
    })
}

async fn schedule_out(app: &AppContext, row: ScheduleRow) -> Result<ScheduleOut, ApiError> {
    let next_run_at = if row.enabled {
        row.schedule()
            .ok()
            .and_then(|s| s.next_after(row.last_tick_at.unwrap_or(row.created_at).max(Utc::now())))
    } else {
        None
    };
    let last_backup = repo::latest_for_schedule(&app.db, row.id)
        .await?
        .map(Into::into);
    let policy = row.policy();
    Ok(ScheduleOut {
        id: row.id,
        name: row.name,
        cron: row.cron,
        timezone: row.timezone,
        keep_daily: policy.daily,
        keep_weekly: policy.weekly,
        keep_monthly: policy.monthly,
        encrypted: row.encrypted,
        enabled: row.enabled,
        next_run_at,
        last_tick_at: row.last_tick_at,
        last_backup,
        created_by: row.created_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn default_encrypted(app: &AppContext) -> bool {
    !app.config.backups.recipients.is_empty()
}

fn check_encryption(app: &AppContext, encrypted: bool) -> Result<(), ApiError> {
    if encrypted && !default_encrypted(app) {
        return Err(request_error(RequestError::NoRecipients));
    }
    Ok(())
}

async fn backup(app: &AppContext, id: Uuid) -> Result<BackupRow, ApiError> {
    repo::get(&app.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("backup"))
}

/// Backups and their schedules.
pub struct BackupsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Backups")]
impl BackupsApi {
    /// Back up the database now
    ///
    /// Queues a `backup.run` job on the `backups` queue and answers 202 with
    /// the backup. Manual backups are kept until deleted. With an
    /// `Idempotency-Key` header, repeating the request returns the first
    /// backup (200). Operators and admins (scope `backups:admin`).
    #[oai(path = "/backups", method = "post", operation_id = "backups_create")]
    async fn create(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        /// Makes the request idempotent for this caller (1–200 characters).
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 200))]
        idempotency_key: Header<Option<String>>,
        body: Json<BackupIn>,
    ) -> Result<BackupCreated, ApiError> {
        auth.principal().require_scope(Scope::BackupsAdmin)?;
        let encrypted = body.encrypted.unwrap_or_else(|| default_encrypted(&app));
        let req = Request {
            trigger: Trigger::Manual,
            schedule_id: None,
            requested_by: auth.principal().subject.clone(),
            encrypted,
            idempotency_key: idempotency_key.0.map(|k| format!("backup:{k}")),
        };
        let made = run::enqueue(&app, &req).await.map_err(request_error)?;
        let job_id = made.backup.job_id.unwrap_or_default();
        let location = format!("/v1/backups/{}", made.backup.id);
        let body = Json(BackupAccepted {
            backup: made.backup.into(),
            job_id,
        });
        Ok(if made.created {
            BackupCreated::Accepted(body, location)
        } else {
            BackupCreated::Existing(body, location)
        })
    }

    /// List backups
    ///
    /// Newest first, with cursor paging. Operators and admins.
    #[oai(path = "/backups", method = "get", operation_id = "backups_list")]
    async fn list(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        /// Only this schedule's backups.
        schedule_id: Query<Option<Uuid>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 64))]
        cursor: Query<Option<String>>,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<BackupPage>, ApiError> {
        auth.principal().require_scope(Scope::BackupsAdmin)?;
        let limit = limit.0.unwrap_or(50);
        let before = parse_cursor(cursor.0.as_deref())?;
        let rows = repo::list(&app.db, before, schedule_id.0, limit + 1).await?;
        let (rows, next_cursor) = page(rows, limit, |r| r.id);
        Ok(Json(BackupPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    /// Get a backup
    ///
    /// Operators and admins.
    #[oai(path = "/backups/:id", method = "get", operation_id = "backups_get")]
    async fn get(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<Json<BackupOut>, ApiError> {
        auth.principal().require_scope(Scope::BackupsAdmin)?;
        Ok(Json(backup(&app, id.0).await?.into()))
    }

    /// Download a backup
    ///
    /// Streams the stored bytes as they are (zstd; age-encrypted when the
    /// backup is), never buffered; `x-backup-sha256` is their SHA-256.
    /// Restore it with `kiln backup restore <file>`, with its manifest
    /// (`…/manifest`) beside it. 409 until the backup is stored. Operators
    /// and admins.
    #[oai(
        path = "/backups/:id/download",
        method = "get",
        operation_id = "backups_download"
    )]
    async fn download(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<BackupDownload, ApiError> {
        auth.principal().require_scope(Scope::BackupsAdmin)?;
        let row = backup(&app, id.0).await?;
        let (Some(key), Some(sha256), BackupStatus::Succeeded) =
            (row.location.clone(), row.sha256.clone(), row.status)
        else {
            return Err(ApiError::conflict_code(
                "backup_not_stored",
                format!(
                    "the backup is {}; only a stored backup can be downloaded",
                    row.status
                ),
            ));
        };
        let stream = app
            .storage
            .get_stream(&key)
            .await
            .map_err(object_err("backup object"))?;
        let name = key.rsplit('/').next().unwrap_or("backup").to_owned();
        Ok(BackupDownload::Ok(
            Binary(Body::from_bytes_stream(
                stream.map_err(std::io::Error::other),
            )),
            format!("attachment; filename=\"{name}\""),
            sha256.clone(),
            format!("\"{sha256}\""),
        ))
    }

    /// Get a backup's manifest
    ///
    /// The JSON manifest stored beside the dump: format, sizes, checksum,
    /// versions, row counts per table and the media objects at the time.
    /// Save it beside a downloaded dump as `<id>.manifest.json`. Operators
    /// and admins.
    #[oai(
        path = "/backups/:id/manifest",
        method = "get",
        operation_id = "backups_manifest"
    )]
    async fn manifest(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<Json<serde_json::Value>, ApiError> {
        auth.principal().require_scope(Scope::BackupsAdmin)?;
        let row = backup(&app, id.0).await?;
        let Some(key) = row
            .location
            .filter(|_| row.status == BackupStatus::Succeeded)
        else {
            return Err(ApiError::conflict_code(
                "backup_not_stored",
                format!(
                    "the backup is {}; only a stored backup has a manifest",
                    row.status
                ),
            ));
        };
        let bytes = app
            .storage
            .get(&kiln_jobs::backups::manifest_key(&key))
            .await
            .map_err(object_err("backup manifest"))?;
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::internal(&format_args!("stored manifest: {e}")))?;
        Ok(Json(value))
    }

    /// Delete a backup
    ///
    /// Removes its objects and its row. 409 while it is running. Operators
    /// and admins.
    #[oai(
        path = "/backups/:id",
        method = "delete",
        operation_id = "backups_delete"
    )]
    async fn delete(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        auth.principal().require_scope(Scope::BackupsAdmin)?;
        let row = backup(&app, id.0).await?;
        if matches!(row.status, BackupStatus::Queued | BackupStatus::Running) {
            return Err(ApiError::conflict_code(
                "backup_in_progress",
                format!(
                    "the backup is {}; delete it once it has finished",
                    row.status
                ),
            ));
        }
        run::delete_backup(&app, &row)
            .await
            .map_err(|e| ApiError::unavailable("object storage", &format_args!("{e:#}")))?;
        Ok(NoContent::Done)
    }

    /// Create a backup schedule
    ///
    /// Every worker runs the scheduler; each tick makes one backup, however
    /// many replicas run. A bad cron expression or time zone is 422 naming
    /// the field (`invalid_cron`, `invalid_timezone`). Operators and admins.
    #[oai(
        path = "/backup-schedules",
        method = "post",
        operation_id = "backup_schedules_create"
    )]
    async fn create_schedule(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        body: Json<ScheduleIn>,
    ) -> Result<ScheduleCreated, ApiError> {
        auth.principal().require_scope(Scope::BackupsAdmin)?;
        let body = body.0;
        let timezone = body.timezone.unwrap_or_else(|| "UTC".to_owned());
        check_schedule(&body.cron, &timezone)?;
        let defaults = Policy::default();
        let encrypted = body.encrypted.unwrap_or_else(|| default_encrypted(&app));
        check_encryption(&app, encrypted)?;
        let fields = Fields {
            name: body.name,
            cron: body.cron,
            timezone,
            policy: Policy {
                daily: body.keep_daily.unwrap_or(defaults.daily),
                weekly: body.keep_weekly.unwrap_or(defaults.weekly),
                monthly: body.keep_monthly.unwrap_or(defaults.monthly),
            },
            encrypted,
            enabled: body.enabled.unwrap_or(true),
        };
        check_policy(fields.policy)?;
        let row = schedules::insert(
            &app.db,
            Uuid::now_v7(),
            &fields,
            &auth.principal().subject,
            Utc::now(),
        )
        .await?;
        let location = format!("/v1/backup-schedules/{}", row.id);
        Ok(ScheduleCreated::Created(
            Json(schedule_out(&app, row).await?),
            location,
        ))
    }

    /// List backup schedules
    ///
    /// Operators and admins.
    #[oai(
        path = "/backup-schedules",
        method = "get",
        operation_id = "backup_schedules_list"
    )]
    async fn list_schedules(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
    ) -> Result<Json<ScheduleList>, ApiError> {
        auth.principal().require_scope(Scope::BackupsAdmin)?;
        let mut items = Vec::new();
        for row in schedules::list(&app.db).await? {
            items.push(schedule_out(&app, row).await?);
        }
        Ok(Json(ScheduleList { items }))
    }

    /// Get a backup schedule
    ///
    /// With its next run and its newest backup. Operators and admins.
    #[oai(
        path = "/backup-schedules/:id",
        method = "get",
        operation_id = "backup_schedules_get"
    )]
    async fn get_schedule(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<Json<ScheduleOut>, ApiError> {
        auth.principal().require_scope(Scope::BackupsAdmin)?;
        let row = schedules::get(&app.db, id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("backup schedule"))?;
        Ok(Json(schedule_out(&app, row).await?))
    }

    /// Change a backup schedule
    ///
    /// A changed expression or time zone, or a schedule enabled again, counts
    /// from now: missed ticks are not made up for. Operators and admins.
    #[oai(
        path = "/backup-schedules/:id",
        method = "patch",
        operation_id = "backup_schedules_update"
    )]
    async fn update_schedule(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
        body: Json<SchedulePatch>,
    ) -> Result<Json<ScheduleOut>, ApiError> {
        auth.principal().require_scope(Scope::BackupsAdmin)?;
        let row = schedules::get(&app.db, id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("backup schedule"))?;
        let body = body.0;
        let old = row.policy();
        let fields = Fields {
            name: body.name.unwrap_or(row.name),
            cron: body.cron.unwrap_or(row.cron),
            timezone: body.timezone.unwrap_or(row.timezone),
            policy: Policy {
                daily: body.keep_daily.unwrap_or(old.daily),
                weekly: body.keep_weekly.unwrap_or(old.weekly),
                monthly: body.keep_monthly.unwrap_or(old.monthly),
            },
            encrypted: body.encrypted.unwrap_or(row.encrypted),
            enabled: body.enabled.unwrap_or(row.enabled),
        };
        check_schedule(&fields.cron, &fields.timezone)?;
        check_policy(fields.policy)?;
        if body.encrypted == Some(true) {
            check_encryption(&app, true)?;
        }
        let row = schedules::update(&app.db, id.0, &fields, Utc::now())
            .await?
            .ok_or_else(|| ApiError::not_found("backup schedule"))?;
        Ok(Json(schedule_out(&app, row).await?))
    }

    /// Delete a backup schedule
    ///
    /// Its backups stay, kept until deleted one by one. Operators and admins.
    #[oai(
        path = "/backup-schedules/:id",
        method = "delete",
        operation_id = "backup_schedules_delete"
    )]
    async fn delete_schedule(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        auth.principal().require_scope(Scope::BackupsAdmin)?;
        if !schedules::delete(&app.db, id.0).await? {
            return Err(ApiError::not_found("backup schedule"));
        }
        Ok(NoContent::Done)
    }
}

fn check_policy(policy: Policy) -> Result<(), ApiError> {
    policy
        .validate()
        .map_err(|e| ApiError::unprocessable("invalid_retention", e))
}
