//! Redis going away during a run, on a private `redis-server` the test starts
//! on its own port (without persistence, so a restart loses every key).

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use kiln_jobs::{
    JobStatus, QueueName,
    ledger::NewJob,
    noop::NoopV1,
    testing::{Backend, TestContext},
};
use tokio_util::sync::CancellationToken;

use crate::{job, wait_for_status};

/// A `redis-server` child process on a fixed port.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl PrivateRedis {
    fn start() -> PrivateRedis {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut r = PrivateRedis {
            port,
            child: None,
            dir: tempfile::tempdir().expect("dir"),
        };
        r.restart();
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("redis-server is required for this test (scripts/test.sh installs it): {e}")
            });
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let up = redis::Client::open(self.url().as_str())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if up.is_ok() {
                return;
            }
            assert!(Instant::now() < until, "private redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn noop(sleep_ms: u64) -> NewJob {
    NewJob::new(
        "tester",
        NoopV1 {
            sleep_ms,
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn workers_and_producers_recover_when_redis_is_down_for_ten_seconds() {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    let t = TestContext::with_backend(Backend::Redis, |c| {
        c.redis.url = Some(secrecy::SecretString::from(url));
        c.redis.connect_timeout_ms = 500;
        c.redis.command_timeout_ms = 500;
        c.redis.sweep_interval_secs = 1;
        c.redis.sweep_grace_secs = 1;
        c.queues.notifications.concurrency = 4;
    })
    .await;
    let token = CancellationToken::new();
    let runtime = {
        let (app, token) = (t.app.clone(), token.clone());
        tokio::spawn(async move { kiln_worker::run(app, &[QueueName::Notifications], token).await })
    };
    let mut accepted = Vec::new();
    for _ in 0..40 {
        let e = t.app.ledger.enqueue(noop(100)).await.expect("enqueue");
        accepted.push(e.job().id);
    }
    // Some are done, some running, most still queued when Redis goes away.
    wait_for_status(&t, accepted[0], JobStatus::Succeeded).await;
    redis.stop();
    let down_at = Instant::now();

    // While it is down: producers get an error quickly and leave nothing behind,
    // and readiness reports the queue down.
    let before = kiln_jobs::db::job_runs::count_by_status(&t.app.db)
        .await
        .expect("counts");
    let started = Instant::now();
    let err = t
        .app
        .ledger
        .enqueue(noop(0))
        .await
        .expect_err("Redis is down");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the enqueue failed within its timeout"
    );
    assert!(
        matches!(err, kiln_jobs::ledger::LedgerError::Queue(_)),
        "{err}"
    );
    let after = kiln_jobs::db::job_runs::count_by_status(&t.app.db)
        .await
        .expect("counts");
    assert_eq!(
        before.iter().map(|(_, n)| n).sum::<i64>(),
        after.iter().map(|(_, n)| n).sum::<i64>(),
        "the failed enqueue left no job"
    );
    assert!(t.app.ledger.queue_ping().await.is_err());

    // The outage itself is the wall-clock duration under test: ten seconds down in all.
    let outage = Duration::from_secs(10).saturating_sub(down_at.elapsed());
    tokio::time::sleep(outage).await;
    redis.restart();

    // Back up: the same process enqueues again without a restart.
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        if t.app.ledger.queue_ping().await.is_ok() {
            break;
        }
        assert!(Instant::now() < until, "the connection never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..10 {
        let e = t
            .app
            .ledger
            .enqueue(noop(0))
            .await
            .expect("enqueue after recovery");
        accepted.push(e.job().id);
    }
    // Every job answered as accepted runs, exactly once; what Redis lost in
    // the restart came back through the sweeper.
    for id in &accepted {
        wait_for_status(&t, *id, JobStatus::Succeeded).await;
    }
    for id in &accepted {
        assert_eq!(job(&t, *id).await.attempts, 1, "ran exactly once");
    }
    assert!(
        !runtime.is_finished(),
        "the workers kept running through the outage"
    );
    token.cancel();
    runtime.await.expect("join").expect("clean stop");
}
