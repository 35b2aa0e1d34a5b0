//! H.265 sequence parameter set parsing (ITU-T H.265 7.3.2.2), limited to
//! what packaging needs: picture size after the conformance window, chroma
//! format, bit depths and the VUI frame rate.

use super::bitreader::{remove_emulation_prevention, BitReader};
use crate::MediaError;

const WHAT: &str = "H.265 SPS";
const NAL_TYPE_SPS: u8 = 33;
/// Above any level's limit (level 6.2 allows 8444 luma samples a side at
/// most), and small enough that size arithmetic cannot overflow.
const MAX_DIMENSION: u32 = 16_888;
/// sps_max_dec_pic_buffering_minus1 is at most 15, which bounds every
/// reference picture list.
const MAX_REFERENCE_PICTURES: usize = 16;
/// delta_poc_s0_minus1, delta_poc_s1_minus1 and abs_delta_rps_minus1 are
/// below 2^15.
const MAX_DELTA_POC: u32 = (1 << 15) - 1;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HevcSpsInfo {
    pub max_sub_layers: u8,
    pub general_profile_idc: u8,
    pub general_level_idc: u8,
    pub chroma_format_idc: u8,
    pub bit_depth_luma: u8,
    pub bit_depth_chroma: u8,
    /// Display size after the conformance window.
    pub width: u32,
    pub height: u32,
    /// vui_time_scale / vui_num_units_in_tick when the VUI carries timing.
    pub frame_rate: Option<f64>,
}

/// Parses an SPS NAL unit including its two-byte NAL header.
pub fn parse_hevc_sps(nal: &[u8]) -> Result<HevcSpsInfo, MediaError> {
    let rbsp = remove_emulation_prevention(nal)?;
    let mut r = BitReader::new(&rbsp, WHAT);

    r.skip_bits(1)?; // forbidden_zero_bit
    let nal_type = r.read_u8(6)?;
    if nal_type != NAL_TYPE_SPS {
        return Err(MediaError::invalid(WHAT, format!("NAL unit type {nal_type}")));
    }
    r.skip_bits(9)?; // nuh_layer_id, nuh_temporal_id_plus1
    r.skip_bits(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.read_u8(3)?;
    if max_sub_layers_minus1 > 6 {
        return Err(MediaError::invalid(WHAT, "sps_max_sub_layers_minus1 = 7"));
    }
    r.skip_bits(1)?; // sps_temporal_id_nesting_flag
    let (general_profile_idc, general_level_idc) = skip_profile_tier_level(&mut r, max_sub_layers_minus1)?;
    r.read_ue_max(15, "sps_seq_parameter_set_id")?;

    let chroma_format_idc = r.read_ue_max(3, "chroma_format_idc")? as u8;
    let separate_colour_plane = chroma_format_idc == 3 && r.read_bit()?;
    let mut width = r.read_ue_max(MAX_DIMENSION, "pic_width_in_luma_samples")?;
    let mut height = r.read_ue_max(MAX_DIMENSION, "pic_height_in_luma_samples")?;
    if width == 0 || height == 0 {
        return Err(MediaError::invalid(WHAT, "empty picture"));
    }
    if r.read_bit()? {
        // Offsets count chroma samples (SubWidthC/SubHeightC, Table 6-1).
        let chroma_array_type = if separate_colour_plane { 0 } else { chroma_format_idc };
        let (unit_x, unit_y) = match chroma_array_type {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let left = r.read_ue_max(width, "conf_win_left_offset")?;
        let right = r.read_ue_max(width, "conf_win_right_offset")?;
        let top = r.read_ue_max(height, "conf_win_top_offset")?;
        let bottom = r.read_ue_max(height, "conf_win_bottom_offset")?;
        let crop_x = (left + right) * unit_x;
        let crop_y = (top + bottom) * unit_y;
        if crop_x >= width || crop_y >= height {
            return Err(MediaError::invalid(WHAT, "conformance window removes the whole picture"));
        }
        width -= crop_x;
        height -= crop_y;
    }
    let bit_depth_luma = r.read_ue_max(8, "bit_depth_luma_minus8")? as u8 + 8;
    let bit_depth_chroma = r.read_ue_max(8, "bit_depth_chroma_minus8")? as u8 + 8;

    let info = HevcSpsInfo {
        max_sub_layers: max_sub_layers_minus1 + 1,
        general_profile_idc,
        general_level_idc,
        chroma_format_idc,
        bit_depth_luma,
        bit_depth_chroma,
        width,
        height,
        frame_rate: None,
    };
    // Everything below only leads to the VUI frame rate; a stream whose
    // picture size is known is not refused over it.
    let frame_rate = match skip_to_vui(&mut r, max_sub_layers_minus1) {
        Ok(true) => parse_vui_frame_rate(&mut r).ok().flatten(),
        _ => None,
    };
    Ok(HevcSpsInfo { frame_rate, ..info })
}

/// Moves past profile_tier_level(1, max_sub_layers_minus1) (7.3.3) and
/// returns general_profile_idc and general_level_idc.
fn skip_profile_tier_level(r: &mut BitReader<'_>, max_sub_layers_minus1: u8) -> Result<(u8, u8), MediaError> {
    r.skip_bits(3)?; // general_profile_space, general_tier_flag
    let profile_idc = r.read_u8(5)?;
    r.skip_bits(32 + 48)?; // compatibility and constraint flags
    let level_idc = r.read_u8(8)?;
    let mut present = [(false, false); 6];
    for flags in present.iter_mut().take(usize::from(max_sub_layers_minus1)) {
        *flags = (r.read_bit()?, r.read_bit()?);
    }
    if max_sub_layers_minus1 > 0 {
        r.skip_bits(2 * (8 - usize::from(max_sub_layers_minus1)))?; // reserved_zero_2bits
    }
    for (profile_present, level_present) in present.into_iter().take(usize::from(max_sub_layers_minus1)) {
        if profile_present {
            r.skip_bits(88)?;
        }
        if level_present {
            r.skip_bits(8)?;
        }
    }
    Ok((profile_idc, level_idc))
}

/// Reads from log2_max_pic_order_cnt_lsb_minus4 to vui_parameters_present_flag.
fn skip_to_vui(r: &mut BitReader<'_>, max_sub_layers_minus1: u8) -> Result<bool, MediaError> {
    let log2_max_poc_lsb = r.read_ue_max(12, "log2_max_pic_order_cnt_lsb_minus4")? + 4;
    let ordering_info_for_all = r.read_bit()?;
    let first = if ordering_info_for_all { 0 } else { max_sub_layers_minus1 };
    for _ in first..=max_sub_layers_minus1 {
        r.read_ue_max(15, "sps_max_dec_pic_buffering_minus1")?;
        r.read_ue_max(15, "sps_max_num_reorder_pics")?;
        r.read_ue()?; // sps_max_latency_increase_plus1
    }
    for _ in 0..6 {
        // Coding and transform block sizes, transform hierarchy depths.
        r.read_ue_max(32, "block size field")?;
    }
    if r.read_bit()? && r.read_bit()? {
        // scaling_list_enabled_flag and sps_scaling_list_data_present_flag
        skip_scaling_list_data(r)?;
    }
    r.skip_bits(2)?; // amp_enabled_flag, sample_adaptive_offset_enabled_flag
    if r.read_bit()? {
        r.skip_bits(8)?; // PCM sample bit depths
        r.read_ue()?; // log2_min_pcm_luma_coding_block_size_minus3
        r.read_ue()?; // log2_diff_max_min_pcm_luma_coding_block_size
        r.skip_bits(1)?; // pcm_loop_filter_disabled_flag
    }
    let set_count = r.read_ue_max(64, "num_short_term_ref_pic_sets")?;
    let mut sets: Vec<ReferenceSet> = Vec::with_capacity(set_count as usize);
    for _ in 0..set_count {
        let set = read_short_term_ref_pic_set(r, sets.last())?;
        sets.push(set);
    }
    if r.read_bit()? {
        let count = r.read_ue_max(32, "num_long_term_ref_pics_sps")?;
        for _ in 0..count {
            r.skip_bits(log2_max_poc_lsb as usize + 1)?; // lt_ref_pic_poc_lsb_sps, used_by_curr_pic_lt_sps_flag
        }
    }
    r.skip_bits(2)?; // sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
    r.read_bit()
}

/// scaling_list_data() (7.3.4), read only to move past it.
fn skip_scaling_list_data(r: &mut BitReader<'_>) -> Result<(), MediaError> {
    for size_id in 0..4 {
        let step = if size_id == 3 { 3 } else { 1 };
        for _ in (0..6).step_by(step) {
            if !r.read_bit()? {
                r.read_ue_max(5, "scaling_list_pred_matrix_id_delta")?;
                continue;
            }
            if size_id > 1 {
                r.read_se()?; // scaling_list_dc_coef_minus8
            }
            let coefficients = 64.min(1 << (4 + (size_id << 1)));
            for _ in 0..coefficients {
                r.read_se()?;
            }
        }
    }
    Ok(())
}

/// The delta POCs of one short-term reference picture set: S0 (negative,
/// nearest first) and S1 (positive, nearest first).
#[derive(Default)]
struct ReferenceSet {
    negative: Vec<i32>,
    positive: Vec<i32>,
}

/// st_ref_pic_set() as it appears in an SPS (7.3.7), with the derivation of
/// 7.4.8 for predicted sets, since the next set's syntax depends on it.
fn read_short_term_ref_pic_set(
    r: &mut BitReader<'_>,
    previous: Option<&ReferenceSet>,
) -> Result<ReferenceSet, MediaError> {
    let predicted = match previous {
        Some(_) => r.read_bit()?,
        None => false,
    };
    let Some(reference) = previous.filter(|_| predicted) else {
        let negative_count = r.read_ue_max(MAX_REFERENCE_PICTURES as u32, "num_negative_pics")?;
        let positive_count = r.read_ue_max(MAX_REFERENCE_PICTURES as u32, "num_positive_pics")?;
        let mut set = ReferenceSet::default();
        let mut poc = 0i32;
        for _ in 0..negative_count {
            poc -= r.read_ue_max(MAX_DELTA_POC, "delta_poc_s0_minus1")? as i32 + 1;
            r.skip_bits(1)?; // used_by_curr_pic_s0_flag
            set.negative.push(poc);
        }
        poc = 0;
        for _ in 0..positive_count {
            poc += r.read_ue_max(MAX_DELTA_POC, "delta_poc_s1_minus1")? as i32 + 1;
            r.skip_bits(1)?; // used_by_curr_pic_s1_flag
            set.positive.push(poc);
        }
        return Ok(set);
    };

    let sign_negative = r.read_bit()?;
    let magnitude = r.read_ue_max(MAX_DELTA_POC, "abs_delta_rps_minus1")? as i32 + 1;
    let delta_rps = if sign_negative { -magnitude } else { magnitude };
    // One use_delta flag per reference entry (S0, then S1), then one for
    // the reference picture itself.
    let entries = reference.negative.len() + reference.positive.len();
    let mut use_delta = Vec::with_capacity(entries + 1);
    for _ in 0..=entries {
        let used_by_current = r.read_bit()?;
        use_delta.push(used_by_current || r.read_bit()?);
    }
    let uses = |index: usize| use_delta.get(index).copied().unwrap_or(false);
    let negatives = reference.negative.len();

    let mut set = ReferenceSet::default();
    for (index, delta) in reference.positive.iter().enumerate().rev() {
        let poc = delta + delta_rps;
        if poc < 0 && uses(negatives + index) {
            set.negative.push(poc);
        }
    }
    if delta_rps < 0 && uses(entries) {
        set.negative.push(delta_rps);
    }
    for (index, delta) in reference.negative.iter().enumerate() {
        let poc = delta + delta_rps;
        if poc < 0 && uses(index) {
            set.negative.push(poc);
        }
    }
    for (index, delta) in reference.negative.iter().enumerate().rev() {
        let poc = delta + delta_rps;
        if poc > 0 && uses(index) {
            set.positive.push(poc);
        }
    }
    if delta_rps > 0 && uses(entries) {
        set.positive.push(delta_rps);
    }
    for (index, delta) in reference.positive.iter().enumerate() {
        let poc = delta + delta_rps;
        if poc > 0 && uses(negatives + index) {
            set.positive.push(poc);
        }
    }
    if set.negative.len() + set.positive.len() > MAX_REFERENCE_PICTURES {
        return Err(MediaError::invalid(WHAT, "predicted reference picture set too large"));
    }
    Ok(set)
}

/// Walks the VUI (Annex E.2.1) up to vui_timing_info.
fn parse_vui_frame_rate(r: &mut BitReader<'_>) -> Result<Option<f64>, MediaError> {
    super::vui::skip_common_prefix(r)?;
    r.skip_bits(3)?; // neutral_chroma_indication, field_seq, frame_field_info_present
    if r.read_bit()? {
        for _ in 0..4 {
            r.read_ue()?; // default display window offsets
        }
    }
    super::vui::read_frame_rate(r, 1.0)
}
