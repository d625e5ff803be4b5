use kiln_jobs::{
    JobStatus, QueueName,
    db::{Db, DbKind},
    ledger::{Enqueued, JobFilter, NewJob},
    noop::NoopV1,
    testing::{Backend, TestContext},
};

async fn queue_messages(db: &Db) -> i64 {
    match db {
        Db::Sqlite(p) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM Jobs")
                .fetch_one(p)
                .await
        }
        Db::Postgres(p) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM apalis.jobs")
                .fetch_one(p)
                .await
        }
    }
    .expect("count queue messages")
}

fn noop(owner: &str, key: Option<&str>) -> NewJob {
    let mut j = NewJob::new(owner, NoopV1::default());
    j.idempotency_key = key.map(str::to_owned);
    j
}

/// Enqueues a plain noop job for `owner`.
async fn created(t: &TestContext, owner: &str) -> kiln_jobs::JobRun {
    t.app
        .ledger
        .enqueue(noop(owner, None))
        .await
        .expect("enqueue")
        .job()
        .clone()
}

kiln_jobs::per_backend!(
    migrations_apply_to_an_empty_database_and_are_idempotent,
    [sqlite, postgres]
);
async fn migrations_apply_to_an_empty_database_and_are_idempotent(kind: Backend) {
    let t = TestContext::with_backend(kind, |_| {}).await;
    t.app.db.migrate().await.expect("second run is a no-op");
    assert_eq!(queue_messages(&t.app.db).await, 0, "{kind:?}");
}

kiln_jobs::per_backend!(
    enqueue_writes_the_ledger_row_and_the_queue_message_together,
    [sqlite, postgres]
);
async fn enqueue_writes_the_ledger_row_and_the_queue_message_together(kind: Backend) {
    let t = TestContext::with_backend(kind, |_| {}).await;
    let out = t
        .app
        .ledger
        .enqueue(noop("alice", None))
        .await
        .expect("enqueue");
    let Enqueued::Created(job) = out else {
        panic!("created")
    };
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.kind, "noop");
    assert_eq!(job.queue, "notifications");
    assert_eq!(job.owner, "alice");
    assert_eq!(job.attempts, 0);
    assert_eq!(
        job.max_attempts,
        t.app.config.queues.notifications.max_attempts
    );
    assert_eq!(job.id.get_version_num(), 7, "UUIDv7 ids");
    assert_eq!(queue_messages(&t.app.db).await, 1, "{kind:?}");
}

kiln_jobs::per_backend!(
    enqueue_with_a_known_idempotency_key_returns_the_existing_job,
    [sqlite, postgres]
);
async fn enqueue_with_a_known_idempotency_key_returns_the_existing_job(kind: Backend) {
    let t = TestContext::with_backend(kind, |_| {}).await;
    let first = t
        .app
        .ledger
        .enqueue(noop("alice", Some("k1")))
        .await
        .expect("first");
    let again = t
        .app
        .ledger
        .enqueue(noop("alice", Some("k1")))
        .await
        .expect("again");
    assert!(matches!(first, Enqueued::Created(_)));
    let Enqueued::Existing(existing) = again else {
        panic!("existing, {kind:?}")
    };
    assert_eq!(existing.id, first.job().id);
    assert_eq!(
        queue_messages(&t.app.db).await,
        1,
        "no second message, {kind:?}"
    );

    // Keys are per owner.
    let bob = t
        .app
        .ledger
        .enqueue(noop("bob", Some("k1")))
        .await
        .expect("bob");
    assert!(matches!(bob, Enqueued::Created(_)));
    assert_ne!(bob.job().id, first.job().id);
}

kiln_jobs::per_backend!(
    concurrent_enqueues_with_one_key_create_one_job,
    [sqlite, postgres]
);
async fn concurrent_enqueues_with_one_key_create_one_job(kind: Backend) {
    let t = TestContext::with_backend(kind, |_| {}).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let ledger = t.app.ledger.clone();
            tokio::spawn(async move { ledger.enqueue(noop("alice", Some("race"))).await })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        match task.await.expect("join") {
            Ok(out) => {
                ids.insert(out.job().id);
            }
            // SQLite serialises writers; a racing loser may be told to retry.
            Err(e) => assert!(e.to_string().contains("retry"), "{kind:?}: {e}"),
        }
    }
    assert_eq!(ids.len(), 1, "{kind:?}");
    assert_eq!(queue_messages(&t.app.db).await, 1);
}

kiln_jobs::per_backend!(
    list_pages_newest_first_with_filters_and_owner_scope,
    [sqlite, postgres]
);
async fn list_pages_newest_first_with_filters_and_owner_scope(kind: Backend) {
    let t = TestContext::with_backend(kind, |_| {}).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(created(&t, "alice").await.id);
    }
    t.app.ledger.enqueue(noop("bob", None)).await.expect("bob");
    t.app
        .ledger
        .cancel(ids[0], Some("alice"))
        .await
        .expect("cancel");

    let mut filter = JobFilter {
        owner: Some("alice".into()),
        limit: 2,
        ..Default::default()
    };
    let mut seen = Vec::new();
    loop {
        let (page, next) = t.app.ledger.list(&filter).await.expect("list");
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|j| j.id));
        match next {
            Some(c) => filter.after = Some(c),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "all of alice's jobs, newest first, {kind:?}");

    let (cancelled, _) = t
        .app
        .ledger
        .list(&JobFilter {
            status: Some(JobStatus::Cancelled),
            limit: 50,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(cancelled.len(), 1);
    let (everyone, _) = t
        .app
        .ledger
        .list(&JobFilter {
            kind: Some("noop".into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(everyone.len(), 6);
}

kiln_jobs::per_backend!(another_owner_cannot_see_or_cancel_a_job, [sqlite, postgres]);
async fn another_owner_cannot_see_or_cancel_a_job(kind: Backend) {
    let t = TestContext::with_backend(kind, |_| {}).await;
    let j = created(&t, "alice").await;
    assert!(
        t.app
            .ledger
            .get(j.id, Some("bob"))
            .await
            .expect("get")
            .is_none()
    );
    let err = t
        .app
        .ledger
        .cancel(j.id, Some("bob"))
        .await
        .expect_err("not bob's");
    assert_eq!(err.to_string(), "job not found");
    assert!(
        t.app
            .ledger
            .get(j.id, Some("alice"))
            .await
            .expect("get")
            .is_some()
    );
}

kiln_jobs::per_backend!(
    claim_runs_queued_jobs_and_refuses_terminal_ones,
    [sqlite, postgres]
);
async fn claim_runs_queued_jobs_and_refuses_terminal_ones(kind: Backend) {
    let t = TestContext::with_backend(kind, |_| {}).await;
    let j = created(&t, "alice").await;
    let delivery = j
        .delivery_id
        .expect("a delivery id is recorded with the message");
    let stale = uuid::Uuid::now_v7();
    assert!(
        t.app
            .ledger
            .claim(j.id, stale)
            .await
            .expect("claim")
            .is_none(),
        "stale duplicate"
    );
    let claimed = t
        .app
        .ledger
        .claim(j.id, delivery)
        .await
        .expect("claim")
        .expect("runnable");
    assert_eq!(claimed.status, JobStatus::Running);
    assert_eq!(claimed.attempts, 1);
    // A redelivery of the same message after a lost worker claims the running job again.
    let again = t
        .app
        .ledger
        .claim(j.id, delivery)
        .await
        .expect("claim")
        .expect("redelivery");
    assert_eq!(again.attempts, 2);
    // The first attempt lost its claim: it can neither finish nor retry the job.
    assert!(
        !t.app
            .ledger
            .succeed(&claimed, &serde_json::json!({"ok": "stale"}))
            .await
            .expect("succeed"),
        "{kind:?}: a fenced attempt must not record its outcome"
    );
    let later = chrono::Utc::now() + chrono::Duration::seconds(60);
    assert!(
        !t.app
            .ledger
            .schedule_retry(&claimed, "stale", later)
            .await
            .expect("retry"),
        "{kind:?}: a fenced attempt must not schedule a retry"
    );
    assert!(
        t.app
            .ledger
            .succeed(&again, &serde_json::json!({"ok": true}))
            .await
            .expect("succeed")
    );
    assert!(
        t.app
            .ledger
            .claim(j.id, delivery)
            .await
            .expect("claim")
            .is_none(),
        "{kind:?}"
    );
    assert!(
        t.app
            .ledger
            .claim(uuid::Uuid::now_v7(), delivery)
            .await
            .expect("claim")
            .is_none()
    );
}

#[tokio::test]
async fn queue_names_round_trip() {
    for q in QueueName::ALL {
        assert_eq!(q.as_str().parse::<QueueName>(), Ok(q));
    }
    assert!("nope".parse::<QueueName>().is_err());
    let _ = DbKind::from_url("mysql://x").expect_err("unsupported scheme");
}
