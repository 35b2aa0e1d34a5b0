//! fMP4 writer checks: byte-exact golden digests for synthetic input, and a
//! real H.264/AAC stream packaged and read back by ffprobe/ffmpeg.
//!
//! Refresh the digests after an intended format change with
//! `UPDATE_GOLDEN=1 cargo test -p media --test fmp4_golden`.

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use media::codec::{AudioConfig, VideoConfig};
use media::fmp4::{init_segment, media_fragment, Sample, TrackMedia, TrackRun, TrackSpec};
use media::{AudioCodec, VideoCodec};
use testkit::golden::check_sha256;
use testkit::tools::{field, run_quiet, sections};

const VIDEO_TRACK: u32 = 1;
const AUDIO_TRACK: u32 = 2;
const VIDEO_TIMESCALE: u32 = 90_000;

/// 640x360 High profile avcC produced by libx264.
const AVC_RECORD_HEX: &str =
    "0164001effe1001a6764001eacd940a02ff970110000030001000003003c0f162d9601000668ebe3cb22c0fdf8f800";
/// AAC-LC, 48 kHz, stereo.
const ASC_48K_STEREO: [u8; 2] = [0x11, 0x90];

fn from_hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap()).collect()
}

fn tracks(video_record: Bytes, audio_record: Bytes) -> Vec<TrackSpec> {
    let video = VideoConfig::parse(VideoCodec::H264, video_record).unwrap();
    let audio = AudioConfig::parse(AudioCodec::Aac, audio_record).unwrap();
    let audio_timescale = audio.sample_rate();
    vec![
        TrackSpec { track_id: VIDEO_TRACK, timescale: VIDEO_TIMESCALE, media: TrackMedia::Video(video) },
        TrackSpec { track_id: AUDIO_TRACK, timescale: audio_timescale, media: TrackMedia::Audio(audio) },
    ]
}

// ---------------------------------------------------------------- golden

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

/// Deterministic filler: distinct per sample so reordering shows up.
fn payload(seed: u32, len: u32) -> Bytes {
    (0..len).map(|at| (seed.wrapping_mul(31).wrapping_add(at * 7) & 0xff) as u8).collect()
}

fn synthetic_run(track_id: u32, base: u64, shape: &[(u32, u32, bool, i32)]) -> TrackRun {
    let samples: Vec<Sample> = shape
        .iter()
        .map(|&(duration, size, keyframe, composition_offset)| Sample { duration, size, keyframe, composition_offset })
        .collect();
    let data = samples.iter().zip(0..).map(|(sample, seed)| payload(seed + track_id * 100, sample.size)).collect();
    TrackRun { track_id, base_decode_time: base, samples, data }
}

fn synthetic_audio(base: u64, count: u32) -> TrackRun {
    let shape: Vec<_> = (0..count).map(|index| (1024, 180 + index % 5 * 3, true, 0)).collect();
    synthetic_run(AUDIO_TRACK, base, &shape)
}

#[test]
fn golden_init_segment() {
    let init = init_segment(&tracks(Bytes::from(from_hex(AVC_RECORD_HEX)), Bytes::from_static(&ASC_48K_STEREO)));
    check_sha256(GOLDEN, "init_avc_aac", &init);
}

#[test]
fn golden_fragment_with_b_frames() {
    // I P B B P B B P in decode order; offsets shifted so the first B-frames
    // present before they decode (negative offsets).
    let video = synthetic_run(
        VIDEO_TRACK,
        0,
        &[
            (3000, 900, true, 3000),
            (3000, 300, false, 9000),
            (3000, 120, false, -3000),
            (3000, 110, false, -3000),
            (3000, 280, false, 9000),
            (3000, 100, false, -3000),
            (3000, 105, false, -3000),
            (3000, 250, false, 3000),
        ],
    );
    check_sha256(GOLDEN, "fragment_bframes", &media_fragment(1, &[video, synthetic_audio(0, 12)]));
}

#[test]
fn golden_fragment_without_reordering() {
    let shape: Vec<_> = (0..8).map(|index| (3000, 200 + index * 11, index == 0, 0)).collect();
    let video = synthetic_run(VIDEO_TRACK, 24_000, &shape);
    let audio = synthetic_audio(12 * 1024, 11);
    check_sha256(GOLDEN, "fragment_plain", &media_fragment(2, &[video, audio]));
}

// ------------------------------------------------------ real stream

struct FlvTag {
    kind: u8,
    timestamp_ms: u32,
    body: Bytes,
}

/// Just enough FLV to pull tags out of a fixture.
fn flv_tags(file: &Bytes) -> Vec<FlvTag> {
    assert_eq!(&file[..3], b"FLV");
    let mut at = u32::from_be_bytes(file[5..9].try_into().unwrap()) as usize + 4;
    let mut tags = Vec::new();
    while at + 11 <= file.len() {
        let header = &file[at..at + 11];
        let size = u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize;
        let timestamp_ms = u32::from_be_bytes([header[7], header[4], header[5], header[6]]);
        let body = file.slice(at + 11..at + 11 + size);
        tags.push(FlvTag { kind: header[0], timestamp_ms, body });
        at += 11 + size + 4;
    }
    tags
}

struct VideoFrame {
    dts_ms: u32,
    cts_ms: i32,
    keyframe: bool,
    data: Bytes,
}

struct Stream {
    avc_record: Bytes,
    asc: Bytes,
    video: Vec<VideoFrame>,
    audio: Vec<Bytes>,
}

fn read_stream(file: Bytes) -> Stream {
    let (mut avc_record, mut asc) = (None, None);
    let (mut video, mut audio) = (Vec::new(), Vec::new());
    for tag in flv_tags(&file) {
        let body = &tag.body;
        match tag.kind {
            9 if body[0] & 0x0f == 7 => {
                let raw_cts = u32::from_be_bytes([0, body[2], body[3], body[4]]);
                let cts_ms = ((raw_cts << 8) as i32) >> 8;
                match body[1] {
                    0 => avc_record = Some(tag.body.slice(5..)),
                    1 => video.push(VideoFrame {
                        dts_ms: tag.timestamp_ms,
                        cts_ms,
                        keyframe: body[0] >> 4 == 1,
                        data: tag.body.slice(5..),
                    }),
                    _ => {}
                }
            }
            8 if body[0] >> 4 == 10 => match body[1] {
                0 => asc = Some(tag.body.slice(2..)),
                _ => audio.push(tag.body.slice(2..)),
            },
            _ => {}
        }
    }
    Stream { avc_record: avc_record.unwrap(), asc: asc.unwrap(), video, audio }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("media-fmp4-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The B-frame fixture, or the same recipe encoded on the spot.
fn b_frame_stream() -> Stream {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/bframes.flv");
    if let Ok(data) = std::fs::read(&fixture) {
        return read_stream(Bytes::from(data));
    }
    let path = scratch_dir("source").join("bframes.flv");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "3", "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-bf", "2", "-g", "30"])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-ar", "48000", "-ac", "2"])
        .arg(&path)
        .status()
        .expect("ffmpeg is required to build the test stream");
    assert!(status.success());
    read_stream(Bytes::from(std::fs::read(&path).unwrap()))
}

/// Packages one fragment per GOP. `cts_shift_ms` is subtracted from every
/// composition offset, to exercise negative offsets.
fn package(stream: &Stream, cts_shift_ms: i32) -> (Vec<u8>, u32) {
    let specs = tracks(stream.avc_record.clone(), stream.asc.clone());
    let samples_per_frame = match &specs[1].media {
        TrackMedia::Audio(audio) => audio.samples_per_frame(),
        TrackMedia::Video(_) => unreachable!(),
    };
    let audio_rate = specs[1].timescale;
    let mut out = init_segment(&specs).to_vec();

    let video = &stream.video;
    let durations: Vec<u32> = (0..video.len())
        .map(|at| match (video.get(at), video.get(at + 1)) {
            (Some(this), Some(next)) => (next.dts_ms - this.dts_ms) * 90,
            _ => 3000,
        })
        .collect();
    let gop_starts: Vec<usize> = (0..video.len()).filter(|&at| video[at].keyframe).collect();
    assert!(gop_starts.len() >= 2 && gop_starts[0] == 0);

    let mut next_audio = 0;
    for (index, &start) in gop_starts.iter().enumerate() {
        let end = gop_starts.get(index + 1).copied().unwrap_or(video.len());
        let frames = &video[start..end];
        let samples = frames
            .iter()
            .zip(&durations[start..end])
            .map(|(frame, &duration)| Sample {
                duration,
                size: frame.data.len() as u32,
                keyframe: frame.keyframe,
                composition_offset: (frame.cts_ms - cts_shift_ms) * 90,
            })
            .collect();
        let video_run = TrackRun {
            track_id: VIDEO_TRACK,
            base_decode_time: u64::from(frames[0].dts_ms) * 90,
            samples,
            data: frames.iter().map(|frame| frame.data.clone()).collect(),
        };
        // Audio frames that start before this GOP ends.
        let end_ms = video.get(end).map_or(u64::MAX, |frame| u64::from(frame.dts_ms));
        let first_audio = next_audio;
        while next_audio < stream.audio.len()
            && (next_audio as u64 * u64::from(samples_per_frame) * 1000 / u64::from(audio_rate)) < end_ms
        {
            next_audio += 1;
        }
        let audio_frames = &stream.audio[first_audio..next_audio];
        let audio_run = TrackRun {
            track_id: AUDIO_TRACK,
            base_decode_time: first_audio as u64 * u64::from(samples_per_frame),
            samples: audio_frames
                .iter()
                .map(|frame| Sample {
                    duration: samples_per_frame,
                    size: frame.len() as u32,
                    keyframe: true,
                    composition_offset: 0,
                })
                .collect(),
            data: audio_frames.to_vec(),
        };
        out.extend_from_slice(&media_fragment(index as u32 + 1, &[video_run, audio_run]));
    }
    (out, gop_starts.len() as u32)
}

fn check_with_ffmpeg(stream: &Stream, cts_shift_ms: i32, name: &str) {
    let (file, fragments) = package(stream, cts_shift_ms);
    assert!(fragments >= 3);
    let dir = scratch_dir(name);
    let path = dir.join("out.mp4");
    std::fs::write(&path, &file).unwrap();
    let path_text = path.to_str().unwrap();

    let probe = run_quiet("ffprobe", &["-v", "error", "-show_streams", "-show_packets", path_text]);
    let streams = sections(&probe, "STREAM");
    assert_eq!(streams.len(), 2);
    assert_eq!(field(&streams[0], "codec_name"), "h264");
    assert_eq!(field(&streams[0], "width"), "320");
    assert_eq!(field(&streams[0], "height"), "240");
    assert_eq!(field(&streams[1], "codec_name"), "aac");
    assert_eq!(field(&streams[1], "sample_rate"), "48000");
    assert_eq!(field(&streams[1], "channels"), "2");

    let packets = sections(&probe, "PACKET");
    let of_stream = |index: &str| -> Vec<(i64, i64, bool)> {
        packets
            .iter()
            .filter(|packet| field(packet, "stream_index") == index)
            .map(|packet| {
                let pts = field(packet, "pts").parse().unwrap();
                let dts = field(packet, "dts").parse().unwrap();
                (pts, dts, field(packet, "flags").starts_with('K'))
            })
            .collect()
    };
    let video = of_stream("0");
    let audio = of_stream("1");
    assert_eq!(video.len(), stream.video.len());
    assert_eq!(audio.len(), stream.audio.len());

    // ffmpeg moves presentation times later by the most negative offset
    // (there is no edit list), so allow exactly that constant shift.
    let expected_pts = |frame: &VideoFrame| i64::from(frame.dts_ms) * 90 + i64::from(frame.cts_ms - cts_shift_ms) * 90;
    let min_offset = stream.video.iter().map(|frame| frame.cts_ms - cts_shift_ms).min().unwrap();
    let pts_shift = i64::from(-min_offset.min(0)) * 90;
    for (packet, frame) in video.iter().zip(&stream.video) {
        let dts = i64::from(frame.dts_ms) * 90;
        assert_eq!(*packet, (expected_pts(frame) + pts_shift, dts, frame.keyframe));
    }
    assert!(video.iter().all(|(pts, dts, _)| pts >= dts));
    assert!(video.windows(2).all(|pair| pair[0].1 < pair[1].1), "video dts must increase");
    let mut presentation: Vec<i64> = video.iter().map(|packet| packet.0).collect();
    presentation.sort_unstable();
    assert!(presentation.windows(2).all(|pair| pair[0] < pair[1]), "duplicate pts");
    assert!(video.iter().any(|(pts, dts, _)| pts > dts), "fixture should have B-frames");
    for (index, packet) in audio.iter().enumerate() {
        assert_eq!(*packet, (index as i64 * 1024, index as i64 * 1024, true));
    }

    run_quiet("ffmpeg", &["-v", "error", "-i", path_text, "-f", "null", "-"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn ffprobe_reads_real_stream_with_b_frames() {
    check_with_ffmpeg(&b_frame_stream(), 0, "bframes");
}

#[test]
fn ffprobe_reads_negative_composition_offsets() {
    let stream = b_frame_stream();
    let first_cts = stream.video[0].cts_ms;
    assert!(first_cts > 0);
    check_with_ffmpeg(&stream, first_cts, "negative");
}
