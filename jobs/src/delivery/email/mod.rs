//! Email: SMTP through a pooled lettre transport (STARTTLS or implicit TLS,
//! credentials from `mail.smtp_url`), or `.eml` files in `{data_dir}/outbox`
//! when no SMTP server is configured.
//!
//! Every message gets a Message-ID the caller can record before acknowledging
//! the job. Given an idempotency key it is derived from the key, so a
//! redelivered job yields the same id and the caller can see it already sent.

pub mod templates;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart, SinglePart},
    transport::smtp::PoolConfig,
};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::{
    config::MailConfig,
    error::{Channel, DeliveryError, count},
};
use crate::metrics::Metrics;
pub use templates::{Rendered, TemplateError, Templates};

/// SMTP reply codes that mean our own credentials or policy were refused: the
/// server's configuration problem, not the message's, so they are retried.
const AUTH_FAILURES: [u16; 4] = [530, 534, 535, 538];

/// One email to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    /// Recipient mailbox: `ada@example.com` or `Ada <ada@example.com>`.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part; when set the email is `multipart/alternative`.
    pub html: Option<String>,
    /// Stable key of this email (e.g. `job:{job_id}`); the Message-ID is derived from it.
    pub idempotency_key: Option<String>,
}

impl EmailMessage {
    /// An email from the embedded template `name` rendered with `ctx`.
    pub fn from_template(
        templates: &Templates,
        name: &str,
        to: impl Into<String>,
        ctx: &impl serde::Serialize,
        idempotency_key: Option<String>,
    ) -> Result<EmailMessage, TemplateError> {
        let r = templates.render(name, ctx)?;
        Ok(EmailMessage {
            to: to.into(),
            subject: r.subject,
            text: r.text,
            html: Some(r.html),
            idempotency_key,
        })
    }
}

impl From<TemplateError> for DeliveryError {
    fn from(e: TemplateError) -> Self {
        DeliveryError::abort(e.to_string())
    }
}

/// Where an accepted email went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Handed to the SMTP server.
    Smtp,
    /// Written as an `.eml` file (the embedded default); not delivered to anyone.
    File,
}

/// An accepted email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The Message-ID header, with its angle brackets (`<…@domain>`).
    pub message_id: String,
    /// SMTP or file.
    pub via: Via,
}

/// The mailer could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// `mail.smtp_url` is not a usable SMTP URL (the URL is not repeated: it may hold a password).
    #[error("mail.smtp_url: {0}")]
    SmtpUrl(#[source] lettre::transport::smtp::Error),
    /// `mail.from` is not a mailbox.
    #[error("mail.from: {0}")]
    From(#[from] lettre::address::AddressError),
    /// The outbox folder could not be created.
    #[error("creating the mail outbox {path}: {source}")]
    Outbox {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(Arc<AsyncFileTransport<Tokio1Executor>>),
}

/// Sends email. Cheap to clone; build one per process and share it.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    timeout: Duration,
    metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let via = match self.transport {
            Transport::Smtp(_) => "smtp",
            Transport::File(_) => "file",
        };
        f.debug_struct("Mailer")
            .field("via", &via)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// SMTP when `mail.smtp_url` is set, else `.eml` files in `{data_dir}/outbox`.
    pub fn from_config(cfg: &MailConfig, data_dir: &Path) -> Result<Mailer, MailError> {
        let from: Mailbox = cfg.from.parse()?;
        match &cfg.smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map_err(MailError::SmtpUrl)?
                    .timeout(Some(cfg.timeout()))
                    .pool_config(PoolConfig::new().max_size(cfg.pool_size))
                    .build();
                Ok(Mailer::new(Transport::Smtp(transport), from, cfg.timeout()))
            }
            None => Mailer::outbox(data_dir.join("outbox"), from),
        }
    }

    /// A mailer writing `<uuid>.eml` files into `dir` (created if missing).
    pub fn outbox(dir: impl Into<PathBuf>, from: Mailbox) -> Result<Mailer, MailError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| MailError::Outbox {
            path: dir.clone(),
            source,
        })?;
        Ok(Mailer::new(
            Transport::File(Arc::new(AsyncFileTransport::<Tokio1Executor>::new(dir))),
            from,
            MailConfig::default().timeout(),
        ))
    }

    fn new(transport: Transport, from: Mailbox, timeout: Duration) -> Mailer {
        Mailer {
            transport,
            from,
            timeout,
            metrics: None,
        }
    }

    /// Counts every send in `kiln_notifications_total{channel="email"}`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Mailer {
        self.metrics = Some(metrics);
        self
    }

    /// True when mail really leaves the process (SMTP), false for the outbox folder.
    pub fn is_smtp(&self) -> bool {
        matches!(self.transport, Transport::Smtp(_))
    }

    /// The Message-ID `send` uses: derived from `key` when given (the same key,
    /// the same id), random otherwise. The domain is the sender's.
    pub fn message_id(&self, key: Option<&str>) -> String {
        let local = match key {
            Some(k) => {
                let digest = Sha256::digest(format!("kiln-email\0{k}").as_bytes());
                hex::encode(&digest[..16])
            }
            None => uuid::Uuid::now_v7().simple().to_string(),
        };
        format!("<{local}@{}>", self.from.email.domain())
    }

    /// Sends `msg`. Permanent SMTP refusals (5xx, e.g. an unknown recipient) and
    /// bad input abort; connection failures, timeouts and 4xx replies retry.
    ///
    /// The whole send is bounded by `mail.timeout_secs`: lettre's async SMTP
    /// client bounds only the TCP connect, so a server that stalls mid-dialogue
    /// would otherwise hold the job forever. A timeout after the message was
    /// transmitted may mean it was delivered; the retry then carries the same
    /// Message-ID (given an idempotency key), which receivers can deduplicate.
    pub async fn send(&self, msg: &EmailMessage) -> Result<Sent, DeliveryError> {
        let result = match tokio::time::timeout(self.timeout, self.send_uncounted(msg)).await {
            Ok(r) => r,
            Err(_) => Err(DeliveryError::retry(format!(
                "smtp: no answer within {:?}",
                self.timeout
            ))),
        };
        count(
            self.metrics.as_ref(),
            Channel::Email,
            &result,
            |s| match s.via {
                Via::Smtp => "sent",
                Via::File => "recorded",
            },
        );
        result
    }

    async fn send_uncounted(&self, msg: &EmailMessage) -> Result<Sent, DeliveryError> {
        let message_id = self.message_id(msg.idempotency_key.as_deref());
        let email = self.build(msg, &message_id)?;
        let via = match &self.transport {
            Transport::Smtp(t) => {
                t.send(email).await.map_err(|e| classify_smtp(&e))?;
                Via::Smtp
            }
            Transport::File(t) => {
                t.send(email)
                    .await
                    .map_err(|e| DeliveryError::retry(format!("writing the outbox file: {e}")))?;
                Via::File
            }
        };
        tracing::info!(%message_id, via = ?via, "email accepted");
        Ok(Sent { message_id, via })
    }

    fn build(&self, msg: &EmailMessage, message_id: &str) -> Result<Message, DeliveryError> {
        let to: Mailbox = msg
            .to
            .parse()
            .map_err(|e| DeliveryError::abort(format!("recipient {:?}: {e}", msg.to)))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(msg.subject.clone())
            .message_id(Some(message_id.to_owned()))
            .date_now();
        let built = match &msg.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                msg.text.clone(),
                html.clone(),
            )),
            None => builder.singlepart(SinglePart::plain(msg.text.clone())),
        };
        built.map_err(|e| DeliveryError::abort(format!("building the email: {e}")))
    }
}

/// Classifies an SMTP failure.
fn classify_smtp(e: &lettre::transport::smtp::Error) -> DeliveryError {
    let code = e.status().and_then(|c| c.to_string().parse::<u16>().ok());
    let reason = format!("smtp: {e}");
    if e.is_permanent() {
        if code.is_some_and(|c| AUTH_FAILURES.contains(&c)) {
            return DeliveryError::retry(reason);
        }
        return DeliveryError::abort(reason);
    }
    if e.is_client() {
        // lettre refused to send (e.g. no common AUTH mechanism, non-ASCII
        // address without SMTPUTF8): the same message would fail again.
        return DeliveryError::abort(reason);
    }
    // 4xx, timeouts, connection and TLS failures, garbled replies.
    DeliveryError::retry(reason)
}
