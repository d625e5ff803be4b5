//! Test support (feature `testing`): a fresh database of either kind per test.
//!
//! PostgreSQL tests create their own database through the admin URL in
//! `KILN_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! Redis tests use `KILN_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`),
//! each under its own key prefix, removed when the test ends.
//! A test that cannot reach a service fails loudly; it never skips.

pub mod smtp_sink;

use std::sync::Arc;

use secrecy::SecretString;
use sqlx::{Connection, PgConnection};

use crate::{
    AppContext, Config,
    db::{Db, DbKind},
};

/// Admin URL for creating per-test PostgreSQL databases.
pub fn pg_admin_url() -> String {
    std::env::var("KILN_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Redis URL for tests.
pub fn redis_url() -> String {
    std::env::var("KILN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Where a test's ledger and queues live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded: SQLite ledger and queue.
    Sqlite,
    /// PostgreSQL ledger and queue.
    Postgres,
    /// PostgreSQL ledger, Redis Streams queues (production).
    Redis,
}

impl Backend {
    /// The ledger's database kind.
    pub fn db_kind(self) -> DbKind {
        match self {
            Backend::Sqlite => DbKind::Sqlite,
            Backend::Postgres | Backend::Redis => DbKind::Postgres,
        }
    }
}

impl From<DbKind> for Backend {
    fn from(kind: DbKind) -> Self {
        match kind {
            DbKind::Sqlite => Backend::Sqlite,
            DbKind::Postgres => Backend::Postgres,
        }
    }
}

/// One `#[tokio::test]` per listed backend for the async test body `$behaviour`,
/// a private `async fn $behaviour(backend: Backend)` defined beside it:
///
/// ```ignore
/// kiln_jobs::per_backend!(upload_is_processed_into_variants, [sqlite, postgres, redis]);
/// async fn upload_is_processed_into_variants(backend: Backend) { /* ... */ }
/// ```
///
/// makes the tests `upload_is_processed_into_variants::sqlite`, `::postgres`
/// and `::redis`, so a failure names its backend and does not hide the others.
/// (Stable `macro_rules!` cannot glue identifiers into `…_sqlite`, so each
/// backend is a function in a module named after the behaviour.)
#[macro_export]
macro_rules! per_backend {
    ($behaviour:ident, [$($backend:ident),+ $(,)?]) => {
        mod $behaviour {
            $(
                #[::tokio::test]
                async fn $backend() {
                    super::$behaviour($crate::per_backend!(@backend $backend)).await
                }
            )+
        }
    };
    (@backend sqlite) => { $crate::testing::Backend::Sqlite };
    (@backend postgres) => { $crate::testing::Backend::Postgres };
    (@backend redis) => { $crate::testing::Backend::Redis };
}

/// Every backend, for tests that must pass on each.
pub const ALL_BACKENDS: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::Redis];

/// A configuration for tests: everything under `dir`, fast polling and retries.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut c = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    c.auth.jwt_secret = Some(SecretString::from("test-secret-test-secret-test-secret!"));
    // Still argon2id, at a cost that keeps hundreds of test logins quick.
    c.auth.argon2_memory_kib = 1024;
    c.auth.argon2_iterations = 1;
    // Limits stay on, high enough for tests that log in and poll many times
    // from one address; the rate-limit tests set their own.
    c.rate_limit.auth_per_minute = 6_000;
    c.rate_limit.auth_burst = 1_000;
    c.rate_limit.principal_per_minute = 60_000;
    c.rate_limit.principal_burst = 10_000;
    c.storage.url = Some(dir.join("objects").display().to_string());
    c.queues.poll_interval_ms = 50;
    c.queues.heartbeat_secs = 1;
    c.queues.missed_heartbeats = 2;
    c.worker.shutdown_timeout_secs = 10;
    for p in [
        &mut c.queues.media,
        &mut c.queues.notifications,
        &mut c.queues.webhooks,
        &mut c.queues.reports,
        &mut c.queues.backups,
    ] {
        p.backoff_base_ms = 20;
        p.backoff_max_ms = 100;
    }
    c
}

/// A fresh `s3://` storage URL, under a prefix of its own, on the
/// S3-compatible server `scripts/test.sh` starts (moto_server; it exports
/// `AWS_ENDPOINT` and the other `AWS_*` variables the S3 store reads, and
/// `KILN_TEST_S3_BUCKET`). Panics, naming the fix, when no endpoint is set:
/// a test that needs S3 never skips.
pub fn s3_storage_url() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT").unwrap_or_default();
    assert!(
        !endpoint.is_empty(),
        "this test needs an S3-compatible server: run it with scripts/test.sh, which starts \
         moto_server and sets AWS_ENDPOINT, AWS_ALLOW_HTTP, AWS_REGION and the credentials"
    );
    let bucket = std::env::var("KILN_TEST_S3_BUCKET").unwrap_or_else(|_| "kiln-test".to_owned());
    format!("s3://{bucket}/test-{}", uuid::Uuid::now_v7().simple())
}

/// A database URL for a fresh, empty database of `kind` (created now).
pub async fn fresh_database_url(kind: DbKind, dir: &std::path::Path) -> String {
    match kind {
        DbKind::Sqlite => format!("sqlite:{}", dir.join("kiln.db").display()),
        DbKind::Postgres => {
            let admin = pg_admin_url();
            let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is required for this test and is not reachable at {admin}: {e}. \
                     Run the suite with scripts/test.sh, which starts it."
                )
            });
            let name = format!("kiln_test_{}", uuid::Uuid::now_v7().simple());
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("create test database {name}: {e}"));
            let _ = conn.close().await;
            let (base, _) = admin.rsplit_once('/').unwrap_or((&admin, ""));
            format!("{base}/{name}")
        }
    }
}

/// An application context on a fresh, migrated database.
pub struct TestContext {
    /// The context under test.
    pub app: AppContext,
    /// The database URL (to open it again, e.g. from a second process).
    pub database_url: String,
    /// Holds the data folder (SQLite file, objects) until the test ends.
    pub dir: tempfile::TempDir,
    /// The Redis key prefix of this test, when its queues are on Redis.
    pub redis_prefix: Option<String>,
}

impl Drop for TestContext {
    fn drop(&mut self) {
        if let Some(prefix) = &self.redis_prefix {
            delete_redis_prefix(&self.app.config.redis, prefix);
        }
    }
}

/// Deletes every key under `prefix` (a test's own namespace).
fn delete_redis_prefix(cfg: &crate::queue::config::RedisConfig, prefix: &str) {
    let Some(url) = cfg.url.as_ref() else { return };
    let Ok(client) = redis::Client::open(secrecy::ExposeSecret::expose_secret(url)) else {
        return;
    };
    let Ok(mut conn) = client.get_connection_with_timeout(std::time::Duration::from_secs(2)) else {
        return;
    };
    let pattern = format!("{{{prefix}*");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query(&mut conn)
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<i64, _> = redis::cmd("DEL").arg(&keys).query(&mut conn);
    }
}

impl TestContext {
    /// A fresh context of `kind`; `tweak` adjusts the config first.
    pub async fn new(kind: DbKind, tweak: impl FnOnce(&mut Config)) -> TestContext {
        Self::with_backend(kind.into(), tweak).await
    }

    /// A fresh context on `backend`; `tweak` adjusts the config first.
    pub async fn with_backend(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestContext {
        capture_logs();
        let kind = backend.db_kind();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        let redis_prefix = (backend == Backend::Redis).then(|| {
            let prefix = format!("kiln-test-{}", uuid::Uuid::now_v7().simple());
            config.redis.url = Some(SecretString::from(redis_url()));
            config.redis.prefix = prefix.clone();
            config.redis.block_ms = 200;
            config.redis.promote_interval_ms = 10;
            prefix
        });
        if let Some(url) = config.redis.url.as_ref() {
            let url = secrecy::ExposeSecret::expose_secret(url).to_owned();
            let reachable = redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection_with_timeout(std::time::Duration::from_secs(3)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if let Err(e) = reachable {
                panic!(
                    "Redis is required for this test and is not reachable at {url}: {e}. \
                     Run the suite with scripts/test.sh, which starts it."
                );
            }
        }
        tweak(&mut config);
        let database_url = fresh_database_url(kind, dir.path()).await;
        config.database.url = Some(SecretString::from(database_url.clone()));
        let db = Db::connect(&database_url, 10, std::time::Duration::from_secs(10))
            .await
            .expect("connect test database");
        db.migrate().await.expect("migrate test database");
        let app = AppContext::with_db(Arc::new(config), db).expect("build context");
        TestContext {
            app,
            database_url,
            dir,
            redis_prefix,
        }
    }
}

/// Both database kinds, for tests that must pass on each.
pub const BOTH: [DbKind; 2] = [DbKind::Sqlite, DbKind::Postgres];

/// Checks a Standard Webhooks signature from first principles, as a receiver
/// would: its own HMAC-SHA256 over `{id}.{timestamp}.{body}` with the base64
/// key after `whsec_`, compared with each `v1,` entry of the header. Kiln's
/// signer is not used, so a test that passes this is not checking Kiln against
/// itself.
pub fn standard_webhook_signature_valid(
    secret: &str,
    id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
) -> bool {
    use base64::{Engine, engine::general_purpose::STANDARD};
    use hmac::{Hmac, Mac};
    let Ok(key) = STANDARD.decode(secret.trim_start_matches("whsec_")) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(&key) else {
        return false;
    };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    signature_header.split(' ').any(|s| s == expected)
}

/// A handler's view of job `job_id`, as a worker would build it for a first
/// attempt with an hour to run.
pub fn job_ctx(app: &AppContext, job_id: uuid::Uuid) -> crate::JobCtx {
    crate::JobCtx {
        app: app.clone(),
        job_id,
        owner: "system".into(),
        attempt: 1,
        deadline: chrono::Utc::now() + chrono::Duration::hours(1),
    }
}

/// Makes a manual backup here, as a worker would (its `backup.run` job runs
/// in this task), and returns its row once stored. Panics if it fails.
pub async fn back_up(app: &AppContext, encrypted: bool) -> crate::backups::repo::BackupRow {
    use crate::backups::{BackupRunV1, BackupStatus, Trigger, repo, run};
    let row = run::enqueue(
        app,
        &run::Request {
            trigger: Trigger::Manual,
            schedule_id: None,
            requested_by: "test".into(),
            encrypted,
            idempotency_key: None,
        },
    )
    .await
    .expect("request a backup")
    .backup;
    let job = row.job_id.expect("job");
    run::run(&job_ctx(app, job), BackupRunV1 { backup_id: row.id })
        .await
        .expect("backup.run succeeds");
    let row = repo::get(&app.db, row.id).await.expect("get").expect("row");
    assert_eq!(row.status, BackupStatus::Succeeded, "{:?}", row.error);
    row
}

/// Sends the tracing events of every test in this binary to the test
/// harness's captured output, which it prints for a failing test only:
/// warnings and errors (a worker restarting, a fetch failing) by default,
/// more with `RUST_LOG`. Events from tasks of another test's runtime may
/// show up beside a failure's own.
pub fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        // Another subscriber already installed (a test that sets its own) wins.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// Writes `count` reports straight into the tables (no triage jobs), spread
/// over `count / 3` external targets, for list, export and plan tests. The
/// rows cycle through every reason and status, their details hold commas,
/// quotes and line breaks, and every 100th starts like a spreadsheet
/// formula. Returns the ids in insertion order.
pub async fn seed_reports(app: &AppContext, count: usize) -> Vec<uuid::Uuid> {
    use crate::reports::{Reason, ReportStatus};
    use chrono::{Duration, Utc};
    let targets = (count / 3).max(1);
    let start = Utc::now() - Duration::days(30);
    let target_ids: Vec<uuid::Uuid> = (0..targets).map(|_| uuid::Uuid::now_v7()).collect();
    let mut tx = app.db.begin().await.expect("begin");
    for (c, ids) in target_ids.chunks(500).enumerate() {
        let sql = format!(
            "INSERT INTO report_targets (id, target_type, target_id, priority, first_reported_at, \
             last_reported_at, updated_at) VALUES {}",
            value_rows(ids.len(), "$, 'external', $, $, $, $, $")
        );
        crate::on_tx!(&mut tx, t => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (i, id) in ids.iter().enumerate() {
                let n = c * 500 + i;
                q = q
                    .bind(*id)
                    .bind(format!("comment-{n}"))
                    .bind((n % 40) as f64 / 2.0);
                let at = start + Duration::seconds(n as i64);
                q = q.bind(at).bind(at).bind(at);
            }
            q.execute(&mut **t).await.expect("seed targets");
        });
    }
    let ids: Vec<uuid::Uuid> = (0..count).map(|_| uuid::Uuid::now_v7()).collect();
    for (c, chunk) in ids.chunks(500).enumerate() {
        let sql = format!(
            "INSERT INTO reports (id, target_ref, target_type, target_id, reporter_id, \
             reporter_new, reason, details, status, priority, target_first_at, created_at, \
             updated_at) VALUES {}",
            value_rows(
                chunk.len(),
                "$, $, 'external', $, $, $, $, $, $, $, $, $, $"
            )
        );
        crate::on_tx!(&mut tx, t => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (i, id) in chunk.iter().enumerate() {
                let n = c * 500 + i;
                let tgt = n % targets;
                let details = if n % 100 == 0 {
                    format!("=HYPERLINK(\"http://evil.example/{n}\")")
                } else {
                    format!("report {n}, with \"quotes\"\nand a second line")
                };
                q = q
                    .bind(*id)
                    .bind(target_ids[tgt])
                    .bind(format!("comment-{tgt}"))
                    .bind(uuid::Uuid::now_v7())
                    .bind(n % 7 == 0)
                    .bind(Reason::ALL[n % Reason::ALL.len()].as_str())
                    .bind(details)
                    .bind(ReportStatus::ALL[n % ReportStatus::ALL.len()].as_str())
                    .bind((tgt % 40) as f64 / 2.0)
                    .bind(start + Duration::seconds(tgt as i64));
                let at = start + Duration::seconds(n as i64);
                q = q.bind(at).bind(at);
            }
            q.execute(&mut **t).await.expect("seed reports");
        });
    }
    tx.commit().await.expect("commit");
    ids
}

/// `rows` rows of a multi-row VALUES list, each `row` with every `$`
/// numbered in turn (`$1, $2, …` across the rows).
fn value_rows(rows: usize, row: &str) -> String {
    let mut n = 0;
    (0..rows)
        .map(|_| {
            let cells: Vec<String> = row
                .split('$')
                .enumerate()
                .map(|(i, part)| {
                    if i == 0 {
                        part.to_owned()
                    } else {
                        n += 1;
                        format!("${n}{part}")
                    }
                })
                .collect();
            format!("({})", cells.concat())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// PostgreSQL's plan (EXPLAIN, text) for the moderator list's statement
/// with these filters, sort and page size: what the index tests read.
pub async fn explain_report_groups(
    app: &AppContext,
    filter: &crate::reports::Filter,
    sort: crate::reports::repo::Sort,
    limit: u32,
) -> String {
    use crate::reports::repo::{Bind, bind_all, groups_sql};
    let (sql, binds) = groups_sql(filter, sort, None, limit);
    let crate::db::Db::Postgres(p) = &app.db else {
        panic!("plans are read on PostgreSQL");
    };
    let lines: Vec<String> = bind_all!(
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}"))),
        binds
    )
    .fetch_all(p)
    .await
    .expect("explain");
    lines.join("\n")
}
