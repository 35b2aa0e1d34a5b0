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
    /// Until the peer asks to publish, messages and buffered input are
    /// each held to this many bytes, and partial messages to
    /// [`PARTIALS_BEFORE_PUBLISH`]: a connection that has not named its
    /// stream key costs little. The caller answers the publish before it
    /// feeds more input, so the key is checked before the full limits
    /// hold more than one read.
    pub before_publish_bytes: usize,
}

/// Partial messages a peer may have open before it asks to publish
/// (commands and control messages, never interleaved by real encoders).
pub const PARTIALS_BEFORE_PUBLISH: usize = 4;

impl Default for RtmpLimits {
    fn default() -> Self {
        RtmpLimits {
            max_message_size: 4 << 20,
            max_chunk_streams: 16,
            max_buffered_bytes: 8 << 20,
            before_publish_bytes: 64 << 10,
        }
    }
}

impl RtmpLimits {
    /// The limits in force until a publish is requested.
    pub fn before_publish(&self) -> RtmpLimits {
        RtmpLimits {
            max_message_size: self.max_message_size.min(self.before_publish_bytes),
            max_chunk_streams: self.max_chunk_streams.min(PARTIALS_BEFORE_PUBLISH),
            max_buffered_bytes: self.max_buffered_bytes.min(self.before_publish_bytes),
            before_publish_bytes: self.before_publish_bytes,
        }
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
