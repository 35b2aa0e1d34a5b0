//! FLV video tag bodies: legacy (codec id in the low nibble) and Enhanced
//! RTMP v1 (`IsExHeader` bit, FourCC, packet type in the low nibble).

use super::{non_empty_record, tail, FlvVideo};
use crate::error::MediaError;
use crate::frame::VideoCodec;
use bytes::Bytes;

const WHAT: &str = "flv video tag";
const EX_HEADER_BIT: u8 = 0x80;

const FRAME_KEY: u8 = 1;
const FRAME_GENERATED_KEY: u8 = 4;
/// "Video info/command frame": carries no picture.
const FRAME_COMMAND: u8 = 5;

const LEGACY_CODEC_AVC: u8 = 7;
const AVC_SEQUENCE_HEADER: u8 = 0;
const AVC_NALU: u8 = 1;
const AVC_END_OF_SEQUENCE: u8 = 2;

/// Enhanced RTMP packet types (v1; 6 and 7 are v2 multitrack/ModEx).
mod packet {
    pub const SEQUENCE_START: u8 = 0;
    pub const CODED_FRAMES: u8 = 1;
    pub const SEQUENCE_END: u8 = 2;
    pub const CODED_FRAMES_X: u8 = 3;
    pub const METADATA: u8 = 4;
    pub const MPEG2TS_SEQUENCE_START: u8 = 5;
}

/// Parses one video tag body as received in an RTMP video message.
pub fn parse_video_tag(body: Bytes) -> Result<FlvVideo, MediaError> {
    let Some(&flags) = body.first() else {
        return Err(MediaError::Truncated { what: WHAT, needed: 1 });
    };
    if flags & EX_HEADER_BIT != 0 {
        return parse_enhanced(flags, body);
    }
    let frame_type = flags >> 4;
    check_frame_type(frame_type)?;
    if frame_type == FRAME_COMMAND {
        return Ok(FlvVideo::Ignored);
    }
    match flags & 0x0f {
        LEGACY_CODEC_AVC => parse_legacy_avc(frame_type, body),
        other => Err(MediaError::unsupported(WHAT, format!("legacy codec id {other}"))),
    }
}

fn check_frame_type(frame_type: u8) -> Result<(), MediaError> {
    if (FRAME_KEY..=FRAME_COMMAND).contains(&frame_type) {
        Ok(())
    } else {
        Err(MediaError::invalid(WHAT, format!("frame type {frame_type}")))
    }
}

fn is_keyframe(frame_type: u8) -> bool {
    frame_type == FRAME_KEY || frame_type == FRAME_GENERATED_KEY
}

/// Signed 24-bit big-endian composition time offset at `body[start..start + 3]`.
fn composition_time(body: &Bytes, start: usize) -> Result<i32, MediaError> {
    match body.get(start..start + 3) {
        Some(&[high, mid, low]) => Ok(i32::from_be_bytes([high, mid, low, 0]) >> 8),
        _ => Err(MediaError::Truncated { what: WHAT, needed: start + 3 - body.len() }),
    }
}

fn parse_legacy_avc(frame_type: u8, body: Bytes) -> Result<FlvVideo, MediaError> {
    let Some(&packet_type) = body.get(1) else {
        return Err(MediaError::Truncated { what: WHAT, needed: 1 });
    };
    let codec = VideoCodec::H264;
    match packet_type {
        AVC_SEQUENCE_HEADER => {
            let record = non_empty_record(tail(&body, 5, WHAT)?, WHAT)?;
            Ok(FlvVideo::Config { codec, record })
        }
        AVC_NALU => {
            let cts_ms = composition_time(&body, 2)?;
            let data = tail(&body, 5, WHAT)?;
            Ok(FlvVideo::Frame { codec, keyframe: is_keyframe(frame_type), cts_ms, data })
        }
        AVC_END_OF_SEQUENCE => Ok(FlvVideo::EndOfSequence),
        other => Err(MediaError::invalid(WHAT, format!("AVC packet type {other}"))),
    }
}

fn codec_for_fourcc(fourcc: &[u8]) -> Result<VideoCodec, MediaError> {
    match fourcc {
        b"avc1" => Ok(VideoCodec::H264),
        b"hvc1" => Ok(VideoCodec::H265),
        b"av01" => Ok(VideoCodec::Av1),
        other => Err(MediaError::unsupported(WHAT, format!("FourCC {:?}", String::from_utf8_lossy(other)))),
    }
}

fn parse_enhanced(flags: u8, body: Bytes) -> Result<FlvVideo, MediaError> {
    let frame_type = (flags >> 4) & 0x07;
    let packet_type = flags & 0x0f;
    check_frame_type(frame_type)?;
    // A command frame carries a one-byte command instead of a FourCC.
    if frame_type == FRAME_COMMAND && packet_type != packet::METADATA {
        return Ok(FlvVideo::Ignored);
    }
    let fourcc = match body.get(1..5) {
        Some(fourcc) => fourcc,
        None => return Err(MediaError::Truncated { what: WHAT, needed: 5 - body.len() }),
    };
    match packet_type {
        packet::METADATA | packet::MPEG2TS_SEQUENCE_START => return Ok(FlvVideo::Ignored),
        packet::SEQUENCE_END => return Ok(FlvVideo::EndOfSequence),
        _ => {}
    }
    let codec = codec_for_fourcc(fourcc)?;
    let keyframe = is_keyframe(frame_type);
    match packet_type {
        packet::SEQUENCE_START => {
            let record = non_empty_record(tail(&body, 5, WHAT)?, WHAT)?;
            Ok(FlvVideo::Config { codec, record })
        }
        // AV1 coded frames have no composition time field.
        packet::CODED_FRAMES if codec == VideoCodec::Av1 => {
            Ok(FlvVideo::Frame { codec, keyframe, cts_ms: 0, data: tail(&body, 5, WHAT)? })
        }
        packet::CODED_FRAMES => {
            let cts_ms = composition_time(&body, 5)?;
            Ok(FlvVideo::Frame { codec, keyframe, cts_ms, data: tail(&body, 8, WHAT)? })
        }
        packet::CODED_FRAMES_X => Ok(FlvVideo::Frame { codec, keyframe, cts_ms: 0, data: tail(&body, 5, WHAT)? }),
        other => Err(MediaError::unsupported(WHAT, format!("enhanced packet type {other}"))),
    }
}
