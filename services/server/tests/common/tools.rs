//! ffmpeg as an RTMP publisher of a synthetic live source, and ffprobe as a
//! judge of what the server produced.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::process::{run_with_timeout, ChildGuard};
use super::require_tool;

/// ffmpeg arguments for a live test pattern with a tone: H.264 with
/// B-frames (`-bf` after `-tune zerolatency`, which would otherwise turn them
/// off), a keyframe every 2 s, AAC audio, sent in real time (`-re`).
pub fn test_source_args(seconds: u32, output_url: &str) -> Vec<String> {
    #[rustfmt::skip]
    let args = [
        "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning",
        "-re", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
        "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", &seconds.to_string(),
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-bf", "2", "-g", "60",
        "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k",
        "-f", "flv", output_url,
    ];
    args.iter().map(|a| a.to_string()).collect()
}

/// Starts publishing the test source to `rtmp_url` for `seconds`.
pub fn spawn_publisher(rtmp_url: &str, seconds: u32) -> ChildGuard {
    let ffmpeg = require_tool("ffmpeg");
    let mut command = Command::new(ffmpeg);
    command.args(test_source_args(seconds, rtmp_url)).stdout(Stdio::null());
    ChildGuard::spawn("ffmpeg publisher", &mut command)
}

/// What ffprobe found in a media file.
#[derive(Debug, Default)]
pub struct Probe {
    /// "codec_type:codec_name" per stream, e.g. "video:h264".
    pub streams: Vec<String>,
    pub video_packets: usize,
    /// Some video packet is presented before one decoded earlier: B-frames.
    pub video_reordered: bool,
}

pub fn probe(file: &Path) -> Probe {
    let ffprobe = require_tool("ffprobe");
    let timeout = Duration::from_secs(30);
    let streams = run_with_timeout(
        Command::new(&ffprobe)
            .args(["-v", "error", "-show_entries", "stream=codec_type,codec_name"])
            .args(["-of", "compact=p=0:nk=1"])
            .arg(file),
        timeout,
    );
    assert!(streams.success(), "ffprobe streams of {}: {streams}", file.display());
    let packets = run_with_timeout(
        Command::new(&ffprobe)
            .args(["-v", "error", "-select_streams", "v:0"])
            .args(["-show_entries", "packet=pts,dts", "-of", "csv=p=0"])
            .arg(file),
        timeout,
    );
    assert!(packets.success(), "ffprobe packets of {}: {packets}", file.display());

    let mut result = Probe {
        streams: streams
            .stdout
            .lines()
            .filter_map(|line| line.split_once('|'))
            .map(|(name, kind)| format!("{kind}:{name}"))
            .collect(),
        ..Probe::default()
    };
    // MPEG-TS input lists each stream again under its program.
    result.streams.sort();
    result.streams.dedup();
    let mut latest_pts: Option<i64> = None;
    for line in packets.stdout.lines() {
        let Some(pts) = line.split(',').next().and_then(|v| v.trim().parse::<i64>().ok()) else {
            continue;
        };
        result.video_packets += 1;
        if latest_pts.is_some_and(|latest| pts < latest) {
            result.video_reordered = true;
        }
        latest_pts = Some(latest_pts.map_or(pts, |latest| latest.max(pts)));
    }
    result
}
