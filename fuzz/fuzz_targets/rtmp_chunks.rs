//! The RTMP chunk reader and session behind a fixed client handshake, fed
//! in two pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::rtmp::{RtmpLimits, ServerConnection};

/// C0 (version 3) and zeroed C1 and C2.
const HANDSHAKE_LEN: usize = 1 + 1536 + 1536;

fuzz_target!(|data: &[u8]| {
    let limits = RtmpLimits { max_message_size: 64 * 1024, max_chunk_streams: 8, max_buffered_bytes: 256 * 1024 };
    let mut connection = ServerConnection::new(limits);
    let mut handshake = vec![0u8; HANDSHAKE_LEN];
    handshake[0] = 3;
    if connection.feed(&handshake).is_err() {
        return;
    }
    let split = data.len() / 2;
    for piece in [&data[..split], &data[split..]] {
        match connection.feed(piece) {
            Ok(events) => {
                if events.iter().any(|event| matches!(event, media::rtmp::RtmpEvent::PublishRequested { .. })) {
                    connection.accept_publish();
                }
            }
            Err(_) => return,
        }
        while connection.take_outgoing().is_some() {}
    }
});
