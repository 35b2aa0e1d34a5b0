//! FLV / Enhanced RTMP video and audio tag bodies (and the frames they
//! become), and the FLV file reader with every tag it yields: nothing may
//! panic.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use media::flv::{parse_audio_tag, parse_video_tag, FlvFileReader};

/// Both body parsers, since a tag's type byte may lie.
fn tag_bodies(body: &Bytes, dts_ms: i64) {
    if let Ok(video) = parse_video_tag(body.clone()) {
        let _ = video.into_media_frame(dts_ms);
    }
    if let Ok(audio) = parse_audio_tag(body.clone()) {
        let _ = audio.into_media_frame(dts_ms);
    }
}

fuzz_target!(|data: &[u8]| {
    let file = Bytes::copy_from_slice(data);
    // The whole input as one tag body, as an RTMP message would carry it.
    tag_bodies(&file, 0);
    let Ok(reader) = FlvFileReader::new(file) else {
        return;
    };
    for tag in reader {
        let Ok(tag) = tag else {
            break;
        };
        tag_bodies(&tag.body, i64::from(tag.timestamp));
    }
});
