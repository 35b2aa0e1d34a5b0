//! H.264 sequence parameter set parsing (ITU-T H.264 7.3.2.1.1), limited to
//! what packaging needs: profile, picture size after cropping and the VUI
//! frame rate.

use super::bitreader::{remove_emulation_prevention, BitReader};
use crate::MediaError;

const WHAT: &str = "H.264 SPS";
const NAL_TYPE_SPS: u8 = 7;
/// Larger than any level allows (level 6.2 tops out near 1055 macroblocks
/// wide); keeps size arithmetic far from overflow.
const MAX_DIMENSION_IN_MBS: u32 = 2048;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpsInfo {
    pub profile_idc: u8,
    pub constraint_flags: u8,
    pub level_idc: u8,
    pub chroma_format_idc: u32,
    pub width: u32,
    pub height: u32,
    pub frame_mbs_only: bool,
    /// time_scale / (2 * num_units_in_tick) when the VUI carries timing.
    pub frame_rate: Option<f64>,
}

/// Profiles whose SPS carries chroma format, bit depth and scaling lists.
fn has_high_profile_fields(profile_idc: u8) -> bool {
    matches!(profile_idc, 100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135)
}

/// Parses an SPS NAL unit including its one-byte NAL header.
pub fn parse_sps(nal: &[u8]) -> Result<SpsInfo, MediaError> {
    let rbsp = remove_emulation_prevention(nal)?;
    let mut r = BitReader::new(&rbsp, WHAT);

    let header = r.read_u8(8)?;
    if header & 0x1f != NAL_TYPE_SPS {
        return Err(MediaError::invalid(WHAT, format!("NAL unit type {}", header & 0x1f)));
    }
    let profile_idc = r.read_u8(8)?;
    let constraint_flags = r.read_u8(8)?;
    let level_idc = r.read_u8(8)?;
    r.read_ue_max(31, "seq_parameter_set_id")?;

    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if has_high_profile_fields(profile_idc) {
        chroma_format_idc = r.read_ue_max(3, "chroma_format_idc")?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.read_bit()?;
        }
        r.read_ue_max(6, "bit_depth_luma_minus8")?;
        r.read_ue_max(6, "bit_depth_chroma_minus8")?;
        r.skip_bits(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.read_bit()? {
            let list_count = if chroma_format_idc == 3 { 12 } else { 8 };
            for index in 0..list_count {
                if r.read_bit()? {
                    skip_scaling_list(&mut r, if index < 6 { 16 } else { 64 })?;
                }
            }
        }
    }

    r.read_ue_max(12, "log2_max_frame_num_minus4")?;
    match r.read_ue_max(2, "pic_order_cnt_type")? {
        0 => {
            r.read_ue_max(12, "log2_max_pic_order_cnt_lsb_minus4")?;
        }
        1 => {
            r.skip_bits(1)?; // delta_pic_order_always_zero_flag
            r.read_se()?; // offset_for_non_ref_pic
            r.read_se()?; // offset_for_top_to_bottom_field
            let cycle = r.read_ue_max(255, "num_ref_frames_in_pic_order_cnt_cycle")?;
            for _ in 0..cycle {
                r.read_se()?;
            }
        }
        _ => {}
    }
    r.read_ue()?; // max_num_ref_frames
    r.skip_bits(1)?; // gaps_in_frame_num_value_allowed_flag

    let width_in_mbs = r.read_ue_max(MAX_DIMENSION_IN_MBS - 1, "pic_width_in_mbs_minus1")? + 1;
    let height_in_map_units = r.read_ue_max(MAX_DIMENSION_IN_MBS - 1, "pic_height_in_map_units_minus1")? + 1;
    let frame_mbs_only = r.read_bit()?;
    if !frame_mbs_only {
        r.skip_bits(1)?; // mb_adaptive_frame_field_flag
    }
    r.skip_bits(1)?; // direct_8x8_inference_flag

    let field_factor = if frame_mbs_only { 1 } else { 2 };
    let mut width = width_in_mbs * 16;
    let mut height = height_in_map_units * 16 * field_factor;
    if r.read_bit()? {
        // Crop offsets are in chroma sample units (Table 6-1).
        let chroma_array_type = if separate_colour_plane { 0 } else { chroma_format_idc };
        let (unit_x, unit_y) = match chroma_array_type {
            1 => (2, 2 * field_factor),
            2 => (2, field_factor),
            _ => (1, field_factor),
        };
        let left = r.read_ue_max(width, "frame_crop_left_offset")?;
        let right = r.read_ue_max(width, "frame_crop_right_offset")?;
        let top = r.read_ue_max(height, "frame_crop_top_offset")?;
        let bottom = r.read_ue_max(height, "frame_crop_bottom_offset")?;
        let crop_x = (left + right) * unit_x;
        let crop_y = (top + bottom) * unit_y;
        if crop_x >= width || crop_y >= height {
            return Err(MediaError::invalid(WHAT, "cropping removes the whole picture"));
        }
        width -= crop_x;
        height -= crop_y;
    }

    // A broken VUI must not cost us a stream whose picture size is known.
    let frame_rate = if r.read_bit()? { parse_vui_frame_rate(&mut r).ok().flatten() } else { None };

    Ok(SpsInfo {
        profile_idc,
        constraint_flags,
        level_idc,
        chroma_format_idc,
        width,
        height,
        frame_mbs_only,
        frame_rate,
    })
}

/// Reads a scaling_list() only to move past it (7.3.2.1.1.1).
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), MediaError> {
    let mut last_scale: i32 = 8;
    let mut next_scale: i32 = 8;
    for _ in 0..size {
        if next_scale != 0 {
            let delta = r.read_se()?;
            if !(-128..=127).contains(&delta) {
                return Err(MediaError::invalid(WHAT, "delta_scale out of range"));
            }
            next_scale = (last_scale + delta).rem_euclid(256);
        }
        if next_scale != 0 {
            last_scale = next_scale;
        }
    }
    Ok(())
}

/// Walks the VUI (Annex E.1.1) up to timing_info.
fn parse_vui_frame_rate(r: &mut BitReader<'_>) -> Result<Option<f64>, MediaError> {
    super::vui::skip_common_prefix(r)?;
    super::vui::read_frame_rate(r, 2.0)
}
