//! Repository for webhook endpoints (`webhooks`) and their delivery log
//! (`webhook_deliveries`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::status::DeliveryStatus;
use crate::{
    db::{Db, DbTx},
    on_db, on_tx,
};

/// A `webhooks` row, secret included: only the delivery handler and the
/// creating request read it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub events: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub consecutive_failures: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, user_id, url, description, events, secret, previous_secret, \
                       previous_secret_expires_at, enabled, disabled_reason, \
                       consecutive_failures, created_at, updated_at";

/// Values of a new endpoint.
#[derive(Debug, Clone)]
pub struct NewWebhook<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub url: &'a str,
    pub description: Option<&'a str>,
    pub events: &'a str,
    pub secret: &'a str,
    pub now: DateTime<Utc>,
}

/// Inserts an endpoint.
pub async fn insert(db: &Db, w: &NewWebhook<'_>) -> Result<WebhookRow, sqlx::Error> {
    let sql = format!(
        "INSERT INTO webhooks (id, user_id, url, description, events, secret, enabled, \
         consecutive_failures, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, TRUE, 0, $7, $7) RETURNING {COLUMNS}"
    );
    on_db!(db, p => sqlx::query_as::<_, WebhookRow>(sqlx::AssertSqlSafe(sql))
        .bind(w.id)
        .bind(w.user_id)
        .bind(w.url)
        .bind(w.description)
        .bind(w.events)
        .bind(w.secret)
        .bind(w.now)
        .fetch_one(p)
        .await)
}

/// Inserts an endpoint unless its owner already has `max`: then `None`. The
/// count and the insert are one atomic step (see [`crate::db::lock_owner`]),
/// so parallel creations cannot pass the cap together.
pub async fn insert_capped(
    db: &Db,
    w: &NewWebhook<'_>,
    max: i64,
) -> Result<Option<WebhookRow>, sqlx::Error> {
    let sql = format!(
        "INSERT INTO webhooks (id, user_id, url, description, events, secret, enabled, \
         consecutive_failures, created_at, updated_at) \
         SELECT $1, $2, $3, $4, $5, $6, TRUE, 0, $7, $7 \
         WHERE (SELECT COUNT(*) FROM webhooks WHERE user_id = $2) < $8 RETURNING {COLUMNS}"
    );
    macro_rules! insert {
        () => {
            sqlx::query_as::<_, WebhookRow>(sqlx::AssertSqlSafe(sql))
                .bind(w.id)
                .bind(w.user_id)
                .bind(w.url)
                .bind(w.description)
                .bind(w.events)
                .bind(w.secret)
                .bind(w.now)
                .bind(max)
        };
    }
    match db {
        Db::Sqlite(p) => insert!().fetch_optional(p).await,
        Db::Postgres(p) => {
            let mut tx = p.begin().await?;
            crate::db::lock_owner(&mut tx, w.user_id).await?;
            let row = insert!().fetch_optional(&mut *tx).await?;
            tx.commit().await?;
            Ok(row)
        }
    }
}

/// One endpoint; `user_id` restricts it to its owner.
pub async fn get(
    db: &Db,
    id: Uuid,
    user_id: Option<Uuid>,
) -> Result<Option<WebhookRow>, sqlx::Error> {
    let sql =
        format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1 AND ($2 IS NULL OR user_id = $2)");
    on_db!(db, p => sqlx::query_as::<_, WebhookRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(user_id)
        .fetch_optional(p)
        .await)
}

/// A user's endpoints, newest first.
pub async fn list(db: &Db, user_id: Uuid) -> Result<Vec<WebhookRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE user_id = $1 ORDER BY id DESC");
    on_db!(db, p => sqlx::query_as::<_, WebhookRow>(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_all(p)
        .await)
}

/// A user's enabled endpoints (the event fan-out filters by type itself).
pub async fn enabled_for(db: &Db, user_id: Uuid) -> Result<Vec<WebhookRow>, sqlx::Error> {
    let sql =
        format!("SELECT {COLUMNS} FROM webhooks WHERE user_id = $1 AND enabled = TRUE ORDER BY id");
    on_db!(db, p => sqlx::query_as::<_, WebhookRow>(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_all(p)
        .await)
}

/// How many endpoints a user has (creation is capped).
pub async fn count(db: &Db, user_id: Uuid) -> Result<i64, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM webhooks WHERE user_id = $1";
    on_db!(db, p => sqlx::query_scalar(sql).bind(user_id).fetch_one(p).await)
}

/// A change to an endpoint; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct Update<'a> {
    pub url: Option<&'a str>,
    pub description: Option<&'a str>,
    pub events: Option<&'a str>,
    /// Enabling clears the failure run and the reason it was disabled.
    pub enabled: Option<bool>,
}

/// Applies `u` to an endpoint of `user_id`; `None` when there is none.
pub async fn update(
    db: &Db,
    id: Uuid,
    user_id: Uuid,
    u: &Update<'_>,
    now: DateTime<Utc>,
) -> Result<Option<WebhookRow>, sqlx::Error> {
    let sql = format!(
        "UPDATE webhooks SET url = COALESCE($3, url), description = COALESCE($4, description), \
         events = COALESCE($5, events), enabled = COALESCE($6, enabled), \
         disabled_reason = CASE WHEN $6 THEN NULL WHEN $6 = FALSE THEN 'disabled by its owner' \
                           ELSE disabled_reason END, \
         consecutive_failures = CASE WHEN $6 THEN 0 ELSE consecutive_failures END, \
         updated_at = $7 WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"
    );
    on_db!(db, p => sqlx::query_as::<_, WebhookRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(user_id)
        .bind(u.url)
        .bind(u.description)
        .bind(u.events)
        .bind(u.enabled)
        .bind(now)
        .fetch_optional(p)
        .await)
}

/// Replaces an endpoint's secret; the old one keeps signing alongside until
/// `previous_until`. `None` when there is no such endpoint of `user_id`.
pub async fn rotate_secret(
    db: &Db,
    id: Uuid,
    user_id: Uuid,
    secret: &str,
    previous_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<WebhookRow>, sqlx::Error> {
    let sql = format!(
        "UPDATE webhooks SET previous_secret = secret, previous_secret_expires_at = $4, \
         secret = $3, updated_at = $5 WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"
    );
    on_db!(db, p => sqlx::query_as::<_, WebhookRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(user_id)
        .bind(secret)
        .bind(previous_until)
        .bind(now)
        .fetch_optional(p)
        .await)
}

/// Deletes an endpoint of `user_id` (its deliveries go with it).
pub async fn delete(db: &Db, id: Uuid, user_id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM webhooks WHERE id = $1 AND user_id = $2";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(user_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// A successful delivery ends the endpoint's failure run.
pub async fn record_success(db: &Db, id: Uuid, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let sql = "UPDATE webhooks SET consecutive_failures = 0, updated_at = $2 \
               WHERE id = $1 AND consecutive_failures <> 0";
    on_db!(db, p => sqlx::query(sql).bind(id).bind(now).execute(p).await.map(|_| ()))
}

/// Counts a failed attempt; when the run reaches `limit` the endpoint is
/// disabled in the same statement. Returns the run length and whether this
/// call disabled it.
pub async fn record_failure(
    db: &Db,
    id: Uuid,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<Option<(i32, bool)>, sqlx::Error> {
    let limit = i32::try_from(limit).unwrap_or(i32::MAX);
    let sql = "UPDATE webhooks SET consecutive_failures = consecutive_failures + 1, \
               enabled = CASE WHEN consecutive_failures + 1 >= $2 THEN FALSE ELSE enabled END, \
               disabled_reason = CASE WHEN enabled AND consecutive_failures + 1 >= $2 \
                   THEN 'disabled after ' || CAST($2 AS TEXT) || ' consecutive failed deliveries' \
                   ELSE disabled_reason END, \
               updated_at = $3 WHERE id = $1 \
               RETURNING consecutive_failures, \
                 (enabled = FALSE AND consecutive_failures = $2) AS disabled_now";
    on_db!(db, p => sqlx::query_as::<_, (i32, bool)>(sql)
        .bind(id)
        .bind(limit)
        .bind(now)
        .fetch_optional(p)
        .await)
}

/// A `webhook_deliveries` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event_type: String,
    pub payload: String,
    pub job_id: Option<Uuid>,
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub response_status: Option<i32>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The job attempt that holds the delivery while it posts.
    pub lease_attempt: Option<i32>,
    /// Until when that attempt holds it.
    pub lease_until: Option<DateTime<Utc>>,
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, event_type, payload, job_id, status, attempts, \
                                response_status, response_body, error, created_at, updated_at, \
                                delivered_at, lease_attempt, lease_until";

/// The statuses a delivery still moves on from, as SQL: those not
/// [`DeliveryStatus::is_final`].
const OPEN: &str = "('pending', 'retrying')";

/// Values of a new delivery.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event_type: &'a str,
    pub payload: &'a str,
    pub job_id: Uuid,
    pub now: DateTime<Utc>,
}

/// Inserts a delivery inside the transaction that enqueues its job.
pub async fn insert_delivery(tx: &mut DbTx, d: &NewDelivery<'_>) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO webhook_deliveries (id, webhook_id, event_type, payload, job_id, \
               status, attempts, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $7, 0, $6, $6)";
    on_tx!(tx, t => sqlx::query(sql)
        .bind(d.id)
        .bind(d.webhook_id)
        .bind(d.event_type)
        .bind(d.payload)
        .bind(d.job_id)
        .bind(d.now)
        .bind(DeliveryStatus::Pending.as_str())
        .execute(&mut **t)
        .await
        .map(|_| ()))
}

/// One delivery.
pub async fn get_delivery(db: &Db, id: Uuid) -> Result<Option<DeliveryRow>, sqlx::Error> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1");
    on_db!(db, p => sqlx::query_as::<_, DeliveryRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// An endpoint's deliveries, newest first, before the cursor `before`.
pub async fn list_deliveries(
    db: &Db,
    webhook_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 \
         AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    );
    on_db!(db, p => sqlx::query_as::<_, DeliveryRow>(sqlx::AssertSqlSafe(sql))
        .bind(webhook_id)
        .bind(before)
        .bind(limit)
        .fetch_all(p)
        .await)
}

/// How starting an attempt on a delivery went.
#[derive(Debug, Clone)]
pub enum BegunDelivery {
    /// This attempt holds the delivery until its lease ends: post it.
    Started(DeliveryRow),
    /// Another attempt holds it until `until`; it may be posting now.
    Held {
        /// When its hold ends.
        until: DateTime<Utc>,
    },
    /// The delivery already ended (`None`: it is gone with its endpoint).
    Ended(Option<DeliveryRow>),
}

/// Starts attempt `attempt` on a delivery that has not ended: counts it and
/// holds the delivery for that attempt until `lease_until`, unless another
/// attempt holds it still. One statement, so two attempts (a lost worker's
/// and its redelivery's) cannot both post it; once the hold of a cut-off
/// attempt runs out, the delivery is posted again (receivers deduplicate on
/// `webhook-id`).
pub async fn begin_delivery_attempt(
    db: &Db,
    id: Uuid,
    attempt: i32,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<BegunDelivery, sqlx::Error> {
    let sql = format!(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, updated_at = $2, \
         lease_attempt = $3, lease_until = $4 \
         WHERE id = $1 AND status IN {OPEN} AND (lease_until IS NULL OR lease_until <= $2) \
         RETURNING {DELIVERY_COLUMNS}"
    );
    let row = on_db!(db, p => sqlx::query_as::<_, DeliveryRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(now)
        .bind(attempt)
        .bind(lease_until)
        .fetch_optional(p)
        .await)?;
    Ok(match row {
        Some(r) => BegunDelivery::Started(r),
        None => match get_delivery(db, id).await? {
            Some(r) if !r.status.is_final() => BegunDelivery::Held {
                until: r.lease_until.unwrap_or(now),
            },
            other => BegunDelivery::Ended(other),
        },
    })
}

/// What one attempt got.
#[derive(Debug, Clone)]
pub struct AttemptOutcome<'a> {
    pub status: DeliveryStatus,
    pub response_status: Option<i32>,
    pub response_body: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// Records the outcome of attempt `attempt` (`delivered` also stamps
/// `delivered_at`) and lets go of the delivery. `delivered` is written
/// whichever attempt reports it; anything else only by the attempt holding
/// the delivery (false when another one took it over).
pub async fn record_attempt(
    db: &Db,
    id: Uuid,
    attempt: i32,
    o: &AttemptOutcome<'_>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE webhook_deliveries SET status = $2, response_status = $3, \
               response_body = $4, error = $5, updated_at = $6, \
               delivered_at = CASE WHEN $7 THEN $6 ELSE delivered_at END, \
               lease_attempt = NULL, lease_until = NULL \
               WHERE id = $1 AND ($7 OR lease_attempt IS NULL OR lease_attempt = $8)";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(o.status.as_str())
        .bind(o.response_status)
        .bind(o.response_body)
        .bind(o.error)
        .bind(now)
        .bind(o.status == DeliveryStatus::Delivered)
        .bind(attempt)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Marks the delivery of a job that ended `failed` or `dead` without the
/// handler recording it (a timeout or a lost worker on the last attempt).
pub async fn finish_delivery_job(
    db: &Db,
    job_id: Uuid,
    status: DeliveryStatus,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "UPDATE webhook_deliveries SET status = $2, error = COALESCE($3, error), \
         updated_at = $4, lease_attempt = NULL, lease_until = NULL \
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
        let open: Vec<String> = DeliveryStatus::ALL
            .into_iter()
            .filter(|s| !s.is_final())
            .map(|s| format!("'{s}'"))
            .collect();
        assert_eq!(OPEN, format!("({})", open.join(", ")));
    }
}
