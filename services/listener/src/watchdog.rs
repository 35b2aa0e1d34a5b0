//! The timer beside each connection: it ends the connection when it was
//! not useful in time, sat idle, or could not write.

use tokio::time::Instant;

use crate::guarded::Activity;
use crate::{Limits, UsefulMark};

/// Why the listener cut a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    NotUseful,
    Idle,
    WriteStalled,
    Drain,
}

/// Resolves when a limit is broken; sleeps until the nearest deadline and
/// looks again, so a busy connection costs one wake-up per timeout period.
pub(crate) async fn watch(activity: &Activity, useful: &UsefulMark, limits: &Limits) -> Cut {
    let useful_deadline = limits.useful_within.map(|within| Instant::now() + within);
    loop {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut consider = |deadline: Instant| next = Some(next.map_or(deadline, |next| next.min(deadline)));
        if let Some(deadline) = useful_deadline.filter(|_| !useful.is_marked()) {
            if now >= deadline {
                return Cut::NotUseful;
            }
            consider(deadline);
        }
        let last_progress = activity.last_progress();
        if let Some(idle) = limits.idle_timeout {
            let deadline = last_progress + idle;
            if now >= deadline {
                return Cut::Idle;
            }
            consider(deadline);
        }
        if let Some(write_timeout) = limits.write_timeout {
            // A write that blocks later than the last progress is seen at
            // the latest one timeout after that progress, then timed exactly.
            let deadline = activity.write_blocked_since().unwrap_or(last_progress) + write_timeout;
            if activity.write_blocked_since().is_some() && now >= deadline {
                return Cut::WriteStalled;
            }
            consider(deadline.max(now + std::time::Duration::from_millis(1)));
        }
        match next {
            Some(next) => tokio::time::sleep_until(next).await,
            None => return std::future::pending().await,
        }
    }
}
