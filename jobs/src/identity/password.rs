//! Argon2id password hashing, off the async runtime and bounded in concurrency
//! (each hash holds `memory_kib` of RAM for its duration).

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};
use tokio::sync::{OnceCell, Semaphore};

use super::config::AuthConfig;

/// Hashes and verifies passwords with the configured argon2id parameters.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the account does
    /// not exist so that a login costs the same either way.
    dummy: Arc<OnceCell<String>>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .finish_non_exhaustive()
    }
}

/// A hashing failure (bad parameters, or the blocking task died).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl Passwords {
    /// From `auth.argon2_*`; fails on parameters argon2 refuses.
    pub fn from_config(cfg: &AuthConfig) -> Result<Self, HashError> {
        let params = Params::new(
            cfg.argon2_memory_kib,
            cfg.argon2_iterations,
            cfg.argon2_parallelism,
            None,
        )
        .map_err(|e| HashError(e.to_string()))?;
        let permits = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(permits)),
            dummy: Arc::new(OnceCell::new()),
        })
    }

    fn hasher(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Runs `work` with the hasher on the blocking pool, holding one of the
    /// permits that bound how many hashes (and their memory) run at once.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError(e.to_string()))?;
        let hasher = self.hasher();
        tokio::task::spawn_blocking(move || work(hasher))
            .await
            .map_err(|e| HashError(e.to_string()))
    }

    /// A PHC string (`$argon2id$v=19$m=…`) for `password` with a fresh salt.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = password.to_owned();
        self.run(move |hasher| {
            hasher
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| HashError(e.to_string()))
        })
        .await?
    }

    /// Whether `password` matches `phc`. A malformed stored hash is a mismatch.
    pub async fn verify(&self, password: &str, phc: &str) -> Result<bool, HashError> {
        let (password, phc) = (password.to_owned(), phc.to_owned());
        self.run(move |hasher| match PasswordHash::new(&phc) {
            Ok(parsed) => hasher.verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(_) => false,
        })
        .await
    }

    /// Spends what verifying a real hash costs, for a login whose account does
    /// not exist; always false.
    pub async fn verify_dummy(&self, password: &str) -> Result<bool, HashError> {
        let dummy = self
            .dummy
            .get_or_try_init(|| async {
                let random = crate::secrets::random_token(32);
                self.hash(&random).await
            })
            .await?
            .clone();
        self.verify(password, &dummy).await.map(|_| false)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> Passwords {
        let cfg = AuthConfig {
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            ..AuthConfig::default()
        };
        Passwords::from_config(&cfg).expect("params")
    }

    #[tokio::test]
    async fn hashes_verify_and_record_their_parameters() {
        let p = fast();
        let h = p.hash("correct horse battery").await.expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{h}");
        assert!(p.verify("correct horse battery", &h).await.expect("verify"));
        assert!(!p.verify("wrong horse battery", &h).await.expect("verify"));
        assert!(
            !p.verify("anything", "not a phc string")
                .await
                .expect("verify")
        );
        assert!(!p.verify_dummy("anything").await.expect("dummy"));
        assert!(!p.needs_rehash(&h));
        let stronger = Passwords::from_config(&AuthConfig::default()).expect("params");
        assert!(stronger.needs_rehash(&h));
    }
}
