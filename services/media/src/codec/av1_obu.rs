//! AV1 open bitstream units in the low-overhead format (AV1 spec 5.3), the
//! sequence header OBU (5.5), and the rewrite of Enhanced RTMP temporal
//! units into ISOBMFF samples.

use bytes::{BufMut, Bytes, BytesMut};

use super::bitreader::BitReader;
use crate::MediaError;

const WHAT: &str = "AV1 sequence header";

pub const OBU_SEQUENCE_HEADER: u8 = 1;
pub const OBU_TEMPORAL_DELIMITER: u8 = 2;
pub const OBU_FRAME_HEADER: u8 = 3;
pub const OBU_FRAME: u8 = 6;

/// One OBU located inside a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObuSpan {
    pub obu_type: u8,
    /// Start of the OBU header.
    pub start: usize,
    /// Start of the payload, after the header and size field.
    pub payload_start: usize,
    /// One past the last payload byte.
    pub end: usize,
}

/// Iterates the OBUs of a low-overhead sequence. An OBU without a size field
/// runs to the end of the data, as allowed for the last OBU of a sample.
/// Stops at the first malformed OBU, which it yields as an error.
pub struct ObuReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> ObuReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn next_span(&mut self) -> Result<ObuSpan, MediaError> {
        let start = self.pos;
        let header = *self.data.get(start).ok_or(MediaError::Truncated { what: "OBU header", needed: 1 })?;
        if header & 0x80 != 0 {
            return Err(MediaError::invalid("OBU header", "forbidden bit set"));
        }
        let obu_type = (header >> 3) & 0x0f;
        let extension = usize::from(header & 0x04 != 0);
        let has_size = header & 0x02 != 0;
        let mut payload_start = start + 1 + extension;
        let end = if has_size {
            let (size, size_len) = read_leb128(self.data.get(payload_start..).unwrap_or_default())?;
            payload_start += size_len;
            payload_start.checked_add(size).ok_or(MediaError::invalid("OBU header", "size overflows"))?
        } else {
            self.data.len()
        };
        if payload_start > self.data.len() || end > self.data.len() {
            let needed = end.max(payload_start) - self.data.len();
            return Err(MediaError::Truncated { what: "OBU", needed });
        }
        self.pos = end;
        Ok(ObuSpan { obu_type, start, payload_start, end })
    }
}

impl Iterator for ObuReader<'_> {
    type Item = Result<ObuSpan, MediaError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let span = self.next_span();
        if span.is_err() {
            self.pos = self.data.len();
        }
        Some(span)
    }
}

/// leb128() (AV1 4.10.5): at most 8 bytes, value below 2^32. Returns the
/// value and the number of bytes it took.
pub fn read_leb128(data: &[u8]) -> Result<(usize, usize), MediaError> {
    let mut value: u64 = 0;
    for (index, byte) in data.iter().take(8).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            let value = u32::try_from(value).map_err(|_| MediaError::invalid("leb128", "value over 32 bits"))?;
            return Ok((value as usize, index + 1));
        }
    }
    if data.len() < 8 {
        return Err(MediaError::Truncated { what: "leb128", needed: 1 });
    }
    Err(MediaError::invalid("leb128", "longer than 8 bytes"))
}

/// What packaging needs from a sequence_header_obu() payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SequenceHeader {
    pub seq_profile: u8,
    pub still_picture: bool,
    pub seq_level_idx_0: u8,
    pub seq_tier_0: bool,
    /// max_frame_width_minus_1 + 1 and max_frame_height_minus_1 + 1.
    pub max_frame_width: u32,
    pub max_frame_height: u32,
    /// time_scale / num_units_in_display_tick when timing_info is present.
    pub frame_rate: Option<f64>,
    pub bit_depth: u8,
    pub monochrome: bool,
    pub chroma_subsampling_x: bool,
    pub chroma_subsampling_y: bool,
    pub chroma_sample_position: u8,
}

/// Parses a sequence header OBU payload (5.5.1) through color_config().
pub fn parse_sequence_header(payload: &[u8]) -> Result<SequenceHeader, MediaError> {
    let mut r = BitReader::new(payload, WHAT);
    let seq_profile = r.read_u8(3)?;
    if seq_profile > 2 {
        return Err(MediaError::unsupported(WHAT, format!("seq_profile {seq_profile}")));
    }
    let still_picture = r.read_bit()?;
    let reduced_still_picture_header = r.read_bit()?;
    let mut frame_rate = None;
    let (seq_level_idx_0, seq_tier_0);
    if reduced_still_picture_header {
        seq_level_idx_0 = r.read_u8(5)?;
        seq_tier_0 = false;
    } else {
        let mut decoder_model_info_present = false;
        let mut buffer_delay_length = 0;
        if r.read_bit()? {
            let num_units_in_display_tick = r.read_bits(32)?;
            let time_scale = r.read_bits(32)?;
            if r.read_bit()? {
                read_uvlc(&mut r)?; // num_ticks_per_picture_minus_1
            }
            if num_units_in_display_tick > 0 && time_scale > 0 {
                frame_rate = Some(f64::from(time_scale) / f64::from(num_units_in_display_tick));
            }
            decoder_model_info_present = r.read_bit()?;
            if decoder_model_info_present {
                buffer_delay_length = r.read_bits(5)? as usize + 1;
                r.skip_bits(32 + 5 + 5)?; // decoding tick, removal and presentation time lengths
            }
        }
        let initial_display_delay_present = r.read_bit()?;
        let operating_points = r.read_u8(5)? + 1;
        let mut first = None;
        for _ in 0..operating_points {
            r.skip_bits(12)?; // operating_point_idc
            let level = r.read_u8(5)?;
            let tier = level > 7 && r.read_bit()?;
            first.get_or_insert((level, tier));
            if decoder_model_info_present && r.read_bit()? {
                r.skip_bits(2 * buffer_delay_length + 1)?; // operating_parameters_info()
            }
            if initial_display_delay_present && r.read_bit()? {
                r.skip_bits(4)?; // initial_display_delay_minus_1
            }
        }
        (seq_level_idx_0, seq_tier_0) = first.unwrap_or((0, false));
    }
    let width_bits = r.read_bits(4)? + 1;
    let height_bits = r.read_bits(4)? + 1;
    let max_frame_width = r.read_bits(width_bits)? + 1;
    let max_frame_height = r.read_bits(height_bits)? + 1;
    skip_coding_tools(&mut r, reduced_still_picture_header)?;
    let color = read_color_config(&mut r, seq_profile)?;
    Ok(SequenceHeader {
        seq_profile,
        still_picture,
        seq_level_idx_0,
        seq_tier_0,
        max_frame_width,
        max_frame_height,
        frame_rate,
        bit_depth: color.bit_depth,
        monochrome: color.monochrome,
        chroma_subsampling_x: color.subsampling_x,
        chroma_subsampling_y: color.subsampling_y,
        chroma_sample_position: color.sample_position,
    })
}

fn read_uvlc(r: &mut BitReader<'_>) -> Result<u32, MediaError> {
    let mut leading_zeros = 0u32;
    while !r.read_bit()? {
        leading_zeros += 1;
        if leading_zeros >= 32 {
            return Ok(u32::MAX);
        }
    }
    let value = u64::from(r.read_bits(leading_zeros)?) + (1u64 << leading_zeros) - 1;
    Ok(u32::try_from(value).unwrap_or(u32::MAX))
}

/// From frame_id_numbers_present_flag to enable_restoration.
fn skip_coding_tools(r: &mut BitReader<'_>, reduced_still_picture_header: bool) -> Result<(), MediaError> {
    if !reduced_still_picture_header && r.read_bit()? {
        r.skip_bits(4 + 3)?; // frame id length fields
    }
    r.skip_bits(3)?; // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
    if !reduced_still_picture_header {
        r.skip_bits(4)?; // interintra, masked compound, warped motion, dual filter
        let enable_order_hint = r.read_bit()?;
        if enable_order_hint {
            r.skip_bits(2)?; // enable_jnt_comp, enable_ref_frame_mvs
        }
        let force_screen_content_tools = if r.read_bit()? { 2 } else { r.read_bits(1)? };
        if force_screen_content_tools > 0 && !r.read_bit()? {
            r.skip_bits(1)?; // seq_force_integer_mv
        }
        if enable_order_hint {
            r.skip_bits(3)?; // order_hint_bits_minus_1
        }
    }
    r.skip_bits(3) // enable_superres, enable_cdef, enable_restoration
}

struct ColorConfig {
    bit_depth: u8,
    monochrome: bool,
    subsampling_x: bool,
    subsampling_y: bool,
    sample_position: u8,
}

/// color_config() (5.5.2).
fn read_color_config(r: &mut BitReader<'_>, seq_profile: u8) -> Result<ColorConfig, MediaError> {
    const CP_BT_709: u32 = 1;
    const TC_SRGB: u32 = 13;
    const MC_IDENTITY: u32 = 0;
    let high_bitdepth = r.read_bit()?;
    let bit_depth = match (seq_profile, high_bitdepth) {
        // twelve_bit is only coded for the professional profile.
        (2, true) if r.read_bit()? => 12,
        (_, true) => 10,
        (_, false) => 8,
    };
    let monochrome = seq_profile != 1 && r.read_bit()?;
    let mut description = (2, 2, 2); // unspecified
    if r.read_bit()? {
        description = (r.read_bits(8)?, r.read_bits(8)?, r.read_bits(8)?);
    }
    let mut config =
        ColorConfig { bit_depth, monochrome, subsampling_x: true, subsampling_y: true, sample_position: 0 };
    if monochrome {
        return Ok(config);
    }
    if description == (CP_BT_709, TC_SRGB, MC_IDENTITY) {
        config.subsampling_x = false;
        config.subsampling_y = false;
        return Ok(config);
    }
    r.skip_bits(1)?; // color_range
    (config.subsampling_x, config.subsampling_y) = match seq_profile {
        0 => (true, true),
        1 => (false, false),
        _ if bit_depth == 12 => {
            let x = r.read_bit()?;
            (x, x && r.read_bit()?)
        }
        _ => (true, false),
    };
    if config.subsampling_x && config.subsampling_y {
        config.sample_position = r.read_u8(2)?;
    }
    Ok(config)
}

/// Turns an Enhanced RTMP AV1 temporal unit into an ISOBMFF sample
/// (AV1-ISOBMFF 2.4): leading temporal delimiters are dropped (they SHOULD
/// NOT be in samples, and encoders such as libaom and SVT-AV1 write one per
/// temporal unit), and a keyframe that lacks a sequence header before its
/// first frame gets `sequence_header` (a whole OBU) put in front, since a
/// sync sample must carry one. Data that does not parse as OBUs is passed on
/// as it came; the decoder is the judge of that.
pub fn isobmff_sample(data: Bytes, keyframe: bool, sequence_header: &Bytes) -> Bytes {
    let mut skip = 0;
    let mut has_sequence_header = false;
    for span in ObuReader::new(&data) {
        let Ok(span) = span else { return data.slice(skip..) };
        match span.obu_type {
            // Only a delimiter with a size field (and so an empty payload)
            // can be told apart from what follows it.
            OBU_TEMPORAL_DELIMITER if span.start == skip && span.payload_start == span.end => skip = span.end,
            OBU_SEQUENCE_HEADER => has_sequence_header = true,
            OBU_FRAME_HEADER | OBU_FRAME => break,
            _ => {}
        }
    }
    let sample = data.slice(skip..);
    if !keyframe || has_sequence_header || sequence_header.is_empty() {
        return sample;
    }
    let mut out = BytesMut::with_capacity(sequence_header.len() + sample.len());
    out.put_slice(sequence_header);
    out.put_slice(&sample);
    out.freeze()
}
