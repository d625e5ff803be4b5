//! Kiln's typed configuration: defaults → optional TOML file → environment.
//!
//! Environment variables are `KILN__SECTION__KEY` (e.g. `KILN__HTTP__LISTEN`),
//! plus the conventional `DATABASE_URL`, `STORAGE_URL` and `REDIS_URL`.
//! Unknown keys are an error at startup, and [`Config::validate`] checks values.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::{
    identity::config::AuthConfig,
    media::config::MediaConfig,
    notify::config::{MailConfig, PushConfig, WebhooksConfig},
    queue::QueueName,
};

/// Where Kiln runs; production refuses development secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Local development and the embedded default.
    #[default]
    Development,
    /// A deployment: secrets must be set explicitly.
    Production,
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `development` (default) or `production`.
    pub environment: Environment,
    /// Folder for the embedded database, objects and generated secrets (default `./data`).
    pub data_dir: PathBuf,
    /// HTTP tier.
    pub http: HttpConfig,
    /// Application database.
    pub database: DatabaseConfig,
    /// Object storage for uploads and variants.
    pub storage: StorageConfig,
    /// Image processing.
    pub media: MediaConfig,
    /// Authentication.
    pub auth: AuthConfig,
    /// Per-queue runtime policy.
    pub queues: QueuesConfig,
    /// Worker process behaviour.
    pub worker: WorkerConfig,
    /// Redis queues (production): when `url` is set every queue runs on Redis Streams.
    pub redis: RedisConfig,
    /// Email delivery: SMTP, or `.eml` files in `{data_dir}/outbox` when no SMTP server is set.
    pub mail: MailConfig,
    /// Push notifications: FCM HTTP v1, or logged when no FCM project is set.
    pub push: PushConfig,
    /// Outgoing webhook deliveries.
    pub webhooks: WebhooksConfig,
    /// Request rate limits, per instance (see docs/security.md).
    pub rate_limit: RateLimitConfig,
}

/// HTTP tier settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Base URL clients use to reach Kiln, for links in responses (default `http://{listen}`).
    pub public_url: Option<String>,
    /// Seconds to wait for in-flight requests on shutdown (default 10).
    pub shutdown_timeout_secs: u64,
    /// Origins (`scheme://host[:port]`, e.g. `https://app.example.com`) whose browser
    /// pages may call the API; never `*` (default: empty, no cross-origin access).
    pub cors_allowed_origins: Vec<String>,
    /// Largest request body in bytes for routes without a limit of their own; uploads
    /// use `media.max_upload_bytes` (default 64 KiB).
    pub max_body_bytes: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            shutdown_timeout_secs: 10,
            cors_allowed_origins: Vec::new(),
            max_body_bytes: 64 * 1024,
        }
    }
}

impl HttpConfig {
    /// Whether clients reach Kiln over TLS (`public_url` starts with `https://`);
    /// responses then carry `Strict-Transport-Security`.
    pub fn is_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

/// Request rate limits. Each API instance counts on its own (see docs/security.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Whether requests are rate limited at all (default true).
    pub enabled: bool,
    /// Sustained requests per minute one client IP may make to `/v1/auth/…` (default 20).
    pub auth_per_minute: u32,
    /// Requests one client IP may make to `/v1/auth/…` in a burst (default 10).
    pub auth_burst: u32,
    /// Sustained requests per minute one authenticated principal may make (default 600).
    pub principal_per_minute: u32,
    /// Requests one authenticated principal may make in a burst (default 120).
    pub principal_burst: u32,
    /// Proxies (IP addresses or CIDR ranges such as `10.0.0.0/8`) whose
    /// `X-Forwarded-For` is believed; from anyone else the peer address is the
    /// client IP (default: empty, trust no proxy).
    pub trusted_proxies: Vec<String>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            auth_per_minute: 20,
            auth_burst: 10,
            principal_per_minute: 600,
            principal_burst: 120,
            trusted_proxies: Vec::new(),
        }
    }
}

impl RateLimitConfig {
    /// `trusted_proxies` parsed; a bare address is a single-host range.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| {
                        ConfigError::Invalid(format!(
                            "rate_limit.trusted_proxies: {p:?} is not an IP address or CIDR range"
                        ))
                    })
            })
            .collect()
    }
}

/// Checks that `origin` is a serialized origin: `http(s)://host[:port]`, lowercase,
/// without path, query, userinfo or trailing slash (what browsers send in `Origin`).
fn validate_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or("must start with https:// or http://")?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => (h, Some(p)),
        _ => (rest, None),
    };
    if let Some(p) = port
        && !p.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Err("has an invalid port".into());
    }
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
    };
    if !host_ok {
        return Err(
            "must be scheme://host[:port] with a lowercase host and nothing after it".into(),
        );
    }
    Ok(())
}

/// Application database settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite:…` or `postgres://…` (env `DATABASE_URL`; default `sqlite:{data_dir}/kiln.db`).
    #[serde(skip_serializing)]
    pub url: Option<SecretString>,
    /// Pool size (default 10).
    pub max_connections: u32,
    /// Seconds to wait for a connection before giving up (default 5).
    pub acquire_timeout_secs: u64,
    /// Apply migrations when `kiln serve`/`api`/`worker` start (default true; `kiln migrate` always does).
    pub migrate_on_start: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
            acquire_timeout_secs: 5,
            migrate_on_start: true,
        }
    }
}

/// Object storage settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// A local folder path, `file:///path`, or `s3://bucket[/prefix]` (env `STORAGE_URL`;
    /// default `{data_dir}/objects`). S3 credentials and endpoint come from the
    /// standard `AWS_*` variables (`AWS_ENDPOINT` for MinIO/R2).
    pub url: Option<String>,
}

/// Runtime policy of one queue.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueuePolicy {
    /// Jobs of this queue run at once per worker process.
    pub concurrency: usize,
    /// Seconds one attempt may take before it is failed as a (retryable) timeout.
    pub timeout_secs: u64,
    /// Attempts before a failing job is `dead` (default for jobs that do not set their own).
    pub max_attempts: u32,
    /// First retry delay in milliseconds; doubles each attempt, with full jitter.
    pub backoff_base_ms: u64,
    /// Longest retry delay in milliseconds.
    pub backoff_max_ms: u64,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        Self {
            concurrency: 8,
            timeout_secs: 60,
            max_attempts: 5,
            backoff_base_ms: 1_000,
            backoff_max_ms: 300_000,
        }
    }
}

impl QueuePolicy {
    /// The per-attempt timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// Per-queue policies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueuesConfig {
    /// Milliseconds between polls of an idle queue for jobs no wake-up announced (default 500).
    pub poll_interval_ms: u64,
    /// Seconds between worker heartbeats in the SQL queue backends (default 10).
    pub heartbeat_secs: u64,
    /// Heartbeats a worker may miss before its jobs are handed to another (default 3).
    pub missed_heartbeats: usize,
    /// Seconds acknowledged messages stay in the queue backend before workers purge them
    /// (default 3600; the ledger keeps every job's history regardless).
    pub retain_acknowledged_secs: u64,
    /// `media` queue (CPU bound; concurrency defaults to the number of cores).
    pub media: QueuePolicy,
    /// `notifications` queue.
    pub notifications: QueuePolicy,
    /// `webhooks` queue.
    pub webhooks: QueuePolicy,
    /// `reports` queue.
    pub reports: QueuePolicy,
    /// `backups` queue (one at a time).
    pub backups: QueuePolicy,
}

impl Default for QueuesConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            poll_interval_ms: 500,
            heartbeat_secs: 10,
            missed_heartbeats: 3,
            retain_acknowledged_secs: 3_600,
            media: QueuePolicy {
                concurrency: cores,
                timeout_secs: 120,
                max_attempts: 3,
                ..QueuePolicy::default()
            },
            notifications: QueuePolicy {
                concurrency: 16,
                timeout_secs: 30,
                ..QueuePolicy::default()
            },
            // About 2.5 hours of retries: 5 s, 10 s, 20 s … capped at 1 hour.
            webhooks: QueuePolicy {
                concurrency: 16,
                timeout_secs: 30,
                max_attempts: 12,
                backoff_base_ms: 5_000,
                backoff_max_ms: 3_600_000,
            },
            reports: QueuePolicy::default(),
            backups: QueuePolicy {
                concurrency: 1,
                timeout_secs: 3_600,
                max_attempts: 3,
                ..QueuePolicy::default()
            },
        }
    }
}

impl QueuesConfig {
    /// The policy of `queue`.
    pub fn policy(&self, queue: QueueName) -> &QueuePolicy {
        match queue {
            QueueName::Media => &self.media,
            QueueName::Notifications => &self.notifications,
            QueueName::Webhooks => &self.webhooks,
            QueueName::Reports => &self.reports,
            QueueName::Backups => &self.backups,
        }
    }

    /// The idle poll interval.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }
}

/// Worker process settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Seconds in-flight jobs get to finish after SIGTERM before the process exits (default 30).
    pub shutdown_timeout_secs: u64,
    /// Queues this process consumes (default: all).
    pub queues: Vec<QueueName>,
    /// Address of the worker's own /health and /metrics listener (`kiln worker` only; default 127.0.0.1:9090).
    pub listen: SocketAddr,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            shutdown_timeout_secs: 30,
            queues: QueueName::ALL.to_vec(),
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
        }
    }
}

/// Redis Streams queue transport.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Redis URL (`REDIS_URL`); when set, every queue lives in Redis and the
    /// database holds only the ledger (default: unset, queues in the database).
    #[serde(skip_serializing)]
    pub url: Option<SecretString>,
    /// Prefix of every key; each queue's keys share the hash tag `{prefix:queue}` (default `kiln`).
    pub prefix: String,
    /// Seconds a fetched job may go without its worker renewing the lease before
    /// another worker takes it over (default 30).
    pub lease_secs: u64,
    /// Milliseconds an idle worker's blocking read waits before it reads again (default 1000).
    pub block_ms: u64,
    /// Milliseconds any other Redis command may take before it fails (default 2000).
    pub command_timeout_ms: u64,
    /// Milliseconds to establish a connection (default 2000).
    pub connect_timeout_ms: u64,
    /// Longest pause, in milliseconds, between moves of due delayed jobs onto
    /// their stream (default 50; bounds how late a delayed job or retry starts).
    pub promote_interval_ms: u64,
    /// Seconds between sweeps that re-push ledger jobs Redis does not hold (default 15).
    pub sweep_interval_secs: u64,
    /// Seconds a queued ledger job may be missing from Redis before a sweep re-pushes it (default 10).
    pub sweep_grace_secs: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: None,
            prefix: "kiln".into(),
            lease_secs: 30,
            block_ms: 1_000,
            command_timeout_ms: 2_000,
            connect_timeout_ms: 2_000,
            promote_interval_ms: 50,
            sweep_interval_secs: 15,
            sweep_grace_secs: 10,
        }
    }
}

impl RedisConfig {
    /// The lease.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }
}

/// A configuration that could not be loaded or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source could not be read or had unknown/mistyped keys.
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// Values are inconsistent.
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then `file` (if given), then the environment, and validates.
    pub fn load(file: Option<&std::path::Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default_for_load()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        fig = fig
            .merge(Env::prefixed("KILN__").split("__"))
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database.url".into()),
            )
            .merge(
                Env::raw()
                    .only(&["STORAGE_URL"])
                    .map(|_| "storage.url".into()),
            )
            .merge(Env::raw().only(&["REDIS_URL"]).map(|_| "redis.url".into()))
            .merge(
                Env::raw()
                    .only(&["SMTP_URL"])
                    .map(|_| "mail.smtp_url".into()),
            );
        let cfg: Config = fig.extract().map_err(Box::new)?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn default_for_load() -> Config {
        Config {
            data_dir: PathBuf::from("./data"),
            ..Config::default()
        }
    }

    /// Checks values that serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if let Some(url) = &self.database.url
            && let Err(e) = crate::db::DbKind::from_url(url.expose_secret())
        {
            return bad(format!("database.url: {e}"));
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections must be at least 1".into());
        }
        self.media
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("media: {e}")))?;
        for q in QueueName::ALL {
            let p = self.queues.policy(q);
            if p.concurrency == 0 || p.max_attempts == 0 || p.timeout_secs == 0 {
                return bad(format!(
                    "queues.{q}: concurrency, max_attempts and timeout_secs must be at least 1"
                ));
            }
            if p.backoff_base_ms > p.backoff_max_ms {
                return bad(format!(
                    "queues.{q}: backoff_base_ms exceeds backoff_max_ms"
                ));
            }
        }
        if self.queues.poll_interval_ms < 10 {
            return bad("queues.poll_interval_ms must be at least 10".into());
        }
        if let Some(url) = &self.redis.url {
            let url = url.expose_secret();
            if !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("redis+unix://")
                || url.starts_with("unix://"))
            {
                return bad("redis.url must be a redis://, rediss:// or unix:// URL".into());
            }
        }
        let r = &self.redis;
        if r.lease_secs == 0
            || r.block_ms == 0
            || r.command_timeout_ms == 0
            || r.promote_interval_ms == 0
        {
            return bad("redis: lease_secs, block_ms, command_timeout_ms and promote_interval_ms must be at least 1".into());
        }
        if r.prefix.is_empty() || r.prefix.contains(['{', '}']) {
            return bad("redis.prefix must be non-empty and contain no braces".into());
        }
        self.auth
            .validate(self.environment == Environment::Production)
            .map_err(ConfigError::Invalid)?;
        self.mail
            .validate(self.environment == Environment::Production)
            .map_err(ConfigError::Invalid)?;
        self.push.validate().map_err(ConfigError::Invalid)?;
        self.webhooks.validate().map_err(ConfigError::Invalid)?;
        for origin in &self.http.cors_allowed_origins {
            if let Err(e) = validate_origin(origin) {
                return bad(format!("http.cors_allowed_origins: {origin:?} {e}"));
            }
        }
        if self.http.max_body_bytes == 0 {
            return bad("http.max_body_bytes must be at least 1".into());
        }
        let rl = &self.rate_limit;
        if rl.auth_per_minute == 0
            || rl.auth_burst == 0
            || rl.principal_per_minute == 0
            || rl.principal_burst == 0
        {
            return bad("rate_limit: *_per_minute and *_burst must be at least 1".into());
        }
        rl.trusted_proxy_nets()?;
        if self.environment == Environment::Production && self.database.url.is_none() {
            return bad("database.url (DATABASE_URL) must be set in production".into());
        }
        Ok(())
    }

    /// The database URL, defaulting to the embedded SQLite file.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(u) => u.expose_secret().to_owned(),
            None => format!("sqlite:{}", self.data_dir.join("kiln.db").display()),
        }
    }

    /// The public base URL for links.
    pub fn public_url(&self) -> String {
        self.http
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.http.listen))
            .trim_end_matches('/')
            .to_owned()
    }
}
