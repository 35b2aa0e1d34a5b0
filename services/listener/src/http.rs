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
//! A plain port speaks HTTP/1 only, through hyper's HTTP/1 connection
//! rather than axum's serve: browsers never use HTTP/2 without TLS, and
//! the HTTP/1-only connection is about 3 KB smaller per parked viewer
//! (docs/benchmarks.md). A TLS port ([`serve_tls`]) speaks HTTP/2 or
//! HTTP/1.1 as ALPN decides. Each port refuses the other's clients at
//! once with a message instead of leaving them waiting for a timeout.

use std::convert::Infallible;
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
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tower::ServiceExt;

use crate::tls::{TlsPorts, TLS_HANDSHAKE_RECORD};
use crate::{Activity, Connection, GuardedStream, Listener, Shutdown, TrustedProxies};

/// A fatal TLS `protocol_version` alert: what a TLS client that reached a
/// plain port is told, so it fails at once and says why.
const TLS_REFUSAL_ALERT: [u8; 7] = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46];
/// What a plain-text client that reached a TLS port is told.
const PLAINTEXT_REFUSAL: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Length: 39\r\nConnection: close\r\n\r\nThis port speaks HTTPS: use https:// .\n";
/// Streams one HTTP/2 connection may have open at once: a player keeps a
/// few (blocking playlist reload, preload hint, part), a CDN more.
const HTTP2_MAX_STREAMS: u32 = 100;

/// In the extensions of every request that came over TLS on this
/// process's own port (not through a TLS-terminating proxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServedOverTls;

/// Serves `router` on `listener` (plain HTTP/1.1) until `shutdown`'s drain ends.
pub async fn serve(listener: Listener, router: Router, shutdown: Shutdown) {
    let trusted = Arc::new(listener.proxies().trusted.clone());
    listener
        .serve(shutdown, move |connection| {
            let (router, trusted) = (router.clone(), trusted.clone());
            async move {
                if first_byte(&connection.stream).await == Some(TLS_HANDSHAKE_RECORD) {
                    return refuse(connection, &TLS_REFUSAL_ALERT, "TLS handshake on a plain HTTP port").await;
                }
                let Connection { stream, peer, useful, shutdown } = connection;
                let service = exchanges(router, trusted, peer, useful.0, false);
                serve_http1(stream, service, peer, shutdown).await
            }
        })
        .await
}

/// Serves `router` on `listener` over TLS (HTTP/2 or HTTP/1.1 by ALPN)
/// until `shutdown`'s drain ends.
pub async fn serve_tls(listener: Listener, router: Router, shutdown: Shutdown, tls: TlsPorts) {
    let trusted = Arc::new(listener.proxies().trusted.clone());
    listener
        .serve(shutdown, move |connection| {
            let (router, trusted, tls) = (router.clone(), trusted.clone(), tls.clone());
            async move {
                match first_byte(&connection.stream).await {
                    Some(TLS_HANDSHAKE_RECORD) => {}
                    Some(_) => {
                        tls.certificates.note_plaintext_refused();
                        return refuse(connection, PLAINTEXT_REFUSAL, "plain HTTP on a TLS port").await;
                    }
                    None => return,
                }
                let Connection { stream, peer, useful, shutdown } = connection;
                let stream = match tls.http().accept(stream).await {
                    Ok(stream) => stream,
                    Err(error) => {
                        tls.certificates.note_handshake_failure();
                        return tracing::debug!(%peer, %error, "TLS handshake failed");
                    }
                };
                let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                let service = exchanges(router, trusted, peer, useful.0, true);
                if http2 {
                    serve_http2(stream, service, peer, shutdown).await
                } else {
                    serve_http1(stream, service, peer, shutdown).await
                }
            }
        })
        .await
}

/// The first byte the client sent, left unread; `None` if it closed first.
async fn first_byte(stream: &GuardedStream) -> Option<u8> {
    let mut byte = [0u8; 1];
    match stream.get_ref().peek(&mut byte).await {
        Ok(1) => Some(byte[0]),
        _ => None,
    }
}

async fn refuse(connection: Connection, answer: &[u8], why: &'static str) {
    let Connection { mut stream, peer, .. } = connection;
    tracing::debug!(%peer, why, "connection refused");
    let _ = stream.write_all(answer).await;
    let _ = stream.shutdown().await;
}

/// Every request of one connection as an [`Exchange`], with the client's
/// address in its `ConnectInfo`.
fn exchanges(
    router: Router,
    trusted: Arc<TrustedProxies>,
    peer: SocketAddr,
    activity: Arc<Activity>,
    over_tls: bool,
) -> impl hyper::service::Service<
    axum::http::Request<Incoming>,
    Response = axum::http::Response<ResponseBody>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<axum::http::Response<ResponseBody>, Infallible>> + Send + 'static,
> + Clone
       + Send
       + 'static {
    hyper::service::service_fn(move |request: axum::http::Request<Incoming>| {
        let exchange = Exchange::begin(activity.clone());
        // Everything downstream (access policies, IP-bound tokens, on_play,
        // the audit log, login throttling) reads the client from here.
        let client = trusted.client_address(peer.ip(), request.headers());
        let port = if client == peer.ip() { peer.port() } else { 0 };
        let (mut parts, body) = request.into_parts();
        // HTTP/2 names the host in :authority; the routes read Host, as in HTTP/1.1.
        if !parts.headers.contains_key(axum::http::header::HOST) {
            let authority = parts.uri.authority().and_then(|authority| authority.as_str().parse().ok());
            if let Some(host) = authority {
                parts.headers.insert(axum::http::header::HOST, host);
            }
        }
        parts.extensions.insert(ConnectInfo(SocketAddr::new(client, port)));
        if over_tls {
            parts.extensions.insert(ServedOverTls);
        }
        let body = RequestBody::new(body, &exchange);
        let request = axum::http::Request::from_parts(parts, body);
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await?;
            // Answered: the request is being served even if its body was not read.
            exchange.received();
            Ok::<_, Infallible>(response.map(|body| ResponseBody { body, _exchange: exchange }))
        }
    })
}

async fn serve_http1<S, Service>(stream: S, service: Service, peer: SocketAddr, shutdown: Shutdown)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    Service: hyper::service::HttpService<Incoming, ResBody = ResponseBody>,
    Service::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
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
    log_end(finished, peer, "HTTP/1.1");
}

async fn serve_http2<S, Service>(stream: S, service: Service, peer: SocketAddr, shutdown: Shutdown)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    Service: hyper::service::HttpService<Incoming, ResBody = ResponseBody> + Send + 'static,
    Service::Future: Send + 'static,
    Service::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let served = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .max_concurrent_streams(HTTP2_MAX_STREAMS)
        .serve_connection(TokioIo::new(stream), service);
    let mut served = std::pin::pin!(served);
    let finished = tokio::select! {
        finished = served.as_mut() => finished,
        _ = shutdown.begun() => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    log_end(finished, peer, "HTTP/2");
}

fn log_end(finished: hyper::Result<()>, peer: SocketAddr, protocol: &'static str) {
    if let Err(error) = finished {
        tracing::debug!(%peer, %error, protocol, "HTTP connection ended with an error");
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
pub(crate) struct ResponseBody {
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
