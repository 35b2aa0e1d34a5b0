//! Thin wrapper over `rml_rtmp`'s handshake that never hands it more than
//! the C0+C1+C2 bytes it needs, so its internal buffer stays bounded and
//! everything after C2 goes straight to our chunk reader.

use crate::error::MediaError;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};

/// C0 (version byte) + C1 + C2, 1536 bytes each.
pub(crate) const CLIENT_HANDSHAKE_LEN: usize = 1 + 1536 + 1536;

pub(crate) struct ServerHandshake {
    inner: Handshake,
    consumed: usize,
    complete: bool,
}

pub(crate) struct HandshakeStep {
    /// How many input bytes belonged to the handshake.
    pub consumed: usize,
    /// Bytes to send to the client (S0+S1+S2).
    pub reply: Vec<u8>,
    /// Bytes the handshake buffered but did not need (normally none).
    pub leftover: Vec<u8>,
}

impl ServerHandshake {
    pub fn new() -> Self {
        ServerHandshake { inner: Handshake::new(PeerType::Server), consumed: 0, complete: false }
    }

    pub fn is_complete(&self) -> bool {
        self.complete
    }

    pub fn feed(&mut self, input: &[u8]) -> Result<HandshakeStep, MediaError> {
        let wanted = CLIENT_HANDSHAKE_LEN.saturating_sub(self.consumed).min(input.len());
        let piece = input.get(..wanted).unwrap_or_default();
        let result = self
            .inner
            .process_bytes(piece)
            .map_err(|error| MediaError::invalid("rtmp handshake", error.to_string()))?;
        self.consumed += wanted;
        let step = match result {
            HandshakeProcessResult::InProgress { response_bytes } => {
                HandshakeStep { consumed: wanted, reply: response_bytes, leftover: Vec::new() }
            }
            HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                self.complete = true;
                HandshakeStep { consumed: wanted, reply: response_bytes, leftover: remaining_bytes }
            }
        };
        Ok(step)
    }
}
