//! Decoder configuration records built from parameter sets, for streams
//! that describe their video with SDP `sprop-*` attributes or in-band
//! parameter sets instead of a ready record. Each record is checked with the
//! codec module's own parser before it is used.

use bytes::{BufMut, Bytes, BytesMut};

use super::h26x::ParameterSets;
use crate::codec::bitreader::remove_emulation_prevention;
use crate::codec::{parse_hevc_sps, AvcConfig, HevcConfig};
use crate::{MediaError, VideoCodec};

/// An AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1) with one SPS
/// and one PPS and 4-byte NAL lengths.
pub fn avc_record(sps: &[u8], pps: &[u8]) -> Result<Bytes, MediaError> {
    let profile = sps.get(1..4).ok_or_else(|| MediaError::invalid("H.264 SPS", "shorter than its header"))?;
    let mut record = BytesMut::with_capacity(11 + sps.len() + pps.len());
    record.put_u8(1);
    record.extend_from_slice(profile);
    record.put_u8(0xfc | 3);
    record.put_u8(0xe0 | 1);
    put_sized(&mut record, sps)?;
    record.put_u8(1);
    put_sized(&mut record, pps)?;
    let record = record.freeze();
    AvcConfig::parse(record.clone())?;
    Ok(record)
}

/// An HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1) with one
/// VPS, SPS and PPS and 4-byte NAL lengths; profile, tier and level are
/// copied from the SPS's profile_tier_level.
pub fn hevc_record(vps: &[u8], sps: &[u8], pps: &[u8]) -> Result<Bytes, MediaError> {
    let info = parse_hevc_sps(sps)?;
    let rbsp = remove_emulation_prevention(sps)?;
    // Two bytes of NAL header, one of ids and sub-layer count, then twelve of profile, tier and level.
    let layers = *rbsp.get(2).ok_or_else(|| MediaError::invalid("H.265 SPS", "truncated"))?;
    let profile_tier_level = rbsp.get(3..15).ok_or_else(|| MediaError::invalid("H.265 SPS", "truncated"))?;
    let temporal_id_nested = layers & 1;
    let mut record = BytesMut::with_capacity(23 + 15 + vps.len() + sps.len() + pps.len());
    record.put_u8(1);
    record.extend_from_slice(profile_tier_level);
    record.put_u16(0xf000); // min_spatial_segmentation_idc 0
    record.put_u8(0xfc); // parallelismType unknown
    record.put_u8(0xfc | (info.chroma_format_idc & 3));
    record.put_u8(0xf8 | (info.bit_depth_luma.saturating_sub(8) & 7));
    record.put_u8(0xf8 | (info.bit_depth_chroma.saturating_sub(8) & 7));
    record.put_u16(0); // avgFrameRate unknown
    record.put_u8(((info.max_sub_layers & 7) << 3) | (temporal_id_nested << 2) | 3);
    record.put_u8(3);
    for (nal_type, nal) in [(32u8, vps), (33, sps), (34, pps)] {
        record.put_u8(0x80 | nal_type);
        record.put_u16(1);
        put_sized(&mut record, nal)?;
    }
    let record = record.freeze();
    HevcConfig::parse(record.clone())?;
    Ok(record)
}

/// The record for the parameter sets known so far, if they are complete.
pub fn video_record(codec: VideoCodec, sets: &ParameterSets) -> Option<Result<Bytes, MediaError>> {
    match codec {
        VideoCodec::H265 => Some(hevc_record(sets.vps.as_ref()?, sets.sps.as_ref()?, sets.pps.as_ref()?)),
        _ => Some(avc_record(sets.sps.as_ref()?, sets.pps.as_ref()?)),
    }
}

fn put_sized(record: &mut BytesMut, nal: &[u8]) -> Result<(), MediaError> {
    let length = u16::try_from(nal.len()).map_err(|_| MediaError::TooLarge {
        what: "parameter set",
        size: nal.len(),
        limit: usize::from(u16::MAX),
    })?;
    record.put_u16(length);
    record.extend_from_slice(nal);
    Ok(())
}
