//! HTTP/1.1 on a [`Listener`]: hyper's HTTP/1 connection serving an axum
//! router, with the client's address (behind trusted proxies, see
//! [`crate::TrustedProxies`]) in each request's `ConnectInfo`, and a
//! graceful finish when the shutdown begins (the request in flight
//! completes, keep-alive ends).
//!
//! The listener knows whether a request is in flight: from the moment a
//! request has been received whole (headers and body) or answered, until
//! its response has been written whole, the connection is serving. Then
//! it has no idle deadline (a blocking playlist reload parks for seconds
//! without a byte moving) and cannot be evicted. Between requests it is
//! waiting: the next request's headers and body must arrive within
//! [`crate::Limits::useful_within`] of its first byte (from accept, for
//! the first request), and before that byte the idle timeout applies.
//!
//! hyper's own `header_read_timeout` is not used: it also closes keep-alive
//! connections that are idle between requests after that timeout, and a
//! browser that reuses such a connection just as it closes retries the
//! request, which stalled hls.js in the end-to-end test. Here an idle
//! keep-alive connection lives for the (longer) idle timeout.
//!
//! HTTP/1 only, through hyper's HTTP/1 connection rather than axum's
//! serve: origins speak plain HTTP to CDNs and players (browsers never use
//! HTTP/2 without TLS), and the HTTP/1-only connection is about 3 KB
//! smaller per parked viewer (docs/benchmarks.md).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tower::ServiceExt;

use crate::{Activity, Connection, Listener, Shutdown, TrustedProxies};

/// Serves `router` on `listener` until `shutdown`'s drain ends.
pub async fn serve(listener: Listener, router: Router, shutdown: Shutdown) {
    let trusted = Arc::new(listener.proxies().trusted.clone());
    listener.serve(shutdown, move |connection| serve_connection(connection, router.clone(), trusted.clone())).await
}

async fn serve_connection(connection: Connection, router: Router, trusted: Arc<TrustedProxies>) {
    let Connection { stream, peer, useful, shutdown } = connection;
    let activity = useful.0;
    let service = hyper::service::service_fn(move |request: axum::http::Request<Incoming>| {
        let exchange = Exchange::begin(activity.clone());
        // Everything downstream (access policies, IP-bound tokens, on_play,
        // the audit log, login throttling) reads the client from here.
        let client = trusted.client_address(peer.ip(), request.headers());
        let port = if client == peer.ip() { peer.port() } else { 0 };
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(ConnectInfo(SocketAddr::new(client, port)));
        let body = RequestBody::new(body, &exchange);
        let request = axum::http::Request::from_parts(parts, body);
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await?;
            // Answered: the request is being served even if its body was not read.
            exchange.received();
            Ok::<_, std::convert::Infallible>(response.map(|body| ResponseBody { body, _exchange: exchange }))
        }
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

/// One request and its response, as the listener sees them: counted as
/// served from the moment it is received whole or answered, until the
/// response body is dropped (written whole, or the connection gone).
struct Exchange {
    activity: Arc<Activity>,
    counted: AtomicBool,
}

impl Exchange {
    fn begin(activity: Arc<Activity>) -> Arc<Self> {
        Arc::new(Self { activity, counted: AtomicBool::new(false) })
    }

    fn received(&self) {
        if !self.counted.swap(true, Ordering::Relaxed) {
            self.activity.request_started();
        }
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if *self.counted.get_mut() {
            self.activity.request_finished();
        }
    }
}

/// The request body: the request counts as received once it ends (at once
/// for a request without a body).
struct RequestBody {
    body: Incoming,
    exchange: Option<Arc<Exchange>>,
}

impl RequestBody {
    fn new(body: Incoming, exchange: &Arc<Exchange>) -> Self {
        if HttpBody::is_end_stream(&body) {
            exchange.received();
            return Self { body, exchange: None };
        }
        Self { body, exchange: Some(exchange.clone()) }
    }
}

impl HttpBody for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(context);
        let ended = matches!(polled, Poll::Ready(None)) || HttpBody::is_end_stream(&this.body);
        if ended {
            if let Some(exchange) = this.exchange.take() {
                exchange.received();
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The response body, holding its exchange until hyper is done with it.
struct ResponseBody {
    body: Body,
    _exchange: Arc<Exchange>,
}

impl HttpBody for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests;
