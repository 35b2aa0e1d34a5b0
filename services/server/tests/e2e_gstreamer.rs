//! End to end with GStreamer as the viewer: playbin3 (which picks hlsdemux2
//! for HLS on GStreamer 1.22) decodes the live stream into fake sinks that
//! run on the clock, as a real player would.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{hls, require_tool, run_with_timeout, tools, Server};

/// How long the player runs before it is stopped.
const PLAY_FOR: Duration = Duration::from_secs(10);

#[test]
fn gstreamer_plays_live_stream() {
    let gst_launch = require_tool("gst-launch-1.0");
    // The first GStreamer run on a machine scans every plugin; do that
    // before the clock of the timed run starts.
    let warm_up = run_with_timeout(
        Command::new(require_tool("gst-inspect-1.0")).args(["playbin3", "hlsdemux2"]),
        Duration::from_secs(120),
    );
    assert!(warm_up.success(), "playbin3/hlsdemux2 missing: {warm_up}");
    let _turn = common::exclusive();
    let server = Server::start();
    let _publisher = tools::spawn_publisher(&server.publish_url(), 40);
    hls::wait_for_segments(&server.playlist_url, 2, Duration::from_secs(45));

    // -m prints bus messages (state changes, errors); -v with silent=false
    // sinks prints one "last-message = chain" line per buffer rendered.
    let uri = format!("uri={}", server.playlist_url);
    let run = run_with_timeout(
        Command::new(gst_launch)
            .args(["-m", "-v", "playbin3", "name=player", &uri])
            .arg("video-sink=fakesink name=vsink sync=true silent=false")
            .arg("audio-sink=fakesink name=asink sync=true silent=false"),
        PLAY_FOR,
    );
    let output = format!("{}\n{}", run.stdout, run.stderr);
    let report = GstReport::read(&output);
    eprintln!("gstreamer: {report:?} after {:.1}s", run.elapsed.as_secs_f64());

    assert!(report.errors.is_empty(), "GStreamer posted errors: {:#?}\n{}", report.errors, tail(&output));
    assert!(run.timed_out(), "gst-launch stopped by itself before {PLAY_FOR:?}: {}", tail(&output));
    assert!(report.reached_playing, "pipeline never reached PLAYING\n{}", tail(&output));
    // 30 fps video and ~47 AAC frames/s; startup may eat a few seconds.
    assert!(report.video_buffers >= 90, "too few video frames rendered: {report:?}\n{}", tail(&output));
    assert!(report.audio_buffers >= 90, "too few audio buffers rendered: {report:?}\n{}", tail(&output));
    if !report.warnings.is_empty() {
        eprintln!("GStreamer warnings: {:#?}", report.warnings);
    }
}

#[derive(Debug, Default)]
struct GstReport {
    reached_playing: bool,
    video_buffers: usize,
    audio_buffers: usize,
    errors: Vec<String>,
    warnings: Vec<String>,
}

impl GstReport {
    fn read(output: &str) -> GstReport {
        let mut report = GstReport::default();
        for line in output.lines() {
            if line.starts_with('/') && line.contains("last-message = chain") {
                if line.contains("(vsink:sink)") {
                    report.video_buffers += 1;
                } else if line.contains("(asink:sink)") {
                    report.audio_buffers += 1;
                }
            } else if line.contains("from element \"player\" (state-changed)")
                && line.contains("new-state=(GstState)playing")
            {
                report.reached_playing = true;
            } else if line.starts_with("ERROR") || line.contains(" (error):") {
                report.errors.push(line.to_string());
            } else if line.starts_with("WARNING") || line.contains(" (warning):") {
                report.warnings.push(line.to_string());
            }
        }
        report
    }
}

/// The end of the log without the per-buffer noise.
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().filter(|line| !line.contains("last-message")).collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
