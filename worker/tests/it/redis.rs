//! The Redis Streams transport against a real Redis: backlog, leases,
//! hand-back, poison, sweeper, outages. Each test has its own key prefix.

use std::time::Duration;

use kiln_jobs::{
    JobStatus, QueueName,
    db::job_runs,
    ledger::NewJob,
    noop::NoopV1,
    queue::{
        QueueMessage, Transport,
        redis::{GROUP, Outgoing, RedisQueue},
    },
    testing::{Backend, TestContext},
};
use kiln_worker::sweeper::Sweeper;
use redis::AsyncCommands;
use tokio_util::sync::CancellationToken;

use crate::{ctx, drain, enqueue, job, wait_for_status};

fn redis_of(t: &TestContext) -> RedisQueue {
    match t.app.ledger.transport() {
        Transport::Redis(r) => r.clone(),
        Transport::Database => panic!("this test needs the Redis transport"),
    }
}

/// A connection of the test's own to the suite's Redis.
async fn conn() -> redis::aio::MultiplexedConnection {
    let url = kiln_jobs::testing::redis_url();
    redis::Client::open(url.as_str())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis")
}

async fn counts(t: &TestContext) -> Vec<(String, i64)> {
    job_runs::count_by_status(&t.app.db).await.expect("counts")
}

/// Why Kiln does not use apalis-redis 1.0.0: its fetch script does
/// `RPUSH active unpack(due ids)`, and Redis' Lua cannot unpack 8,000 values,
/// so a backlog of 8,000 due jobs kills every worker. Reproduced here on the
/// Redis the suite runs against; none of Kiln's scripts unpack a list.
#[tokio::test]
async fn redis_lua_cannot_unpack_8000_values() {
    let t = ctx(Backend::Redis).await;
    let mut c = conn().await;
    let key = format!("{{{}}}:unpack", t.redis_prefix.as_deref().expect("prefix"));
    let script = redis::Script::new("return redis.call('RPUSH', KEYS[1], unpack(ARGV))");
    let ids = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>();
    let ok: i64 = script
        .key(&key)
        .arg(ids(7_999))
        .invoke_async(&mut c)
        .await
        .expect("7,999 values unpack");
    assert_eq!(ok, 7_999);
    let err = script
        .key(&key)
        .arg(ids(8_000))
        .invoke_async::<i64>(&mut c)
        .await
        .expect_err("8,000 values do not");
    assert!(
        err.to_string().contains("too many results to unpack"),
        "{err}"
    );
}

#[tokio::test]
async fn push_is_idempotent_per_delivery() {
    let t = ctx(Backend::Redis).await;
    let r = redis_of(&t);
    let msg = QueueMessage {
        job_id: uuid::Uuid::now_v7(),
        delivery_id: uuid::Uuid::now_v7(),
        payload: serde_json::json!({ "type": "noop.v1" }),
    };
    let out = [Outgoing {
        message: &msg,
        delay: Duration::ZERO,
    }];
    assert_eq!(
        r.push(QueueName::Notifications, &out).await.expect("push"),
        1
    );
    // A producer whose first push timed out pushes again: still one message.
    assert_eq!(
        r.push(QueueName::Notifications, &out).await.expect("push"),
        0
    );
    let stats = r.stats(QueueName::Notifications).await.expect("stats");
    assert_eq!(stats.ready, 1);
    // A new delivery of the same job (a retry) is a new message.
    let retry = QueueMessage {
        delivery_id: uuid::Uuid::now_v7(),
        ..msg.clone()
    };
    let out = [Outgoing {
        message: &retry,
        delay: Duration::from_secs(60),
    }];
    assert_eq!(
        r.push(QueueName::Notifications, &out).await.expect("push"),
        1
    );
    let stats = r.stats(QueueName::Notifications).await.expect("stats");
    assert_eq!((stats.ready, stats.delayed), (1, 1));
    assert!(
        r.missing(QueueName::Notifications, &[(msg.job_id, msg.delivery_id)])
            .await
            .expect("missing")[0],
        "the index follows the newest delivery"
    );
}

#[tokio::test]
async fn a_50000_job_backlog_drains_completely() {
    let t = ctx(Backend::Redis).await;
    let jobs: Vec<NewJob> = (0..50_000)
        .map(|_| NewJob::new("tester", NoopV1::default()))
        .collect();
    let created = t.app.ledger.enqueue_many(jobs).await.expect("enqueue");
    assert_eq!(created.len(), 50_000);
    let stats = redis_of(&t)
        .stats(QueueName::Notifications)
        .await
        .expect("stats");
    assert_eq!(stats.ready, 50_000, "the whole backlog is ready at once");
    kiln_worker::run_until_idle(
        t.app.clone(),
        &[QueueName::Notifications],
        Duration::from_secs(600),
    )
    .await
    .expect("the backlog drains");
    assert_eq!(counts(&t).await, vec![("succeeded".to_owned(), 50_000)]);
    let once: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_runs WHERE attempts = 1")
        .fetch_one(match &t.app.db {
            kiln_jobs::db::Db::Postgres(p) => p,
            kiln_jobs::db::Db::Sqlite(_) => unreachable!("Redis tests use PostgreSQL"),
        })
        .await
        .expect("count");
    assert_eq!(once, 50_000, "every job ran exactly once");
    assert_eq!(crate::transport_backlog(&t).await, 0);
}

#[tokio::test]
async fn an_entry_that_is_not_a_kiln_message_is_kept_aside_and_the_worker_goes_on() {
    let t = ctx(Backend::Redis).await;
    let r = redis_of(&t);
    let keys = r.keys(QueueName::Notifications);
    let mut c = conn().await;
    let _: String = c
        .xadd(&keys.stream, "*", &[("m", "{not json")])
        .await
        .expect("xadd");
    let _: String = c
        .xadd(&keys.stream, "*", &[("other", "field")])
        .await
        .expect("xadd");
    let good = enqueue(&t, NoopV1::default()).await;
    drain(&t).await;
    assert_eq!(job(&t, good.id).await.status, JobStatus::Succeeded);
    let poison: Vec<String> = c.lrange(&keys.poison, 0, -1).await.expect("lrange");
    assert_eq!(poison.len(), 2, "{poison:?}");
    assert!(poison.iter().any(|p| p == "{not json"));
    assert_eq!(crate::transport_backlog(&t).await, 0);
}

#[tokio::test]
async fn jobs_held_by_a_dead_consumer_are_taken_over_after_the_lease() {
    let t = ctx(Backend::Redis).await;
    let mut c = conn().await;
    let r = redis_of(&t);
    let keys = r.keys(QueueName::Notifications);
    let jobs = [
        enqueue(&t, NoopV1::default()).await,
        enqueue(&t, NoopV1::default()).await,
        enqueue(&t, NoopV1::default()).await,
    ];
    // A worker fetched them and died before running them.
    r.ensure_group(QueueName::Notifications)
        .await
        .expect("group");
    let taken: redis::streams::StreamReadReply = c
        .xread_options(
            &[&keys.stream],
            &[">"],
            &redis::streams::StreamReadOptions::default()
                .group(GROUP, "dead-worker")
                .count(10),
        )
        .await
        .expect("xreadgroup");
    assert_eq!(taken.keys[0].ids.len(), 3);
    let started = std::time::Instant::now();
    // Lease 1 s (the test context's redis.lease_secs is overridden below).
    let t2 = TestContext {
        app: with_lease(&t, 1),
        database_url: t.database_url.clone(),
        dir: tempfile::tempdir().expect("dir"),
        redis_prefix: None,
    };
    drain(&t2).await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the lease ran out"
    );
    for j in &jobs {
        let j = job(&t, j.id).await;
        assert_eq!(j.status, JobStatus::Succeeded);
        assert_eq!(j.attempts, 1, "ran exactly once");
    }
    assert_eq!(crate::transport_backlog(&t).await, 0);
}

/// The same application with a different Redis lease.
fn with_lease(t: &TestContext, lease_secs: u64) -> kiln_jobs::AppContext {
    let mut config = (*t.app.config).clone();
    config.redis.lease_secs = lease_secs;
    kiln_jobs::AppContext::with_db(std::sync::Arc::new(config), t.app.db.clone()).expect("context")
}

#[tokio::test]
async fn unstarted_jobs_are_handed_back_at_once_when_a_worker_stops() {
    let t = ctx(Backend::Redis).await;
    let r = redis_of(&t);
    let jobs = [
        enqueue(&t, NoopV1::default()).await,
        enqueue(&t, NoopV1::default()).await,
    ];
    // A stopping worker fetched both and started neither.
    let consumer = kiln_worker::consumer::Consumer::new(r.clone());
    let (shared, _acks) = kiln_worker::stream::StreamShared::new(
        consumer.clone(),
        QueueName::Notifications,
        "stopping-worker".into(),
    );
    r.ensure_group(QueueName::Notifications)
        .await
        .expect("group");
    let mut reader = r.reader().expect("reader");
    let fetched = consumer
        .read(&mut reader, QueueName::Notifications, "stopping-worker", 10)
        .await
        .expect("read");
    assert_eq!(fetched.len(), 2);
    kiln_worker::stream::release_consumer(&shared).await;
    let stats = r.stats(QueueName::Notifications).await.expect("stats");
    assert_eq!(
        (stats.ready, stats.in_flight),
        (2, 0),
        "back in the queue, not pending"
    );
    // With a 60 s lease, only a hand-back lets another worker run them now.
    let started = std::time::Instant::now();
    drain(&t).await;
    assert!(started.elapsed() < Duration::from_secs(30));
    for j in &jobs {
        assert_eq!(job(&t, j.id).await.attempts, 1);
    }
}

#[tokio::test]
async fn the_sweeper_repushes_jobs_redis_lost() {
    let t = ctx(Backend::Redis).await;
    let r = redis_of(&t);
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(enqueue(&t, NoopV1::default()).await.id);
    }
    // Redis restarted without persistence: the queue is gone, the ledger is not.
    r.purge(QueueName::Notifications).await.expect("purge");
    assert_eq!(crate::transport_backlog(&t).await, 0);
    let mut sweeper = Sweeper::with_grace(Duration::ZERO, t.app.config.clone());
    let report = sweeper.sweep(&t.app.ledger).await.expect("sweep");
    assert_eq!((report.checked, report.repushed), (20, 20));
    // A second sweep finds nothing missing: pushes are idempotent.
    let report = sweeper.sweep(&t.app.ledger).await.expect("sweep");
    assert_eq!(report.repushed, 0);
    drain(&t).await;
    for id in ids {
        let j = job(&t, id).await;
        assert_eq!((j.status, j.attempts), (JobStatus::Succeeded, 1));
    }
}

#[tokio::test]
async fn enqueue_fails_and_leaves_no_job_when_redis_is_unreachable() {
    let t = TestContext::with_backend(Backend::Redis, |c| {
        // Nothing listens on port 1.
        c.redis.url = Some(secrecy::SecretString::from("redis://127.0.0.1:1"));
        c.redis.connect_timeout_ms = 300;
        c.redis.command_timeout_ms = 300;
    })
    .await;
    let started = std::time::Instant::now();
    let err = t
        .app
        .ledger
        .enqueue(NewJob::new("tester", NoopV1::default()))
        .await
        .expect_err("Redis is down");
    assert!(
        matches!(err, kiln_jobs::ledger::LedgerError::Queue(_)),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "fails fast");
    assert!(counts(&t).await.is_empty(), "no dangling job");
    assert!(t.app.ledger.queue_ping().await.is_err());
}

#[tokio::test]
async fn delayed_jobs_run_once_across_two_replicas_and_not_early() {
    let t = ctx(Backend::Redis).await;
    let run_at = chrono::Utc::now() + chrono::Duration::milliseconds(1_000);
    let mut jobs = Vec::new();
    for _ in 0..40 {
        let mut new = NewJob::new("tester", NoopV1::default());
        new.run_at = Some(run_at);
        jobs.push(new);
    }
    let created = t.app.ledger.enqueue_many(jobs).await.expect("enqueue");
    let stats = redis_of(&t)
        .stats(QueueName::Notifications)
        .await
        .expect("stats");
    assert_eq!((stats.ready, stats.delayed), (0, 40));
    // Two replicas consume the queue.
    let token = CancellationToken::new();
    let replicas: Vec<_> = (0..2)
        .map(|_| {
            let (app, token) = (t.app.clone(), token.clone());
            tokio::spawn(
                async move { kiln_worker::run(app, &[QueueName::Notifications], token).await },
            )
        })
        .collect();
    for e in &created {
        wait_for_status(&t, e.job().id, JobStatus::Succeeded).await;
    }
    token.cancel();
    for r in replicas {
        r.await.expect("join").expect("clean stop");
    }
    for e in &created {
        let j = job(&t, e.job().id).await;
        assert_eq!(j.attempts, 1, "exactly once");
        assert!(j.started_at.expect("started") >= run_at, "{j:?}");
    }
    assert_eq!(crate::transport_backlog(&t).await, 0);
}

#[tokio::test]
async fn queue_stats_count_ready_delayed_in_flight_and_dead() {
    let t = ctx(Backend::Redis).await;
    enqueue(&t, NoopV1::default()).await;
    enqueue(&t, NoopV1::default()).await;
    let mut later = NewJob::new("tester", NoopV1::default());
    later.run_at = Some(chrono::Utc::now() + chrono::Duration::hours(1));
    t.app.ledger.enqueue(later).await.expect("enqueue");
    let s = notification_stats(&t).await;
    assert_eq!((s.ready, s.delayed, s.in_flight, s.dead), (2, 1, 0, 0));
    // A dead job is counted from the ledger and can be requeued in bulk.
    let dead = enqueue(
        &t,
        NoopV1 {
            fail_attempts: 10,
            ..Default::default()
        },
    )
    .await;
    drain_ready(&t).await;
    assert_eq!(job(&t, dead.id).await.status, JobStatus::Dead);
    let s = notification_stats(&t).await;
    assert_eq!((s.ready, s.delayed, s.dead), (0, 1, 1));
    let requeued = t
        .app
        .ledger
        .retry_dead(QueueName::Notifications, 100)
        .await
        .expect("requeue");
    assert_eq!(requeued, vec![dead.id]);
    assert_eq!(job(&t, dead.id).await.status, JobStatus::Queued);
}

/// Runs workers until nothing is ready, running or due within a minute.
async fn drain_ready(t: &TestContext) {
    let token = CancellationToken::new();
    let runtime = {
        let (app, token) = (t.app.clone(), token.clone());
        tokio::spawn(async move { kiln_worker::run(app, &[QueueName::Notifications], token).await })
    };
    let until = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = notification_stats(t).await;
        let running = counts(t).await.iter().any(|(s, _)| s == "running");
        let soon: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM job_runs WHERE status = 'queued' AND next_run_at < now() + interval '1 minute'",
        )
        .fetch_one(match &t.app.db {
            kiln_jobs::db::Db::Postgres(p) => p,
            kiln_jobs::db::Db::Sqlite(_) => unreachable!("Redis tests use PostgreSQL"),
        })
        .await
        .expect("count");
        if s.ready == 0 && s.in_flight == 0 && !running && soon == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "queue did not settle: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    token.cancel();
    runtime.await.expect("join").expect("clean stop");
}

#[tokio::test]
async fn the_sweeper_redelivers_a_running_job_whose_worker_and_message_are_gone() {
    let t = TestContext::with_backend(Backend::Redis, |c| {
        c.queues.notifications.timeout_secs = 1;
        c.redis.lease_secs = 1;
        c.redis.sweep_grace_secs = 0;
    })
    .await;
    let r = redis_of(&t);
    let j = enqueue(&t, NoopV1::default()).await;
    // A worker claimed it, then the worker and Redis' copy were both lost.
    let claimed = t
        .app
        .ledger
        .claim(j.id, j.delivery_id.expect("delivery"))
        .await
        .expect("claim");
    assert!(claimed.is_some());
    r.purge(QueueName::Notifications).await.expect("purge");
    let mut sweeper = Sweeper::new(t.app.config.clone());
    assert_eq!(
        sweeper.sweep(&t.app.ledger).await.expect("sweep").repushed,
        0,
        "not while it could still be running (timeout + lease)"
    );
    // Wall clock: the sweeper may repush a running job only once timeout + lease (2 s) have passed.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    let repushed = loop {
        let repushed = sweeper.sweep(&t.app.ledger).await.expect("sweep").repushed;
        if repushed > 0 {
            break repushed;
        }
        assert!(
            std::time::Instant::now() < until,
            "the sweeper never redelivered the lost running job"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(repushed, 1);
    drain(&t).await;
    let j = job(&t, j.id).await;
    assert_eq!((j.status, j.attempts), (JobStatus::Succeeded, 2));
}

async fn notification_stats(t: &TestContext) -> kiln_jobs::queue::QueueStats {
    t.app
        .ledger
        .queue_stats(QueueName::Notifications)
        .await
        .expect("stats")
}
