use std::time::Duration;

use kiln_jobs::{
    JobStatus, QueueName,
    db::job_runs,
    noop::NoopV1,
    queue::{self, QueueMessage},
    testing::Backend,
};
use tokio_util::sync::CancellationToken;

use crate::{ctx, drain, enqueue, job, wait_for_status};

kiln_jobs::per_backend!(
    noop_job_succeeds_with_its_result_recorded,
    [sqlite, postgres, redis]
);
async fn noop_job_succeeds_with_its_result_recorded(kind: Backend) {
    let t = ctx(kind).await;
    let j = enqueue(&t, NoopV1::default()).await;
    assert_eq!(j.status, JobStatus::Queued);
    drain(&t).await;
    let j = job(&t, j.id).await;
    assert_eq!(j.status, JobStatus::Succeeded, "{kind:?}");
    assert_eq!(j.attempts, 1);
    assert_eq!(j.progress, 100);
    assert_eq!(j.result, Some(serde_json::json!({ "attempt": 1 })));
    assert!(j.started_at.is_some() && j.finished_at.is_some());
    // The transport agrees: its message was acknowledged, so it cannot come back.
    assert_eq!(crate::transport_backlog(&t).await, 0, "{kind:?}");
}

kiln_jobs::per_backend!(
    acknowledged_messages_are_purged_after_the_retention_period,
    [sqlite, postgres]
);
async fn acknowledged_messages_are_purged_after_the_retention_period(kind: Backend) {
    // The database transport keeps acknowledged rows for a while; Redis deletes
    // an entry when it is acknowledged.
    let t = ctx(kind).await;
    for _ in 0..3 {
        enqueue(&t, NoopV1::default()).await;
    }
    drain(&t).await;
    let purged = queue::purge_acknowledged(&t.app.db, Duration::from_secs(3_600))
        .await
        .expect("purge");
    assert_eq!(purged, 0, "still within retention, {kind:?}");
    // Wall clock: SQLite keeps done_at in whole seconds, so a row is older than
    // "now" only once the second it was acknowledged in has passed.
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut purged = 0;
    loop {
        purged += queue::purge_acknowledged(&t.app.db, Duration::ZERO)
            .await
            .expect("purge");
        if purged >= 3 || tokio::time::Instant::now() >= until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(purged, 3, "{kind:?}");
}

kiln_jobs::per_backend!(
    retryable_failure_is_retried_with_backoff_then_succeeds,
    [sqlite, postgres, redis]
);
async fn retryable_failure_is_retried_with_backoff_then_succeeds(kind: Backend) {
    let t = ctx(kind).await;
    let j = enqueue(
        &t,
        NoopV1 {
            fail_attempts: 2,
            ..Default::default()
        },
    )
    .await;
    drain(&t).await;
    let j = job(&t, j.id).await;
    assert_eq!(j.status, JobStatus::Succeeded, "{kind:?}: {j:?}");
    assert_eq!(j.attempts, 3);
    assert!(
        j.last_error
            .as_deref()
            .is_some_and(|e| e.contains("fail attempt 2")),
        "last error kept: {j:?}"
    );
}

kiln_jobs::per_backend!(
    a_requested_retry_delay_is_honoured_over_a_shorter_backoff,
    [sqlite, redis]
);
async fn a_requested_retry_delay_is_honoured_over_a_shorter_backoff(kind: Backend) {
    // As a provider's Retry-After: the test policy's backoff is milliseconds,
    // the job asks for 1.2 s.
    let t = ctx(kind).await;
    let j = enqueue(
        &t,
        NoopV1 {
            fail_attempts: 1,
            retry_after_ms: 1_200,
            ..Default::default()
        },
    )
    .await;
    drain(&t).await;
    let j = job(&t, j.id).await;
    assert_eq!(
        (j.status, j.attempts),
        (JobStatus::Succeeded, 2),
        "{kind:?}"
    );
    let waited = j.started_at.expect("started") - j.created_at;
    assert!(
        waited >= chrono::Duration::milliseconds(1_200),
        "{kind:?}: the retry started {waited} after the enqueue"
    );
}

kiln_jobs::per_backend!(
    permanent_error_fails_the_job_without_retry,
    [sqlite, postgres, redis]
);
async fn permanent_error_fails_the_job_without_retry(kind: Backend) {
    let t = ctx(kind).await;
    let j = enqueue(
        &t,
        NoopV1 {
            abort: true,
            ..Default::default()
        },
    )
    .await;
    drain(&t).await;
    let j = job(&t, j.id).await;
    assert_eq!(j.status, JobStatus::Failed, "{kind:?}");
    assert_eq!(j.attempts, 1);
    assert_eq!(j.last_error.as_deref(), Some("noop job asked to abort"));
}

kiln_jobs::per_backend!(
    job_is_dead_once_attempts_are_exhausted_and_can_be_retried,
    [sqlite, postgres, redis]
);
async fn job_is_dead_once_attempts_are_exhausted_and_can_be_retried(kind: Backend) {
    let t = ctx(kind).await;
    let j = enqueue(
        &t,
        NoopV1 {
            fail_attempts: 100,
            ..Default::default()
        },
    )
    .await;
    drain(&t).await;
    let dead = job(&t, j.id).await;
    assert_eq!(dead.status, JobStatus::Dead, "{kind:?}");
    assert_eq!(dead.attempts, 3);
    assert!(
        dead.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("attempts exhausted (3)"))
    );

    let rearmed = t
        .app
        .ledger
        .retry(j.id, None)
        .await
        .expect("retry dead job");
    assert_eq!(rearmed.status, JobStatus::Queued);
    assert_eq!(rearmed.attempts, 0);
    drain(&t).await;
    let again = job(&t, j.id).await;
    assert_eq!(again.status, JobStatus::Dead);
    assert_eq!(again.attempts, 3, "ran a full new attempt budget");
    assert!(again.started_at > dead.started_at);
}

kiln_jobs::per_backend!(
    retry_is_refused_for_jobs_that_are_not_failed_or_dead,
    [sqlite, postgres, redis]
);
async fn retry_is_refused_for_jobs_that_are_not_failed_or_dead(kind: Backend) {
    let t = ctx(kind).await;
    let j = enqueue(&t, NoopV1::default()).await;
    let err = t
        .app
        .ledger
        .retry(j.id, None)
        .await
        .expect_err("queued job");
    assert!(err.to_string().contains("only failed or dead"), "{err}");
}

kiln_jobs::per_backend!(
    panicking_handler_counts_as_a_failure_and_the_worker_keeps_running,
    [sqlite, postgres, redis]
);
async fn panicking_handler_counts_as_a_failure_and_the_worker_keeps_running(kind: Backend) {
    let t = ctx(kind).await;
    let bad = enqueue(
        &t,
        NoopV1 {
            panic: true,
            ..Default::default()
        },
    )
    .await;
    let good = enqueue(&t, NoopV1::default()).await;
    drain(&t).await;
    let bad = job(&t, bad.id).await;
    assert_eq!(bad.status, JobStatus::Dead, "{kind:?}");
    assert_eq!(bad.attempts, 3);
    assert!(
        bad.last_error
            .as_deref()
            .is_some_and(|e| e.contains("handler panicked"))
    );
    assert_eq!(job(&t, good.id).await.status, JobStatus::Succeeded);
}

#[tokio::test]
async fn attempt_past_the_queue_timeout_is_failed_as_retryable() {
    let t = ctx(Backend::Sqlite).await;
    let j = enqueue(
        &t,
        NoopV1 {
            sleep_ms: 5_000,
            ..Default::default()
        },
    )
    .await;
    t.app
        .ledger
        .retry(j.id, None)
        .await
        .expect_err("not failed yet");
    drain(&t).await;
    let j = job(&t, j.id).await;
    assert_eq!(j.status, JobStatus::Dead);
    assert!(
        j.last_error
            .as_deref()
            .is_some_and(|e| e.contains("timed out after 2s")),
        "{j:?}"
    );
}

kiln_jobs::per_backend!(
    undecodable_payload_fails_that_job_and_the_worker_keeps_running,
    [sqlite, postgres, redis]
);
async fn undecodable_payload_fails_that_job_and_the_worker_keeps_running(kind: Backend) {
    let t = ctx(kind).await;
    // A producer on another version wrote a payload this code cannot read.
    let id = uuid::Uuid::now_v7();
    let delivery_id = uuid::Uuid::now_v7();
    let payload = serde_json::json!({ "type": "noop.v9", "colour": "blue" });
    let row = job_runs::InsertJobRun {
        id,
        kind: "noop",
        queue: "notifications",
        owner: "tester",
        idempotency_key: None,
        payload: &payload,
        max_attempts: 3,
        now: chrono::Utc::now(),
        next_run_at: None,
        delivery_id,
        traceparent: None,
    };
    let msg = QueueMessage {
        job_id: id,
        delivery_id,
        payload: payload.clone(),
    };
    crate::insert_and_push(&t, &row, &msg).await;
    let after = enqueue(&t, NoopV1::default()).await;
    drain(&t).await;
    let bad = job(&t, id).await;
    assert_eq!(bad.status, JobStatus::Failed, "{kind:?}");
    assert_eq!(bad.attempts, 1);
    assert!(
        bad.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("payload could not be decoded"))
    );
    assert_eq!(job(&t, after.id).await.status, JobStatus::Succeeded);
}

kiln_jobs::per_backend!(
    cancelled_job_is_skipped_when_delivered,
    [sqlite, postgres, redis]
);
async fn cancelled_job_is_skipped_when_delivered(kind: Backend) {
    let t = ctx(kind).await;
    let j = enqueue(&t, NoopV1::default()).await;
    let c = t.app.ledger.cancel(j.id, None).await.expect("cancel");
    assert_eq!(c.status, JobStatus::Cancelled);
    drain(&t).await;
    let j = job(&t, j.id).await;
    assert_eq!(j.status, JobStatus::Cancelled, "{kind:?}");
    assert_eq!(j.attempts, 0, "never ran");
    let err = t.app.ledger.cancel(j.id, None).await.map(|j| j.status);
    assert_eq!(err.expect("cancel is idempotent"), JobStatus::Cancelled);
}

#[tokio::test]
async fn finished_job_cannot_be_cancelled() {
    let t = ctx(Backend::Sqlite).await;
    let j = enqueue(&t, NoopV1::default()).await;
    drain(&t).await;
    let err = t
        .app
        .ledger
        .cancel(j.id, None)
        .await
        .expect_err("succeeded");
    assert!(
        err.to_string().contains("can no longer be cancelled"),
        "{err}"
    );
}

kiln_jobs::per_backend!(
    delayed_job_does_not_run_before_its_time,
    [sqlite, postgres, redis]
);
async fn delayed_job_does_not_run_before_its_time(kind: Backend) {
    let t = ctx(kind).await;
    let run_at = chrono::SubsecRound::trunc_subsecs(
        chrono::Utc::now() + chrono::Duration::milliseconds(1_500),
        6,
    );
    let mut new = kiln_jobs::ledger::NewJob::new("tester", NoopV1::default());
    new.run_at = Some(run_at);
    let j = t
        .app
        .ledger
        .enqueue(new)
        .await
        .expect("enqueue")
        .job()
        .clone();
    assert_eq!(j.next_run_at, Some(run_at));
    drain(&t).await;
    let j = job(&t, j.id).await;
    assert_eq!(j.status, JobStatus::Succeeded, "{kind:?}");
    assert!(j.started_at.expect("started") >= run_at, "{j:?}");
}

kiln_jobs::per_backend!(
    graceful_shutdown_lets_the_in_flight_job_finish,
    [sqlite, postgres, redis]
);
async fn graceful_shutdown_lets_the_in_flight_job_finish(kind: Backend) {
    let t = ctx(kind).await;
    let j = enqueue(
        &t,
        NoopV1 {
            sleep_ms: 1_000,
            ..Default::default()
        },
    )
    .await;
    let token = CancellationToken::new();
    let runtime = {
        let (app, token) = (t.app.clone(), token.clone());
        tokio::spawn(async move { kiln_worker::run(app, &[QueueName::Notifications], token).await })
    };
    wait_for_status(&t, j.id, JobStatus::Running).await;
    token.cancel();
    tokio::time::timeout(Duration::from_secs(15), runtime)
        .await
        .expect("shutdown within the grace period")
        .expect("join")
        .expect("clean stop");
    assert_eq!(job(&t, j.id).await.status, JobStatus::Succeeded, "{kind:?}");
}
