//! Opus: the identification header (RFC 7845 5.1, "OpusHead") that arrives
//! as the decoder configuration, and packet durations from the TOC byte
//! (RFC 6716 3.1), since Opus frames are not all the same length.

use bytes::{BufMut, Bytes, BytesMut};

use crate::MediaError;

const WHAT: &str = "OpusHead";
const MAGIC: &[u8; 8] = b"OpusHead";
/// Magic, version, channels, pre-skip, rate, gain, mapping family.
const FIXED_LEN: usize = 19;
/// The fixed part, stream and coupled counts, and up to 255 channel slots.
pub const MAX_OPUS_HEAD: usize = FIXED_LEN + 2 + 255;
/// Opus always decodes at 48 kHz; it is the media timescale.
pub const OPUS_RATE: u32 = 48_000;
/// A 20 ms packet: what encoders send unless told otherwise.
const NOMINAL_PACKET_SAMPLES: u32 = 960;
/// RFC 6716 3.2.5: a packet holds at most 120 ms of audio.
const MAX_PACKET_SAMPLES: u32 = 5760;

/// Opus decoder configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct OpusConfig {
    /// The OpusHead as received (or built for RTP, which sends none).
    pub record: Bytes,
    pub channels: u8,
    /// Samples at 48 kHz the decoder discards at the start.
    pub pre_skip: u16,
    /// The encoder's input rate; informational only.
    pub input_sample_rate: u32,
    /// Q7.8 dB.
    pub output_gain: i16,
    pub mapping_family: u8,
    /// Present when `mapping_family` is not 0: stream count, coupled count
    /// and one mapping byte per channel.
    pub mapping: Option<(u8, u8, Bytes)>,
}

impl OpusConfig {
    pub fn parse(record: Bytes) -> Result<Self, MediaError> {
        if record.len() > MAX_OPUS_HEAD {
            return Err(MediaError::TooLarge { what: WHAT, size: record.len(), limit: MAX_OPUS_HEAD });
        }
        let fixed: &[u8; FIXED_LEN] = record
            .first_chunk()
            .ok_or_else(|| MediaError::invalid(WHAT, format!("{} bytes is too short", record.len())))?;
        if !fixed.starts_with(MAGIC) {
            return Err(MediaError::invalid(WHAT, "missing OpusHead magic"));
        }
        let [_, _, _, _, _, _, _, _, version, channels, s0, s1, r0, r1, r2, r3, g0, g1, mapping_family] = *fixed;
        // RFC 7845: the upper nibble is the major version; only 0 is defined.
        if version >> 4 != 0 {
            return Err(MediaError::unsupported(WHAT, format!("version {version}")));
        }
        if channels == 0 {
            return Err(MediaError::invalid(WHAT, "zero channels"));
        }
        let pre_skip = u16::from_le_bytes([s0, s1]);
        let input_sample_rate = u32::from_le_bytes([r0, r1, r2, r3]);
        let output_gain = i16::from_le_bytes([g0, g1]);
        let mapping = if mapping_family == 0 {
            if channels > 2 {
                return Err(MediaError::invalid(WHAT, "mapping family 0 allows at most 2 channels"));
            }
            None
        } else {
            let Some(&[streams, coupled, ..]) = record.get(FIXED_LEN..FIXED_LEN + 2 + usize::from(channels)) else {
                return Err(MediaError::invalid(WHAT, "channel mapping table is cut short"));
            };
            if streams == 0 || coupled > streams {
                return Err(MediaError::invalid(WHAT, "bad stream or coupled count"));
            }
            Some((streams, coupled, record.slice(FIXED_LEN + 2..FIXED_LEN + 2 + usize::from(channels))))
        };
        Ok(Self { record, channels, pre_skip, input_sample_rate, output_gain, mapping_family, mapping })
    }

    /// The header RTP sessions imply (RFC 7587 has no in-band header): one
    /// or two channels, family 0, no pre-skip known.
    pub fn for_channels(channels: u8) -> Self {
        let channels = channels.clamp(1, 2);
        let mut head = BytesMut::with_capacity(FIXED_LEN);
        head.put_slice(MAGIC);
        head.put_u8(1);
        head.put_u8(channels);
        head.put_u16_le(0);
        head.put_u32_le(OPUS_RATE);
        head.put_i16_le(0);
        head.put_u8(0);
        Self {
            record: head.freeze(),
            channels,
            pre_skip: 0,
            input_sample_rate: OPUS_RATE,
            output_gain: 0,
            mapping_family: 0,
            mapping: None,
        }
    }

    /// The body of the `dOps` box (Opus in ISOBMFF, 4.3.2): the header's
    /// fields big-endian, version 0, without the magic.
    pub fn dops_body(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(11 + 2 + usize::from(self.channels));
        out.put_u8(0);
        out.put_u8(self.channels);
        out.put_u16(self.pre_skip);
        out.put_u32(self.input_sample_rate);
        out.put_i16(self.output_gain);
        out.put_u8(self.mapping_family);
        if let Some((streams, coupled, table)) = &self.mapping {
            out.put_u8(*streams);
            out.put_u8(*coupled);
            out.put_slice(table);
        }
        out.freeze()
    }

    /// 20 ms: what playlist timing assumes before packets say otherwise.
    pub fn nominal_packet_samples(&self) -> u32 {
        NOMINAL_PACKET_SAMPLES
    }
}

/// Samples at 48 kHz in one Opus packet, from its TOC byte (and frame
/// count byte for code 3). None for an empty, cut or over-long packet.
pub fn packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    let per_frame = match (config, config % 4) {
        // SILK: 10, 20, 40, 60 ms.
        (0..=11, 0) => 480,
        (0..=11, 1) => 960,
        (0..=11, 2) => 1920,
        (0..=11, _) => 2880,
        // Hybrid: 10, 20 ms.
        (12..=15, 0 | 2) => 480,
        (12..=15, _) => 960,
        // CELT: 2.5, 5, 10, 20 ms.
        (_, 0) => 120,
        (_, 1) => 240,
        (_, 2) => 480,
        (_, _) => 960,
    };
    let frames = match toc & 0x3 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    let total = per_frame * frames;
    (frames > 0 && total <= MAX_PACKET_SAMPLES).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stereo_head() -> Vec<u8> {
        let mut head = b"OpusHead".to_vec();
        head.extend_from_slice(&[1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0]);
        head
    }

    #[test]
    fn parses_the_header_ffmpeg_writes() {
        let config = OpusConfig::parse(Bytes::from(stereo_head())).unwrap();
        assert_eq!(config.channels, 2);
        assert_eq!(config.pre_skip, 312);
        assert_eq!(config.input_sample_rate, 48_000);
        assert_eq!(config.mapping, None);
        assert_eq!(&config.dops_body()[..], &[0, 2, 0x01, 0x38, 0, 0, 0xbb, 0x80, 0, 0, 0]);
    }

    #[test]
    fn parses_a_surround_mapping() {
        let mut head = stereo_head();
        head[9] = 6;
        head[18] = 1;
        head.extend_from_slice(&[4, 2, 0, 4, 1, 2, 3, 5]);
        let config = OpusConfig::parse(Bytes::from(head)).unwrap();
        let (streams, coupled, table) = config.mapping.clone().unwrap();
        assert_eq!((streams, coupled, &table[..]), (4, 2, &[0, 4, 1, 2, 3, 5][..]));
        assert_eq!(config.dops_body().len(), 11 + 2 + 6);
    }

    #[test]
    fn rejects_bad_headers() {
        for bad in [
            Vec::new(),
            b"OpusHead".to_vec(),
            b"OpusTags\x01\x02\x38\x01\x80\xbb\0\0\0\0\0".to_vec(),
            b"OpusHead\x10\x02\x38\x01\x80\xbb\0\0\0\0\0".to_vec(),
            b"OpusHead\x01\x00\x38\x01\x80\xbb\0\0\0\0\0".to_vec(),
            b"OpusHead\x01\x06\x38\x01\x80\xbb\0\0\0\0\0".to_vec(),
            b"OpusHead\x01\x06\x38\x01\x80\xbb\0\0\0\0\x01\x04".to_vec(),
            vec![0; MAX_OPUS_HEAD + 1],
        ] {
            assert!(OpusConfig::parse(Bytes::from(bad.clone())).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rtp_header_round_trips() {
        let built = OpusConfig::for_channels(2);
        assert_eq!(OpusConfig::parse(built.record.clone()).unwrap(), built);
        assert_eq!(OpusConfig::for_channels(0).channels, 1);
    }

    #[test]
    fn packet_durations_follow_the_toc() {
        assert_eq!(packet_samples(&[0xfc]), Some(960), "CELT 20 ms, one frame");
        assert_eq!(packet_samples(&[0x08 | 0x01]), Some(1920), "SILK NB 20 ms, two frames");
        assert_eq!(packet_samples(&[0x78]), Some(960), "hybrid FB 20 ms");
        assert_eq!(packet_samples(&[0x80 | 0x03, 0x03]), Some(360), "CELT 2.5 ms, three frames");
        assert_eq!(packet_samples(&[0x18 | 0x03, 0x02]), Some(5760), "SILK 60 ms x2 = 120 ms");
        assert_eq!(packet_samples(&[0x18 | 0x03, 0x03]), None, "over 120 ms");
        assert_eq!(packet_samples(&[0x03, 0x00]), None, "zero frames");
        assert_eq!(packet_samples(&[0x03]), None, "missing count byte");
        assert_eq!(packet_samples(&[]), None);
    }

    #[test]
    fn every_toc_config_has_its_frame_size() {
        // RFC 6716 Table 2, one frame (code 0), in 48 kHz samples.
        let silk = [480, 960, 1920, 2880];
        let hybrid = [480, 960];
        let celt = [120, 240, 480, 960];
        let expected: Vec<u32> = silk.repeat(3).into_iter().chain(hybrid.repeat(2)).chain(celt.repeat(4)).collect();
        let actual: Vec<u32> = (0..32u8).map(|config| packet_samples(&[config << 3]).unwrap()).collect();
        assert_eq!(actual, expected);
    }
}
