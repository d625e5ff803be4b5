//! Consistent dumps and what they hold.
//!
//! - **PostgreSQL:** a `REPEATABLE READ` transaction exports its snapshot
//!   (`pg_export_snapshot()`), counts every table's rows in it, and stays
//!   open while `pg_dump --snapshot` dumps exactly that snapshot in custom
//!   format (uncompressed: zstd compresses the stream).
//! - **SQLite:** `VACUUM INTO` writes a consistent copy of the live database
//!   while writers go on; the counts are read from the copy.
//!
//! The PostgreSQL client tools are found by the server's major version, since
//! an older `pg_dump` refuses a newer server and a restore needs a
//! `pg_restore` at least as new as the archive.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
};

use anyhow::Context as _;
use sqlx::{Connection as _, PgConnection, Postgres, SqliteConnection, Transaction};
use tokio::{
    io::AsyncReadExt,
    process::{Child, Command},
};

use super::config::BackupsConfig;

/// What a dump holds: rows per table, the newest migration, the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    /// Rows per table (`schema.table` on PostgreSQL).
    pub tables: BTreeMap<String, i64>,
    /// The newest applied migration.
    pub migration_version: Option<i64>,
    /// The server's version.
    pub server_version: String,
}

/// Bytes of a tool's standard error kept for the error message.
const STDERR_KEEP: usize = 16 * 1024;

// ---------------------------------------------------------------- PostgreSQL

/// The PostgreSQL client tools for one server major version.
#[derive(Debug, Clone)]
pub struct PgTools {
    /// `pg_dump`.
    pub pg_dump: PathBuf,
    /// `pg_restore`.
    pub pg_restore: PathBuf,
    /// Their major version.
    pub major: u32,
}

/// The major version of the server behind `pool`.
pub async fn server_major(pool: &sqlx::PgPool) -> Result<u32, sqlx::Error> {
    let num: String = sqlx::query_scalar("SHOW server_version_num")
        .fetch_one(pool)
        .await?;
    num.trim()
        .parse::<u32>()
        .map(|n| n / 10_000)
        .map_err(|e| sqlx::Error::Decode(format!("server_version_num {num:?}: {e}").into()))
}

/// Finds `pg_dump` and `pg_restore` for a server of major version
/// `server_major`: the same major, or else the oldest newer one. Looks in
/// `backups.pg_bin_dir` when it is set, otherwise in the usual package
/// folders and `PATH`. The error says what was found and what to install.
pub async fn find_pg_tools(cfg: &BackupsConfig, server_major: u32) -> anyhow::Result<PgTools> {
    let dirs: Vec<PathBuf> = match &cfg.pg_bin_dir {
        Some(dir) => vec![dir.clone()],
        None => {
            let mut dirs = Vec::new();
            for root in ["/usr/lib/postgresql", "/usr/local/lib/postgresql"] {
                if let Ok(entries) = std::fs::read_dir(root) {
                    let mut found: Vec<PathBuf> =
                        entries.flatten().map(|e| e.path().join("bin")).collect();
                    found.sort();
                    dirs.extend(found);
                }
            }
            dirs.push(PathBuf::from(format!("/usr/pgsql-{server_major}/bin")));
            dirs.push(PathBuf::from(format!(
                "/opt/homebrew/opt/postgresql@{server_major}/bin"
            )));
            if let Some(path) = std::env::var_os("PATH") {
                dirs.extend(std::env::split_paths(&path));
            }
            dirs
        }
    };
    let mut seen: Vec<(PathBuf, u32)> = Vec::new();
    for dir in dirs {
        let pg_dump = dir.join("pg_dump");
        if seen.iter().any(|(p, _)| *p == pg_dump) || !pg_dump.is_file() {
            continue;
        }
        if let Some(major) = tool_major(&pg_dump).await {
            seen.push((pg_dump, major));
        }
    }
    let best = seen
        .iter()
        .filter(|(_, m)| *m >= server_major)
        .min_by_key(|(_, m)| *m);
    match best {
        Some((pg_dump, major)) => {
            let pg_restore = pg_dump.with_file_name("pg_restore");
            anyhow::ensure!(
                pg_restore.is_file(),
                "{} has no pg_restore beside it",
                pg_dump.display()
            );
            Ok(PgTools {
                pg_dump: pg_dump.clone(),
                pg_restore,
                major: *major,
            })
        }
        None => {
            let found = if seen.is_empty() {
                "none".to_owned()
            } else {
                seen.iter()
                    .map(|(p, m)| format!("{} (PostgreSQL {m})", p.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            anyhow::bail!(
                "no pg_dump for PostgreSQL {server_major} or newer was found (found: {found}); \
                 install the PostgreSQL {server_major} client tools \
                 (Debian: postgresql-client-{server_major}) or set backups.pg_bin_dir"
            )
        }
    }
}

/// The major version a PostgreSQL tool reports (`pg_dump (PostgreSQL) 15.20 …`).
async fn tool_major(tool: &Path) -> Option<u32> {
    let out = Command::new(tool).arg("--version").output().await.ok()?;
    if !out.status.success() {
        return None;
    }
    parse_tool_major(&String::from_utf8_lossy(&out.stdout))
}

fn parse_tool_major(version: &str) -> Option<u32> {
    let number = version
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    number.split(['.', 'b', 'r', 'd']).next()?.parse().ok()
}

/// A libpq connection for the PostgreSQL tools: the URL without its password
/// (which goes in `PGPASSWORD`, never on a command line `ps` shows).
#[derive(Clone)]
pub struct PgTarget {
    url: String,
    password: Option<String>,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl PgTarget {
    /// Reads a `postgres://` URL.
    pub fn parse(url: &str) -> anyhow::Result<PgTarget> {
        let mut parsed = reqwest::Url::parse(url).context("parse the PostgreSQL URL")?;
        let password = parsed.password().map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        });
        parsed
            .set_password(None)
            .map_err(|()| anyhow::anyhow!("the PostgreSQL URL has no host"))?;
        Ok(PgTarget {
            url: parsed.to_string(),
            password,
        })
    }

    /// The same server, another database.
    pub fn with_database(&self, name: &str) -> anyhow::Result<PgTarget> {
        let mut parsed = reqwest::Url::parse(&self.url).context("parse the PostgreSQL URL")?;
        parsed.set_path(&format!("/{name}"));
        Ok(PgTarget {
            url: parsed.to_string(),
            password: self.password.clone(),
        })
    }

    /// The URL with its password, for sqlx.
    pub fn full_url(&self) -> anyhow::Result<String> {
        let mut parsed = reqwest::Url::parse(&self.url).context("parse the PostgreSQL URL")?;
        if let Some(p) = &self.password {
            parsed
                .set_password(Some(p))
                .map_err(|()| anyhow::anyhow!("the PostgreSQL URL has no host"))?;
        }
        Ok(parsed.to_string())
    }

    /// A tool command aimed at this database (`--dbname`, `PGPASSWORD`).
    pub fn command(&self, tool: &Path) -> Command {
        let mut cmd = Command::new(tool);
        cmd.arg("--no-password")
            .arg(format!("--dbname={}", self.url))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(p) = &self.password {
            cmd.env("PGPASSWORD", p);
        }
        cmd
    }

    /// Opens one connection.
    pub async fn connect(&self) -> anyhow::Result<PgConnection> {
        PgConnection::connect(&self.full_url()?)
            .await
            .context("connect to PostgreSQL")
    }
}

/// An exported snapshot, held open until the dump has read it.
pub struct PgSnapshot {
    tx: Transaction<'static, Postgres>,
    /// The snapshot id for `pg_dump --snapshot`.
    pub id: String,
    /// What the snapshot holds.
    pub contents: Contents,
}

impl std::fmt::Debug for PgSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSnapshot")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl PgSnapshot {
    /// Opens a snapshot on `pool` and counts what it holds.
    pub async fn take(pool: &sqlx::PgPool) -> Result<PgSnapshot, sqlx::Error> {
        let mut tx = pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *tx)
            .await?;
        let contents = pg_contents(&mut tx).await?;
        Ok(PgSnapshot { tx, id, contents })
    }

    /// Ends the snapshot's transaction.
    pub async fn release(self) {
        if let Err(e) = self.tx.rollback().await {
            tracing::warn!(error = %e, "could not end the backup snapshot's transaction");
        }
    }
}

/// Rows per table, the newest migration and the server version, as `conn`
/// sees them.
pub async fn pg_contents(conn: &mut PgConnection) -> Result<Contents, sqlx::Error> {
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT n.nspname::text, c.relname::text FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut counts = BTreeMap::new();
    for (schema, table) in tables {
        let sql = format!(
            "SELECT count(*) FROM {}.{}",
            quote_ident(&schema),
            quote_ident(&table)
        );
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *conn)
            .await?;
        counts.insert(format!("{schema}.{table}"), n);
    }
    let migrated: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('public._sqlx_migrations')::text")
            .fetch_one(&mut *conn)
            .await?;
    let migration_version = match migrated {
        Some(_) => {
            sqlx::query_scalar("SELECT max(version) FROM public._sqlx_migrations WHERE success")
                .fetch_one(&mut *conn)
                .await?
        }
        None => None,
    };
    let server_version: String = sqlx::query_scalar("SELECT current_setting('server_version')")
        .fetch_one(&mut *conn)
        .await?;
    Ok(Contents {
        tables: counts,
        migration_version,
        server_version,
    })
}

/// `pg_dump` of `snapshot`, custom format, uncompressed, on standard output.
pub fn pg_dump(tools: &PgTools, target: &PgTarget, snapshot: &str) -> std::io::Result<Child> {
    target
        .command(&tools.pg_dump)
        .arg("--format=custom")
        .arg("--compress=0")
        .arg(format!("--snapshot={snapshot}"))
        .stdout(Stdio::piped())
        .spawn()
}

/// Collects the end of a tool's standard error while it runs.
pub fn collect_stderr(child: &mut Child) -> tokio::task::JoinHandle<String> {
    let stderr = child.stderr.take();
    tokio::spawn(async move {
        let Some(mut stderr) = stderr else {
            return String::new();
        };
        let mut kept: Vec<u8> = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stderr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    kept.extend_from_slice(&buf[..n]);
                    if kept.len() > STDERR_KEEP {
                        kept.drain(..kept.len() - STDERR_KEEP);
                    }
                }
            }
        }
        String::from_utf8_lossy(&kept).trim().to_owned()
    })
}

/// `"name"` for SQL, inner quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

// ------------------------------------------------------------------- SQLite

/// Writes a consistent copy of the live SQLite database behind `pool` to
/// `path` (which must not exist) while writers go on.
pub async fn sqlite_copy(pool: &sqlx::SqlitePool, path: &Path) -> anyhow::Result<()> {
    let target = path
        .to_str()
        .context("the backup's temporary path is not UTF-8")?;
    sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(pool)
        .await
        .context("VACUUM INTO a copy of the database")?;
    Ok(())
}

/// Opens a SQLite file read-only.
pub async fn open_sqlite_file(path: &Path) -> anyhow::Result<SqliteConnection> {
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    SqliteConnection::connect_with(&opts)
        .await
        .with_context(|| format!("open {}", path.display()))
}

/// Rows per table, the newest migration and the SQLite version of a file.
pub async fn sqlite_contents(conn: &mut SqliteConnection) -> Result<Contents, sqlx::Error> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut counts = BTreeMap::new();
    for table in &tables {
        let sql = format!("SELECT count(*) FROM {}", quote_ident(table));
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *conn)
            .await?;
        counts.insert(table.clone(), n);
    }
    let migration_version = if tables.iter().any(|t| t == "_sqlx_migrations") {
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut *conn)
            .await?
    } else {
        None
    };
    let version: String = sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(&mut *conn)
        .await?;
    Ok(Contents {
        tables: counts,
        migration_version,
        server_version: format!("SQLite {version}"),
    })
}

/// `PRAGMA integrity_check` of a SQLite file: `Ok` or the problems found.
pub async fn sqlite_integrity(
    conn: &mut SqliteConnection,
) -> Result<Result<(), String>, sqlx::Error> {
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut *conn)
        .await?;
    Ok(if rows.len() == 1 && rows[0] == "ok" {
        Ok(())
    } else {
        Err(rows.join("; "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_versions_parse_to_their_major() {
        assert_eq!(
            parse_tool_major("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(parse_tool_major("pg_restore (PostgreSQL) 17.2"), Some(17));
        assert_eq!(parse_tool_major("pg_dump (PostgreSQL) 18beta1"), Some(18));
        assert_eq!(parse_tool_major("pg_dump (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(parse_tool_major("no version here"), None);
    }

    #[test]
    fn tool_urls_carry_no_password_and_keep_everything_else() {
        let t = PgTarget::parse("postgres://kiln:p%40ss@db.internal:5433/kiln?sslmode=require")
            .expect("parse");
        assert_eq!(
            t.url,
            "postgres://kiln@db.internal:5433/kiln?sslmode=require"
        );
        assert_eq!(t.password.as_deref(), Some("p@ss"));
        let scratch = t.with_database("kiln_verify_1").expect("scratch");
        assert_eq!(
            scratch.full_url().expect("url"),
            "postgres://kiln:p%40ss@db.internal:5433/kiln_verify_1?sslmode=require"
        );
        assert!(!format!("{t:?}").contains("p@ss"));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("job_runs"), "\"job_runs\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
    }
}
