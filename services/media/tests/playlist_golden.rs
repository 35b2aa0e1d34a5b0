//! Playlists rendered from fixed models, compared with golden text.

use media::hls::*;

fn segment(msn: u64, parts: usize, complete: bool) -> PlaylistSegment {
    PlaylistSegment {
        msn,
        duration: 0.2 * parts as f64,
        uri: format!("seg{msn}.m4s"),
        init_uri: "init0.mp4".into(),
        discontinuity: false,
        program_date_time_ms: 1_795_239_296_000 + msn as i64 * 2000,
        parts: (0..parts)
            .map(|index| PlaylistPart {
                duration: 0.2,
                uri: format!("seg{msn}.{index}.m4s"),
                independent: index == 0,
                gap: false,
            })
            .collect(),
        complete,
        gap: false,
    }
}

fn playlist() -> MediaPlaylist {
    let mut segments: Vec<_> = (10..18).map(|msn| segment(msn, 10, true)).collect();
    segments[5].discontinuity = true;
    segments[5].init_uri = "init1.mp4".into();
    for later in segments.iter_mut().skip(6) {
        later.init_uri = "init1.mp4".into();
    }
    let mut open = segment(18, 3, false);
    open.init_uri = "init1.mp4".into();
    segments.push(open);
    MediaPlaylist {
        target_duration: 2,
        part_target: 0.2,
        server_control: ServerControl { part_hold_back: 0.6, hold_back: 6.0, can_skip_until: 12.0 },
        discontinuity_sequence: 3,
        segments,
        preload_hint_uri: Some("seg18.3.m4s".into()),
        rendition_reports: vec![],
        ended: false,
    }
}

fn check(name: &str, actual: &str) {
    testkit::golden::check_text(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"), name, actual);
}

#[test]
fn full_playlist_matches_golden_text() {
    check("media_full.m3u8", &playlist().render(SkipRequest::No));
}

#[test]
fn delta_update_matches_golden_text() {
    let rendered = playlist().render(SkipRequest::Yes);
    assert!(rendered.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=2\n"));
    check("media_skip.m3u8", &rendered);
}

#[test]
fn ended_playlist_has_no_preload_hint() {
    let mut ended = playlist();
    ended.segments.pop();
    ended.ended = true;
    let rendered = ended.render(SkipRequest::No);
    assert!(rendered.ends_with("#EXT-X-ENDLIST\n"));
    assert!(!rendered.contains("PRELOAD-HINT"));
    check("media_ended.m3u8", &rendered);
}

#[test]
fn parse_back_with_m3u8_rs_sees_every_segment() {
    let rendered = playlist().render(SkipRequest::No);
    let parsed = m3u8_rs::parse_media_playlist_res(rendered.as_bytes()).expect("parses");
    assert_eq!(parsed.media_sequence, 10);
    assert_eq!(parsed.target_duration, 2);
    assert_eq!(parsed.segments.len(), 8);
}

#[test]
fn lost_segment_is_listed_as_a_gap_before_the_discontinuity() {
    let mut playlist = playlist();
    playlist.segments[4].gap = true;
    playlist.segments[4].parts.clear();
    let rendered = playlist.render(SkipRequest::No);
    assert!(rendered.contains("#EXT-X-GAP\n#EXTINF:2.0,\nseg14.m4s\n#EXT-X-DISCONTINUITY\n"), "{rendered}");
    assert_eq!(rendered.matches("#EXT-X-GAP").count(), 1);
}
