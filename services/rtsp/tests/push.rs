//! RTSP push with a real encoder: `ffmpeg -f rtsp -rtsp_transport tcp`
//! publishes into the live edge, the packaged segments decode, a wrong key
//! is refused without publishing anything, and hostile clients (garbage, a
//! truncated interleaved frame) neither crash the server nor stall a
//! publisher that is already flowing.

mod support;

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use ingest::{AuthFuture, StreamAuthorizer};
use live::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use support::*;

/// Keys known to the test: `key-<name>` publishes stream `<name>`.
struct KeyPrefix;

impl StreamAuthorizer for KeyPrefix {
    fn authorize<'a>(&'a self, app: &'a str, stream_key: &'a str, _peer: SocketAddr) -> AuthFuture<'a> {
        let stream = (app == "live").then(|| stream_key.strip_prefix("key-").map(str::to_owned)).flatten();
        Box::pin(async move { Ok(stream) })
    }
}

struct Server {
    port: u16,
    registry: Arc<Registry>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let registry = registry();
        let (stop, shutdown) = watch::channel(false);
        let config = rtsp::PushConfig::default();
        let task = tokio::spawn(rtsp::push::run(listener, registry.clone(), Arc::new(KeyPrefix), config, shutdown));
        Server { port, registry, stop, task }
    }

    fn url(&self, key: &str) -> String {
        format!("rtsp://127.0.0.1:{}/live/{key}", self.port)
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

/// A real-time ffmpeg publisher: H.264 without B-frames plus AAC at 44.1 kHz.
fn publish(url: &str, seconds: u32, extra_video: &[&str]) -> Child {
    Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=320x240:rate=25:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:sample_rate=44100:duration={seconds}"))
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p"])
        .args(extra_video)
        .args(["-c:a", "aac", "-b:a", "64k", "-f", "rtsp", "-rtsp_transport", "tcp"])
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
