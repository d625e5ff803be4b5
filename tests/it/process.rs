//! The `kiln` binary: SIGKILL while jobs run loses none of them; SIGTERM lets
//! the in-flight job finish and exits 0.

use std::{
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use kiln_jobs::{
    AppContext, JobStatus, db::Db, ledger::NewJob, noop::NoopV1, testing::test_config,
};

/// A running `kiln`, killed when dropped so a failing test leaves no process behind.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

struct Binary {
    dir: tempfile::TempDir,
    port: u16,
}

impl Binary {
    fn new() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        Binary {
            dir: tempfile::tempdir().expect("dir"),
            port,
        }
    }

    fn start(&self) -> Running {
        let child = Command::new(env!("CARGO_BIN_EXE_kiln"))
            .arg("serve")
            .current_dir(self.dir.path())
            .env("KILN__DATA_DIR", self.dir.path())
            .env("KILN__HTTP__LISTEN", format!("127.0.0.1:{}", self.port))
            .env("KILN__HTTP__INTERNAL_LISTEN", "127.0.0.1:0")
            .env("KILN__QUEUES__POLL_INTERVAL_MS", "50")
            .env("KILN__QUEUES__HEARTBEAT_SECS", "1")
            .env("KILN__QUEUES__MISSED_HEARTBEATS", "2")
            .env(
                "KILN__AUTH__JWT_SECRET",
                "test-secret-test-secret-test-secret!",
            )
            .env_remove("DATABASE_URL")
            .env_remove("STORAGE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kiln");
        Running(child)
    }

    async fn wait_ready(&self) {
        wait_ready_on(self.port).await;
    }

    /// A second handle on the binary's SQLite database, as a producer.
    async fn context(&self) -> AppContext {
        let mut config = test_config(self.dir.path());
        config.storage.url = None;
        let db = Db::connect(&config.database_url(), 4, Duration::from_secs(10))
            .await
            .expect("open db");
        AppContext::with_db(Arc::new(config), db).expect("context")
    }
}

async fn read_job(app: &AppContext, id: uuid::Uuid) -> kiln_jobs::JobRun {
    app.ledger
        .get(id, None)
        .await
        .expect("get")
        .expect("exists")
}

pub async fn wait_until(app: &AppContext, ids: &[uuid::Uuid], status: JobStatus, secs: u64) {
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let mut all = true;
        for id in ids {
            let j = read_job(app, *id).await;
            all &= j.status == status;
        }
        if all {
            return;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "jobs never all {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn signal(child: &Running, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.0.id().to_string())
        .status()
        .expect("kill");
    assert!(ok.success());
}

#[tokio::test]
async fn sigkill_while_jobs_run_loses_none_of_them() {
    let bin = Binary::new();
    let mut child = bin.start();
    bin.wait_ready().await;
    let app = bin.context().await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        let job = NoopV1 {
            sleep_ms: 3_000,
            ..Default::default()
        };
        ids.push(
            app.ledger
                .enqueue(NewJob::new("tester", job))
                .await
                .expect("enqueue")
                .job()
                .id,
        );
    }
    wait_until(&app, &ids, JobStatus::Running, 20).await;
    signal(&child, "KILL");
    let _ = child.0.wait();

    let mut child = bin.start();
    bin.wait_ready().await;
    wait_until(&app, &ids, JobStatus::Succeeded, 40).await;
    for id in &ids {
        let j = read_job(&app, *id).await;
        assert_eq!(j.attempts, 2, "ran once more after the crash: {j:?}");
    }
    // Ledger and queue agree: nothing is left pending or running in the queue.
    let Db::Sqlite(pool) = &app.db else {
        unreachable!("embedded")
    };
    // Acknowledgements are written in batches, so allow the queue a moment to catch up.
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let states: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM Jobs GROUP BY status")
                .fetch_all(pool)
                .await
                .expect("count");
        let open: i64 = states
            .iter()
            .filter(|(s, _)| s != "Done")
            .map(|(_, n)| n)
            .sum();
        if open == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "queue still holds {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(&child, "TERM");
    assert!(child.0.wait().expect("wait").success());
}

#[tokio::test]
async fn sigterm_lets_the_in_flight_job_finish_and_exits_cleanly() {
    let bin = Binary::new();
    let mut child = bin.start();
    bin.wait_ready().await;
    let app = bin.context().await;
    let job = NoopV1 {
        sleep_ms: 1_500,
        ..Default::default()
    };
    let id = app
        .ledger
        .enqueue(NewJob::new("tester", job))
        .await
        .expect("enqueue")
        .job()
        .id;
    wait_until(&app, &[id], JobStatus::Running, 20).await;
    signal(&child, "TERM");
    // A clean exit may take up to the workers' grace (worker.shutdown_timeout_secs,
    // 30 s by default) plus the HTTP drain; wait past that, so a loaded machine
    // is not mistaken for a hang.
    let until = std::time::Instant::now() + Duration::from_secs(45);
    let status = loop {
        if let Some(s) = child.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            std::time::Instant::now() < until,
            "kiln did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
    let j = read_job(&app, id).await;
    assert_eq!(j.status, JobStatus::Succeeded);
    assert_eq!(j.attempts, 1);
}

/// A `kiln worker` process on the Redis transport of `t`, with its probe port.
fn start_redis_worker(t: &kiln_jobs::testing::TestContext, lease_secs: u64) -> (Running, u16) {
    start_redis_process(t, "worker", lease_secs, &[], None)
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// `kiln <command>` (`api` or `worker`) on the Redis transport of `t`, with
/// `extra` variables and its logs written to `log` (else dropped); returns
/// it and the port of its probe listener (the worker's) or public listener
/// (the API's).
pub fn start_redis_process(
    t: &kiln_jobs::testing::TestContext,
    command: &str,
    lease_secs: u64,
    extra: &[(&str, String)],
    log: Option<std::fs::File>,
) -> (Running, u16) {
    let port = free_port();
    let prefix = t.redis_prefix.as_deref().expect("a Redis test context");
    let child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg(command)
        .current_dir(t.dir.path())
        .env("KILN__DATA_DIR", t.dir.path())
        .env("DATABASE_URL", &t.database_url)
        .env("REDIS_URL", kiln_jobs::testing::redis_url())
        .env("KILN__REDIS__PREFIX", prefix)
        .env("KILN__REDIS__LEASE_SECS", lease_secs.to_string())
        .env("KILN__REDIS__BLOCK_MS", "200")
        .env("KILN__WORKER__LISTEN", format!("127.0.0.1:{port}"))
        .env("KILN__HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("KILN__HTTP__INTERNAL_LISTEN", "127.0.0.1:0")
        .env("KILN__DATABASE__MIGRATE_ON_START", "false")
        .env(
            "KILN__AUTH__JWT_SECRET",
            "test-secret-test-secret-test-secret!",
        )
        .env_remove("STORAGE_URL")
        .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(log.map_or_else(Stdio::null, Stdio::from))
        .spawn()
        .expect("start kiln");
    (Running(child), port)
}

/// Waits (bounded) until `/health/ready` on `port` answers 200: the HTTP
/// tier's listener or a worker's probe listener.
pub async fn wait_ready_on(port: u16) {
    let url = format!("http://127.0.0.1:{port}/health/ready");
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(&url).await
            && r.status() == 200
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "kiln on port {port} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_sigkilled_redis_worker_s_jobs_run_again_on_another_within_the_lease() {
    let t =
        kiln_jobs::testing::TestContext::with_backend(kiln_jobs::testing::Backend::Redis, |_| {})
            .await;
    let lease = Duration::from_secs(3);
    let (mut a, port_a) = start_redis_worker(&t, lease.as_secs());
    wait_ready_on(port_a).await;
    let mut ids = Vec::new();
    // Long enough that all six run at once even when a loaded machine
    // claims them seconds apart (CI once saw the first end before the last began).
    for _ in 0..6 {
        let job = NoopV1 {
            sleep_ms: 6_000,
            ..Default::default()
        };
        ids.push(
            t.app
                .ledger
                .enqueue(NewJob::new("tester", job))
                .await
                .expect("enqueue")
                .job()
                .id,
        );
    }
    wait_until(&t.app, &ids, JobStatus::Running, 20).await;
    signal(&a, "KILL");
    let _ = a.0.wait();
    let killed_at = chrono::Utc::now();

    let (mut b, port_b) = start_redis_worker(&t, lease.as_secs());
    wait_ready_on(port_b).await;
    wait_until(&t.app, &ids, JobStatus::Succeeded, 40).await;
    for id in &ids {
        let j = read_job(&t.app, *id).await;
        assert_eq!(j.attempts, 2, "ran once more after the crash: {j:?}");
        let restarted_after = j.started_at.expect("started") - killed_at;
        assert!(
            restarted_after <= chrono::Duration::from_std(lease * 3).expect("duration"),
            "taken over within the lease (plus one renewal period): {restarted_after}"
        );
    }
    signal(&b, "TERM");
    assert!(b.0.wait().expect("wait").success());
}

/// `kiln user create` bootstraps the first admin, who can then log in and
/// administer users over the API.
#[tokio::test]
async fn user_create_bootstraps_an_admin_who_can_log_in() {
    let bin = Binary::new();
    let create = |extra: &[&str], stdin: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
        cmd.args(["user", "create"])
            .args(extra)
            .current_dir(bin.dir.path())
            .env("KILN__DATA_DIR", bin.dir.path())
            .env_remove("DATABASE_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kiln user create");
        if let Some(input) = stdin {
            use std::io::Write;
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("wait")
    };
    let out = create(&["--email", "Admin@Example.com", "--role", "admin"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let password = stdout
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .expect("generated password printed")
        .to_owned();
    let out = create(
        &[
            "--email",
            "ops@example.com",
            "--role",
            "operator",
            "--password-stdin",
        ],
        Some("my own long passphrase\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("password"));
    let out = create(&["--email", "ops@example.com", "--role", "operator"], None);
    assert!(!out.status.success(), "a taken email fails");
    let out = create(&["--email", "x@example.com", "--role", "root"], None);
    assert!(!out.status.success(), "an unknown role fails");

    let _kiln = bin.start();
    bin.wait_ready().await;
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", bin.port);
    let login = |email: &'static str, password: String| {
        let http = http.clone();
        let url = format!("{base}/v1/auth/login");
        async move {
            http.post(url)
                .json(&serde_json::json!({"email": email, "password": password}))
                .send()
                .await
                .expect("login")
        }
    };
    let resp = login("admin@example.com", password).await;
    assert_eq!(resp.status(), 200);
    let tokens: serde_json::Value = resp.json().await.expect("tokens");
    assert_eq!(tokens["user"]["role"], "admin");
    let users: serde_json::Value = http
        .get(format!("{base}/v1/users"))
        .bearer_auth(tokens["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("users")
        .json()
        .await
        .expect("json");
    assert_eq!(users["items"].as_array().map(Vec::len), Some(2), "{users}");
    let resp = login("ops@example.com", "my own long passphrase".into()).await;
    assert_eq!(resp.status(), 200);
}

/// Runs `kiln queue <action> notifications` against `t`'s database.
fn queue_command(t: &kiln_jobs::testing::TestContext, action: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["queue", action, "notifications"])
        .current_dir(t.dir.path())
        .env("KILN__DATA_DIR", t.dir.path())
        .env("DATABASE_URL", &t.database_url)
        .env("KILN__DATABASE__MIGRATE_ON_START", "false")
        .output()
        .expect("run kiln queue");
    assert!(
        out.status.success(),
        "kiln queue {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_pause_stops_every_redis_worker_process_and_a_resume_starts_them() {
    let t =
        kiln_jobs::testing::TestContext::with_backend(kiln_jobs::testing::Backend::Redis, |_| {})
            .await;
    let (mut a, port_a) = start_redis_worker(&t, 3);
    let (mut b, port_b) = start_redis_worker(&t, 3);
    wait_ready_on(port_a).await;
    wait_ready_on(port_b).await;
    queue_command(&t, "pause");
    // Both processes read the pause within a second; give them two.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(
            t.app
                .ledger
                .enqueue(NewJob::new("tester", NoopV1::default()))
                .await
                .expect("enqueue while paused")
                .job()
                .id,
        );
    }
    // Either process, had it missed the pause, would have run some by now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for id in &ids {
        let j = read_job(&t.app, *id).await;
        assert_eq!(
            j.status,
            JobStatus::Queued,
            "nothing starts while paused: {j:?}"
        );
    }
    queue_command(&t, "resume");
    wait_until(&t.app, &ids, JobStatus::Succeeded, 20).await;
    for id in &ids {
        assert_eq!(read_job(&t.app, *id).await.attempts, 1);
    }
    for w in [&a, &b] {
        signal(w, "TERM");
    }
    assert!(a.0.wait().expect("wait").success());
    assert!(b.0.wait().expect("wait").success());
}

/// `kiln queue dead` lists a queue's dead jobs and `kiln queue purge-dead`
/// deletes them, once confirmed.
#[tokio::test]
async fn the_queue_cli_lists_and_purges_dead_jobs_on_sqlite() {
    let t =
        kiln_jobs::testing::TestContext::with_backend(kiln_jobs::testing::Backend::Sqlite, |c| {
            c.queues.notifications.max_attempts = 1;
        })
        .await;
    let doomed = NoopV1 {
        fail_attempts: 1,
        ..Default::default()
    };
    let id = t
        .app
        .ledger
        .enqueue(NewJob::new("tester", doomed))
        .await
        .expect("enqueue")
        .job()
        .id;
    kiln_worker::run_until_idle(
        t.app.clone(),
        &[kiln_jobs::QueueName::Notifications],
        Duration::from_secs(30),
    )
    .await
    .expect("drains");
    assert_eq!(read_job(&t.app, id).await.status, JobStatus::Dead);
    let kiln = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args(args)
            .current_dir(t.dir.path())
            .env("KILN__DATA_DIR", t.dir.path())
            .env("DATABASE_URL", &t.database_url)
            .env("KILN__DATABASE__MIGRATE_ON_START", "false")
            .output()
            .expect("run kiln")
    };
    let listed = kiln(&["queue", "dead", "notifications"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let out = String::from_utf8_lossy(&listed.stdout);
    assert!(out.contains(&id.to_string()), "{out}");
    assert!(out.contains("asked to fail"), "its last error: {out}");

    let unconfirmed = kiln(&["queue", "purge-dead", "notifications"]);
    assert!(!unconfirmed.status.success(), "needs --yes");
    assert!(t.app.ledger.get(id, None).await.expect("read").is_some());
    let purged = kiln(&["queue", "purge-dead", "notifications", "--yes"]);
    assert!(
        purged.status.success(),
        "{}",
        String::from_utf8_lossy(&purged.stderr)
    );
    assert!(
        String::from_utf8_lossy(&purged.stdout).contains("1 dead jobs of notifications deleted"),
        "{}",
        String::from_utf8_lossy(&purged.stdout)
    );
    assert!(t.app.ledger.get(id, None).await.expect("read").is_none());
}
