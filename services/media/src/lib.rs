//! Sans-io media layer. Nothing here does I/O or depends on an async runtime:
//! callers feed bytes in and take frames, boxes and playlists out.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod amf0;
pub mod codec;
pub mod error;
pub mod flv;
pub mod fmp4;
pub mod frame;
pub mod guidance;
pub mod hls;
pub mod rtmp;
pub mod rtsp;
pub mod segmenter;
pub mod timeline;

pub use error::MediaError;
pub use frame::{AudioCodec, MediaFrame, TrackKind, VideoCodec};
