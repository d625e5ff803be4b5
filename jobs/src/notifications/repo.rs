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
    /// The job attempt that holds the row while `sending`.
    pub lease_attempt: Option<i32>,
    /// Until when that attempt holds it.
    pub lease_until: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, user_id, channel, template, device_id, job_id, requested_by, status, \
                       attempts, provider_message_id, error, created_at, updated_at, sent_at, \
                       lease_attempt, lease_until";

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
pub async fn insert(
    tx: &mut DbTx,
    n: &NewNotification<'_>,
) -> Result<NotificationRow, sqlx::Error> {
    let sql = format!(
        "INSERT INTO notifications (id, user_id, channel, template, device_id, job_id, \
         requested_by, idempotency_key, status, error, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING {COLUMNS}"
    );
    on_tx!(tx, t => sqlx::query_as::<_, NotificationRow>(sqlx::AssertSqlSafe(sql))
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
        .fetch_one(&mut **t)
        .await)
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

/// How starting an attempt on a row went.
#[derive(Debug, Clone)]
pub enum Begun {
    /// The row is `sending` and this attempt holds it until its lease ends:
    /// send it.
    Started(NotificationRow),
    /// An attempt that was cut off may have sent it and the channel is
    /// at-most-once: the row ended `unknown` instead.
    Unknown(NotificationRow),
    /// Another attempt holds the row until `until`; it may be sending now.
    Held {
        /// When its hold ends.
        until: DateTime<Utc>,
    },
    /// The row already ended (`None`: it is gone).
    Ended(Option<NotificationRow>),
}

/// Why a row ends `unknown`, in its `error`.
const UNKNOWN_REASON: &str = "an attempt was cut off while it may have been sending, and \
                              delivery is at-most-once: it is not sent again";

/// Starts attempt `attempt` on a row: counts it and marks the row `sending`,
/// held by that attempt until `lease_until`. A row in `sending` whose hold
/// has run out (its attempt was cut off) is taken over, or with
/// `at_most_once` ends `unknown`. A row another attempt still holds, or one
/// that already ended (`sent`, `recorded`, `failed`, `dead`, `skipped`,
/// `unknown`), is left alone. One statement, so two attempts cannot both
/// start it.
pub async fn begin_attempt(
    db: &Db,
    id: Uuid,
    attempt: i32,
    lease_until: DateTime<Utc>,
    at_most_once: bool,
    now: DateTime<Utc>,
) -> Result<Begun, sqlx::Error> {
    let sql = format!(
        "UPDATE notifications SET \
           status = CASE WHEN status = 'sending' AND $5 THEN 'unknown' ELSE 'sending' END, \
           attempts = CASE WHEN status = 'sending' AND $5 THEN attempts ELSE attempts + 1 END, \
           error = CASE WHEN status = 'sending' AND $5 THEN $6 ELSE error END, \
           lease_attempt = CASE WHEN status = 'sending' AND $5 THEN NULL ELSE $3 END, \
           lease_until = CASE WHEN status = 'sending' AND $5 THEN NULL ELSE $4 END, \
           updated_at = $2 \
         WHERE id = $1 AND (status IN ('queued', 'retrying') \
           OR (status = 'sending' AND (lease_until IS NULL OR lease_until <= $2))) \
         RETURNING {COLUMNS}"
    );
    let row = on_db!(db, p => sqlx::query_as::<_, NotificationRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(now)
        .bind(attempt)
        .bind(lease_until)
        .bind(at_most_once)
        .bind(UNKNOWN_REASON)
        .fetch_optional(p)
        .await)?;
    Ok(match row {
        Some(r) if r.status == NotificationStatus::Unknown => Begun::Unknown(r),
        Some(r) => Begun::Started(r),
        None => match get(db, id).await? {
            Some(r) if r.status == NotificationStatus::Sending => Begun::Held {
                until: r.lease_until.unwrap_or(now),
            },
            other => Begun::Ended(other),
        },
    })
}

/// Records where attempt `attempt` of a delivery ended, or that it failed
/// (`retrying`), and lets go of the row. `sent` and `recorded` keep the
/// provider's message id and the time, whichever attempt reports them;
/// anything else is written only by the attempt holding the row (false when
/// another one took it over).
pub async fn set_outcome(
    db: &Db,
    id: Uuid,
    attempt: i32,
    status: NotificationStatus,
    provider_message_id: Option<&str>,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE notifications SET status = $2, \
               provider_message_id = COALESCE($3, provider_message_id), error = $4, \
               updated_at = $5, \
               sent_at = CASE WHEN $6 THEN $5 ELSE sent_at END, \
               lease_attempt = NULL, lease_until = NULL \
               WHERE id = $1 AND ($6 OR lease_attempt IS NULL OR lease_attempt = $7)";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(status.as_str())
        .bind(provider_message_id)
        .bind(error)
        .bind(now)
        .bind(status.is_sent())
        .bind(attempt)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
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
        "UPDATE notifications SET status = $2, error = COALESCE($3, error), updated_at = $4, \
         lease_attempt = NULL, lease_until = NULL WHERE job_id = $1 AND status IN {OPEN}"
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
