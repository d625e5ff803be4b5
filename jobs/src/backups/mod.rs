//! The `backups` job family (`backups` queue: `backup.run`, `backup.verify`,
//! `backup.prune`). Built so far: the two pure parts every other piece
//! stands on, when a schedule fires ([`schedule`]) and which backups a
//! schedule keeps ([`retention`]).

pub mod retention;
pub mod schedule;
