//! The one listener every server uses (HTTP, RTMP, RTSP): an accept loop
//! with a global connection cap and a per-client-address cap, a deadline
//! from accept to "useful" (request headers read, publish accepted), idle
//! and write timeouts, counters of everything it refused or cut, and a
//! graceful drain bounded by the process's [`Shutdown`] deadline.

// Network input reaches this crate: nothing here may panic on it.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

mod addresses;
mod guarded;
pub mod http;
mod shutdown;
mod stats;
mod watchdog;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

pub use guarded::{Activity, GuardedStream};
pub use shutdown::Shutdown;
pub use stats::{ListenerStats, StatsSnapshot};

use addresses::AddressTable;
use watchdog::Cut;

/// What a listener allows each connection; defaults in [`Default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most connections open at once; more are closed at accept (1000).
    pub max_connections: usize,
    /// Most connections open at once from one client address; 0 for no
    /// such cap (0).
    pub max_per_address: usize,
    /// A connection not useful this long after accept is closed: the
    /// protocol says when it is ([`UsefulMark::mark`]) (none).
    pub useful_within: Option<Duration>,
    /// A connection that neither reads nor writes a byte this long is
    /// closed (none).
    pub idle_timeout: Option<Duration>,
    /// A connection whose writes make no progress this long is closed
    /// (none).
    pub write_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_connections: 1000, max_per_address: 0, useful_within: None, idle_timeout: None, write_timeout: None }
    }
}

/// Set by the protocol once the connection does what it is there for;
/// until then it only has [`Limits::useful_within`] to live.
#[derive(Clone, Debug, Default)]
pub struct UsefulMark(Arc<AtomicBool>);

impl UsefulMark {
    pub fn mark(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_marked(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// One accepted connection, handed to the protocol.
pub struct Connection {
    pub stream: GuardedStream,
    pub peer: SocketAddr,
    pub useful: UsefulMark,
    /// The process's shutdown: when it begins, finish up.
    pub shutdown: Shutdown,
}

/// A bound socket and its limits; [`Listener::serve`] runs it.
pub struct Listener {
    name: &'static str,
    socket: TcpListener,
    limits: Limits,
    stats: Arc<ListenerStats>,
}

impl Listener {
    /// `name` labels its logs and counters (rtmp, rtsp, http, internal).
    pub fn new(name: &'static str, socket: TcpListener, limits: Limits) -> Self {
        Self { name, socket, limits, stats: Arc::default() }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Counters of this listener, readable while it serves.
    pub fn stats(&self) -> Arc<ListenerStats> {
        self.stats.clone()
    }

    /// Accepts until `shutdown` begins, running `handler` for each
    /// connection within the limits; then stops listening and returns once
    /// every connection has finished, or at the drain deadline, when the
    /// ones left are cut.
    pub async fn serve<F, H>(self, shutdown: Shutdown, mut handler: H)
    where
        H: FnMut(Connection) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let Listener { name, socket, limits, stats } = self;
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let addresses = AddressTable::new(limits.max_per_address);
        let connections = TaskTracker::new();
        loop {
            let accepted = tokio::select! {
                accepted = socket.accept() => accepted,
                _ = shutdown.begun() => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    stats.note_accept_error(name, &error);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                stats.note_refused_full(name, peer);
                continue;
            };
            let Some(address_slot) = addresses.take(peer.ip()) else {
                stats.note_refused_address(name, peer);
                continue;
            };
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(listener = name, %error, "cannot disable Nagle");
            }
            stats.note_accepted();
            let activity = guarded::Activity::new();
            let useful = UsefulMark::default();
            let connection = Connection {
                stream: GuardedStream::new(stream, activity.clone()),
                peer,
                useful: useful.clone(),
                shutdown: shutdown.clone(),
            };
            let served = handler(connection);
            let (limits, stats, shutdown) = (limits.clone(), stats.clone(), shutdown.clone());
            connections.spawn(async move {
                let cut = tokio::select! {
                    _ = served => None,
                    cut = watchdog::watch(&activity, &useful, &limits) => Some(cut),
                    _ = shutdown.deadline_passed() => Some(Cut::Drain),
                };
                if let Some(cut) = cut {
                    stats.note_cut(name, cut, peer);
                }
                stats.note_closed();
                drop((slot, address_slot));
            });
        }
        drop(socket);
        connections.close();
        connections.wait().await;
    }
}

#[cfg(test)]
mod tests;
