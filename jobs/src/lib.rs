//! kiln-jobs: the library shared by Kiln's HTTP tier and its workers.
//!
//! It owns configuration, the database (pools, migrations, repositories), object
//! storage, the job ledger with its enqueue API, the queue transport, and one
//! module per job family (payload types and handler).

pub mod config;
pub mod context;
pub mod db;
pub mod handler;
pub mod identity;
pub mod ledger;
pub mod media;
pub mod metrics;
pub mod noop;
pub mod notify;
pub mod payload;
pub mod queue;
pub mod secrets;
pub mod storage;
pub mod sweeper;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::Config;
pub use context::AppContext;
pub use ledger::{JobRun, JobStatus, Ledger};
pub use payload::JobPayload;
pub use queue::QueueName;
