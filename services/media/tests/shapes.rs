//! Stream shapes publishers really send, encoded by ffmpeg to FLV, read by
//! `media::flv` and packaged by the segmenter: audio-only, video-only,
//! 29.97 fps, 44.1 kHz AAC, HE-AAC (explicit and implicit SBR signalling)
//! and long GOPs. The packaged file must decode in ffmpeg without errors
//! and ffprobe must see the expected tracks; parts must never exceed the
//! advertised PART-TARGET and segments must start on keyframes.

use std::process::Command;

use bytes::{Bytes, BytesMut};
use media::flv::{parse_audio_tag, parse_video_tag, FlvFileReader, TAG_AUDIO, TAG_VIDEO};
use media::segmenter::{Part, Segmenter, SegmenterConfig, SegmenterEvent, SegmenterStart, StreamInfo};
use media::timeline::TimestampUnwrapper;
use testkit::tools::sections;
use testkit::TempDir;

const WALL_START: i64 = 1_795_000_000_000;

/// Runs ffmpeg with `args` (inputs and codecs) writing FLV, and returns the file.
fn encode_flv(name: &str, groups: &[&[&str]]) -> Bytes {
    let args: Vec<&str> = groups.iter().flat_map(|group| group.iter().copied()).collect();
    let scratch = TempDir::new("media-shapes");
    let path = scratch.path().join(format!("{name}.flv"));
    let output = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(&args)
        .args(["-f", "flv"])
        .arg(&path)
        .output()
        .expect("ffmpeg is required for this test");
    assert!(output.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    Bytes::from(std::fs::read(&path).expect("read the FLV"))
}

struct Packaged {
    info: StreamInfo,
    file: Vec<u8>,
    parts: Vec<Part>,
    segment_durations: Vec<f64>,
}

/// FLV through the segmenter. `asc` replaces the AudioSpecificConfig of
/// the AAC sequence header (to signal HE-AAC around an AAC-LC core).
fn package(flv: Bytes, asc: Option<&[u8]>) -> Packaged {
    let mut reader = FlvFileReader::new(flv).expect("FLV header");
    let (mut video_clock, mut audio_clock) = (TimestampUnwrapper::new(), TimestampUnwrapper::new());
    let mut segmenter = Segmenter::new(SegmenterConfig::default(), SegmenterStart::default());
    let mut events = Vec::new();
    while let Some(tag) = reader.next_tag().expect("FLV tag") {
        let frame = match tag.tag_type {
            TAG_VIDEO => {
                parse_video_tag(tag.body).expect("video tag").into_media_frame(video_clock.unwrap(tag.timestamp))
            }
            TAG_AUDIO => {
                let mut body = tag.body;
                if let (Some(asc), Some(0)) = (asc, body.get(1)) {
                    let mut patched = BytesMut::from(&body[..2]);
                    patched.extend_from_slice(asc);
                    body = patched.freeze();
                }
                Some(parse_audio_tag(body).expect("audio tag").into_media_frame(audio_clock.unwrap(tag.timestamp)))
            }
            _ => None,
        };
        if let Some(frame) = frame {
            events.extend(segmenter.push(frame, WALL_START).expect("segmenter accepts the frame"));
        }
    }
    events.extend(segmenter.finish());
    let mut info = None;
    let mut packaged = Packaged {
        info: StreamInfo { video: None, audio: None, part_target_ms: 0 },
        file: Vec::new(),
        parts: Vec::new(),
        segment_durations: Vec::new(),
    };
    for event in events {
        match event {
            SegmenterEvent::Init { version, data, info: stream_info } => {
                assert_eq!(version, 0, "one init segment");
                packaged.file.extend_from_slice(&data);
                info = Some(*stream_info);
            }
            SegmenterEvent::Part(part) => {
                packaged.file.extend_from_slice(&part.data);
                packaged.parts.push(part);
            }
            SegmenterEvent::SegmentEnd { duration_secs, .. } => packaged.segment_durations.push(duration_secs),
        }
    }
    packaged.info = info.expect("an init segment");
    packaged
}

/// Parts never exceed PART-TARGET, and each segment's first part is independent.
fn check_parts(packaged: &Packaged) {
    let target = f64::from(packaged.info.part_target_ms) / 1000.0;
    assert!(!packaged.parts.is_empty());
    for part in &packaged.parts {
        assert!(
            part.duration_secs <= target + 1e-9,
            "part {}.{} lasts {} s > {target}",
            part.msn,
            part.index,
            part.duration_secs
        );
        if part.index == 0 {
            assert!(part.independent, "segment {} starts on a keyframe", part.msn);
        }
    }
}

/// ffprobe's `key=value` lines for each stream, and the decode errors of the whole file.
fn probe(name: &str, file: &[u8]) -> Vec<Vec<(String, String)>> {
    let scratch = TempDir::new("media-shapes");
    let path = scratch.path().join(format!("{name}.mp4"));
    std::fs::write(&path, file).expect("write the packaged file");
    let decode =
        Command::new("ffmpeg").args(["-nostdin", "-v", "error", "-i"]).arg(&path).args(["-f", "null", "-"]).output();
    let decode = decode.expect("run ffmpeg");
    let errors = String::from_utf8_lossy(&decode.stderr);
    assert!(decode.status.success() && errors.trim().is_empty(), "{name}: ffmpeg decode errors:\n{errors}");
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-show_streams", "-of", "default"])
        .arg(&path)
        .output()
        .expect("run ffprobe");
    assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
    sections(&String::from_utf8_lossy(&output.stdout), "STREAM")
}

fn field<'a>(stream: &'a [(String, String)], key: &str) -> &'a str {
    stream.iter().find(|(name, _)| name == key).map_or("", |(_, value)| value.as_str())
}

const VIDEO_25: &[&str] = &["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=6"];
const X264: &[&str] = &["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-sc_threshold", "0"];

#[test]
fn audio_only() {
    let flv = encode_flv(
        "audio-only",
        &[&["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=6"], &["-c:a", "aac"]],
    );
    let packaged = package(flv, None);
    assert!(packaged.info.video.is_none());
    assert_eq!(packaged.info.codecs(), ["mp4a.40.2"]);
    // Nine 1024-sample frames at 48 kHz: 192 ms.
    assert_eq!(packaged.info.part_target_ms, 192);
    check_parts(&packaged);
    let full: Vec<f64> = packaged.segment_durations[..packaged.segment_durations.len() - 1].to_vec();
    assert!(full.iter().all(|duration| (1.9..=2.1).contains(duration)), "{full:?}");
    let streams = probe("audio-only", &packaged.file);
    assert_eq!(streams.len(), 1);
    assert_eq!((field(&streams[0], "codec_name"), field(&streams[0], "sample_rate")), ("aac", "48000"));
}

#[test]
fn video_only() {
    let flv = encode_flv("video-only", &[VIDEO_25, X264, &["-g", "50"]]);
    let packaged = package(flv, None);
    assert!(packaged.info.audio.is_none());
    assert_eq!(packaged.info.codecs().len(), 1);
    assert!(packaged.info.codecs()[0].starts_with("avc1."), "{:?}", packaged.info.codecs());
    assert_eq!(packaged.info.part_target_ms, 200);
    check_parts(&packaged);
    assert_eq!(packaged.segment_durations, [2.0, 2.0, 2.0]);
    let streams = probe("video-only", &packaged.file);
    assert_eq!(streams.len(), 1);
    assert_eq!((field(&streams[0], "codec_name"), field(&streams[0], "nb_read_packets")), ("h264", "150"));
}

#[test]
fn ntsc_frame_rate_with_44_1_khz_audio() {
    let flv = encode_flv(
        "ntsc",
        &[
            &["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30000/1001:duration=8"],
            &["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=8"],
            X264,
            &["-g", "60", "-c:a", "aac"],
        ],
    );
    let packaged = package(flv, None);
    // Six frames of 33.37 ms: 200.2 ms, advertised as 201 so no part exceeds it.
    assert_eq!(packaged.info.part_target_ms, 201);
    check_parts(&packaged);
    let frame = 1001.0 / 30000.0;
    for part in &packaged.parts[..packaged.parts.len() - 1] {
        let frames = part.duration_secs / frame;
        assert!((frames - frames.round()).abs() < 0.05 && frames.round() <= 6.0, "part of {} s", part.duration_secs);
    }
    let streams = probe("ntsc", &packaged.file);
    assert_eq!(streams.len(), 2);
    assert_eq!(field(&streams[0], "r_frame_rate"), "30000/1001");
    assert_eq!((field(&streams[1], "codec_name"), field(&streams[1], "sample_rate")), ("aac", "44100"));
    // Every AAC frame of 8 s at 44.1 kHz made it (344.5 frames, give or take the encoder's priming).
    let packets: u32 = field(&streams[1], "nb_read_packets").parse().expect("packet count");
    assert!((344..=347).contains(&packets), "{packets}");
}

/// HE-AAC around an AAC-LC core at 22.05 kHz: ffmpeg has no HE-AAC encoder,
/// so the sequence header is rewritten to signal SBR at 44.1 kHz.
fn he_aac(name: &str, asc: &[u8], codec: &str) {
    let flv = encode_flv(
        name,
        &[&["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=5"], &["-c:a", "aac", "-ac", "2"]],
    );
    let packaged = package(flv, Some(asc));
    assert_eq!(packaged.info.codecs(), [codec]);
    check_parts(&packaged);
    let streams = probe(name, &packaged.file);
    assert_eq!(field(&streams[0], "sample_rate"), "44100", "SBR doubles the output rate: {streams:?}");
    // ffprobe names the core object type until it decodes SBR data, which this LC core has none of.
    assert_eq!(field(&streams[0], "profile"), "LC", "{streams:?}");
    // The sample entry's DecoderSpecificInfo carries the config unchanged.
    let mut descriptor = vec![0x05, asc.len() as u8];
    descriptor.extend_from_slice(asc);
    assert!(packaged.file.windows(descriptor.len()).any(|window| window == descriptor), "esds carries the config");
}

#[test]
fn he_aac_explicit_signalling() {
    // Object type 5, core 22050 Hz (index 7), stereo, extension 44100 Hz (index 4), core type 2.
    he_aac("he-aac-explicit", &[0x2b, 0x92, 0x08, 0x00], "mp4a.40.5");
}

#[test]
fn he_aac_backward_compatible_signalling() {
    // AAC-LC at 22050 Hz stereo, then sync extension 0x2b7, object type 5, SBR present, 44100 Hz.
    // A player without SBR still plays the LC core; CODECS says HE-AAC so players pick the full decode.
    he_aac("he-aac-implicit", &[0x13, 0x90, 0x56, 0xe5, 0xa0], "mp4a.40.5");
}

#[test]
fn long_gop_segments_follow_keyframes_and_parts_follow_the_part_target() {
    let flv = encode_flv(
        "long-gop",
        &[
            &["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=20"],
            &["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=20"],
            X264,
            &["-g", "150", "-keyint_min", "150", "-c:a", "aac"],
        ],
    );
    let packaged = package(flv, None);
    check_parts(&packaged);
    // Keyframes every 6 s: segments are 6 s although the target is 2 s.
    assert_eq!(packaged.segment_durations[..3], [6.0, 6.0, 6.0]);
    let parts_per_segment = packaged.parts.iter().filter(|part| part.msn == 0).count();
    assert_eq!(parts_per_segment, 30, "200 ms parts through the long segment");
    assert!(packaged.parts.iter().filter(|part| part.independent).count() >= 4);
    let streams = probe("long-gop", &packaged.file);
    assert_eq!((field(&streams[0], "codec_name"), field(&streams[1], "codec_name")), ("h264", "aac"));
}
