//! Sans-io RTMP server side for publishers (OBS, ffmpeg, hardware encoders).
//!
//! [`ServerConnection`] takes the bytes read from one TCP connection and
//! returns [`RtmpEvent`]s; whatever must be written back (handshake replies,
//! acknowledgements, command responses) collects in an outbox drained with
//! [`ServerConnection::take_outgoing`]. The C0/C1/C2 handshake is delegated to
//! `rml_rtmp`; the chunk layer, message layer and session state machine are
//! our own so that hostile input is bounded by [`RtmpLimits`]
//! (see docs/design/rtmp.md).

mod chunk_reader;
mod chunk_writer;
mod command;
mod handshake;
mod message;
mod session;

#[cfg(test)]
mod robustness_tests;

pub use session::ServerConnection;

use crate::amf0::Amf0Value;
use bytes::Bytes;

/// Caps on what one peer can make us hold in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtmpLimits {
    /// Largest single RTMP message accepted (a video frame, a command).
    pub max_message_size: usize,
    /// Most messages that may be partially received at once (one per chunk stream).
    pub max_chunk_streams: usize,
    /// Total bytes held in partial messages plus unparsed input.
    pub max_buffered_bytes: usize,
}

impl Default for RtmpLimits {
    fn default() -> Self {
        RtmpLimits { max_message_size: 4 << 20, max_chunk_streams: 16, max_buffered_bytes: 8 << 20 }
    }
}

/// What a publisher did, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum RtmpEvent {
    /// `connect` succeeded (the reply has been queued already).
    Connected { app: String, tc_url: Option<String> },
    /// `publish`; answer with [`ServerConnection::accept_publish`] or
    /// [`ServerConnection::reject_publish`]. Media that the peer sends before
    /// the answer is still reported, after this event.
    PublishRequested { app: String, stream_key: String, query: Option<String> },
    /// `@setDataFrame onMetaData` or a bare `onMetaData`.
    Metadata { properties: Vec<(String, Amf0Value)> },
    /// An FLV audio tag body; `timestamp` is the 32-bit RTMP clock (may wrap).
    Audio { timestamp: u32, data: Bytes },
    /// An FLV video tag body; `timestamp` is the 32-bit RTMP decode time.
    Video { timestamp: u32, data: Bytes },
    /// `FCUnpublish`, `deleteStream` or `closeStream` ended the publish.
    Unpublished,
}
