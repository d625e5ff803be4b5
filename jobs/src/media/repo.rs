//! Repository for uploaded media (`media`).

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::StoredVariant;
use crate::{
    db::{Db, DbTx},
    on_db, on_tx,
};

/// A `media` row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MediaRow {
    pub id: Uuid,
    pub owner: String,
    pub job_id: Uuid,
    pub status: String,
    pub filename: Option<String>,
    pub source_format: String,
    pub source_bytes: i64,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub blurhash: Option<String>,
    pub dominant_color: Option<String>,
    pub variants: Json<Vec<StoredVariant>>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `private` (its owner only) or `public` (every signed-in user).
    pub visibility: String,
    /// When a moderator (or triage) hid it; its variants are then served to
    /// moderators and admins only.
    pub hidden_at: Option<DateTime<Utc>>,
    /// The reason class of the reports that hid it, shown to its owner.
    pub hidden_reason: Option<String>,
}

impl MediaRow {
    /// Whether `viewer` may see it: its owner always, anyone signed in when
    /// it is public and not hidden.
    pub fn visible_to(&self, viewer: &str) -> bool {
        self.owner == viewer || (self.visibility == "public" && self.hidden_at.is_none())
    }
}

const COLUMNS: &str = "id, owner, job_id, status, filename, source_format, source_bytes, width, \
                       height, blurhash, dominant_color, variants, error, created_at, updated_at, \
                       visibility, hidden_at, hidden_reason";

/// Values of a new upload.
#[derive(Debug, Clone)]
pub struct InsertMedia<'a> {
    pub id: Uuid,
    pub owner: &'a str,
    pub job_id: Uuid,
    pub filename: Option<&'a str>,
    pub source_format: &'a str,
    pub source_bytes: i64,
    pub now: DateTime<Utc>,
}

/// Inserts a `processing` row.
pub async fn insert(tx: &mut DbTx, m: &InsertMedia<'_>) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO media (id, owner, job_id, status, filename, source_format, \
               source_bytes, variants, created_at, updated_at) \
               VALUES ($1, $2, $3, 'processing', $4, $5, $6, $7, $8, $8)";
    on_tx!(tx, t => sqlx::query(sql)
        .bind(m.id)
        .bind(m.owner)
        .bind(m.job_id)
        .bind(m.filename)
        .bind(m.source_format)
        .bind(m.source_bytes)
        .bind(Json(Vec::<StoredVariant>::new()))
        .bind(m.now)
        .execute(&mut **t)
        .await
        .map(|_| ()))
}

/// One row, optionally restricted to an owner.
pub async fn get(db: &Db, id: Uuid, owner: Option<&str>) -> Result<Option<MediaRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM media WHERE id = $1 AND ($2 IS NULL OR owner = $2)");
    on_db!(db, p => sqlx::query_as::<_, MediaRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(owner)
        .fetch_optional(p)
        .await)
}

/// What processing produced.
#[derive(Debug, Clone)]
pub struct Ready<'a> {
    pub width: i32,
    pub height: i32,
    pub blurhash: &'a str,
    pub dominant_color: &'a str,
    pub variants: &'a [StoredVariant],
}

/// Marks a row ready with its variants. False when the row is gone.
pub async fn mark_ready(
    db: &Db,
    id: Uuid,
    r: &Ready<'_>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE media SET status = 'ready', width = $2, height = $3, blurhash = $4, \
               dominant_color = $5, variants = $6, error = NULL, updated_at = $7 WHERE id = $1";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(r.width)
        .bind(r.height)
        .bind(r.blurhash)
        .bind(r.dominant_color)
        .bind(Json(r.variants))
        .bind(now)
        .execute(p)
        .await
        .map(|res| res.rows_affected() == 1))
}

/// Marks a row failed with a reason.
pub async fn mark_failed(
    db: &Db,
    id: Uuid,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE media SET status = 'failed', error = $2, updated_at = $3 WHERE id = $1";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(error)
        .bind(now)
        .execute(p)
        .await
        .map(|_| ()))
}

/// Marks the row of a processing job that ended without its handler
/// recording it (a timeout, retries spent, a lost worker) failed, with the
/// job's error. A row that is no longer `processing` is left alone.
pub async fn finish_job(
    db: &Db,
    job_id: Uuid,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE media SET status = 'failed', error = $2, updated_at = $3 \
               WHERE job_id = $1 AND status = 'processing'";
    on_db!(db, p => sqlx::query(sql)
        .bind(job_id)
        .bind(error)
        .bind(now)
        .execute(p)
        .await
        .map(|_| ()))
}

/// Deletes a row; false when it did not exist (for that owner).
pub async fn delete(db: &Db, id: Uuid, owner: Option<&str>) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM media WHERE id = $1 AND ($2 IS NULL OR owner = $2)";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(owner)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Sets who may see a row; None when it does not exist for that owner.
pub async fn set_visibility(
    db: &Db,
    id: Uuid,
    owner: &str,
    visibility: &str,
    now: DateTime<Utc>,
) -> Result<Option<MediaRow>, sqlx::Error> {
    let sql = format!(
        "UPDATE media SET visibility = $3, updated_at = $4 WHERE id = $1 AND owner = $2 \
         RETURNING {COLUMNS}"
    );
    on_db!(db, p => sqlx::query_as::<_, MediaRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(owner)
        .bind(visibility)
        .bind(now)
        .fetch_optional(p)
        .await)
}

/// Hides a row for `reason`; false when it is gone or already hidden.
pub async fn hide(
    tx: &mut DbTx,
    id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE media SET hidden_at = $2, hidden_reason = $3, updated_at = $2 \
               WHERE id = $1 AND hidden_at IS NULL";
    on_tx!(tx, t => sqlx::query(sql)
        .bind(id)
        .bind(now)
        .bind(reason)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Shows a hidden row again; false when it is gone or was not hidden.
pub async fn restore(tx: &mut DbTx, id: Uuid, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE media SET hidden_at = NULL, hidden_reason = NULL, updated_at = $2 \
               WHERE id = $1 AND hidden_at IS NOT NULL";
    on_tx!(tx, t => sqlx::query(sql)
        .bind(id)
        .bind(now)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected() == 1))
}
