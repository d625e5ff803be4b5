//! Repository for the append-only audit log (`audit_log`).

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use crate::{db::Db, on_db};

/// An `audit_log` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub action: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub details: Option<Json<serde_json::Value>>,
}

const COLUMNS: &str = "id, at, action, actor, subject, ip, request_id, details";

/// Appends one entry.
pub async fn insert(db: &Db, row: &AuditRow) -> Result<(), sqlx::Error> {
    let sql = format!("INSERT INTO audit_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
    on_db!(db, p => sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(row.id)
        .bind(row.at)
        .bind(&row.action)
        .bind(&row.actor)
        .bind(&row.subject)
        .bind(&row.ip)
        .bind(&row.request_id)
        .bind(&row.details)
        .execute(p)
        .await
        .map(|_| ()))
}

/// Newest first, optionally one action or one actor, before `before`.
pub async fn list(
    db: &Db,
    action: Option<&str>,
    actor: Option<&str>,
    before: Option<Uuid>,
    limit: u32,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_log WHERE ($1 IS NULL OR action = $1) \
         AND ($2 IS NULL OR actor = $2) AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    );
    on_db!(db, p => sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(sql))
        .bind(action)
        .bind(actor)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(p)
        .await)
}
