//! The `backups` job family (`backups` queue, one at a time): `backup.run`
//! dumps the database ([`dump`]) through zstd, optional age encryption and
//! SHA-256 ([`archive`]) into object storage beside a JSON [`manifest`];
//! `backup.verify` restores it into a scratch database and compares
//! ([`verify`]); `backup.prune` applies a schedule's retention
//! ([`retention`], [`prune`]). Schedules say when ([`schedule`]); the
//! worker's scheduler enqueues their ticks. [`restore`] is what
//! `kiln backup restore` runs.

pub mod archive;
pub mod config;
pub mod dump;
pub mod manifest;
pub mod prune;
pub mod repo;
pub mod restore;
pub mod retention;
pub mod run;
pub mod schedule;
pub mod schedules;
pub mod verify;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{job::Job, queue::QueueName, stored_name};

/// Where a backup is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackupStatus {
    /// Waiting for its `backup.run` job.
    Queued,
    /// Being dumped and uploaded.
    Running,
    /// Stored with its manifest.
    Succeeded,
    /// Its job failed for good; nothing is stored.
    Failed,
}

impl BackupStatus {
    /// Every status.
    pub const ALL: [BackupStatus; 4] = [
        BackupStatus::Queued,
        BackupStatus::Running,
        BackupStatus::Succeeded,
        BackupStatus::Failed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupStatus::Queued => "queued",
            BackupStatus::Running => "running",
            BackupStatus::Succeeded => "succeeded",
            BackupStatus::Failed => "failed",
        }
    }
}

stored_name!(BackupStatus, "backup status", serialize);

/// Who asked for a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub enum Trigger {
    /// An operator (API or CLI).
    Manual,
    /// A schedule's tick.
    Schedule,
}

impl Trigger {
    /// Every trigger.
    pub const ALL: [Trigger; 2] = [Trigger::Manual, Trigger::Schedule];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
        }
    }
}

stored_name!(Trigger, "backup trigger", serialize);

/// The outcome of a backup's verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerifyStatus {
    /// Restored into a scratch database; row counts and schema match.
    Passed,
    /// The stored bytes, the restore or the comparison failed.
    Failed,
    /// Encrypted and no identity on the worker: only the checksum was checked.
    ChecksumOnly,
}

impl VerifyStatus {
    /// Every outcome.
    pub const ALL: [VerifyStatus; 3] = [
        VerifyStatus::Passed,
        VerifyStatus::Failed,
        VerifyStatus::ChecksumOnly,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyStatus::Passed => "passed",
            VerifyStatus::Failed => "failed",
            VerifyStatus::ChecksumOnly => "checksum_only",
        }
    }
}

stored_name!(VerifyStatus, "verify status", serialize);

/// Object key of a backup's dump: `backups/{yyyy}/{mm}/{id}.dump.zst[.age]`.
pub fn dump_key(id: Uuid, created_at: DateTime<Utc>, encrypted: bool) -> String {
    format!(
        "backups/{:04}/{:02}/{id}.dump.zst{}",
        created_at.year(),
        created_at.month(),
        if encrypted { ".age" } else { "" }
    )
}

/// Object key of the manifest beside a dump.
pub fn manifest_key(dump_key: &str) -> String {
    let stem = dump_key
        .strip_suffix(".age")
        .unwrap_or(dump_key)
        .strip_suffix(".dump.zst")
        .unwrap_or(dump_key);
    format!("{stem}.manifest.json")
}

/// A temporary folder under `{data_dir}/tmp` for a SQLite copy (removed
/// when dropped): beside the database, on a disk sized for it.
pub(crate) fn scratch_dir(
    config: &crate::Config,
    prefix: &str,
) -> std::io::Result<tempfile::TempDir> {
    let dir = config.data_dir.join("tmp");
    std::fs::create_dir_all(&dir)?;
    tempfile::Builder::new().prefix(prefix).tempdir_in(&dir)
}

/// Payload of `backup.run`: make the backup of one `backups` row.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRunV1 {
    /// The `backups` row.
    pub backup_id: Uuid,
}

impl Job for BackupRunV1 {
    const KIND: &'static str = "backup.run";
    const TYPE: &'static str = "backup.run.v1";
    fn queue(&self) -> QueueName {
        QueueName::Backups
    }
}

/// Payload of `backup.verify`: restore one backup into a scratch database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupVerifyV1 {
    /// The `backups` row.
    pub backup_id: Uuid,
}

impl Job for BackupVerifyV1 {
    const KIND: &'static str = "backup.verify";
    const TYPE: &'static str = "backup.verify.v1";
    fn queue(&self) -> QueueName {
        QueueName::Backups
    }
}

/// Payload of `backup.prune`: apply one schedule's retention.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupPruneV1 {
    /// The schedule.
    pub schedule_id: Uuid,
}

impl Job for BackupPruneV1 {
    const KIND: &'static str = "backup.prune";
    const TYPE: &'static str = "backup.prune.v1";
    fn queue(&self) -> QueueName {
        QueueName::Backups
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let id = Uuid::nil();
        let at = Utc
            .with_ymd_and_hms(2027, 3, 9, 1, 2, 3)
            .single()
            .expect("time");
        let plain = dump_key(id, at, false);
        assert_eq!(plain, format!("backups/2027/03/{id}.dump.zst"));
        let sealed = dump_key(id, at, true);
        assert_eq!(sealed, format!("backups/2027/03/{id}.dump.zst.age"));
        let manifest = format!("backups/2027/03/{id}.manifest.json");
        assert_eq!(manifest_key(&plain), manifest);
        assert_eq!(manifest_key(&sealed), manifest);
    }
}
