//! Decoder configuration records: parsed once per stream for the values the
//! packager and playlists need, and kept verbatim for the init segment.

mod aac;
pub mod bitreader;
mod h264;
mod sps;

use bytes::Bytes;

pub use aac::{AacConfig, MAX_ASC};
pub use h264::{AvcConfig, MAX_AVC_RECORD};
pub use sps::{parse_sps, SpsInfo};

use crate::{AudioCodec, MediaError, VideoCodec};

/// A parsed video decoder configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum VideoConfig {
    Avc(AvcConfig),
}

impl VideoConfig {
    /// HEVC and AV1 are recognised but not packaged yet.
    pub fn parse(codec: VideoCodec, record: Bytes) -> Result<Self, MediaError> {
        match codec {
            VideoCodec::H264 => AvcConfig::parse(record).map(VideoConfig::Avc),
            VideoCodec::H265 | VideoCodec::Av1 => Err(MediaError::unsupported("video codec", format!("{codec:?}"))),
        }
    }

    pub fn width(&self) -> u32 {
        match self {
            VideoConfig::Avc(avc) => avc.width,
        }
    }

    pub fn height(&self) -> u32 {
        match self {
            VideoConfig::Avc(avc) => avc.height,
        }
    }

    pub fn frame_rate(&self) -> Option<f64> {
        match self {
            VideoConfig::Avc(avc) => avc.frame_rate,
        }
    }

    /// RFC 6381 codec string for playlists.
    pub fn codec_string(&self) -> String {
        match self {
            VideoConfig::Avc(avc) => avc.codec_string(),
        }
    }

    /// The configuration record exactly as received.
    pub fn record(&self) -> &Bytes {
        match self {
            VideoConfig::Avc(avc) => &avc.record,
        }
    }
}

/// A parsed audio decoder configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioConfig {
    Aac(AacConfig),
}

impl AudioConfig {
    /// Opus is recognised but not packaged yet.
    pub fn parse(codec: AudioCodec, record: Bytes) -> Result<Self, MediaError> {
        match codec {
            AudioCodec::Aac => AacConfig::parse(record).map(AudioConfig::Aac),
            AudioCodec::Opus => Err(MediaError::unsupported("audio codec", "Opus")),
        }
    }

    /// Rate of the media timescale: the AAC core rate for HE-AAC.
    pub fn sample_rate(&self) -> u32 {
        match self {
            AudioConfig::Aac(aac) => aac.sample_rate,
        }
    }

    pub fn channels(&self) -> u8 {
        match self {
            AudioConfig::Aac(aac) => aac.channels,
        }
    }

    /// Duration of one coded frame in `sample_rate` units.
    pub fn samples_per_frame(&self) -> u32 {
        match self {
            AudioConfig::Aac(aac) => aac.samples_per_frame,
        }
    }

    /// RFC 6381 codec string for playlists.
    pub fn codec_string(&self) -> String {
        match self {
            AudioConfig::Aac(aac) => aac.codec_string(),
        }
    }

    /// The configuration record exactly as received.
    pub fn record(&self) -> &Bytes {
        match self {
            AudioConfig::Aac(aac) => &aac.record,
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

        let opus = AudioConfig::parse(AudioCodec::Opus, Bytes::from_static(b"OpusHead"));
        assert!(matches!(opus, Err(MediaError::Unsupported { .. })));
        for codec in [VideoCodec::H265, VideoCodec::Av1] {
            let result = VideoConfig::parse(codec, Bytes::from_static(&[1, 2, 3]));
            assert!(matches!(result, Err(MediaError::Unsupported { .. })));
        }
        let garbage = VideoConfig::parse(VideoCodec::H264, Bytes::from_static(&[1, 2, 3]));
        assert!(garbage.is_err());
    }
}
