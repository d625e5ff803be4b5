//! Backups end to end against real databases, real pg_dump/pg_restore and
//! folder storage: the handlers run as a worker would run them.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chrono::{TimeZone, Utc};
use kiln_jobs::{
    AppContext,
    backups::{
        BackupRunV1, BackupVerifyV1, Trigger, VerifyStatus,
        archive::UnsealError,
        repo, restore,
        retention::Policy,
        run::{self, Request},
        schedules::{self, Fields},
        verify,
    },
    db::{Db, DbKind},
    job::JobError,
    ledger::NewJob,
    noop::NoopV1,
    testing::{TestContext, back_up, fresh_database_url, job_ctx},
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

async fn request(app: &AppContext, encrypted: bool) -> repo::BackupRow {
    run::enqueue(
        app,
        &Request {
            trigger: Trigger::Manual,
            schedule_id: None,
            requested_by: "test".into(),
            encrypted,
            idempotency_key: None,
        },
    )
    .await
    .expect("request a backup")
    .backup
}

async fn enqueue_noops(app: &AppContext, n: usize) {
    let jobs = (0..n)
        .map(|_| NewJob::new("writer", NoopV1::default()))
        .collect();
    app.ledger.enqueue_many(jobs).await.expect("enqueue");
}

/// A checksum of the ledger's rows, ordered by id, limited to `ids` when given.
async fn ledger_digest(db: &Db, ids: Option<&[Uuid]>) -> (Vec<Uuid>, String) {
    let rows: Vec<(Uuid, String, String, sqlx::types::Json<serde_json::Value>)> = kiln_jobs::on_db!(db, p => sqlx::query_as(
        "SELECT id, kind, status, payload FROM job_runs ORDER BY id",
    )
    .fetch_all(p)
    .await
    .expect("read the ledger"));
    let mut hasher = Sha256::new();
    let mut seen = Vec::new();
    for (id, kind, status, payload) in rows {
        if ids.is_some_and(|ids| !ids.contains(&id)) {
            continue;
        }
        hasher.update(format!("{id}|{kind}|{status}|{}\n", payload.0));
        seen.push(id);
    }
    (seen, hex::encode(hasher.finalize()))
}

async fn round_trip_with_writes(kind: DbKind) {
    let t = TestContext::new(kind, |_| {}).await;
    let app = t.app.clone();
    enqueue_noops(&app, 200).await;
    // A writer keeps adding jobs while the backup runs.
    let writer = {
        let app = app.clone();
        tokio::spawn(async move {
            for _ in 0..40 {
                enqueue_noops(&app, 10).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let row = back_up(&app, false).await;
    writer.await.expect("writer");

    // verify restores it into a scratch database and finds the manifest's counts.
    verify::run(
        &job_ctx(&app, Uuid::now_v7()),
        BackupVerifyV1 { backup_id: row.id },
    )
    .await
    .expect("backup.verify");
    let verified = repo::get(&app.db, row.id).await.expect("get").expect("row");
    assert_eq!(
        verified.verify(),
        Some(VerifyStatus::Passed),
        "{:?}",
        verified.verify_error
    );
    assert!(verified.verified_at.is_some());

    // Restore into a second, empty database.
    let dir = tempfile::tempdir().expect("dir");
    let target_url = fresh_database_url(kind, dir.path()).await;
    let plan = restore::Plan {
        input: restore::Input::Stored {
            storage: app.storage.clone(),
            key: row.location.clone().expect("location"),
        },
        identities: Arc::new(Vec::new()),
        expected: None,
        target_url: target_url.clone(),
        safety_backup: false,
    };
    let report = restore::restore(&app, &plan, |_| {})
        .await
        .expect("restore");
    assert!(report.differences.is_empty(), "{:?}", report.differences);
    assert!(report.missing_media.is_empty());

    // The restored ledger holds exactly the manifest's rows, byte for byte as
    // the source holds them.
    let target = Db::connect(&target_url, 2, Duration::from_secs(10))
        .await
        .expect("open the restored database");
    let (restored_ids, restored) = ledger_digest(&target, None).await;
    let manifest = restore::Input::Stored {
        storage: app.storage.clone(),
        key: row.location.clone().expect("location"),
    }
    .manifest()
    .await
    .expect("manifest")
    .expect("present");
    let table = if kind == DbKind::Postgres {
        "public.job_runs"
    } else {
        "job_runs"
    };
    assert_eq!(restored_ids.len() as i64, manifest.tables[table]);
    assert!(restored_ids.len() >= 200);
    let (_, source) = ledger_digest(&app.db, Some(&restored_ids)).await;
    assert_eq!(restored, source);
    let noops: i64 = kiln_jobs::on_db!(&app.db, p => sqlx::query_scalar(
        "SELECT count(*) FROM job_runs WHERE kind = 'noop'",
    )
    .fetch_one(p)
    .await
    .expect("count"));
    assert_eq!(noops, 600, "the writer's jobs all landed in the source");
}

#[tokio::test]
async fn a_backup_taken_during_writes_verifies_and_restores_exactly_sqlite() {
    round_trip_with_writes(DbKind::Sqlite).await;
}

#[tokio::test]
async fn a_backup_taken_during_writes_verifies_and_restores_exactly_postgres() {
    round_trip_with_writes(DbKind::Postgres).await;
}

async fn corrupted(kind: DbKind) {
    let t = TestContext::new(kind, |_| {}).await;
    let app = t.app.clone();
    enqueue_noops(&app, 20).await;
    let row = back_up(&app, false).await;
    let key = row.location.clone().expect("location");
    let path = t.dir.path().join("objects").join(&key);
    let mut bytes = std::fs::read(&path).expect("read the stored dump");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&path, &bytes).expect("flip a byte");

    verify::run(
        &job_ctx(&app, Uuid::now_v7()),
        BackupVerifyV1 { backup_id: row.id },
    )
    .await
    .expect("verify records the failure");
    let after = repo::get(&app.db, row.id).await.expect("get").expect("row");
    assert_eq!(after.verify(), Some(VerifyStatus::Failed));
    assert!(
        after
            .verify_error
            .as_deref()
            .unwrap_or_default()
            .contains("checksum mismatch"),
        "{:?}",
        after.verify_error
    );
    assert!(after.verified_at.is_none());

    let dir = tempfile::tempdir().expect("dir");
    let plan = restore::Plan {
        input: restore::Input::Stored {
            storage: app.storage.clone(),
            key,
        },
        identities: Arc::new(Vec::new()),
        expected: row.sha256.clone(),
        target_url: fresh_database_url(kind, dir.path()).await,
        safety_backup: false,
    };
    let refused = restore::restore(&app, &plan, |_| {}).await;
    let err = refused.expect_err("a corrupted backup is refused");
    assert!(
        matches!(
            err.downcast_ref::<restore::RestoreError>(),
            Some(restore::RestoreError::Refused(UnsealError::Checksum { .. }))
        ),
        "{err:#}"
    );
}

#[tokio::test]
async fn a_corrupted_backup_is_refused_by_verify_and_restore_sqlite() {
    corrupted(DbKind::Sqlite).await;
}

#[tokio::test]
async fn a_corrupted_backup_is_refused_by_verify_and_restore_postgres() {
    corrupted(DbKind::Postgres).await;
}

#[tokio::test]
async fn an_encrypted_backup_restores_only_with_its_identity_sqlite() {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let t = TestContext::new(DbKind::Sqlite, |c| c.backups.recipients = vec![recipient]).await;
    let app = t.app.clone();
    enqueue_noops(&app, 20).await;
    let row = back_up(&app, true).await;
    let key = row.location.clone().expect("location");
    assert!(key.ends_with(".dump.zst.age"), "{key}");
    let stored = std::fs::read(t.dir.path().join("objects").join(&key)).expect("read");
    assert!(stored.starts_with(b"age-encryption.org/v1"));
    assert!(!stored.windows(15).any(|w| w == b"SQLite format 3"));

    // Without an identity on the workers, verify checks only the checksum.
    verify::run(
        &job_ctx(&app, Uuid::now_v7()),
        BackupVerifyV1 { backup_id: row.id },
    )
    .await
    .expect("verify");
    let after = repo::get(&app.db, row.id).await.expect("get").expect("row");
    assert_eq!(after.verify(), Some(VerifyStatus::ChecksumOnly));

    let plan = |ids: Vec<Box<dyn age::Identity + Send + Sync>>, url: String| restore::Plan {
        input: restore::Input::Stored {
            storage: app.storage.clone(),
            key: key.clone(),
        },
        identities: Arc::new(ids),
        expected: None,
        target_url: url,
        safety_backup: false,
    };
    let dir = tempfile::tempdir().expect("dir");
    let url = fresh_database_url(DbKind::Sqlite, dir.path()).await;
    for ids in [
        vec![],
        vec![Box::new(age::x25519::Identity::generate()) as Box<dyn age::Identity + Send + Sync>],
    ] {
        let err = restore::restore(&app, &plan(ids, url.clone()), |_| {})
            .await
            .expect_err("refused without the right identity");
        assert!(
            matches!(
                err.downcast_ref::<restore::RestoreError>(),
                Some(restore::RestoreError::Refused(UnsealError::Identity(_)))
            ),
            "{err:#}"
        );
        assert!(!dir.path().join("kiln.db").exists(), "nothing was touched");
    }
    let report = restore::restore(&app, &plan(vec![Box::new(identity)], url), |_| {})
        .await
        .expect("the right identity restores");
    assert!(report.differences.is_empty(), "{:?}", report.differences);
}

#[tokio::test]
async fn a_failing_pg_dump_fails_with_its_message_and_leaves_no_object_postgres() {
    let t = TestContext::new(DbKind::Postgres, |_| {}).await;
    // The pool is fine; the URL pg_dump gets names a port nothing listens on.
    let mut config = (*t.app.config).clone();
    config.database.url = Some(secrecy::SecretString::from(
        "postgres://kiln@127.0.0.1:1/nowhere".to_owned(),
    ));
    let app = AppContext::with_db(Arc::new(config), t.app.db.clone()).expect("context");
    let row = request(&app, false).await;
    let err = run::run(
        &job_ctx(&app, row.job_id.expect("job")),
        BackupRunV1 { backup_id: row.id },
    )
    .await
    .expect_err("pg_dump fails");
    assert!(
        matches!(err, JobError::Retry(_)),
        "retried per the queue's policy: {err}"
    );
    let message = err.to_string();
    assert!(message.contains("pg_dump exited with"), "{message}");
    assert!(
        message.contains("127.0.0.1"),
        "pg_dump's own message is kept: {message}"
    );
    let after = repo::get(&app.db, row.id).await.expect("get").expect("row");
    assert!(
        after
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("pg_dump")
    );
    let left = app.storage.list("backups").await.expect("list");
    assert!(left.is_empty(), "no partial object: {left:?}");
}

async fn three_replicas(kind: DbKind) {
    let t = TestContext::new(kind, |_| {}).await;
    let created = Utc
        .with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
        .single()
        .expect("time");
    let schedule = schedules::insert(
        &t.app.db,
        Uuid::now_v7(),
        &Fields {
            name: "nightly".into(),
            cron: "0 30 2 * * *".into(),
            timezone: "Europe/Berlin".into(),
            policy: Policy::default(),
            encrypted: false,
            enabled: true,
        },
        "test",
        created,
    )
    .await
    .expect("schedule");
    let replicas: Vec<AppContext> = (0..3)
        .map(|_| AppContext::with_db(t.app.config.clone(), t.app.db.clone()).expect("replica"))
        .collect();
    // Three days later: two ticks were missed; they collapse into the latest.
    let now = Utc
        .with_ymd_and_hms(2027, 1, 3, 12, 0, 0)
        .single()
        .expect("time");
    let runs = replicas.iter().map(|app| schedules::tick(app, now));
    let made: Vec<Uuid> = futures::future::join_all(runs)
        .await
        .into_iter()
        .flat_map(|r| r.expect("tick"))
        .collect();
    assert_eq!(
        made.len(),
        1,
        "one backup for the tick, whatever the replicas: {made:?}"
    );
    let all = repo::list(&t.app.db, None, Some(schedule.id), 10)
        .await
        .expect("list");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].trigger, Trigger::Schedule);
    // The same instant again, and a minute later: nothing new.
    for at in [now, now + chrono::Duration::minutes(1)] {
        for app in &replicas {
            assert!(schedules::tick(app, at).await.expect("tick").is_empty());
        }
    }
    // The next night's tick (02:30 Berlin = 01:30 UTC in winter): one more.
    let next = Utc
        .with_ymd_and_hms(2027, 1, 4, 1, 30, 0)
        .single()
        .expect("time");
    let runs = replicas.iter().map(|app| schedules::tick(app, next));
    let made: usize = futures::future::join_all(runs)
        .await
        .into_iter()
        .map(|r| r.expect("tick").len())
        .sum();
    assert_eq!(made, 1);
    let ticks: BTreeMap<Uuid, Option<Uuid>> = repo::list(&t.app.db, None, Some(schedule.id), 10)
        .await
        .expect("list")
        .into_iter()
        .map(|b| (b.id, b.schedule_id))
        .collect();
    assert_eq!(ticks.len(), 2);
}

#[tokio::test]
async fn three_scheduler_replicas_make_one_backup_per_tick_sqlite() {
    three_replicas(DbKind::Sqlite).await;
}

#[tokio::test]
async fn three_scheduler_replicas_make_one_backup_per_tick_postgres() {
    three_replicas(DbKind::Postgres).await;
}

#[tokio::test]
async fn a_backup_round_trips_through_s3_storage_postgres() {
    let url = kiln_jobs::testing::s3_storage_url();
    let t = TestContext::new(DbKind::Postgres, |c| c.storage.url = Some(url)).await;
    let app = t.app.clone();
    enqueue_noops(&app, 50).await;
    let row = back_up(&app, false).await;
    assert!(
        app.storage.description().starts_with("s3://"),
        "{}",
        app.storage.description()
    );
    verify::run(
        &job_ctx(&app, Uuid::now_v7()),
        BackupVerifyV1 { backup_id: row.id },
    )
    .await
    .expect("verify");
    let after = repo::get(&app.db, row.id).await.expect("get").expect("row");
    assert_eq!(
        after.verify(),
        Some(VerifyStatus::Passed),
        "{:?}",
        after.verify_error
    );
    let stored = app
        .storage
        .get(row.location.as_deref().expect("location"))
        .await
        .expect("the dump is on S3");
    assert_eq!(
        hex::encode(Sha256::digest(&stored)),
        row.sha256.expect("sha256")
    );
}

/// Scheduled backups of Europe/Berlin at 02:30 across both 2027 changes:
/// the night that has no 02:30 makes one backup (at 03:00 CEST), the night
/// with two makes one (at the first).
async fn dst(kind: DbKind) {
    let t = TestContext::new(kind, |_| {}).await;
    let at = |y, m, d, h, min| {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("time")
    };
    let made_at = |created| {
        let app = t.app.clone();
        async move {
            schedules::insert(
                &app.db,
                Uuid::now_v7(),
                &Fields {
                    name: "night".into(),
                    cron: "30 2 * * *".into(),
                    timezone: "Europe/Berlin".into(),
                    policy: Policy::default(),
                    encrypted: false,
                    enabled: true,
                },
                "test",
                created,
            )
            .await
            .expect("schedule")
        }
    };
    // Spring forward: 28 March 2027, 02:00 CET → 03:00 CEST (01:00 UTC).
    let spring = made_at(at(2027, 3, 27, 12, 0)).await;
    let mut ticks = Vec::new();
    for minute in (0..=240).step_by(10) {
        let now = at(2027, 3, 28, 0, 0) + chrono::Duration::minutes(minute);
        ticks.extend(schedules::tick(&t.app, now).await.expect("tick"));
    }
    let spring_rows = repo::list(&t.app.db, None, Some(spring.id), 10)
        .await
        .expect("list");
    assert_eq!(
        spring_rows.len(),
        1,
        "one backup on the night 02:30 does not exist"
    );
    let s = schedules::get(&t.app.db, spring.id)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(s.last_tick_at, Some(at(2027, 3, 28, 1, 0)), "at 03:00 CEST");
    schedules::delete(&t.app.db, spring.id)
        .await
        .expect("delete");

    // Fall back: 31 October 2027, 03:00 CEST → 02:00 CET (01:00 UTC); 02:30 is
    // 00:30 UTC and again 01:30 UTC.
    let fall = made_at(at(2027, 10, 30, 12, 0)).await;
    for minute in (0..=240).step_by(10) {
        let now = at(2027, 10, 30, 23, 0) + chrono::Duration::minutes(minute);
        ticks.extend(schedules::tick(&t.app, now).await.expect("tick"));
    }
    let fall_rows = repo::list(&t.app.db, None, Some(fall.id), 10)
        .await
        .expect("list");
    assert_eq!(
        fall_rows.len(),
        1,
        "one backup on the night 02:30 happens twice"
    );
    let f = schedules::get(&t.app.db, fall.id)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(
        f.last_tick_at,
        Some(at(2027, 10, 31, 0, 30)),
        "at the first 02:30 (CEST)"
    );
    assert_eq!(ticks.len(), 2);
}

#[tokio::test]
async fn daylight_saving_nights_make_one_backup_each_sqlite() {
    dst(DbKind::Sqlite).await;
}

#[tokio::test]
async fn daylight_saving_nights_make_one_backup_each_postgres() {
    dst(DbKind::Postgres).await;
}

/// `backup.prune` through the job: a schedule keeping one daily backup
/// deletes the older ones, objects first, and keeps the newest verified one
/// even when a newer unverified one exists.
#[tokio::test]
async fn prune_keeps_the_policy_and_the_newest_verified_backup_sqlite() {
    use kiln_jobs::backups::{BackupPruneV1, prune};
    let t = TestContext::new(DbKind::Sqlite, |c| c.backups.verify = false).await;
    let app = t.app.clone();
    let schedule = schedules::insert(
        &app.db,
        Uuid::now_v7(),
        &Fields {
            name: "tight".into(),
            cron: "@daily".into(),
            timezone: "UTC".into(),
            policy: Policy {
                daily: 1,
                weekly: 0,
                monthly: 0,
            },
            encrypted: false,
            enabled: true,
        },
        "test",
        Utc::now(),
    )
    .await
    .expect("schedule");
    let mut made = Vec::new();
    for i in 0..3 {
        let r = run::enqueue(
            &app,
            &Request {
                trigger: Trigger::Schedule,
                schedule_id: Some(schedule.id),
                requested_by: "system".into(),
                encrypted: false,
                idempotency_key: Some(format!("test:{i}")),
            },
        )
        .await
        .expect("request")
        .backup;
        run::run(
            &job_ctx(&app, r.job_id.expect("job")),
            BackupRunV1 { backup_id: r.id },
        )
        .await
        .expect("backup");
        made.push(repo::get(&app.db, r.id).await.expect("get").expect("row"));
    }
    // The middle one is the newest verified.
    repo::record_verify(&app.db, made[1].id, VerifyStatus::Passed, None, Utc::now())
        .await
        .expect("verify");
    prune::run(
        &job_ctx(&app, Uuid::now_v7()),
        BackupPruneV1 {
            schedule_id: schedule.id,
        },
    )
    .await
    .expect("prune");
    let left: Vec<Uuid> = repo::list(&app.db, None, Some(schedule.id), 10)
        .await
        .expect("list")
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(left, vec![made[1].id], "one kept: the newest verified");
    for gone in [&made[0], &made[2]] {
        let key = gone.location.as_deref().expect("location");
        assert!(
            matches!(
                app.storage.size(key).await,
                Err(kiln_jobs::storage::StorageError::NotFound(_))
            ),
            "{key} was deleted"
        );
    }
    assert!(
        app.storage
            .size(made[1].location.as_deref().expect("location"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_missing_pg_dump_is_named_with_what_to_install_postgres() {
    let tools = tempfile::tempdir().expect("dir");
    let t = TestContext::new(DbKind::Postgres, |c| {
        c.backups.pg_bin_dir = Some(tools.path().to_path_buf());
    })
    .await;
    let row = request(&t.app, false).await;
    let err = run::run(
        &job_ctx(&t.app, row.job_id.expect("job")),
        BackupRunV1 { backup_id: row.id },
    )
    .await
    .expect_err("no pg_dump");
    assert!(
        matches!(err, JobError::Abort(_)),
        "a setup problem is not retried: {err}"
    );
    let message = err.to_string();
    assert!(message.contains("no pg_dump for PostgreSQL"), "{message}");
    assert!(message.contains("postgresql-client-"), "{message}");
    assert!(message.contains("backups.pg_bin_dir"), "{message}");
}
