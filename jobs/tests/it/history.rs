//! The notification history, the webhook delivery log and devices, through
//! their repositories: rows carry their status enums (an unknown stored value
//! is an error), writes stamp `sent_at` / `delivered_at`, and a row that ended
//! is not moved again.

use chrono::Utc;
use uuid::Uuid;

use kiln_jobs::{
    db::{Db, users},
    notifications::{
        NotificationStatus,
        devices::{self, Platform},
        repo::{self as notifications, Begun, NewNotification},
    },
    testing::{Backend, TestContext},
    webhooks::{
        DeliveryStatus,
        repo::{self as webhooks, AttemptOutcome, BegunDelivery, NewDelivery, NewWebhook},
    },
};

async fn user(db: &Db) -> Uuid {
    let id = Uuid::now_v7();
    users::insert(
        db,
        id,
        &format!("{id}@example.com"),
        "x",
        "user",
        Utc::now(),
    )
    .await
    .expect("insert user");
    id
}

async fn queued_notification(db: &Db, user_id: Uuid, job_id: Uuid) -> Uuid {
    let id = Uuid::now_v7();
    let mut tx = db.begin().await.expect("begin");
    notifications::insert(
        &mut tx,
        &NewNotification {
            id,
            user_id,
            channel: "email",
            template: "welcome",
            device_id: None,
            job_id: Some(job_id),
            requested_by: "system",
            idempotency_key: None,
            status: NotificationStatus::Queued,
            error: None,
            now: Utc::now(),
        },
    )
    .await
    .expect("insert notification");
    tx.commit().await.expect("commit");
    id
}

async fn notification(db: &Db, id: Uuid) -> notifications::NotificationRow {
    notifications::get(db, id)
        .await
        .expect("get notification")
        .expect("the row exists")
}

kiln_jobs::per_backend!(
    notification_rows_move_through_their_statuses_and_stop_at_an_end,
    [sqlite, postgres]
);
async fn notification_rows_move_through_their_statuses_and_stop_at_an_end(kind: Backend) {
    let t = TestContext::with_backend(kind, |_| {}).await;
    let db = &t.app.db;
    let user_id = user(db).await;
    let job_id = Uuid::now_v7();
    let id = queued_notification(db, user_id, job_id).await;
    assert_eq!(
        notification(db, id).await.status,
        NotificationStatus::Queued
    );

    let lease = Utc::now() + chrono::Duration::seconds(60);
    let Begun::Started(started) = notifications::begin_attempt(db, id, 1, lease, false, Utc::now())
        .await
        .expect("begin attempt")
    else {
        panic!("{kind:?}: a queued row starts");
    };
    assert_eq!(
        (started.status, started.attempts),
        (NotificationStatus::Sending, 1)
    );

    assert!(
        notifications::set_outcome(
            db,
            id,
            1,
            NotificationStatus::Retrying,
            None,
            Some("busy"),
            Utc::now(),
        )
        .await
        .expect("retrying")
    );
    let row = notification(db, id).await;
    assert_eq!(row.status, NotificationStatus::Retrying);
    assert_eq!(row.sent_at, None, "{kind:?}: a retry is not a send");
    assert_eq!(
        row.lease_until, None,
        "{kind:?}: the outcome lets go of the row"
    );

    assert!(
        notifications::set_outcome(
            db,
            id,
            2,
            NotificationStatus::Sent,
            Some("msg-1"),
            None,
            Utc::now(),
        )
        .await
        .expect("sent")
    );
    let row = notification(db, id).await;
    assert_eq!(row.status, NotificationStatus::Sent);
    assert_eq!(row.provider_message_id.as_deref(), Some("msg-1"));
    assert!(row.sent_at.is_some(), "{kind:?}: sent stamps sent_at");

    let again = notifications::begin_attempt(db, id, 3, lease, false, Utc::now())
        .await
        .expect("begin attempt");
    assert!(
        matches!(again, Begun::Ended(Some(ref r)) if r.status == NotificationStatus::Sent),
        "{kind:?}: a sent row is not attempted again: {again:?}"
    );
    notifications::finish_job(
        db,
        job_id,
        NotificationStatus::Dead,
        Some("lost"),
        Utc::now(),
    )
    .await
    .expect("finish job");
    assert_eq!(notification(db, id).await.status, NotificationStatus::Sent);

    let other_job = Uuid::now_v7();
    let open = queued_notification(db, user_id, other_job).await;
    notifications::finish_job(
        db,
        other_job,
        NotificationStatus::Dead,
        Some("lost"),
        Utc::now(),
    )
    .await
    .expect("finish job");
    let row = notification(db, open).await;
    assert_eq!(row.status, NotificationStatus::Dead, "{kind:?}");
    assert_eq!(row.error.as_deref(), Some("lost"));
}

async fn webhook(db: &Db, user_id: Uuid) -> Uuid {
    webhooks::insert(
        db,
        &NewWebhook {
            id: Uuid::now_v7(),
            user_id,
            url: "https://example.com/hook",
            description: None,
            events: "job.succeeded",
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            now: Utc::now(),
        },
    )
    .await
    .expect("insert webhook")
    .id
}

async fn pending_delivery(db: &Db, webhook_id: Uuid, job_id: Uuid) -> Uuid {
    let id = Uuid::now_v7();
    let mut tx = db.begin().await.expect("begin");
    webhooks::insert_delivery(
        &mut tx,
        &NewDelivery {
            id,
            webhook_id,
            event_type: "job.succeeded",
            payload: "{}",
            job_id,
            now: Utc::now(),
        },
    )
    .await
    .expect("insert delivery");
    tx.commit().await.expect("commit");
    id
}

async fn delivery(db: &Db, id: Uuid) -> webhooks::DeliveryRow {
    webhooks::get_delivery(db, id)
        .await
        .expect("get delivery")
        .expect("the row exists")
}

fn outcome(status: DeliveryStatus) -> AttemptOutcome<'static> {
    AttemptOutcome {
        status,
        response_status: Some(if status == DeliveryStatus::Delivered {
            204
        } else {
            503
        }),
        response_body: None,
        error: None,
    }
}

kiln_jobs::per_backend!(
    webhook_deliveries_move_through_their_statuses_and_stop_at_an_end,
    [sqlite, postgres]
);
async fn webhook_deliveries_move_through_their_statuses_and_stop_at_an_end(kind: Backend) {
    let t = TestContext::with_backend(kind, |_| {}).await;
    let db = &t.app.db;
    let user_id = user(db).await;
    let hook = webhook(db, user_id).await;
    let job_id = Uuid::now_v7();
    let id = pending_delivery(db, hook, job_id).await;
    assert_eq!(delivery(db, id).await.status, DeliveryStatus::Pending);

    let lease = Utc::now() + chrono::Duration::seconds(60);
    let BegunDelivery::Started(started) =
        webhooks::begin_delivery_attempt(db, id, 1, lease, Utc::now())
            .await
            .expect("begin attempt")
    else {
        panic!("{kind:?}: a pending delivery starts");
    };
    assert_eq!(started.attempts, 1);
    let retrying = outcome(DeliveryStatus::Retrying);
    assert!(
        webhooks::record_attempt(db, id, 1, &retrying, Utc::now())
            .await
            .expect("retrying")
    );
    let row = delivery(db, id).await;
    assert_eq!(row.status, DeliveryStatus::Retrying);
    assert_eq!(
        row.delivered_at, None,
        "{kind:?}: a retry is not a delivery"
    );
    assert_eq!(
        row.lease_until, None,
        "{kind:?}: the outcome lets go of the row"
    );

    let delivered = outcome(DeliveryStatus::Delivered);
    assert!(
        webhooks::record_attempt(db, id, 2, &delivered, Utc::now())
            .await
            .expect("delivered")
    );
    let row = delivery(db, id).await;
    assert_eq!(row.status, DeliveryStatus::Delivered);
    assert!(
        row.delivered_at.is_some(),
        "{kind:?}: delivered stamps delivered_at"
    );

    let again = webhooks::begin_delivery_attempt(db, id, 3, lease, Utc::now())
        .await
        .expect("begin attempt");
    assert!(
        matches!(again, BegunDelivery::Ended(Some(ref r)) if r.status == DeliveryStatus::Delivered),
        "{kind:?}: a delivered row is not attempted again: {again:?}"
    );
    webhooks::finish_delivery_job(db, job_id, DeliveryStatus::Dead, Some("lost"), Utc::now())
        .await
        .expect("finish job");
    assert_eq!(delivery(db, id).await.status, DeliveryStatus::Delivered);

    let other_job = Uuid::now_v7();
    let open = pending_delivery(db, hook, other_job).await;
    webhooks::finish_delivery_job(
        db,
        other_job,
        DeliveryStatus::Failed,
        Some("lost"),
        Utc::now(),
    )
    .await
    .expect("finish job");
    let row = delivery(db, open).await;
    assert_eq!(row.status, DeliveryStatus::Failed, "{kind:?}");
    assert_eq!(row.error.as_deref(), Some("lost"));
}

kiln_jobs::per_backend!(devices_keep_their_platform, [sqlite, postgres]);
async fn devices_keep_their_platform(kind: Backend) {
    let t = TestContext::with_backend(kind, |_| {}).await;
    let db = &t.app.db;
    let user_id = user(db).await;
    for (i, platform) in Platform::ALL.into_iter().enumerate() {
        let (row, created) = devices::upsert(
            db,
            &devices::Register {
                id: Uuid::now_v7(),
                user_id,
                token: &format!("device-token-{i}-0123456789"),
                platform,
                app_version: None,
                now: Utc::now(),
            },
        )
        .await
        .expect("register device");
        assert!(created);
        assert_eq!(row.platform, platform, "{kind:?}");
        let read = devices::get(db, row.id).await.expect("get device");
        assert_eq!(read.map(|d| d.platform), Some(platform), "{kind:?}");
    }
}

/// Stores a value the column's CHECK constraint refuses (as a bad manual edit
/// or a newer Kiln's migration would): `UPDATE {table} SET {column} = 'bogus'`.
async fn corrupt(db: &Db, table: &str, column: &str) {
    let update = format!("UPDATE {table} SET {column} = 'bogus'");
    match db {
        Db::Sqlite(p) => {
            let mut conn = p.acquire().await.expect("connection");
            sqlx::query("PRAGMA ignore_check_constraints = ON")
                .execute(&mut *conn)
                .await
                .expect("ignore checks");
            sqlx::query(sqlx::AssertSqlSafe(update))
                .execute(&mut *conn)
                .await
                .expect("corrupt");
            sqlx::query("PRAGMA ignore_check_constraints = OFF")
                .execute(&mut *conn)
                .await
                .expect("checks again");
        }
        Db::Postgres(p) => {
            let drop = format!("ALTER TABLE {table} DROP CONSTRAINT {table}_{column}_check");
            sqlx::query(sqlx::AssertSqlSafe(drop))
                .execute(p)
                .await
                .expect("drop check");
            sqlx::query(sqlx::AssertSqlSafe(update))
                .execute(p)
                .await
                .expect("corrupt");
        }
    }
}

fn is_decode_error<T: std::fmt::Debug>(r: Result<T, sqlx::Error>) -> bool {
    matches!(r, Err(sqlx::Error::ColumnDecode { .. }))
}

kiln_jobs::per_backend!(
    an_unknown_stored_status_or_platform_is_an_error_not_a_guess,
    [sqlite, postgres]
);
async fn an_unknown_stored_status_or_platform_is_an_error_not_a_guess(kind: Backend) {
    let t = TestContext::with_backend(kind, |_| {}).await;
    let db = &t.app.db;
    let user_id = user(db).await;

    let id = queued_notification(db, user_id, Uuid::now_v7()).await;
    corrupt(db, "notifications", "status").await;
    let read = notifications::get(db, id).await;
    assert!(is_decode_error(read), "{kind:?}");
    let listed = notifications::list(db, user_id, None, 10).await;
    assert!(is_decode_error(listed), "{kind:?}");

    let hook = webhook(db, user_id).await;
    let id = pending_delivery(db, hook, Uuid::now_v7()).await;
    corrupt(db, "webhook_deliveries", "status").await;
    assert!(
        is_decode_error(webhooks::get_delivery(db, id).await),
        "{kind:?}"
    );

    let (device, _) = devices::upsert(
        db,
        &devices::Register {
            id: Uuid::now_v7(),
            user_id,
            token: "device-token-corrupt-0123456789",
            platform: Platform::Web,
            app_version: None,
            now: Utc::now(),
        },
    )
    .await
    .expect("register device");
    corrupt(db, "devices", "platform").await;
    assert!(
        is_decode_error(devices::get(db, device.id).await),
        "{kind:?}"
    );
}

/// Equal to the microsecond, the precision PostgreSQL keeps.
fn same_instant(a: chrono::DateTime<Utc>, b: chrono::DateTime<Utc>) -> bool {
    (a - b).num_microseconds().is_some_and(|us| us.abs() <= 1)
}

kiln_jobs::per_backend!(
    a_sending_notification_belongs_to_its_attempt_until_its_hold_runs_out,
    [sqlite, postgres]
);
async fn a_sending_notification_belongs_to_its_attempt_until_its_hold_runs_out(kind: Backend) {
    let t = TestContext::with_backend(kind, |_| {}).await;
    let db = &t.app.db;
    let user_id = user(db).await;
    let now = Utc::now();
    let hold = now + chrono::Duration::seconds(60);
    let after_hold = hold + chrono::Duration::seconds(1);

    // At-least-once: a second attempt waits for the first one's hold, then takes over.
    let id = queued_notification(db, user_id, Uuid::now_v7()).await;
    let first = notifications::begin_attempt(db, id, 1, hold, false, now)
        .await
        .expect("begin");
    assert!(matches!(first, Begun::Started(_)), "{kind:?}: {first:?}");
    let second = notifications::begin_attempt(db, id, 2, hold, false, now)
        .await
        .expect("begin");
    assert!(
        matches!(second, Begun::Held { until } if same_instant(until, hold)),
        "{kind:?}: an attempt that may still be sending keeps the row: {second:?}"
    );
    let takeover = notifications::begin_attempt(
        db,
        id,
        3,
        after_hold + chrono::Duration::seconds(60),
        false,
        after_hold,
    )
    .await
    .expect("begin");
    let Begun::Started(row) = takeover else {
        panic!("{kind:?}: once the hold ran out the row is sent again: {takeover:?}");
    };
    assert_eq!((row.lease_attempt, row.attempts), (Some(3), 2), "{kind:?}");
    // The cut-off attempt cannot overwrite what the new one does; a send it reports still counts.
    let stale = notifications::set_outcome(
        db,
        id,
        1,
        NotificationStatus::Retrying,
        None,
        Some("late"),
        after_hold,
    )
    .await
    .expect("stale outcome");
    assert!(
        !stale,
        "{kind:?}: a cut-off attempt's failure is not recorded"
    );
    assert_eq!(
        notification(db, id).await.status,
        NotificationStatus::Sending
    );

    // At-most-once: the row a cut-off attempt held ends `unknown`, and nothing starts it again.
    let id = queued_notification(db, user_id, Uuid::now_v7()).await;
    notifications::begin_attempt(db, id, 1, hold, true, now)
        .await
        .expect("begin");
    let held = notifications::begin_attempt(db, id, 2, hold, true, now)
        .await
        .expect("begin");
    assert!(matches!(held, Begun::Held { .. }), "{kind:?}: {held:?}");
    let ended = notifications::begin_attempt(db, id, 3, hold, true, after_hold)
        .await
        .expect("begin");
    let Begun::Unknown(row) = ended else {
        panic!("{kind:?}: at-most-once never sends a cut-off row again: {ended:?}");
    };
    assert_eq!(row.status, NotificationStatus::Unknown);
    assert_eq!((row.attempts, row.lease_until), (1, None), "{kind:?}");
    assert!(row.error.is_some(), "{kind:?}: the row says why");
    let after = notifications::begin_attempt(db, id, 4, hold, true, after_hold)
        .await
        .expect("begin");
    assert!(
        matches!(after, Begun::Ended(Some(ref r)) if r.status == NotificationStatus::Unknown),
        "{kind:?}: unknown is final: {after:?}"
    );
}

kiln_jobs::per_backend!(
    a_webhook_delivery_belongs_to_its_attempt_until_its_hold_runs_out,
    [sqlite, postgres]
);
async fn a_webhook_delivery_belongs_to_its_attempt_until_its_hold_runs_out(kind: Backend) {
    let t = TestContext::with_backend(kind, |_| {}).await;
    let db = &t.app.db;
    let user_id = user(db).await;
    let hook = webhook(db, user_id).await;
    let id = pending_delivery(db, hook, Uuid::now_v7()).await;
    let now = Utc::now();
    let hold = now + chrono::Duration::seconds(60);
    let after_hold = hold + chrono::Duration::seconds(1);

    let first = webhooks::begin_delivery_attempt(db, id, 1, hold, now)
        .await
        .expect("begin");
    assert!(
        matches!(first, BegunDelivery::Started(_)),
        "{kind:?}: {first:?}"
    );
    let second = webhooks::begin_delivery_attempt(db, id, 2, hold, now)
        .await
        .expect("begin");
    assert!(
        matches!(second, BegunDelivery::Held { until } if same_instant(until, hold)),
        "{kind:?}: an attempt that may still be posting keeps the delivery: {second:?}"
    );
    let takeover = webhooks::begin_delivery_attempt(
        db,
        id,
        3,
        after_hold + chrono::Duration::seconds(60),
        after_hold,
    )
    .await
    .expect("begin");
    assert!(
        matches!(takeover, BegunDelivery::Started(ref r) if r.lease_attempt == Some(3) && r.attempts == 2),
        "{kind:?}: once the hold ran out the delivery is posted again: {takeover:?}"
    );
    let stale = webhooks::record_attempt(db, id, 1, &outcome(DeliveryStatus::Retrying), after_hold)
        .await
        .expect("stale outcome");
    assert!(
        !stale,
        "{kind:?}: a cut-off attempt's failure is not recorded"
    );
    assert!(
        webhooks::record_attempt(db, id, 1, &outcome(DeliveryStatus::Delivered), after_hold)
            .await
            .expect("late delivery"),
        "{kind:?}: a delivery the receiver accepted counts, whichever attempt reports it"
    );
    assert_eq!(delivery(db, id).await.status, DeliveryStatus::Delivered);
}
