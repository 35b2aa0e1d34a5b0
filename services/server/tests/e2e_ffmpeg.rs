//! End to end with ffmpeg on both sides: ffmpeg publishes over RTMP, ffmpeg
//! reads the LL-HLS output back, ffprobe checks what the segments carry.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{hls, http, require_tool, run_with_timeout, tools, Server};
use testkit::TempDir;

#[test]
fn ffmpeg_reads_live_stream_with_h264_b_frames_and_aac() {
    let _turn = common::exclusive();
    let server = Server::start();
    let _publisher = tools::spawn_publisher(&server.publish_url(), 40);
    let playlist = hls::wait_for_segments(&server.playlist_url, 2, Duration::from_secs(45));

    // A plain (non-LL) HLS client must read the live stream without complaint.
    let reader = run_with_timeout(
        Command::new(require_tool("ffmpeg"))
            .args(["-hide_banner", "-nostdin", "-v", "error"])
            .args(["-i", &server.playlist_url])
            .args(["-t", "6", "-f", "null", "-"]),
        Duration::from_secs(60),
    );
    assert!(reader.success(), "ffmpeg could not read the stream: {reader}");
    assert!(reader.stderr.trim().is_empty(), "ffmpeg reported errors while reading the stream: {reader}");

    // The newest complete segment, prefixed with its init segment, is a
    // playable MP4 with H.264 (B-frames intact) and AAC.
    let init_url = playlist.init_url().unwrap_or_else(|| panic!("media playlist has no EXT-X-MAP:\n{}", playlist.body));
    let segment_url = playlist
        .segment_urls()
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("media playlist has no segment:\n{}", playlist.body));
    let mut sample = download(&init_url);
    sample.extend(download(&segment_url));
    let scratch = TempDir::new("relay-e2e-probe");
    let sample_path = scratch.join("sample.mp4");
    std::fs::write(&sample_path, &sample).expect("write sample");

    let probe = tools::probe(&sample_path);
    eprintln!("probe of {segment_url}: {probe:?}");
    assert!(probe.streams.iter().any(|s| s == "video:h264"), "no H.264 video in {segment_url}: {probe:?}");
    assert!(probe.streams.iter().any(|s| s == "audio:aac"), "no AAC audio in {segment_url}: {probe:?}");
    assert!(probe.video_packets >= 30, "segment {segment_url} holds too few video frames: {probe:?}");
    assert!(
        probe.video_reordered,
        "the publisher sends B-frames but {segment_url} has none (pts never reorders): {probe:?}"
    );
}

#[test]
fn wrong_stream_key_is_refused_and_good_stream_keeps_serving() {
    let _turn = common::exclusive();
    let mut server = Server::start();
    let mut publisher = tools::spawn_publisher(&server.publish_url(), 40);
    hls::wait_for_segments(&server.playlist_url, 1, Duration::from_secs(45));

    // If the server accepted this key, ffmpeg would keep sending for 30 s.
    let intruder_url = server.publish_url_with_key("not-the-key");
    let intruder = run_with_timeout(
        Command::new(require_tool("ffmpeg")).args(tools::test_source_args(30, &intruder_url)),
        Duration::from_secs(20),
    );
    assert!(!intruder.timed_out(), "publishing with a wrong key was not refused: {intruder}");
    assert!(!intruder.success(), "publishing with a wrong key succeeded: {intruder}");
    assert!(intruder.elapsed < Duration::from_secs(15), "refusal took too long: {intruder}");

    // The legitimate stream is unaffected: still publishing, still growing.
    server.assert_running();
    assert!(
        publisher.try_wait().is_none(),
        "the good publisher stopped after the wrong-key attempt:\n{}",
        publisher.stderr_tail()
    );
    let before = hls::fetch_media_playlist(&server.playlist_url).expect("playlist");
    let last_before = before.segment_urls().last().cloned();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = hls::fetch_media_playlist(&server.playlist_url).expect("playlist");
        if now.segment_urls().last() != last_before.as_ref() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no new segment within 15 s after the refused publish; playlist:\n{}",
            now.body
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn download(url: &str) -> Vec<u8> {
    let response = http::get(url, Duration::from_secs(10)).unwrap_or_else(|err| panic!("GET {url}: {err}"));
    assert_eq!(response.status, 200, "GET {url}");
    response.body
}
