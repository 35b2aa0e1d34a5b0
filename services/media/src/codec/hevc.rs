//! HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1).

use bytes::Bytes;

use super::hevc_sps::parse_hevc_sps;
use crate::MediaError;

const WHAT: &str = "HEVCDecoderConfigurationRecord";
/// Parameter set lengths are 16-bit; a real record is a few hundred bytes.
pub const MAX_HEVC_RECORD: usize = 64 * 1024;
/// configurationVersion through numOfArrays.
const FIXED_HEADER: usize = 23;

const NAL_VPS: u8 = 32;
const NAL_SPS: u8 = 33;
const NAL_PPS: u8 = 34;

/// H.265 decoder configuration, kept verbatim for the `hvcC` box and
/// summarised for playlists and sample entries.
#[derive(Debug, Clone, PartialEq)]
pub struct HevcConfig {
    /// The HEVCDecoderConfigurationRecord as received.
    pub record: Bytes,
    pub general_profile_space: u8,
    pub general_tier_flag: bool,
    pub general_profile_idc: u8,
    /// Flag j of the 32 is bit 31 - j, as stored.
    pub general_profile_compatibility_flags: u32,
    /// Progressive/interlaced/non-packed/frame-only flags and the rest.
    pub general_constraint_indicator_flags: [u8; 6],
    pub general_level_idc: u8,
    /// Bytes in each NAL unit length prefix: 1, 2 or 4.
    pub nal_length_size: u8,
    /// From the SPS.
    pub chroma_format_idc: u8,
    pub bit_depth_luma: u8,
    pub bit_depth_chroma: u8,
    /// Display size after the SPS conformance window.
    pub width: u32,
    pub height: u32,
    /// From the SPS VUI timing info when present.
    pub frame_rate: Option<f64>,
    /// Slices of `record`, NAL header included.
    pub vps: Vec<Bytes>,
    pub sps: Vec<Bytes>,
    pub pps: Vec<Bytes>,
}

impl HevcConfig {
    pub fn parse(record: Bytes) -> Result<Self, MediaError> {
        if record.len() > MAX_HEVC_RECORD {
            return Err(MediaError::TooLarge { what: WHAT, size: record.len(), limit: MAX_HEVC_RECORD });
        }
        let Some(header) = record.get(..FIXED_HEADER) else {
            return Err(MediaError::Truncated { what: WHAT, needed: FIXED_HEADER - record.len() });
        };
        let mut fixed = [0u8; FIXED_HEADER];
        fixed.copy_from_slice(header);
        if fixed[0] != 1 {
            return Err(MediaError::invalid(WHAT, format!("configurationVersion {}", fixed[0])));
        }
        let nal_length_size = (fixed[21] & 0x03) + 1;
        if nal_length_size == 3 {
            return Err(MediaError::invalid(WHAT, "NAL length size 3"));
        }
        let mut constraints = [0u8; 6];
        constraints.copy_from_slice(&fixed[6..12]);

        let (mut vps, mut sps, mut pps) = (Vec::new(), Vec::new(), Vec::new());
        let mut cursor = Cursor { record: &record, pos: FIXED_HEADER };
        for _ in 0..fixed[22] {
            cursor.u8()?; // array_completeness, reserved, NAL_unit_type
            let count = cursor.u16()?;
            for _ in 0..count {
                let len = usize::from(cursor.u16()?);
                if len < 2 {
                    return Err(MediaError::invalid(WHAT, "NAL unit shorter than its header"));
                }
                let unit = cursor.take(len)?;
                // The NAL header is authoritative; the array type is only a label.
                match unit.first().map(|header| (header >> 1) & 0x3f) {
                    Some(NAL_VPS) => vps.push(unit),
                    Some(NAL_SPS) => sps.push(unit),
                    Some(NAL_PPS) => pps.push(unit),
                    _ => {} // SEI and others: kept in the record, not needed here
                }
            }
        }

        let first_sps = sps.first().ok_or_else(|| MediaError::invalid(WHAT, "no SPS"))?;
        let info = parse_hevc_sps(first_sps)?;
        Ok(HevcConfig {
            general_profile_space: fixed[1] >> 6,
            general_tier_flag: fixed[1] & 0x20 != 0,
            general_profile_idc: fixed[1] & 0x1f,
            general_profile_compatibility_flags: u32::from_be_bytes([fixed[2], fixed[3], fixed[4], fixed[5]]),
            general_constraint_indicator_flags: constraints,
            general_level_idc: fixed[12],
            nal_length_size,
            chroma_format_idc: info.chroma_format_idc,
            bit_depth_luma: info.bit_depth_luma,
            bit_depth_chroma: info.bit_depth_chroma,
            width: info.width,
            height: info.height,
            frame_rate: info.frame_rate,
            vps,
            sps,
            pps,
            record,
        })
    }

    /// Codecs parameter (ISO/IEC 14496-15 Annex E.3), e.g. `hvc1.1.6.L93.B0`:
    /// profile space letter and profile, compatibility flags in reverse bit
    /// order as hex, tier and level, then the constraint bytes in hex with
    /// trailing zero bytes left out (the first one is always written, which
    /// the most widespread parsers expect).
    pub fn codec_string(&self) -> String {
        let space = match self.general_profile_space {
            1 => "A",
            2 => "B",
            3 => "C",
            _ => "",
        };
        let tier = if self.general_tier_flag { 'H' } else { 'L' };
        let mut text = format!(
            "hvc1.{space}{}.{:X}.{tier}{}",
            self.general_profile_idc,
            self.general_profile_compatibility_flags.reverse_bits(),
            self.general_level_idc
        );
        let flags = &self.general_constraint_indicator_flags;
        let used = flags.iter().rposition(|&byte| byte != 0).map_or(1, |last| last + 1);
        for byte in flags.iter().take(used) {
            text.push_str(&format!(".{byte:X}"));
        }
        text
    }
}

struct Cursor<'a> {
    record: &'a Bytes,
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, len: usize) -> Result<Bytes, MediaError> {
        let end = self.pos.saturating_add(len);
        if end > self.record.len() {
            return Err(MediaError::Truncated { what: WHAT, needed: end - self.record.len() });
        }
        let slice = self.record.slice(self.pos..end);
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], MediaError> {
        let rest = self.record.get(self.pos..).unwrap_or_default();
        let Some(bytes) = rest.first_chunk::<N>() else {
            return Err(MediaError::Truncated { what: WHAT, needed: N - rest.len() });
        };
        self.pos += N;
        Ok(*bytes)
    }

    fn u8(&mut self) -> Result<u8, MediaError> {
        let [byte] = self.array()?;
        Ok(byte)
    }

    fn u16(&mut self) -> Result<u16, MediaError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
}

#[cfg(test)]
#[path = "hevc_tests.rs"]
mod tests;
