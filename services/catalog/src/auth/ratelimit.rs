//! Failed-login throttling per username and per client address.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use clock::Instant;

/// Beyond this many tracked names the oldest-looking entries are dropped,
/// so a flood of made-up usernames cannot grow memory without bound.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug)]
pub struct LoginLimiter {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub fn new(max_failures: usize, window: Duration) -> Self {
        LoginLimiter { max_failures, window, failures: Mutex::new(HashMap::new()) }
    }

    /// `Err(seconds to wait)` when any of `keys` had too many recent failures.
    pub fn check(&self, keys: &[String]) -> Result<(), u64> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(times) = failures.get_mut(key) {
                prune(times, now, self.window);
                if times.len() >= self.max_failures {
                    if let Some(oldest) = times.front() {
                        wait = wait.max(self.window.saturating_sub(now.duration_since(*oldest)));
                    }
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait.as_secs().max(1))
        }
    }

    pub fn record_failure(&self, keys: &[String]) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if failures.len() >= MAX_TRACKED {
            let window = self.window;
            failures.retain(|_, times| {
                prune(times, now, window);
                !times.is_empty()
            });
        }
        for key in keys {
            let times = failures.entry(key.clone()).or_default();
            prune(times, now, self.window);
            times.push_back(now);
        }
    }

    pub fn clear(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(key);
    }
}

fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times.front().is_some_and(|time| now.duration_since(*time) >= window) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_per_key() {
        let limiter = LoginLimiter::new(3, Duration::from_secs(60));
        let alice = vec!["user:alice".to_owned(), "ip:192.0.2.1".to_owned()];
        for _ in 0..3 {
            assert_eq!(limiter.check(&alice), Ok(()));
            limiter.record_failure(&alice);
        }
        let wait = limiter.check(&alice).unwrap_err();
        assert!((1..=60).contains(&wait));
        // Same address, other user: still blocked by the address.
        assert!(limiter.check(&["user:bob".to_owned(), "ip:192.0.2.1".to_owned()]).is_err());
        assert_eq!(limiter.check(&["user:bob".to_owned(), "ip:192.0.2.2".to_owned()]), Ok(()));
        limiter.clear("user:alice");
        assert!(limiter.check(&["user:alice".to_owned()]).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn failures_expire_with_the_window() {
        let limiter = LoginLimiter::new(1, Duration::from_secs(60));
        let key = vec!["user:carol".to_owned()];
        limiter.record_failure(&key);
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(limiter.check(&key), Err(1), "one second of the window is left");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(limiter.check(&key), Ok(()));
    }
}
