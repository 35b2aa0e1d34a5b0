//! The listener against real sockets on loopback; timeouts in simulated
//! time (tokio's paused clock advances when every task waits).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::*;
use crate::table::{Caps, Table};

async fn bound(limits: Limits) -> (Listener, SocketAddr) {
    let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    (Listener::new("test", socket, limits), address)
}

/// Connects from `from` (any 127.0.0.0/8 address works on Linux).
async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// True when the server closed the connection (EOF or reset).
async fn closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.read(&mut byte).await, Ok(0) | Err(_))
}

/// Still open: nothing to read and no EOF.
fn open(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.try_read(&mut byte), Err(error) if error.kind() == std::io::ErrorKind::WouldBlock)
}

/// Waits until the listener's counters satisfy `check`, looking every
/// millisecond (of simulated time, where the test pauses the clock) for at
/// most two minutes.
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

type Handler = Box<dyn Fn(Connection) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

/// A handler that keeps the connection until `release` is notified.
fn holding(release: Arc<Notify>, mark_useful: bool) -> Handler {
    Box::new(move |connection| {
        let release = release.clone();
        Box::pin(async move {
            if mark_useful {
                connection.useful.mark();
            }
            release.notified().await;
            drop(connection);
        })
    })
}

#[tokio::test]
async fn the_global_cap_refuses_at_accept() {
    let limits = Limits { max_connections: 3, ..Limits::default() };
    let (listener, address) = bound(limits).await;
    let stats = listener.stats();
    let shutdown = Shutdown::new();
    let release = Arc::new(Notify::new());
    tokio::spawn(listener.serve(shutdown.clone(), holding(release.clone(), true)));
    let mut kept = Vec::new();
    for _ in 0..3 {
        kept.push(TcpStream::connect(address).await.unwrap());
    }
    settle(&stats, |stats| stats.open == 3).await;
    let mut fourth = TcpStream::connect(address).await.unwrap();
    assert!(closed(&mut fourth).await, "a connection past the cap is closed at once");
    let snapshot = settle(&stats, |stats| stats.refused_full == 1).await;
    assert_eq!((snapshot.accepted, snapshot.open), (3, 3));
    assert!(kept.iter().all(open));
    drop(kept.pop());
    release.notify_waiters();
    settle(&stats, |stats| stats.open == 0).await;
    let mut again = TcpStream::connect(address).await.unwrap();
    settle(&stats, |stats| stats.accepted == 4).await;
    assert!(open(&again));
    again.shutdown().await.unwrap();
}

#[tokio::test]
async fn one_address_cannot_take_every_slot() {
    let limits = Limits { max_connections: 100, max_per_address: 4, ..Limits::default() };
    let (listener, address) = bound(limits).await;
    let stats = listener.stats();
    let release = Arc::new(Notify::new());
    tokio::spawn(listener.serve(Shutdown::new(), holding(release.clone(), true)));
    let attacker = Ipv4Addr::new(127, 0, 0, 2);
    let mut kept = Vec::new();
    for _ in 0..4 {
        kept.push(connect_from(attacker, address).await);
    }
    settle(&stats, |stats| stats.open == 4).await;
    for _ in 0..10 {
        let mut refused = connect_from(attacker, address).await;
        assert!(closed(&mut refused).await);
    }
    let mut other = connect_from(Ipv4Addr::new(127, 0, 0, 3), address).await;
    let snapshot = settle(&stats, |stats| stats.open == 5).await;
    assert_eq!(snapshot.refused_address, 10);
    assert!(open(&other), "another address still gets in");
    assert!(kept.iter().all(open));
    // Slots come back when connections end.
    drop(kept);
    release.notify_waiters();
    settle(&stats, |stats| stats.open == 0).await;
    let mut back = connect_from(attacker, address).await;
    settle(&stats, |stats| stats.accepted == 6).await;
    assert!(open(&back));
    back.shutdown().await.unwrap();
    other.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_connection_must_become_useful_in_time() {
    let limits = Limits { useful_within: Some(Duration::from_secs(10)), ..Limits::default() };
    let (listener, address) = bound(limits).await;
    let stats = listener.stats();
    let release = Arc::new(Notify::new());
    let count = std::sync::atomic::AtomicUsize::new(0);
    // Every second connection is marked useful at once.
    tokio::spawn(listener.serve(Shutdown::new(), move |connection| {
        let count = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        holding(release.clone(), count.is_multiple_of(2))(connection)
    }));
    let started = Instant::now();
    let mut idle = TcpStream::connect(address).await.unwrap();
    let useful = TcpStream::connect(address).await.unwrap();
    // A byte every second does not buy time: only being useful does.
    for _ in 0..9 {
        idle.write_all(b"x").await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(open(&useful));
    assert!(closed(&mut idle).await);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(10) && waited < Duration::from_secs(11), "closed after {waited:?}");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(open(&useful), "a useful connection has no deadline");
    let snapshot = settle(&stats, |stats| stats.not_useful_in_time == 1).await;
    assert_eq!(snapshot.open, 1);
}

#[tokio::test(start_paused = true)]
async fn idle_connections_are_closed_and_active_ones_kept() {
    let limits = Limits { idle_timeout: Some(Duration::from_secs(30)), ..Limits::default() };
    let (listener, address) = bound(limits).await;
    let stats = listener.stats();
    tokio::spawn(listener.serve(Shutdown::new(), |mut connection: Connection| async move {
        connection.useful.mark();
        let mut buffer = [0u8; 64];
        while matches!(connection.stream.read(&mut buffer).await, Ok(count) if count > 0) {}
    }));
    let mut talker = TcpStream::connect(address).await.unwrap();
    let mut silent = TcpStream::connect(address).await.unwrap();
    let started = Instant::now();
    for _ in 0..6 {
        talker.write_all(b"ping").await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    assert!(open(&talker), "bytes every 10 s keep it open");
    assert!(closed(&mut silent).await);
    assert!(started.elapsed() >= Duration::from_secs(30));
    settle(&stats, |stats| stats.idle == 1).await;
    let stopped = Instant::now();
    assert!(closed(&mut talker).await);
    let waited = stopped.elapsed();
    assert!(waited <= Duration::from_secs(31), "closed {waited:?} after its last byte");
    settle(&stats, |stats| stats.idle == 2 && stats.open == 0).await;
}

#[tokio::test(start_paused = true)]
async fn a_reader_that_stops_reading_is_cut_by_the_write_timeout() {
    let limits = Limits { write_timeout: Some(Duration::from_secs(20)), ..Limits::default() };
    let (listener, address) = bound(limits).await;
    let stats = listener.stats();
    tokio::spawn(listener.serve(Shutdown::new(), |mut connection: Connection| async move {
        connection.useful.mark();
        let chunk = vec![0u8; 64 * 1024];
        while connection.stream.write_all(&chunk).await.is_ok() {}
    }));
    let stalled = TcpStream::connect(address).await.unwrap();
    let snapshot = settle(&stats, |stats| stats.write_stalled == 1).await;
    assert_eq!(snapshot.open, 0);
    drop(stalled);
}

#[tokio::test(start_paused = true)]
async fn drain_stops_accepting_and_cuts_what_is_left_at_the_deadline() {
    let (listener, address) = bound(Limits::default()).await;
    let stats = listener.stats();
    let shutdown = Shutdown::new();
    let served = tokio::spawn(listener.serve(shutdown.clone(), |connection: Connection| async move {
        // Polite connections finish when the drain begins; others ignore it.
        let polite = connection.peer.ip() == IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4));
        if polite {
            connection.shutdown.begun().await;
        } else {
            std::future::pending::<()>().await;
        }
        drop(connection.stream);
    }));
    let mut polite = connect_from(Ipv4Addr::new(127, 0, 0, 4), address).await;
    let mut stubborn = connect_from(Ipv4Addr::new(127, 0, 0, 5), address).await;
    settle(&stats, |stats| stats.open == 2).await;
    let began = Instant::now();
    shutdown.begin(began + Duration::from_secs(5));
    assert!(closed(&mut polite).await);
    assert!(began.elapsed() < Duration::from_secs(1), "the polite one finished at once");
    assert!(closed(&mut stubborn).await);
    assert_eq!(began.elapsed(), Duration::from_secs(5), "the stubborn one was cut at the deadline");
    served.await.unwrap();
    assert!(TcpStream::connect(address).await.is_err(), "nothing listens after the drain");
    let snapshot = stats.snapshot();
    assert_eq!((snapshot.cut_at_drain, snapshot.open), (1, 0));
}

/// A handler that marks the connection useful when its first byte is `U`,
/// and holds every connection until the peer closes it.
fn useful_on_u(connection: Connection) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        let Connection { mut stream, useful, .. } = connection;
        let mut byte = [0u8; 1];
        while matches!(stream.read(&mut byte).await, Ok(1)) {
            if byte[0] == b'U' {
                useful.mark();
            }
        }
    })
}

#[tokio::test]
async fn a_full_listener_evicts_a_waiting_connection_of_the_busiest_address() {
    let limits = Limits { max_connections: 6, ..Limits::default() };
    let (listener, address) = bound(limits).await;
    let stats = listener.stats();
    tokio::spawn(listener.serve(Shutdown::new(), useful_on_u));
    // A publisher is useful; an attacker holds the other five slots with junk.
    let mut publisher = connect_from(Ipv4Addr::new(127, 0, 0, 9), address).await;
    publisher.write_all(b"U").await.unwrap();
    let attacker = Ipv4Addr::new(127, 0, 0, 2);
    let mut junk = Vec::new();
    for _ in 0..5 {
        junk.push(connect_from(attacker, address).await);
        settle(&stats, |stats| stats.open == junk.len() as u64 + 1).await;
    }
    // A camera from a third address handshakes: the attacker's oldest makes room.
    let camera = connect_from(Ipv4Addr::new(127, 0, 0, 3), address).await;
    assert!(closed(&mut junk[0]).await, "the attacker's oldest waiting connection was evicted");
    let snapshot = settle(&stats, |stats| stats.evicted == 1).await;
    assert_eq!((snapshot.open, snapshot.refused_full), (6, 0));
    // The attacker comes back: its own oldest goes, never the camera that
    // is still handshaking (one waiting from its address, four from the attacker's).
    let mut again = connect_from(attacker, address).await;
    assert!(closed(&mut junk[1]).await);
    settle(&stats, |stats| stats.evicted == 2).await;
    assert!(open(&camera) && open(&publisher) && open(&again));
    assert!(junk[2..].iter().all(open));
    // Useful connections are never evicted: with every slot useful, the new one is refused.
    for stream in junk[2..].iter_mut().chain([&mut again]) {
        stream.write_all(b"U").await.unwrap();
    }
    let mut camera = camera;
    camera.write_all(b"U").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut refused = connect_from(attacker, address).await;
    assert!(closed(&mut refused).await);
    let snapshot = settle(&stats, |stats| stats.refused_full == 1).await;
    assert_eq!((snapshot.open, snapshot.evicted), (6, 2));
    assert!(open(&publisher) && open(&camera));
}

#[tokio::test]
async fn an_address_over_its_waiting_share_loses_its_own_oldest() {
    let limits = Limits { max_connections: 100, max_waiting_per_address: 3, ..Limits::default() };
    let (listener, address) = bound(limits).await;
    let stats = listener.stats();
    tokio::spawn(listener.serve(Shutdown::new(), useful_on_u));
    let site = Ipv4Addr::new(127, 0, 0, 2);
    // A publisher behind the site's NAT is useful and does not count.
    let mut publisher = connect_from(site, address).await;
    publisher.write_all(b"U").await.unwrap();
    settle(&stats, |stats| stats.open == 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut waiting = Vec::new();
    for _ in 0..3 {
        waiting.push(connect_from(site, address).await);
    }
    settle(&stats, |stats| stats.open == 4).await;
    let newest = connect_from(site, address).await;
    assert!(closed(&mut waiting[0]).await, "a stale handshake makes room for the new one");
    let snapshot = settle(&stats, |stats| stats.evicted == 1).await;
    assert_eq!(snapshot.open, 4);
    assert!(open(&publisher) && open(&newest) && waiting[1..].iter().all(open));
    let other = connect_from(Ipv4Addr::new(127, 0, 0, 3), address).await;
    settle(&stats, |stats| stats.open == 5).await;
    assert!(open(&other), "another address has its own share");
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_and_an_untrusted_peer_cannot() {
    let trusted = TrustedProxies::new(vec!["127.0.0.2/32".parse().unwrap()], ForwardedHeader::XForwardedFor);
    let (listener, address) = bound(Limits { max_per_address: 1, ..Limits::default() }).await;
    let listener = listener.with_proxies(Proxies { trusted, proxy_protocol: true });
    let stats = listener.stats();
    // Each connection is answered with its peer address and the first line it sent.
    tokio::spawn(listener.serve(Shutdown::new(), |connection: Connection| async move {
        let Connection { mut stream, peer, useful, .. } = connection;
        useful.mark();
        // Everything up to the client's EOF (unread bytes would turn the close into a reset).
        let mut sent = Vec::new();
        let _ = stream.read_to_end(&mut sent).await;
        let line = sent.split(|byte| *byte == b'\n').next().unwrap_or_default();
        let answer = format!("{peer} {}\n", String::from_utf8_lossy(line));
        let _ = stream.write_all(answer.as_bytes()).await;
    }));
    let ask = |from: Ipv4Addr, sent: &'static [u8]| async move {
        let mut stream = connect_from(from, address).await;
        stream.write_all(sent).await.unwrap();
        stream.shutdown().await.unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer).await;
        answer
    };
    let lb = Ipv4Addr::new(127, 0, 0, 2);
    assert_eq!(ask(lb, b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 1935\r\nhello\n").await, "203.0.113.7:51000 hello\n");
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    v2.extend_from_slice(&[198, 51, 100, 4, 10, 0, 0, 1, 0x13, 0x88, 0x07, 0x8f]);
    v2.extend_from_slice(b"hi\n");
    assert_eq!(ask(lb, Box::leak(v2.into_boxed_slice())).await, "198.51.100.4:5000 hi\n");
    // An untrusted peer's header is just bytes of its protocol.
    let untrusted = ask(Ipv4Addr::new(127, 0, 0, 3), b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 1935\r\nhello\n").await;
    assert!(untrusted.starts_with("127.0.0.3:") && untrusted.contains("PROXY TCP4"), "{untrusted}");
    // A trusted peer without a header is cut.
    assert_eq!(ask(lb, b"hello\n").await, "");
    let snapshot = settle(&stats, |stats| stats.proxy_header_failed == 1).await;
    assert_eq!(snapshot.refused_address, 0, "per-address caps count the client, not the load balancer");
}

#[test]
fn the_table_counts_moves_and_releases() {
    let table = Table::new(Caps { max_connections: 10, max_per_address: 2, max_waiting_per_address: 0 });
    let activity = || Activity::new(table.clone());
    let lb: IpAddr = "10.0.0.1".parse().unwrap();
    let client: IpAddr = "203.0.113.7".parse().unwrap();
    let first = table.admit(lb, activity()).unwrap();
    let second = table.admit(lb, activity()).unwrap();
    assert!(second.evicted.is_empty());
    assert_eq!(table.counts(lb), (2, 2, 2));
    table.busy(first.seat);
    assert_eq!(table.counts(lb), (2, 2, 1));
    assert!(table.move_to(second.seat, client).is_empty());
    assert_eq!((table.counts(lb), table.counts(client)), ((2, 1, 0), (2, 1, 1)));
    // IPv6 addresses count by their /64.
    let six_a: IpAddr = "2001:db8:1:2::a".parse().unwrap();
    let six_b: IpAddr = "2001:db8:1:2::b".parse().unwrap();
    let third = table.admit(six_a, activity()).unwrap();
    let fourth = table.admit(six_b, activity()).unwrap();
    let fifth = table.admit(six_a, activity()).unwrap();
    assert_eq!(fifth.evicted.len(), 1, "the /64's oldest waiting one made room");
    assert_eq!(table.counts(six_b).1, 2);
    for seat in [first.seat, second.seat, third.seat, fourth.seat, fifth.seat] {
        table.release(seat);
    }
    assert_eq!(table.counts(lb), (0, 0, 0));
}
