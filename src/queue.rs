//! `kiln queue list | pause | resume | dead | retry-dead | purge-dead`: the operator's queue
//! commands, run against the ledger directly (no API token needed; the
//! pause is the same ledger row `POST /v1/queues/{queue}/pause` writes, so
//! every worker sees it within a second).

use kiln_jobs::{AppContext, Config, JobStatus, QueueName, ledger::JobFilter};

/// Who `kiln queue pause` records as having paused a queue.
const CLI_ACTOR: &str = "cli";

/// Prints every queue's numbers and whether it is paused.
pub async fn list(config: Config) -> anyhow::Result<()> {
    let app = AppContext::connect(config).await?;
    let paused = app.ledger.paused().await?;
    println!(
        "{:<14} {:>9} {:>9} {:>9} {:>9} {:>12}  state",
        "queue", "ready", "delayed", "in_flight", "dead", "oldest_ms"
    );
    for q in QueueName::ALL {
        let s = app.ledger.queue_stats(q).await?;
        let state = match paused.iter().find(|p| p.queue == q) {
            Some(p) => format!(
                "paused since {} by {}",
                p.paused_at.format("%Y-%m-%dT%H:%M:%SZ"),
                p.paused_by
            ),
            None => "running".to_owned(),
        };
        println!(
            "{:<14} {:>9} {:>9} {:>9} {:>9} {:>12}  {state}",
            q.as_str(),
            s.ready,
            s.delayed,
            s.in_flight,
            s.dead,
            s.oldest_ready_ms
        );
    }
    Ok(())
}

/// Pauses `queue`.
pub async fn pause(config: Config, queue: QueueName) -> anyhow::Result<()> {
    let app = AppContext::connect(config).await?;
    let p = app.ledger.pause(queue, CLI_ACTOR).await?;
    println!(
        "{queue} paused (since {} by {}): its workers finish what runs and start nothing new",
        p.paused_at.format("%Y-%m-%dT%H:%M:%SZ"),
        p.paused_by
    );
    Ok(())
}

/// Resumes `queue`.
pub async fn resume(config: Config, queue: QueueName) -> anyhow::Result<()> {
    let app = AppContext::connect(config).await?;
    if app.ledger.resume(queue).await? {
        println!("{queue} resumed");
    } else {
        println!("{queue} was not paused");
    }
    Ok(())
}

/// Queues up to `limit` dead jobs of `queue` again.
pub async fn retry_dead(config: Config, queue: QueueName, limit: u32) -> anyhow::Result<()> {
    let app = AppContext::connect(config).await?;
    let ids = app.ledger.retry_dead(queue, limit).await?;
    println!("{} dead jobs of {queue} queued again", ids.len());
    Ok(())
}

/// Prints up to `limit` dead jobs of `queue`, newest first: id, kind,
/// attempts, when it died and its last error.
pub async fn dead(config: Config, queue: QueueName, limit: u32) -> anyhow::Result<()> {
    let app = AppContext::connect(config).await?;
    let filter = JobFilter {
        status: Some(JobStatus::Dead),
        queue: Some(queue),
        limit: limit.clamp(1, 1_000),
        ..JobFilter::default()
    };
    let (jobs, more) = app.ledger.list(&filter).await?;
    println!(
        "{:<36}  {:<16} {:>8}  {:<20}  last error",
        "job", "kind", "attempts", "died"
    );
    for j in &jobs {
        let died = j
            .finished_at
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        let error: String = j
            .last_error
            .as_deref()
            .unwrap_or_default()
            .chars()
            .take(120)
            .collect();
        println!(
            "{:<36}  {:<16} {:>8}  {died:<20}  {error}",
            j.id, j.kind, j.attempts
        );
    }
    match more {
        Some(_) => println!("{} shown; more remain (raise --limit)", jobs.len()),
        None => println!("{} dead jobs of {queue}", jobs.len()),
    }
    Ok(())
}

/// Deletes every dead job of `queue` (but those a media item points to).
pub async fn purge_dead(config: Config, queue: QueueName, yes: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        yes,
        "this deletes every dead job of {queue} for good; run it again with --yes to confirm"
    );
    let app = AppContext::connect(config).await?;
    let purged = app.ledger.purge_dead(queue).await?;
    println!(
        "{} dead jobs of {queue} deleted; {} kept (a media item points to them)",
        purged.deleted, purged.kept
    );
    Ok(())
}
