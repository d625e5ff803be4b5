//! A send happens once even when recording it fails or a worker loses its
//! lease: real emails to a local SMTP sink, real database faults (a trigger
//! refusing writes), and on Redis a real network partition of one worker.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use kiln_jobs::{
    AppContext, JobStatus, QueueName,
    db::{Db, users},
    ledger::AttemptOutcome,
    notifications::{self, NotificationRequest, NotificationStatus, NotifyChannel, repo},
    testing::{
        Backend, TestContext,
        smtp_sink::{Script, SmtpSink},
    },
};
use secrecy::SecretString;
use tokio::{
    io::copy_bidirectional,
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::job;

/// A context whose emails go to `smtp`, with a 2 s Redis lease and
/// `timeout_secs` per attempt.
async fn mailing(backend: Backend, smtp: &SmtpSink, timeout_secs: u64) -> TestContext {
    let url = smtp.url();
    TestContext::with_backend(backend, move |c| {
        c.mail.smtp_url = Some(SecretString::from(url));
        c.mail.from = "Kiln <noreply@kiln.test>".into();
        c.mail.timeout_secs = timeout_secs;
        c.queues.notifications.timeout_secs = timeout_secs;
        c.redis.lease_secs = 2;
    })
    .await
}

/// Queues one welcome email to a new user; returns its history row and job.
async fn one_email(app: &AppContext) -> (Uuid, Uuid) {
    let user = Uuid::now_v7();
    let email = format!("{}@example.com", user.simple());
    users::insert(&app.db, user, &email, "x", "user", chrono::Utc::now())
        .await
        .expect("user");
    let req = NotificationRequest {
        user_id: user,
        channels: vec![NotifyChannel::Email],
        template: "welcome".into(),
        params: serde_json::Map::new(),
        requested_by: "system".into(),
        idempotency_key: None,
    };
    let queued = notifications::enqueue::enqueue(app, &req)
        .await
        .expect("enqueue");
    let row = &queued.deliveries[0];
    (row.id, row.job_id.expect("a job"))
}

/// Makes the database refuse every update of the ledger and the history
/// while `faulty` holds a row: what a database outage looks like to a worker.
async fn install_write_fault(db: &Db) {
    let statements: &[&str] = match db {
        Db::Postgres(_) => &[
            "CREATE TABLE test_faults (id INTEGER)",
            "CREATE FUNCTION test_refuse_writes() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF EXISTS (SELECT 1 FROM test_faults) THEN \
             RAISE EXCEPTION 'injected fault: writes are refused'; END IF; RETURN NEW; END $$",
            "CREATE TRIGGER test_refuse_job_runs BEFORE UPDATE ON job_runs \
             FOR EACH ROW EXECUTE FUNCTION test_refuse_writes()",
            "CREATE TRIGGER test_refuse_notifications BEFORE UPDATE ON notifications \
             FOR EACH ROW EXECUTE FUNCTION test_refuse_writes()",
        ],
        Db::Sqlite(_) => &[
            "CREATE TABLE test_faults (id INTEGER)",
            "CREATE TRIGGER test_refuse_job_runs BEFORE UPDATE ON job_runs \
             WHEN EXISTS (SELECT 1 FROM test_faults) \
             BEGIN SELECT RAISE(ABORT, 'injected fault: writes are refused'); END",
            "CREATE TRIGGER test_refuse_notifications BEFORE UPDATE ON notifications \
             WHEN EXISTS (SELECT 1 FROM test_faults) \
             BEGIN SELECT RAISE(ABORT, 'injected fault: writes are refused'); END",
        ],
    };
    for sql in statements {
        execute(db, sql).await;
    }
}

async fn execute(db: &Db, sql: &'static str) {
    let done = match db {
        Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    };
    done.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Polls `check` every 10 ms until it holds, for at most `secs` seconds.
async fn until<F, Fut>(what: &str, secs: u64, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn notification(app: &AppContext, id: Uuid) -> repo::NotificationRow {
    repo::get(&app.db, id)
        .await
        .expect("notification")
        .expect("the row exists")
}

kiln_jobs::per_backend!(
    a_send_whose_record_fails_is_recorded_once_the_database_is_back_and_not_sent_again,
    [sqlite, postgres, redis]
);
async fn a_send_whose_record_fails_is_recorded_once_the_database_is_back_and_not_sent_again(
    backend: Backend,
) {
    let smtp = SmtpSink::start(Script {
        answer_delay: Some(Duration::from_millis(300)),
        ..Script::default()
    })
    .await;
    let t = mailing(backend, &smtp, 20).await;
    install_write_fault(&t.app.db).await;
    let (notification_id, job_id) = one_email(&t.app).await;

    let stop = CancellationToken::new();
    let workers = tokio::spawn(kiln_worker::run(
        t.app.clone(),
        &[QueueName::Notifications],
        stop.clone(),
    ));
    // The message is at the server; before it says 250, the database goes away.
    until("the message reaches the SMTP server", 20, || async {
        smtp.waiting() > 0
    })
    .await;
    execute(&t.app.db, "INSERT INTO test_faults (id) VALUES (1)").await;
    until("the server accepts the message", 5, || async {
        !smtp.received().is_empty()
    })
    .await;
    // Long enough for every write of the outcome to fail a few times.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        notification(&t.app, notification_id).await.status,
        NotificationStatus::Sending,
        "{backend:?}: the fault held"
    );
    execute(&t.app.db, "DELETE FROM test_faults").await;

    until("the job ends", 30, || async {
        job(&t, job_id).await.status.is_terminal()
    })
    .await;
    stop.cancel();
    workers.await.expect("join").expect("workers stop");

    let j = job(&t, job_id).await;
    assert_eq!(j.status, JobStatus::Succeeded, "{backend:?}: {j:?}");
    assert_eq!(j.attempts, 1, "{backend:?}: the delivery was not run again");
    let row = notification(&t.app, notification_id).await;
    assert_eq!(row.status, NotificationStatus::Sent, "{backend:?}");
    assert_eq!(
        smtp.received().len(),
        1,
        "{backend:?}: exactly one message reached the server"
    );
}

/// A TCP proxy to Redis that can cut its clients off (a network partition).
struct Partition {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    closed: CancellationToken,
}

impl Partition {
    async fn to(upstream: SocketAddr) -> Partition {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let cut = Arc::new(AtomicBool::new(false));
        let closed = CancellationToken::new();
        let (cut2, closed2) = (cut.clone(), closed.clone());
        tokio::spawn(async move {
            loop {
                let (mut client, _) = tokio::select! {
                    () = closed2.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(c) => c,
                        Err(_) => return,
                    },
                };
                if cut2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let (cut3, closed3) = (cut2.clone(), closed2.clone());
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let watch = async {
                        while !cut3.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut server) => {}
                        () = watch => {}
                        () = closed3.cancelled() => {}
                    }
                });
            }
        });
        Partition { addr, cut, closed }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        self.closed.cancel();
    }
}

kiln_jobs::per_backend!(
    a_worker_that_loses_its_lease_stops_and_the_email_is_sent_once,
    [redis]
);
async fn a_worker_that_loses_its_lease_stops_and_the_email_is_sent_once(backend: Backend) {
    // The server takes 3 s to greet: longer than the 2 s lease.
    let smtp = SmtpSink::start(Script {
        greeting_delay: Some(Duration::from_secs(3)),
        ..Script::default()
    })
    .await;
    let t = mailing(backend, &smtp, 10).await;
    let (notification_id, job_id) = one_email(&t.app).await;

    // Worker A reaches Redis through a proxy, and is alone at first.
    let redis_addr: SocketAddr = kiln_jobs::testing::redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .expect("the test Redis URL is host:port");
    let partition = Partition::to(redis_addr).await;
    let mut config_a = (*t.app.config).clone();
    config_a.redis.url = Some(SecretString::from(format!("redis://{}", partition.addr)));
    let app_a = AppContext::with_db(Arc::new(config_a), t.app.db.clone()).expect("context A");
    let stop_a = CancellationToken::new();
    let mut worker_a = tokio::spawn(kiln_worker::run(
        app_a.clone(),
        &[QueueName::Notifications],
        stop_a.clone(),
    ));
    until("worker A connects to the SMTP server", 20, || async {
        smtp.waiting() > 0
    })
    .await;
    // A is cut off from Redis before the server greets it: its renewals
    // fail from now on, and B takes the job over once the lease runs out.
    partition.cut();
    let stop_b = CancellationToken::new();
    let worker_b = tokio::spawn(kiln_worker::run(
        t.app.clone(),
        &[QueueName::Notifications],
        stop_b.clone(),
    ));

    until("the job ends", 60, || async {
        job(&t, job_id).await.status.is_terminal()
    })
    .await;
    stop_a.cancel();
    stop_b.cancel();
    worker_b.await.expect("join B").expect("worker B stops");
    // A cannot reach Redis to give anything back; it is not waited for long.
    if tokio::time::timeout(Duration::from_secs(5), &mut worker_a)
        .await
        .is_err()
    {
        worker_a.abort();
    }

    let j = job(&t, job_id).await;
    assert_eq!(j.status, JobStatus::Succeeded, "{j:?}");
    assert!(
        j.attempts >= 2,
        "worker B ran it after A lost the lease: {j:?}"
    );
    // The history says so: A's attempt lost, B's the one that succeeded.
    let history = j.history();
    assert_eq!(history.len() as u32, j.attempts, "{history:?}");
    assert_eq!(history[0].outcome, AttemptOutcome::Lost, "{history:?}");
    assert_eq!(history[0].attempt, 1, "{history:?}");
    assert!(
        history[0].finished_at >= history[0].started_at,
        "{history:?}"
    );
    let last = history.last().expect("an attempt");
    assert_eq!(last.outcome, AttemptOutcome::Succeeded, "{history:?}");
    assert_eq!(last.started_at, j.started_at, "{history:?}");
    let row = notification(&t.app, notification_id).await;
    assert_eq!(row.status, NotificationStatus::Sent);
    assert_eq!(smtp.received().len(), 1, "the email was sent once");
    let fenced = app_a.metrics.render().lines().any(|l| {
        l.starts_with("kiln_jobs_processed_total")
            && l.contains("outcome=\"fenced\"")
            && !l.ends_with(" 0")
    });
    assert!(fenced, "worker A stopped the job when it lost its lease");
}
