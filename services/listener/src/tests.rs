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

/// A handler that keeps the connection until `release` is notified.
fn holding(
    release: Arc<Notify>,
    mark_useful: bool,
) -> impl FnMut(Connection) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    move |connection| {
        let release = release.clone();
        Box::pin(async move {
            if mark_useful {
                connection.useful.mark();
            }
            release.notified().await;
            drop(connection);
        })
    }
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
    let mut count = 0;
    // Every second connection is marked useful at once.
    tokio::spawn(listener.serve(Shutdown::new(), move |connection| {
        count += 1;
        holding(release.clone(), count % 2 == 0)(connection)
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

#[test]
fn the_address_table_counts_and_releases() {
    let table = AddressTable::new(2);
    let address = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let first = table.take(address).unwrap();
    let second = table.take(address).unwrap();
    assert!(table.take(address).is_none());
    assert_eq!(table.open_from(address), 2);
    drop(first);
    assert_eq!(table.open_from(address), 1);
    drop(second);
    assert_eq!(table.open_from(address), 0);
    let unlimited = AddressTable::new(0);
    let slots: Vec<_> = (0..1000).map(|_| unlimited.take(address).unwrap()).collect();
    assert_eq!(slots.len(), 1000);
}
