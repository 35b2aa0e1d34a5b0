//! FLV tag bodies as carried in RTMP audio/video messages, plus a reader for
//! whole FLV files (used by tests and tools).
//!
//! Video supports legacy FLV H.264 (codec id 7) and Enhanced RTMP v1 with the
//! FourCCs `avc1`, `hvc1` and `av01`. Audio supports AAC (sound format 10).

mod audio;
mod file;
mod video;

pub use audio::parse_audio_tag;
pub use file::{FlvFileHeader, FlvFileReader, FlvTag, TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO};
pub use video::parse_video_tag;

use crate::error::MediaError;
use crate::frame::{AudioCodec, MediaFrame, VideoCodec};
use bytes::Bytes;

/// What one video tag body carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlvVideo {
    /// Decoder configuration record (AVCDecoderConfigurationRecord,
    /// HEVCDecoderConfigurationRecord or AV1CodecConfigurationRecord).
    Config {
        codec: VideoCodec,
        record: Bytes,
    },
    /// One coded picture: length-prefixed NAL units, or AV1 OBUs.
    Frame {
        codec: VideoCodec,
        keyframe: bool,
        cts_ms: i32,
        data: Bytes,
    },
    EndOfSequence,
    /// Tags that carry nothing for the packager (video info/command frames,
    /// Enhanced RTMP metadata or MPEG-2 TS sequence starts).
    Ignored,
}

/// What one audio tag body carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlvAudio {
    /// AudioSpecificConfig for AAC.
    Config { codec: AudioCodec, record: Bytes },
    /// One raw (un-framed) audio access unit.
    Frame { codec: AudioCodec, data: Bytes },
}

impl FlvVideo {
    /// The segmenter input for this tag at decode time `dts_ms`, if any.
    pub fn into_media_frame(self, dts_ms: i64) -> Option<MediaFrame> {
        match self {
            FlvVideo::Config { codec, record } => Some(MediaFrame::VideoConfig { codec, record }),
            FlvVideo::Frame { keyframe, cts_ms, data, .. } => {
                Some(MediaFrame::Video { dts_ms, cts_ms, keyframe, data })
            }
            FlvVideo::EndOfSequence | FlvVideo::Ignored => None,
        }
    }
}

impl FlvAudio {
    /// The segmenter input for this tag at decode time `dts_ms`.
    pub fn into_media_frame(self, dts_ms: i64) -> MediaFrame {
        match self {
            FlvAudio::Config { codec, record } => MediaFrame::AudioConfig { codec, record },
            FlvAudio::Frame { data, .. } => MediaFrame::Audio { dts_ms, data },
        }
    }
}

/// `body[range_start..]`, or a truncation error naming `what`.
fn tail(body: &Bytes, start: usize, what: &'static str) -> Result<Bytes, MediaError> {
    if body.len() < start {
        return Err(MediaError::Truncated { what, needed: start - body.len() });
    }
    Ok(body.slice(start..))
}

/// A configuration record must have content for the packager to use.
fn non_empty_record(record: Bytes, what: &'static str) -> Result<Bytes, MediaError> {
    if record.is_empty() {
        return Err(MediaError::invalid(what, "empty sequence header"));
    }
    Ok(record)
}

#[cfg(test)]
mod tests;
