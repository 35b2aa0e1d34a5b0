//! The RTMP server: a thin tokio shell. The protocol lives in
//! `media::rtmp`; this crate reads sockets, admits publishers through the
//! shared [`publisher::Gate`] and hands frames to the live edge.

mod connection;
mod workers;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use live::Registry;
use media::rtmp::RtmpLimits;
use publisher::{Gate, StreamAuthorizer};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// RTMP server settings; defaults in [`Default`].
#[derive(Debug, Clone)]
pub struct RtmpConfig {
    pub limits: RtmpLimits,
    /// A connection that sends nothing this long is dropped (10 s).
    pub idle_timeout: Duration,
    /// Most concurrent RTMP connections (1000).
    pub max_connections: usize,
    /// The RTMP application name publishers use, as in rtmp://host/live (live).
    pub app: String,
    /// Threads that run publisher connections, each an event loop of its
    /// own, as nginx workers are (1). 0 runs them on the caller's runtime.
    pub worker_threads: usize,
}

impl Default for RtmpConfig {
    fn default() -> Self {
        Self {
            limits: RtmpLimits::default(),
            idle_timeout: Duration::from_secs(10),
            max_connections: 1000,
            app: "live".into(),
            worker_threads: 1,
        }
    }
}

/// Accepts publishers until `shutdown` turns true; then asks every open
/// publisher to reconnect elsewhere and returns once they are gone.
pub async fn run(
    listener: TcpListener,
    registry: Arc<Registry>,
    authorizer: Arc<dyn StreamAuthorizer>,
    config: RtmpConfig,
    shutdown: watch::Receiver<bool>,
) {
    let workers = workers::Workers::start(config.worker_threads);
    let max_connections = config.max_connections;
    let gate = Gate::new(registry, authorizer, config.app.clone());
    let config = Arc::new(config);
    let connection_shutdown = shutdown.clone();
    ::listener::accept_until_shutdown(listener, max_connections, shutdown, "RTMP", |socket, peer| {
        let context =
            connection::Context { gate: gate.clone(), config: config.clone(), shutdown: connection_shutdown.clone() };
        let served: Pin<Box<dyn Future<Output = ()> + Send>> = match workers.next() {
            // Re-registered with the worker's own reactor, so its readiness
            // events wake the worker directly.
            Some(worker) => match socket.into_std() {
                Ok(socket) => {
                    let task = worker.spawn(async move {
                        match tokio::net::TcpStream::from_std(socket) {
                            Ok(socket) => connection::serve(socket, peer, context).await,
                            Err(error) => tracing::warn!(%peer, %error, "cannot register the connection"),
                        }
                    });
                    Box::pin(async move {
                        let _ = task.await;
                    })
                }
                Err(error) => {
                    tracing::warn!(%peer, %error, "cannot hand the connection to a worker");
                    Box::pin(async {})
                }
            },
            None => Box::pin(connection::serve(socket, peer, context)),
        };
        served
    })
    .await
}
