//! Push notifications through FCM HTTP v1
//! (`POST {base_url}/v1/projects/{project}/messages:send`), authorised with an
//! OAuth2 bearer from `gcp_auth` (which caches tokens until they expire). With
//! no FCM project configured, pushes are logged and reported as
//! [`PushOutcome::Recorded`].
//!
//! Classification of FCM's answers:
//! - 2xx → [`PushOutcome::Sent`];
//! - 404 or error code `UNREGISTERED` → [`PushOutcome::Unregistered`]: the
//!   device token is dead; the caller deactivates it and the job succeeds;
//! - 429 and 5xx → retry, honouring `Retry-After`;
//! - 401/403 → the token is re-fetched (for a credentials file, the provider
//!   is rebuilt so its cache is dropped) and the message sent once more; a
//!   second 401/403 aborts. Credentials FCM refuses twice are a configuration
//!   fault no job retry fixes; the aborted jobs stay `dead` and can be requeued
//!   once it is fixed. `SENDER_ID_MISMATCH` (the token belongs to another
//!   project) aborts at once;
//! - any other 4xx (400 `INVALID_ARGUMENT`) → abort;
//! - connection errors and timeouts → retry.

use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Duration};

use gcp_auth::TokenProvider;
use reqwest::StatusCode;
use serde::Deserialize;
use tokio::sync::RwLock;

use super::{
    config::PushConfig,
    error::{Channel, DeliveryError, count, snippet, storable},
    retry_after,
};
use crate::metrics::Metrics;

/// The OAuth2 scope FCM HTTP v1 needs.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// One push to one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMessage {
    /// The device's FCM registration token.
    pub token: String,
    /// Notification title.
    pub title: String,
    /// Notification body.
    pub body: String,
    /// Extra key/value data for the app (FCM requires string values).
    pub data: BTreeMap<String, String>,
}

/// What happened to a push that did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// FCM accepted it; `name` is FCM's message id (`projects/…/messages/…`).
    Sent {
        /// FCM's message name.
        name: String,
    },
    /// No FCM configured: logged, not sent (the embedded default).
    Recorded,
    /// The device token is no longer valid: deactivate it. Not a job failure.
    Unregistered,
}

/// How the FCM client gets its bearer tokens.
#[derive(Clone)]
pub enum FcmAuth {
    /// A service-account JSON key file.
    ServiceAccountFile(PathBuf),
    /// Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, metadata server, gcloud).
    ApplicationDefault,
    /// A ready provider (tests, or a caller with its own credentials).
    Provider(Arc<dyn TokenProvider>),
}

impl std::fmt::Debug for FcmAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FcmAuth::ServiceAccountFile(p) => f.debug_tuple("ServiceAccountFile").field(p).finish(),
            FcmAuth::ApplicationDefault => f.write_str("ApplicationDefault"),
            FcmAuth::Provider(_) => f.write_str("Provider(..)"),
        }
    }
}

impl FcmAuth {
    async fn provider(&self) -> Result<Arc<dyn TokenProvider>, gcp_auth::Error> {
        Ok(match self {
            FcmAuth::ServiceAccountFile(p) => {
                Arc::new(gcp_auth::CustomServiceAccount::from_file(p)?)
            }
            FcmAuth::ApplicationDefault => gcp_auth::provider().await?,
            FcmAuth::Provider(p) => p.clone(),
        })
    }
}

/// The push client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Credentials could not be loaded.
    #[error("FCM credentials: {0}")]
    Credentials(#[from] gcp_auth::Error),
    /// The HTTP client could not be built.
    #[error("FCM HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

struct Fcm {
    http: reqwest::Client,
    endpoint: String,
    auth: FcmAuth,
    provider: RwLock<Arc<dyn TokenProvider>>,
}

/// Sends push notifications. Build one per process and share it.
#[derive(Clone)]
pub struct Pusher {
    fcm: Option<Arc<Fcm>>,
    metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("endpoint", &self.fcm.as_ref().map(|c| &c.endpoint))
            .field("auth", &self.fcm.as_ref().map(|c| &c.auth))
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct SendResponse {
    name: String,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorStatus,
}

#[derive(Deserialize, Default)]
struct ErrorStatus {
    #[serde(default)]
    status: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
}

impl Pusher {
    /// FCM when `push.fcm_project_id` is set (credentials from
    /// `push.fcm_credentials_file`, else Application Default Credentials), else log-only.
    pub async fn from_config(cfg: &PushConfig) -> Result<Pusher, PushError> {
        let Some(project) = &cfg.fcm_project_id else {
            return Ok(Pusher::log_only());
        };
        let auth = match &cfg.fcm_credentials_file {
            Some(p) => FcmAuth::ServiceAccountFile(p.clone()),
            None => FcmAuth::ApplicationDefault,
        };
        Pusher::fcm(
            &cfg.fcm_base_url,
            project,
            auth,
            Duration::from_secs(cfg.timeout_secs),
        )
        .await
    }

    /// A pusher that logs and records, never sends.
    pub fn log_only() -> Pusher {
        Pusher {
            fcm: None,
            metrics: None,
        }
    }

    /// An FCM HTTP v1 client for `project` at `base_url` (no trailing `/v1`).
    pub async fn fcm(
        base_url: &str,
        project: &str,
        auth: FcmAuth,
        timeout: Duration,
    ) -> Result<Pusher, PushError> {
        let provider = auth.provider().await?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let endpoint = format!(
            "{}/v1/projects/{project}/messages:send",
            base_url.trim_end_matches('/')
        );
        Ok(Pusher {
            fcm: Some(Arc::new(Fcm {
                http,
                endpoint,
                auth,
                provider: RwLock::new(provider),
            })),
            metrics: None,
        })
    }

    /// Counts every send in `kiln_notifications_total{channel="push"}`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Pusher {
        self.metrics = Some(metrics);
        self
    }

    /// Sends `msg`; see the module docs for how FCM's answers are classified.
    pub async fn send(&self, msg: &PushMessage) -> Result<PushOutcome, DeliveryError> {
        let result = match &self.fcm {
            Some(fcm) => fcm.send(msg).await,
            None => {
                tracing::info!(
                    token = %redact(&msg.token),
                    title = %msg.title,
                    "push recorded, not sent (no FCM project configured)"
                );
                Ok(PushOutcome::Recorded)
            }
        };
        count(self.metrics.as_ref(), Channel::Push, &result, |o| match o {
            PushOutcome::Sent { .. } => "sent",
            PushOutcome::Recorded => "recorded",
            PushOutcome::Unregistered => "unregistered",
        });
        result
    }
}

/// Enough of a device token to correlate logs, not to use it.
fn redact(token: &str) -> String {
    let head: String = token.chars().take(8).collect();
    format!("{head}…")
}

enum Answer {
    Done(Result<PushOutcome, DeliveryError>),
    Unauthorized(String),
}

impl Fcm {
    async fn send(&self, msg: &PushMessage) -> Result<PushOutcome, DeliveryError> {
        let body = serde_json::json!({
            "message": {
                "token": msg.token,
                "notification": { "title": msg.title, "body": msg.body },
                "data": msg.data,
            }
        });
        match self.attempt(&body).await {
            Answer::Done(r) => return r,
            Answer::Unauthorized(first) => {
                tracing::warn!(answer = %first, "FCM refused the bearer token; fetching a fresh one");
                self.refresh().await?;
            }
        }
        match self.attempt(&body).await {
            Answer::Done(r) => r,
            Answer::Unauthorized(second) => Err(DeliveryError::abort(format!(
                "FCM refused fresh credentials: {second}"
            ))),
        }
    }

    async fn refresh(&self) -> Result<(), DeliveryError> {
        let fresh = self
            .auth
            .provider()
            .await
            .map_err(|e| DeliveryError::retry(format!("FCM credentials: {e}")))?;
        *self.provider.write().await = fresh;
        Ok(())
    }

    async fn attempt(&self, body: &serde_json::Value) -> Answer {
        let provider = self.provider.read().await.clone();
        let token = match provider.token(&[FCM_SCOPE]).await {
            Ok(t) => t,
            // Token endpoint down or unreachable: transient.
            Err(e) => return Answer::Done(Err(DeliveryError::retry(format!("FCM token: {e}")))),
        };
        let res = match self
            .http
            .post(&self.endpoint)
            .bearer_auth(token.as_str())
            .json(body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return Answer::Done(Err(DeliveryError::retry(format!("FCM request: {e}")))),
        };
        let status = res.status();
        let after = retry_after::parse(res.headers());
        let text = res.text().await.unwrap_or_default();
        if status.is_success() {
            return Answer::Done(match serde_json::from_str::<SendResponse>(&text) {
                Ok(r) => Ok(PushOutcome::Sent {
                    name: storable(r.name),
                }),
                Err(_) => Ok(PushOutcome::Sent {
                    name: String::new(),
                }),
            });
        }
        let err = serde_json::from_str::<ErrorBody>(&text)
            .unwrap_or_default()
            .error;
        let code = err
            .details
            .iter()
            .find_map(|d| d.error_code.clone())
            .unwrap_or_default();
        let reason = format!(
            "FCM {status} {}{}: {}",
            err.status,
            if code.is_empty() {
                String::new()
            } else {
                format!("/{code}")
            },
            snippet(if err.message.is_empty() {
                &text
            } else {
                &err.message
            })
        );
        Answer::Done(match (status, code.as_str()) {
            (_, "UNREGISTERED") | (StatusCode::NOT_FOUND, _) => Ok(PushOutcome::Unregistered),
            (_, "SENDER_ID_MISMATCH") => Err(DeliveryError::abort(reason)),
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => {
                return Answer::Unauthorized(reason);
            }
            (s, _) if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => {
                Err(DeliveryError::retry_in(after, reason))
            }
            _ => Err(DeliveryError::abort(reason)),
        })
    }
}
