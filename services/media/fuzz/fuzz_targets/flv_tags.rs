//! FLV tag body parsers and the file reader never panic.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use media::flv::{parse_audio_tag, parse_video_tag, FlvFileReader};

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    let _ = parse_video_tag(body.clone());
    let _ = parse_audio_tag(body.clone());
    if let Ok(reader) = FlvFileReader::new(body) {
        for tag in reader {
            let Ok(tag) = tag else {
                break;
            };
            let _ = parse_video_tag(tag.body.clone());
            let _ = parse_audio_tag(tag.body);
        }
    }
});
