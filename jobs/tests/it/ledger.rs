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
    [sqlite, postgres, redis]
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
    assert_eq!(ready(&t).await, 1, "{kind:?}");
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

/// How many jobs wait in `notifications`, as its transport counts them.
async fn ready(t: &TestContext) -> u64 {
    t.app
        .ledger
        .queue_stats(QueueName::Notifications)
        .await
        .expect("stats")
        .ready
}

/// Asserts that an enqueue's answer is the job as the ledger stores it.
async fn assert_as_stored(t: &TestContext, job: &kiln_jobs::JobRun, kind: Backend) {
    let stored = t
        .app
        .ledger
        .get(job.id, None)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        serde_json::to_value(job).expect("json"),
        serde_json::to_value(&stored).expect("json"),
        "{kind:?}"
    );
    assert_eq!(
        (job.delivery_id, job.due_at, &job.traceparent),
        (stored.delivery_id, stored.due_at, &stored.traceparent),
        "{kind:?}"
    );
}

/// A series' value in this process's metrics.
fn scraped(t: &TestContext, series: &str) -> f64 {
    t.app
        .metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{series} in {}", t.app.metrics.render()))
}

kiln_jobs::per_backend!(
    a_bulk_enqueue_answers_known_and_repeated_idempotency_keys_with_their_job,
    [sqlite, postgres, redis]
);
async fn a_bulk_enqueue_answers_known_and_repeated_idempotency_keys_with_their_job(kind: Backend) {
    let t = TestContext::with_backend(kind, |_| {}).await;
    let known = created(&t, "carol").await;
    let first = t
        .app
        .ledger
        .enqueue(noop("alice", Some("k1")))
        .await
        .expect("first")
        .job()
        .clone();
    let out = t
        .app
        .ledger
        .enqueue_many(vec![
            noop("alice", Some("k1")),
            noop("alice", Some("k2")),
            noop("bob", Some("k1")),
            noop("alice", Some("k2")),
            noop("alice", None),
        ])
        .await
        .expect("enqueue_many");
    let [a, b, c, d, e] = &out[..] else {
        panic!("five answers, {kind:?}: {out:?}")
    };
    assert!(
        matches!(a, Enqueued::Existing(j) if j.id == first.id),
        "{kind:?}: {a:?}"
    );
    assert!(matches!(b, Enqueued::Created(_)), "{kind:?}: {b:?}");
    assert!(
        matches!(c, Enqueued::Created(_)),
        "keys are per owner, {kind:?}"
    );
    assert!(
        matches!(d, Enqueued::Existing(j) if j.id == b.job().id),
        "a key repeated in the batch answers the batch's job, {kind:?}: {d:?}"
    );
    assert!(matches!(e, Enqueued::Created(_)), "{kind:?}: {e:?}");
    let mut ids: Vec<_> = [&known, &first, b.job(), c.job(), e.job()]
        .iter()
        .map(|j| j.id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5, "{kind:?}");
    for job in [b.job(), c.job(), e.job()] {
        assert_as_stored(&t, job, kind).await;
    }

    // A scheduled job: its due time keeps the database's precision, rounded up.
    let mut later = noop("alice", None);
    let due = chrono::Utc::now() + chrono::TimeDelta::hours(1);
    later.run_at = Some(due);
    let [Enqueued::Created(scheduled)] = &t
        .app
        .ledger
        .enqueue_many(vec![later])
        .await
        .expect("scheduled")[..]
    else {
        panic!("created, {kind:?}")
    };
    assert!(
        scheduled.next_run_at.is_some_and(|at| at >= due),
        "{kind:?}"
    );
    assert_as_stored(&t, scheduled, kind).await;
    assert_eq!(b.job().idempotency_key.as_deref(), Some("k2"));
    assert_eq!(c.job().owner, "bob");
    let stats = t
        .app
        .ledger
        .queue_stats(QueueName::Notifications)
        .await
        .expect("stats");
    assert_eq!(
        (stats.ready, stats.delayed),
        (5, 1),
        "one message per created job, {kind:?}"
    );
    assert_eq!(
        scraped(&t, r#"kiln_jobs_created_total{kind="noop"}"#),
        6.0,
        "{kind:?}"
    );
}

kiln_jobs::per_backend!(
    concurrent_lone_enqueues_are_committed_in_groups,
    [sqlite, postgres, redis]
);
async fn concurrent_lone_enqueues_are_committed_in_groups(kind: Backend) {
    let t = TestContext::with_backend(kind, |_| {}).await;
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let ledger = t.app.ledger.clone();
            let key = (i % 2 == 0).then(|| format!("even-{i}"));
            tokio::spawn(async move { ledger.enqueue(noop("alice", key.as_deref())).await })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        let out = task.await.expect("join").expect("enqueue");
        assert!(matches!(out, Enqueued::Created(_)), "{kind:?}");
        ids.insert(out.job().id);
    }
    assert_eq!(ids.len(), 64, "{kind:?}");
    assert_eq!(ready(&t).await, 64, "{kind:?}");
    for id in &ids {
        let job = t
            .app
            .ledger
            .get(*id, None)
            .await
            .expect("get")
            .expect("found");
        assert_eq!(job.status, JobStatus::Queued, "{kind:?}");
    }
    let jobs = scraped(&t, "kiln_enqueue_group_size_sum");
    let groups = scraped(&t, "kiln_enqueue_group_size_count");
    assert_eq!(jobs, 64.0, "{kind:?}");
    assert!(
        groups < 64.0,
        "waiting enqueues share a commit: {groups} groups for 64 jobs, {kind:?}"
    );

    // An idempotent repeat inside a group answers the job it names.
    let again = t
        .app
        .ledger
        .enqueue(noop("alice", Some("even-0")))
        .await
        .expect("again");
    assert!(matches!(again, Enqueued::Existing(_)), "{kind:?}");
    assert_eq!(ready(&t).await, 64, "{kind:?}");
}

kiln_jobs::per_backend!(
    a_job_the_database_refuses_fails_alone_and_not_its_group,
    [postgres, redis]
);
async fn a_job_the_database_refuses_fails_alone_and_not_its_group(kind: Backend) {
    let t = TestContext::with_backend(kind, |_| {}).await;
    // PostgreSQL refuses a NUL in text; the API never lets one through, so
    // this stands for any job the database refuses.
    let tasks: Vec<_> = (0..21)
        .map(|i| {
            let ledger = t.app.ledger.clone();
            let owner = if i == 10 { "bad\0owner" } else { "alice" };
            tokio::spawn(async move { ledger.enqueue(noop(owner, None)).await })
        })
        .collect();
    let mut ok = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.expect("join") {
            Ok(out) if i != 10 => {
                assert!(matches!(out, Enqueued::Created(_)));
                ok += 1;
            }
            Err(e) if i == 10 => assert!(e.to_string().contains("ledger database"), "{e}"),
            other => panic!("job {i}, {kind:?}: {other:?}"),
        }
    }
    assert_eq!(ok, 20, "{kind:?}");
    assert_eq!(ready(&t).await, 20, "{kind:?}");
    assert!(
        scraped(&t, "kiln_enqueue_group_size_count") < 21.0,
        "the jobs were grouped, {kind:?}"
    );
}
