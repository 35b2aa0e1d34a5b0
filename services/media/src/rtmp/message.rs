//! RTMP message type ids and the small protocol/user control messages.

use super::chunk_writer::ChunkWriter;
use crate::amf0::{encode_all, Amf0Value};
use crate::error::MediaError;

pub(crate) mod type_id {
    pub const SET_CHUNK_SIZE: u8 = 1;
    pub const ABORT: u8 = 2;
    pub const ACKNOWLEDGEMENT: u8 = 3;
    pub const USER_CONTROL: u8 = 4;
    pub const WINDOW_ACK_SIZE: u8 = 5;
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    pub const AUDIO: u8 = 8;
    pub const VIDEO: u8 = 9;
    pub const AMF3_DATA: u8 = 15;
    pub const AMF3_COMMAND: u8 = 17;
    pub const AMF0_DATA: u8 = 18;
    pub const AMF0_COMMAND: u8 = 20;
}

pub(crate) mod user_control {
    pub const STREAM_BEGIN: u16 = 0;
    pub const PING_REQUEST: u16 = 6;
    pub const PING_RESPONSE: u16 = 7;
}

/// Protocol control and user control messages go on chunk stream 2.
const CONTROL_CHUNK_STREAM: u8 = 2;
/// Commands and status messages go on chunk stream 3.
const COMMAND_CHUNK_STREAM: u8 = 3;

/// Dynamic limit type for Set Peer Bandwidth.
const PEER_BANDWIDTH_DYNAMIC: u8 = 2;

pub(crate) fn read_u32(payload: &[u8], what: &'static str) -> Result<u32, MediaError> {
    match payload.get(..4) {
        Some(&[b0, b1, b2, b3]) => Ok(u32::from_be_bytes([b0, b1, b2, b3])),
        _ => Err(MediaError::Truncated { what, needed: 4 - payload.len().min(4) }),
    }
}

pub(crate) fn read_u16(payload: &[u8], what: &'static str) -> Result<u16, MediaError> {
    match payload.get(..2) {
        Some(&[b0, b1]) => Ok(u16::from_be_bytes([b0, b1])),
        _ => Err(MediaError::Truncated { what, needed: 2 - payload.len().min(2) }),
    }
}

impl ChunkWriter {
    fn control(&mut self, type_id: u8, payload: &[u8]) {
        self.write_message(CONTROL_CHUNK_STREAM, type_id, 0, 0, payload);
    }

    /// Queues Set Chunk Size and switches to it for later messages.
    pub fn send_set_chunk_size(&mut self, size: u32) {
        self.control(type_id::SET_CHUNK_SIZE, &size.to_be_bytes());
        self.set_chunk_size(size as usize);
    }

    pub fn send_window_ack_size(&mut self, size: u32) {
        self.control(type_id::WINDOW_ACK_SIZE, &size.to_be_bytes());
    }

    pub fn send_set_peer_bandwidth(&mut self, size: u32) {
        let mut payload = [0u8; 5];
        payload[..4].copy_from_slice(&size.to_be_bytes());
        payload[4] = PEER_BANDWIDTH_DYNAMIC;
        self.control(type_id::SET_PEER_BANDWIDTH, &payload);
    }

    pub fn send_acknowledgement(&mut self, sequence_number: u32) {
        self.control(type_id::ACKNOWLEDGEMENT, &sequence_number.to_be_bytes());
    }

    pub fn send_user_control(&mut self, event: u16, value: u32) {
        let mut payload = [0u8; 6];
        payload[..2].copy_from_slice(&event.to_be_bytes());
        payload[2..].copy_from_slice(&value.to_be_bytes());
        self.control(type_id::USER_CONTROL, &payload);
    }

    pub fn send_command(&mut self, stream_id: u32, values: &[Amf0Value]) {
        let mut payload = Vec::new();
        encode_all(values, &mut payload);
        self.write_message(COMMAND_CHUNK_STREAM, type_id::AMF0_COMMAND, stream_id, 0, &payload);
    }
}
