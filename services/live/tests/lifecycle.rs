//! Publisher lifecycle on the live edge: reconnect within the grace period,
//! end of stream, refusal of a second publisher and takeover of a silent one.
//! In simulated time: tokio's paused clock and a manual wall clock.

use std::time::Duration;

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

/// 2026-06-01T00:00:00Z, where the wall clock of these tests starts.
const START_MS: i64 = 1_780_272_000_000;

fn config() -> LiveConfig {
    LiveConfig {
        reconnect_grace: Duration::from_secs(10),
        takeover_after: Duration::from_secs(5),
        clock: clock::Clock::manual(START_MS),
        ..LiveConfig::default()
    }
}

/// Moves both clocks: tokio's (grace periods) and the wall clock (PDT).
async fn advance(registry: &Registry, by: Duration) {
    tokio::time::advance(by).await;
    registry.config().clock.advance(by);
}

#[tokio::test(start_paused = true)]
async fn reconnect_within_grace_continues_the_playlist() {
    let registry = Registry::new(config(), None);
    let mut first = registry.begin_publish("demo").unwrap();
    for frame in frames() {
        first.push(frame).unwrap();
    }
    drop(first);
    let before = playlist(&registry);
    assert!(!before.contains("#EXT-X-ENDLIST"));
    assert!(before.contains("seg1.m4s"), "the publisher's last segment is closed on leaving");

    advance(&registry, Duration::from_secs(9)).await;
    registry.housekeeping(registry.config().clock.now());
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
    // PROGRAM-DATE-TIME comes from the wall clock: the first segment at its
    // start, the one after the gap 9 s later.
    assert!(after.contains("#EXT-X-PROGRAM-DATE-TIME:2026-06-01T00:00:00.000Z"), "{after}");
    assert!(after[discontinuity..].contains("#EXT-X-PROGRAM-DATE-TIME:2026-06-01T00:00:09"), "{after}");
}

#[tokio::test(start_paused = true)]
async fn publisher_gone_past_grace_ends_the_playlist() {
    let registry = Registry::new(config(), None);
    let mut session = registry.begin_publish("demo").unwrap();
    for frame in frames() {
        session.push(frame).unwrap();
    }
    drop(session);
    let stream = registry.get("demo").unwrap();
    assert_eq!(stream.block_state(50, None), BlockState::BadRequest);
    advance(&registry, Duration::from_secs(9)).await;
    registry.housekeeping(registry.config().clock.now());
    assert!(!playlist(&registry).contains("#EXT-X-ENDLIST"), "still within the grace period");
    advance(&registry, Duration::from_secs(2)).await;
    registry.housekeeping(registry.config().clock.now());
    let ended = playlist(&registry);
    assert!(ended.ends_with("#EXT-X-ENDLIST\n"), "{ended}");
    assert!(!ended.contains("PRELOAD-HINT"));
    assert_eq!(stream.block_state(50, None), BlockState::Ready, "blocking parameters are ignored once ended");
    assert_eq!(stream.part(9, 0), PartState::NotFound);
}

#[tokio::test(start_paused = true)]
async fn second_publisher_is_refused_while_the_first_is_active() {
    let registry = Registry::new(config(), None);
    let _first = registry.begin_publish("demo").unwrap();
    assert!(matches!(registry.begin_publish("demo"), Err(PublishError::AlreadyLive(_))));
    assert!(registry.begin_publish("other").is_ok(), "other streams are unaffected");
}

#[tokio::test(start_paused = true)]
async fn silent_publisher_is_taken_over_and_its_late_frames_ignored() {
    let registry = Registry::new(config(), None);
    let all = frames();
    let (early, late) = all.split_at(all.len() / 2);
    let mut first = registry.begin_publish("demo").unwrap();
    for frame in early {
        first.push(frame.clone()).unwrap();
    }
    advance(&registry, Duration::from_millis(4999)).await;
    assert!(registry.begin_publish("demo").is_err(), "not silent long enough yet");
    advance(&registry, Duration::from_millis(1)).await;
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
