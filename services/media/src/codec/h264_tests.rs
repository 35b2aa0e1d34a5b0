//! Records below were produced by libx264 through ffmpeg's lavfi `testsrc2`
//! and copied out of the resulting MP4 `avcC` boxes.

use super::*;
use crate::codec::sps::parse_sps;

/// 640x360 High, level 3.0, 30 fps.
const HIGH_640X360: &str =
    "0164001effe1001a6764001eacd940a02ff970110000030001000003003c0f162d9601000668ebe3cb22c0fdf8f800";
/// 1920x1080 High, level 4.0: coded as 1088 lines with bottom cropping.
const HIGH_1080P: &str =
    "01640028ffe1001b67640028acd940780227e5c044000003000400000300f03c60c65801000668ebe3cb22c0fdf8f800";
/// 320x240 Constrained Baseline, level 1.3.
const BASELINE_320X240: &str = "0142c00dffe100186742c00dd90141fb0110000003001000000303c0f142a48001000568cb83cb20";
/// 1280x720 Main, level 3.1.
const MAIN_720P: &str = "014d401fffe10019674d401feca02802dd8088000003000800000301e078c18cb001000568ebe3cb20";
/// 352x288 High at 25 fps with the JVT scaling matrices in the SPS.
const HIGH_CQM_CIF: &str =
    "0164000dffe100196764000dacd9416096c044000003000400000300c83c50a65801000768ebe3cb3002c0fdf8f800";
/// 400x300 High 4:4:4 Predictive at 24000/1001 fps (cropping in luma units).
const HIGH444_400X300: &str =
    "01f40015ffe1001867f40015919b283213fcb808800001f480005dc0078b16cb01000668ebe3c44844fff8f800";
/// 640x480 High, interlaced (frame_mbs_only_flag = 0), 25 fps.
const HIGH_INTERLACED_480: &str =
    "0164001effe100196764001eacd940a07b6022000003000200000300643e28532c01000668fba3cb22c0fdf8f800";

fn hex(text: &str) -> Bytes {
    let digits: Vec<u8> = text.bytes().map(|c| (c as char).to_digit(16).unwrap() as u8).collect();
    Bytes::from(digits.chunks(2).map(|pair| pair[0] << 4 | pair[1]).collect::<Vec<u8>>())
}

fn parse(text: &str) -> AvcConfig {
    AvcConfig::parse(hex(text)).unwrap()
}

#[test]
fn parses_high_profile_record() {
    let config = parse(HIGH_640X360);
    assert_eq!((config.width, config.height), (640, 360));
    assert_eq!(config.profile_idc, 100);
    assert_eq!(config.profile_compatibility, 0);
    assert_eq!(config.level_idc, 30);
    assert_eq!(config.nal_length_size, 4);
    assert_eq!(config.frame_rate, Some(30.0));
    assert_eq!(config.codec_string(), "avc1.64001e");
    assert_eq!(config.sps.len(), 1);
    assert_eq!(config.pps.len(), 1);
    assert_eq!(config.sps[0].len(), 0x1a);
    assert_eq!(config.sps[0][0], 0x67);
    assert_eq!(&config.pps[0][..], &[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0]);
    assert_eq!(config.record, hex(HIGH_640X360));
}

#[test]
fn applies_frame_cropping() {
    let config = parse(HIGH_1080P);
    assert_eq!((config.width, config.height), (1920, 1080));
    assert_eq!(config.codec_string(), "avc1.640028");
    assert_eq!(config.frame_rate, Some(30.0));
}

#[test]
fn parses_baseline_and_main() {
    let baseline = parse(BASELINE_320X240);
    assert_eq!((baseline.width, baseline.height), (320, 240));
    assert_eq!(baseline.codec_string(), "avc1.42c00d");
    assert_eq!(baseline.frame_rate, Some(30.0));

    let main = parse(MAIN_720P);
    assert_eq!((main.width, main.height), (1280, 720));
    assert_eq!(main.codec_string(), "avc1.4d401f");
}

#[test]
fn skips_scaling_lists() {
    let config = parse(HIGH_CQM_CIF);
    assert_eq!((config.width, config.height), (352, 288));
    assert_eq!(config.frame_rate, Some(25.0));
}

#[test]
fn handles_444_chroma_and_fractional_rate() {
    let config = parse(HIGH444_400X300);
    assert_eq!((config.width, config.height), (400, 300));
    assert_eq!(config.codec_string(), "avc1.f40015");
    let rate = config.frame_rate.unwrap();
    assert!((rate - 24000.0 / 1001.0).abs() < 1e-9, "{rate}");
    assert_eq!(parse_sps(&config.sps[0]).unwrap().chroma_format_idc, 3);
}

#[test]
fn doubles_height_for_field_coding() {
    let config = parse(HIGH_INTERLACED_480);
    assert_eq!((config.width, config.height), (640, 480));
    assert!(!parse_sps(&config.sps[0]).unwrap().frame_mbs_only);
    assert_eq!(config.frame_rate, Some(25.0));
}

#[test]
fn rejects_malformed_records() {
    assert!(AvcConfig::parse(Bytes::new()).is_err());
    assert!(AvcConfig::parse(Bytes::from_static(&[2, 0x64, 0, 0x1e, 0xff, 0xe1])).is_err());
    // No SPS at all.
    assert!(AvcConfig::parse(Bytes::from_static(&[1, 0x64, 0, 0x1e, 0xff, 0xe0, 0])).is_err());
    // Three-byte NAL lengths are not allowed.
    let mut bad_length = hex(HIGH_640X360).to_vec();
    bad_length[4] = 0xfe;
    assert!(AvcConfig::parse(Bytes::from(bad_length)).is_err());
    // PPS where the SPS should be.
    let mut wrong_type = hex(HIGH_640X360).to_vec();
    wrong_type[8] = 0x68;
    assert!(AvcConfig::parse(Bytes::from(wrong_type)).is_err());
}

#[test]
fn never_panics_on_truncation_or_noise() {
    for text in [HIGH_640X360, HIGH_CQM_CIF, HIGH444_400X300, HIGH_INTERLACED_480] {
        let record = hex(text);
        for len in 0..record.len() {
            let _ = AvcConfig::parse(record.slice(..len));
        }
        // Flip every bit once.
        for bit in 0..record.len() * 8 {
            let mut mutated = record.to_vec();
            mutated[bit / 8] ^= 0x80 >> (bit % 8);
            let _ = AvcConfig::parse(Bytes::from(mutated));
        }
    }
    let mut state: u32 = 0x1234_5678;
    for _ in 0..2000 {
        let mut noise = vec![1u8, 0x64, 0, 0x1e, 0xff, 0xe1, 0, 24, 0x67];
        for _ in 0..24 {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            noise.push((state >> 24) as u8);
        }
        let _ = AvcConfig::parse(Bytes::from(noise));
    }
}
