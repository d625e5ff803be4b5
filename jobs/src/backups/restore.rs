//! Reading a stored backup back: checking it, restoring it with `pg_restore`,
//! or writing out its SQLite file. `backup.verify` restores into a scratch
//! database with these; `kiln backup restore` into the real one.
//!
//! Each pass streams the backup from storage (or a downloaded file) through
//! [`unseal`] on a blocking thread, so nothing holds the whole dump. A
//! restore into the real database first reads the backup once without
//! writing anything ([`check`]), so a wrong checksum or identity is refused
//! before anything is touched; `pg_restore` then runs in one transaction,
//! and is killed (its transaction rolled back) if the stream fails after all.

use std::{
    io::{self, Read},
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
};

use anyhow::Context as _;
use tokio_util::io::SyncIoBridge;

use super::{
    archive::{UnsealError, Unsealed, unseal},
    dump::{self, PgTarget, PgTools},
    manifest::Manifest,
};
use crate::storage::{Storage, StorageError};

/// age identities, shared with the blocking thread that decrypts.
pub type Identities = Arc<Vec<Box<dyn age::Identity + Send + Sync>>>;

/// Where a backup's bytes come from.
#[derive(Debug, Clone)]
pub enum Input {
    /// An object in Kiln's storage.
    Stored {
        /// The store.
        storage: Storage,
        /// The dump's key.
        key: String,
    },
    /// A file (e.g. one downloaded with `GET /v1/backups/{id}/download`).
    File(PathBuf),
}

impl Input {
    async fn open(&self) -> Result<Box<dyn Read + Send>, RestoreError> {
        match self {
            Input::Stored { storage, key } => {
                let reader = storage.reader(key).await?;
                Ok(Box::new(SyncIoBridge::new(reader)))
            }
            Input::File(path) => {
                let file = std::fs::File::open(path).map_err(|e| {
                    RestoreError::Other(anyhow::anyhow!("open {}: {e}", path.display()))
                })?;
                Ok(Box::new(file))
            }
        }
    }

    /// The manifest beside the dump, if there is one.
    pub async fn manifest(&self) -> Result<Option<Manifest>, RestoreError> {
        let bytes = match self {
            Input::Stored { storage, key } => match storage.get(&super::manifest_key(key)).await {
                Ok(b) => b.to_vec(),
                Err(StorageError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            },
            Input::File(path) => {
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    return Ok(None);
                };
                let beside = path.with_file_name(super::manifest_key(name));
                match std::fs::read(&beside) {
                    Ok(b) => b,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => {
                        return Err(RestoreError::Other(anyhow::anyhow!(
                            "read {}: {e}",
                            beside.display()
                        )));
                    }
                }
            }
        };
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
            RestoreError::Other(anyhow::anyhow!("the manifest does not parse: {e}"))
        })?;
        manifest
            .check_format()
            .map_err(|e| RestoreError::Other(anyhow::anyhow!(e)))?;
        Ok(Some(manifest))
    }
}

/// Why a backup could not be read back or restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The stored bytes were refused: checksum, identity, corruption.
    #[error(transparent)]
    Refused(#[from] UnsealError),
    /// `pg_restore` failed.
    #[error("pg_restore exited with {status}: {stderr}")]
    Tool {
        /// Its exit status.
        status: String,
        /// The end of its standard error.
        stderr: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Anything else (a database, a file, a missing tool).
    #[error("{0:#}")]
    Other(anyhow::Error),
}

impl RestoreError {
    /// True when the backup itself is at fault (not the machinery around it).
    pub fn is_backup_fault(&self) -> bool {
        matches!(
            self,
            RestoreError::Refused(UnsealError::Checksum { .. } | UnsealError::Corrupt(_))
                | RestoreError::Tool { .. }
        ) || matches!(self, RestoreError::Storage(StorageError::NotFound(_)))
    }
}

/// Runs `unseal` over `input` into `sink` on a blocking thread; hands the
/// sink back with the outcome.
async fn unseal_into<W: io::Write + Send + 'static>(
    input: &Input,
    sink: W,
    identities: Identities,
    expected: Option<String>,
) -> Result<(Result<Unsealed, UnsealError>, W), RestoreError> {
    let reader = input.open().await?;
    tokio::task::spawn_blocking(move || {
        let mut sink = sink;
        let out = unseal(reader, &mut sink, &identities, expected.as_deref());
        (out, sink)
    })
    .await
    .map_err(|e| RestoreError::Other(anyhow::anyhow!("the restore stream panicked: {e}")))
}

/// Reads the whole backup without writing it anywhere: checksum (when
/// `expected` is given), decryption and decompression.
pub async fn check(
    input: &Input,
    identities: Identities,
    expected: Option<String>,
) -> Result<Unsealed, RestoreError> {
    let (out, _) = unseal_into(input, io::sink(), identities, expected).await?;
    Ok(out?)
}

/// Reads the whole backup and checks only its checksum (what can be checked
/// of an encrypted backup without its identity).
pub async fn check_checksum_only(
    input: &Input,
    expected: Option<String>,
) -> Result<u64, RestoreError> {
    let reader = input.open().await?;
    let (sha256, bytes) = tokio::task::spawn_blocking(move || super::archive::digest(reader))
        .await
        .map_err(|e| RestoreError::Other(anyhow::anyhow!("the checksum stream panicked: {e}")))?
        .map_err(UnsealError::Io)?;
    match expected {
        Some(want) if !want.eq_ignore_ascii_case(&sha256) => Err(UnsealError::Checksum {
            expected: want,
            actual: sha256,
        }
        .into()),
        _ => Ok(bytes),
    }
}

/// Restores a PostgreSQL backup into `target` with `pg_restore`, in one
/// transaction, owners and grants left to the connecting role. With `clean`
/// the objects in the backup are dropped first (`--clean --if-exists`).
pub async fn pg_restore(
    tools: &PgTools,
    target: &PgTarget,
    input: &Input,
    identities: Identities,
    expected: Option<String>,
    clean: bool,
) -> Result<Unsealed, RestoreError> {
    let mut cmd = target.command(&tools.pg_restore);
    cmd.args([
        "--single-transaction",
        "--exit-on-error",
        "--no-owner",
        "--no-acl",
    ])
    .stdin(Stdio::piped());
    if clean {
        cmd.args(["--clean", "--if-exists"]);
    }
    let mut child = cmd.spawn().map_err(|e| {
        RestoreError::Other(anyhow::anyhow!("start {}: {e}", tools.pg_restore.display()))
    })?;
    let stderr = dump::collect_stderr(&mut child);
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| RestoreError::Other(anyhow::anyhow!("pg_restore has no stdin")))?;
    let streamed = unseal_into(input, SyncIoBridge::new(stdin), identities, expected).await;
    let unsealed = match streamed {
        Ok((Ok(u), stdin)) => {
            drop(stdin); // end of input: pg_restore commits
            u
        }
        Ok((Err(e), stdin)) => {
            // Killed before it sees the end of its input, pg_restore never
            // commits: its single transaction is rolled back.
            let _ = child.kill().await;
            drop(stdin);
            let stderr = stderr.await.unwrap_or_default();
            return Err(match e {
                UnsealError::Io(io) if io.kind() == io::ErrorKind::BrokenPipe => {
                    RestoreError::Tool {
                        status: "an early exit".into(),
                        stderr,
                    }
                }
                e => e.into(),
            });
        }
        Err(e) => {
            let _ = child.kill().await;
            return Err(e);
        }
    };
    let status = child
        .wait()
        .await
        .map_err(|e| RestoreError::Other(anyhow::anyhow!("wait for pg_restore: {e}")))?;
    let stderr = stderr.await.unwrap_or_default();
    if !status.success() {
        return Err(RestoreError::Tool {
            status: status.to_string(),
            stderr,
        });
    }
    Ok(unsealed)
}

/// Writes the SQLite database of a backup to `path` (created; must not exist)
/// and checks it: `PRAGMA integrity_check`, then its contents are returned.
pub async fn sqlite_file(
    input: &Input,
    identities: Identities,
    expected: Option<String>,
    path: &Path,
) -> Result<(Unsealed, dump::Contents), RestoreError> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| RestoreError::Other(anyhow::anyhow!("create {}: {e}", path.display())))?;
    let (out, file) = unseal_into(input, io::BufWriter::new(file), identities, expected).await?;
    let unsealed = out?;
    let file = file
        .into_inner()
        .map_err(|e| RestoreError::Other(anyhow::anyhow!("write {}: {e}", path.display())))?;
    file.sync_all()
        .map_err(|e| RestoreError::Other(anyhow::anyhow!("sync {}: {e}", path.display())))?;
    drop(file);
    let mut conn = dump::open_sqlite_file(path)
        .await
        .map_err(RestoreError::Other)?;
    let contents = async {
        if let Err(problems) = dump::sqlite_integrity(&mut conn).await? {
            return Ok(Err(problems));
        }
        dump::sqlite_contents(&mut conn).await.map(Ok)
    }
    .await
    .map_err(|e: sqlx::Error| {
        RestoreError::Other(anyhow::anyhow!("read the restored file: {e}"))
    })?;
    use sqlx::Connection as _;
    let _ = conn.close().await;
    match contents {
        Ok(c) => Ok((unsealed, c)),
        Err(problems) => Err(RestoreError::Tool {
            status: "a failed integrity check".into(),
            stderr: problems,
        }),
    }
}

/// The contents of a PostgreSQL database after a restore.
pub async fn pg_contents_of(target: &PgTarget) -> Result<dump::Contents, RestoreError> {
    let mut conn = target.connect().await.map_err(RestoreError::Other)?;
    let contents = dump::pg_contents(&mut conn)
        .await
        .context("count the restored rows")
        .map_err(RestoreError::Other)?;
    use sqlx::Connection as _;
    let _ = conn.close().await;
    Ok(contents)
}

/// What `kiln backup restore` does, given by the operator.
#[derive(Clone)]
pub struct Plan {
    /// The backup.
    pub input: Input,
    /// Identities for an encrypted backup.
    pub identities: Identities,
    /// The checksum to hold the stored bytes to (else the manifest's).
    pub expected: Option<String>,
    /// The database to restore into (a `postgres://` or `sqlite:` URL).
    pub target_url: String,
    /// Back the target up first.
    pub safety_backup: bool,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("input", &self.input)
            .field("identities", &self.identities.len())
            .field("expected", &self.expected)
            .field("safety_backup", &self.safety_backup)
            .finish_non_exhaustive()
    }
}

/// What a restore did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The safety backup's object key.
    pub safety_backup: Option<String>,
    /// Bytes of the dump restored.
    pub source_bytes: u64,
    /// Where the restored database differs from the manifest (expected
    /// none; writes during a restore would show here).
    pub differences: Vec<String>,
    /// Media objects the manifest lists that storage lacks.
    pub missing_media: Vec<String>,
}

/// Restores a backup into `plan.target_url`: reads it once to check its
/// checksum, identity and encoding before touching anything, takes a safety
/// backup of the target (unless told not to), restores (PostgreSQL:
/// `pg_restore --clean --if-exists --single-transaction`; SQLite: the file
/// is written beside the target, checked, and renamed over it), and reports
/// how the result compares with the manifest and which media objects are
/// missing. For SQLite, nothing may have the target open: stop Kiln first;
/// `app`'s own pool is closed before the file is replaced when it is the target.
pub async fn restore(
    app: &crate::AppContext,
    plan: &Plan,
    say: impl Fn(&str),
) -> anyhow::Result<Report> {
    use crate::db::{Db, DbKind};
    let manifest = plan.input.manifest().await?;
    let expected = plan
        .expected
        .clone()
        .or_else(|| manifest.as_ref().map(|m| m.sha256.clone()));
    anyhow::ensure!(
        expected.is_some(),
        "no manifest beside the backup and no --sha256 given: the stored bytes cannot be checked"
    );
    let target_kind = DbKind::from_url(&plan.target_url).map_err(anyhow::Error::msg)?;
    if let Some(m) = &manifest {
        let kind = m.database_kind().map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            kind == target_kind,
            "this is a {} backup; the target is {}",
            m.database,
            super::manifest::database_name(target_kind)
        );
    }
    say("checking the backup (checksum, identity, encoding)…");
    let checked = check(&plan.input, plan.identities.clone(), expected.clone()).await?;
    say(&format!(
        "backup checked: {} stored bytes, {} bytes of dump, sha256 {}",
        checked.stored_bytes, checked.source_bytes, checked.sha256
    ));
    let target = Db::connect(&plan.target_url, 2, std::time::Duration::from_secs(30)).await?;
    let mut report = Report::default();
    if plan.safety_backup {
        say("taking a safety backup of the target…");
        let key = super::run::safety_backup(app, &target, &plan.target_url).await?;
        say(&format!("safety backup stored at {key}"));
        report.safety_backup = Some(key);
    }
    let contents = match &target {
        Db::Postgres(pool) => {
            let major = dump::server_major(pool).await?;
            target.close().await;
            let tools = dump::find_pg_tools(&app.config.backups, major).await?;
            let pg = PgTarget::parse(&plan.target_url)?;
            say("restoring with pg_restore (one transaction)…");
            let done = pg_restore(
                &tools,
                &pg,
                &plan.input,
                plan.identities.clone(),
                expected,
                true,
            )
            .await?;
            report.source_bytes = done.source_bytes;
            pg_contents_of(&pg).await?
        }
        Db::Sqlite(_) => {
            let opts: sqlx::sqlite::SqliteConnectOptions = plan.target_url.parse()?;
            let path = opts.get_filename().to_path_buf();
            target.close().await;
            let dir = path.parent().unwrap_or(Path::new("."));
            let tmp = tempfile::Builder::new()
                .prefix(".kiln-restore-")
                .tempdir_in(dir)?;
            let staged = tmp.path().join("kiln.db");
            say("writing the restored database beside the target…");
            let (done, contents) =
                sqlite_file(&plan.input, plan.identities.clone(), expected, &staged).await?;
            report.source_bytes = done.source_bytes;
            let own: Option<sqlx::sqlite::SqliteConnectOptions> =
                app.config.database_url().parse().ok();
            if own.is_some_and(|o| o.get_filename() == path) {
                app.db.close().await;
            }
            for suffix in ["-wal", "-shm"] {
                let mut side = path.clone().into_os_string();
                side.push(suffix);
                match std::fs::remove_file(&side) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(anyhow::anyhow!("remove {}: {e}", side.to_string_lossy()));
                    }
                }
            }
            std::fs::rename(&staged, &path)
                .with_context(|| format!("move the restored database to {}", path.display()))?;
            contents
        }
    };
    if let Some(m) = &manifest {
        report.differences =
            super::manifest::differences(m, &contents.tables, contents.migration_version);
        let present: std::collections::BTreeSet<String> = app
            .storage
            .list("media")
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        report.missing_media = m
            .media_objects
            .keys()
            .filter(|k| !present.contains(*k))
            .cloned()
            .collect();
    }
    Ok(report)
}
