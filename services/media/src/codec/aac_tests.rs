use super::*;

/// Packs (value, width) fields MSB first, zero-padding the last byte.
fn pack(fields: &[(u32, u32)]) -> Bytes {
    let mut bytes = Vec::new();
    let mut used = 0u32;
    for &(value, width) in fields {
        for shift in (0..width).rev() {
            if used.is_multiple_of(8) {
                bytes.push(0u8);
            }
            let bit = ((value >> shift) & 1) as u8;
            if let Some(last) = bytes.last_mut() {
                *last |= bit << (7 - used % 8);
            }
            used += 1;
        }
    }
    Bytes::from(bytes)
}

fn parse(bytes: &'static [u8]) -> AacConfig {
    AacConfig::parse(Bytes::from_static(bytes)).unwrap()
}

#[test]
fn parses_aac_lc() {
    let config = parse(&[0x12, 0x10]);
    assert_eq!(config.object_type, 2);
    assert_eq!(config.sample_rate, 44100);
    assert_eq!(config.channels, 2);
    assert_eq!(config.samples_per_frame, 1024);
    assert_eq!(config.codec_string(), "mp4a.40.2");
    assert_eq!(&config.record[..], &[0x12, 0x10]);

    let config = parse(&[0x11, 0x90]);
    assert_eq!((config.sample_rate, config.channels), (48000, 2));

    let mono_8k = parse(&[0x15, 0x88]);
    assert_eq!((mono_8k.sample_rate, mono_8k.channels), (8000, 1));
}

#[test]
fn reads_frame_length_flag() {
    let config = parse(&[0x11, 0x94]);
    assert_eq!(config.samples_per_frame, 960);
    assert_eq!(config.sample_rate, 48000);
}

#[test]
fn explicit_he_aac_reports_core_rate() {
    // SBR, core 24 kHz stereo, extension 48 kHz, core type AAC-LC.
    let config = parse(&[0x2b, 0x11, 0x88, 0x00]);
    assert_eq!(config.object_type, 5);
    assert_eq!(config.codec_string(), "mp4a.40.5");
    assert_eq!(config.sample_rate, 24000);
    assert_eq!(config.channels, 2);
    assert_eq!(config.samples_per_frame, 1024);

    // The common 44.1 kHz HE-AAC record: core 22.05 kHz.
    let config = parse(&[0x2b, 0x92, 0x08, 0x00]);
    assert_eq!((config.object_type, config.sample_rate, config.channels), (5, 22050, 2));
}

#[test]
fn explicit_he_aac_v2_reports_stereo_output() {
    // PS, core 24 kHz mono, extension 48 kHz, core type AAC-LC.
    let config = parse(&[0xeb, 0x09, 0x88, 0x00]);
    assert_eq!(config.object_type, 29);
    assert_eq!(config.codec_string(), "mp4a.40.29");
    assert_eq!(config.sample_rate, 24000);
    assert_eq!(config.channels, 2);
}

#[test]
fn backward_compatible_sbr_signalling() {
    // AAC-LC 22.05 kHz stereo, then sync extension 0x2b7: SBR at 44.1 kHz.
    let record = pack(&[(2, 5), (7, 4), (2, 4), (0, 3), (0x2b7, 11), (5, 5), (1, 1), (4, 4)]);
    let config = AacConfig::parse(record).unwrap();
    assert_eq!(config.codec_string(), "mp4a.40.5");
    assert_eq!(config.sample_rate, 22050);

    // The same followed by the 0x548 PS extension.
    let record = pack(&[(2, 5), (7, 4), (1, 4), (0, 3), (0x2b7, 11), (5, 5), (1, 1), (4, 4), (0x548, 11), (1, 1)]);
    let config = AacConfig::parse(record).unwrap();
    assert_eq!(config.codec_string(), "mp4a.40.29");
    assert_eq!(config.channels, 2);
}

#[test]
fn explicit_frequency_and_escaped_object_type() {
    let record = pack(&[(2, 5), (15, 4), (44100, 24), (2, 4), (0, 3)]);
    let config = AacConfig::parse(record).unwrap();
    assert_eq!(config.sample_rate, 44100);
    assert_eq!(config.channels, 2);

    // Escape to object type 32 + 10 = 42 (USAC): parsed, then refused.
    let record = pack(&[(31, 5), (10, 6), (3, 4), (2, 4), (0, 8)]);
    match AacConfig::parse(record) {
        Err(MediaError::Unsupported { detail, .. }) => assert!(detail.contains("42"), "{detail}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn counts_channels_from_program_config() {
    // 5.1: front SCE + CPE, back CPE, one LFE; then a 2-byte comment.
    let record = pack(&[
        (2, 5),
        (3, 4),
        (0, 4),
        (0, 3), // GASpecificConfig
        (0, 4),
        (1, 2),
        (3, 4), // tag, profile, sampling index
        (2, 4),
        (0, 4),
        (1, 4),
        (1, 2),
        (0, 3),
        (0, 4), // element counts
        (0, 3), // no mixdowns
        (0, 5),
        (0b10000, 5), // front: SCE, CPE
        (0b10001, 5), // back: CPE
        (0, 4),       // LFE
        (0, 3),       // byte alignment
        (2, 8),
        (0x4142, 16),
    ]);
    let config = AacConfig::parse(record).unwrap();
    assert_eq!(config.channels, 6);
    assert_eq!(config.sample_rate, 48000);
}

#[test]
fn rejects_malformed_configs() {
    assert!(AacConfig::parse(Bytes::new()).is_err());
    assert!(AacConfig::parse(Bytes::from_static(&[0x12])).is_err());
    // Sampling frequency index 13 is reserved.
    assert!(AacConfig::parse(pack(&[(2, 5), (13, 4), (2, 4), (0, 3)])).is_err());
    // Explicit frequency of zero.
    assert!(AacConfig::parse(pack(&[(2, 5), (15, 4), (0, 24), (2, 4), (0, 3)])).is_err());
    // Channel configuration 9 is reserved.
    assert!(AacConfig::parse(pack(&[(2, 5), (4, 4), (9, 4), (0, 3)])).is_err());
    // ER AAC-LD is a different frame size.
    assert!(AacConfig::parse(pack(&[(23, 5), (4, 4), (2, 4), (0, 3)])).is_err());
    let oversized = Bytes::from(vec![0x12; MAX_ASC + 1]);
    assert!(matches!(AacConfig::parse(oversized), Err(MediaError::TooLarge { .. })));
}

#[test]
fn never_panics_on_noise() {
    let mut state: u32 = 0x9e37_79b9;
    for len in 0..64 {
        for _ in 0..200 {
            let noise: Vec<u8> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 24) as u8
                })
                .collect();
            let _ = AacConfig::parse(Bytes::from(noise));
        }
    }
}
