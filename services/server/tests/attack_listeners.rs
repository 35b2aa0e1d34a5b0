//! Attacks on the listeners of a real `relay all` on loopback, each with
//! the outcome it must have (docs/security.md):
//!
//! - 100 RTMP connections that never name a key, each pushing 2 MiB of
//!   one message: the server holds at most 64 KiB for each.
//! - 1,000 RTMP connections dripping a handshake byte every 5 s, from 50
//!   addresses, reconnecting whenever closed: a real ffmpeg publish with a
//!   valid key still succeeds and plays.
//! - 2,000 slowloris HTTP connections and 500 idle keep-alive ones against
//!   a listener capped at 1,500: a viewer keeps getting new parts, and the
//!   server's memory stays bounded.
//! - PROXY protocol v1/v2 and X-Forwarded-For from a trusted peer name the
//!   client (seen by an IP allow-list and the publisher's log line); from
//!   anyone else they change nothing.
//!
//! Floods are bounded in count and time and stay on 127.0.0.0/8 (Linux
//! routes all of it to loopback, which gives the attackers addresses of
//! their own).

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{http, require_tool, run_with_timeout, tools, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const TIMEOUT: Duration = Duration::from_secs(10);
/// How long each flood runs.
const FLOOD: Duration = Duration::from_secs(30);
/// Attackers come from 127.0.0.10 .. 127.0.0.59.
const ATTACKER_ADDRESSES: usize = 50;

fn attacker(index: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 10 + (index % ATTACKER_ADDRESSES) as u8)
}

/// The server's resident memory, in KiB.
fn rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).expect("server status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// One counter of the server's /metrics for `listener`.
fn metric(server: &Server, name: &str, listener: &str) -> u64 {
    let metrics = http::get(&server.admin_url("/metrics"), TIMEOUT).expect("metrics");
    let series = format!("{name}{{listener=\"{listener}\"}} ");
    metrics
        .text()
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics"))
}

/// Up to the hard limit: the test holds thousands of sockets, and the
/// server (its child) inherits the limit.
fn raise_file_limit(needed: u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(
        soft >= needed,
        "this test needs {needed} open files and the soft limit is {soft}: raise it (ulimit -n) up to the hard limit"
    );
}

fn server_address(url: &str) -> SocketAddr {
    let authority = url.trim_start_matches("rtmp://").trim_start_matches("http://");
    let authority = authority.split('/').next().unwrap_or_default();
    authority.parse().unwrap_or_else(|_| panic!("no address in {url}"))
}

async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0))?;
    socket.connect(to).await
}

/// Attackers on a runtime of their own, stopped and joined when dropped.
struct Flood {
    runtime: Option<tokio::runtime::Runtime>,
    stop: Arc<AtomicBool>,
    /// Attack connections open right now.
    open: Arc<AtomicUsize>,
    /// Connections the attackers opened in all.
    opened: Arc<AtomicUsize>,
}

/// What each attacker connection does.
#[derive(Clone, Copy)]
enum Attack {
    /// Sends `bytes` one at a time, one every `every`.
    Drip { bytes: &'static [u8], every: Duration },
    /// Sends `request`, reads what comes back, then sits silent.
    Idle { request: &'static [u8] },
}

impl Flood {
    /// `count` attackers on `target`, each back `reconnect` after the
    /// server closed its connection.
    fn start(target: SocketAddr, count: usize, attack: Attack, reconnect: Duration) -> Flood {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (open, opened): (Arc<AtomicUsize>, Arc<AtomicUsize>) = (Arc::default(), Arc::default());
        for index in 0..count {
            let (stop, open, opened) = (stop.clone(), open.clone(), opened.clone());
            runtime.spawn(async move {
                // Spread the connects over a second, as a real attack ramps up.
                tokio::time::sleep(Duration::from_millis((index % 1000) as u64)).await;
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(stream) = connect_from(attacker(index), target).await {
                        opened.fetch_add(1, Ordering::Relaxed);
                        open.fetch_add(1, Ordering::Relaxed);
                        hold(stream, attack, &stop).await;
                        open.fetch_sub(1, Ordering::Relaxed);
                    }
                    tokio::time::sleep(reconnect).await;
                }
            });
        }
        Flood { runtime: Some(runtime), stop, open, opened }
    }

    fn wait_open(&self, at_least: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.open.load(Ordering::Relaxed) < at_least {
            assert!(
                Instant::now() < deadline,
                "only {} of {at_least} attack connections open",
                self.open.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// Keeps one attack connection until the server closes it or the flood stops.
async fn hold(mut stream: TcpStream, attack: Attack, stop: &AtomicBool) {
    let mut buffer = [0u8; 4096];
    let mut next = 0;
    if let Attack::Idle { request } = attack {
        if stream.write_all(request).await.is_err() {
            return;
        }
    }
    while !stop.load(Ordering::Relaxed) {
        let every = match attack {
            Attack::Drip { bytes, every } => {
                let byte = bytes[next.min(bytes.len() - 1)];
                next += 1;
                if stream.write_all(&[byte]).await.is_err() {
                    return;
                }
                every
            }
            Attack::Idle { .. } => Duration::from_secs(1),
        };
        tokio::select! {
            read = stream.read(&mut buffer) => if matches!(read, Ok(0) | Err(_)) { return },
            _ = tokio::time::sleep(every) => {}
        }
    }
}

#[test]
fn rtmp_drip_connections_cannot_lock_out_a_publisher() {
    let _turn = common::exclusive();
    raise_file_limit(3000);
    let server = Server::start();
    let rtmp = server_address(&server.rtmp_url);
    let before = rss_kib(&server);

    // C0 and C1 one byte at a time: the handshake never completes.
    let handshake: &'static [u8] = Box::leak(vec![3u8; 1537].into_boxed_slice());
    let flood = Flood::start(
        rtmp,
        1000,
        Attack::Drip { bytes: handshake, every: Duration::from_secs(5) },
        Duration::from_millis(100),
    );
    flood.wait_open(950, Duration::from_secs(20));
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    assert!(metric(&server, "relay_listener_open_connections", "rtmp") >= 950, "the flood fills the listener");

    // A real publisher with a valid key gets in and its stream plays.
    let mut publisher = tools::spawn_publisher(&server.publish_url(), 40);
    common::hls::wait_for_segments(&server.playlist_url, 2, Duration::from_secs(25));
    let reader = run_with_timeout(
        Command::new(require_tool("ffmpeg"))
            .args(["-hide_banner", "-nostdin", "-v", "error"])
            .args(["-i", &server.playlist_url])
            .args(["-t", "4", "-f", "null", "-"]),
        Duration::from_secs(40),
    );
    assert!(reader.success(), "the stream did not play during the flood: {reader}");
    while started.elapsed() < FLOOD {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(publisher.try_wait().is_none(), "the publisher was cut: {}", publisher.stderr_tail());
    let during = rss_kib(&server);
    let still_open = flood.open.load(Ordering::Relaxed);
    let opened = flood.opened.load(Ordering::Relaxed);
    drop(flood);

    let evicted = metric(&server, "relay_listener_evicted_total", "rtmp");
    let not_useful = metric(&server, "relay_listener_not_useful_total", "rtmp");
    let refused = metric(&server, "relay_listener_refused_full_total", "rtmp");
    eprintln!(
        "RTMP drip flood: {opened} attack connections opened, {still_open} open at the end; evicted {evicted}, \
         not useful in time {not_useful}, refused {refused}; RSS {before} KiB before, {during} KiB during"
    );
    assert!(evicted >= 1, "the publisher got in by evicting a waiting attacker");
    assert_eq!(refused, 0, "waiting connections make room; nothing is refused at accept");
    assert!(not_useful >= 900, "drip connections are cut 10 s after accept, bytes or not");
    // 1,000 connections that never published: a few KiB each, not 8 MiB.
    let grown_mib = during.saturating_sub(before) / 1024;
    assert!(grown_mib < 96, "RSS grew by {grown_mib} MiB with 1,000 unauthenticated RTMP connections");
    // Refusals and cuts are logged once per address and reason per minute.
    let lines = server.stderr_tail();
    let noisy = lines.lines().filter(|line| line.contains("connection evicted") || line.contains("not useful in time"));
    assert!(noisy.count() <= 2 * ATTACKER_ADDRESSES + 10, "the flood floods the log:\n{lines}");
}

/// Completes the RTMP handshake, sets a 4 MiB chunk size and starts a
/// 4,000,000-byte video message without ever naming a stream key; sends
/// up to `bytes` of it as fast as the server takes them. Returns the
/// connection, still open or not.
async fn unauthenticated_bulk(from: Ipv4Addr, to: SocketAddr, bytes: usize) -> Option<TcpStream> {
    let mut stream = connect_from(from, to).await.ok()?;
    let mut hello = vec![3u8];
    hello.extend_from_slice(&[0u8; 1536]);
    stream.write_all(&hello).await.ok()?;
    let mut reply = vec![0u8; 1 + 2 * 1536];
    stream.read_exact(&mut reply).await.ok()?;
    let mut message = reply[1..1537].to_vec(); // C2 echoes S1
                                               // Set Chunk Size (type 1) to 4 MiB on chunk stream 2.
    message.extend_from_slice(&[0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0]);
    message.extend_from_slice(&(4u32 << 20).to_be_bytes());
    // A video message (type 9) of 4,000,000 bytes on chunk stream 4, stream 1.
    message.extend_from_slice(&[0x04, 0, 0, 0, 0x3d, 0x09, 0x00, 9, 1, 0, 0, 0]);
    stream.write_all(&message).await.ok()?;
    let chunk = vec![0x17u8; 64 * 1024];
    let mut sent = 0;
    while sent < bytes {
        match tokio::time::timeout(Duration::from_secs(2), stream.write_all(&chunk)).await {
            Ok(Ok(())) => sent += chunk.len(),
            _ => break,
        }
    }
    Some(stream)
}

#[test]
fn rtmp_connections_without_a_key_buffer_little() {
    let _turn = common::exclusive();
    let server = Server::start();
    let rtmp = server_address(&server.rtmp_url);
    let before = rss_kib(&server);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    // 100 connections from 10 addresses, each pushing 2 MiB of one message.
    let held: Vec<Option<TcpStream>> = runtime.block_on(async {
        let pushes = (0..100).map(|index| unauthenticated_bulk(attacker(index % 10), rtmp, 2 << 20));
        let handles: Vec<_> = pushes.map(tokio::spawn).collect();
        let mut held = Vec::new();
        for handle in handles {
            held.push(handle.await.unwrap());
        }
        held
    });
    std::thread::sleep(Duration::from_secs(1));
    let during = rss_kib(&server);
    drop(held);
    let grown_mib = during.saturating_sub(before) / 1024;
    eprintln!("100 unauthenticated RTMP bulk connections: RSS {before} KiB before, {during} KiB during");
    // Each may hold 64 KiB before it names a key: a few MiB in all, not 200.
    assert!(grown_mib < 24, "RSS grew by {grown_mib} MiB: unauthenticated connections buffered their messages");
}

/// Polls the stream's media playlist like a player (a new connection per
/// request) and fetches each new part; returns the longest wait between
/// two new parts and how many it fetched.
fn watch_parts(server: &Server, how_long: Duration) -> (Duration, usize) {
    let media = server.playlist_url.replace("index.m3u8", "media.m3u8");
    let started = Instant::now();
    let (mut last_part, mut last_new, mut longest, mut fetched) = (String::new(), Instant::now(), Duration::ZERO, 0);
    while started.elapsed() < how_long {
        if let Ok(playlist) = http::get(&media, TIMEOUT) {
            let newest = playlist.text().lines().rev().find_map(|line| {
                let uri = line.strip_prefix("#EXT-X-PART:")?.split("URI=\"").nth(1)?;
                uri.split('"').next().map(str::to_owned)
            });
            if let Some(part) = newest.filter(|part| *part != last_part) {
                let url = common::hls::resolve(&media, &part);
                let body = http::get(&url, TIMEOUT).map(|response| (response.status, response.body.len()));
                assert!(matches!(body, Ok((200, length)) if length > 0), "part {url}: {body:?}");
                longest = longest.max(last_new.elapsed());
                last_new = Instant::now();
                last_part = part;
                fetched += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (longest.max(last_new.elapsed()), fetched)
}

#[test]
fn slowloris_and_idle_http_connections_cannot_starve_viewers() {
    let _turn = common::exclusive();
    raise_file_limit(6000);
    // Capped below the flood, so the flood reaches the cap (the default
    // 16,384 would need more sockets than a test should open).
    let server = Server::start_with_env(&[("RELAY_HTTP_MAX_CONNECTIONS", "1500".into())]);
    let http_address = server_address(&server.http_base);
    let _publisher = tools::spawn_publisher(&server.publish_url(), 60);
    common::hls::wait_for_segments(&server.playlist_url, 1, Duration::from_secs(45));
    let (longest, fetched) = watch_parts(&server, Duration::from_secs(3));
    assert!(fetched >= 5 && longest < Duration::from_secs(2), "the viewer works before the attack");
    let before = rss_kib(&server);

    let slowloris: &'static [u8] = b"GET /live/main/media.m3u8 HTTP/1.1\r\nHost: relay\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    // Back a second after each close: the 1,000 over the cap churn about
    // a thousand connections a second without taking the machine's CPU.
    let (every, reconnect) = (Duration::from_secs(5), Duration::from_secs(1));
    let slow = Flood::start(http_address, 2000, Attack::Drip { bytes: slowloris, every }, reconnect);
    let idle = Flood::start(
        http_address,
        500,
        Attack::Idle { request: b"GET /nothing HTTP/1.1\r\nHost: relay\r\n\r\n" },
        reconnect,
    );
    slow.wait_open(1000, Duration::from_secs(20));
    let (longest, fetched) = watch_parts(&server, FLOOD);
    let during = rss_kib(&server);
    let open = metric(&server, "relay_listener_open_connections", "http");
    let attack = (slow.opened.load(Ordering::Relaxed), idle.opened.load(Ordering::Relaxed));
    drop((slow, idle));

    let evicted = metric(&server, "relay_listener_evicted_total", "http");
    let not_useful = metric(&server, "relay_listener_not_useful_total", "http");
    let refused = metric(&server, "relay_listener_refused_full_total", "http");
    eprintln!(
        "HTTP flood: {} slowloris and {} idle connections opened; viewer fetched {fetched} parts, longest wait \
         {longest:?}; open {open}, evicted {evicted}, not useful in time {not_useful}, refused {refused}; \
         RSS {before} KiB before, {during} KiB during",
        attack.0, attack.1
    );
    // An evicted connection closes a moment after its replacement is
    // admitted; the listener stops accepting while 64 are still closing.
    assert!(open <= 1500 + 64 + 1, "the cap holds: {open} open");
    // Slow requests go at the header deadline, or sooner when they make room.
    assert!(evicted + not_useful >= 2000, "the flood reached the cap and its connections were cut");
    // New 200 ms parts, seen by a poller that fetches the newest each time
    // round: at least two a second.
    assert!(fetched as u64 >= 2 * FLOOD.as_secs(), "the viewer got only {fetched} new parts in {FLOOD:?}");
    assert!(longest < Duration::from_secs(3), "the viewer waited {longest:?} for a new part");
    let grown_mib = during.saturating_sub(before) / 1024;
    assert!(grown_mib < 96, "RSS grew by {grown_mib} MiB with 1,500 hostile connections");
}

/// One HTTP/1.1 GET from `from`, with `prefix` before it (a PROXY
/// protocol header) and extra header lines; the status, or 0 when the
/// server closed without answering.
async fn status_from(from: Ipv4Addr, to: SocketAddr, prefix: &[u8], path: &str, headers: &str) -> u16 {
    let mut stream = connect_from(from, to).await.expect("connect");
    let mut request = prefix.to_vec();
    request.extend_from_slice(
        format!("GET {path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n{headers}\r\n").as_bytes(),
    );
    if stream.write_all(&request).await.is_err() {
        return 0;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace().nth(1).and_then(|status| status.parse().ok()).unwrap_or(0)
}

fn proxy_v2(client: Ipv4Addr, port: u16) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    header.extend_from_slice(&client.octets());
    header.extend_from_slice(&[127, 0, 0, 1]);
    header.extend_from_slice(&port.to_be_bytes());
    header.extend_from_slice(&1935u16.to_be_bytes());
    header
}

/// A load balancer in front of the RTMP port: connects from `from` and
/// puts `header` first on every connection it relays.
fn start_balancer(runtime: &tokio::runtime::Runtime, from: Ipv4Addr, to: SocketAddr, header: Vec<u8>) -> SocketAddr {
    let socket = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let address = socket.local_addr().unwrap();
    runtime.spawn(async move {
        while let Ok((mut inbound, _)) = socket.accept().await {
            let header = header.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = connect_from(from, to).await else { return };
                if outbound.write_all(&header).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    address
}

/// Restricts the default stream to 203.0.113.0/24 through the API.
fn allow_only_the_office(server: &Server) {
    let cookie = common::admin_cookie(server);
    let auth = [("Cookie", cookie.as_str())];
    let streams = http::send("GET", &server.url("/api/v1/streams"), &auth, None, TIMEOUT).unwrap();
    let streams: serde_json::Value = serde_json::from_slice(&streams.body).unwrap();
    let main = streams
        .as_array()
        .and_then(|streams| streams.iter().find(|stream| stream["name"] == "main"))
        .and_then(|stream| stream["id"].as_str())
        .unwrap_or_else(|| panic!("no stream main in {streams}"))
        .to_owned();
    let policy = r#"{"kind": "ip_allow_list", "allow": ["203.0.113.0/24"]}"#;
    let set = http::send("PUT", &server.url(&format!("/api/v1/streams/{main}/policy")), &auth, Some(policy), TIMEOUT)
        .unwrap();
    assert_eq!(set.status, 200, "{}", set.text());
}

#[test]
fn only_trusted_proxies_name_the_client() {
    let _turn = common::exclusive();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let trusted = Ipv4Addr::new(127, 0, 0, 2);
    let stranger = Ipv4Addr::new(127, 0, 0, 3);
    let office = Ipv4Addr::new(203, 0, 113, 7);
    let proxied = [
        ("RELAY_PROXY_TRUSTED_NETWORKS", "127.0.0.2/32".to_string()),
        ("RELAY_RTMP_PROXY_PROTOCOL", "true".to_string()),
    ];
    let server = Server::start_with_env(&proxied);
    let http_address = server_address(&server.http_base);
    let rtmp = server_address(&server.rtmp_url);

    // The publisher's address, as webhooks and logs see it, comes from a
    // trusted load balancer's PROXY header (v2), and from no one else's.
    let publisher_address = "198.51.100.23:40000";
    let header = proxy_v2(Ipv4Addr::new(198, 51, 100, 23), 40000);
    let forged = start_balancer(&runtime, stranger, rtmp, header.clone());
    let refused = run_with_timeout(
        Command::new(require_tool("ffmpeg"))
            .args(tools::test_source_args(3, &format!("rtmp://{forged}/live/{}", server.stream_key))),
        Duration::from_secs(30),
    );
    assert!(!refused.success(), "a PROXY header from an untrusted peer is not RTMP: {refused}");
    assert!(!server.stderr_tail().contains(publisher_address), "{}", server.stderr_tail());
    let balancer = start_balancer(&runtime, trusted, rtmp, header);
    let _publisher = tools::spawn_publisher(&format!("rtmp://{balancer}/live/{}", server.stream_key), 60);
    common::hls::wait_for_segments(&server.playlist_url, 1, Duration::from_secs(45));
    let logged = server.stderr_tail();
    assert!(
        logged.lines().any(|line| line.contains(publisher_address) && line.contains("publishing")),
        "the publisher's address is the one the load balancer gave:\n{logged}"
    );

    allow_only_the_office(&server);

    let path = "/live/main/media.m3u8";
    let from_office = format!("X-Forwarded-For: 192.0.2.1, {office}\r\n");
    let status = |from, prefix: &'static [u8], headers: &str| {
        runtime.block_on(status_from(from, http_address, prefix, path, headers))
    };
    assert_eq!(status(trusted, b"", &from_office), 200, "a trusted proxy's X-Forwarded-For names the client");
    assert_eq!(status(stranger, b"", &from_office), 403, "anyone else's is ignored");
    assert_eq!(
        status(trusted, b"", &format!("X-Forwarded-For: {office}, 192.0.2.1\r\n")),
        403,
        "the rightmost untrusted hop is the client"
    );
    assert_eq!(status(trusted, b"", ""), 403, "without the header, the proxy itself");
    drop(server);

    // HTTP behind a load balancer speaking the PROXY protocol (v1).
    let mut with_http = proxied.to_vec();
    with_http.push(("RELAY_HTTP_PROXY_PROTOCOL", "true".to_string()));
    let server = Server::start_with_env(&with_http);
    let http_address = server_address(&server.http_base);
    allow_only_the_office(&server);
    let status = |from, prefix: &'static [u8]| runtime.block_on(status_from(from, http_address, prefix, path, ""));
    let v1_office: &'static [u8] = b"PROXY TCP4 203.0.113.7 127.0.0.1 51000 8080\r\n";
    let v1_elsewhere: &'static [u8] = b"PROXY TCP4 198.51.100.9 127.0.0.1 51000 8080\r\n";
    // Not live on this server: past the access check, the stream is not found.
    assert_eq!(status(trusted, v1_office), 404, "the PROXY header names an allowed client");
    assert_eq!(status(trusted, v1_elsewhere), 403);
    assert_ne!(status(stranger, v1_office), 404, "an untrusted peer's PROXY header is not believed");
    assert_eq!(status(trusted, b""), 0, "a trusted peer must send the header");
    assert!(metric(&server, "relay_listener_proxy_header_failed_total", "http") >= 1);
}
