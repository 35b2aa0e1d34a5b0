//! Shared pieces of the RTSP pull tests: a GStreamer RTSP server as the
//! camera, a live registry without storage, and ffprobe/ffmpeg checks of
//! what reached the live edge.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use live::{LiveConfig, LiveStream, Registry};
use media::hls::SkipRequest;
use rtsp::{CameraConfig, CameraState, CameraStatus, PullHandle};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const STARTUP: Duration = Duration::from_secs(30);

/// The stand-in camera: GStreamer's RTSP server through python3-gi.
pub struct Camera {
    pub port: u16,
    child: Child,
}

impl Camera {
    /// Starts `rtsp_camera.py --port PORT ARGS..` and waits until it listens.
    pub async fn start(port: u16, args: &[&str]) -> Camera {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rtsp_camera.py");
        // The system interpreter: python3-gi is a system package.
        let python = if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
        let mut child = Command::new(python)
            .arg(script)
            .arg("--port")
            .arg(port.to_string())
            .args(args)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the RTSP test camera (python3-gi, gir1.2-gst-rtsp-server-1.0)");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(STARTUP, lines.next_line()).await;
        assert!(matches!(ready, Ok(Ok(Some(ref line))) if line == "ready"), "camera did not start: {ready:?}");
        Camera { port, child }
    }

    pub fn url(&self, path: &str) -> String {
        format!("rtsp://127.0.0.1:{}/{path}", self.port)
    }

    /// Kills the server abruptly, like a camera losing power.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

pub fn registry() -> Arc<Registry> {
    let config = LiveConfig { reconnect_grace: Duration::from_secs(15), ..LiveConfig::default() };
    let registry = Registry::new(config, None);
    registry.spawn_housekeeping();
    registry
}

/// A config with short backoff and timeouts so failures show quickly.
pub fn camera_config(name: &str, url: String) -> CameraConfig {
    CameraConfig {
        backoff_min_ms: 200,
        backoff_max_ms: 1_000,
        connect_timeout_ms: 5_000,
        stall_timeout_ms: 3_000,
        ..CameraConfig::new(name, url)
    }
}

/// Waits until the status satisfies `check`, or panics with the last one.
pub async fn wait_status(pull: &PullHandle, timeout: Duration, check: impl Fn(&CameraStatus) -> bool) -> CameraStatus {
    let mut receiver = pull.subscribe();
    let waited = tokio::time::timeout(timeout, receiver.wait_for(|status| check(status))).await;
    match waited {
        Ok(Ok(status)) => status.clone(),
        _ => panic!("status condition not met within {timeout:?}; last status: {:#?}", pull.status()),
    }
}

pub async fn wait_state(pull: &PullHandle, state: CameraState, timeout: Duration) -> CameraStatus {
    wait_status(pull, timeout, |status| status.state == state).await
}

/// The media playlist as text, if the stream has one yet.
pub fn playlist(registry: &Registry, name: &str) -> Option<String> {
    let stream = registry.get(name)?;
    let body = stream.media_playlist(SkipRequest::No)?;
    Some(String::from_utf8_lossy(&body).into_owned())
}

/// Polls the playlist until `check` accepts it.
pub async fn wait_playlist(
    registry: &Registry,
    name: &str,
    timeout: Duration,
    check: impl Fn(&Playlist) -> bool,
) -> Playlist {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let current = playlist(registry, name).map(|text| Playlist::parse(&text));
        if let Some(current) = current.filter(|playlist| check(playlist)) {
            return current;
        }
        assert!(tokio::time::Instant::now() < deadline, "playlist condition not met: {:?}", playlist(registry, name));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The parts of a media playlist the tests look at.
#[derive(Debug, Clone)]
pub struct Playlist {
    pub text: String,
    pub media_sequence: u64,
    /// Complete segments: (msn, init version, discontinuity before it).
    pub segments: Vec<(u64, u32, bool)>,
    pub parts: usize,
}

impl Playlist {
    pub fn parse(text: &str) -> Playlist {
        let media_sequence = tag_value(text, "#EXT-X-MEDIA-SEQUENCE:").expect("media sequence");
        let mut segments = Vec::new();
        let mut init = None;
        let mut discontinuity = false;
        for line in text.lines() {
            if line == "#EXT-X-DISCONTINUITY" {
                discontinuity = true;
            } else if let Some(uri) = line.strip_prefix("#EXT-X-MAP:URI=\"init") {
                init = uri.trim_end_matches(".mp4\"").parse::<u32>().ok();
            } else if let Some(msn) = line.strip_prefix("seg").and_then(|rest| rest.strip_suffix(".m4s")) {
                let msn = msn.parse().expect("segment number");
                segments.push((msn, init.expect("EXT-X-MAP before the first segment"), discontinuity));
                discontinuity = false;
            }
        }
        let parts = text.lines().filter(|line| line.starts_with("#EXT-X-PART:")).count();
        Playlist { text: text.to_owned(), media_sequence, segments, parts }
    }

    pub fn discontinuities(&self) -> usize {
        self.segments.iter().filter(|(_, _, discontinuity)| *discontinuity).count()
    }
}

fn tag_value(text: &str, tag: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix(tag)).and_then(|value| value.trim().parse().ok())
}

/// Init segment plus complete segments `msns` as one fMP4 file.
pub fn concatenate(stream: &LiveStream, init_version: u32, msns: &[u64]) -> Bytes {
    let mut file = BytesMut::new();
    file.extend_from_slice(&stream.init(init_version).expect("init segment in the edge"));
    for msn in msns {
        file.extend_from_slice(&stream.segment_data(*msn).expect("segment in the edge"));
    }
    file.freeze()
}

pub fn write_temp(name: &str, data: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("rtsp-test-{}-{name}", std::process::id()));
    std::fs::write(&path, data).expect("write the temporary file");
    path
}

/// Codec names ffprobe finds in the file, in stream order.
pub fn ffprobe_codecs(path: &Path) -> Vec<String> {
    let output = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(output.status.success(), "ffprobe failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(|line| line.trim().to_owned()).collect()
}

/// Decodes the whole file; returns ffmpeg's error output, empty when clean.
pub fn ffmpeg_decode_errors(path: &Path) -> String {
    let output = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let errors = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.success() {
        errors
    } else {
        format!("exit {:?}: {errors}", output.status.code())
    }
}

/// Checks that segments of one init version decode cleanly with the expected codecs.
pub fn assert_decodes(stream: &LiveStream, label: &str, init_version: u32, msns: &[u64], codecs: &[&str]) {
    assert!(!msns.is_empty(), "{label}: no segments to check");
    let init = stream.init(init_version).expect("init segment");
    let init_path = write_temp(&format!("{label}-init.mp4"), &init);
    assert_eq!(ffprobe_codecs(&init_path), codecs, "{label}: init segment tracks");
    let path = write_temp(&format!("{label}.mp4"), &concatenate(stream, init_version, msns));
    assert_eq!(ffprobe_codecs(&path), codecs, "{label}: init + segments tracks");
    let errors = ffmpeg_decode_errors(&path);
    assert!(errors.trim().is_empty(), "{label}: ffmpeg reported decode errors:\n{errors}");
    let _ = std::fs::remove_file(init_path);
    let _ = std::fs::remove_file(path);
}
