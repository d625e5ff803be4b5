//! Kiln's typed configuration: defaults → optional TOML file → environment.
//!
//! Each section is defined beside its owner (`queue/config.rs`,
//! `media/config.rs`, …) with its own `validate`; this file only assembles
//! them into [`Config`], loads it and checks what spans sections.
//!
//! Environment variables are `KILN__SECTION__KEY` (e.g. `KILN__HTTP__LISTEN`),
//! plus the conventional `DATABASE_URL`, `STORAGE_URL` and `REDIS_URL`.
//! Unknown keys are an error at startup, and [`Config::validate`] checks values.

use std::path::PathBuf;

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

pub mod http;

use self::http::{HttpConfig, RateLimitConfig};
use crate::{
    backups::config::BackupsConfig,
    db::config::DatabaseConfig,
    delivery::config::{MailConfig, PushConfig},
    identity::config::AuthConfig,
    media::config::MediaConfig,
    notifications::config::NotificationsConfig,
    queue::config::{QueuesConfig, RedisConfig, WorkerConfig},
    reports::config::ReportsConfig,
    storage::config::StorageConfig,
    telemetry::config::TelemetryConfig,
    webhooks::config::WebhooksConfig,
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
    /// Notification delivery: what a send cut off midway promises.
    pub notifications: NotificationsConfig,
    /// Outgoing webhook deliveries.
    pub webhooks: WebhooksConfig,
    /// Request rate limits, per instance (see docs/security.md).
    pub rate_limit: RateLimitConfig,
    /// Database backups: encryption, tools, verification, the scheduler.
    pub backups: BackupsConfig,
    /// Content reports: the hourly limit per reporter, priority weights, the auto-hide threshold.
    pub reports: ReportsConfig,
    /// Traces: OTLP export and sampling.
    pub telemetry: TelemetryConfig,
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
        let invalid = ConfigError::Invalid;
        let production = self.environment == Environment::Production;
        self.database.validate().map_err(invalid)?;
        self.media
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("media: {e}")))?;
        self.queues.validate().map_err(invalid)?;
        self.redis.validate().map_err(invalid)?;
        self.auth.validate(production).map_err(invalid)?;
        self.mail.validate(production).map_err(invalid)?;
        self.push.validate().map_err(invalid)?;
        self.webhooks.validate().map_err(invalid)?;
        self.http.validate().map_err(invalid)?;
        self.rate_limit.validate().map_err(invalid)?;
        self.backups.validate().map_err(invalid)?;
        self.reports.validate().map_err(invalid)?;
        self.telemetry.validate().map_err(invalid)?;
        if production && self.database.url.is_none() {
            return Err(ConfigError::Invalid(
                "database.url (DATABASE_URL) must be set in production".into(),
            ));
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
