//! kiln-jobs: the library shared by Kiln's HTTP tier and its workers.
//!
//! The runtime's core: what a job is ([`job`]), the services a request or a
//! job sees ([`context`]), the job ledger with its enqueue API ([`ledger`]),
//! queue names and transports ([`queue`]), the database, object storage,
//! identity and the provider clients ([`delivery`]). Then one folder per job
//! family, each with its payload types, handlers, repository code and config:
//! [`media`], [`notifications`], [`webhooks`], [`reports`], [`backups`] and
//! [`noop`]. The worker crate
//! maps each payload type to its handler; nothing here dispatches.

pub mod config;
pub mod context;
pub mod db;
pub mod delivery;
pub mod health;
pub mod identity;
pub mod job;
pub mod ledger;
pub mod metrics;
pub mod queue;
pub mod secrets;
pub mod storage;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

// Job families.
pub mod backups;
pub mod media;
pub mod noop;
pub mod notifications;
pub mod reports;
pub mod webhooks;

pub use config::Config;
pub use context::{AppContext, JobCtx};
pub use job::{Job, JobError};
pub use ledger::{JobRun, JobStatus, Ledger};
pub use queue::QueueName;
