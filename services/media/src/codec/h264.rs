//! AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1).

use bytes::Bytes;

use super::sps::parse_sps;
use crate::MediaError;

const WHAT: &str = "AVCDecoderConfigurationRecord";
/// SPS/PPS lengths are 16-bit and their counts 5/8-bit, so a real record is
/// far below this; anything bigger is not worth parsing.
pub const MAX_AVC_RECORD: usize = 64 * 1024;

/// H.264 decoder configuration, kept verbatim for the `avcC` box and
/// summarised for playlists and sample entries.
#[derive(Debug, Clone, PartialEq)]
pub struct AvcConfig {
    /// The AVCDecoderConfigurationRecord as received.
    pub record: Bytes,
    pub profile_idc: u8,
    pub profile_compatibility: u8,
    pub level_idc: u8,
    /// Bytes in each NAL unit length prefix: 1, 2 or 4.
    pub nal_length_size: u8,
    /// Display size after SPS cropping.
    pub width: u32,
    pub height: u32,
    /// From the SPS VUI timing info when present.
    pub frame_rate: Option<f64>,
    /// Slices of `record`, NAL header included.
    pub sps: Vec<Bytes>,
    pub pps: Vec<Bytes>,
}

impl AvcConfig {
    pub fn parse(record: Bytes) -> Result<Self, MediaError> {
        if record.len() > MAX_AVC_RECORD {
            return Err(MediaError::TooLarge { what: WHAT, size: record.len(), limit: MAX_AVC_RECORD });
        }
        let mut cursor = Cursor { record: &record, pos: 0 };
        let version = cursor.u8()?;
        if version != 1 {
            return Err(MediaError::invalid(WHAT, format!("configurationVersion {version}")));
        }
        let profile_idc = cursor.u8()?;
        let profile_compatibility = cursor.u8()?;
        let level_idc = cursor.u8()?;
        let nal_length_size = (cursor.u8()? & 0x03) + 1;
        if nal_length_size == 3 {
            return Err(MediaError::invalid(WHAT, "NAL length size 3"));
        }
        let sps_count = cursor.u8()? & 0x1f;
        let sps = (0..sps_count).map(|_| cursor.parameter_set()).collect::<Result<Vec<_>, _>>()?;
        let pps_count = cursor.u8()?;
        let pps = (0..pps_count).map(|_| cursor.parameter_set()).collect::<Result<Vec<_>, _>>()?;
        // Anything after the PPS list (high-profile chroma/bit-depth fields)
        // is restated by the SPS, so it is not read here.

        let first_sps = sps.first().ok_or_else(|| MediaError::invalid(WHAT, "no SPS"))?;
        let info = parse_sps(first_sps)?;
        Ok(AvcConfig {
            record,
            profile_idc,
            profile_compatibility,
            level_idc,
            nal_length_size,
            width: info.width,
            height: info.height,
            frame_rate: info.frame_rate,
            sps,
            pps,
        })
    }

    /// RFC 6381 codec string, e.g. `avc1.64001f`.
    pub fn codec_string(&self) -> String {
        format!("avc1.{:02x}{:02x}{:02x}", self.profile_idc, self.profile_compatibility, self.level_idc)
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

    fn u8(&mut self) -> Result<u8, MediaError> {
        let byte = self.record.get(self.pos).copied();
        let byte = byte.ok_or(MediaError::Truncated { what: WHAT, needed: 1 })?;
        self.pos += 1;
        Ok(byte)
    }

    /// A 16-bit length followed by that many bytes.
    fn parameter_set(&mut self) -> Result<Bytes, MediaError> {
        let len = (usize::from(self.u8()?) << 8) | usize::from(self.u8()?);
        if len == 0 {
            return Err(MediaError::invalid(WHAT, "empty parameter set"));
        }
        self.take(len)
    }
}

#[cfg(test)]
#[path = "h264_tests.rs"]
mod tests;
