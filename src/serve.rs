//! Wiring: build the context, then run the HTTP tier, the workers, or both,
//! until SIGTERM/SIGINT.

use std::time::Duration;

use anyhow::Context as _;
use kiln_api::{AuthKeys, Role as ApiRole};
use kiln_jobs::{AppContext, Config, QueueName, config::Environment};
use secrecy::ExposeSecret;
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
    tracing::info!("migrations applied");
    Ok(())
}

/// The HS256 key: configured, or generated once and kept in the data folder
/// (development only; production refuses to start without one).
fn auth_keys(config: &Config) -> anyhow::Result<AuthKeys> {
    let secret = match &config.auth.jwt_secret {
        Some(s) => s.expose_secret().as_bytes().to_vec(),
        None if config.environment == Environment::Development => dev_secret(config)?,
        None => anyhow::bail!("auth.jwt_secret must be set in production"),
    };
    Ok(AuthKeys::hs256(
        &secret,
        &config.auth.issuer,
        &config.auth.audience,
    ))
}

fn dev_secret(config: &Config) -> anyhow::Result<Vec<u8>> {
    let path = config.data_dir.join("jwt-secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim();
        if s.len() >= 32 {
            return Ok(s.as_bytes().to_vec());
        }
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("create {}", config.data_dir.display()))?;
    let secret = kiln_jobs::secrets::random_token(48);
    // create_new: when two processes start at once, one writes and both read it.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(mut f) => {
            use std::io::Write;
            f.write_all(secret.as_bytes())
                .with_context(|| format!("write {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a development JWT secret");
            Ok(secret.into_bytes())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let s = std::fs::read_to_string(&path)
                .with_context(|| format!("read {}", path.display()))?;
            anyhow::ensure!(
                s.trim().len() >= 32,
                "{} holds a secret shorter than 32 bytes",
                path.display()
            );
            Ok(s.trim().as_bytes().to_vec())
        }
        Err(e) => Err(e).with_context(|| format!("create {}", path.display())),
    }
}

pub fn token(config: &Config, subject: &str, role: &str, ttl: Option<u64>) -> anyhow::Result<()> {
    let role: ApiRole = serde_json::from_value(serde_json::Value::String(role.to_owned()))
        .context("role must be user, moderator, operator or admin")?;
    let keys = auth_keys(config)?;
    let ttl = ttl.unwrap_or(config.auth.access_token_ttl_secs);
    println!("{}", keys.mint(subject, role, ttl)?);
    Ok(())
}

pub async fn run(config: Config, role: Role) -> anyhow::Result<()> {
    let migrate = config.database.migrate_on_start;
    let app = AppContext::connect(config).await?;
    if migrate {
        app.db.migrate().await?;
    }
    tracing::info!(backends = %app.describe(), "kiln starting");
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    // Queue gauges for /metrics, in every role: scaling reads them from any replica.
    let sampler = tokio::spawn(kiln_jobs::metrics::sample_queues(
        app.ledger.clone(),
        app.metrics.clone(),
    ));

    let http = (role != Role::Worker).then(|| {
        let keys = auth_keys(&app.config);
        let app = app.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { kiln_api::serve(app, keys?, shutdown).await })
    });
    let workers = (role != Role::Api).then(|| {
        let app = app.clone();
        let shutdown = shutdown.clone();
        let queues: Vec<QueueName> = app.config.worker.queues.clone();
        let probe = role == Role::Worker;
        tokio::spawn(async move { kiln_worker::serve(app, &queues, shutdown, probe).await })
    });
    let mut result = Ok(());
    for task in [http, workers].into_iter().flatten() {
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
