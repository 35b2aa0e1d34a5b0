//! The timer beside each connection: it ends the connection when it was
//! not useful in time (a request's headers and body not received in time),
//! sat idle, or could not write.

use std::time::Duration;

use tokio::time::Instant;

use crate::guarded::{Activity, Phase};
use crate::Limits;

/// Why the listener cut a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Cut {
    NotUseful,
    Idle,
    WriteStalled,
    Evicted,
    Drain,
    /// A trusted peer sent no valid PROXY protocol header.
    ProxyHeader,
}

/// Resolves when a limit is broken; sleeps until the nearest deadline and
/// looks again, so a busy connection costs one wake-up per timeout period.
///
/// - Waiting for the first time: `useful_within` from accept, whatever
///   bytes arrive meanwhile.
/// - Waiting for a later request: `useful_within` from its first byte;
///   before that byte, only the idle timeout.
/// - Serving a request: it is the server's turn, so not idle; only a write
///   that makes no progress is cut (a parked blocking reload is safe).
/// - Useful for good: idle and write timeouts.
pub(crate) async fn watch(activity: &Activity, limits: &Limits) -> Cut {
    let accepted = Instant::now();
    loop {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut consider = |deadline: Instant| next = Some(next.map_or(deadline, |next| next.min(deadline)));
        let phase = activity.phase();
        if let (Phase::Waiting { first_wait, first_byte }, Some(within)) = (phase, limits.useful_within) {
            let since = if first_wait { Some(accepted) } else { first_byte };
            if let Some(since) = since {
                let deadline = since + within;
                if now >= deadline {
                    return Cut::NotUseful;
                }
                consider(deadline);
            }
        }
        let last_progress = activity.last_progress();
        if let Some(idle) = limits.idle_timeout.filter(|_| phase != Phase::Serving) {
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
            consider(deadline.max(now + Duration::from_millis(1)));
        }
        // Between requests the phase changes without the watchdog knowing
        // (a request finishes, the next one's first byte arrives): look
        // again every half deadline, so a late request is cut at most half
        // a deadline late. A connection useful for good never changes.
        if let (Some(within), true) = (limits.useful_within, phase_may_change(phase)) {
            consider(now + (within / 2).max(Duration::from_millis(10)));
        }
        match next {
            Some(next) => tokio::time::sleep_until(next).await,
            None => return std::future::pending().await,
        }
    }
}

fn phase_may_change(phase: Phase) -> bool {
    match phase {
        Phase::Serving => true,
        Phase::Waiting { first_wait, first_byte } => !first_wait && first_byte.is_none(),
        Phase::Useful => false,
    }
}
