//! AMF0 values, and re-encoding whatever decoded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::amf0::{decode_all, encode_all};

fuzz_target!(|data: &[u8]| {
    if let Ok(values) = decode_all(data) {
        let mut out = Vec::new();
        encode_all(&values, &mut out);
    }
});
