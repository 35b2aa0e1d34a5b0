//! Publisher lifecycle on the live edge: reconnect within the grace period,
//! end of stream, refusal of a second publisher and takeover of a silent one.

use std::time::{Duration, Instant};

use bytes::Bytes;
use live::{BlockState, LiveConfig, PartState, PublishError, Registry};
use media::flv::{parse_audio_tag, parse_video_tag, FlvFileReader, TAG_AUDIO, TAG_VIDEO};
use media::hls::SkipRequest;
use media::timeline::TimestampUnwrapper;
use media::MediaFrame;

const FIXTURE: &[u8] = include_bytes!("../../media/testdata/bframes.flv");

fn frames() -> Vec<MediaFrame> {
    let mut clock = TimestampUnwrapper::new();
    let mut frames = Vec::new();
    for tag in FlvFileReader::new(Bytes::from_static(FIXTURE)).unwrap() {
        let tag = tag.unwrap();
        let dts = clock.unwrap(tag.timestamp);
        match tag.tag_type {
            TAG_VIDEO => frames.extend(parse_video_tag(tag.body).unwrap().into_media_frame(dts)),
            TAG_AUDIO => frames.push(parse_audio_tag(tag.body).unwrap().into_media_frame(dts)),
            _ => {}
        }
    }
    frames
}

fn playlist(registry: &Registry) -> String {
    let body = registry.get("demo").unwrap().media_playlist(SkipRequest::No).unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

fn config() -> LiveConfig {
    LiveConfig {
        reconnect_grace: Duration::from_secs(10),
        takeover_after: Duration::from_secs(5),
        ..LiveConfig::default()
    }
}

#[test]
fn reconnect_within_grace_continues_the_playlist() {
    let registry = Registry::new(config(), None);
    let mut first = registry.begin_publish("demo").unwrap();
    for frame in frames() {
        first.push(frame).unwrap();
    }
    drop(first);
    let before = playlist(&registry);
    assert!(!before.contains("#EXT-X-ENDLIST"));
    assert!(before.contains("seg1.m4s"), "the publisher's last segment is closed on leaving");

    registry.housekeeping(Instant::now() + Duration::from_secs(5));
    let mut second = registry.begin_publish("demo").unwrap();
    for frame in frames() {
        second.push(frame).unwrap();
    }
    drop(second);
    let after = playlist(&registry);
    assert!(after.contains("#EXT-X-MEDIA-SEQUENCE:0"));
    let discontinuity = after.find("#EXT-X-DISCONTINUITY\n").expect("a discontinuity where the publisher came back");
    assert!(after[discontinuity..].contains("#EXT-X-MAP:URI=\"init1.mp4\""), "{after}");
    assert!(after[discontinuity..].contains("seg2.0.m4s"), "sequence numbers continue: {after}");
}

#[test]
fn publisher_gone_past_grace_ends_the_playlist() {
    let registry = Registry::new(config(), None);
    let mut session = registry.begin_publish("demo").unwrap();
    for frame in frames() {
        session.push(frame).unwrap();
    }
    drop(session);
    let stream = registry.get("demo").unwrap();
    assert_eq!(stream.block_state(50, None), BlockState::BadRequest);
    registry.housekeeping(Instant::now() + Duration::from_secs(11));
    let ended = playlist(&registry);
    assert!(ended.ends_with("#EXT-X-ENDLIST\n"), "{ended}");
    assert!(!ended.contains("PRELOAD-HINT"));
    assert_eq!(stream.block_state(50, None), BlockState::Ready, "blocking parameters are ignored once ended");
    assert_eq!(stream.part(9, 0), PartState::NotFound);
}

#[test]
fn second_publisher_is_refused_while_the_first_is_active() {
    let registry = Registry::new(config(), None);
    let _first = registry.begin_publish("demo").unwrap();
    assert!(matches!(registry.begin_publish("demo"), Err(PublishError::AlreadyLive(_))));
    assert!(registry.begin_publish("other").is_ok(), "other streams are unaffected");
}

#[test]
fn silent_publisher_is_taken_over_and_its_late_frames_ignored() {
    let quick = LiveConfig { takeover_after: Duration::ZERO, ..config() };
    let registry = Registry::new(quick, None);
    let all = frames();
    let (early, late) = all.split_at(all.len() / 2);
    let mut first = registry.begin_publish("demo").unwrap();
    for frame in early {
        first.push(frame.clone()).unwrap();
    }
    let mut second = registry.begin_publish("demo").expect("silent publisher can be taken over");
    let before = playlist(&registry);
    for frame in late {
        first.push(frame.clone()).unwrap();
    }
    assert_eq!(playlist(&registry), before, "the old publisher no longer writes");
    for frame in all {
        second.push(frame).unwrap();
    }
    drop(first);
    let after = playlist(&registry);
    assert!(after.contains("#EXT-X-DISCONTINUITY\n"));
    assert!(!after.contains("#EXT-X-ENDLIST"), "dropping the old session does not end the new one");
}
