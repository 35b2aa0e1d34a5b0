//! Decoder configuration records as they arrive in RTMP sequence headers
//! (AVCDecoderConfigurationRecord with its SPS, HEVCDecoderConfigurationRecord
//! with its SPS, AV1CodecConfigurationRecord with its sequence header OBU,
//! AudioSpecificConfig, OpusHead), and what is derived from a parsed one:
//! codec strings, an init segment, a sample. The first byte picks the codec,
//! the rest is the record.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use media::codec::{AudioConfig, VideoConfig};
use media::fmp4::{init_segment, TrackMedia, TrackSpec};
use media::{AudioCodec, VideoCodec};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, record)) = data.split_first() else {
        return;
    };
    let record = Bytes::copy_from_slice(record);
    let media = match selector % 5 {
        0 => VideoConfig::parse(VideoCodec::H264, record.clone()).map(TrackMedia::Video),
        1 => VideoConfig::parse(VideoCodec::H265, record.clone()).map(TrackMedia::Video),
        2 => VideoConfig::parse(VideoCodec::Av1, record.clone()).map(TrackMedia::Video),
        3 => AudioConfig::parse(AudioCodec::Aac, record.clone()).map(TrackMedia::Audio),
        _ => AudioConfig::parse(AudioCodec::Opus, record.clone()).map(TrackMedia::Audio),
    };
    let Ok(media) = media else {
        return;
    };
    let timescale = match &media {
        TrackMedia::Video(video) => {
            let _ = (video.codec_string(), video.width(), video.height(), video.frame_rate());
            // The record doubles as a coded picture (AV1 temporal units are rewritten).
            let _ = video.sample(record.clone(), selector & 0x80 != 0, 0);
            90_000
        }
        TrackMedia::Audio(audio) => {
            let _ = (audio.codec_string(), audio.channels(), audio.samples_per_frame());
            let _ = audio.frame_samples(&record);
            audio.sample_rate()
        }
    };
    let init = init_segment(&[TrackSpec { track_id: 1, timescale, media }]);
    assert!(init.len() > 8, "empty init segment");
});
