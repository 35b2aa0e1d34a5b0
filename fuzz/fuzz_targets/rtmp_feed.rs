//! Arbitrary bytes into a server connection, either raw (exercising the
//! handshake) or after a valid plain handshake (exercising chunks, messages
//! and the session). The first input byte picks the mode:
//!
//! - bit 0: send a valid C0/C1/C2 first;
//! - bit 1: accept a publish request (otherwise reject it);
//! - bit 2: tight limits (64 KiB messages, 8 partial messages, 256 KiB
//!   buffered) so the limit paths run, otherwise the defaults with a 1 MiB
//!   buffer;
//! - bits 3-7: the size of the pieces the rest is fed in (1 to 993 bytes).
//!
//! Use `-dict=rtmp.dict` to reach the command state machine sooner.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::rtmp::{RtmpEvent, RtmpLimits, ServerConnection};

/// C0 + C1 + C2; a zeroed C1 selects the plain (non-digest) handshake.
const HANDSHAKE_LEN: usize = 1 + 1536 + 1536;

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let limits = if control & 4 == 4 {
        RtmpLimits { max_message_size: 64 * 1024, max_chunk_streams: 8, max_buffered_bytes: 256 * 1024 }
    } else {
        RtmpLimits { max_buffered_bytes: 1 << 20, ..RtmpLimits::default() }
    };
    let mut connection = ServerConnection::new(limits);
    if control & 1 == 1 {
        let mut handshake = vec![0u8; HANDSHAKE_LEN];
        handshake[0] = 3;
        assert!(connection.feed(&handshake).is_ok(), "valid handshake rejected");
        assert!(connection.take_outgoing().is_some(), "no S0/S1/S2");
    }
    let accept = control & 2 == 2;
    let piece_len = usize::from(control >> 3) * 32 + 1;
    for piece in input.chunks(piece_len) {
        let Ok(events) = connection.feed(piece) else {
            break;
        };
        if events.iter().any(|event| matches!(event, RtmpEvent::PublishRequested { .. })) {
            if accept {
                connection.accept_publish();
            } else {
                connection.reject_publish("NetStream.Publish.BadName", "fuzz");
            }
        }
        let _ = connection.take_outgoing();
    }
});
