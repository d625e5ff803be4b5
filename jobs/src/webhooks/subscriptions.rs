//! Each user's enabled endpoints, cached so that a finished job does not cost
//! a database round trip (most users have no endpoint at all).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use uuid::Uuid;

use super::repo;
use crate::db::Db;

/// Each user's enabled endpoints, cached for [`SubscriptionCache::TTL`] so that
/// a finished job does not cost a database round trip (most users have no
/// endpoint at all). The API invalidates a user's entry when it changes their
/// endpoints, so a single process sees changes at once; other processes within
/// the TTL. A stale entry can only send an event to an endpoint that was just
/// disabled or deleted, and the delivery handler skips those.
#[derive(Debug, Default)]
pub struct SubscriptionCache {
    entries: Mutex<HashMap<Uuid, Subscriptions>>,
}

/// When a user's entry was written, and their endpoints (id and event list);
/// `None` marks an invalidation.
type Subscriptions = (Instant, Option<Arc<Vec<(Uuid, String)>>>);

impl SubscriptionCache {
    /// How long an entry is trusted.
    pub const TTL: Duration = Duration::from_secs(2);
    /// Entries kept before the expired ones are swept.
    const SWEEP_AT: usize = 10_000;

    /// The ids of `user_id`'s enabled endpoints subscribed to `kind`.
    pub async fn subscribed(
        &self,
        db: &Db,
        user_id: Uuid,
        kind: &str,
    ) -> Result<Vec<Uuid>, sqlx::Error> {
        let cached = self
            .lock()
            .get(&user_id)
            .and_then(|(at, hooks)| hooks.as_ref().filter(|_| at.elapsed() < Self::TTL).cloned());
        let hooks = match cached {
            Some(h) => h,
            None => {
                let read_at = Instant::now();
                let rows = repo::enabled_for(db, user_id).await?;
                let hooks: Arc<Vec<(Uuid, String)>> =
                    Arc::new(rows.into_iter().map(|h| (h.id, h.events)).collect());
                let mut entries = self.lock();
                if entries.len() >= Self::SWEEP_AT {
                    entries.retain(|_, (at, _)| at.elapsed() < Self::TTL);
                }
                // An invalidation (or a fresher read) since this read started
                // wins: what was read may predate the change.
                if entries.get(&user_id).is_none_or(|(at, _)| *at < read_at) {
                    entries.insert(user_id, (read_at, Some(hooks.clone())));
                }
                hooks
            }
        };
        Ok(hooks
            .iter()
            .filter(|(_, events)| events.split_whitespace().any(|e| e == kind))
            .map(|(id, _)| *id)
            .collect())
    }

    /// Forgets `user_id`'s endpoints (they changed); a read that started
    /// before this call is not cached.
    pub fn invalidate(&self, user_id: Uuid) {
        self.lock().insert(user_id, (Instant::now(), None));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Subscriptions>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
