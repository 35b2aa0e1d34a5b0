//! AMF0 decoding never panics, and whatever decodes re-encodes to bytes that
//! decode to the same encoding again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::amf0::{decode_all, encode_all};

fuzz_target!(|data: &[u8]| {
    let Ok(values) = decode_all(data) else {
        return;
    };
    let mut encoded = Vec::new();
    encode_all(&values, &mut encoded);
    let again = decode_all(&encoded).expect("re-encoded AMF0 must decode");
    let mut encoded_again = Vec::new();
    encode_all(&again, &mut encoded_again);
    // Compared as bytes because NaN numbers are not equal to themselves.
    assert_eq!(encoded, encoded_again);
});
