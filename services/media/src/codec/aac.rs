//! AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) for the AAC family.

use bytes::Bytes;

use super::bitreader::BitReader;
use crate::MediaError;

const WHAT: &str = "AudioSpecificConfig";
/// A real ASC is a handful of bytes; a program config element with comments
/// stays well under this.
pub const MAX_ASC: usize = 1024;

const OBJECT_TYPE_SBR: u8 = 5;
const OBJECT_TYPE_PS: u8 = 29;
const SYNC_EXTENSION_SBR: u32 = 0x2b7;
const SYNC_EXTENSION_PS: u32 = 0x548;

const SAMPLING_FREQUENCIES: [u32; 13] =
    [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/// AAC decoder configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AacConfig {
    /// The AudioSpecificConfig as received.
    pub record: Bytes,
    /// Signalled audio object type: 5 (SBR) or 29 (PS) for HE-AAC v1/v2,
    /// otherwise the core type (2 for AAC-LC).
    pub object_type: u8,
    /// Sampling rate of the AAC core: the media timescale, since every
    /// frame holds `samples_per_frame` core samples even when SBR doubles
    /// the output rate.
    pub sample_rate: u32,
    /// Output channels; 2 for parametric stereo over a mono core.
    pub channels: u8,
    /// 1024, or 960 when the frame length flag is set.
    pub samples_per_frame: u32,
}

impl AacConfig {
    pub fn parse(record: Bytes) -> Result<Self, MediaError> {
        if record.len() > MAX_ASC {
            return Err(MediaError::TooLarge { what: WHAT, size: record.len(), limit: MAX_ASC });
        }
        let mut r = BitReader::new(&record, WHAT);
        let mut object_type = read_object_type(&mut r)?;
        let sample_rate = read_sampling_frequency(&mut r)?;
        let channel_config = r.read_u8(4)?;

        let mut signalled = None;
        if object_type == OBJECT_TYPE_SBR || object_type == OBJECT_TYPE_PS {
            // Explicit hierarchical signalling: the extension rate follows,
            // then the real core object type.
            signalled = Some(object_type);
            read_sampling_frequency(&mut r)?;
            object_type = read_object_type(&mut r)?;
        }
        // Main, LC, SSR, LTP and scalable share GASpecificConfig and 1024
        // (or 960) sample frames; low-delay and USAC variants do not.
        if !matches!(object_type, 1..=4 | 6) {
            return Err(MediaError::unsupported(WHAT, format!("audio object type {object_type}")));
        }

        // GASpecificConfig.
        let samples_per_frame = if r.read_bit()? { 960 } else { 1024 };
        if r.read_bit()? {
            r.skip_bits(14)?; // coreCoderDelay
        }
        let extension_flag = r.read_bit()?;
        let mut channels = match channel_config {
            0 => program_config_channels(&mut r)?,
            1..=6 => channel_config,
            7 | 12 | 14 => 8,
            11 => 7,
            13 => 24,
            other => return Err(MediaError::invalid(WHAT, format!("channel configuration {other}"))),
        };
        // The rest only matters for finding backward-compatible SBR/PS
        // signalling, so a short record is not an error here.
        let mut skip_tail = || -> Result<(), MediaError> {
            if object_type == 6 {
                r.skip_bits(3)?; // layerNr
            }
            if extension_flag {
                r.skip_bits(1)?; // extensionFlag3, the only field for non-ER types
            }
            Ok(())
        };
        if signalled.is_none() && skip_tail().is_ok() {
            signalled = read_backward_compatible_extension(&mut r);
        }
        if signalled == Some(OBJECT_TYPE_PS) && channels == 1 {
            channels = 2;
        }
        Ok(AacConfig {
            record,
            object_type: signalled.unwrap_or(object_type),
            sample_rate,
            channels,
            samples_per_frame,
        })
    }

    /// RFC 6381 codec string: `mp4a.40.2`, `mp4a.40.5` or `mp4a.40.29`.
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }
}

fn read_object_type(r: &mut BitReader<'_>) -> Result<u8, MediaError> {
    let object_type = r.read_u8(5)?;
    if object_type == 31 {
        return Ok(32 + r.read_u8(6)?);
    }
    Ok(object_type)
}

fn read_sampling_frequency(r: &mut BitReader<'_>) -> Result<u32, MediaError> {
    let index = r.read_u8(4)?;
    let rate = if index == 0x0f {
        r.read_bits(24)?
    } else {
        let rate = SAMPLING_FREQUENCIES.get(usize::from(index)).copied();
        rate.ok_or_else(|| MediaError::invalid(WHAT, format!("sampling frequency index {index}")))?
    };
    if rate == 0 {
        return Err(MediaError::invalid(WHAT, "sampling frequency 0"));
    }
    Ok(rate)
}

/// Counts the channels a program_config_element (4.4.1.1) declares and
/// moves past it, so anything after it is read from the right place.
fn program_config_channels(r: &mut BitReader<'_>) -> Result<u8, MediaError> {
    r.skip_bits(4 + 2 + 4)?; // element_instance_tag, object_type, sampling index
    let front = r.read_bits(4)?;
    let side = r.read_bits(4)?;
    let back = r.read_bits(4)?;
    let lfe = r.read_bits(2)?;
    let assoc_data = r.read_bits(3)?;
    let valid_cc = r.read_bits(4)?;
    for _ in 0..2 {
        if r.read_bit()? {
            r.skip_bits(4)?; // mono/stereo mixdown element number
        }
    }
    if r.read_bit()? {
        r.skip_bits(3)?; // matrix_mixdown_idx, pseudo_surround_enable
    }
    let mut channels = lfe;
    for _ in 0..front + side + back {
        let is_pair = r.read_bit()?;
        r.skip_bits(4)?;
        channels += if is_pair { 2 } else { 1 };
    }
    // LFE and data element tags, then coupling channel flag + tag.
    r.skip_bits(4 * (lfe + assoc_data) as usize + 5 * valid_cc as usize)?;
    let misalignment = r.bits_left() % 8;
    r.skip_bits(misalignment)?;
    let comment_bytes = r.read_bits(8)?;
    r.skip_bits(8 * comment_bytes as usize)?;
    // At most 45 elements of two channels plus 3 LFE: always fits.
    u8::try_from(channels)
        .ok()
        .filter(|&count| count > 0)
        .ok_or_else(|| MediaError::invalid(WHAT, "program config without channels"))
}

/// Backward-compatible SBR/PS signalling appended after the core config.
/// Optional and often cut short, so failures just mean "not present".
fn read_backward_compatible_extension(r: &mut BitReader<'_>) -> Option<u8> {
    if r.bits_left() < 16 || r.read_bits(11).ok()? != SYNC_EXTENSION_SBR {
        return None;
    }
    if read_object_type(r).ok()? != OBJECT_TYPE_SBR || !r.read_bit().ok()? {
        return None;
    }
    read_sampling_frequency(r).ok()?;
    if r.bits_left() >= 12 && r.read_bits(11).ok()? == SYNC_EXTENSION_PS && r.read_bit().ok()? {
        return Some(OBJECT_TYPE_PS);
    }
    Some(OBJECT_TYPE_SBR)
}

#[cfg(test)]
#[path = "aac_tests.rs"]
mod tests;
