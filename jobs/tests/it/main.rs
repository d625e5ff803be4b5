//! kiln-jobs integration tests: migrations, the ledger and configuration,
//! against SQLite and PostgreSQL.

mod config;
mod ledger;
