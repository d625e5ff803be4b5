//! Repository for the notification history (`notifications`): one row per
//! delivery, moved along by its job.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::status::NotificationStatus;
use crate::{
    db::{Db, DbTx},
    on_db, on_tx,
};

/// A `notifications` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NotificationRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub channel: String,
    pub template: String,
    pub device_id: Option<Uuid>,
    pub job_id: Option<Uuid>,
    pub requested_by: String,
    #[sqlx(try_from = "String")]
    pub status: NotificationStatus,
    pub attempts: i32,
    pub provider_message_id: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, user_id, channel, template, device_id, job_id, requested_by, status, \
                       attempts, provider_message_id, error, created_at, updated_at, sent_at";

/// The statuses a delivery still moves on from, as SQL: those not
/// [`NotificationStatus::is_final`].
const OPEN: &str = "('queued', 'sending', 'retrying')";

/// Values of a new row.
#[derive(Debug, Clone)]
pub struct NewNotification<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub channel: &'a str,
    pub template: &'a str,
    pub device_id: Option<Uuid>,
    pub job_id: Option<Uuid>,
    pub requested_by: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub status: NotificationStatus,
    pub error: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// Inserts a row inside the transaction that enqueues its job.
pub async fn insert(tx: &mut DbTx, n: &NewNotification<'_>) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO notifications (id, user_id, channel, template, device_id, job_id, \
               requested_by, idempotency_key, status, error, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)";
    on_tx!(tx, t => sqlx::query(sql)
        .bind(n.id)
        .bind(n.user_id)
        .bind(n.channel)
        .bind(n.template)
        .bind(n.device_id)
        .bind(n.job_id)
        .bind(n.requested_by)
        .bind(n.idempotency_key)
        .bind(n.status.as_str())
        .bind(n.error)
        .bind(n.now)
        .execute(&mut **t)
        .await
        .map(|_| ()))
}

/// One row.
pub async fn get(db: &Db, id: Uuid) -> Result<Option<NotificationRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM notifications WHERE id = $1");
    on_db!(db, p => sqlx::query_as::<_, NotificationRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// The rows an earlier request with this idempotency key made.
pub async fn by_request(
    db: &Db,
    user_id: Uuid,
    requested_by: &str,
    idempotency_key: &str,
) -> Result<Vec<NotificationRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM notifications WHERE user_id = $1 AND requested_by = $2 \
         AND idempotency_key = $3 ORDER BY id"
    );
    on_db!(db, p => sqlx::query_as::<_, NotificationRow>(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(requested_by)
        .bind(idempotency_key)
        .fetch_all(p)
        .await)
}

/// A user's history, newest first, before the cursor `before`.
pub async fn list(
    db: &Db,
    user_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<NotificationRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM notifications WHERE user_id = $1 AND ($2 IS NULL OR id < $2) \
         ORDER BY id DESC LIMIT $3"
    );
    on_db!(db, p => sqlx::query_as::<_, NotificationRow>(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(before)
        .bind(limit)
        .fetch_all(p)
        .await)
}

/// Starts an attempt: counts it and marks the row `sending`, unless the row
/// already reached an end (`sent`, `recorded`, `failed`, `dead`, `skipped`).
/// Returns the row after the update, or `None` when there is nothing to do.
pub async fn begin_attempt(
    db: &Db,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<NotificationRow>, sqlx::Error> {
    let sql = format!(
        "UPDATE notifications SET status = $3, attempts = attempts + 1, updated_at = $2 \
         WHERE id = $1 AND status IN {OPEN} RETURNING {COLUMNS}"
    );
    on_db!(db, p => sqlx::query_as::<_, NotificationRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(now)
        .bind(NotificationStatus::Sending.as_str())
        .fetch_optional(p)
        .await)
}

/// Records where a delivery ended, or that its attempt failed (`retrying`).
/// `sent` and `recorded` keep the provider's message id and the time.
pub async fn set_outcome(
    db: &Db,
    id: Uuid,
    status: NotificationStatus,
    provider_message_id: Option<&str>,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE notifications SET status = $2, \
               provider_message_id = COALESCE($3, provider_message_id), error = $4, \
               updated_at = $5, \
               sent_at = CASE WHEN $6 THEN $5 ELSE sent_at END \
               WHERE id = $1";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(status.as_str())
        .bind(provider_message_id)
        .bind(error)
        .bind(now)
        .bind(status.is_sent())
        .execute(p)
        .await
        .map(|_| ()))
}

/// Marks the rows of a job that ended `failed` or `dead` without the handler
/// recording it (attempts spent, a timeout or a crash on the last attempt).
pub async fn finish_job(
    db: &Db,
    job_id: Uuid,
    status: NotificationStatus,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "UPDATE notifications SET status = $2, error = COALESCE($3, error), updated_at = $4 \
         WHERE job_id = $1 AND status IN {OPEN}"
    );
    on_db!(db, p => sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(job_id)
        .bind(status.as_str())
        .bind(error)
        .bind(now)
        .execute(p)
        .await
        .map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_lists_the_statuses_that_are_not_final() {
        let open: Vec<String> = NotificationStatus::ALL
            .into_iter()
            .filter(|s| !s.is_final())
            .map(|s| format!("'{s}'"))
            .collect();
        assert_eq!(OPEN, format!("({})", open.join(", ")));
    }
}
