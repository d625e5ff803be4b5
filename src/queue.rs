//! `kiln queue list | pause | resume | retry-dead`: the operator's queue
//! commands, run against the ledger directly (no API token needed; the
//! pause is the same ledger row `POST /v1/queues/{queue}/pause` writes, so
//! every worker sees it within a second).

use kiln_jobs::{AppContext, Config, QueueName};

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
