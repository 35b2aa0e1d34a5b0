//! HTTP/1.1 on a [`Listener`]: hyper's HTTP/1 connection serving an axum
//! router, with the client address in each request's `ConnectInfo`, and a
//! graceful finish when the shutdown begins (the request in flight
//! completes, keep-alive ends). The first request's headers must arrive
//! within the listener's [`crate::Limits::useful_within`]; a keep-alive
//! connection is then bounded by the idle timeout.
//!
//! hyper's own `header_read_timeout` is not used: it also closes keep-alive
//! connections that are idle between requests after that timeout, and a
//! browser that reuses such a connection just as it closes retries the
//! request, which stalled hls.js in the end-to-end test.
//!
//! HTTP/1 only, through hyper's HTTP/1 connection rather than axum's
//! serve: origins speak plain HTTP to CDNs and players (browsers never use
//! HTTP/2 without TLS), and the HTTP/1-only connection is about 3 KB
//! smaller per parked viewer (docs/benchmarks.md).

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tower::ServiceExt;

use crate::{Connection, Listener, Shutdown};

/// Serves `router` on `listener` until `shutdown`'s drain ends. A request
/// arriving makes the connection useful.
pub async fn serve(listener: Listener, router: Router, shutdown: Shutdown) {
    listener.serve(shutdown, move |connection| serve_connection(connection, router.clone())).await
}

async fn serve_connection(connection: Connection, router: Router) {
    let Connection { stream, peer, useful, shutdown } = connection;
    // The peer address feeds access policies (allow-lists, IP-bound tokens).
    let service = hyper::service::service_fn(move |mut request: axum::http::Request<Incoming>| {
        useful.mark();
        request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
        router.clone().oneshot(request)
    });
    // Half-close: a parked viewer's connection is not read for EOF while
    // its request waits, which would cost a second 8 KiB read buffer per
    // viewer. A viewer that left is noticed when its response is written.
    let served =
        hyper::server::conn::http1::Builder::new().half_close(true).serve_connection(TokioIo::new(stream), service);
    let mut served = std::pin::pin!(served);
    let finished = tokio::select! {
        finished = served.as_mut() => finished,
        _ = shutdown.begun() => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(error) = finished {
        tracing::debug!(%peer, %error, "HTTP connection ended with an error");
    }
}
