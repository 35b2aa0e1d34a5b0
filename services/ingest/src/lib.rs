//! RTMP ingest: a thin tokio shell. The protocol lives in `media::rtmp`;
//! this crate reads sockets, asks the authorizer about stream keys and
//! hands frames to the live edge.

mod connection;
mod workers;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use live::{Registry, ResumePoint};
use media::rtmp::RtmpLimits;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// Ingest settings; defaults in [`Default`].
#[derive(Debug, Clone)]
pub struct IngestConfig {
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

impl Default for IngestConfig {
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

pub type AuthFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send + 'a>>;

/// `Ok(Some(stream key))`, `Ok(None)` when the stream has no key, `Err` when it could not be looked up.
pub type KeyFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send + 'a>>;

pub type ClaimFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<ResumePoint>, ClaimRefused>> + Send + 'a>>;

/// Why a cluster would not let this pod take a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimRefused {
    /// Another pod's publisher is still sending.
    Busy,
    /// The registry could not be asked; the publisher should retry.
    Unavailable(String),
}

/// Decides whether a stream key may publish, and to which stream.
pub trait StreamAuthorizer: Send + Sync + 'static {
    /// `Ok(Some(stream name))` to allow, `Ok(None)` for an unknown key,
    /// `Err` when the decision could not be made (database down).
    fn authorize<'a>(&'a self, app: &'a str, stream_key: &'a str, peer: SocketAddr) -> AuthFuture<'a>;

    /// The key of the push stream named `stream`, for protocols that prove
    /// knowledge of the key without sending it (RTSP Digest). The caller
    /// still calls [`Self::authorize`] with the key once proven. The default
    /// knows no keys, so such logins are refused.
    fn stream_key_for<'a>(&'a self, _stream: &'a str) -> KeyFuture<'a> {
        Box::pin(async { Ok(None) })
    }

    /// Takes the stream for this pod before its first frame. A cluster
    /// claims ownership here and says where another pod left off.
    fn claim<'a>(&'a self, _stream: &'a str) -> ClaimFuture<'a> {
        Box::pin(async { Ok(None) })
    }

    /// The publisher of `stream` left (for on_unpublish webhooks). Must not
    /// block: spawn anything slow.
    fn unpublished(&self, _stream: &str, _peer: SocketAddr) {}
}

/// Accepts publishers until `shutdown` turns true; then asks every open
/// publisher to reconnect elsewhere and returns once they are gone.
pub async fn run(
    listener: TcpListener,
    registry: Arc<Registry>,
    authorizer: Arc<dyn StreamAuthorizer>,
    config: IngestConfig,
    shutdown: watch::Receiver<bool>,
) {
    let workers = workers::Workers::start(config.worker_threads);
    let max_connections = config.max_connections;
    let config = Arc::new(config);
    let connection_shutdown = shutdown.clone();
    accept_until_shutdown(listener, max_connections, shutdown, "RTMP", |socket, peer| {
        let context = connection::Context {
            registry: registry.clone(),
            authorizer: authorizer.clone(),
            config: config.clone(),
            shutdown: connection_shutdown.clone(),
        };
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

/// The accept loop every publisher protocol shares: Nagle off, at most
/// `max_connections` at once (more are refused, not queued), accept errors
/// waited out, and on `shutdown` no more accepts; returns once every
/// connection `serve` started has finished.
pub async fn accept_until_shutdown<F>(
    listener: TcpListener,
    max_connections: usize,
    mut shutdown: watch::Receiver<bool>,
    protocol: &'static str,
    mut serve: impl FnMut(tokio::net::TcpStream, SocketAddr) -> F,
) where
    F: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(max_connections));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let (socket, peer) = match accepted {
            Ok(connection) => connection,
            Err(error) => {
                tracing::warn!(%error, protocol, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, protocol, "connection limit reached; refusing publisher");
            continue;
        };
        let _ = socket.set_nodelay(true);
        let served = serve(socket, peer);
        tasks.spawn(async move {
            served.await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}
