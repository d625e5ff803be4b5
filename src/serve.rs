//! Wiring: build the context, then run the HTTP tier, the workers, or both,
//! until SIGTERM/SIGINT.

use std::time::Duration;

use anyhow::Context as _;
use kiln_api::{AuthKeys, Role as ApiRole};
use kiln_jobs::{AppContext, Config, QueueName};
use tokio_util::sync::CancellationToken;

/// What this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    All,
    Api,
    Worker,
}

pub async fn migrate(config: Config) -> anyhow::Result<()> {
    let app = AppContext::connect(config).await?;
    app.db.migrate().await?;
    prepare_storage(&app).await;
    tracing::info!("migrations applied");
    Ok(())
}

/// Readies object storage for the media layout (see
/// [`kiln_jobs::media::layout`]). A failure is logged, not fatal: reads fall
/// back to the old keys, and the next start tries again.
async fn prepare_storage(app: &AppContext) {
    if let Err(e) = kiln_jobs::media::layout::prepare(&app.storage).await {
        tracing::warn!(error = %e, "could not prepare object storage for the media layout; the next start tries again");
    }
}

pub fn token(config: &Config, subject: &str, role: &str, ttl: Option<u64>) -> anyhow::Result<()> {
    let role: ApiRole = role.parse().map_err(anyhow::Error::msg)?;
    let keys = AuthKeys::from_config(config)?;
    let ttl = ttl.unwrap_or(config.auth.access_token_ttl_secs);
    println!("{}", keys.mint(subject, role, ttl)?);
    Ok(())
}

/// Creates an account; the password comes from stdin, or is generated and
/// printed once.
pub async fn create_user(
    config: Config,
    email: &str,
    role: &str,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let role: ApiRole = role.parse().map_err(anyhow::Error::msg)?;
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("read the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        kiln_jobs::secrets::random_token(24)
    };
    let app = AppContext::connect(config).await?;
    app.db.migrate().await?;
    let user = app.identity.create_user(email, &password, role).await?;
    println!("created {} {} ({})", user.role, user.email, user.id);
    if !password_stdin {
        println!("password (shown once): {password}");
    }
    app.db.close().await;
    Ok(())
}

pub async fn run(config: Config, role: Role) -> anyhow::Result<()> {
    let migrate = config.database.migrate_on_start;
    let app = AppContext::connect(config).await?;
    if migrate {
        app.db.migrate().await?;
        app.startup.migrated();
    }
    tracing::info!(backends = %app.describe(), "kiln starting");
    let queues: Vec<QueueName> = match role {
        Role::Api => Vec::new(),
        Role::All | Role::Worker => app.config.worker.queues.clone(),
    };
    let uses_storage = kiln_worker::probe::needs_storage(role != Role::Worker, &queues);
    if uses_storage {
        prepare_storage(&app).await;
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    // Queue gauges for /metrics, in every role: scaling reads them from any replica.
    let sampler = tokio::spawn(kiln_worker::sampler::sample_queues(
        app.clone(),
        app.metrics.clone(),
    ));

    let http = (role != Role::Worker).then(|| {
        let keys = AuthKeys::from_config(&app.config);
        let app = app.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { kiln_api::serve(app, keys?, shutdown).await })
    });
    let workers = (role != Role::Api).then(|| {
        app.startup.expect_workers();
        let app = app.clone();
        let shutdown = shutdown.clone();
        let queues = queues.clone();
        tokio::spawn(async move { kiln_worker::run(app, &queues, shutdown).await })
    });
    // Health and metrics without credentials: a worker on `worker.listen`,
    // a process with the API on `http.internal_listen`.
    let internal = {
        let addr = match role {
            Role::Worker => app.config.worker.listen,
            Role::All | Role::Api => app.config.http.internal_listen,
        };
        let (app, shutdown) = (app.clone(), shutdown.clone());
        tokio::spawn(
            async move { kiln_worker::probe::serve(app, addr, uses_storage, shutdown).await },
        )
    };
    let mut result = Ok(());
    for task in [http, workers, Some(internal)].into_iter().flatten() {
        let outcome = task.await.context("task panicked").and_then(|r| r);
        if let Err(e) = outcome {
            tracing::error!(error = %format!("{e:#}"), "shutting down after a fatal error");
            shutdown.cancel();
            result = Err(e);
        }
    }
    sampler.abort();
    app.db.close().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    tracing::info!("kiln stopped");
    result
}

async fn wait_for_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight work");
    token.cancel();
}
