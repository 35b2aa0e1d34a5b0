//! Hostile or broken publishers are cut off without touching other streams.

use std::time::Duration;

use loadtest::http::get_str;
use testkit::stack::{start_servers_with, Publisher, KEY, TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const FIXTURE: &[u8] = include_bytes!("../../media/testdata/bframes.flv");

/// Reads until the server closes the connection; true if it did in time.
async fn closed_by_server(socket: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_silent_publishers_are_dropped_while_others_stream() {
    let limits = listener::Limits { idle_timeout: Some(Duration::from_millis(700)), ..rtmp::default_limits() };
    let servers = start_servers_with(limits).await;

    // A good publisher streams throughout.
    let (mut good, accepted) = Publisher::publish(servers.rtmp, KEY).await;
    assert!(accepted);
    let streaming = tokio::spawn(async move {
        good.replay(FIXTURE).await;
        good
    });

    // Not RTMP at all: an HTTP request on the RTMP port.
    let mut garbage = TcpStream::connect(servers.rtmp).await.unwrap();
    garbage.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert!(closed_by_server(&mut garbage, Duration::from_secs(3)).await, "a bad handshake closes the connection");

    // A valid handshake followed by a chunk header declaring a 16 MiB message.
    let mut oversized = Publisher::connect(servers.rtmp).await;
    oversized.socket.write_all(&[0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0x09, 1, 0, 0, 0]).await.unwrap();
    oversized.socket.write_all(&[0u8; 4096]).await.unwrap();
    assert!(closed_by_server(&mut oversized.socket, Duration::from_secs(3)).await, "an oversized message closes it");

    // Connected, then silent: dropped after the idle timeout.
    let mut silent = Publisher::connect(servers.rtmp).await;
    assert!(closed_by_server(&mut silent.socket, Duration::from_secs(3)).await, "a silent publisher is dropped");

    let good = streaming.await.unwrap();
    let playlist = get_str(&format!("http://{}/live/demo/media.m3u8", servers.http), TIMEOUT).await.unwrap();
    assert_eq!(playlist.status, 200);
    let text = playlist.text();
    assert!(text.contains("seg1.0.m4s"), "the good stream kept flowing: {text}");
    assert!(!text.contains("DISCONTINUITY\n"), "and was never interrupted: {text}");
    drop(good);
}
