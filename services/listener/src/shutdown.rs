//! One shutdown for the whole process: when it begins, listeners stop
//! accepting and every connection is asked to finish (an RTMP publisher is
//! told to reconnect elsewhere, an HTTP connection finishes its request);
//! at the drain deadline whatever is left is cut.

use std::sync::{Arc, OnceLock};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Cheap to clone; every clone sees the same shutdown.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    begun: CancellationToken,
    deadline: OnceLock<Instant>,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Begins the drain; connections still open at `deadline` are cut.
    /// Only the first call sets the deadline.
    pub fn begin(&self, deadline: Instant) {
        let _ = self.inner.deadline.set(deadline);
        self.inner.begun.cancel();
    }

    pub fn is_begun(&self) -> bool {
        self.inner.begun.is_cancelled()
    }

    /// Resolves once the drain has begun.
    pub async fn begun(&self) {
        self.inner.begun.cancelled().await
    }

    /// Resolves at the drain deadline: what still runs must stop now.
    pub async fn deadline_passed(&self) {
        self.begun().await;
        if let Some(deadline) = self.inner.deadline.get() {
            tokio::time::sleep_until(*deadline).await;
        }
    }

    /// The drain deadline, once the drain has begun.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline.get().copied()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_deadline_follows_the_beginning() {
        let shutdown = Shutdown::new();
        assert!(!shutdown.is_begun());
        let waiter = shutdown.clone();
        let passed = tokio::spawn(async move {
            waiter.deadline_passed().await;
            Instant::now()
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        let started = Instant::now();
        shutdown.begin(started + Duration::from_secs(30));
        shutdown.begin(started + Duration::from_secs(1));
        assert!(shutdown.is_begun());
        shutdown.begun().await;
        let passed_at = passed.await.unwrap();
        assert_eq!(passed_at - started, Duration::from_secs(30), "the first deadline stands");
    }
}
