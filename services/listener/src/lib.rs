//! The one listener every server uses (HTTP, RTMP, RTSP): an accept loop
//! with a global connection cap and per-client-address caps, where a
//! connection that is still waiting (not yet useful, or between two
//! requests) makes room for a new one instead of the new one being
//! refused; a deadline from accept to "useful" (a request received, a
//! publish accepted) and for each later request from its first byte; idle
//! and write timeouts that never cut a request being served; the client's
//! real address behind trusted proxies (PROXY protocol, forwarding
//! headers); counters of everything it refused, evicted or cut; and a
//! graceful drain bounded by the process's [`Shutdown`] deadline.
//! docs/design/listeners.md explains the choices.

// Network input reaches this crate: nothing here may panic on it.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

mod guarded;
pub mod http;
mod proxy;
mod shutdown;
mod stats;
mod table;
pub mod tls;
mod watchdog;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

pub use guarded::{Activity, GuardedStream};
pub use ipnet::IpNet;
pub use proxy::{read_proxy_header, ForwardedHeader, ProxyHeaderError, TrustedProxies};
pub use shutdown::Shutdown;
pub use stats::{ListenerStats, StatsSnapshot, LOG_INTERVAL};

use stats::Event;
use table::{Caps, Refused, Table};
use watchdog::Cut;

/// What a listener allows each connection; defaults in [`Default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most connections open at once (1000). Past it, the longest-waiting
    /// connection of the address with the most waiting connections makes
    /// room; when none waits, the new one is closed at accept.
    pub max_connections: usize,
    /// Most connections open at once from one client address (an IPv6
    /// /64); past it, the address's longest-waiting connection makes room.
    /// 0 for no such cap (0).
    pub max_per_address: usize,
    /// Most waiting connections from one client address; past it, the
    /// address's longest-waiting one makes room. 0 for no such cap (0).
    pub max_waiting_per_address: usize,
    /// A connection not useful this long after accept is closed, and so is
    /// one whose next request is not received this long after its first
    /// byte: the protocol says when it is useful ([`UsefulMark::mark`]) or
    /// serving a request (HTTP) (none).
    pub useful_within: Option<Duration>,
    /// A connection that neither reads nor writes a byte this long is
    /// closed, unless a request is being served (none).
    pub idle_timeout: Option<Duration>,
    /// A connection whose writes make no progress this long is closed
    /// (none).
    pub write_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1000,
            max_per_address: 0,
            max_waiting_per_address: 0,
            useful_within: None,
            idle_timeout: None,
            write_timeout: None,
        }
    }
}

/// Where a listener's connections come from: which proxies are trusted,
/// and whether trusted peers put a PROXY protocol header first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    pub trusted: TrustedProxies,
    /// A trusted peer must begin with a PROXY protocol header (v1 or v2),
    /// whose address becomes the connection's [`Connection::peer`]; an
    /// untrusted peer's connection is served as it is (false).
    pub proxy_protocol: bool,
}

/// Set by the protocol once the connection does what it is there for (a
/// publish accepted); until then it has [`Limits::useful_within`] to live
/// and may be evicted to make room.
#[derive(Clone, Debug)]
pub struct UsefulMark(Arc<Activity>);

impl UsefulMark {
    pub fn mark(&self) {
        self.0.mark_useful();
    }

    pub fn is_marked(&self) -> bool {
        self.0.is_useful()
    }
}

/// One accepted connection, handed to the protocol.
pub struct Connection {
    pub stream: GuardedStream,
    /// The client: the socket peer, or the address a trusted proxy's PROXY
    /// protocol header gave.
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
    proxies: Proxies,
    stats: Arc<ListenerStats>,
}

impl Listener {
    /// `name` labels its logs and counters (rtmp, rtsp, http, internal).
    pub fn new(name: &'static str, socket: TcpListener, limits: Limits) -> Self {
        Self { name, socket, limits, proxies: Proxies::default(), stats: Arc::default() }
    }

    /// Trusts `proxies` for the client address (no proxy by default).
    pub fn with_proxies(mut self, proxies: Proxies) -> Self {
        self.proxies = proxies;
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn proxies(&self) -> &Proxies {
        &self.proxies
    }

    /// Counters of this listener, readable while it serves.
    pub fn stats(&self) -> Arc<ListenerStats> {
        self.stats.clone()
    }

    /// Accepts until `shutdown` begins, running `handler` for each
    /// connection within the limits; then stops listening and returns once
    /// every connection has finished, or at the drain deadline, when the
    /// ones left are cut.
    pub async fn serve<F, H>(self, shutdown: Shutdown, handler: H)
    where
        H: Fn(Connection) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let Listener { name, socket, limits, proxies, stats } = self;
        let handler = Arc::new(handler);
        let proxies = Arc::new(proxies);
        let table = Table::new(Caps {
            max_connections: limits.max_connections,
            max_per_address: limits.max_per_address,
            max_waiting_per_address: limits.max_waiting_per_address,
        });
        let limits = Arc::new(limits);
        let connections = TaskTracker::new();
        loop {
            tokio::select! {
                _ = table.wait_for_closing() => {}
                _ = shutdown.begun() => break,
            }
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
            let activity = Activity::new(table.clone());
            let admitted = match table.admit(peer.ip(), activity.clone()) {
                Ok(admitted) => admitted,
                Err(refused) => {
                    let event = match refused {
                        Refused::Full => Event::RefusedFull,
                        Refused::Address => Event::RefusedAddress,
                    };
                    stats.note(name, event, peer);
                    continue;
                }
            };
            activity.seated(admitted.seat);
            table::tell(&admitted.evicted);
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(listener = name, %error, "cannot disable Nagle");
            }
            stats.note_accepted();
            let seat = admitted.seat;
            let task = (table.clone(), limits.clone(), proxies.clone(), handler.clone(), stats.clone());
            let shutdown = shutdown.clone();
            connections.spawn(async move {
                let (table, limits, proxies, handler, stats) = task;
                let mut stream = GuardedStream::new(stream, activity.clone());
                let mut client = peer;
                let served = async {
                    if proxies.proxy_protocol && proxies.trusted.trusts(peer.ip()) {
                        match read_proxy_header(&mut stream).await {
                            Ok(Some(address)) => {
                                client = address;
                                table::tell(&table.move_to(seat, address.ip()));
                            }
                            Ok(None) => {}
                            Err(error) => {
                                tracing::debug!(listener = name, %peer, %error, "PROXY protocol header");
                                return Some(Cut::ProxyHeader);
                            }
                        }
                    }
                    let useful = UsefulMark(activity.clone());
                    (*handler)(Connection { stream, peer: client, useful, shutdown: shutdown.clone() }).await;
                    None
                };
                let cut = tokio::select! {
                    cut = served => cut,
                    cut = watchdog::watch(&activity, &limits) => Some(cut),
                    _ = activity.evicted() => Some(Cut::Evicted),
                    _ = shutdown.deadline_passed() => Some(Cut::Drain),
                };
                if let Some(cut) = cut {
                    stats.note(name, Event::Cut(cut), client);
                }
                stats.note_closed();
                table.release(seat);
            });
        }
        drop(socket);
        connections.close();
        connections.wait().await;
    }
}

#[cfg(test)]
mod tests;
