//! Test support (feature `testing`): a fresh database of either kind per test.
//!
//! PostgreSQL tests create their own database through the admin URL in
//! `KILN_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! A test that cannot reach PostgreSQL fails loudly; it never skips.

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

/// A configuration for tests: everything under `dir`, fast polling and retries.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut c = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    c.auth.jwt_secret = Some(SecretString::from("test-secret-test-secret-test-secret!"));
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
}

impl TestContext {
    /// A fresh context of `kind`; `tweak` adjusts the config first.
    pub async fn new(kind: DbKind, tweak: impl FnOnce(&mut Config)) -> TestContext {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
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
        }
    }
}

/// Both database kinds, for tests that must pass on each.
pub const BOTH: [DbKind; 2] = [DbKind::Sqlite, DbKind::Postgres];
