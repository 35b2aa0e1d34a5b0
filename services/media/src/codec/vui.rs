//! The part of the video usability information that H.264 (Annex E.1.1)
//! and H.265 (Annex E.2.1) share: the fields before their timing info, and
//! the timing info itself.

use super::bitreader::BitReader;
use crate::MediaError;

/// Skips aspect ratio, overscan, video signal type and chroma location.
pub(super) fn skip_common_prefix(r: &mut BitReader<'_>) -> Result<(), MediaError> {
    const EXTENDED_SAR: u32 = 255;
    if r.read_bit()? && r.read_bits(8)? == EXTENDED_SAR {
        r.skip_bits(32)?; // sar_width, sar_height
    }
    if r.read_bit()? {
        r.skip_bits(1)?; // overscan_appropriate_flag
    }
    if r.read_bit()? {
        r.skip_bits(4)?; // video_format, video_full_range_flag
        if r.read_bit()? {
            r.skip_bits(24)?; // colour_primaries, transfer, matrix
        }
    }
    if r.read_bit()? {
        r.read_ue()?; // chroma_sample_loc_type_top_field
        r.read_ue()?; // chroma_sample_loc_type_bottom_field
    }
    Ok(())
}

/// Reads timing_info_present_flag and, if set, the tick and time scale.
/// `ticks_per_frame` is 2 for H.264 (a tick is a field) and 1 for H.265.
pub(super) fn read_frame_rate(r: &mut BitReader<'_>, ticks_per_frame: f64) -> Result<Option<f64>, MediaError> {
    if !r.read_bit()? {
        return Ok(None);
    }
    let num_units_in_tick = r.read_bits(32)?;
    let time_scale = r.read_bits(32)?;
    if num_units_in_tick == 0 || time_scale == 0 {
        return Ok(None);
    }
    Ok(Some(f64::from(time_scale) / (ticks_per_frame * f64::from(num_units_in_tick))))
}
