//! Provider-facing delivery for the notifications and webhooks job families:
//! email ([`email::Mailer`]: SMTP, or `.eml` files in the embedded default),
//! push ([`push::Pusher`]: FCM HTTP v1, or logged) and signed webhooks
//! ([`webhook::WebhookClient`]).
//!
//! Every send returns `Ok` with what happened or a [`DeliveryError`] that says
//! whether the job should be retried (and when) or dropped. The clients count
//! each outcome in `kiln_notifications_total{channel,outcome}` when built
//! `with_metrics`, so handlers do not count them again.

pub mod config;
