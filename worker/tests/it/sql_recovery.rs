//! Recovery on the SQL queues: a database that refuses ledger writes for a
//! while must not use up a message's transport runs, and the sweeper brings
//! back ledger jobs whose message the queue gave up or lost.

use std::time::Duration;

use chrono::Utc;
use kiln_jobs::{
    JobRun, JobStatus, QueueName,
    db::{Db, users},
    noop::NoopV1,
    notifications::{self, NotificationRequest, NotificationStatus, NotifyChannel},
    queue::{TRANSPORT_MAX_ATTEMPTS, database},
    testing::{Backend, TestContext},
};
use kiln_worker::sweeper::Sweeper;
use uuid::Uuid;

use crate::{enqueue, job};

/// A context whose notifications queue backs off in hundreds of
/// milliseconds (the suite's default is tens) and whose workers sweep every
/// second.
async fn ctx(backend: Backend) -> TestContext {
    TestContext::with_backend(backend, |c| {
        c.queues.notifications.backoff_base_ms = 200;
        c.queues.notifications.backoff_max_ms = 2_000;
        c.queues.reconcile_interval_secs = 1;
        c.queues.reconcile_grace_secs = 0;
    })
    .await
}

/// Makes every write to `job_runs` fail (a database that refuses the
/// ledger's claims), while the queue tables stay writable.
async fn refuse_ledger_writes(db: &Db) {
    match db {
        Db::Sqlite(p) => {
            sqlx::query(
                "CREATE TRIGGER test_outage BEFORE UPDATE ON job_runs \
                 BEGIN SELECT RAISE(ABORT, 'injected outage'); END",
            )
            .execute(p)
            .await
            .expect("sqlite trigger");
        }
        Db::Postgres(p) => {
            sqlx::query(
                "CREATE FUNCTION test_outage() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'injected outage'; END $$",
            )
            .execute(p)
            .await
            .expect("postgres function");
            sqlx::query(
                "CREATE TRIGGER test_outage BEFORE UPDATE ON job_runs \
                 FOR EACH ROW EXECUTE FUNCTION test_outage()",
            )
            .execute(p)
            .await
            .expect("postgres trigger");
        }
    }
}

/// Ends [`refuse_ledger_writes`].
async fn accept_ledger_writes(db: &Db) {
    match db {
        Db::Sqlite(p) => sqlx::query("DROP TRIGGER test_outage")
            .execute(p)
            .await
            .map(|_| ()),
        Db::Postgres(p) => sqlx::query("DROP TRIGGER test_outage ON job_runs")
            .execute(p)
            .await
            .map(|_| ()),
    }
    .expect("drop trigger");
}

/// Deletes a delivery's message from the apalis jobs table.
async fn delete_message(db: &Db, delivery_id: Uuid) {
    let key = delivery_id.to_string();
    let deleted = match db {
        Db::Sqlite(p) => sqlx::query("DELETE FROM Jobs WHERE idempotency_key = $1")
            .bind(key)
            .execute(p)
            .await
            .map(|r| r.rows_affected()),
        Db::Postgres(p) => sqlx::query("DELETE FROM apalis.jobs WHERE idempotency_key = $1")
            .bind(key)
            .execute(p)
            .await
            .map(|r| r.rows_affected()),
    }
    .expect("delete message");
    assert_eq!(deleted, 1, "the delivery had one message");
}

/// The transport's status and run count of `j`'s current delivery.
async fn message(t: &TestContext, j: &JobRun) -> Option<(String, i64)> {
    let delivery = j.delivery_id.expect("a current delivery");
    database::message_state(&t.app.db, QueueName::Notifications, delivery)
        .await
        .expect("message state")
}

/// Runs the notifications workers until the ledger is idle.
async fn drain(t: &TestContext, deadline: Duration) -> anyhow::Result<()> {
    kiln_worker::run_until_idle(t.app.clone(), &[QueueName::Notifications], deadline).await
}

kiln_jobs::per_backend!(
    stuck_jobs_finish_after_a_database_outage,
    [sqlite, postgres]
);
async fn stuck_jobs_finish_after_a_database_outage(kind: Backend) {
    // Before the fix a run that could not claim was fetched again at once, so
    // a four-second outage used up all 25 runs of every message and the jobs
    // stayed `queued` for good.
    let t = ctx(kind).await;
    let mut jobs = Vec::new();
    for _ in 0..10 {
        jobs.push(enqueue(&t, NoopV1::default()).await);
    }
    refuse_ledger_writes(&t.app.db).await;
    let workers = {
        let t_app = t.app.clone();
        tokio::spawn(async move {
            kiln_worker::run_until_idle(t_app, &[QueueName::Notifications], Duration::from_secs(60))
                .await
        })
    };
    // The outage lasts four seconds, and until every message was refused twice.
    let outage = tokio::time::Instant::now() + Duration::from_secs(4);
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut refused = 0;
        for j in &jobs {
            if message(&t, j).await.is_some_and(|(_, runs)| runs >= 2) {
                refused += 1;
            }
        }
        if refused == jobs.len() && tokio::time::Instant::now() >= outage {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "{kind:?}: the workers did not try every message twice ({refused} of {})",
            jobs.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    accept_ledger_writes(&t.app.db).await;
    workers
        .await
        .expect("workers")
        .unwrap_or_else(|e| panic!("{kind:?}: the jobs did not finish after the outage: {e}"));
    let mut runs = Vec::new();
    for before in &jobs {
        let after = job(&t, before.id).await;
        assert_eq!(after.status, JobStatus::Succeeded, "{kind:?}: {after:?}");
        assert_eq!(after.attempts, 1, "{kind:?}: only the last run claimed");
        // Its own message finished it: the backoff kept it alive, the sweeper
        // had nothing to re-deliver.
        assert_eq!(after.delivery_id, before.delivery_id, "{kind:?}");
        let (status, n) = message(&t, &after).await.expect("the message is kept");
        assert_eq!(status, "Done", "{kind:?}");
        runs.push(n);
    }
    let most = runs.iter().copied().max().unwrap_or_default();
    println!("{kind:?}: transport runs per message over the outage: {runs:?}");
    assert!(
        most < i64::try_from(TRANSPORT_MAX_ATTEMPTS).unwrap_or(i64::MAX) / 2,
        "{kind:?}: the outage used up {most} of {TRANSPORT_MAX_ATTEMPTS} transport runs"
    );
}

kiln_jobs::per_backend!(
    a_job_whose_queue_message_is_gone_is_redelivered_and_succeeds,
    [sqlite, postgres]
);
async fn a_job_whose_queue_message_is_gone_is_redelivered_and_succeeds(kind: Backend) {
    let t = ctx(kind).await;
    let before = enqueue(&t, NoopV1::default()).await;
    delete_message(&t.app.db, before.delivery_id.expect("delivery")).await;
    drain(&t, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{kind:?}: the job whose message is gone never ran: {e}"));
    let after = job(&t, before.id).await;
    assert_eq!(
        (after.status, after.attempts),
        (JobStatus::Succeeded, 1),
        "{kind:?}"
    );
    assert_ne!(
        after.delivery_id, before.delivery_id,
        "a new delivery ran it"
    );
}

kiln_jobs::per_backend!(
    a_running_job_whose_message_was_given_up_on_its_last_attempt_ends_dead_with_its_history_closed,
    [sqlite, postgres]
);
async fn a_running_job_whose_message_was_given_up_on_its_last_attempt_ends_dead_with_its_history_closed(
    kind: Backend,
) {
    let t = ctx(kind).await;
    let db = &t.app.db;
    let user = Uuid::now_v7();
    users::insert(db, user, "ada@example.com", "x", "user", Utc::now())
        .await
        .expect("user");
    let queued = notifications::enqueue::enqueue(
        &t.app,
        &NotificationRequest {
            user_id: user,
            channels: vec![NotifyChannel::Email],
            template: "welcome".into(),
            params: serde_json::Map::new(),
            requested_by: "system".into(),
            idempotency_key: None,
        },
    )
    .await
    .expect("notification queued");
    let row = &queued.deliveries[0];
    let job_id = row.job_id.expect("the email's job");
    // Its worker claimed the last attempt, then the ledger could not record
    // anything until the transport gave the message up.
    let j = job(&t, job_id).await;
    let delivery = j.delivery_id.expect("delivery");
    let last = i32::try_from(j.max_attempts).expect("attempts");
    match db {
        Db::Sqlite(p) => {
            sqlx::query("UPDATE job_runs SET status = 'running', attempts = $2 WHERE id = $1")
                .bind(job_id)
                .bind(last)
                .execute(p)
                .await
                .expect("running");
            sqlx::query(
                "UPDATE Jobs SET status = 'Failed', attempts = max_attempts WHERE idempotency_key = $1",
            )
            .bind(delivery.to_string())
            .execute(p)
            .await
            .expect("given up");
        }
        Db::Postgres(p) => {
            sqlx::query("UPDATE job_runs SET status = 'running', attempts = $2 WHERE id = $1")
                .bind(job_id)
                .bind(last)
                .execute(p)
                .await
                .expect("running");
            sqlx::query(
                "UPDATE apalis.jobs SET status = 'Failed', attempts = max_attempts WHERE idempotency_key = $1",
            )
            .bind(delivery.to_string())
            .execute(p)
            .await
            .expect("given up");
        }
    }
    drain(&t, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{kind:?}: the given-up job stayed running: {e}"));
    let j = job(&t, job_id).await;
    assert_eq!(j.status, JobStatus::Dead, "{kind:?}: {j:?}");
    let history = notifications::repo::get(db, row.id)
        .await
        .expect("history")
        .expect("row");
    assert_eq!(history.status, NotificationStatus::Dead, "{kind:?}");
}

kiln_jobs::per_backend!(
    sweepers_running_at_once_redeliver_each_lost_job_once,
    [sqlite, postgres]
);
async fn sweepers_running_at_once_redeliver_each_lost_job_once(kind: Backend) {
    let t = ctx(kind).await;
    let mut jobs = Vec::new();
    for _ in 0..20 {
        let j = enqueue(&t, NoopV1::default()).await;
        delete_message(&t.app.db, j.delivery_id.expect("delivery")).await;
        jobs.push(j);
    }
    let mut a = Sweeper::with_grace(Duration::ZERO, t.app.config.clone());
    let mut b = Sweeper::with_grace(Duration::ZERO, t.app.config.clone());
    let (ra, rb) = tokio::join!(a.sweep(&t.app.ledger), b.sweep(&t.app.ledger));
    let (ra, rb) = (ra.expect("sweep a"), rb.expect("sweep b"));
    assert_eq!(ra.repushed + rb.repushed, 20, "{kind:?}: {ra:?} {rb:?}");
    for before in &jobs {
        let after = job(&t, before.id).await;
        assert_ne!(after.delivery_id, before.delivery_id);
        assert_eq!(
            message(&t, &after).await,
            Some(("Pending".to_owned(), 0)),
            "{kind:?}"
        );
    }
    assert_eq!(
        crate::transport_backlog(&t).await,
        20,
        "one message per job"
    );
    // The new messages are live: nothing more to do.
    assert_eq!(a.sweep(&t.app.ledger).await.expect("sweep").repushed, 0);
}

kiln_jobs::per_backend!(
    the_sweeper_leaves_live_messages_alone_and_redelivers_one_locked_past_its_queue_timeout,
    [sqlite, postgres]
);
async fn the_sweeper_leaves_live_messages_alone_and_redelivers_one_locked_past_its_queue_timeout(
    kind: Backend,
) {
    let t = ctx(kind).await;
    let waiting = enqueue(&t, NoopV1::default()).await;
    let backing_off = enqueue(&t, NoopV1::default()).await;
    let locked_now = enqueue(&t, NoopV1::default()).await;
    let locked_long_ago = enqueue(&t, NoopV1::default()).await;
    let now = Utc::now();
    let long_ago = now - chrono::Duration::days(1);
    let set =
        |j: &JobRun, status: &'static str, runs: i32, locked: Option<chrono::DateTime<Utc>>| {
            let (db, key) = (
                t.app.db.clone(),
                j.delivery_id.expect("delivery").to_string(),
            );
            async move {
                match &db {
                Db::Sqlite(p) => sqlx::query(
                    "UPDATE Jobs SET status = $1, attempts = $2, lock_at = $3, run_at = $4 \
                     WHERE idempotency_key = $5",
                )
                .bind(status)
                .bind(runs)
                .bind(locked.map(|l| l.timestamp()))
                .bind((now + chrono::Duration::hours(1)).timestamp())
                .bind(key)
                .execute(p)
                .await
                .map(|_| ()),
                Db::Postgres(p) => sqlx::query(
                    "UPDATE apalis.jobs SET status = $1, attempts = $2, lock_at = $3, run_at = $4 \
                     WHERE idempotency_key = $5",
                )
                .bind(status)
                .bind(runs)
                .bind(locked)
                .bind(now + chrono::Duration::hours(1))
                .bind(key)
                .execute(p)
                .await
                .map(|_| ()),
            }
            .expect("set message state");
            }
        };
    set(&backing_off, "Failed", 3, None).await;
    set(&locked_now, "Running", 1, Some(now)).await;
    set(&locked_long_ago, "Running", 1, Some(long_ago)).await;
    let mut sweeper = Sweeper::with_grace(Duration::ZERO, t.app.config.clone());
    let report = sweeper.sweep(&t.app.ledger).await.expect("sweep");
    assert_eq!((report.checked, report.repushed), (4, 1), "{kind:?}");
    for kept in [&waiting, &backing_off, &locked_now] {
        assert_eq!(
            job(&t, kept.id).await.delivery_id,
            kept.delivery_id,
            "{kind:?}"
        );
    }
    let moved = job(&t, locked_long_ago.id).await;
    assert_ne!(moved.delivery_id, locked_long_ago.delivery_id, "{kind:?}");
    assert_eq!(
        message(&t, &moved).await,
        Some(("Pending".to_owned(), 0)),
        "{kind:?}"
    );
}

/// Renames the apalis jobs table away (`away`) or back, so that every fetch
/// and heartbeat of the SQL transport fails while it is away.
async fn hide_queue_table(db: &Db, away: bool) {
    let sql = match (db, away) {
        (Db::Sqlite(_), true) => "ALTER TABLE Jobs RENAME TO jobs_hidden",
        (Db::Sqlite(_), false) => "ALTER TABLE jobs_hidden RENAME TO Jobs",
        (Db::Postgres(_), true) => "ALTER TABLE apalis.jobs RENAME TO jobs_hidden",
        (Db::Postgres(_), false) => "ALTER TABLE apalis.jobs_hidden RENAME TO jobs",
    };
    match db {
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(drop),
        Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(drop),
    }
    .expect("rename the queue table");
}

kiln_jobs::per_backend!(
    a_worker_whose_fetches_fail_fetches_again_once_the_database_answers,
    [sqlite, postgres]
);
async fn a_worker_whose_fetches_fail_fetches_again_once_the_database_answers(kind: Backend) {
    // A fetch that fails (a locked SQLite file, a dropped connection) ends the
    // apalis worker with a backend error; the monitor must restart it, and the
    // restarted worker must fetch what is queued.
    let t = ctx(kind).await;
    let token = tokio_util::sync::CancellationToken::new();
    let runtime = {
        let (app, token) = (t.app.clone(), token.clone());
        tokio::spawn(async move { kiln_worker::run(app, &[QueueName::Notifications], token).await })
    };
    let first = enqueue(&t, NoopV1::default()).await;
    crate::wait_for_status(&t, first.id, JobStatus::Succeeded).await;
    hide_queue_table(&t.app.db, true).await;
    // Several poll intervals and at least one heartbeat fail.
    tokio::time::sleep(Duration::from_secs(2)).await;
    hide_queue_table(&t.app.db, false).await;
    let second = enqueue(&t, NoopV1::default()).await;
    let done = crate::wait_for_status(&t, second.id, JobStatus::Succeeded).await;
    assert_eq!(done.attempts, 1, "{kind:?}");
    token.cancel();
    tokio::time::timeout(Duration::from_secs(15), runtime)
        .await
        .expect("stops")
        .expect("join")
        .expect("clean stop");
}
