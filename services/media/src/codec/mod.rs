//! Decoder configuration records: parsed once per stream for the values the
//! packager and playlists need, and kept verbatim for the init segment.

mod aac;
mod av1;
pub mod av1_obu;
pub mod bitreader;
mod h264;
mod hevc;
mod hevc_sps;
mod opus;
mod sps;
mod vui;

use bytes::Bytes;

pub use aac::{AacConfig, MAX_ASC};
pub use av1::{Av1Config, MAX_AV1_RECORD};
pub use h264::{AvcConfig, MAX_AVC_RECORD};
pub use hevc::{HevcConfig, MAX_HEVC_RECORD};
pub use hevc_sps::{parse_hevc_sps, HevcSpsInfo};
pub use opus::{packet_samples as opus_packet_samples, OpusConfig, MAX_OPUS_HEAD, OPUS_RATE};
pub use sps::{parse_sps, SpsInfo};

use crate::{AudioCodec, MediaError, VideoCodec};

/// A parsed video decoder configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum VideoConfig {
    Avc(AvcConfig),
    Hevc(HevcConfig),
    Av1(Av1Config),
}

impl VideoConfig {
    pub fn parse(codec: VideoCodec, record: Bytes) -> Result<Self, MediaError> {
        match codec {
            VideoCodec::H264 => AvcConfig::parse(record).map(VideoConfig::Avc),
            VideoCodec::H265 => HevcConfig::parse(record).map(VideoConfig::Hevc),
            VideoCodec::Av1 => Av1Config::parse(record).map(VideoConfig::Av1),
        }
    }

    pub fn codec(&self) -> VideoCodec {
        match self {
            VideoConfig::Avc(_) => VideoCodec::H264,
            VideoConfig::Hevc(_) => VideoCodec::H265,
            VideoConfig::Av1(_) => VideoCodec::Av1,
        }
    }

    /// Display size: after cropping for H.264/H.265, the maximum frame size
    /// of the sequence header for AV1.
    pub fn width(&self) -> u32 {
        match self {
            VideoConfig::Avc(avc) => avc.width,
            VideoConfig::Hevc(hevc) => hevc.width,
            VideoConfig::Av1(av1) => av1.width,
        }
    }

    pub fn height(&self) -> u32 {
        match self {
            VideoConfig::Avc(avc) => avc.height,
            VideoConfig::Hevc(hevc) => hevc.height,
            VideoConfig::Av1(av1) => av1.height,
        }
    }

    pub fn frame_rate(&self) -> Option<f64> {
        match self {
            VideoConfig::Avc(avc) => avc.frame_rate,
            VideoConfig::Hevc(hevc) => hevc.frame_rate,
            VideoConfig::Av1(av1) => av1.frame_rate,
        }
    }

    /// RFC 6381 codec string for playlists.
    pub fn codec_string(&self) -> String {
        match self {
            VideoConfig::Avc(avc) => avc.codec_string(),
            VideoConfig::Hevc(hevc) => hevc.codec_string(),
            VideoConfig::Av1(av1) => av1.codec_string(),
        }
    }

    /// The configuration record exactly as received.
    pub fn record(&self) -> &Bytes {
        match self {
            VideoConfig::Avc(avc) => &avc.record,
            VideoConfig::Hevc(hevc) => &hevc.record,
            VideoConfig::Av1(av1) => &av1.record,
        }
    }

    /// A coded picture as it goes into an MP4 sample, with its composition
    /// offset. H.264/H.265 pass through untouched; AV1 temporal units lose
    /// their temporal delimiters and never carry composition offsets
    /// (AV1-ISOBMFF forbids them).
    pub fn sample(&self, data: Bytes, keyframe: bool, cts_ms: i32) -> (Bytes, i32) {
        match self {
            VideoConfig::Avc(_) | VideoConfig::Hevc(_) => (data, cts_ms),
            VideoConfig::Av1(av1) => (av1.sample(data, keyframe), 0),
        }
    }
}

/// A parsed audio decoder configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioConfig {
    Aac(AacConfig),
    Opus(OpusConfig),
}

impl AudioConfig {
    pub fn parse(codec: AudioCodec, record: Bytes) -> Result<Self, MediaError> {
        match codec {
            AudioCodec::Aac => AacConfig::parse(record).map(AudioConfig::Aac),
            AudioCodec::Opus => OpusConfig::parse(record).map(AudioConfig::Opus),
        }
    }

    pub fn codec(&self) -> AudioCodec {
        match self {
            AudioConfig::Aac(_) => AudioCodec::Aac,
            AudioConfig::Opus(_) => AudioCodec::Opus,
        }
    }

    /// Rate of the media timescale: the AAC core rate for HE-AAC, always
    /// 48 kHz for Opus.
    pub fn sample_rate(&self) -> u32 {
        match self {
            AudioConfig::Aac(aac) => aac.sample_rate,
            AudioConfig::Opus(_) => OPUS_RATE,
        }
    }

    pub fn channels(&self) -> u8 {
        match self {
            AudioConfig::Aac(aac) => aac.channels,
            AudioConfig::Opus(opus) => opus.channels,
        }
    }

    /// Duration of a typical coded frame in `sample_rate` units.
    pub fn samples_per_frame(&self) -> u32 {
        match self {
            AudioConfig::Aac(aac) => aac.samples_per_frame,
            AudioConfig::Opus(opus) => opus.nominal_packet_samples(),
        }
    }

    /// Duration of this coded frame: fixed for AAC, from the TOC for Opus
    /// (2.5 to 120 ms), the nominal length when the packet does not say.
    pub fn frame_samples(&self, frame: &[u8]) -> u32 {
        match self {
            AudioConfig::Aac(aac) => aac.samples_per_frame,
            AudioConfig::Opus(opus) => opus_packet_samples(frame).unwrap_or(opus.nominal_packet_samples()),
        }
    }

    /// RFC 6381 codec string for playlists.
    pub fn codec_string(&self) -> String {
        match self {
            AudioConfig::Aac(aac) => aac.codec_string(),
            AudioConfig::Opus(_) => "opus".to_owned(),
        }
    }

    /// The configuration record exactly as received.
    pub fn record(&self) -> &Bytes {
        match self {
            AudioConfig::Aac(aac) => &aac.record,
            AudioConfig::Opus(opus) => &opus.record,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatches_by_codec() {
        let audio = AudioConfig::parse(AudioCodec::Aac, Bytes::from_static(&[0x12, 0x10])).unwrap();
        assert_eq!(audio.sample_rate(), 44100);
        assert_eq!(audio.channels(), 2);
        assert_eq!(audio.samples_per_frame(), 1024);
        assert_eq!(audio.codec_string(), "mp4a.40.2");
        assert_eq!(&audio.record()[..], &[0x12, 0x10]);

        let opus = AudioConfig::parse(AudioCodec::Opus, OpusConfig::for_channels(2).record).unwrap();
        assert_eq!((opus.sample_rate(), opus.channels(), opus.codec_string()), (48_000, 2, "opus".to_owned()));
        assert_eq!(opus.frame_samples(&[0x80]), 120, "2.5 ms CELT packet");
        assert_eq!(opus.frame_samples(&[]), 960, "an empty packet counts as nominal");
        assert!(AudioConfig::parse(AudioCodec::Opus, Bytes::from_static(b"OpusHead")).is_err());
        for codec in [VideoCodec::H264, VideoCodec::H265, VideoCodec::Av1] {
            assert!(VideoConfig::parse(codec, Bytes::from_static(&[1, 2, 3])).is_err(), "{codec:?}");
        }
    }
}
