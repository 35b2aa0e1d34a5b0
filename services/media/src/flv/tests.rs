use super::*;
use crate::error::MediaError;

const BFRAMES: &[u8] = include_bytes!("../../testdata/bframes.flv");
const BASELINE: &[u8] = include_bytes!("../../testdata/baseline.flv");

fn tags(file: &'static [u8]) -> Vec<FlvTag> {
    FlvFileReader::new(Bytes::from_static(file)).unwrap().collect::<Result<Vec<_>, _>>().unwrap()
}

fn videos(file: &'static [u8]) -> Vec<FlvVideo> {
    tags(file)
        .into_iter()
        .filter(|tag| tag.tag_type == TAG_VIDEO)
        .map(|tag| parse_video_tag(tag.body).unwrap())
        .collect()
}

#[test]
fn file_reader_sees_header_and_all_tag_kinds() {
    let reader = FlvFileReader::new(Bytes::from_static(BFRAMES)).unwrap();
    assert_eq!(reader.header(), FlvFileHeader { has_audio: true, has_video: true });
    let tags = tags(BFRAMES);
    assert_eq!(tags[0].tag_type, TAG_SCRIPT);
    assert!(tags.iter().filter(|tag| tag.tag_type == TAG_VIDEO).count() >= 89);
    assert!(tags.iter().filter(|tag| tag.tag_type == TAG_AUDIO).count() > 100);
    // Decode timestamps are monotonic per track.
    for kind in [TAG_AUDIO, TAG_VIDEO] {
        let stamps: Vec<u32> = tags.iter().filter(|tag| tag.tag_type == kind).map(|tag| tag.timestamp).collect();
        assert!(stamps.windows(2).all(|pair| pair[0] <= pair[1]));
        assert!(*stamps.last().unwrap() > 2_500);
    }
}

#[test]
fn bframes_fixture_has_config_keyframes_and_composition_offsets() {
    let videos = videos(BFRAMES);
    assert!(matches!(&videos[0], FlvVideo::Config { codec: VideoCodec::H264, record } if record[0] == 1));
    let frames: Vec<(bool, i32)> = videos
        .iter()
        .filter_map(|video| match video {
            FlvVideo::Frame { keyframe, cts_ms, data, .. } => {
                assert!(!data.is_empty());
                Some((*keyframe, *cts_ms))
            }
            _ => None,
        })
        .collect();
    assert!(frames[0].0, "first frame is a keyframe");
    let keyframes = frames.iter().filter(|(keyframe, _)| *keyframe).count();
    assert!((3..=4).contains(&keyframes), "GOP of 30 at 30 fps over 3 s: {keyframes}");
    assert!(frames.iter().any(|(_, cts)| *cts > 0));
    assert!(frames.iter().all(|(_, cts)| *cts >= 0));
}

#[test]
fn baseline_fixture_has_no_composition_offsets() {
    let videos = videos(BASELINE);
    assert!(matches!(videos[0], FlvVideo::Config { .. }));
    assert!(videos.iter().all(|video| !matches!(video, FlvVideo::Frame { cts_ms, .. } if *cts_ms != 0)));
}

#[test]
fn audio_fixtures_start_with_aac_config() {
    for (file, expected_config) in [(BFRAMES, [0x11u8, 0x90]), (BASELINE, [0x12, 0x08])] {
        let audio: Vec<FlvAudio> = tags(file)
            .into_iter()
            .filter(|tag| tag.tag_type == TAG_AUDIO)
            .map(|tag| parse_audio_tag(tag.body).unwrap())
            .collect();
        // AudioSpecificConfig: AAC LC, 48 kHz stereo / 44.1 kHz mono.
        assert!(
            matches!(&audio[0], FlvAudio::Config { codec: AudioCodec::Aac, record } if record[..2] == expected_config)
        );
        assert!(audio[1..].iter().all(|tag| matches!(tag, FlvAudio::Frame { data, .. } if !data.is_empty())));
    }
}

#[test]
fn file_reader_errors_on_truncation() {
    assert!(FlvFileReader::new(Bytes::from_static(b"FLV\x01")).is_err());
    assert!(FlvFileReader::new(Bytes::from_static(b"XYZ\x01\x05\x00\x00\x00\x09\0\0\0\0")).is_err());
    let cut = Bytes::from_static(&BFRAMES[..BFRAMES.len() - 2]);
    let results: Vec<_> = FlvFileReader::new(cut).unwrap().collect();
    assert!(matches!(results.last(), Some(Err(MediaError::Truncated { .. }))));
    assert!(results[..results.len() - 1].iter().all(Result::is_ok));
}

#[test]
fn legacy_video_variants() {
    let nalu = Bytes::from_static(&[0x27, 0x01, 0xff, 0xff, 0xfe, 0, 0, 0, 1, 0x41]);
    assert_eq!(
        parse_video_tag(nalu).unwrap(),
        FlvVideo::Frame {
            codec: VideoCodec::H264,
            keyframe: false,
            cts_ms: -2,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x41])
        }
    );
    assert_eq!(parse_video_tag(Bytes::from_static(&[0x17, 0x02, 0, 0, 0])).unwrap(), FlvVideo::EndOfSequence);
    assert_eq!(parse_video_tag(Bytes::from_static(&[0x57, 0x00])).unwrap(), FlvVideo::Ignored);
    assert!(matches!(parse_video_tag(Bytes::from_static(&[0x12, 0x00])), Err(MediaError::Unsupported { .. })));
    assert!(matches!(parse_video_tag(Bytes::from_static(&[0x17, 0x00, 0, 0, 0])), Err(MediaError::Invalid { .. })));
    assert!(matches!(parse_video_tag(Bytes::from_static(&[0x17, 0x01, 0])), Err(MediaError::Truncated { .. })));
    assert!(parse_video_tag(Bytes::new()).is_err());
    assert!(parse_video_tag(Bytes::from_static(&[0x07, 0x01, 0, 0, 0])).is_err());
}

#[test]
fn enhanced_video_variants() {
    let start = Bytes::from_static(b"\x90hvc1\x01\x02");
    assert_eq!(
        parse_video_tag(start).unwrap(),
        FlvVideo::Config { codec: VideoCodec::H265, record: Bytes::from_static(&[1, 2]) }
    );
    let coded = Bytes::from_static(b"\x91hvc1\x00\x00\x21\xaa");
    assert_eq!(
        parse_video_tag(coded).unwrap(),
        FlvVideo::Frame { codec: VideoCodec::H265, keyframe: true, cts_ms: 33, data: Bytes::from_static(&[0xaa]) }
    );
    let coded_x = Bytes::from_static(b"\xa3avc1\xbb");
    assert_eq!(
        parse_video_tag(coded_x).unwrap(),
        FlvVideo::Frame { codec: VideoCodec::H264, keyframe: false, cts_ms: 0, data: Bytes::from_static(&[0xbb]) }
    );
    let av1 = Bytes::from_static(b"\x91av01\x12\x00");
    assert_eq!(
        parse_video_tag(av1).unwrap(),
        FlvVideo::Frame { codec: VideoCodec::Av1, keyframe: true, cts_ms: 0, data: Bytes::from_static(&[0x12, 0x00]) }
    );
    assert_eq!(parse_video_tag(Bytes::from_static(b"\x92av01")).unwrap(), FlvVideo::EndOfSequence);
    assert_eq!(parse_video_tag(Bytes::from_static(b"\x94hvc1\x02")).unwrap(), FlvVideo::Ignored);
    assert_eq!(parse_video_tag(Bytes::from_static(b"\xd0\x01")).unwrap(), FlvVideo::Ignored);
    assert!(matches!(parse_video_tag(Bytes::from_static(b"\x90vp09\x01")), Err(MediaError::Unsupported { .. })));
    assert!(matches!(parse_video_tag(Bytes::from_static(b"\x96hvc1")), Err(MediaError::Unsupported { .. })));
    assert!(matches!(parse_video_tag(Bytes::from_static(b"\x91hv")), Err(MediaError::Truncated { .. })));
    assert!(matches!(parse_video_tag(Bytes::from_static(b"\x91hvc1\x00")), Err(MediaError::Truncated { .. })));
    assert!(parse_video_tag(Bytes::from_static(b"\x90hvc1")).is_err());
}

#[test]
fn audio_variants() {
    assert_eq!(
        parse_audio_tag(Bytes::from_static(&[0xaf, 0x01, 0x21, 0x10])).unwrap(),
        FlvAudio::Frame { codec: AudioCodec::Aac, data: Bytes::from_static(&[0x21, 0x10]) }
    );
    assert!(matches!(parse_audio_tag(Bytes::from_static(&[0xaf, 0x00])), Err(MediaError::Invalid { .. })));
    assert!(matches!(parse_audio_tag(Bytes::from_static(&[0xaf])), Err(MediaError::Truncated { .. })));
    assert!(matches!(parse_audio_tag(Bytes::from_static(&[0xaf, 0x07, 1])), Err(MediaError::Invalid { .. })));
    assert!(matches!(parse_audio_tag(Bytes::from_static(&[0x2f, 0x00])), Err(MediaError::Unsupported { .. })));
    assert!(matches!(parse_audio_tag(Bytes::from_static(&[0x90, b'O'])), Err(MediaError::Unsupported { .. })));
    assert!(parse_audio_tag(Bytes::new()).is_err());
}

#[test]
fn tags_convert_to_media_frames() {
    let frame = FlvVideo::Frame { codec: VideoCodec::H264, keyframe: true, cts_ms: 40, data: Bytes::from_static(b"x") };
    assert_eq!(
        frame.into_media_frame(1000),
        Some(MediaFrame::Video { dts_ms: 1000, cts_ms: 40, keyframe: true, data: Bytes::from_static(b"x") })
    );
    assert_eq!(FlvVideo::Ignored.into_media_frame(0), None);
    let audio = FlvAudio::Frame { codec: AudioCodec::Aac, data: Bytes::from_static(b"a") };
    assert_eq!(audio.into_media_frame(5), MediaFrame::Audio { dts_ms: 5, data: Bytes::from_static(b"a") });
}
