//! RTSP push with a real encoder: `ffmpeg -f rtsp` publishes into the live
//! edge over TCP and over UDP, with the key in the path or as the Digest
//! password; the packaged segments decode, a wrong key or password is
//! refused without publishing anything, and hostile clients (garbage, a
//! truncated interleaved frame) neither crash the server nor stall a
//! publisher that is already flowing.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use live::Registry;
use publisher::{AuthFuture, DigestFuture, DigestSecret, StreamAuthorizer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

use testkit::camera::STARTUP;
use testkit::edge::*;

/// Keys known to the test: `key-<name>` publishes stream `<name>`; streams
/// named `dcam*` can also be published by name with that key as the Digest
/// password of user `publisher`, checked against its HA1 only.
struct KeyPrefix;

impl StreamAuthorizer for KeyPrefix {
    fn authorize<'a>(&'a self, app: &'a str, stream_key: &'a str, _peer: SocketAddr) -> AuthFuture<'a> {
        let stream = (app == "live").then(|| stream_key.strip_prefix("key-").map(str::to_owned)).flatten();
        Box::pin(async move { Ok(stream) })
    }

    fn digest_secret_for<'a>(&'a self, stream: &'a str) -> DigestFuture<'a> {
        // Only the `dcam*` streams are known by name (for Digest logins).
        let secret = stream.starts_with("dcam").then(|| DigestSecret {
            username: "publisher".into(),
            realm: "relay".into(),
            ha1: media::rtsp::digest::ha1("publisher", "relay", &format!("key-{stream}")),
        });
        Box::pin(async move { Ok(secret) })
    }

    fn authorize_proven<'a>(&'a self, app: &'a str, stream: &'a str, _peer: SocketAddr) -> AuthFuture<'a> {
        Box::pin(async move { Ok((app == "live" && stream.starts_with("dcam")).then(|| stream.to_owned())) })
    }
}

struct Server {
    port: u16,
    registry: Arc<Registry>,
    shutdown: listener::Shutdown,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start() -> Server {
        Server::start_with(rtsp::PushConfig::default()).await
    }

    async fn start_with(config: rtsp::PushConfig) -> Server {
        let socket = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = socket.local_addr().expect("address").port();
        let registry = registry();
        let shutdown = listener::Shutdown::new();
        let listener = listener::Listener::new("rtsp", socket, rtsp::default_limits());
        let gate = publisher::Gate::new(registry.clone(), Arc::new(KeyPrefix), "live");
        let task = tokio::spawn(rtsp::run(listener, gate, config, shutdown.clone()));
        Server { port, registry, shutdown, task }
    }

    fn url(&self, key: &str) -> String {
        format!("rtsp://127.0.0.1:{}/live/{key}", self.port)
    }

    async fn stop(self) {
        self.shutdown.begin(tokio::time::Instant::now() + Duration::from_secs(10));
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

/// A real-time ffmpeg publisher over TCP: H.264 plus AAC at 44.1 kHz.
fn publish(url: &str, seconds: u32, extra_video: &[&str]) -> Child {
    publish_over(url, seconds, extra_video, "tcp")
}

/// As [`publish`], over `transport` (`tcp` or `udp`).
fn publish_over(url: &str, seconds: u32, extra_video: &[&str], transport: &str) -> Child {
    Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=320x240:rate=25:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:sample_rate=44100:duration={seconds}"))
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p"])
        .args(extra_video)
        .args(["-c:a", "aac", "-b:a", "64k", "-f", "rtsp", "-rtsp_transport", transport])
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start ffmpeg")
}

async fn stderr_of(mut child: Child) -> (Option<i32>, String) {
    let mut text = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = tokio::time::timeout(Duration::from_secs(30), stderr.read_to_string(&mut text)).await;
    }
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    (status.ok().and_then(|status| status.ok()).and_then(|status| status.code()), text)
}

/// Segments of the newest init version that are complete.
fn newest_init_segments(playlist: &Playlist) -> (u32, Vec<u64>) {
    let init = playlist.segments.last().map(|(_, init, _)| *init).expect("a segment");
    let msns = playlist.segments.iter().filter(|(_, version, _)| *version == init).map(|(msn, _, _)| *msn).collect();
    (init, msns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_push_becomes_ll_hls_and_survives_hostile_clients() {
    let server = Server::start().await;
    let publisher = publish(&server.url("key-cam1"), 12, &["-bf", "0"]);
    let first = wait_playlist(&server.registry, "cam1", STARTUP, |playlist| playlist.segments.len() >= 2).await;
    assert!(first.parts > 0, "the live edge has parts:\n{}", first.text);
    assert!(first.text.contains("#EXT-X-PART-INF:PART-TARGET="), "{}", first.text);

    // Garbage, then an interleaved frame cut short, on other connections.
    let mut garbage = TcpStream::connect(("127.0.0.1", server.port)).await.expect("connect");
    garbage.write_all(b"\x16\x03\x01\x02\x00GET / HTTP/1.1\r\n\x00\xff\xfe garbage\r\n\r\n").await.expect("write");
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), garbage.read_to_end(&mut reply)).await;
    assert!(String::from_utf8_lossy(&reply).starts_with("RTSP/1.0 400"), "{reply:?}");
    let mut truncated = TcpStream::connect(("127.0.0.1", server.port)).await.expect("connect");
    truncated.write_all(&[b'$', 0, 0xff, 0xf0, 0x80, 0x60, 0, 1]).await.expect("write");
    drop(truncated);
    let mut options = TcpStream::connect(("127.0.0.1", server.port)).await.expect("connect");
    options.write_all(b"OPTIONS rtsp://127.0.0.1/live RTSP/1.0\r\nCSeq: 1\r\n\r\n").await.expect("write");
    let mut answer = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(5), options.read(&mut answer)).await;
    let read = read.expect("answer in time").expect("read");
    let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(answer.starts_with("RTSP/1.0 200 OK\r\nCSeq: 1\r\n") && answer.contains("ANNOUNCE"), "{answer}");

    // The publisher kept flowing.
    let newest = first.segments.last().map(|(msn, _, _)| *msn).unwrap_or(0);
    let later = wait_playlist(&server.registry, "cam1", STARTUP, |playlist| {
        playlist.segments.last().is_some_and(|(msn, _, _)| *msn >= newest + 2)
    })
    .await;
    let stream = server.registry.get("cam1").expect("stream");
    let (init, msns) = newest_init_segments(&later);
    assert_decodes(&stream, "rtsp-push", init, &msns, &["h264", "aac"]);
    assert!(stream.has_publisher(), "still publishing");

    let (status, errors) = stderr_of(publisher).await;
    assert_eq!(status, Some(0), "ffmpeg ended cleanly: {errors}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_is_refused_and_nothing_is_published() {
    let server = Server::start().await;
    let (status, errors) = stderr_of(publish(&server.url("not-a-key"), 2, &[])).await;
    assert_ne!(status, Some(0), "ffmpeg must fail");
    assert!(errors.contains("404"), "ffmpeg reports the refusal: {errors}");
    let wrong_app = format!("rtsp://127.0.0.1:{}/other/key-cam2", server.port);
    let (status, errors) = stderr_of(publish(&wrong_app, 2, &[])).await;
    assert_ne!(status, Some(0), "ffmpeg must fail: {errors}");
    assert!(server.registry.stream_names().is_empty(), "{:?}", server.registry.stream_names());
    server.stop().await;
}

/// `entry` (e.g. `frame=pts_time`) of every video frame or packet, in ffprobe's order.
fn video_times(path: &std::path::Path, entry: &str) -> Vec<f64> {
    let output = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries", entry, "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.trim().trim_end_matches(',').parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_push_with_b_frames_keeps_presentation_order() {
    let server = Server::start().await;
    let publisher = publish(&server.url("key-bcam"), 8, &["-bf", "2"]);
    let playlist = wait_playlist(&server.registry, "bcam", STARTUP, |playlist| playlist.segments.len() >= 3).await;
    let stream = server.registry.get("bcam").expect("stream");
    let (init, msns) = newest_init_segments(&playlist);
    assert_decodes(&stream, "rtsp-push-bframes", init, &msns, &["h264", "aac"]);
    // Skip the first segment: the reorder depth is learned from its first B-frames.
    let path = write_temp("bframes.mp4", &concatenate(&stream, init, &msns[1..]));
    let times = video_times(&path, "frame=pts_time");
    // Decode times step evenly too: each sample lasts one frame.
    let durations = video_times(&path, "packet=duration_time");
    let _ = std::fs::remove_file(&path);
    assert!(durations.iter().all(|duration| (0.039..=0.041).contains(duration)), "{durations:?}");
    assert!(times.len() >= 40, "{} frames", times.len());
    for pair in times.windows(2) {
        let step = pair[1] - pair[0];
        assert!((0.039..=0.041).contains(&step), "frames 40 ms apart in presentation order: {times:?}");
    }
    let (status, errors) = stderr_of(publisher).await;
    assert_eq!(status, Some(0), "ffmpeg ended cleanly: {errors}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_login_with_the_stream_name_publishes() {
    let server = Server::start().await;
    // The username is `publisher` (the stored HA1 is made for it); the password is the stream key.
    let url = format!("rtsp://publisher:key-dcam@127.0.0.1:{}/live/dcam", server.port);
    let publisher = publish(&url, 6, &["-bf", "0"]);
    let playlist = wait_playlist(&server.registry, "dcam", STARTUP, |playlist| playlist.segments.len() >= 2).await;
    assert!(playlist.parts > 0, "{}", playlist.text);
    let stream = server.registry.get("dcam").expect("stream");
    let (init, msns) = newest_init_segments(&playlist);
    assert_decodes(&stream, "rtsp-push-digest", init, &msns, &["h264", "aac"]);
    let (status, errors) = stderr_of(publisher).await;
    assert_eq!(status, Some(0), "ffmpeg ended cleanly: {errors}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_login_with_a_wrong_password_is_refused() {
    let server = Server::start().await;
    let url = format!("rtsp://publisher:key-other@127.0.0.1:{}/live/dcam2", server.port);
    let (status, errors) = stderr_of(publish(&url, 2, &[])).await;
    assert_ne!(status, Some(0), "ffmpeg must fail");
    assert!(errors.contains("401"), "ffmpeg reports the refusal: {errors}");
    // The right key under another username does not match the stored HA1.
    let url = format!("rtsp://someone:key-dcam2@127.0.0.1:{}/live/dcam2", server.port);
    let (status, errors) = stderr_of(publish(&url, 2, &[])).await;
    assert_ne!(status, Some(0), "ffmpeg must fail");
    assert!(errors.contains("401"), "ffmpeg reports the refusal: {errors}");
    // Without credentials the challenge cannot be answered either.
    let (status, errors) = stderr_of(publish(&server.url("dcam2"), 2, &[])).await;
    assert_ne!(status, Some(0), "ffmpeg must fail: {errors}");
    assert!(errors.contains("401"), "ffmpeg reports the refusal: {errors}");
    assert!(server.registry.stream_names().is_empty(), "{:?}", server.registry.stream_names());

    // By hand: a challenge, then a bounded number of wrong answers closes the connection.
    let mut client = TcpStream::connect(("127.0.0.1", server.port)).await.expect("connect");
    let uri = format!("rtsp://127.0.0.1:{}/live/dcam2", server.port);
    let answer = announce(&mut client, &uri, 1, None).await;
    assert!(answer.starts_with("RTSP/1.0 401"), "{answer}");
    assert!(answer.contains("WWW-Authenticate: Digest realm=\"relay\", nonce=\""), "{answer}");
    let mut last = answer;
    for cseq in 2..=4 {
        let nonce = last.split("nonce=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or_default();
        let authorization = format!(
            "Digest username=\"x\", realm=\"relay\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{}\"",
            "0".repeat(32)
        );
        last = announce(&mut client, &uri, cseq, Some(&authorization)).await;
        assert!(last.starts_with("RTSP/1.0 401"), "{last}");
    }
    assert!(!last.contains("WWW-Authenticate"), "no new challenge after the last try: {last}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(_))), "the server closed the connection: {closed:?}");
    assert!(server.registry.stream_names().is_empty(), "{:?}", server.registry.stream_names());
    server.stop().await;
}

/// Sends an ANNOUNCE with a minimal H.264 SDP and returns the response head.
async fn announce(client: &mut TcpStream, uri: &str, cseq: u32, authorization: Option<&str>) -> String {
    let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n\
               a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:streamid=0\r\n";
    let authorization = authorization.map(|value| format!("Authorization: {value}\r\n")).unwrap_or_default();
    let head = format!(
        "ANNOUNCE {uri} RTSP/1.0\r\nCSeq: {cseq}\r\n{authorization}Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n",
        sdp.len()
    );
    exchange(client, &format!("{head}{sdp}")).await
}

/// Writes `request` and reads the response head.
async fn exchange(client: &mut TcpStream, request: &str) -> String {
    client.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        let read = tokio::time::timeout(Duration::from_secs(5), client.read(&mut byte)).await;
        match read.expect("answer in time").expect("read") {
            0 => break,
            _ => answer.push(byte[0]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_push_over_udp_plays() {
    let server = Server::start().await;
    let publisher = publish_over(&server.url("key-ucam"), 8, &["-bf", "0"], "udp");
    let playlist = wait_playlist(&server.registry, "ucam", STARTUP, |playlist| playlist.segments.len() >= 3).await;
    assert!(playlist.parts > 0, "{}", playlist.text);
    let stream = server.registry.get("ucam").expect("stream");
    let (init, msns) = newest_init_segments(&playlist);
    assert_decodes(&stream, "rtsp-push-udp", init, &msns, &["h264", "aac"]);
    let (status, errors) = stderr_of(publisher).await;
    assert_eq!(status, Some(0), "ffmpeg ended cleanly: {errors}");
    // TEARDOWN ended the publish: the edge no longer has a publisher.
    let gone = tokio::time::timeout(Duration::from_secs(10), async {
        while stream.has_publisher() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "the UDP publish ended with the session");

    // By hand: the answer names an even/odd server port pair, bound until TEARDOWN.
    let mut client = TcpStream::connect(("127.0.0.1", server.port)).await.expect("connect");
    let uri = server.url("key-raw");
    assert!(announce(&mut client, &uri, 1, None).await.starts_with("RTSP/1.0 200"));
    let transport = "Transport: RTP/AVP;unicast;client_port=40000-40001;mode=record";
    let setup = format!("SETUP {uri}/streamid=0 RTSP/1.0\r\nCSeq: 2\r\n{transport}\r\n\r\n");
    let answer = exchange(&mut client, &setup).await;
    assert!(answer.starts_with("RTSP/1.0 200"), "{answer}");
    let ports = answer.split("server_port=").nth(1).and_then(|rest| rest.split([';', '\r']).next()).expect("ports");
    let (rtp, rtcp) = ports.split_once('-').expect("a pair");
    let (rtp, rtcp): (u16, u16) = (rtp.parse().expect("port"), rtcp.parse().expect("port"));
    assert!(rtp % 2 == 0 && rtcp == rtp + 1, "{answer}");
    assert!(answer.contains("client_port=40000-40001"), "{answer}");
    assert!(std::net::UdpSocket::bind(("127.0.0.1", rtp)).is_err(), "the RTP port is bound");
    let answer = exchange(&mut client, &format!("TEARDOWN {uri} RTSP/1.0\r\nCSeq: 3\r\n\r\n")).await;
    assert!(answer.starts_with("RTSP/1.0 200"), "{answer}");
    let freed = tokio::time::timeout(Duration::from_secs(5), async {
        while std::net::UdpSocket::bind(("127.0.0.1", rtp)).is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(freed.is_ok(), "TEARDOWN closed the UDP sockets");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_session_without_rtp_ends_despite_keepalives() {
    let config = rtsp::PushConfig { idle_timeout: Duration::from_secs(1), ..Default::default() };
    let server = Server::start_with(config).await;
    let mut client = TcpStream::connect(("127.0.0.1", server.port)).await.expect("connect");
    let uri = server.url("key-stall");
    assert!(announce(&mut client, &uri, 1, None).await.starts_with("RTSP/1.0 200"));
    let transport = "Transport: RTP/AVP/UDP;unicast;client_port=40002-40003;mode=record";
    let setup = format!("SETUP {uri}/streamid=0 RTSP/1.0\r\nCSeq: 2\r\n{transport}\r\n\r\n");
    assert!(exchange(&mut client, &setup).await.starts_with("RTSP/1.0 200"));
    let record = format!("RECORD {uri} RTSP/1.0\r\nCSeq: 3\r\n\r\n");
    assert!(exchange(&mut client, &record).await.starts_with("RTSP/1.0 200"));
    assert!(server.registry.get("stall").expect("stream").has_publisher());
    // Keepalives on the control connection do not stand in for RTP.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        for cseq in 4.. {
            let keepalive = format!("GET_PARAMETER {uri} RTSP/1.0\r\nCSeq: {cseq}\r\n\r\n");
            if client.write_all(keepalive.as_bytes()).await.is_err() {
                return;
            }
            let mut answer = [0u8; 512];
            if matches!(client.read(&mut answer).await, Ok(0) | Err(_)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(ended.is_ok(), "the server ended the session without RTP");
    let stream = server.registry.get("stall").expect("stream");
    assert!(!stream.has_publisher(), "the publish ended");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_push_with_opus_audio_is_packaged_as_opus() {
    let server = Server::start().await;
    let publisher = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=8"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=8"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p"])
        .args(["-c:a", "libopus", "-b:a", "64k", "-ac", "2", "-f", "rtsp", "-rtsp_transport", "tcp"])
        .arg(server.url("key-ocam"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start ffmpeg");
    let playlist = wait_playlist(&server.registry, "ocam", STARTUP, |playlist| playlist.segments.len() >= 3).await;
    let stream = server.registry.get("ocam").expect("stream");
    let (init, msns) = newest_init_segments(&playlist);
    assert_decodes(&stream, "rtsp-push-opus", init, &msns, &["h264", "opus"]);
    let multivariant = stream.multivariant_playlist().expect("a multivariant playlist");
    assert!(multivariant.contains(",opus\""), "CODECS names Opus: {multivariant}");
    let (status, errors) = stderr_of(publisher).await;
    assert_eq!(status, Some(0), "ffmpeg ended cleanly: {errors}");
    server.stop().await;
}
