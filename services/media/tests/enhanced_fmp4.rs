//! Enhanced RTMP captures (HEVC with B-frames, AV1 with temporal
//! delimiters) run through the FLV parser and the segmenter; the init
//! segment and every part, joined into one fragmented MP4, must read back in
//! ffprobe with the right codec, size, keyframes and timestamps, and decode
//! in ffmpeg without a single error line.

use std::path::PathBuf;

use bytes::Bytes;
use media::flv::{parse_audio_tag, parse_video_tag, FlvFileReader, FlvVideo, TAG_AUDIO, TAG_VIDEO};
use media::segmenter::{Segmenter, SegmenterConfig, SegmenterEvent, SegmenterStart};
use media::timeline::TimestampUnwrapper;
use media::MediaFrame;
use testkit::tools::{field, run_quiet, sections};
use testkit::TempDir;

const HEVC_FIXTURE: &[u8] = include_bytes!("../testdata/hevc_aac.flv");
const AV1_FIXTURE: &[u8] = include_bytes!("../testdata/av1_aac.flv");
const WALL_START: i64 = 1_795_000_000_000;

struct SourceFrame {
    dts_ms: i64,
    cts_ms: i32,
    keyframe: bool,
}

struct Packaged {
    file: Vec<u8>,
    video: Vec<SourceFrame>,
    audio_frames: usize,
    parts: usize,
}

/// The fixture through the segmenter: init segment plus every part, in order.
fn package(fixture: &'static [u8]) -> Packaged {
    let mut reader = FlvFileReader::new(Bytes::from_static(fixture)).unwrap();
    let mut clock = TimestampUnwrapper::new();
    let mut segmenter = Segmenter::new(SegmenterConfig::default(), SegmenterStart::default());
    let mut packaged = Packaged { file: Vec::new(), video: Vec::new(), audio_frames: 0, parts: 0 };
    let mut events = Vec::new();
    while let Some(tag) = reader.next_tag().unwrap() {
        let dts_ms = clock.unwrap(tag.timestamp);
        let frame = match tag.tag_type {
            TAG_VIDEO => {
                let video = parse_video_tag(tag.body).unwrap();
                if let FlvVideo::Frame { keyframe, cts_ms, .. } = &video {
                    packaged.video.push(SourceFrame { dts_ms, cts_ms: *cts_ms, keyframe: *keyframe });
                }
                video.into_media_frame(dts_ms)
            }
            TAG_AUDIO => {
                let audio = parse_audio_tag(tag.body).unwrap().into_media_frame(dts_ms);
                packaged.audio_frames += usize::from(matches!(audio, MediaFrame::Audio { .. }));
                Some(audio)
            }
            _ => None,
        };
        if let Some(frame) = frame {
            events.extend(segmenter.push(frame, WALL_START + dts_ms).unwrap());
        }
    }
    events.extend(segmenter.finish());
    for event in events {
        match event {
            SegmenterEvent::Init { version, data, .. } => {
                assert!(packaged.file.is_empty() && version == 0, "one init segment, first");
                packaged.file.extend_from_slice(&data);
            }
            SegmenterEvent::Part(part) => {
                packaged.parts += 1;
                packaged.file.extend_from_slice(&part.data);
            }
            SegmenterEvent::SegmentEnd { .. } => {}
        }
    }
    packaged
}

fn scratch_file(dir: &TempDir, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, data).unwrap();
    path
}

fn check_with_ffmpeg(fixture: &'static [u8], codec_name: &str, name: &str) {
    let packaged = package(fixture);
    assert!(packaged.parts >= 14, "about 3 s of 0.2 s parts, got {}", packaged.parts);
    let scratch = TempDir::new("media-enhanced");
    let path = scratch_file(&scratch, &format!("{name}.mp4"), &packaged.file);
    let path_text = path.to_str().unwrap();

    let probe = run_quiet("ffprobe", &["-v", "error", "-show_streams", "-show_packets", path_text]);
    let streams = sections(&probe, "STREAM");
    assert_eq!(streams.len(), 2);
    assert_eq!(field(&streams[0], "codec_name"), codec_name);
    assert_eq!((field(&streams[0], "width"), field(&streams[0], "height")), ("320", "240"));
    assert_eq!(field(&streams[1], "codec_name"), "aac");

    let packets = sections(&probe, "PACKET");
    let video: Vec<(i64, i64, bool)> = packets
        .iter()
        .filter(|packet| field(packet, "stream_index") == "0")
        .map(|packet| {
            let pts = field(packet, "pts").parse().unwrap();
            let dts = field(packet, "dts").parse().unwrap();
            (pts, dts, field(packet, "flags").starts_with('K'))
        })
        .collect();
    let audio_packets = packets.iter().filter(|packet| field(packet, "stream_index") == "1").count();
    assert_eq!(video.len(), packaged.video.len(), "every coded picture becomes a sample");
    // Audio past the last video frame may be left out when the stream ends.
    let audio_range = packaged.audio_frames - 4..=packaged.audio_frames;
    assert!(audio_range.contains(&audio_packets), "{audio_packets} of {} audio frames", packaged.audio_frames);

    // Keyframes are exactly the sync samples; times are the publisher's,
    // shifted by ffmpeg by the most negative composition offset.
    let min_offset = packaged.video.iter().map(|frame| frame.cts_ms).min().unwrap().min(0);
    for (packet, frame) in video.iter().zip(&packaged.video) {
        let dts = frame.dts_ms * 90;
        let pts = dts + i64::from(frame.cts_ms - min_offset) * 90;
        assert_eq!(*packet, (pts, dts, frame.keyframe), "{name}");
    }
    assert_eq!(video.iter().filter(|packet| packet.2).count(), 3, "{name}: keyframes at 0, 1 and 2 s");
    if codec_name == "hevc" {
        assert!(video.iter().any(|(pts, dts, _)| pts > dts), "the HEVC fixture has B-frames");
    } else {
        assert!(video.iter().all(|(pts, dts, _)| pts == dts), "AV1 samples carry no composition offsets");
    }

    // Every picture decodes, and nothing is reported on the way.
    let decoded = run_quiet(
        "ffprobe",
        &["-v", "error", "-count_frames", "-select_streams", "v:0"]
            .into_iter()
            .chain(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path_text])
            .collect::<Vec<_>>(),
    );
    assert_eq!(decoded.trim(), packaged.video.len().to_string(), "{name}: decoded frames");
    run_quiet("ffmpeg", &["-v", "error", "-i", path_text, "-f", "null", "-"]);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn ffmpeg_decodes_packaged_hevc() {
    check_with_ffmpeg(HEVC_FIXTURE, "hevc", "hevc");
}

#[test]
fn ffmpeg_decodes_packaged_av1() {
    check_with_ffmpeg(AV1_FIXTURE, "av1", "av1");
}
