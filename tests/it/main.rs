//! End-to-end tests: the HTTP tier and the workers together, in-process on
//! port 0, and the `kiln` binary itself for crash and shutdown behaviour.

mod api;
mod auth;
mod backups;
mod hardening;
mod health;
mod helpers;
mod input_hardening;
mod lockout;
mod media;
mod notify;
mod process;
mod queues;
mod reports;
mod sdk_rust;
mod traces;
mod webhooks;
