//! Backup schedules: their repository (`backup_schedules`) and the tick the
//! scheduler in every worker runs ([`tick`]).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Trigger,
    retention::Policy,
    run::{self, Request, RequestError},
    schedule::{Schedule, tick_key},
};
use crate::{context::AppContext, db::Db, on_db};

/// A `backup_schedules` row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScheduleRow {
    pub id: Uuid,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub keep_daily: i32,
    pub keep_weekly: i32,
    pub keep_monthly: i32,
    pub encrypted: bool,
    pub enabled: bool,
    pub last_tick_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ScheduleRow {
    /// The parsed cron expression and time zone.
    pub fn schedule(&self) -> Result<Schedule, super::schedule::ScheduleError> {
        Schedule::parse(&self.cron, &self.timezone)
    }

    /// The retention policy.
    pub fn policy(&self) -> Policy {
        let n = |v: i32| u32::try_from(v).unwrap_or(0);
        Policy {
            daily: n(self.keep_daily),
            weekly: n(self.keep_weekly),
            monthly: n(self.keep_monthly),
        }
    }
}

const COLUMNS: &str = "id, name, cron, timezone, keep_daily, keep_weekly, keep_monthly, \
                       encrypted, enabled, last_tick_at, created_by, created_at, updated_at";

/// The fields of a schedule an operator sets.
#[derive(Debug, Clone)]
pub struct Fields {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub policy: Policy,
    pub encrypted: bool,
    pub enabled: bool,
}

fn clamp(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Inserts a schedule. Its first tick is the first one after `now`.
pub async fn insert(
    db: &Db,
    id: Uuid,
    f: &Fields,
    created_by: &str,
    now: DateTime<Utc>,
) -> Result<ScheduleRow, sqlx::Error> {
    let sql = format!(
        "INSERT INTO backup_schedules (id, name, cron, timezone, keep_daily, keep_weekly, \
         keep_monthly, encrypted, enabled, last_tick_at, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, $10) RETURNING {COLUMNS}"
    );
    on_db!(db, p => sqlx::query_as::<_, ScheduleRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(&f.name)
        .bind(&f.cron)
        .bind(&f.timezone)
        .bind(clamp(f.policy.daily))
        .bind(clamp(f.policy.weekly))
        .bind(clamp(f.policy.monthly))
        .bind(f.encrypted)
        .bind(f.enabled)
        .bind(now)
        .bind(created_by)
        .fetch_one(p)
        .await)
}

/// One schedule.
pub async fn get(db: &Db, id: Uuid) -> Result<Option<ScheduleRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM backup_schedules WHERE id = $1");
    on_db!(db, p => sqlx::query_as::<_, ScheduleRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// Every schedule, oldest first.
pub async fn list(db: &Db) -> Result<Vec<ScheduleRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM backup_schedules ORDER BY id");
    on_db!(db, p => sqlx::query_as::<_, ScheduleRow>(sqlx::AssertSqlSafe(sql))
        .fetch_all(p)
        .await)
}

/// Replaces a schedule's fields. A changed cron expression or time zone, or
/// a re-enabled schedule, starts from `now`: ticks from before are not made
/// up for.
pub async fn update(
    db: &Db,
    id: Uuid,
    f: &Fields,
    now: DateTime<Utc>,
) -> Result<Option<ScheduleRow>, sqlx::Error> {
    let sql = format!(
        "UPDATE backup_schedules SET \
         last_tick_at = CASE WHEN cron <> $3 OR timezone <> $4 OR (NOT enabled AND $9) \
                        THEN $10 ELSE last_tick_at END, \
         name = $2, cron = $3, timezone = $4, keep_daily = $5, keep_weekly = $6, \
         keep_monthly = $7, encrypted = $8, enabled = $9, updated_at = $10 \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    on_db!(db, p => sqlx::query_as::<_, ScheduleRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(&f.name)
        .bind(&f.cron)
        .bind(&f.timezone)
        .bind(clamp(f.policy.daily))
        .bind(clamp(f.policy.weekly))
        .bind(clamp(f.policy.monthly))
        .bind(f.encrypted)
        .bind(f.enabled)
        .bind(now)
        .fetch_optional(p)
        .await)
}

/// Deletes a schedule; its backups stay (unscheduled, kept until deleted).
pub async fn delete(db: &Db, id: Uuid) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query("DELETE FROM backup_schedules WHERE id = $1")
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Moves a schedule's last tick forward to `tick` (never back).
async fn advance(db: &Db, id: Uuid, tick: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let sql = "UPDATE backup_schedules SET last_tick_at = $2 \
               WHERE id = $1 AND (last_tick_at IS NULL OR last_tick_at < $2)";
    on_db!(db, p => sqlx::query(sql).bind(id).bind(tick).execute(p).await.map(|_| ()))
}

/// One look at every enabled schedule: each whose next tick has come gets
/// its backup, under the idempotency key `schedule:{id}:{tick}`, so every
/// replica that sees the same tick makes the same one backup. Ticks missed
/// while no worker ran collapse into the latest one. Returns the backups
/// this call created.
pub async fn tick(app: &AppContext, now: DateTime<Utc>) -> Result<Vec<Uuid>, RequestError> {
    let mut created = Vec::new();
    for row in list(&app.db).await? {
        if !row.enabled {
            continue;
        }
        let schedule = match row.schedule() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(schedule_id = %row.id, error = %e, "a stored schedule does not parse");
                continue;
            }
        };
        let last = row.last_tick_at.unwrap_or(row.created_at);
        let Some(tick) = schedule.due(last, now) else {
            continue;
        };
        let req = Request {
            trigger: Trigger::Schedule,
            schedule_id: Some(row.id),
            requested_by: "system".to_owned(),
            encrypted: row.encrypted,
            idempotency_key: Some(tick_key(row.id, tick)),
        };
        match run::enqueue(app, &req).await {
            Ok(r) => {
                if r.created {
                    tracing::info!(schedule_id = %row.id, %tick, backup_id = %r.backup.id, "scheduled backup queued");
                    created.push(r.backup.id);
                }
            }
            Err(RequestError::NoRecipients) => {
                tracing::error!(schedule_id = %row.id, "the schedule asks for encrypted backups and backups.recipients is empty; tick skipped");
            }
            Err(e) => return Err(e),
        }
        advance(&app.db, row.id, tick).await?;
    }
    Ok(created)
}
