//! Queue runtime tests, against SQLite and PostgreSQL.

mod runtime;

use std::time::Duration;

use kiln_jobs::{
    JobPayload, JobRun, JobStatus, QueueName,
    db::DbKind,
    ledger::{Enqueued, NewJob},
    noop::NoopV1,
    testing::TestContext,
};

/// A fresh context with small retry budgets.
pub async fn ctx(kind: DbKind) -> TestContext {
    TestContext::new(kind, |c| {
        c.queues.notifications.max_attempts = 3;
        c.queues.notifications.timeout_secs = 2;
    })
    .await
}

/// Enqueues a noop job on the notifications queue.
pub async fn enqueue(t: &TestContext, noop: NoopV1) -> JobRun {
    match t
        .app
        .ledger
        .enqueue(NewJob::new("tester", JobPayload::NoopV1(noop)))
        .await
        .expect("enqueue")
    {
        Enqueued::Created(j) => j,
        Enqueued::Existing(j) => panic!("unexpected existing job {}", j.id),
    }
}

/// Drains the notifications queue.
pub async fn drain(t: &TestContext) {
    kiln_worker::run_until_idle(
        t.app.clone(),
        &[QueueName::Notifications],
        Duration::from_secs(30),
    )
    .await
    .expect("queue drains");
}

/// Reads a job back.
pub async fn job(t: &TestContext, id: uuid::Uuid) -> JobRun {
    t.app
        .ledger
        .get(id, None)
        .await
        .expect("get")
        .expect("job exists")
}

/// Waits (bounded) until `id` has `status`.
pub async fn wait_for_status(t: &TestContext, id: uuid::Uuid, status: JobStatus) -> JobRun {
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let j = job(t, id).await;
        if j.status == status {
            return j;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "job never became {status:?}: {j:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
