//! FLV audio tag bodies.

use super::{non_empty_record, tail, FlvAudio};
use crate::error::MediaError;
use crate::frame::AudioCodec;
use bytes::Bytes;

const WHAT: &str = "flv audio tag";
const SOUND_FORMAT_AAC: u8 = 10;
/// Enhanced RTMP signals a FourCC-based audio header with this sound format.
const SOUND_FORMAT_EX_HEADER: u8 = 9;
const AAC_SEQUENCE_HEADER: u8 = 0;
const AAC_RAW: u8 = 1;

/// Parses one audio tag body. The low nibble (rate/size/channels) is ignored
/// for AAC, whose AudioSpecificConfig is authoritative.
pub fn parse_audio_tag(body: Bytes) -> Result<FlvAudio, MediaError> {
    let Some(&flags) = body.first() else {
        return Err(MediaError::Truncated { what: WHAT, needed: 1 });
    };
    match flags >> 4 {
        SOUND_FORMAT_AAC => parse_aac(body),
        SOUND_FORMAT_EX_HEADER => Err(MediaError::unsupported(WHAT, "enhanced RTMP audio")),
        other => Err(MediaError::unsupported(WHAT, format!("sound format {other}"))),
    }
}

fn parse_aac(body: Bytes) -> Result<FlvAudio, MediaError> {
    let Some(&packet_type) = body.get(1) else {
        return Err(MediaError::Truncated { what: WHAT, needed: 1 });
    };
    let payload = tail(&body, 2, WHAT)?;
    match packet_type {
        AAC_SEQUENCE_HEADER => {
            Ok(FlvAudio::Config { codec: AudioCodec::Aac, record: non_empty_record(payload, WHAT)? })
        }
        AAC_RAW => Ok(FlvAudio::Frame { codec: AudioCodec::Aac, data: payload }),
        other => Err(MediaError::invalid(WHAT, format!("AAC packet type {other}"))),
    }
}
