// figment::Jail closures must return figment::Error, which clippy finds large.
#![allow(clippy::result_large_err)]

//! kiln-jobs integration tests: migrations, the ledger, the delivery
//! histories and configuration, against SQLite and PostgreSQL.

mod backups;
mod config;
mod history;
mod http_config;
mod ledger;
mod notify;
mod reports;
mod storage_s3;
mod transactions;
