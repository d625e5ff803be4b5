//! Repository for content reports: `report_targets` (one row per thing
//! reported, holding its priority), `reports` (each carrying a copy of its
//! target's priority and first-report time, so the moderator list reads an
//! index in order) and `report_actions` (the audit trail, written in the
//! same transaction as the change it records).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Action, Filter, Reason, ReportStatus, TargetType};
use crate::{
    db::{Db, DbTx},
    on_db, on_tx,
};

/// A `reports` row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReportRow {
    pub id: Uuid,
    pub target_ref: Uuid,
    #[sqlx(try_from = "String")]
    pub target_type: TargetType,
    pub target_id: String,
    pub reporter_id: Uuid,
    pub reporter_new: bool,
    #[sqlx(try_from = "String")]
    pub reason: Reason,
    pub details: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: ReportStatus,
    pub priority: f64,
    pub target_first_at: DateTime<Utc>,
    pub action: Option<String>,
    pub note: Option<String>,
    pub reviewed_by: Option<String>,
    pub triage_job_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl ReportRow {
    /// The action taken, if any this version knows.
    pub fn action(&self) -> Option<Action> {
        self.action.as_deref().and_then(|a| a.parse().ok())
    }
}

pub(crate) const COLUMNS: &str = "id, target_ref, target_type, target_id, reporter_id, \
    reporter_new, reason, details, status, priority, target_first_at, action, note, \
    reviewed_by, triage_job_id, created_at, updated_at, closed_at";

/// A `report_targets` row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TargetRow {
    pub id: Uuid,
    #[sqlx(try_from = "String")]
    pub target_type: TargetType,
    pub target_id: String,
    pub target_owner: Option<String>,
    pub priority: f64,
    pub escalated_at: Option<DateTime<Utc>>,
    pub first_reported_at: DateTime<Utc>,
    pub last_reported_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const TARGET_COLUMNS: &str = "id, target_type, target_id, target_owner, priority, escalated_at, \
                              first_reported_at, last_reported_at, updated_at";

/// A `report_actions` row: one change to one report.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActionRow {
    pub id: Uuid,
    pub report_id: Uuid,
    /// A user id, or `system` (triage).
    pub actor: String,
    pub from_status: String,
    pub to_status: String,
    pub action: String,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Serialises the reports of one reporter on PostgreSQL (the hourly limit
/// and the one-open-report rule are checked inside the transaction). On
/// SQLite the transaction's first write already serialises every writer.
pub async fn lock_reporter(tx: &mut DbTx, reporter: Uuid) -> Result<(), sqlx::Error> {
    if let DbTx::Postgres(t) = tx {
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended('kiln.report:' || $1::text, 0))",
        )
        .bind(reporter)
        .execute(&mut **t)
        .await?;
    }
    Ok(())
}

/// The row of a target, created at its first report; `last_reported_at`
/// moves on. The write comes first in the transaction, so on SQLite the
/// count that follows sees every committed report.
pub async fn upsert_target(
    tx: &mut DbTx,
    target_type: TargetType,
    target_id: &str,
    owner: Option<&str>,
    now: DateTime<Utc>,
) -> Result<TargetRow, sqlx::Error> {
    let sql = format!(
        "INSERT INTO report_targets (id, target_type, target_id, target_owner, priority, \
         first_reported_at, last_reported_at, updated_at) VALUES ($1, $2, $3, $4, 0, $5, $5, $5) \
         ON CONFLICT (target_type, target_id) DO UPDATE SET last_reported_at = excluded.last_reported_at \
         RETURNING {TARGET_COLUMNS}"
    );
    on_tx!(tx, t => sqlx::query_as::<_, TargetRow>(sqlx::AssertSqlSafe(sql))
        .bind(Uuid::now_v7())
        .bind(target_type.as_str())
        .bind(target_id)
        .bind(owner)
        .bind(now)
        .fetch_one(&mut **t)
        .await)
}

/// Reports `reporter` filed since `since`, and the time of the oldest of them.
pub async fn filed_since(
    tx: &mut DbTx,
    reporter: Uuid,
    since: DateTime<Utc>,
) -> Result<(i64, Option<DateTime<Utc>>), sqlx::Error> {
    let sql = "SELECT COUNT(*), MIN(created_at) FROM reports \
               WHERE reporter_id = $1 AND created_at >= $2";
    on_tx!(tx, t => sqlx::query_as::<_, (i64, Option<DateTime<Utc>>)>(sql)
        .bind(reporter)
        .bind(since)
        .fetch_one(&mut **t)
        .await)
}

/// Values of a new report.
#[derive(Debug, Clone)]
pub struct NewReport<'a> {
    pub id: Uuid,
    pub target: &'a TargetRow,
    pub reporter_id: Uuid,
    pub reporter_new: bool,
    pub reason: Reason,
    pub details: Option<&'a str>,
    pub triage_job_id: Uuid,
    pub now: DateTime<Utc>,
}

/// Inserts an `open` report; None when the reporter already has an open
/// report on the target (the partial unique index decides, so two
/// concurrent requests cannot both insert).
pub async fn insert(tx: &mut DbTx, r: &NewReport<'_>) -> Result<Option<ReportRow>, sqlx::Error> {
    let sql = format!(
        "INSERT INTO reports (id, target_ref, target_type, target_id, reporter_id, reporter_new, \
         reason, details, status, priority, target_first_at, triage_job_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11, $12, $12) \
         ON CONFLICT (reporter_id, target_ref) WHERE status IN ('open', 'reviewing') DO NOTHING \
         RETURNING {COLUMNS}"
    );
    on_tx!(tx, t => sqlx::query_as::<_, ReportRow>(sqlx::AssertSqlSafe(sql))
        .bind(r.id)
        .bind(r.target.id)
        .bind(r.target.target_type.as_str())
        .bind(&r.target.target_id)
        .bind(r.reporter_id)
        .bind(r.reporter_new)
        .bind(r.reason.as_str())
        .bind(r.details)
        .bind(r.target.priority)
        .bind(r.target.first_reported_at)
        .bind(r.triage_job_id)
        .bind(r.now)
        .fetch_optional(&mut **t)
        .await)
}

/// The reporter's open report on a target.
pub async fn open_by_reporter(
    tx: &mut DbTx,
    reporter: Uuid,
    target_ref: Uuid,
) -> Result<Option<ReportRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM reports WHERE reporter_id = $1 AND target_ref = $2 \
         AND status IN ('open', 'reviewing')"
    );
    on_tx!(tx, t => sqlx::query_as::<_, ReportRow>(sqlx::AssertSqlSafe(sql))
        .bind(reporter)
        .bind(target_ref)
        .fetch_optional(&mut **t)
        .await)
}

/// One report.
pub async fn get(db: &Db, id: Uuid) -> Result<Option<ReportRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM reports WHERE id = $1");
    on_db!(db, p => sqlx::query_as::<_, ReportRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// One report, read inside `tx`.
pub async fn get_in_tx(tx: &mut DbTx, id: Uuid) -> Result<Option<ReportRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM reports WHERE id = $1");
    on_tx!(tx, t => sqlx::query_as::<_, ReportRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **t)
        .await)
}

/// A page of one reporter's reports, newest first.
pub async fn mine(
    db: &Db,
    reporter: Uuid,
    before: Option<Uuid>,
    limit: u32,
) -> Result<Vec<ReportRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM reports WHERE reporter_id = $1 AND ($2 IS NULL OR id < $2) \
         ORDER BY id DESC LIMIT $3"
    );
    on_db!(db, p => sqlx::query_as::<_, ReportRow>(sqlx::AssertSqlSafe(sql))
        .bind(reporter)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(p)
        .await)
}

/// The reports on a target, newest first (at most `limit`).
pub async fn on_target(
    db: &Db,
    target_ref: Uuid,
    limit: u32,
) -> Result<Vec<ReportRow>, sqlx::Error> {
    let sql =
        format!("SELECT {COLUMNS} FROM reports WHERE target_ref = $1 ORDER BY id DESC LIMIT $2");
    on_db!(db, p => sqlx::query_as::<_, ReportRow>(sqlx::AssertSqlSafe(sql))
        .bind(target_ref)
        .bind(i64::from(limit))
        .fetch_all(p)
        .await)
}

/// Whether anything was ever reported about this target.
pub async fn is_reported(
    db: &Db,
    target_type: TargetType,
    target_id: &str,
) -> Result<bool, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM report_targets WHERE target_type = $1 AND target_id = $2";
    let n: i64 = on_db!(db, p => sqlx::query_scalar(sql)
        .bind(target_type.as_str())
        .bind(target_id)
        .fetch_one(p)
        .await)?;
    Ok(n > 0)
}

/// One target.
pub async fn target(db: &Db, id: Uuid) -> Result<Option<TargetRow>, sqlx::Error> {
    let sql = format!("SELECT {TARGET_COLUMNS} FROM report_targets WHERE id = $1");
    on_db!(db, p => sqlx::query_as::<_, TargetRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// One target, read and locked inside `tx`, so triage and review of the
/// same target take turns: `FOR UPDATE` on PostgreSQL; on SQLite a write
/// comes first, which takes the database's write lock (waiting for it) before
/// anything is read — a transaction that read first and wrote later could
/// find the database changed under it and fail with "database is locked".
pub async fn lock_target(tx: &mut DbTx, id: Uuid) -> Result<Option<TargetRow>, sqlx::Error> {
    let sql = format!("SELECT {TARGET_COLUMNS} FROM report_targets WHERE id = $1");
    match tx {
        DbTx::Postgres(t) => {
            sqlx::query_as::<_, TargetRow>(sqlx::AssertSqlSafe(format!("{sql} FOR UPDATE")))
                .bind(id)
                .fetch_optional(&mut **t)
                .await
        }
        DbTx::Sqlite(t) => {
            sqlx::query("UPDATE report_targets SET updated_at = updated_at WHERE id = $1")
                .bind(id)
                .execute(&mut **t)
                .await?;
            sqlx::query_as::<_, TargetRow>(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&mut **t)
                .await
        }
    }
}

/// An open report as its target's priority and a decision on the whole
/// target see it: the reason and whether the reporter's account was new
/// when they filed it.
#[derive(Debug, Clone, Copy, PartialEq, sqlx::FromRow)]
pub struct OpenReport {
    pub id: Uuid,
    pub reporter_id: Uuid,
    #[sqlx(try_from = "String")]
    pub reason: Reason,
    pub reporter_new: bool,
}

/// The open reports on a target, oldest first (one per reporter, by the
/// unique index).
pub async fn open_reports(tx: &mut DbTx, target_ref: Uuid) -> Result<Vec<OpenReport>, sqlx::Error> {
    let sql = "SELECT id, reporter_id, reason, reporter_new FROM reports \
               WHERE target_ref = $1 AND status IN ('open', 'reviewing') ORDER BY id";
    on_tx!(tx, t => sqlx::query_as::<_, OpenReport>(sql)
        .bind(target_ref)
        .fetch_all(&mut **t)
        .await)
}

/// Sets a target's priority, on it and on every report on it.
pub async fn set_priority(
    tx: &mut DbTx,
    target_ref: Uuid,
    priority: f64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE report_targets SET priority = $2, updated_at = $3 \
               WHERE id = $1 AND priority <> $2";
    on_tx!(tx, t => sqlx::query(sql)
        .bind(target_ref)
        .bind(priority)
        .bind(now)
        .execute(&mut **t)
        .await
        .map(|_| ()))?;
    let sql = "UPDATE reports SET priority = $2 WHERE target_ref = $1 AND priority <> $2";
    on_tx!(tx, t => sqlx::query(sql)
        .bind(target_ref)
        .bind(priority)
        .execute(&mut **t)
        .await
        .map(|_| ()))
}

/// Marks a target escalated; false when it already was.
pub async fn escalate(
    tx: &mut DbTx,
    target_ref: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE report_targets SET escalated_at = $2, updated_at = $2 \
               WHERE id = $1 AND escalated_at IS NULL";
    on_tx!(tx, t => sqlx::query(sql)
        .bind(target_ref)
        .bind(now)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Clears a target's escalation once none of its reports is open, so the
/// next wave of reports can escalate it again.
pub async fn settle(
    tx: &mut DbTx,
    target_ref: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE report_targets SET escalated_at = NULL, updated_at = $2 \
               WHERE id = $1 AND escalated_at IS NOT NULL AND NOT EXISTS \
               (SELECT 1 FROM reports WHERE target_ref = $1 AND status IN ('open', 'reviewing'))";
    on_tx!(tx, t => sqlx::query(sql)
        .bind(target_ref)
        .bind(now)
        .execute(&mut **t)
        .await
        .map(|_| ()))
}

/// A moderator's change to one report.
#[derive(Debug, Clone)]
pub struct Transition<'a> {
    pub id: Uuid,
    pub from: ReportStatus,
    pub to: ReportStatus,
    pub action: Action,
    pub note: Option<&'a str>,
    pub actor: &'a str,
    pub now: DateTime<Utc>,
}

/// Moves a report from `from` to `to` and writes its audit row, in `tx`.
/// False (nothing written) when the report is no longer in `from`.
pub async fn transition(tx: &mut DbTx, c: &Transition<'_>) -> Result<bool, sqlx::Error> {
    let closed = !c.to.is_open();
    let sql = "UPDATE reports SET status = $3, action = $4, note = COALESCE($5, note), \
               reviewed_by = $6, updated_at = $7, \
               closed_at = CASE WHEN $8 THEN $7 ELSE closed_at END \
               WHERE id = $1 AND status = $2";
    let moved = on_tx!(tx, t => sqlx::query(sql)
        .bind(c.id)
        .bind(c.from.as_str())
        .bind(c.to.as_str())
        .bind(c.action.as_str())
        .bind(c.note)
        .bind(c.actor)
        .bind(c.now)
        .bind(closed)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected() == 1))?;
    if moved {
        insert_action(
            tx,
            &ActionRow {
                id: Uuid::now_v7(),
                report_id: c.id,
                actor: c.actor.to_owned(),
                from_status: c.from.as_str().to_owned(),
                to_status: c.to.as_str().to_owned(),
                action: c.action.as_str().to_owned(),
                note: c.note.map(str::to_owned),
                created_at: c.now,
            },
        )
        .await?;
    }
    Ok(moved)
}

/// Appends to a report's audit trail.
pub async fn insert_action(tx: &mut DbTx, a: &ActionRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO report_actions (id, report_id, actor, from_status, to_status, action, \
               note, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on_tx!(tx, t => sqlx::query(sql)
        .bind(a.id)
        .bind(a.report_id)
        .bind(&a.actor)
        .bind(&a.from_status)
        .bind(&a.to_status)
        .bind(&a.action)
        .bind(&a.note)
        .bind(a.created_at)
        .execute(&mut **t)
        .await
        .map(|_| ()))
}

/// A report's audit trail, oldest first.
pub async fn actions(db: &Db, report_id: Uuid) -> Result<Vec<ActionRow>, sqlx::Error> {
    let sql = "SELECT id, report_id, actor, from_status, to_status, action, note, created_at \
               FROM report_actions WHERE report_id = $1 ORDER BY id";
    on_db!(db, p => sqlx::query_as::<_, ActionRow>(sql)
        .bind(report_id)
        .fetch_all(p)
        .await)
}

/// A value bound into a query built from a [`Filter`].
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(String),
    Time(DateTime<Utc>),
    Real(f64),
    Id(Uuid),
}

/// Binds every value of a [`Bind`] list, in order, onto a query.
macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut q = $query;
        for b in $binds {
            q = match b {
                Bind::Text(v) => q.bind(v),
                Bind::Time(v) => q.bind(v),
                Bind::Real(v) => q.bind(v),
                Bind::Id(v) => q.bind(v),
            };
        }
        q
    }};
}
pub(crate) use bind_all;

/// The conditions of a [`Filter`], with only the filters given (so each
/// query plan is the one its filters' index makes).
pub(crate) fn filter_sql(f: &Filter, binds: &mut Vec<Bind>) -> String {
    let mut sql = String::from("TRUE");
    let mut add = |sql: &mut String, cond: &str, b: Bind| {
        binds.push(b);
        sql.push_str(&format!(" AND {cond} ${}", binds.len()));
    };
    if let Some(s) = f.status {
        add(&mut sql, "status =", Bind::Text(s.as_str().into()));
    }
    if let Some(r) = f.reason {
        add(&mut sql, "reason =", Bind::Text(r.as_str().into()));
    }
    if let Some(t) = f.target_type {
        add(&mut sql, "target_type =", Bind::Text(t.as_str().into()));
    }
    if let Some(id) = &f.target_id {
        add(&mut sql, "target_id =", Bind::Text(id.clone()));
    }
    if let Some(a) = f.created_after {
        add(&mut sql, "created_at >=", Bind::Time(a));
    }
    if let Some(b) = f.created_before {
        add(&mut sql, "created_at <", Bind::Time(b));
    }
    sql
}

/// How the moderator list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Highest priority first.
    #[default]
    Priority,
    /// Oldest target (by its first report) first.
    Age,
}

/// Where the previous page of groups ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GroupCursor {
    /// After this (priority, target) in the priority order.
    Priority(f64, Uuid),
    /// After this (first report, target) in the age order.
    Age(DateTime<Utc>, Uuid),
}

/// One target's matching reports, as the moderator list shows them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupRow {
    pub target_ref: Uuid,
    pub priority: f64,
    pub target_first_at: DateTime<Utc>,
    /// Matching reports on the target.
    pub reports: i64,
    pub first_created_at: DateTime<Utc>,
    pub last_created_at: DateTime<Utc>,
}

/// A page of the moderator list: the reports the filter selects, grouped
/// by target, `limit` groups at most. The grouping follows the index order
/// (every report of a target carries the target's priority and first-report
/// time), so the database reads the page's rows and stops.
pub async fn groups(
    db: &Db,
    f: &Filter,
    sort: Sort,
    after: Option<GroupCursor>,
    limit: u32,
) -> Result<Vec<GroupRow>, sqlx::Error> {
    let (sql, binds) = groups_sql(f, sort, after, limit);
    on_db!(db, p => bind_all!(sqlx::query_as::<_, GroupRow>(sqlx::AssertSqlSafe(sql)), binds)
        .fetch_all(p)
        .await)
}

/// The statement [`groups`] runs, with its values.
pub(crate) fn groups_sql(
    f: &Filter,
    sort: Sort,
    after: Option<GroupCursor>,
    limit: u32,
) -> (String, Vec<Bind>) {
    let mut binds = Vec::new();
    let mut cond = filter_sql(f, &mut binds);
    // The sort key is selected as grouped (ORDER BY then names the column
    // the index is in order of, not an aggregate); the other is the same on
    // every report of a target.
    let (key, keys, order) = match sort {
        Sort::Priority => (
            "priority",
            "priority, MIN(target_first_at) AS target_first_at",
            "priority DESC, target_ref DESC",
        ),
        Sort::Age => (
            "target_first_at",
            "MIN(priority) AS priority, target_first_at",
            "target_first_at, target_ref",
        ),
    };
    match after {
        Some(GroupCursor::Priority(p, t)) => {
            binds.push(Bind::Real(p));
            binds.push(Bind::Id(t));
            let n = binds.len();
            cond.push_str(&format!(" AND (priority, target_ref) < (${}, ${n})", n - 1));
        }
        Some(GroupCursor::Age(a, t)) => {
            binds.push(Bind::Time(a));
            binds.push(Bind::Id(t));
            let n = binds.len();
            cond.push_str(&format!(
                " AND (target_first_at, target_ref) > (${}, ${n})",
                n - 1
            ));
        }
        None => {}
    }
    let sql = format!(
        "SELECT target_ref, {keys}, COUNT(*) AS reports, MIN(created_at) AS first_created_at, \
         MAX(created_at) AS last_created_at \
         FROM reports WHERE {cond} GROUP BY {key}, target_ref ORDER BY {order} LIMIT {limit}"
    );
    (sql, binds)
}

/// How many reports for one reason a target has among those a filter selects.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReasonCount {
    pub target_ref: Uuid,
    #[sqlx(try_from = "String")]
    pub reason: Reason,
    pub reports: i64,
}

/// The reasons of the selected reports on each of `targets`.
pub async fn reasons(
    db: &Db,
    f: &Filter,
    targets: &[Uuid],
) -> Result<Vec<ReasonCount>, sqlx::Error> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let mut binds = Vec::new();
    let cond = filter_sql(f, &mut binds);
    let list = placeholders(&mut binds, targets);
    let sql = format!(
        "SELECT target_ref, reason, COUNT(*) AS reports FROM reports \
         WHERE {cond} AND target_ref IN ({list}) GROUP BY target_ref, reason \
         ORDER BY target_ref, reason"
    );
    on_db!(db, p => bind_all!(sqlx::query_as::<_, ReasonCount>(sqlx::AssertSqlSafe(sql)), binds)
        .fetch_all(p)
        .await)
}

/// The targets of `ids`, each with its newest report.
pub async fn targets(db: &Db, ids: &[Uuid]) -> Result<Vec<(TargetRow, Uuid)>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut binds = Vec::new();
    let list = placeholders(&mut binds, ids);
    let sql = format!(
        "SELECT {TARGET_COLUMNS}, (SELECT r.id FROM reports r WHERE r.target_ref = t.id \
         ORDER BY r.id DESC LIMIT 1) AS latest_report_id \
         FROM report_targets t WHERE t.id IN ({list})"
    );
    #[derive(sqlx::FromRow)]
    struct WithLatest {
        #[sqlx(flatten)]
        target: TargetRow,
        latest_report_id: Uuid,
    }
    let rows = on_db!(db, p => bind_all!(sqlx::query_as::<_, WithLatest>(sqlx::AssertSqlSafe(sql)), binds)
        .fetch_all(p)
        .await)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.target, r.latest_report_id))
        .collect())
}

fn placeholders(binds: &mut Vec<Bind>, ids: &[Uuid]) -> String {
    ids.iter()
        .map(|id| {
            binds.push(Bind::Id(*id));
            format!("${}", binds.len())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many reports a filter selects.
pub async fn count(db: &Db, f: &Filter) -> Result<i64, sqlx::Error> {
    let mut binds = Vec::new();
    let cond = filter_sql(f, &mut binds);
    let sql = format!("SELECT COUNT(*) FROM reports WHERE {cond}");
    on_db!(db, p => bind_all!(sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)), binds)
        .fetch_one(p)
        .await)
}
