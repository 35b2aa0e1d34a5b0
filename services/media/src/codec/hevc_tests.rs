//! The fixture's record comes from testdata/hevc_aac.flv (built by
//! make-enhanced-fixtures.py); the others were written by ffmpeg's MP4
//! muxer for libx265 streams of lavfi `testsrc2` and copied out of `hvcC`.

use super::*;
use crate::codec::hevc_sps::parse_hevc_sps;
use crate::flv::{parse_video_tag, FlvFileReader, FlvVideo};
use crate::VideoCodec;

/// 1366x768 Main 10 at 30000/1001 fps: coded 1368 wide with a conformance window.
const MAIN10_1366X768: &str =
    "01022000000090000000000078f000fcfdfafa00000f03200001001840010c01ffff02200000030090000003\
    0000030078959809210001002a420101022000000300900000030000030078a002ac80301d6d96566924caf01680800001f480003a98042200\
    0100074401c172b46240";
/// 352x288 4:4:4 (RExt) at 25 fps with two temporal sub-layers.
const REXT444_CIF: &str = "0104080000009e08000000003cf000fcfff8f800001303200001001b40010c02ffff0408000003009e08000003\
    00003c00009598acc048210001002c4201020408000003009e0800000300003c00009001610090b2cacc566924caf0168080000003008000000c\
    8422000100084401c172860c4624";
/// 640x360 4:2:2 (RExt), high tier, level 5.1, 50 fps.
const REXT422_HIGH_TIER: &str = "0124080000009d080000000099f000fcfef8f800000f03200001001740010c01ffff2408000003009d08\
    00000300009995980921000100284201012408000003009d08000003000099b00502016965959a4932bc05a02000000300200000064122000100\
    074401c172b46240";
/// 1920x1080 Main at 60 fps with scaling lists enabled.
const MAIN_1080P60: &str = "0101600000009000000000007bf000fcfdf8f800000f03200001001840010c01ffff0160000003009000000300\
    0003007b959809210001002a42010101600000030090000003000003007ba003c08010e596566924e5780b4040000003004000000f0222000100\
    074401c172b46240";

fn hex(text: &str) -> Bytes {
    let digits: Vec<u8> =
        text.bytes().filter(|c| !c.is_ascii_whitespace()).map(|c| (c as char).to_digit(16).unwrap() as u8).collect();
    Bytes::from(digits.chunks(2).map(|pair| pair[0] << 4 | pair[1]).collect::<Vec<u8>>())
}

/// The HEVCDecoderConfigurationRecord of the Enhanced RTMP fixture.
pub(crate) fn fixture_record() -> Bytes {
    let file = Bytes::from_static(include_bytes!("../../testdata/hevc_aac.flv"));
    let mut reader = FlvFileReader::new(file).unwrap();
    while let Some(tag) = reader.next_tag().unwrap() {
        if tag.tag_type == crate::flv::TAG_VIDEO {
            if let Ok(FlvVideo::Config { codec: VideoCodec::H265, record }) = parse_video_tag(tag.body) {
                return record;
            }
        }
    }
    panic!("no HEVC sequence start in the fixture");
}

#[test]
fn parses_the_enhanced_rtmp_fixture_record() {
    let config = HevcConfig::parse(fixture_record()).unwrap();
    assert_eq!((config.width, config.height), (320, 240));
    assert_eq!(config.general_profile_idc, 1);
    assert_eq!(config.general_profile_compatibility_flags, 0x6000_0000);
    assert_eq!(config.general_level_idc, 60);
    assert!(!config.general_tier_flag);
    assert_eq!(config.nal_length_size, 4);
    assert_eq!((config.chroma_format_idc, config.bit_depth_luma, config.bit_depth_chroma), (1, 8, 8));
    assert_eq!(config.frame_rate, Some(30.0));
    assert_eq!((config.vps.len(), config.sps.len(), config.pps.len()), (1, 1, 1));
    assert_eq!(config.vps[0][0] >> 1, 32);
    assert_eq!(config.pps[0][0] >> 1, 34);
    assert_eq!(config.codec_string(), "hvc1.1.6.L60.90");
}

#[test]
fn parses_main10_with_conformance_window() {
    let config = HevcConfig::parse(hex(MAIN10_1366X768)).unwrap();
    assert_eq!((config.width, config.height), (1366, 768));
    assert_eq!((config.bit_depth_luma, config.bit_depth_chroma), (10, 10));
    assert_eq!(config.codec_string(), "hvc1.2.4.L120.90");
    let rate = config.frame_rate.unwrap();
    assert!((rate - 30000.0 / 1001.0).abs() < 1e-9, "{rate}");
}

#[test]
fn parses_range_extensions_and_sub_layers() {
    let config = HevcConfig::parse(hex(REXT444_CIF)).unwrap();
    assert_eq!((config.width, config.height), (352, 288));
    assert_eq!(config.chroma_format_idc, 3);
    assert_eq!(config.frame_rate, Some(25.0));
    assert_eq!(parse_hevc_sps(&config.sps[0]).unwrap().max_sub_layers, 2);
    assert_eq!(config.codec_string(), "hvc1.4.10.L60.9E.8");

    let config = HevcConfig::parse(hex(REXT422_HIGH_TIER)).unwrap();
    assert_eq!((config.width, config.height), (640, 360));
    assert_eq!(config.chroma_format_idc, 2);
    assert!(config.general_tier_flag);
    assert_eq!(config.frame_rate, Some(50.0));
    assert_eq!(config.codec_string(), "hvc1.4.10.H153.9D.8");
}

#[test]
fn parses_1080p_with_scaling_lists() {
    let config = HevcConfig::parse(hex(MAIN_1080P60)).unwrap();
    assert_eq!((config.width, config.height), (1920, 1080));
    assert_eq!(config.frame_rate, Some(60.0));
    assert_eq!(config.codec_string(), "hvc1.1.6.L123.90");
}

#[test]
fn codec_string_profile_space_and_zero_constraints() {
    let mut record = fixture_record().to_vec();
    record[1] = (2 << 6) | 1; // profile space B, main tier, Main
    record[6..12].fill(0);
    let config = HevcConfig::parse(Bytes::from(record.clone())).unwrap();
    assert_eq!(config.codec_string(), "hvc1.B1.6.L60.0");
    record[10] = 0x01; // a non-zero fifth constraint byte keeps the zeros before it
    let config = HevcConfig::parse(Bytes::from(record)).unwrap();
    assert_eq!(config.codec_string(), "hvc1.B1.6.L60.0.0.0.0.1");
}

#[test]
fn rejects_malformed_records() {
    assert!(HevcConfig::parse(Bytes::new()).is_err());
    let record = fixture_record();
    let mut wrong_version = record.to_vec();
    wrong_version[0] = 0;
    assert!(HevcConfig::parse(Bytes::from(wrong_version)).is_err());
    let mut three_byte_lengths = record.to_vec();
    three_byte_lengths[21] = (three_byte_lengths[21] & !0x03) | 0x02;
    assert!(HevcConfig::parse(Bytes::from(three_byte_lengths)).is_err());
    // No arrays at all: no SPS to size the picture.
    let mut no_arrays = record[..23].to_vec();
    no_arrays[22] = 0;
    assert!(matches!(HevcConfig::parse(Bytes::from(no_arrays)), Err(MediaError::Invalid { .. })));
    // Trailing garbage is ignored; missing bytes are not.
    assert!(HevcConfig::parse(record.slice(..record.len() - 1)).is_err());
    let oversized = Bytes::from(vec![1u8; MAX_HEVC_RECORD + 1]);
    assert!(matches!(HevcConfig::parse(oversized), Err(MediaError::TooLarge { .. })));
}

#[test]
fn never_panics_on_truncation_or_noise() {
    let records = [fixture_record(), hex(MAIN10_1366X768), hex(REXT444_CIF), hex(REXT422_HIGH_TIER), hex(MAIN_1080P60)];
    for record in records {
        for len in 0..record.len() {
            let _ = HevcConfig::parse(record.slice(..len));
        }
        for bit in 0..record.len() * 8 {
            let mut mutated = record.to_vec();
            mutated[bit / 8] ^= 0x80 >> (bit % 8);
            let _ = HevcConfig::parse(Bytes::from(mutated));
        }
    }
    // Noise after a valid header and a plausible SPS NAL header.
    let mut state: u32 = 0x8765_4321;
    for _ in 0..3000 {
        let mut noise = fixture_record()[..23].to_vec();
        noise[22] = 1;
        noise.extend_from_slice(&[0xa1, 0, 1, 0, 40, 0x42, 0x01]);
        for _ in 0..38 {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            noise.push((state >> 24) as u8);
        }
        let _ = HevcConfig::parse(Bytes::from(noise));
    }
}

/// Writes SPS syntax: fixed-width fields and Exp-Golomb codes.
#[derive(Default)]
struct SpsWriter {
    bits: Vec<bool>,
}

impl SpsWriter {
    fn put(&mut self, count: u32, value: u64) -> &mut Self {
        self.bits.extend((0..count).rev().map(|shift| (value >> shift) & 1 == 1));
        self
    }

    fn ue(&mut self, value: u32) -> &mut Self {
        let code = u64::from(value) + 1;
        let width = 64 - code.leading_zeros();
        self.put(width - 1, 0).put(width, code)
    }

    fn se(&mut self, value: i32) -> &mut Self {
        self.ue(if value > 0 { value as u32 * 2 - 1 } else { value.unsigned_abs() * 2 })
    }

    /// The NAL unit: header, payload with trailing bits, emulation prevention.
    fn nal(&mut self) -> Vec<u8> {
        self.put(1, 1);
        let padding = (8 - self.bits.len() % 8) % 8;
        self.bits.extend(std::iter::repeat_n(false, padding));
        let rbsp = self.bits.chunks(8).map(|bits| bits.iter().fold(0u8, |byte, &bit| byte << 1 | u8::from(bit)));
        let mut nal = vec![0x42, 0x01];
        let mut zeros = 0;
        for byte in rbsp {
            if zeros >= 2 && byte <= 3 {
                nal.push(3);
                zeros = 0;
            }
            zeros = if byte == 0 { zeros + 1 } else { 0 };
            nal.push(byte);
        }
        nal
    }
}

/// An SPS using every structure x265 leaves out: explicit scaling lists,
/// PCM, four short-term reference picture sets of which three are predicted
/// (one prediction drops a zero delta, which changes how many flags the
/// next set has), long-term pictures and a full VUI. Only a parser that
/// consumes exactly the right bits finds the frame rate at the end. ffmpeg's
/// `trace_headers` bitstream filter reads this SPS field for field the same
/// way (checked by hand when the test was written).
fn hand_made_sps() -> Vec<u8> {
    let mut w = SpsWriter::default();
    w.put(4, 0).put(3, 0).put(1, 1); // vps id, one sub-layer, nesting
    w.put(2, 0).put(1, 0).put(5, 1).put(32, 0x6000_0000).put(4, 0b1001).put(44, 0).put(8, 93);
    w.ue(0).ue(1).ue(1280).ue(736); // sps id, 4:2:0, coded size
    w.put(1, 1).ue(0).ue(0).ue(0).ue(8); // conformance window: 16 lines off the bottom
    w.ue(0).ue(0).ue(4); // bit depths, log2_max_pic_order_cnt_lsb_minus4
    w.put(1, 1).ue(4).ue(2).ue(0); // ordering info
    w.ue(0).ue(3).ue(0).ue(3).ue(0).ue(0); // block sizes and depths
    w.put(1, 1).put(1, 1); // scaling lists, with data
    for size_id in 0..4u32 {
        let step = if size_id == 3 { 3 } else { 1 };
        for matrix_id in (0..6).step_by(step) {
            if matrix_id == 0 || size_id == 3 {
                w.put(1, 1);
                if size_id > 1 {
                    w.se(-3);
                }
                for index in 0..64.min(1 << (4 + 2 * size_id)) {
                    w.se([1, -2, 0, 5][index % 4]);
                }
            } else {
                w.put(1, 0).ue(1);
            }
        }
    }
    w.put(1, 1).put(1, 1).put(1, 1).put(4, 7).put(4, 7).ue(0).ue(1).put(1, 0); // amp, sao, pcm
    w.ue(4);
    w.ue(2).ue(1).ue(0).put(1, 1).ue(1).put(1, 1).ue(1).put(1, 1); // {-1, -3} {+2}
    w.put(1, 1).put(1, 1).ue(0); // predicted, delta_rps = -1
    w.put(1, 1).put(2, 0).put(1, 1).put(1, 1); // => {-1, -2} {+1}
    w.put(1, 1).put(1, 0).ue(0); // predicted, delta_rps = +1
    w.put(4, 0b1111); // => {-1} {+1, +2}: the zero delta is dropped
    w.put(1, 1).put(1, 1).ue(1); // predicted, delta_rps = -2, four flag pairs
    w.put(2, 0b01).put(1, 1).put(1, 1).put(2, 0b00);
    w.put(1, 1).ue(2).put(8, 17).put(1, 1).put(8, 42).put(1, 0); // long-term pictures
    w.put(1, 1).put(1, 1); // temporal MVP, strong intra smoothing
    w.put(1, 1).put(1, 1).put(8, 255).put(16, 4).put(16, 3); // VUI, extended SAR
    w.put(1, 0).put(1, 1).put(3, 5).put(1, 0).put(1, 1).put(24, 0x01_0101); // signal type
    w.put(1, 1).ue(0).ue(0).put(3, 0); // chroma location, field flags
    w.put(1, 1).ue(0).ue(0).ue(0).ue(0); // default display window
    w.put(1, 1).put(32, 1001).put(32, 60000).put(1, 0).put(1, 0); // timing, no POC/HRD
    w.put(1, 0).put(1, 0); // bitstream restriction, sps_extension_present_flag
    w.nal()
}

#[test]
fn walks_every_sps_structure_to_the_frame_rate() {
    let sps = hand_made_sps();
    let info = parse_hevc_sps(&sps).unwrap();
    assert_eq!((info.width, info.height), (1280, 720));
    let rate = info.frame_rate.expect("VUI timing reached");
    assert!((rate - 60000.0 / 1001.0).abs() < 1e-9, "{rate}");
    for len in 0..sps.len() {
        let _ = parse_hevc_sps(&sps[..len]);
    }
}
