//! The database: one pool of either kind, migrations, and the repositories of
//! the ledger and identity. Each job family keeps its own repository in its
//! folder (`media/repo.rs`, …), written the same way.
//!
//! Repositories are written once for both dialects where the SQL is portable
//! (`$1` placeholders work in both); [`on_db!`] runs the same body against
//! whichever pool or transaction is live. Timestamps are always bound from Rust
//! (never `now()`/`CURRENT_TIMESTAMP`), so SQLite stores one text format whose
//! order is chronological.

pub mod api_keys;
pub mod audit;
pub mod config;
pub mod job_runs;
pub mod queue_controls;
pub mod refresh_tokens;
pub mod throughput;
pub mod users;
pub mod workers;

use std::{str::FromStr, time::Duration};

use anyhow::Context as _;
use sqlx::{
    PgPool, Postgres, Sqlite, SqlitePool, Transaction,
    migrate::Migrator,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

/// Runs `$body` with `$x` bound to the live pool or transaction of either kind.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $x:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($x) => $body,
            $crate::db::Db::Postgres($x) => $body,
        }
    };
}

/// Same as [`on_db!`] for a [`DbTx`]; `$x` is `&mut Transaction`.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $x:ident => $body:expr) => {
        match $tx {
            $crate::db::DbTx::Sqlite($x) => $body,
            $crate::db::DbTx::Postgres($x) => $body,
        }
    };
}

/// Same as [`on_db!`] for an [`Exec`]; `$x` is an `sqlx::Executor` of either
/// kind: the pool, or the transaction's connection.
#[macro_export]
macro_rules! on_exec {
    ($ex:expr, $x:ident => $body:expr) => {
        match $ex {
            $crate::db::Exec::Db($crate::db::Db::Sqlite($x)) => $body,
            $crate::db::Exec::Db($crate::db::Db::Postgres($x)) => $body,
            $crate::db::Exec::Tx($crate::db::DbTx::Sqlite(t)) => {
                let $x = &mut **t;
                $body
            }
            $crate::db::Exec::Tx($crate::db::DbTx::Postgres(t)) => {
                let $x = &mut **t;
                $body
            }
        }
    };
}

/// Implements what a value stored in a TEXT column by its name needs, for a
/// type with `ALL` (every value) and `as_str` (its stored name): `Display`,
/// `FromStr` and `TryFrom<String>` (so rows decode it with
/// `#[sqlx(try_from = "String")]`; an unknown name is an error, a corrupt row,
/// never a guess), and with `serialize` also `Serialize` as that name.
#[macro_export]
macro_rules! stored_name {
    ($ty:ty, $what:literal $(, $serialize:ident)?) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$ty>::ALL
                    .into_iter()
                    .find(|x| x.as_str() == s)
                    .ok_or_else(|| format!(concat!("unknown ", $what, " {:?}"), s))
            }
        }

        impl TryFrom<String> for $ty {
            type Error = String;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        $($crate::stored_name!(@$serialize $ty);)?
    };
    (@serialize $ty:ty) => {
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

/// Kiln's application database.
#[derive(Debug, Clone)]
pub enum Db {
    /// Embedded mode: a SQLite file.
    Sqlite(SqlitePool),
    /// Production: PostgreSQL.
    Postgres(PgPool),
}

/// An open transaction on a [`Db`].
#[derive(Debug)]
pub enum DbTx {
    /// SQLite transaction.
    Sqlite(Transaction<'static, Sqlite>),
    /// PostgreSQL transaction.
    Postgres(Transaction<'static, Postgres>),
}

/// Where a statement runs: inside a transaction, or on the pool, where it
/// commits on its own (one round trip instead of three).
#[derive(Debug)]
pub enum Exec<'a> {
    /// On the pool, in its own implicit transaction.
    Db(&'a Db),
    /// Inside an open transaction.
    Tx(&'a mut DbTx),
}

impl Exec<'_> {
    /// The same place, for one more statement.
    pub fn reborrow(&mut self) -> Exec<'_> {
        match self {
            Exec::Db(db) => Exec::Db(db),
            Exec::Tx(tx) => Exec::Tx(tx),
        }
    }
}

impl<'a> From<&'a Db> for Exec<'a> {
    fn from(db: &'a Db) -> Self {
        Exec::Db(db)
    }
}

impl<'a> From<&'a mut DbTx> for Exec<'a> {
    fn from(tx: &'a mut DbTx) -> Self {
        Exec::Tx(tx)
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// `sqlite:`
    Sqlite,
    /// `postgres:` / `postgresql:`
    Postgres,
}

impl DbKind {
    /// Reads the kind from a URL's scheme.
    pub fn from_url(url: &str) -> Result<Self, String> {
        if url.starts_with("sqlite:") {
            Ok(DbKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DbKind::Postgres)
        } else {
            Err("database url must start with sqlite: or postgres://".into())
        }
    }
}

/// The name of Kiln's own migration table; apalis keeps its own `_sqlx_migrations`.
const MIGRATIONS_TABLE: &str = "_kiln_migrations";

fn app_migrator(kind: DbKind) -> Migrator {
    let mut m = match kind {
        DbKind::Sqlite => sqlx::migrate!("../migrations/sqlite"),
        DbKind::Postgres => sqlx::migrate!("../migrations/postgres"),
    };
    m.dangerous_set_table_name(MIGRATIONS_TABLE);
    m
}

impl Db {
    /// Connects to `url` with at most `max_connections`.
    pub async fn connect(url: &str, max_connections: u32, timeout: Duration) -> anyhow::Result<Db> {
        match DbKind::from_url(url).map_err(anyhow::Error::msg)? {
            DbKind::Sqlite => {
                let opts = SqliteConnectOptions::from_str(url)
                    .context("parse sqlite url")?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true);
                if let Some(dir) = opts.get_filename().parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("create {}", dir.display()))?;
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(timeout)
                    .connect_with(opts)
                    .await
                    .with_context(|| format!("open sqlite database {url}"))?;
                Ok(Db::Sqlite(pool))
            }
            DbKind::Postgres => {
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(timeout)
                    .connect(url)
                    .await
                    .context("connect to postgres")?;
                Ok(Db::Postgres(pool))
            }
        }
    }

    /// The kind of this database.
    pub fn kind(&self) -> DbKind {
        match self {
            Db::Sqlite(_) => DbKind::Sqlite,
            Db::Postgres(_) => DbKind::Postgres,
        }
    }

    /// Applies Kiln's migrations and the queue backend's, forward only.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let kiln = app_migrator(self.kind());
        match self {
            Db::Sqlite(p) => {
                kiln.run(p).await.context("apply kiln migrations")?;
                apalis_sqlite::SqliteStorage::setup(p)
                    .await
                    .context("apply apalis-sqlite migrations")?;
                pin_sqlite_queue_plans(p)
                    .await
                    .context("pin query plans of the queue table")?;
            }
            Db::Postgres(p) => {
                kiln.run(p).await.context("apply kiln migrations")?;
                apalis_postgres::PostgresStorage::setup(p)
                    .await
                    .context("apply apalis-postgres migrations")?;
            }
        }
        Ok(())
    }

    /// True when every migration of this build is applied: the schema a
    /// process that does not migrate on start waits for.
    pub async fn schema_current(&self) -> Result<bool, sqlx::Error> {
        let known: Vec<i64> = app_migrator(self.kind())
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .collect();
        let query = format!("SELECT version FROM {MIGRATIONS_TABLE} WHERE success");
        let applied: Result<Vec<i64>, sqlx::Error> = on_db!(self, p => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(query.clone())).fetch_all(p).await
        });
        match applied {
            Ok(applied) => Ok(known.iter().all(|v| applied.contains(v))),
            // No migration table yet: nothing is applied.
            Err(sqlx::Error::Database(e))
                if e.message().contains(MIGRATIONS_TABLE)
                    || e.code().as_deref() == Some("42P01") =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Begins a transaction. On SQLite it is `BEGIN IMMEDIATE`: the write lock
    /// is taken (waiting out `busy_timeout`) before the first statement. A
    /// deferred transaction that reads and then writes fails at once with
    /// "database is locked" (`SQLITE_BUSY_SNAPSHOT`, which no busy timeout
    /// waits out) whenever another connection committed in between, and in
    /// Kiln every transaction writes.
    pub async fn begin(&self) -> Result<DbTx, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(p) => DbTx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(p) => DbTx::Postgres(p.begin().await?),
        })
    }

    /// A second handle on the same database for writes a crash may lose
    /// because they are redone anyway (the ledger's claims and successes: a
    /// lost one leaves the row `running`, and the job runs again, the
    /// at-least-once behaviour every crash already has). On PostgreSQL it is a
    /// small pool of its own whose sessions set `synchronous_commit = off`, so
    /// their commits do not wait for the WAL flush; on SQLite it is the same pool.
    pub fn relaxed(&self, max_connections: u32) -> Db {
        self.sibling(max_connections, &[("synchronous_commit", "off")])
    }

    /// A second handle on the same database for writes that must not wait
    /// behind other queries for a connection (what a provider just accepted).
    /// On PostgreSQL it is a small pool of its own, fully durable; on SQLite,
    /// whose writes take turns anyway, it is the same pool.
    pub fn dedicated(&self, max_connections: u32) -> Db {
        self.sibling(max_connections, &[])
    }

    fn sibling(&self, max_connections: u32, options: &[(&str, &str)]) -> Db {
        match self {
            Db::Sqlite(_) => self.clone(),
            Db::Postgres(p) => {
                let opts = (*p.connect_options())
                    .clone()
                    .options(options.iter().copied());
                Db::Postgres(
                    PgPoolOptions::new()
                        .max_connections(max_connections.max(1))
                        .acquire_timeout(p.options().get_acquire_timeout())
                        .connect_lazy_with(opts),
                )
            }
        }
    }

    /// A trivial round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_db!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()))
    }

    /// Closes the pool.
    pub async fn close(&self) {
        on_db!(self, p => p.close().await)
    }
}

/// Planner statistics for apalis-sqlite's `Jobs` table, shaped like a
/// populated queue (20,000 rows, few distinct statuses, unique ids).
///
/// Without statistics SQLite plans apalis-sqlite's `lock` and `ack` queries
/// through the `status` and `lock_by` indexes, visiting every pending (or
/// ever-locked) row per batch, so the cost per job grows with the backlog.
/// With these it looks rows up by their unique id (measured 4.35 ms → 0.28 ms
/// per lock at 20,000 pending). Written on every start, after apalis' setup
/// (whose `PRAGMA optimize` may re-analyze a near-empty table).
const JOBS_PLANNER_STATS: &[(&str, &str)] = &[
    ("sqlite_autoindex_Jobs_1", "20000 1"),
    ("LIdx", "20000 10000"),
    ("idx_jobs_status_run_at", "20000 10000 10000"),
    ("idx_jobs_job_type_status_run_at", "20000 20000 10000 10000"),
    ("idx_jobs_pending", "20000 20000 20000 20000 1"),
    ("idx_jobs_running", "2 2"),
    ("idx_jobs_claimable", "20000 20000 20000"),
    // Each message's key is its delivery id: unique.
    ("idx_jobs_idempotency_key", "20000 20000 1"),
];

async fn pin_sqlite_queue_plans(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    // Creates sqlite_stat1 when it does not exist yet.
    sqlx::query("ANALYZE Jobs").execute(&mut *conn).await?;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query("DELETE FROM sqlite_stat1 WHERE tbl = 'Jobs'")
        .execute(&mut *tx)
        .await?;
    for (idx, stat) in JOBS_PLANNER_STATS {
        sqlx::query("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('Jobs', $1, $2)")
            .bind(idx)
            .bind(stat)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    // Reloads the statistics on this connection; connections opened later read them.
    sqlx::query("ANALYZE sqlite_schema")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl DbTx {
    /// Commits the transaction.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            DbTx::Sqlite(t) => t.commit().await,
            DbTx::Postgres(t) => t.commit().await,
        }
    }
}

/// True when `err` is a unique-constraint violation.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// Locks a user's row until the transaction ends (PostgreSQL), so a per-user
/// cap is counted one creation at a time: a creation takes this lock, then
/// counts and inserts in one statement. (On SQLite that statement alone is
/// enough: a write statement holds the write lock from its start.)
/// `NO KEY UPDATE` does not block the foreign-key checks of other inserts
/// that refer to the user.
pub async fn lock_owner(
    tx: &mut Transaction<'_, Postgres>,
    user_id: uuid::Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE")
        .bind(user_id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}
