//! The RTMP server: a thin tokio shell. The protocol lives in
//! `media::rtmp`; this crate reads sockets, admits publishers through the
//! shared [`publisher::Gate`] and hands frames to the live edge. Caps,
//! deadlines and drain are the shared [`listener::Listener`]'s.

// Network input reaches this crate: nothing here may panic on it.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

mod connection;
mod workers;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use listener::{Connection, GuardedStream, Limits, Listener, Shutdown};
use media::rtmp::RtmpLimits;
use publisher::Gate;
use tokio_rustls::TlsAcceptor;

/// RTMP server settings; defaults in [`Default`].
#[derive(Debug, Clone)]
pub struct RtmpConfig {
    /// Bounds on what one connection may make us buffer.
    pub limits: RtmpLimits,
    /// Threads that run publisher connections, each an event loop of its
    /// own, as nginx workers are (1). 0 runs them on the caller's runtime.
    pub worker_threads: usize,
}

impl Default for RtmpConfig {
    fn default() -> Self {
        Self { limits: RtmpLimits::default(), worker_threads: 1 }
    }
}

/// What the listener allows an RTMP connection by default: 1000 at once,
/// 32 without a publish per address, a publish accepted within 10 s,
/// nothing received for 10 s closes it.
pub fn default_limits() -> Limits {
    Limits {
        max_connections: 1000,
        max_per_address: 0,
        max_waiting_per_address: 32,
        useful_within: Some(Duration::from_secs(10)),
        idle_timeout: Some(Duration::from_secs(10)),
        write_timeout: Some(Duration::from_secs(10)),
    }
}

/// Accepts publishers through `gate` until `shutdown` begins; then asks
/// every open publisher to reconnect elsewhere and returns once they are
/// gone (or cut at the drain deadline).
pub async fn run(listener: Listener, gate: Gate, config: RtmpConfig, shutdown: Shutdown) {
    let workers = workers::Workers::start(config.worker_threads);
    let config = Arc::new(config);
    listener
        .serve(shutdown, move |connection| {
            let context = connection::Context { gate: gate.clone(), config: config.clone() };
            let served: Pin<Box<dyn Future<Output = ()> + Send>> = match workers.next() {
                Some(worker) => Box::pin(on_worker(worker.clone(), connection, context)),
                None => Box::pin(connection::serve(connection, context)),
            };
            served
        })
        .await
}

/// Accepts RTMPS publishers (RTMP in TLS, through `tls`) until `shutdown`
/// begins, as [`run`] does. They are served on the caller's runtime: the
/// TLS session cannot move to a worker's reactor.
pub async fn run_tls(listener: Listener, gate: Gate, config: RtmpConfig, shutdown: Shutdown, tls: TlsAcceptor) {
    let config = Arc::new(config);
    listener
        .serve(shutdown, move |connection| {
            let context = connection::Context { gate: gate.clone(), config: config.clone() };
            let tls = tls.clone();
            async move {
                let Connection { stream, peer, useful, shutdown } = connection;
                match tls.accept(stream).await {
                    Ok(stream) => connection::serve_socket(stream, peer, useful, shutdown, context, "RTMPS").await,
                    Err(error) => tracing::debug!(%peer, %error, "RTMPS: TLS handshake failed"),
                }
            }
        })
        .await
}

/// Serves `connection` on `worker`, re-registered with the worker's own
/// reactor so its readiness events wake the worker directly. Cut by the
/// listener, the worker's task is aborted too.
async fn on_worker(worker: tokio::runtime::Handle, connection: Connection, context: connection::Context) {
    let Connection { stream, peer, useful, shutdown } = connection;
    let (socket, activity) = stream.into_parts();
    let socket = match socket.into_std() {
        Ok(socket) => socket,
        Err(error) => return tracing::warn!(%peer, %error, "cannot hand the connection to a worker"),
    };
    let task = worker.spawn(async move {
        match tokio::net::TcpStream::from_std(socket) {
            Ok(socket) => {
                let stream = GuardedStream::from_parts(socket, activity);
                connection::serve(Connection { stream, peer, useful, shutdown }, context).await
            }
            Err(error) => tracing::warn!(%peer, %error, "cannot register the connection"),
        }
    });
    let mut task = AbortOnDrop(task);
    let _ = (&mut task.0).await;
}

/// A worker task that ends with the future waiting for it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
