//! The fixture's record comes from testdata/av1_aac.flv (built by
//! make-enhanced-fixtures.py); the others were written by ffmpeg's MP4
//! muxer (libaom-av1, libsvtav1) and copied out of `av1C`.

use super::*;
use crate::codec::av1_obu::{read_leb128, OBU_TEMPORAL_DELIMITER};
use crate::flv::{parse_video_tag, FlvFileReader, FlvVideo, TAG_VIDEO};
use crate::VideoCodec;

/// 1280x720 Main profile, 10-bit, level 3.1 (libaom).
const MAIN10_720P: &str = "81054c000a0b0000002d4cffb3cdaf9404";
/// 352x288 High profile (4:4:4), level 2.0 (libaom).
const HIGH444_CIF: &str = "812000000a0a20000004457e3e6d7c81";
/// 1920x1080 Main profile, level 4.1 (SVT-AV1).
const SVT_1080P: &str = "81090c000a0b0000004aabbfc3700be001";

fn hex(text: &str) -> Bytes {
    let digits: Vec<u8> = text.bytes().map(|c| (c as char).to_digit(16).unwrap() as u8).collect();
    Bytes::from(digits.chunks(2).map(|pair| pair[0] << 4 | pair[1]).collect::<Vec<u8>>())
}

/// The fixture's record and its coded frames (keyframe, temporal unit).
fn fixture() -> (Bytes, Vec<(bool, Bytes)>) {
    let file = Bytes::from_static(include_bytes!("../../testdata/av1_aac.flv"));
    let mut reader = FlvFileReader::new(file).unwrap();
    let (mut record, mut frames) = (None, Vec::new());
    while let Some(tag) = reader.next_tag().unwrap() {
        if tag.tag_type != TAG_VIDEO {
            continue;
        }
        match parse_video_tag(tag.body).unwrap() {
            FlvVideo::Config { codec: VideoCodec::Av1, record: found } => record = Some(found),
            FlvVideo::Frame { keyframe, data, .. } => frames.push((keyframe, data)),
            _ => {}
        }
    }
    (record.expect("an AV1 sequence start"), frames)
}

#[test]
fn parses_the_enhanced_rtmp_fixture_record() {
    let config = Av1Config::parse(fixture().0).unwrap();
    assert_eq!((config.width, config.height), (320, 240));
    assert_eq!((config.seq_profile, config.seq_level_idx_0, config.seq_tier_0), (0, 0, false));
    assert_eq!(config.bit_depth, 8);
    assert!(!config.monochrome && config.chroma_subsampling_x && config.chroma_subsampling_y);
    assert_eq!(config.initial_presentation_delay_minus_one, None);
    assert_eq!(config.frame_rate, None, "libaom writes no timing_info");
    assert_eq!(&config.sequence_header[..], &config.record[4..]);
    assert_eq!(config.codec_string(), "av01.0.00M.08");
}

#[test]
fn parses_other_profiles_and_depths() {
    let config = Av1Config::parse(hex(MAIN10_720P)).unwrap();
    assert_eq!((config.width, config.height, config.bit_depth), (1280, 720, 10));
    assert_eq!(config.codec_string(), "av01.0.05M.10");

    let config = Av1Config::parse(hex(HIGH444_CIF)).unwrap();
    assert_eq!((config.width, config.height), (352, 288));
    assert!(!config.chroma_subsampling_x && !config.chroma_subsampling_y);
    assert_eq!(config.codec_string(), "av01.1.00M.08");

    let config = Av1Config::parse(hex(SVT_1080P)).unwrap();
    assert_eq!((config.width, config.height), (1920, 1080));
    assert_eq!(config.codec_string(), "av01.0.09M.08");
}

/// MSB-first bit writer for hand-made sequence headers.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    bits: usize,
}

impl BitWriter {
    fn put(&mut self, count: u32, value: u64) -> &mut Self {
        for shift in (0..count).rev() {
            if self.bits / 8 == self.bytes.len() {
                self.bytes.push(0);
            }
            let bit = ((value >> shift) & 1) as u8;
            *self.bytes.last_mut().unwrap() |= bit << (7 - self.bits % 8);
            self.bits += 1;
        }
        self
    }
}

/// 1920x1080 at 60000/1001 with timing info, level 5.0 high tier, 8-bit
/// with a colour description and chroma sample position 1.
fn timed_sequence_header() -> Vec<u8> {
    let mut w = BitWriter::default();
    w.put(3, 0).put(1, 0).put(1, 0); // profile, still_picture, reduced header
    w.put(1, 1).put(32, 1001).put(32, 60000).put(1, 1).put(1, 1); // timing_info, uvlc(0)
    w.put(1, 0).put(1, 0).put(5, 0); // no decoder model, no display delay, one operating point
    w.put(12, 0).put(5, 12).put(1, 1); // idc, level 12, high tier
    w.put(4, 10).put(4, 10).put(11, 1919).put(11, 1079);
    w.put(1, 0).put(3, 0).put(4, 0); // frame ids, superblock/intra tools, inter tools
    w.put(1, 1).put(2, 0).put(1, 1).put(1, 1).put(3, 6); // order hint, screen content select, integer mv select
    w.put(3, 0); // superres, cdef, restoration
    w.put(1, 0).put(1, 0).put(1, 1).put(8, 1).put(8, 1).put(8, 1); // 8-bit, colour, BT.709
    w.put(1, 0).put(2, 1).put(1, 0).put(1, 0).put(1, 1); // range, sample position, uv delta, film grain, trailing
    w.bytes
}

#[test]
fn reads_timing_info_and_high_tier() {
    let payload = timed_sequence_header();
    let mut record = vec![0x81, 12, 0x8c, 0x00, 0x0a, payload.len() as u8];
    record.extend_from_slice(&payload);
    let config = Av1Config::parse(Bytes::from(record)).unwrap();
    assert_eq!((config.width, config.height), (1920, 1080));
    let rate = config.frame_rate.unwrap();
    assert!((rate - 60000.0 / 1001.0).abs() < 1e-9, "{rate}");
    assert_eq!(config.chroma_sample_position, 1);
    assert_eq!(config.codec_string(), "av01.0.12H.08");
}

#[test]
fn rejects_malformed_records() {
    assert!(Av1Config::parse(Bytes::new()).is_err());
    assert!(Av1Config::parse(Bytes::from_static(&[0x01, 0, 0x0c, 0])).is_err(), "marker bit clear");
    let no_header = Av1Config::parse(Bytes::from_static(&[0x81, 0, 0x0c, 0]));
    assert!(matches!(no_header, Err(MediaError::Unsupported { .. })), "{no_header:?}");
    let record = fixture().0;
    assert!(Av1Config::parse(record.slice(..record.len() - 1)).is_err());
    let oversized = Bytes::from(vec![0x81u8; MAX_AV1_RECORD + 1]);
    assert!(matches!(Av1Config::parse(oversized), Err(MediaError::TooLarge { .. })));
    assert!(read_leb128(&[0x80; 8]).is_err());
    assert!(read_leb128(&[0xff, 0xff, 0xff, 0xff, 0x7f]).is_err(), "over 32 bits");
    assert_eq!(read_leb128(&[0xe5, 0x8e, 0x26]).unwrap(), (624_485, 3));
}

#[test]
fn samples_lose_temporal_delimiters_and_keep_everything_else() {
    let (record, frames) = fixture();
    let config = Av1Config::parse(record).unwrap();
    assert!(frames.len() >= 30 && frames[0].0);
    for (keyframe, data) in frames {
        assert_eq!(data[0] >> 3 & 0x0f, OBU_TEMPORAL_DELIMITER, "the fixture keeps the encoder's delimiters");
        let sample = config.sample(data.clone(), keyframe);
        assert_eq!(&sample[..], &data[2..]);
        if keyframe {
            assert_eq!(&sample[..config.sequence_header.len()], &config.sequence_header[..]);
        }
    }
}

#[test]
fn keyframes_without_a_sequence_header_get_one() {
    let config = Av1Config::parse(fixture().0).unwrap();
    // Temporal delimiter, then a frame OBU with a 2-byte payload.
    let unit = Bytes::from_static(&[0x12, 0x00, 0x32, 0x02, 0x10, 0x20]);
    let sample = config.sample(unit.clone(), true);
    let mut expected = config.sequence_header.to_vec();
    expected.extend_from_slice(&unit[2..]);
    assert_eq!(&sample[..], &expected[..]);
    assert_eq!(&config.sample(unit.clone(), false)[..], &unit[2..]);
}

#[test]
fn odd_temporal_units_pass_through() {
    let config = Av1Config::parse(fixture().0).unwrap();
    // A delimiter without a size field swallows the rest: left alone.
    let without_size = Bytes::from_static(&[0x10, 0x32, 0x02, 0x10, 0x20]);
    assert_eq!(config.sample(without_size.clone(), false), without_size);
    // Broken size after a good delimiter: the delimiter still goes.
    let broken = Bytes::from_static(&[0x12, 0x00, 0x32, 0x7f, 0x10]);
    assert_eq!(&config.sample(broken.clone(), false)[..], &broken[2..]);
    assert!(config.sample(Bytes::new(), true).starts_with(&config.sequence_header));
}

#[test]
fn never_panics_on_truncation_or_noise() {
    let (fixture_record, frames) = fixture();
    let records = [fixture_record, hex(MAIN10_720P), hex(HIGH444_CIF), hex(SVT_1080P)];
    for record in &records {
        for len in 0..record.len() {
            let _ = Av1Config::parse(record.slice(..len));
        }
        for bit in 0..record.len() * 8 {
            let mut mutated = record.to_vec();
            mutated[bit / 8] ^= 0x80 >> (bit % 8);
            let _ = Av1Config::parse(Bytes::from(mutated));
        }
    }
    let config = Av1Config::parse(records[0].clone()).unwrap();
    let mut state: u32 = 0x0bad_cafe;
    let mut next = || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 24) as u8
    };
    for (keyframe, data) in frames.iter().take(4) {
        for len in 0..data.len().min(64) {
            let _ = config.sample(data.slice(..len), *keyframe);
        }
    }
    for _ in 0..3000 {
        let mut noise = vec![0x81, 0, 0x0c, 0, 0x0a, 0x0b];
        noise.extend((0..11).map(|_| next()));
        let _ = Av1Config::parse(Bytes::from(noise.clone()));
        let _ = config.sample(Bytes::from(noise[4..].to_vec()), true);
    }
}
