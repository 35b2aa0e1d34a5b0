//! What a listener counts: connections accepted and open, and every one it
//! refused or cut, by reason. Refusals are logged the first time and then
//! every hundredth, so an attack cannot flood the log.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::watchdog::Cut;

#[derive(Debug, Default)]
pub struct ListenerStats {
    accepted: AtomicU64,
    open: AtomicU64,
    refused_full: AtomicU64,
    refused_address: AtomicU64,
    not_useful_in_time: AtomicU64,
    idle: AtomicU64,
    write_stalled: AtomicU64,
    cut_at_drain: AtomicU64,
    accept_errors: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub accepted: u64,
    pub open: u64,
    /// Closed at accept: the global cap was reached.
    pub refused_full: u64,
    /// Closed at accept: the client address had its share.
    pub refused_address: u64,
    /// Closed: not useful within the deadline.
    pub not_useful_in_time: u64,
    /// Closed: no byte moved within the idle timeout.
    pub idle: u64,
    /// Closed: a write made no progress within the write timeout.
    pub write_stalled: u64,
    /// Cut at the drain deadline.
    pub cut_at_drain: u64,
    pub accept_errors: u64,
}

/// Adds one and says whether this occurrence should be logged.
fn count(counter: &AtomicU64) -> bool {
    let before = counter.fetch_add(1, Ordering::Relaxed);
    before.is_multiple_of(100)
}

impl ListenerStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            accepted: read(&self.accepted),
            open: read(&self.open),
            refused_full: read(&self.refused_full),
            refused_address: read(&self.refused_address),
            not_useful_in_time: read(&self.not_useful_in_time),
            idle: read(&self.idle),
            write_stalled: read(&self.write_stalled),
            cut_at_drain: read(&self.cut_at_drain),
            accept_errors: read(&self.accept_errors),
        }
    }

    pub(crate) fn note_accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn note_closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn note_accept_error(&self, listener: &'static str, error: &std::io::Error) {
        if count(&self.accept_errors) {
            tracing::warn!(listener, %error, "accept failed");
        }
    }

    pub(crate) fn note_refused_full(&self, listener: &'static str, peer: SocketAddr) {
        if count(&self.refused_full) {
            let refused = self.refused_full.load(Ordering::Relaxed);
            tracing::warn!(listener, %peer, refused, "connection limit reached; connection refused");
        }
    }

    pub(crate) fn note_refused_address(&self, listener: &'static str, peer: SocketAddr) {
        if count(&self.refused_address) {
            let refused = self.refused_address.load(Ordering::Relaxed);
            tracing::warn!(listener, %peer, refused, "connection limit per address reached; connection refused");
        }
    }

    pub(crate) fn note_cut(&self, listener: &'static str, cut: Cut, peer: SocketAddr) {
        let (counter, what) = match cut {
            Cut::NotUseful => (&self.not_useful_in_time, "connection not useful in time; closed"),
            Cut::Idle => (&self.idle, "connection idle too long; closed"),
            Cut::WriteStalled => (&self.write_stalled, "connection stopped taking writes; closed"),
            Cut::Drain => (&self.cut_at_drain, "connection still open at the drain deadline; closed"),
        };
        if count(counter) {
            tracing::info!(listener, %peer, "{what}");
        }
    }
}
