//! Sans-io RTSP publishing (RFC 2326 ANNOUNCE/RECORD, as `ffmpeg -f rtsp`
//! sends): request parsing and responses ([`message`]), the SDP of an
//! ANNOUNCE ([`sdp`]), RTP/RTCP ([`rtp`]) and its reordering over UDP
//! ([`jitter`]), depacketizers for H.264, H.265 and AAC, [`PushSession`],
//! which turns RTP packets into [`crate::MediaFrame`]s, and Digest
//! authentication ([`digest`]). See docs/design/rtsp.md.
//!
//! retina's depacketizers are not used here: its `Depacketizer::push` is
//! crate-private, so packets cannot be fed to it from outside.

pub mod aac;
pub mod digest;
pub mod h26x;
pub mod jitter;
pub mod message;
pub mod push;
pub mod records;
pub mod reorder;
pub mod rtp;
pub mod sdp;
pub mod timing;
pub mod tracks;

#[cfg(test)]
mod tests;

pub use digest::DigestCredentials;
pub use message::{MessageReader, RecordTransport, Request, Response, RtspInput, RtspLimits};
pub use push::{PushSession, PushStats};
