//! Outgoing webhooks: Standard Webhooks signatures ([`signer`]), the SSRF
//! guard ([`ssrf`]) and the delivery client.
//!
//! A delivery POSTs the body with `webhook-id`, `webhook-timestamp` and
//! `webhook-signature`; each attempt is signed afresh with the current time
//! under the same id. Redirects are not followed, proxies from the
//! environment are not used (a proxy would resolve the target itself), and
//! only the first `webhooks.max_response_bytes` of the answer are read.
//!
//! Classification: 2xx → delivered; 408, 429, 5xx, timeouts and connection
//! errors → retry (honouring `Retry-After`); 3xx and other 4xx → abort; a
//! target the SSRF guard refuses → abort.

pub mod signer;
pub mod ssrf;

use std::{error::Error as _, sync::Arc, time::Duration};

use reqwest::{StatusCode, Url, header};

pub use signer::{SignatureError, WebhookSecret, new_message_id};
pub use ssrf::TargetError;

use super::{
    error::{Channel, DeliveryError, count, snippet, storable_excerpt},
    retry_after,
};
use crate::metrics::Metrics;
use crate::webhooks::config::WebhooksConfig;

/// The `User-Agent` of deliveries.
pub const USER_AGENT: &str = concat!("Kiln-Webhooks/", env!("CARGO_PKG_VERSION"));

/// One delivery attempt.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// Target URL (http or https).
    pub url: &'a str,
    /// `webhook-id`: the same for every attempt of one event.
    pub message_id: &'a str,
    /// The JSON body, sent and signed byte for byte.
    pub body: &'a [u8],
    /// The endpoint's signing secrets: the current one, and during a rotation
    /// the previous one too (one `v1,` signature each, so receivers that still
    /// hold the old secret keep verifying).
    pub secrets: &'a [WebhookSecret],
}

/// A delivery the receiver acknowledged with a 2xx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The HTTP status.
    pub status: u16,
    /// The start of the response body (at most `max_response_bytes`, lossy
    /// UTF-8, NUL replaced by U+FFFD).
    pub body: String,
    /// The `webhook-timestamp` this attempt was signed with.
    pub timestamp: i64,
}

/// One attempt: its classified result, and on failure the receiver's status
/// and the start of its body when it answered at all.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Delivered, or why not.
    pub result: Result<Delivered, DeliveryError>,
    /// `(status, body)` of a non-2xx answer.
    pub answer: Option<(u16, String)>,
}

/// The client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// reqwest refused the configuration.
    #[error("webhook HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Delivers webhooks. Cheap to clone; build one per process and share it.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    allow_private: bool,
    max_response_bytes: usize,
    metrics: Option<Arc<Metrics>>,
}

impl WebhookClient {
    /// A client with the timeouts, SSRF policy and response cap of `cfg`.
    pub fn new(cfg: &WebhooksConfig) -> Result<WebhookClient, WebhookError> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(Duration::from_secs(cfg.timeout_secs))
            .connect_timeout(Duration::from_secs(cfg.connect_timeout_secs))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(ssrf::GuardedResolver {
                allow_private: cfg.allow_private_targets,
            })
            .build()?;
        Ok(WebhookClient {
            http,
            allow_private: cfg.allow_private_targets,
            max_response_bytes: cfg.max_response_bytes,
            metrics: None,
        })
    }

    /// Counts every delivery in `kiln_notifications_total{channel="webhook"}`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> WebhookClient {
        self.metrics = Some(metrics);
        self
    }

    /// Signs and POSTs one attempt; see the module docs for the classification.
    pub async fn deliver(&self, req: &WebhookRequest<'_>) -> Result<Delivered, DeliveryError> {
        self.attempt(req).await.result
    }

    /// Like [`WebhookClient::deliver`], and also returns the receiver's answer
    /// when it failed with one, for the delivery log.
    pub async fn attempt(&self, req: &WebhookRequest<'_>) -> Attempt {
        let mut answer = None;
        let result = self.deliver_uncounted(req, &mut answer).await;
        count(
            self.metrics.as_ref(),
            Channel::Webhook,
            &result,
            |_| "delivered",
        );
        Attempt { result, answer }
    }

    async fn deliver_uncounted(
        &self,
        req: &WebhookRequest<'_>,
        answer: &mut Option<(u16, String)>,
    ) -> Result<Delivered, DeliveryError> {
        let url =
            Url::parse(req.url).map_err(|e| DeliveryError::abort(format!("webhook URL: {e}")))?;
        ssrf::check_url(&url, self.allow_private)
            .map_err(|e| DeliveryError::abort(e.to_string()))?;
        let timestamp = chrono::Utc::now().timestamp();
        if req.secrets.is_empty() {
            return Err(DeliveryError::abort("webhook has no signing secret"));
        }
        let signature = req
            .secrets
            .iter()
            .map(|s| s.sign(req.message_id, timestamp, req.body))
            .collect::<Vec<_>>()
            .join(" ");
        let res = self
            .http
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(signer::HEADER_ID, req.message_id)
            .header(signer::HEADER_TIMESTAMP, timestamp.to_string())
            .header(signer::HEADER_SIGNATURE, signature)
            .body(req.body.to_vec())
            .send()
            .await
            .map_err(|e| classify_error(&e))?;
        let status = res.status();
        let after = retry_after::parse(res.headers());
        let body = self.read_capped(res).await;
        if status.is_success() {
            return Ok(Delivered {
                status: status.as_u16(),
                body,
                timestamp,
            });
        }
        let reason = format!("receiver answered {status}: {}", snippet(&body));
        *answer = Some((status.as_u16(), body));
        if status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error()
        {
            return Err(DeliveryError::retry_in(after, reason));
        }
        if status.is_redirection() {
            return Err(DeliveryError::abort(format!(
                "{reason} (redirects are not followed)"
            )));
        }
        Err(DeliveryError::abort(reason))
    }

    /// Reads at most `max_response_bytes` of the body; the rest is dropped
    /// unread, and a body that fails midway keeps what arrived. The text is
    /// recorded, so it is made storable (no NUL) and stays within the cap.
    async fn read_capped(&self, mut res: reqwest::Response) -> String {
        let mut buf = Vec::new();
        while buf.len() < self.max_response_bytes {
            match res.chunk().await {
                Ok(Some(chunk)) => {
                    let room = self.max_response_bytes - buf.len();
                    buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) | Err(_) => break,
            }
        }
        storable_excerpt(&buf, self.max_response_bytes)
    }
}

/// Classifies a request that got no response.
fn classify_error(e: &reqwest::Error) -> DeliveryError {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(t) = s.downcast_ref::<TargetError>() {
            return DeliveryError::abort(t.to_string());
        }
        source = s.source();
    }
    if e.is_builder() {
        return DeliveryError::abort(format!("webhook request: {e}"));
    }
    // Timeouts, refused or reset connections, TLS failures: the receiver may recover.
    let mut reason = format!("webhook request: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        reason.push_str(&format!(": {s}"));
        source = s.source();
    }
    DeliveryError::retry(reason)
}
