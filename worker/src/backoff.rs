//! Retry delays: exponential backoff with full jitter.

use std::time::Duration;

use kiln_jobs::queue::config::QueuePolicy;
use rand::Rng;

/// The longest `Retry-After` a provider may impose on a job; a longer ask is
/// cut to this so a misbehaving receiver cannot park a job for days.
pub const MAX_REQUESTED_DELAY: Duration = Duration::from_secs(3600);

/// Delay before retry number `failed_attempts` (1 after the first failure):
/// uniformly random in `[base·2^(n-1) / 2, base·2^(n-1)]`, capped at the policy's max.
/// Half the window is kept so a retry never fires immediately after a failure.
pub fn delay(policy: &QueuePolicy, failed_attempts: u32) -> Duration {
    let exp = failed_attempts.saturating_sub(1).min(30);
    let ceiling = policy
        .backoff_base_ms
        .saturating_mul(1u64 << exp)
        .min(policy.backoff_max_ms)
        .max(1);
    let floor = ceiling / 2;
    Duration::from_millis(rand::rng().random_range(floor..=ceiling))
}

/// Delay before try number `failures + 1` of a ledger write that failed
/// `failures` times: 100 ms doubling to at most 5 s, with full jitter in the
/// upper half, so workers that lost the database together do not retry in step.
pub fn record_delay(failures: u32) -> Duration {
    let ceiling = 100u64.saturating_mul(1u64 << failures.min(6)).min(5_000);
    Duration::from_millis(rand::rng().random_range(ceiling / 2..=ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> QueuePolicy {
        QueuePolicy {
            backoff_base_ms: 100,
            backoff_max_ms: 1_000,
            ..QueuePolicy::default()
        }
    }

    #[test]
    fn delay_grows_exponentially_within_jitter_window() {
        let p = policy();
        for _ in 0..200 {
            let d1 = delay(&p, 1).as_millis();
            assert!((50..=100).contains(&d1), "first retry {d1}ms");
            let d3 = delay(&p, 3).as_millis();
            assert!((200..=400).contains(&d3), "third retry {d3}ms");
        }
    }

    #[test]
    fn record_delay_grows_and_is_capped() {
        for _ in 0..200 {
            assert!((50..=100).contains(&record_delay(0).as_millis()));
            assert!((200..=400).contains(&record_delay(2).as_millis()));
            assert!((2_500..=5_000).contains(&record_delay(40).as_millis()));
        }
    }

    #[test]
    fn delay_is_capped_at_the_policy_maximum() {
        let p = policy();
        for n in [5, 10, 40, u32::MAX] {
            let d = delay(&p, n).as_millis();
            assert!((500..=1_000).contains(&d), "retry {n}: {d}ms");
        }
    }
}
