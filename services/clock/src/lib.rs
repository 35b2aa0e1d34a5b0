//! The one clock of the process. Monotonic time is tokio's
//! [`Instant`], which a test pauses and advances (`tokio::time::pause`,
//! `start_paused`), so deadlines, backoff and grace periods run in
//! simulated time. Wall-clock time (PROGRAM-DATE-TIME, leases and demand
//! compared across pods, retention) comes from a [`Clock`]: the system's,
//! or in tests one that only moves when told to.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use tokio::time::Instant;

/// Cheap to clone; clones share a manual clock's time.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A wall clock at `unix_ms` that moves only by [`Clock::advance`].
    pub fn manual(unix_ms: i64) -> Self {
        Self { manual: Some(Arc::new(AtomicI64::new(unix_ms))) }
    }

    /// Monotonic now: tokio's clock, paused and advanced in tests.
    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// Wall-clock time in Unix milliseconds.
    pub fn unix_ms(&self) -> i64 {
        match &self.manual {
            Some(manual) => manual.load(Ordering::SeqCst),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX)),
        }
    }

    /// Moves a manual clock forward; the system clock cannot be moved.
    pub fn advance(&self, by: Duration) {
        if let Some(manual) = &self.manual {
            manual.fetch_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX), Ordering::SeqCst);
        }
    }

    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = Clock::manual(1_000);
        let shared = clock.clone();
        assert_eq!(clock.unix_ms(), 1_000);
        shared.advance(Duration::from_millis(250));
        assert_eq!(clock.unix_ms(), 1_250, "clones share the time");
        assert!(clock.is_manual() && !Clock::system().is_manual());
    }

    #[test]
    fn the_system_clock_is_after_2020() {
        assert!(Clock::system().unix_ms() > 1_577_836_800_000);
    }

    #[tokio::test(start_paused = true)]
    async fn monotonic_time_is_tokios_and_pauses_in_tests() {
        let clock = Clock::system();
        let before = clock.now();
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(clock.now() - before, Duration::from_secs(3600));
    }
}
