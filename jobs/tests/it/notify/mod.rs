//! The notification delivery libraries against local fakes: an SMTP sink,
//! a fake FCM and webhook receivers.

mod email;
mod push;
mod webhooks;
