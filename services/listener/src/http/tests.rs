//! HTTP on the listener against a raw client on loopback, in simulated
//! time: per-request header deadlines, keep-alive idleness, parked
//! requests, slow bodies, eviction and client addresses.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::Instant;

use crate::{ForwardedHeader, Limits, Listener, ListenerStats, Proxies, Shutdown, StatsSnapshot, TrustedProxies};

const WITHIN: Duration = Duration::from_secs(5);
const IDLE: Duration = Duration::from_secs(20);

fn limits() -> Limits {
    Limits {
        max_connections: 100,
        useful_within: Some(WITHIN),
        idle_timeout: Some(IDLE),
        write_timeout: Some(Duration::from_secs(10)),
        ..Limits::default()
    }
}

fn router() -> Router {
    Router::new()
        .route("/fast", get(|| async { "ok" }))
        // Parked longer than the idle timeout, as a blocking reload may be.
        .route(
            "/park",
            get(|| async {
                tokio::time::sleep(IDLE + Duration::from_secs(10)).await;
                "late"
            }),
        )
        .route("/echo", post(|body: String| async move { body }))
        .route("/who", get(|ConnectInfo(client): ConnectInfo<SocketAddr>| async move { client.ip().to_string() }))
}

async fn serve(limits: Limits, proxies: Proxies) -> (SocketAddr, std::sync::Arc<ListenerStats>) {
    let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    let listener = Listener::new("http", socket, limits).with_proxies(proxies);
    let stats = listener.stats();
    tokio::spawn(super::serve(listener, router(), Shutdown::new()));
    (address, stats)
}

async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// Sends `request` and reads one response with a Content-Length body;
/// `None` if the connection closed first.
async fn exchange(stream: &mut TcpStream, request: &str) -> Option<String> {
    stream.write_all(request.as_bytes()).await.ok()?;
    read_response(stream).await
}

async fn read_response(stream: &mut TcpStream) -> Option<String> {
    let mut received = Vec::new();
    let mut byte = [0u8; 1];
    while !received.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => received.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&received).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.ok()?;
    Some(String::from_utf8_lossy(&body).into_owned())
}

/// Sends `bytes` (the last one over and over) a byte a second until the
/// server closes the connection; false if it never did within a minute.
async fn drip_until_closed(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    let mut buffer = [0u8; 1024];
    for index in 0..60 {
        let byte = bytes[index.min(bytes.len() - 1)];
        if stream.write_all(&[byte]).await.is_err() {
            return true;
        }
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer)).await {
            return true;
        }
    }
    false
}

async fn closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.read(&mut byte).await, Ok(0) | Err(_))
}

async fn settle(stats: &ListenerStats, check: impl Fn(&StatsSnapshot) -> bool) -> StatsSnapshot {
    for _ in 0..120_000 {
        let snapshot = stats.snapshot();
        if check(&snapshot) {
            return snapshot;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("counters never settled: {:?}", stats.snapshot());
}

const FAST: &str = "GET /fast HTTP/1.1\r\nHost: relay\r\n\r\n";

#[tokio::test(start_paused = true)]
async fn every_request_on_a_keep_alive_connection_has_a_header_deadline() {
    let (address, stats) = serve(limits(), Proxies::default()).await;
    let mut slow = TcpStream::connect(address).await.unwrap();
    assert_eq!(exchange(&mut slow, FAST).await.as_deref(), Some("ok"));
    // Idle between requests is fine for longer than the header deadline.
    tokio::time::sleep(WITHIN * 2).await;
    assert_eq!(exchange(&mut slow, FAST).await.as_deref(), Some("ok"), "a keep-alive connection outlives WITHIN");
    // The next request's headers drip in, a byte a second.
    let started = Instant::now();
    assert!(drip_until_closed(&mut slow, b"GET /fast HTTP/1.1\r\nX-Slow: ").await);
    let waited = started.elapsed();
    assert!(
        waited >= WITHIN && waited <= WITHIN + WITHIN / 2 + Duration::from_secs(1),
        "cut {waited:?} after its first byte"
    );
    let snapshot = settle(&stats, |stats| stats.not_useful_in_time == 1).await;
    assert_eq!((snapshot.idle, snapshot.open), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn an_idle_keep_alive_connection_lives_for_the_idle_timeout() {
    let (address, stats) = serve(limits(), Proxies::default()).await;
    let mut idle = TcpStream::connect(address).await.unwrap();
    assert_eq!(exchange(&mut idle, FAST).await.as_deref(), Some("ok"));
    let answered = Instant::now();
    assert!(closed(&mut idle).await);
    let waited = answered.elapsed();
    assert!(waited >= IDLE && waited <= IDLE + Duration::from_secs(1), "closed {waited:?} after the response");
    settle(&stats, |stats| stats.idle == 1 && stats.not_useful_in_time == 0).await;
    // A connection that never sends a request has only WITHIN.
    let mut silent = TcpStream::connect(address).await.unwrap();
    let opened = Instant::now();
    assert!(closed(&mut silent).await);
    assert!(opened.elapsed() <= WITHIN + Duration::from_secs(1));
    settle(&stats, |stats| stats.not_useful_in_time == 1).await;
}

#[tokio::test(start_paused = true)]
async fn a_parked_request_is_not_idle() {
    let (address, stats) = serve(limits(), Proxies::default()).await;
    let mut viewer = TcpStream::connect(address).await.unwrap();
    let asked = Instant::now();
    assert_eq!(exchange(&mut viewer, "GET /park HTTP/1.1\r\nHost: relay\r\n\r\n").await.as_deref(), Some("late"));
    assert!(asked.elapsed() >= IDLE + Duration::from_secs(10), "held past the idle timeout");
    assert_eq!(exchange(&mut viewer, FAST).await.as_deref(), Some("ok"), "and the connection goes on");
    let snapshot = stats.snapshot();
    assert_eq!((snapshot.idle, snapshot.not_useful_in_time, snapshot.open), (0, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn a_body_that_drips_is_cut_at_the_deadline() {
    let (address, stats) = serve(limits(), Proxies::default()).await;
    let mut slow = TcpStream::connect(address).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"POST /echo HTTP/1.1\r\nHost: relay\r\nContent-Length: 100\r\n\r\n0123456789").await.unwrap();
    assert!(drip_until_closed(&mut slow, b"x").await);
    assert!(started.elapsed() <= WITHIN + Duration::from_secs(1), "cut after {:?}", started.elapsed());
    settle(&stats, |stats| stats.not_useful_in_time == 1).await;
    // A body that arrives in time is served.
    let mut quick = TcpStream::connect(address).await.unwrap();
    let posted = exchange(&mut quick, "POST /echo HTTP/1.1\r\nHost: relay\r\nContent-Length: 5\r\n\r\nhello").await;
    assert_eq!(posted.as_deref(), Some("hello"));
}

#[tokio::test(start_paused = true)]
async fn a_full_listener_evicts_waiting_connections_never_parked_ones() {
    let (address, stats) = serve(Limits { max_connections: 3, ..limits() }, Proxies::default()).await;
    let mut parked = connect_from(Ipv4Addr::new(127, 0, 0, 2), address).await;
    parked.write_all(b"GET /park HTTP/1.1\r\nHost: relay\r\n\r\n").await.unwrap();
    let mut kept_alive = connect_from(Ipv4Addr::new(127, 0, 0, 3), address).await;
    assert_eq!(exchange(&mut kept_alive, FAST).await.as_deref(), Some("ok"));
    let mut junk = connect_from(Ipv4Addr::new(127, 0, 0, 4), address).await;
    junk.write_all(b"GET /fa").await.unwrap();
    settle(&stats, |stats| stats.open == 3).await;
    // Two newcomers: the longest-waiting connections make room, each from
    // an address with one waiting connection; the parked one stays.
    let mut first = connect_from(Ipv4Addr::new(127, 0, 0, 5), address).await;
    assert!(closed(&mut kept_alive).await, "the idle keep-alive connection waited longest");
    assert_eq!(exchange(&mut first, FAST).await.as_deref(), Some("ok"));
    let mut second = connect_from(Ipv4Addr::new(127, 0, 0, 6), address).await;
    assert!(closed(&mut junk).await);
    assert_eq!(exchange(&mut second, FAST).await.as_deref(), Some("ok"));
    assert_eq!(read_response(&mut parked).await.as_deref(), Some("late"), "the parked request was answered");
    let snapshot = settle(&stats, |stats| stats.evicted == 2).await;
    assert_eq!(snapshot.refused_full, 0);
}

#[tokio::test]
async fn the_client_address_is_the_trusted_proxies_word_or_the_peer() {
    let trusted = TrustedProxies::new(vec!["127.0.0.2/32".parse().unwrap()], ForwardedHeader::XForwardedFor);
    let (address, _) = serve(limits(), Proxies { trusted: trusted.clone(), proxy_protocol: false }).await;
    let who = |from: Ipv4Addr, headers: &'static str| async move {
        let mut stream = connect_from(from, address).await;
        exchange(&mut stream, &format!("GET /who HTTP/1.1\r\nHost: relay\r\n{headers}\r\n")).await.unwrap()
    };
    let forwarded = "X-Forwarded-For: 192.0.2.1, 203.0.113.7\r\n";
    assert_eq!(who(Ipv4Addr::new(127, 0, 0, 2), forwarded).await, "203.0.113.7");
    assert_eq!(who(Ipv4Addr::new(127, 0, 0, 3), forwarded).await, "127.0.0.3", "an untrusted peer is itself");
    assert_eq!(who(Ipv4Addr::new(127, 0, 0, 2), "").await, "127.0.0.2");

    // Behind a load balancer speaking the PROXY protocol.
    let (address, stats) = serve(limits(), Proxies { trusted, proxy_protocol: true }).await;
    let mut through_lb = connect_from(Ipv4Addr::new(127, 0, 0, 2), address).await;
    let request = "PROXY TCP4 198.51.100.4 10.0.0.1 5000 80\r\nGET /who HTTP/1.1\r\nHost: relay\r\n\r\n";
    assert_eq!(exchange(&mut through_lb, request).await.as_deref(), Some("198.51.100.4"));
    let mut forged = connect_from(Ipv4Addr::new(127, 0, 0, 3), address).await;
    assert_ne!(exchange(&mut forged, request).await.as_deref(), Some("198.51.100.4"), "not believed from anyone else");
    let mut bare = connect_from(Ipv4Addr::new(127, 0, 0, 2), address).await;
    assert_eq!(exchange(&mut bare, FAST).await, None, "the load balancer always sends the header");
    settle(&stats, |stats| stats.proxy_header_failed == 1).await;
}
