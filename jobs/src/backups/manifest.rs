//! The JSON manifest stored beside every dump: what the backup holds and how
//! to check it, readable without Kiln's database (a restore on a fresh
//! machine starts from it).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Trigger;
use crate::db::DbKind;

/// The manifest format this version writes.
pub const FORMAT: &str = "kiln-backup/1";

/// A backup's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The backup's id.
    pub id: Uuid,
    /// Who asked for it.
    pub trigger: Trigger,
    /// The schedule that made it, if any.
    pub schedule_id: Option<Uuid>,
    /// `postgres` (a `pg_dump` custom-format archive) or `sqlite` (a database file).
    pub database: String,
    /// How the dump is stored: `zstd`, or `zstd+age` when encrypted.
    pub encoding: String,
    /// The age recipients (public keys) it is encrypted to.
    pub recipients: Vec<String>,
    /// Object key of the dump.
    pub object_key: String,
    /// Bytes stored.
    pub stored_bytes: u64,
    /// Bytes of the dump before compression.
    pub source_bytes: u64,
    /// Hex SHA-256 of the stored bytes.
    pub sha256: String,
    /// The database server's version (`SELECT version()` / `sqlite_version()`).
    pub server_version: String,
    /// The Kiln version that made it.
    pub kiln_version: String,
    /// The newest applied migration in the dump.
    pub migration_version: Option<i64>,
    /// Rows per table (`schema.table` on PostgreSQL), read in the dump's snapshot.
    pub tables: BTreeMap<String, i64>,
    /// Media objects in storage when the backup was made (key → bytes), so a
    /// restore can tell which the database names and storage lacks.
    pub media_objects: BTreeMap<String, u64>,
    /// When the dump started.
    pub started_at: DateTime<Utc>,
    /// When the upload finished.
    pub finished_at: DateTime<Utc>,
}

impl Manifest {
    /// The database kind it holds.
    pub fn database_kind(&self) -> Result<DbKind, String> {
        match self.database.as_str() {
            "postgres" => Ok(DbKind::Postgres),
            "sqlite" => Ok(DbKind::Sqlite),
            other => Err(format!("manifest names an unknown database {other:?}")),
        }
    }

    /// Checks what a manifest of another version might not promise.
    pub fn check_format(&self) -> Result<(), String> {
        if self.format == FORMAT {
            Ok(())
        } else {
            Err(format!(
                "manifest format {:?} is not {FORMAT:?} (made by a newer Kiln?)",
                self.format
            ))
        }
    }
}

/// The stored name of a database kind.
pub fn database_name(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Postgres => "postgres",
        DbKind::Sqlite => "sqlite",
    }
}

/// What a restored database must match: its tables' row counts and its
/// newest migration, compared with the manifest. The differences, empty when
/// it matches.
pub fn differences(
    manifest: &Manifest,
    tables: &BTreeMap<String, i64>,
    migration_version: Option<i64>,
) -> Vec<String> {
    let mut out = Vec::new();
    if manifest.migration_version != migration_version {
        out.push(format!(
            "migration version {migration_version:?}, the manifest says {:?}",
            manifest.migration_version
        ));
    }
    for (table, want) in &manifest.tables {
        match tables.get(table) {
            Some(got) if got == want => {}
            Some(got) => out.push(format!("{table}: {got} rows, the manifest says {want}")),
            None => out.push(format!("{table}: missing, the manifest says {want} rows")),
        }
    }
    for table in tables.keys().filter(|t| !manifest.tables.contains_key(*t)) {
        out.push(format!("{table}: not in the manifest"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            id: Uuid::nil(),
            trigger: Trigger::Manual,
            schedule_id: None,
            database: "sqlite".into(),
            encoding: "zstd".into(),
            recipients: vec![],
            object_key: "backups/x".into(),
            stored_bytes: 1,
            source_bytes: 2,
            sha256: "00".into(),
            server_version: "3".into(),
            kiln_version: "0.1.0".into(),
            migration_version: Some(7),
            tables: BTreeMap::from([("users".into(), 3), ("media".into(), 0)]),
            media_objects: BTreeMap::new(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
        }
    }

    #[test]
    fn a_matching_database_has_no_differences_and_each_kind_of_mismatch_is_named() {
        let m = manifest();
        assert!(differences(&m, &m.tables, Some(7)).is_empty());
        let mut tables = m.tables.clone();
        tables.insert("users".into(), 2);
        tables.remove("media");
        tables.insert("extra".into(), 1);
        let diff = differences(&m, &tables, Some(6));
        assert_eq!(diff.len(), 4, "{diff:?}");
        assert!(diff[0].contains("migration version"));
        assert!(diff.iter().any(|d| d.starts_with("users: 2 rows")));
        assert!(diff.iter().any(|d| d.starts_with("media: missing")));
        assert!(diff.iter().any(|d| d.starts_with("extra: not in")));
    }

    #[test]
    fn manifests_round_trip_through_json() {
        let m = manifest();
        let json = serde_json::to_string(&m).expect("encode");
        let back: Manifest = serde_json::from_str(&json).expect("decode");
        assert_eq!(back, m);
        assert!(back.check_format().is_ok());
    }
}
