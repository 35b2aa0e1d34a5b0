//! What a listener counts: connections accepted and open, and every one it
//! refused, evicted or cut, by reason. Each is logged at most once per
//! client address and reason per [`LOG_INTERVAL`], with how many the
//! address had since its last line, so a flood cannot flood the log.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::table::AddressKey;
use crate::watchdog::Cut;

/// One log line per address and reason at most this often.
pub const LOG_INTERVAL: Duration = Duration::from_secs(60);
/// Addresses remembered for the log; past this, one line per interval
/// speaks for all the others.
const LOGGED_ADDRESSES: usize = 4096;

#[derive(Debug, Default)]
pub struct ListenerStats {
    accepted: AtomicU64,
    open: AtomicU64,
    refused_full: AtomicU64,
    refused_address: AtomicU64,
    evicted: AtomicU64,
    not_useful_in_time: AtomicU64,
    idle: AtomicU64,
    write_stalled: AtomicU64,
    cut_at_drain: AtomicU64,
    proxy_header_failed: AtomicU64,
    accept_errors: AtomicU64,
    log: Mutex<LogLimiter>,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub accepted: u64,
    pub open: u64,
    /// Closed at accept: the global cap was reached and every connection
    /// was doing its job.
    pub refused_full: u64,
    /// Closed at accept: the client address had its share, every one of
    /// them doing its job.
    pub refused_address: u64,
    /// Closed to make room: a connection that was waiting (not yet useful,
    /// or between requests) when a cap was reached.
    pub evicted: u64,
    /// Closed: not useful within the deadline (for HTTP: a request's
    /// headers and body not received in time).
    pub not_useful_in_time: u64,
    /// Closed: no byte moved within the idle timeout.
    pub idle: u64,
    /// Closed: a write made no progress within the write timeout.
    pub write_stalled: u64,
    /// Cut at the drain deadline.
    pub cut_at_drain: u64,
    /// Closed: a trusted peer sent no valid PROXY protocol header.
    pub proxy_header_failed: u64,
    pub accept_errors: u64,
}

/// What happened to a connection, for the counters and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Event {
    RefusedFull,
    RefusedAddress,
    Cut(Cut),
}

impl Event {
    fn describe(self) -> &'static str {
        match self {
            Event::RefusedFull => "connection limit reached and every connection busy; connection refused",
            Event::RefusedAddress => "connection limit per address reached and every one busy; connection refused",
            Event::Cut(Cut::Evicted) => "connection evicted to make room (it was waiting when a limit was reached)",
            Event::Cut(Cut::NotUseful) => "connection not useful in time; closed",
            Event::Cut(Cut::Idle) => "connection idle too long; closed",
            Event::Cut(Cut::WriteStalled) => "connection stopped taking writes; closed",
            Event::Cut(Cut::Drain) => "connection still open at the drain deadline; closed",
            Event::Cut(Cut::ProxyHeader) => "trusted peer sent no valid PROXY protocol header; closed",
        }
    }
}

impl ListenerStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            accepted: read(&self.accepted),
            open: read(&self.open),
            refused_full: read(&self.refused_full),
            refused_address: read(&self.refused_address),
            evicted: read(&self.evicted),
            not_useful_in_time: read(&self.not_useful_in_time),
            idle: read(&self.idle),
            write_stalled: read(&self.write_stalled),
            cut_at_drain: read(&self.cut_at_drain),
            proxy_header_failed: read(&self.proxy_header_failed),
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
        let before = self.accept_errors.fetch_add(1, Ordering::Relaxed);
        if before.is_multiple_of(100) {
            tracing::warn!(listener, %error, errors = before + 1, "accept failed");
        }
    }

    pub(crate) fn note(&self, listener: &'static str, event: Event, peer: SocketAddr) {
        let counter = match event {
            Event::RefusedFull => &self.refused_full,
            Event::RefusedAddress => &self.refused_address,
            Event::Cut(Cut::Evicted) => &self.evicted,
            Event::Cut(Cut::NotUseful) => &self.not_useful_in_time,
            Event::Cut(Cut::Idle) => &self.idle,
            Event::Cut(Cut::WriteStalled) => &self.write_stalled,
            Event::Cut(Cut::Drain) => &self.cut_at_drain,
            Event::Cut(Cut::ProxyHeader) => &self.proxy_header_failed,
        };
        let total = counter.fetch_add(1, Ordering::Relaxed) + 1;
        let decision = self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).decide(peer.ip(), event);
        let what = event.describe();
        match decision {
            LogDecision::Quiet => {}
            LogDecision::Address { since_last } => {
                let address = peer.ip();
                if matches!(event, Event::Cut(Cut::Idle | Cut::Drain | Cut::NotUseful)) {
                    tracing::info!(listener, %address, since_last, total, "{what}");
                } else {
                    tracing::warn!(listener, %address, since_last, total, "{what}");
                }
            }
            LogDecision::Others => {
                tracing::warn!(listener, total, "{what} (from more addresses than are logged one by one)");
            }
        }
    }
}

enum LogDecision {
    Quiet,
    /// Log it for this address: `since_last` of these since its last line.
    Address {
        since_last: u64,
    },
    /// Too many addresses to name: one line for all of them.
    Others,
}

#[derive(Debug, Default)]
struct LogLimiter {
    /// (address, event) to when it was last logged and how many since.
    lines: HashMap<(AddressKey, Event), (Instant, u64)>,
    others_logged: Option<Instant>,
}

impl LogLimiter {
    fn decide(&mut self, address: IpAddr, event: Event) -> LogDecision {
        let now = Instant::now();
        let key = (AddressKey::of(address), event);
        if let Some((logged, since)) = self.lines.get_mut(&key) {
            *since += 1;
            if now.duration_since(*logged) < LOG_INTERVAL {
                return LogDecision::Quiet;
            }
            let since_last = std::mem::take(since);
            *logged = now;
            return LogDecision::Address { since_last };
        }
        if self.lines.len() >= LOGGED_ADDRESSES {
            self.lines.retain(|_, (logged, _)| now.duration_since(*logged) < LOG_INTERVAL);
        }
        if self.lines.len() >= LOGGED_ADDRESSES {
            if self.others_logged.is_some_and(|logged| now.duration_since(logged) < LOG_INTERVAL) {
                return LogDecision::Quiet;
            }
            self.others_logged = Some(now);
            return LogDecision::Others;
        }
        self.lines.insert(key, (now, 0));
        LogDecision::Address { since_last: 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_line_per_address_and_reason_per_interval() {
        let mut limiter = LogLimiter::default();
        let attacker: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let evicted = Event::Cut(Cut::Evicted);
        assert!(matches!(limiter.decide(attacker, evicted), LogDecision::Address { since_last: 1 }));
        for _ in 0..1000 {
            assert!(matches!(limiter.decide(attacker, evicted), LogDecision::Quiet));
        }
        assert!(matches!(limiter.decide(attacker, Event::RefusedFull), LogDecision::Address { .. }));
        assert!(matches!(limiter.decide(other, evicted), LogDecision::Address { .. }));
        tokio::time::advance(LOG_INTERVAL).await;
        assert!(matches!(limiter.decide(attacker, evicted), LogDecision::Address { since_last: 1001 }));
        // Past the addresses it can name, one line speaks for the rest.
        let mut others = 0;
        for index in 0..(LOGGED_ADDRESSES as u32 + 100) {
            let address = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + index));
            if matches!(limiter.decide(address, evicted), LogDecision::Others) {
                others += 1;
            }
        }
        assert_eq!(others, 1);
    }
}
