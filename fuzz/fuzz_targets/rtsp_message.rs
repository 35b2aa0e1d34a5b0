//! RTSP request and interleaved-frame parsing, fed in two pieces so
//! partial-input paths run too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::rtsp::{MessageReader, RtspLimits};

fuzz_target!(|data: &[u8]| {
    let limits = RtspLimits { max_line: 256, max_headers: 16, max_body: 4096 };
    let split = data.first().map_or(0, |byte| usize::from(*byte)).min(data.len());
    let mut reader = MessageReader::new(limits);
    for piece in [&data[..split], &data[split..]] {
        reader.push(piece);
        loop {
            match reader.next_input() {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
});
