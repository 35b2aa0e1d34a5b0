//! Fragmented MP4 (CMAF-style) writer: one init segment per rendition and a
//! `moof` + `mdat` pair per chunk. See docs/design/fmp4.md for why this is
//! written here rather than taken from a crate.

mod boxes;
mod fragment;
mod init;

use bytes::Bytes;

use crate::codec::{AudioConfig, VideoConfig};

pub use fragment::{media_fragment, NON_SYNC_SAMPLE_FLAGS, SYNC_SAMPLE_FLAGS};
pub use init::init_segment;

/// One track of an init segment.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackSpec {
    /// Non-zero and unique within the init segment.
    pub track_id: u32,
    /// Media clock in ticks per second: 90000 for video is customary, the
    /// core sample rate for audio.
    pub timescale: u32,
    pub media: TrackMedia,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TrackMedia {
    Video(VideoConfig),
    Audio(AudioConfig),
}

/// One sample's entry in a `trun`, in the track's timescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub duration: u32,
    /// Bytes of this sample in the run's `data`.
    pub size: u32,
    /// Sync sample. Audio samples should always set this.
    pub keyframe: bool,
    /// Presentation minus decode time; may be negative.
    pub composition_offset: i32,
}

/// The samples of one track inside one fragment.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackRun {
    pub track_id: u32,
    /// Decode time of the first sample, in the track's timescale.
    pub base_decode_time: u64,
    pub samples: Vec<Sample>,
    /// Sample payloads in order; their lengths must add up to the sum of
    /// the sample sizes.
    pub data: Vec<Bytes>,
}

#[cfg(test)]
mod tests;
