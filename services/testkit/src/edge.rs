//! A live edge without storage to publish into, and checks of what it
//! holds: playlists parsed, segments decoded by ffmpeg and probed by ffprobe.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use live::{LiveConfig, LiveStream, Registry};
use media::hls::SkipRequest;

/// A registry without storage, with a long reconnect grace so a restarted
/// source continues its playlist.
pub fn registry() -> Arc<Registry> {
    let config = LiveConfig { reconnect_grace: Duration::from_secs(15), ..LiveConfig::default() };
    let registry = Registry::new(config, None);
    registry.spawn_housekeeping();
    registry
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
    let path = std::env::temp_dir().join(format!("relay-test-{}-{name}", std::process::id()));
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
