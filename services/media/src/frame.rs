//! The codec-neutral frame that ingest protocols (RTMP today, RTSP later)
//! hand to the segmenter.

use bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    Video,
    Audio,
}

/// Video codecs the packager knows. HEVC and AV1 arrive with Enhanced RTMP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    H264,
    H265,
    Av1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    Aac,
    Opus,
}

/// One unit of input to the segmenter, in the publisher's millisecond clock.
/// Timestamps are already unwrapped to 64 bits by [`crate::timeline`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaFrame {
    /// Decoder configuration: an AVCDecoderConfigurationRecord (H.264),
    /// HEVCDecoderConfigurationRecord (H.265) or AV1CodecConfigurationRecord.
    VideoConfig { codec: VideoCodec, record: Bytes },
    /// Decoder configuration: AudioSpecificConfig for AAC, OpusHead for Opus.
    AudioConfig { codec: AudioCodec, record: Bytes },
    /// A coded picture. `data` is length-prefixed NAL units (AVCC/HVCC layout)
    /// or AV1 OBUs. `cts_ms` is presentation minus decode time.
    Video { dts_ms: i64, cts_ms: i32, keyframe: bool, data: Bytes },
    /// One raw audio frame (no ADTS header).
    Audio { dts_ms: i64, data: Bytes },
}
