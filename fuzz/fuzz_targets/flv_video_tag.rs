//! FLV / Enhanced RTMP video and audio tag bodies, and the frames they become.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use media::flv::{parse_audio_tag, parse_video_tag};

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    if let Ok(video) = parse_video_tag(body.clone()) {
        let _ = video.into_media_frame(0);
    }
    let _ = parse_audio_tag(body);
});
