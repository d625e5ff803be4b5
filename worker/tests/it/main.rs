//! Queue runtime tests, against SQLite and PostgreSQL.

mod outcomes;
mod redis;
mod redis_faults;
mod runtime;
mod sql_recovery;

use std::time::Duration;

use kiln_jobs::{
    JobRun, JobStatus, QueueName,
    db::job_runs,
    ledger::{Enqueued, NewJob},
    noop::NoopV1,
    queue::{self, QueueMessage, Transport, redis::Outgoing},
    testing::{Backend, TestContext},
};

/// A fresh context with small retry budgets.
pub async fn ctx(backend: Backend) -> TestContext {
    TestContext::with_backend(backend, |c| {
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
        .enqueue(NewJob::new("tester", noop))
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

/// Messages the transport still holds (ready, delayed or unacknowledged).
pub async fn transport_backlog(t: &TestContext) -> u64 {
    match t.app.ledger.transport() {
        Transport::Database => {
            u64::try_from(queue::unacknowledged(&t.app.db).await.expect("count")).unwrap_or(0)
        }
        Transport::Redis(r) => {
            let mut n = 0;
            for q in QueueName::ALL {
                let s = r.stats(q).await.expect("stats");
                n += s.ready + s.delayed + s.in_flight;
            }
            n
        }
    }
}

/// Writes a ledger row and its queue message as a producer would, bypassing
/// the enqueue API (to plant payloads the API would never write).
pub async fn insert_and_push(
    t: &TestContext,
    row: &job_runs::InsertJobRun<'_>,
    msg: &QueueMessage,
) {
    let queue: QueueName = row.queue.parse().expect("queue");
    let mut tx = t.app.db.begin().await.expect("tx");
    job_runs::insert(&mut tx, row).await.expect("insert");
    match t.app.ledger.transport() {
        Transport::Database => {
            queue::push_in_tx(&mut tx, queue, msg, None)
                .await
                .expect("push");
            tx.commit().await.expect("commit");
        }
        Transport::Redis(r) => {
            tx.commit().await.expect("commit");
            r.push(
                queue,
                &[Outgoing {
                    message: msg,
                    delay: Duration::ZERO,
                }],
            )
            .await
            .expect("push");
        }
    }
}
