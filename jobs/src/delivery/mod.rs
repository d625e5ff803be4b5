//! The provider clients the notifications and webhooks job families use:
//! email ([`email::Mailer`]: SMTP, or `.eml` files in the embedded default),
//! push ([`push::Pusher`]: FCM HTTP v1, or logged) and signed webhooks
//! ([`webhook::WebhookClient`], with its SSRF guard).
//!
//! Every send returns `Ok` with what happened or a [`DeliveryError`] that says
//! whether the job should be retried (and when) or dropped. The clients count
//! each outcome in `kiln_notifications_total{channel,outcome}` when built
//! `with_metrics`, so handlers do not count them again.

pub mod config;
pub mod email;
mod error;
pub mod push;
mod retry_after;
pub mod webhook;

use std::sync::Arc;

use tokio::sync::OnceCell;

pub use error::{Channel, DeliveryError};

use crate::{config::Config, metrics::Metrics};

/// The delivery clients of one process, built from its configuration. Cheap to
/// clone.
#[derive(Clone)]
pub struct Notifier {
    /// Email (SMTP, or the outbox folder).
    pub mailer: email::Mailer,
    /// The compiled email and push templates.
    pub templates: Arc<email::Templates>,
    /// Webhook deliveries.
    pub webhooks: webhook::WebhookClient,
    push: config::PushConfig,
    pusher: Arc<OnceCell<push::Pusher>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("smtp", &self.mailer.is_smtp())
            .field("pusher", &self.pusher.get())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// The clients `config` describes. Mail and webhook settings are checked
    /// here (a bad `mail.smtp_url` stops startup); FCM credentials are loaded on
    /// the first push, since finding Application Default Credentials may ask
    /// the network.
    pub fn from_config(config: &Config, metrics: Arc<Metrics>) -> anyhow::Result<Notifier> {
        let mailer = email::Mailer::from_config(&config.mail, &config.data_dir)?
            .with_metrics(metrics.clone());
        let webhooks = webhook::WebhookClient::new(&config.webhooks)?.with_metrics(metrics.clone());
        Ok(Notifier {
            mailer,
            templates: Arc::new(email::Templates::embedded()?),
            webhooks,
            push: config.push.clone(),
            pusher: Arc::new(OnceCell::new()),
            metrics,
        })
    }

    /// The push client, built on first use.
    pub async fn pusher(&self) -> Result<&push::Pusher, DeliveryError> {
        self.pusher
            .get_or_try_init(|| async {
                push::Pusher::from_config(&self.push)
                    .await
                    .map(|p| p.with_metrics(self.metrics.clone()))
            })
            .await
            .map_err(|e| DeliveryError::retry(e.to_string()))
    }

    /// Uses `pusher` instead of the configured one (tests with their own
    /// credentials). False when a push client was already built.
    pub fn set_pusher(&self, pusher: push::Pusher) -> bool {
        self.pusher
            .set(pusher.with_metrics(self.metrics.clone()))
            .is_ok()
    }
}
