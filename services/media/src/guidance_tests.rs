use bytes::Bytes;

use super::*;
use crate::{AudioCodec, VideoCodec};

/// `seconds` of 25 fps video with a keyframe every `gop_frames`, 5000-byte
/// pictures, and 44.1 kHz AAC frames of 200 bytes.
fn feed(guidance: &mut StreamGuidance, seconds: i64, gop_frames: i64, cts_ms: i32, audio: bool) {
    guidance.observe(&MediaFrame::VideoConfig { codec: VideoCodec::H264, record: Bytes::new() });
    if audio {
        guidance.observe(&MediaFrame::AudioConfig { codec: AudioCodec::Aac, record: Bytes::new() });
    }
    for frame in 0..seconds * 25 {
        let dts_ms = frame * 40;
        let data = Bytes::from(vec![0u8; 5000]);
        guidance.observe(&MediaFrame::Video { dts_ms, cts_ms, keyframe: frame % gop_frames == 0, data });
    }
    if audio {
        for frame in 0..seconds * 44_100 / 1024 {
            guidance.observe(&MediaFrame::Audio {
                dts_ms: frame * 1024 * 1000 / 44_100,
                data: Bytes::from(vec![0u8; 200]),
            });
        }
    }
}

#[test]
fn measures_gop_bitrates_and_frame_rate() {
    let mut guidance = StreamGuidance::new();
    feed(&mut guidance, 10, 50, 0, true);
    let report = guidance.report();
    assert_eq!(report.gop_last_ms, Some(2000));
    assert_eq!(report.gop_max_ms, Some(2000));
    assert_eq!(report.gop_average_ms, Some(2000.0));
    assert_eq!(report.keyframes_regular, Some(true));
    assert!(!report.b_frames);
    assert_eq!(report.frame_rate, Some(25.0));
    assert_eq!(report.video_bitrate_bps, Some(25 * 5000 * 8));
    let audio = report.audio_bitrate_bps.unwrap();
    assert!((68_000..=72_000).contains(&audio), "{audio}");
    assert!(guidance.advice(2000, 200).is_empty(), "{:?}", guidance.advice(2000, 200));
}

#[test]
fn long_gop_gets_keyframe_advice() {
    let mut guidance = StreamGuidance::new();
    feed(&mut guidance, 20, 200, 0, true);
    let advice = guidance.advice(2000, 200);
    assert_eq!(
        advice,
        ["keyframe interval is 8.0 s, longer than the 2 s segment target: set the encoder's keyframe interval to 2 s"]
    );
}

#[test]
fn gop_that_does_not_divide_the_target_and_b_frames() {
    let mut guidance = StreamGuidance::new();
    feed(&mut guidance, 12, 30, 80, true);
    let report = guidance.report();
    assert!(report.b_frames);
    let advice = guidance.advice(2000, 200).join("\n");
    assert!(
        advice.contains("keyframe interval 1.2 s does not divide the 2 s segment target, so segments last 2.4 s"),
        "{advice}"
    );
    assert!(advice.contains("B-frames"), "{advice}");
}

#[test]
fn irregular_keyframes_low_frame_rate_and_no_audio() {
    let mut guidance = StreamGuidance::new();
    guidance.observe(&MediaFrame::VideoConfig { codec: VideoCodec::H264, record: Bytes::new() });
    // 4 fps; keyframes at 0, 0.5, 2.0, 2.25, 4.0 s.
    let keyframes = [0, 2, 8, 9, 16];
    for frame in 0..24i64 {
        let data = Bytes::from_static(&[0; 10]);
        let keyframe = keyframes.contains(&frame);
        guidance.observe(&MediaFrame::Video { dts_ms: frame * 250, cts_ms: 0, keyframe, data });
    }
    let report = guidance.report();
    assert_eq!(report.keyframes_regular, Some(false));
    assert_eq!(report.gop_recent_range_ms, Some((250, 1750)));
    let advice = guidance.advice(2000, 200).join("\n");
    assert!(advice.contains("irregularly (every 0.2 to 1.8 s)"), "{advice}");
    assert!(advice.contains("frames are 250 ms apart (4.0 fps), longer than the 200 ms part target"), "{advice}");
    assert!(advice.contains("no audio"), "{advice}");
}

#[test]
fn a_single_keyframe_that_never_repeats_is_reported() {
    let mut guidance = StreamGuidance::new();
    feed(&mut guidance, 10, 1000, 0, true);
    let advice = guidance.advice(2000, 200);
    assert_eq!(advice.len(), 1, "{advice:?}");
    assert!(advice[0].starts_with("no second keyframe in 10.0 s"), "{advice:?}");
}
