//! Arbitrary bytes into a server connection, either raw (exercising the
//! handshake) or after a valid plain handshake (exercising chunks, messages
//! and the session). The first input byte picks the mode and feed size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::rtmp::{RtmpEvent, RtmpLimits, ServerConnection};

/// C0 + C1 + C2; a zeroed C1 selects the plain (non-digest) handshake.
const HANDSHAKE_LEN: usize = 1 + 1536 + 1536;

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let limits = RtmpLimits { max_buffered_bytes: 1 << 20, ..RtmpLimits::default() };
    let mut connection = ServerConnection::new(limits);
    if control & 1 == 1 {
        let mut handshake = vec![0u8; HANDSHAKE_LEN];
        handshake[0] = 3;
        assert!(connection.feed(&handshake).is_ok(), "valid handshake rejected");
        assert!(connection.take_outgoing().is_some());
    }
    let accept = control & 2 == 2;
    let piece_len = usize::from(control >> 2) * 16 + 1;
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
