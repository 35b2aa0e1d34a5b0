//! Segmenter behaviour on real encoder captures and on edited timelines.

use bytes::Bytes;
use testkit::{golden, mp4};

use super::*;
use crate::flv::{parse_audio_tag, parse_video_tag, FlvFileReader, TAG_AUDIO, TAG_VIDEO};
use crate::timeline::TimestampUnwrapper;

const WALL_START: i64 = 1_795_000_000_000;
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

/// The fixture's frames in file order, with unwrapped timestamps.
fn frames(fixture: &[u8]) -> Vec<MediaFrame> {
    let mut reader = FlvFileReader::new(Bytes::copy_from_slice(fixture)).expect("fixture header");
    let mut clock = TimestampUnwrapper::new();
    let mut frames = Vec::new();
    while let Some(tag) = reader.next_tag().expect("fixture tag") {
        let dts = clock.unwrap(tag.timestamp);
        match tag.tag_type {
            TAG_VIDEO => frames.extend(parse_video_tag(tag.body).expect("video tag").into_media_frame(dts)),
            TAG_AUDIO => frames.push(parse_audio_tag(tag.body).expect("audio tag").into_media_frame(dts)),
            _ => {}
        }
    }
    frames
}

fn frame_ms(frame: &MediaFrame) -> i64 {
    match frame {
        MediaFrame::Video { dts_ms, .. } | MediaFrame::Audio { dts_ms, .. } => *dts_ms,
        _ => 0,
    }
}

fn run(frames: Vec<MediaFrame>, start: SegmenterStart) -> Vec<SegmenterEvent> {
    let mut segmenter = Segmenter::new(SegmenterConfig::default(), start);
    let mut events = Vec::new();
    // Arrival times as a wall clock sees them: they never go backwards.
    let mut wall = WALL_START;
    for frame in frames {
        wall = wall.max(WALL_START + frame_ms(&frame));
        events.extend(segmenter.push(frame, wall).expect("push"));
    }
    events.extend(segmenter.finish());
    events
}

fn parts(events: &[SegmenterEvent]) -> Vec<&Part> {
    events.iter().filter_map(|event| if let SegmenterEvent::Part(part) = event { Some(part) } else { None }).collect()
}

fn segment_ends(events: &[SegmenterEvent]) -> Vec<(u64, f64)> {
    events
        .iter()
        .filter_map(|event| match event {
            SegmenterEvent::SegmentEnd { msn, duration_secs } => Some((*msn, *duration_secs)),
            _ => None,
        })
        .collect()
}

/// The rules every output must keep, whatever the input.
fn check_invariants(events: &[SegmenterEvent]) {
    let target = events
        .iter()
        .find_map(|event| if let SegmenterEvent::Init { info, .. } = event { Some(info.part_target_ms) } else { None })
        .expect("an init segment comes first");
    let parts = parts(events);
    let ends = segment_ends(events);
    for window in parts.windows(2) {
        let (previous, next) = (window[0], window[1]);
        let in_order = (next.msn == previous.msn && next.index == previous.index + 1)
            || (next.msn > previous.msn && next.index == 0);
        assert!(in_order, "parts out of order: {}.{} then {}.{}", previous.msn, previous.index, next.msn, next.index);
    }
    for part in &parts {
        assert!(
            part.duration_secs > 0.0 && part.duration_secs <= f64::from(target) / 1000.0 + 1e-9,
            "part {}.{} lasts {}",
            part.msn,
            part.index,
            part.duration_secs
        );
        assert_eq!(&part.data[4..8], b"moof", "every part begins with a moof");
        assert_eq!(part.index == 0, part.segment_start.is_some());
        if part.index == 0 {
            assert!(part.independent, "segment {} does not start on a keyframe", part.msn);
        }
        let last_of_segment = !parts.iter().any(|other| other.msn == part.msn && other.index == part.index + 1);
        if !part.independent && !last_of_segment {
            assert!(
                part.duration_secs >= 0.85 * f64::from(target) / 1000.0,
                "part {}.{} too short: {}",
                part.msn,
                part.index,
                part.duration_secs
            );
        }
    }
    for (msn, duration) in &ends {
        let sum: f64 = parts.iter().filter(|part| part.msn == *msn).map(|part| part.duration_secs).sum();
        assert!((sum - duration).abs() < 1e-6, "segment {msn}: parts sum to {sum}, segment says {duration}");
        assert!(*duration > 0.0 && *duration < 10.0, "segment {msn} lasts {duration}");
    }
    let mut pdts = parts.iter().filter_map(|part| part.segment_start.map(|start| start.program_date_time_ms));
    let mut previous = pdts.next();
    for pdt in pdts {
        assert!(Some(pdt) > previous, "PROGRAM-DATE-TIME went backwards");
        previous = Some(pdt);
    }
}

/// Every event, its metadata and its bytes, in order: what the golden
/// digests are taken of.
fn transcript(events: &[SegmenterEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events {
        match event {
            SegmenterEvent::Init { version, data, .. } => {
                out.extend_from_slice(format!("init{version}:").as_bytes());
                out.extend_from_slice(data);
            }
            SegmenterEvent::Part(part) => {
                let header = format!("part{}.{}:{}:{}:", part.msn, part.index, part.duration_secs, part.independent);
                out.extend_from_slice(header.as_bytes());
                out.extend_from_slice(&part.data);
            }
            SegmenterEvent::SegmentEnd { msn, duration_secs } => {
                out.extend_from_slice(format!("end{msn}:{duration_secs}").as_bytes())
            }
        }
    }
    out
}

#[test]
fn bframes_fixture_packages_into_valid_parts_and_segments() {
    let events = run(frames(include_bytes!("../../testdata/bframes.flv")), SegmenterStart::default());
    check_invariants(&events);
    let ends = segment_ends(&events);
    assert_eq!(ends.len(), 2, "3 s at a 1 s GOP: one 2 s segment and the rest");
    assert!((ends[0].1 - 2.0).abs() < 0.001, "first segment {}", ends[0].1);
    let parts = parts(&events);
    assert!(parts.iter().filter(|part| part.msn == 0).count() == 10, "2 s of 0.2 s parts");
    assert!(parts.iter().any(|part| part.independent && part.index > 0), "the 1 s keyframe starts an independent part");
    golden::check_sha256(GOLDEN, "segmenter_bframes", &transcript(&events));
}

#[test]
fn baseline_fixture_matches_golden_digest() {
    let events = run(frames(include_bytes!("../../testdata/baseline.flv")), SegmenterStart::default());
    check_invariants(&events);
    match &events[0] {
        SegmenterEvent::Init { info, .. } => {
            assert_eq!(info.codecs().len(), 2);
            assert_eq!(info.audio.as_ref().map(AudioConfig::sample_rate), Some(44_100));
        }
        other => panic!("expected an init segment first, got {other:?}"),
    }
    golden::check_sha256(GOLDEN, "segmenter_baseline", &transcript(&events));
}

/// Enhanced RTMP captures (HEVC with B-frames, AV1) package like H.264: same
/// cuts, and each init segment names its codec.
#[test]
fn enhanced_rtmp_fixtures_match_golden_digests() {
    let cases: [(&[u8], &str, &str); 2] = [
        (include_bytes!("../../testdata/hevc_aac.flv"), "hvc1.1.6.L60.90", "segmenter_hevc"),
        (include_bytes!("../../testdata/av1_aac.flv"), "av01.0.00M.08", "segmenter_av1"),
    ];
    for (fixture, codec, name) in cases {
        let events = run(frames(fixture), SegmenterStart::default());
        check_invariants(&events);
        match &events[0] {
            SegmenterEvent::Init { info, .. } => {
                assert_eq!(info.codecs(), [codec, "mp4a.40.2"]);
                assert_eq!(info.part_target_ms, 200, "six 30 fps frames, or the configured target");
            }
            other => panic!("expected an init segment first, got {other:?}"),
        }
        let ends = segment_ends(&events);
        assert_eq!(ends.len(), 2, "{name}: 3 s at a 1 s GOP: one 2 s segment and the rest");
        assert!((ends[0].1 - 2.0).abs() < 0.001, "{name}: first segment {}", ends[0].1);
        for part in parts(&events) {
            // moof is followed by mdat, whose payload opens with the video run.
            let first_sample_byte = mp4::child(&part.data, &["mdat"])[0];
            assert_ne!(first_sample_byte, 0x12, "{name}: temporal delimiter left in part {}.{}", part.msn, part.index);
        }
        golden::check_sha256(GOLDEN, name, &transcript(&events));
    }
}

#[test]
fn continuation_starts_at_the_given_sequence_with_a_discontinuity() {
    let start = SegmenterStart {
        first_msn: 41,
        first_init_version: 3,
        discontinuity: true,
        advertised_part_target_ms: Some(200),
    };
    let events = run(frames(include_bytes!("../../testdata/bframes.flv")), start);
    let parts = parts(&events);
    assert_eq!(parts[0].msn, 41);
    let first_start = parts[0].segment_start.expect("first part starts a segment");
    assert!(first_start.discontinuity);
    assert_eq!(first_start.init_version, 3);
    assert!(matches!(events[0], SegmenterEvent::Init { version: 3, .. }));
    assert!(!parts.iter().skip(1).filter_map(|part| part.segment_start).any(|start| start.discontinuity));
}

fn shift(frames: Vec<MediaFrame>, from_ms: i64, by_ms: i64) -> Vec<MediaFrame> {
    frames
        .into_iter()
        .map(|frame| match frame {
            MediaFrame::Video { dts_ms, cts_ms, keyframe, data } if dts_ms >= from_ms => {
                MediaFrame::Video { dts_ms: dts_ms + by_ms, cts_ms, keyframe, data }
            }
            MediaFrame::Audio { dts_ms, data } if dts_ms >= from_ms => {
                MediaFrame::Audio { dts_ms: dts_ms + by_ms, data }
            }
            other => other,
        })
        .collect()
}

#[test]
fn timestamp_jumps_become_discontinuities_without_huge_durations() {
    for jump in [60_000, -60_000, 4_000_000_000] {
        let events =
            run(shift(frames(include_bytes!("../../testdata/bframes.flv")), 1500, jump), SegmenterStart::default());
        check_invariants(&events);
        let discontinuities =
            parts(&events).iter().filter_map(|part| part.segment_start).filter(|start| start.discontinuity).count();
        assert_eq!(discontinuities, 1, "jump of {jump} ms");
    }
}

#[test]
fn new_codec_parameters_start_a_new_init_segment() {
    let original = frames(include_bytes!("../../testdata/bframes.flv"));
    let resized = frames(include_bytes!("../../testdata/baseline.flv"));
    let offset = original.iter().map(frame_ms).max().unwrap_or(0) + 33;
    let mut all = original;
    all.extend(shift(resized, 0, offset));
    let events = run(all, SegmenterStart::default());
    check_invariants(&events);
    let versions: Vec<u32> = events
        .iter()
        .filter_map(|event| if let SegmenterEvent::Init { version, .. } = event { Some(*version) } else { None })
        .collect();
    assert_eq!(versions, vec![0, 1]);
    let starts: Vec<SegmentStart> = parts(&events).iter().filter_map(|part| part.segment_start).collect();
    let switched = starts.iter().position(|start| start.init_version == 1).expect("a segment uses the new init");
    assert!(starts[switched].discontinuity);
}

#[test]
fn audio_only_streams_cut_parts_on_audio() {
    let audio_only: Vec<MediaFrame> = frames(include_bytes!("../../testdata/bframes.flv"))
        .into_iter()
        .filter(|frame| matches!(frame, MediaFrame::Audio { .. } | MediaFrame::AudioConfig { .. }))
        .collect();
    let events = run(audio_only, SegmenterStart::default());
    check_invariants(&events);
    match &events[0] {
        SegmenterEvent::Init { info, .. } => {
            assert!(info.video.is_none());
            assert_eq!(info.part_target_ms, 192, "nine 1024-sample frames at 48 kHz");
        }
        other => panic!("expected init, got {other:?}"),
    }
    assert!(!segment_ends(&events).is_empty());
}

#[test]
fn frames_before_any_config_are_dropped() {
    let mut segmenter = Segmenter::new(SegmenterConfig::default(), SegmenterStart::default());
    let events = segmenter
        .push(
            MediaFrame::Video { dts_ms: 0, cts_ms: 0, keyframe: true, data: Bytes::from_static(&[0, 0, 0, 1, 0x65]) },
            WALL_START,
        )
        .expect("push");
    assert!(events.is_empty());
    assert!(segmenter.finish().is_empty());
}
