//! Exponential reconnect backoff with jitter, so a fleet of cameras that
//! went down together does not reconnect in lockstep.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self { min, max: max.max(min), failures: 0 }
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The wait before the next attempt: min × 2^failures, capped at max,
    /// then scaled by a random factor in [0.5, 1.0].
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.nominal();
        self.failures = self.failures.saturating_add(1);
        delay.mul_f64(0.5 + 0.5 * random_unit())
    }

    fn nominal(&self) -> Duration {
        let factor = 2u32.saturating_pow(self.failures.min(20));
        self.min.saturating_mul(factor).min(self.max)
    }
}

/// A uniformly distributed value in [0, 1), from the per-process random
/// hash keys; good enough for jitter without a random-number crate.
fn random_unit() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_doubling_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let delays: Vec<Duration> = (0..6).map(|_| backoff.next_delay()).collect();
        let nominal = [100, 200, 400, 800, 1000, 1000];
        for (delay, nominal) in delays.iter().zip(nominal) {
            let nominal = Duration::from_millis(nominal);
            assert!(*delay >= nominal / 2 && *delay <= nominal, "{delay:?} vs {nominal:?}");
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn jitter_spreads_delays() {
        let delays: std::collections::HashSet<Duration> =
            (0..20).map(|_| Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_delay()).collect();
        assert!(delays.len() > 10, "jitter should vary: {delays:?}");
    }
}
