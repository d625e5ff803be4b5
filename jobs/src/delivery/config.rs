//! Settings of the delivery clients: the `mail` and `push` sections of
//! Kiln's config (the webhook client reads the `webhooks` section).

use std::{path::PathBuf, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Email delivery settings (the `mail` section of Kiln's config).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// SMTP server, credentials in the URL: `smtps://user:pass@host:465` (implicit TLS),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtp://host:25` (plain, local relays
    /// only) (env `SMTP_URL`; default: unset, mail is written as `.eml` files to `{data_dir}/outbox`).
    #[serde(skip_serializing)]
    pub smtp_url: Option<SecretString>,
    /// Sender mailbox, e.g. `Kiln <noreply@example.com>`; its domain also ends every Message-ID
    /// (default `Kiln <kiln@localhost>`; production with `smtp_url` needs a real one).
    pub from: String,
    /// Seconds one email may take to send, connecting included, before the attempt fails as
    /// retryable (default 10).
    pub timeout_secs: u64,
    /// Most SMTP connections kept open per process (default 4).
    pub pool_size: u32,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "Kiln <kiln@localhost>".into(),
            timeout_secs: 10,
            pool_size: 4,
        }
    }
}

/// Push notification settings (the `push` section of Kiln's config).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// Firebase project id; when set, pushes go to FCM HTTP v1 (default: unset, pushes are
    /// logged and recorded as not sent).
    pub fcm_project_id: Option<String>,
    /// Service-account JSON key file for FCM (default: unset, Application Default Credentials:
    /// `GOOGLE_APPLICATION_CREDENTIALS`, the metadata server or gcloud).
    pub fcm_credentials_file: Option<PathBuf>,
    /// FCM API base URL; tests point it at a fake (default `https://fcm.googleapis.com`).
    pub fcm_base_url: String,
    /// Seconds one FCM request may take (default 10).
    pub timeout_secs: u64,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            fcm_project_id: None,
            fcm_credentials_file: None,
            fcm_base_url: "https://fcm.googleapis.com".into(),
            timeout_secs: 10,
        }
    }
}

impl MailConfig {
    /// The bound on one send.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// Checks the settings; `production` refuses a development sender for real SMTP.
    pub fn validate(&self, production: bool) -> Result<(), String> {
        let from: lettre::message::Mailbox = self
            .from
            .parse()
            .map_err(|e| format!("mail.from {:?} is not a mailbox: {e}", self.from))?;
        if self.timeout_secs == 0 || self.pool_size == 0 {
            return Err("mail.timeout_secs and mail.pool_size must be at least 1".into());
        }
        if let Some(url) = &self.smtp_url {
            let url = url.expose_secret();
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return Err("mail.smtp_url must be an smtp:// or smtps:// URL".into());
            }
            let domain = from.email.domain().to_ascii_lowercase();
            if production && (domain == "localhost" || domain.ends_with(".localhost")) {
                return Err(
                    "mail.from must name a real sender domain in production when mail.smtp_url is set"
                        .into(),
                );
            }
        }
        Ok(())
    }
}

impl PushConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.fcm_base_url.starts_with("https://") || self.fcm_base_url.starts_with("http://"))
        {
            return Err("push.fcm_base_url must be an http(s) URL".into());
        }
        if self.timeout_secs == 0 {
            return Err("push.timeout_secs must be at least 1".into());
        }
        if self.fcm_project_id.as_deref() == Some("") {
            return Err("push.fcm_project_id must not be empty".into());
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_embedded() {
        let m = MailConfig::default();
        assert_eq!(m.validate(true), Ok(()), "no SMTP: files, any sender");
        assert!(m.smtp_url.is_none());
        assert_eq!(PushConfig::default().validate(), Ok(()));
    }

    #[test]
    fn production_smtp_needs_a_real_sender() {
        let mut m = MailConfig {
            smtp_url: Some("smtp://relay:587?tls=required".into()),
            ..MailConfig::default()
        };
        assert_eq!(m.validate(false), Ok(()));
        assert!(m.validate(true).unwrap_err().contains("mail.from"));
        m.from = "Kiln <noreply@example.com>".into();
        assert_eq!(m.validate(true), Ok(()));
    }

    #[test]
    fn rejects_bad_values() {
        let mail = |f: fn(&mut MailConfig)| {
            let mut c = MailConfig::default();
            f(&mut c);
            c.validate(false).unwrap_err()
        };
        assert!(mail(|c| c.from = "not a mailbox".into()).contains("mail.from"));
        assert!(mail(|c| c.smtp_url = Some("http://x".into())).contains("smtp_url"));
        assert!(mail(|c| c.pool_size = 0).contains("pool_size"));
        let push = PushConfig {
            fcm_base_url: "ftp://x".into(),
            ..PushConfig::default()
        };
        assert!(push.validate().unwrap_err().contains("fcm_base_url"));
    }

    #[test]
    fn smtp_url_is_never_serialized() {
        let m = MailConfig {
            smtp_url: Some("smtps://u:hunter2@host".into()),
            ..MailConfig::default()
        };
        let json = serde_json::to_string(&m).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert!(!format!("{m:?}").contains("hunter2"));
    }
}
