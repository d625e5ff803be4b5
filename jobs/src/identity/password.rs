//! Argon2id password hashing, off the async runtime and bounded in concurrency
//! (each hash holds `memory_kib` of RAM for its duration) and in queueing: a
//! flood of logins waits in a queue of bounded length for a bounded time, and
//! what does not fit is refused as [`HashError::Busy`].

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};
use prometheus::{IntCounter, IntCounterVec, Opts, core::Collector};
use tokio::sync::{OnceCell, Semaphore, SemaphorePermit};

use super::config::AuthConfig;

/// How long a refused caller is told to wait (`Retry-After`): a hash takes
/// tens of milliseconds, so the queue has moved on by then.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Hashes and verifies passwords with the configured argon2id parameters.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
    /// Callers waiting for a permit, at most `max_waiting`.
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    max_wait: Duration,
    /// A hash of a random password, verified against when the account does
    /// not exist so that a login costs the same either way.
    dummy: Arc<OnceCell<String>>,
    /// `password_verifications_total{kind}`: `account` against a stored hash,
    /// `dummy` for the equal-cost stand-in.
    verifications: IntCounterVec,
    /// `password_busy_total`: requests refused because the queue was full or
    /// the wait too long.
    busy: IntCounter,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .field("max_waiting", &self.max_waiting)
            .finish_non_exhaustive()
    }
}

/// Why hashing or verifying did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Bad parameters, or the blocking task died.
    #[error("password hashing failed: {0}")]
    Failed(String),
    /// Too many callers already wait for a permit, or this one waited too long.
    #[error("too many password checks are in progress; retry later")]
    Busy,
}

/// One permit of the hashing pool, held for the length of one login or
/// registration: every hash it runs uses this permit, so a request never
/// queues twice and never waits on itself.
pub struct HashSlot<'a> {
    passwords: &'a Passwords,
    _permit: SemaphorePermit<'a>,
}

/// A place in the queue of callers waiting for a permit; leaving frees it.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn join(count: &'a AtomicUsize, max: usize) -> Option<Self> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Waiting(count))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Passwords {
    /// From `auth.argon2_*`; fails on parameters argon2 refuses.
    pub fn from_config(cfg: &AuthConfig) -> Result<Self, HashError> {
        let params = Params::new(
            cfg.argon2_memory_kib,
            cfg.argon2_iterations,
            cfg.argon2_parallelism,
            None,
        )
        .map_err(|e| HashError::Failed(e.to_string()))?;
        let permits = cfg
            .argon2_permits
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get() * 2));
        let failed = |e: prometheus::Error| HashError::Failed(e.to_string());
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(permits.max(1))),
            waiting: Arc::default(),
            max_waiting: cfg.argon2_queue.unwrap_or(permits.saturating_mul(8)),
            max_wait: Duration::from_millis(cfg.argon2_max_wait_ms),
            dummy: Arc::new(OnceCell::new()),
            verifications: IntCounterVec::new(
                Opts::new(
                    "password_verifications_total",
                    "Password verifications: against an account's hash, or the equal-cost dummy",
                ),
                &["kind"],
            )
            .map_err(failed)?,
            busy: IntCounter::new(
                "password_busy_total",
                "Logins and registrations refused with 503 because the hashing queue was full",
            )
            .map_err(failed)?,
        })
    }

    /// The metrics of hashing, for the process registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.verifications.clone()),
            Box::new(self.busy.clone()),
        ]
    }

    /// Takes a permit, waiting in the bounded queue if none is free;
    /// [`HashError::Busy`] when the queue is full or the wait too long.
    pub async fn slot(&self) -> Result<HashSlot<'_>, HashError> {
        let permit = match self.permits.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                let Some(_waiting) = Waiting::join(&self.waiting, self.max_waiting) else {
                    self.busy.inc();
                    return Err(HashError::Busy);
                };
                match tokio::time::timeout(self.max_wait, self.permits.acquire()).await {
                    Ok(p) => p.map_err(|e| HashError::Failed(e.to_string()))?,
                    Err(_) => {
                        self.busy.inc();
                        return Err(HashError::Busy);
                    }
                }
            }
        };
        Ok(HashSlot {
            passwords: self,
            _permit: permit,
        })
    }

    fn hasher(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A PHC string for `password`, taking a permit for it.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        self.slot().await?.hash(password).await
    }

    /// Whether `phc` was made with other parameters than the configured ones
    /// (then a successful login re-hashes it).
    pub fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return true;
        };
        match Params::try_from(&parsed) {
            Ok(p) => {
                p.m_cost() != self.params.m_cost()
                    || p.t_cost() != self.params.t_cost()
                    || p.p_cost() != self.params.p_cost()
                    || parsed.algorithm.as_str() != "argon2id"
            }
            Err(_) => true,
        }
    }
}

impl HashSlot<'_> {
    /// Runs `work` with the hasher on the blocking pool, under this permit.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let hasher = self.passwords.hasher();
        tokio::task::spawn_blocking(move || work(hasher))
            .await
            .map_err(|e| HashError::Failed(e.to_string()))
    }

    /// A PHC string (`$argon2id$v=19$m=…`) for `password` with a fresh salt.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = password.to_owned();
        self.run(move |hasher| {
            hasher
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| HashError::Failed(e.to_string()))
        })
        .await?
    }

    /// Whether `password` matches `phc`. A malformed stored hash is a mismatch.
    pub async fn verify(&self, password: &str, phc: &str) -> Result<bool, HashError> {
        self.passwords
            .verifications
            .with_label_values(&["account"])
            .inc();
        self.check(password, phc).await
    }

    async fn check(&self, password: &str, phc: &str) -> Result<bool, HashError> {
        let (password, phc) = (password.to_owned(), phc.to_owned());
        self.run(move |hasher| match PasswordHash::new(&phc) {
            Ok(parsed) => hasher.verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(_) => false,
        })
        .await
    }

    /// Spends what verifying a real hash costs, for a login that must not
    /// check a password (unknown, locked or disabled account); always false.
    pub async fn verify_dummy(&self, password: &str) -> Result<bool, HashError> {
        let dummy = self
            .passwords
            .dummy
            .get_or_try_init(|| async {
                let random = crate::secrets::random_token(32);
                self.hash(&random).await
            })
            .await?
            .clone();
        self.passwords
            .verifications
            .with_label_values(&["dummy"])
            .inc();
        self.check(password, &dummy).await.map(|_| false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(tweak: impl FnOnce(&mut AuthConfig)) -> Passwords {
        let mut cfg = AuthConfig {
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            ..AuthConfig::default()
        };
        tweak(&mut cfg);
        Passwords::from_config(&cfg).expect("params")
    }

    #[tokio::test]
    async fn hashes_verify_and_record_their_parameters() {
        let passwords = fast(|_| {});
        let h = passwords.hash("correct horse battery").await.expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{h}");
        let p = passwords.slot().await.expect("permit");
        assert!(p.verify("correct horse battery", &h).await.expect("verify"));
        assert!(!p.verify("wrong horse battery", &h).await.expect("verify"));
        assert!(
            !p.verify("anything", "not a phc string")
                .await
                .expect("verify")
        );
        assert!(!p.verify_dummy("anything").await.expect("dummy"));
        assert!(!passwords.needs_rehash(&h));
        let stronger = Passwords::from_config(&AuthConfig::default()).expect("params");
        assert!(stronger.needs_rehash(&h));
        let count = |kind: &str| passwords.verifications.with_label_values(&[kind]).get();
        assert_eq!((count("account"), count("dummy")), (3, 1));
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once_and_a_long_wait_gives_up() {
        let passwords = fast(|c| {
            c.argon2_permits = Some(1);
            c.argon2_queue = Some(1);
            c.argon2_max_wait_ms = 200;
        });
        let held = passwords.slot().await.expect("the one permit");
        // One caller may wait; the next is refused without waiting.
        let waiter = tokio::spawn({
            let p = passwords.clone();
            async move { p.slot().await.map(|_| ()) }
        });
        while passwords.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(passwords.slot().await, Err(HashError::Busy)));
        // The waiter gives up after `argon2_max_wait_ms` while the permit is held.
        let waited = waiter.await.expect("join");
        assert!(matches!(waited, Err(HashError::Busy)), "{waited:?}");
        assert_eq!(passwords.busy.get(), 2);
        drop(held);
        assert_eq!(passwords.waiting.load(Ordering::Acquire), 0);
        passwords.slot().await.expect("free again");
    }
}
