//! The accept loop every server shares.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// Nagle off, at most `max_connections` at once (more are refused, not
/// queued), accept errors waited out, and on `shutdown` no more accepts;
/// returns once every connection `serve` started has finished.
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
