//! AV1CodecConfigurationRecord (AV1 Codec ISO Media File Format Binding,
//! section 2.3), as Enhanced RTMP carries it in the sequence start.

use bytes::Bytes;

use super::av1_obu::{isobmff_sample, parse_sequence_header, ObuReader, SequenceHeader, OBU_SEQUENCE_HEADER};
use crate::MediaError;

const WHAT: &str = "AV1CodecConfigurationRecord";
/// A sequence header is tens of bytes; metadata OBUs (HDR) add little.
pub const MAX_AV1_RECORD: usize = 16 * 1024;
const FIXED_HEADER: usize = 4;

/// AV1 decoder configuration, kept verbatim for the `av1C` box. Values that
/// the record and its sequence header both state are taken from the
/// sequence header, which decoders follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Av1Config {
    /// The AV1CodecConfigurationRecord as received.
    pub record: Bytes,
    pub seq_profile: u8,
    pub seq_level_idx_0: u8,
    pub seq_tier_0: bool,
    /// 8, 10 or 12.
    pub bit_depth: u8,
    pub monochrome: bool,
    pub chroma_subsampling_x: bool,
    pub chroma_subsampling_y: bool,
    pub chroma_sample_position: u8,
    /// From the record only.
    pub initial_presentation_delay_minus_one: Option<u8>,
    /// The sequence header OBU (header, size and payload): a slice of `record`.
    pub sequence_header: Bytes,
    /// max_frame_width_minus_1 + 1 and max_frame_height_minus_1 + 1.
    pub width: u32,
    pub height: u32,
    /// From the sequence header's timing_info when present (rare: the
    /// ISOBMFF binding asks encoders to leave it out).
    pub frame_rate: Option<f64>,
}

impl Av1Config {
    pub fn parse(record: Bytes) -> Result<Self, MediaError> {
        if record.len() > MAX_AV1_RECORD {
            return Err(MediaError::TooLarge { what: WHAT, size: record.len(), limit: MAX_AV1_RECORD });
        }
        let Some(&[marker_version, _, _, delay]) = record.get(..FIXED_HEADER) else {
            return Err(MediaError::Truncated { what: WHAT, needed: FIXED_HEADER - record.len() });
        };
        if marker_version != 0x81 {
            return Err(MediaError::invalid(WHAT, format!("marker/version byte {marker_version:#04x}")));
        }
        let initial_presentation_delay_minus_one = (delay & 0x10 != 0).then_some(delay & 0x0f);

        let config_obus = record.slice(FIXED_HEADER..);
        let mut found = None;
        for span in ObuReader::new(&config_obus) {
            let span = span?;
            if span.obu_type == OBU_SEQUENCE_HEADER {
                found = Some(span);
                break;
            }
        }
        // The record allows the header to live only in the first sample,
        // but then nothing tells the playlist or sample entry the picture
        // size; every Enhanced RTMP encoder puts it here.
        let Some(span) = found else {
            return Err(MediaError::unsupported(WHAT, "no sequence header OBU in configOBUs"));
        };
        let sequence_header = config_obus.slice(span.start..span.end);
        let payload = config_obus.get(span.payload_start..span.end).unwrap_or_default();
        let header: SequenceHeader = parse_sequence_header(payload)?;
        Ok(Av1Config {
            seq_profile: header.seq_profile,
            seq_level_idx_0: header.seq_level_idx_0,
            seq_tier_0: header.seq_tier_0,
            bit_depth: header.bit_depth,
            monochrome: header.monochrome,
            chroma_subsampling_x: header.chroma_subsampling_x,
            chroma_subsampling_y: header.chroma_subsampling_y,
            chroma_sample_position: header.chroma_sample_position,
            initial_presentation_delay_minus_one,
            sequence_header,
            width: header.max_frame_width,
            height: header.max_frame_height,
            frame_rate: header.frame_rate,
            record,
        })
    }

    /// Codecs parameter (AV1-ISOBMFF section 5), e.g. `av01.0.04M.08`:
    /// profile, two-digit level index with tier M/H, two-digit bit depth.
    /// The optional colour fields are left out, as their defaults apply to
    /// most streams and they change nothing a player decides on.
    pub fn codec_string(&self) -> String {
        let tier = if self.seq_tier_0 { 'H' } else { 'M' };
        format!("av01.{}.{:02}{tier}.{:02}", self.seq_profile, self.seq_level_idx_0, self.bit_depth)
    }

    /// One Enhanced RTMP temporal unit as an ISOBMFF sample: see
    /// [`isobmff_sample`].
    pub fn sample(&self, data: Bytes, keyframe: bool) -> Bytes {
        isobmff_sample(data, keyframe, &self.sequence_header)
    }
}

#[cfg(test)]
#[path = "av1_tests.rs"]
mod tests;
