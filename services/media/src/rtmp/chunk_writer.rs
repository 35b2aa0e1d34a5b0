//! Outbound chunking. The server sends few, small messages, so every
//! message starts with a full type-0 header and continues with type-3
//! chunks; header compression would save almost nothing here.

use bytes::{BufMut, Bytes, BytesMut};

const EXTENDED_TIMESTAMP_MARKER: u32 = 0x00ff_ffff;
const DEFAULT_CHUNK_SIZE: usize = 128;
const MAX_MESSAGE_LEN: usize = 0x00ff_ffff;

pub(crate) struct ChunkWriter {
    chunk_size: usize,
    outbox: BytesMut,
}

impl ChunkWriter {
    pub fn new() -> Self {
        ChunkWriter { chunk_size: DEFAULT_CHUNK_SIZE, outbox: BytesMut::new() }
    }

    /// Takes effect for messages written after this call; the caller must
    /// have queued the Set Chunk Size message first.
    pub fn set_chunk_size(&mut self, size: usize) {
        self.chunk_size = size.max(1);
    }

    /// Queues raw bytes (handshake replies) ahead of later messages.
    pub fn write_raw(&mut self, bytes: &[u8]) {
        self.outbox.extend_from_slice(bytes);
    }

    /// Queues one message on `chunk_stream_id` (2..=63, all the server uses).
    /// Payloads are built by the server itself and stay far below the 24-bit
    /// length limit; anything longer is cut rather than mis-framed.
    pub fn write_message(&mut self, chunk_stream_id: u8, type_id: u8, stream_id: u32, timestamp: u32, payload: &[u8]) {
        let payload = payload.get(..MAX_MESSAGE_LEN).unwrap_or(payload);
        let basic = chunk_stream_id & 0x3f;
        let extended = timestamp >= EXTENDED_TIMESTAMP_MARKER;
        self.outbox.put_u8(basic);
        let field = timestamp.min(EXTENDED_TIMESTAMP_MARKER).to_be_bytes();
        self.outbox.put_slice(&field[1..]);
        self.outbox.put_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        self.outbox.put_u8(type_id);
        self.outbox.put_u32_le(stream_id);
        if extended {
            self.outbox.put_u32(timestamp);
        }
        let mut chunks = payload.chunks(self.chunk_size);
        if let Some(first) = chunks.next() {
            self.outbox.put_slice(first);
        }
        for chunk in chunks {
            self.outbox.put_u8(0xc0 | basic);
            if extended {
                self.outbox.put_u32(timestamp);
            }
            self.outbox.put_slice(chunk);
        }
    }

    pub fn take(&mut self) -> Option<Bytes> {
        if self.outbox.is_empty() {
            return None;
        }
        Some(self.outbox.split().freeze())
    }
}
