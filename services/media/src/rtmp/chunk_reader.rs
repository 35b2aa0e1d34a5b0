//! Inbound RTMP chunk stream: parses chunk headers and reassembles messages.
//!
//! Each chunk stream keeps its own last header and its own partial message,
//! so interleaved chunk streams cannot corrupt each other. A chunk is only
//! consumed once all of it is buffered, so header parsing never has to
//! resume half-way. Memory is bounded by [`RtmpLimits`].

use super::RtmpLimits;
use crate::error::MediaError;
use bytes::{Buf, Bytes, BytesMut};
use std::collections::HashMap;

const WHAT: &str = "rtmp chunk";
const DEFAULT_CHUNK_SIZE: usize = 128;
const EXTENDED_TIMESTAMP_MARKER: u32 = 0x00ff_ffff;
/// Header state kept per chunk stream id is small, but ids go up to 65599;
/// no real publisher uses more than a handful.
const MAX_TRACKED_CHUNK_STREAMS: usize = 256;
/// Partial messages start with at most this much capacity and grow as data
/// actually arrives, so a declared length alone reserves little.
const INITIAL_PARTIAL_CAPACITY: usize = 64 * 1024;

/// One reassembled RTMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawMessage {
    pub chunk_stream_id: u32,
    pub type_id: u8,
    pub stream_id: u32,
    pub timestamp: u32,
    pub payload: Bytes,
}

#[derive(Debug, Clone, Copy, Default)]
struct MessageHeader {
    timestamp: u32,
    /// The last raw timestamp field (absolute for type 0, delta otherwise);
    /// a type-3 chunk that starts a new message adds it again.
    timestamp_field: u32,
    /// The field came from an extended timestamp, so type-3 chunks may
    /// repeat it (librtmp and OBS do).
    extended: bool,
    length: u32,
    type_id: u8,
    stream_id: u32,
}

#[derive(Default)]
struct ChunkStream {
    header: MessageHeader,
    partial: Option<BytesMut>,
}

/// A fully buffered chunk, parsed but not yet consumed.
struct ChunkPlan {
    chunk_stream_id: u32,
    header_len: usize,
    payload_len: usize,
    header: MessageHeader,
    continues_message: bool,
}

pub(crate) struct ChunkReader {
    buffer: BytesMut,
    chunk_size: usize,
    /// What the peer set; `chunk_size` is it clamped to the message limit.
    requested_chunk_size: usize,
    streams: HashMap<u32, ChunkStream>,
    open_partials: usize,
    partial_bytes: usize,
    limits: RtmpLimits,
}

impl ChunkReader {
    pub fn new(limits: RtmpLimits) -> Self {
        ChunkReader {
            buffer: BytesMut::new(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            requested_chunk_size: DEFAULT_CHUNK_SIZE,
            streams: HashMap::new(),
            open_partials: 0,
            partial_bytes: 0,
            limits,
        }
    }

    pub fn push(&mut self, input: &[u8]) {
        self.buffer.extend_from_slice(input);
    }

    /// Applies a peer's Set Chunk Size. A chunk never carries more than one
    /// message, so sizes beyond the message limit are clamped to it.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), MediaError> {
        if size == 0 || size > 0x7fff_ffff {
            return Err(MediaError::invalid(WHAT, format!("chunk size {size}")));
        }
        self.requested_chunk_size = size as usize;
        self.chunk_size = self.requested_chunk_size.min(self.limits.max_message_size.max(1));
        Ok(())
    }

    /// New limits from now on (wider once a publish is requested).
    pub fn set_limits(&mut self, limits: RtmpLimits) {
        self.limits = limits;
        self.chunk_size = self.requested_chunk_size.min(self.limits.max_message_size.max(1));
    }

    /// Abort Message: drop whatever was received of the message on `chunk_stream_id`.
    pub fn abort(&mut self, chunk_stream_id: u32) {
        if let Some(stream) = self.streams.get_mut(&chunk_stream_id) {
            if let Some(partial) = stream.partial.take() {
                self.open_partials -= 1;
                self.partial_bytes -= partial.len();
            }
        }
    }

    /// Errors if unparsed input plus partial messages exceed the buffer cap.
    pub fn check_buffered(&self) -> Result<(), MediaError> {
        let held = self.buffer.len() + self.partial_bytes;
        if held > self.limits.max_buffered_bytes {
            return Err(MediaError::TooLarge {
                what: "buffered rtmp bytes",
                size: held,
                limit: self.limits.max_buffered_bytes,
            });
        }
        Ok(())
    }

    /// The next complete message, or `None` when more input is needed.
    pub fn read_message(&mut self) -> Result<Option<RawMessage>, MediaError> {
        loop {
            let Some(plan) = self.plan_chunk()? else {
                return Ok(None);
            };
            if let Some(message) = self.consume_chunk(plan)? {
                return Ok(Some(message));
            }
        }
    }

    /// Parses the chunk at the front of the buffer without consuming it.
    fn plan_chunk(&self) -> Result<Option<ChunkPlan>, MediaError> {
        let input = &self.buffer[..];
        let Some(&first) = input.first() else {
            return Ok(None);
        };
        let format = first >> 6;
        let (chunk_stream_id, mut position) = match first & 0x3f {
            0 => match input.get(1) {
                Some(&low) => (64 + u32::from(low), 2),
                None => return Ok(None),
            },
            1 => match input.get(1..3) {
                Some(&[low, high]) => (64 + u32::from(low) + 256 * u32::from(high), 3),
                _ => return Ok(None),
            },
            id => (u32::from(id), 1),
        };

        let stream = self.streams.get(&chunk_stream_id);
        let previous = stream.map(|stream| stream.header);
        let received_so_far = stream.and_then(|stream| stream.partial.as_ref()).map(BytesMut::len);
        let fields_len: usize = match format {
            0 => 11,
            1 => 7,
            2 => 3,
            _ => 0,
        };
        let Some(fields) = input.get(position..position + fields_len) else {
            return Ok(None);
        };
        position += fields_len;

        let mut header = match (format, previous) {
            (0, _) => MessageHeader::default(),
            (_, Some(previous)) => previous,
            (_, None) => {
                return Err(MediaError::invalid(
                    WHAT,
                    format!("type {format} header on chunk stream {chunk_stream_id} without a previous header"),
                ))
            }
        };
        let continues_message = format == 3 && received_so_far.is_some();

        if let &[t0, t1, t2, ..] = fields {
            let raw_timestamp = u32::from_be_bytes([0, t0, t1, t2]);
            header.extended = raw_timestamp == EXTENDED_TIMESTAMP_MARKER;
            header.timestamp_field = if header.extended {
                let Some(&[e0, e1, e2, e3]) = input.get(position..position + 4) else {
                    return Ok(None);
                };
                position += 4;
                u32::from_be_bytes([e0, e1, e2, e3])
            } else {
                raw_timestamp
            };
            header.timestamp = match format {
                0 => header.timestamp_field,
                _ => header.timestamp.wrapping_add(header.timestamp_field),
            };
        } else {
            // Type 3: peers disagree on whether the extended timestamp is
            // repeated, so consume four bytes only if they match it.
            if header.extended {
                let Some(&[e0, e1, e2, e3]) = input.get(position..position + 4) else {
                    return Ok(None);
                };
                if u32::from_be_bytes([e0, e1, e2, e3]) == header.timestamp_field {
                    position += 4;
                }
            }
            if !continues_message {
                header.timestamp = header.timestamp.wrapping_add(header.timestamp_field);
            }
        }
        if let &[_, _, _, l0, l1, l2, type_id, ..] = fields {
            header.length = u32::from_be_bytes([0, l0, l1, l2]);
            header.type_id = type_id;
        }
        if let &[.., s0, s1, s2, s3] = fields {
            if format == 0 {
                header.stream_id = u32::from_le_bytes([s0, s1, s2, s3]);
            }
        }

        let length = header.length as usize;
        if !continues_message && length > self.limits.max_message_size {
            return Err(MediaError::TooLarge {
                what: "rtmp message",
                size: length,
                limit: self.limits.max_message_size,
            });
        }
        let remaining = length - received_so_far.filter(|_| continues_message).unwrap_or(0);
        let payload_len = remaining.min(self.chunk_size);
        if input.len() < position + payload_len {
            return Ok(None);
        }
        Ok(Some(ChunkPlan { chunk_stream_id, header_len: position, payload_len, header, continues_message }))
    }

    fn consume_chunk(&mut self, plan: ChunkPlan) -> Result<Option<RawMessage>, MediaError> {
        if !self.streams.contains_key(&plan.chunk_stream_id) && self.streams.len() >= MAX_TRACKED_CHUNK_STREAMS {
            return Err(MediaError::TooLarge {
                what: "rtmp chunk stream ids",
                size: self.streams.len() + 1,
                limit: MAX_TRACKED_CHUNK_STREAMS,
            });
        }
        if !plan.continues_message {
            // A new header while a message is unfinished: the sender gave up on
            // the old one, so drop it rather than mixing the two.
            self.abort(plan.chunk_stream_id);
        }
        let starts_partial = !plan.continues_message && plan.payload_len < plan.header.length as usize;
        if starts_partial && self.open_partials >= self.limits.max_chunk_streams {
            return Err(MediaError::TooLarge {
                what: "partial rtmp messages",
                size: self.open_partials + 1,
                limit: self.limits.max_chunk_streams,
            });
        }

        self.buffer.advance(plan.header_len);
        let data = self.buffer.split_to(plan.payload_len);
        let header = plan.header;
        let stream = self.streams.entry(plan.chunk_stream_id).or_default();
        stream.header = header;
        let message = |payload: Bytes| RawMessage {
            chunk_stream_id: plan.chunk_stream_id,
            type_id: header.type_id,
            stream_id: header.stream_id,
            timestamp: header.timestamp,
            payload,
        };

        if !plan.continues_message && !starts_partial {
            // Whole message in one chunk: hand out the buffer slice itself.
            return Ok(Some(message(data.freeze())));
        }
        let partial = stream.partial.get_or_insert_with(|| {
            self.open_partials += 1;
            // Each partial's first reservation is its share of the buffer
            // limit at most, so declared lengths alone cannot add up.
            let share = self.limits.max_buffered_bytes / self.limits.max_chunk_streams.max(1);
            BytesMut::with_capacity((header.length as usize).min(INITIAL_PARTIAL_CAPACITY).min(share))
        });
        partial.extend_from_slice(&data);
        self.partial_bytes += data.len();
        if partial.len() < header.length as usize {
            return Ok(None);
        }
        let complete = stream.partial.take().unwrap_or_default();
        self.open_partials -= 1;
        self.partial_bytes -= complete.len();
        Ok(Some(message(complete.freeze())))
    }
}

#[cfg(test)]
mod tests;
