//! Rules checked on every media playlist the follower receives.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use super::report::Recorder;
use crate::mp4::InitInfo;
use crate::playlist::{MediaPlaylist, Part};

/// Slack for durations printed with a few decimals.
const ROUNDING: f64 = 0.001;

/// What the follower has learned so far; shared with the request probes.
#[derive(Debug, Default)]
pub struct State {
    pub snapshots: usize,
    pub latest: Option<MediaPlaylist>,
    pub target_duration: Option<u64>,
    pub part_target: Option<f64>,
    server_control_raw: Option<String>,
    last_media_sequence: Option<u64>,
    uri_by_msn: HashMap<u64, String>,
    /// First time each part was listed, and whether that was after the first snapshot.
    pub part_first_seen: BTreeMap<(u64, u32), (Instant, bool)>,
    pub segment_first_seen: BTreeMap<u64, (Instant, bool)>,
    /// Listed part URIs with their key, to notice removals.
    listed_parts: HashMap<String, (u64, u32)>,
    lower_bound_checked: HashSet<(u64, u32)>,
    first_part_checked: HashSet<u64>,
    /// Whether a segment left the window while watching.
    sequence_advanced: bool,
    pub part_bodies: HashMap<(u64, u32), Vec<u8>>,
    pub inits: HashMap<String, InitInfo>,
    pub part_intervals: Vec<f64>,
    pub segment_intervals: Vec<f64>,
    /// How long blocking reloads were held (seconds).
    pub holds: Vec<f64>,
    pub removal_checks: usize,
    /// BANDWIDTH of the variant being followed, bits per second.
    pub advertised_bandwidth: Option<u64>,
    /// EXTINF of each complete segment, for bit rate checks.
    pub segment_durations: HashMap<u64, f64>,
}

/// Follow-up work found in a snapshot.
#[derive(Debug, Default)]
pub struct Actions {
    pub new_parts: Vec<Part>,
    /// Parts that were listed before and are gone now.
    pub removed_parts: Vec<(String, (u64, u32))>,
    /// Newly complete segments whose every part was seen listed: (msn, uri, part count).
    pub complete_segments: Vec<(u64, String, u32)>,
}

pub fn check_snapshot(rec: &mut Recorder, state: &mut State, playlist: &MediaPlaylist, now: Instant) -> Actions {
    let first_snapshot = state.snapshots == 0;
    state.snapshots += 1;
    check_static(rec, state, playlist);
    let part_target = playlist.part_target.unwrap_or(0.0);
    check_part_durations(rec, state, playlist, part_target);
    check_retention(rec, playlist, part_target);

    let mut actions = Actions::default();
    for part in playlist.all_parts() {
        let key = (part.msn, part.index);
        if state.part_first_seen.contains_key(&key) {
            continue;
        }
        if !first_snapshot {
            let previous = state.part_first_seen.range(..key).next_back();
            if let Some((previous_key, (previous_at, _))) = previous {
                if key.0 - previous_key.0 <= 1 {
                    state.part_intervals.push(now.duration_since(*previous_at).as_secs_f64());
                }
            }
        }
        state.part_first_seen.insert(key, (now, !first_snapshot));
        state.listed_parts.insert(part.uri.clone(), key);
        actions.new_parts.push(part.clone());
    }
    for segment in &playlist.segments {
        if state.segment_first_seen.contains_key(&segment.msn) {
            continue;
        }
        if !first_snapshot {
            if let Some((_, (previous_at, _))) = state.segment_first_seen.range(..segment.msn).next_back() {
                state.segment_intervals.push(now.duration_since(*previous_at).as_secs_f64());
            }
        }
        state.segment_first_seen.insert(segment.msn, (now, !first_snapshot));
        state.segment_durations.insert(segment.msn, segment.duration);
        let all_parts_seen = state.part_first_seen.get(&(segment.msn, 0)).is_some_and(|seen| seen.1);
        if all_parts_seen && !segment.parts.is_empty() {
            let count = u32::try_from(segment.parts.len()).unwrap_or(u32::MAX);
            actions.complete_segments.push((segment.msn, segment.uri.clone(), count));
        }
    }
    let current: HashSet<&str> = playlist.all_parts().map(|part| part.uri.as_str()).collect();
    let removed: Vec<String> =
        state.listed_parts.keys().filter(|uri| !current.contains(uri.as_str())).cloned().collect();
    for uri in removed {
        if let Some(key) = state.listed_parts.remove(&uri) {
            actions.removed_parts.push((uri, key));
        }
    }
    state.latest = Some(playlist.clone());
    actions
}

fn check_static(rec: &mut Recorder, state: &mut State, playlist: &MediaPlaylist) {
    rec.check("part-inf.present", playlist.part_target.is_some(), || {
        "media playlist has no EXT-X-PART-INF:PART-TARGET".into()
    });
    let target = playlist.target_duration;
    match (state.target_duration, target) {
        (None, Some(value)) => {
            state.target_duration = Some(value);
            rec.pass("target-duration.constant");
        }
        (Some(first), current) => rec.check("target-duration.constant", current == Some(first), || {
            format!("TARGETDURATION was {first}, now {current:?}")
        }),
        (None, None) => rec.fail("target-duration.constant", "no EXT-X-TARGETDURATION"),
    }
    if state.part_target.is_none() {
        state.part_target = playlist.part_target;
    }
    let target = target.unwrap_or(0) as f64;
    for &extinf in &playlist.extinf_values {
        // Round half up, as the HLS rule for EXTINF vs TARGETDURATION reads.
        let rounded = (extinf + 0.5).floor();
        rec.check("target-duration.extinf", rounded <= target, || {
            format!("EXTINF {extinf} rounds to {rounded} > TARGETDURATION {target}")
        });
    }
    check_server_control(rec, state, playlist, target);

    if let Some(previous) = state.last_media_sequence {
        let current = playlist.media_sequence;
        rec.check("media-sequence.monotonic", current >= previous, || {
            format!("EXT-X-MEDIA-SEQUENCE went from {previous} to {current}")
        });
        state.sequence_advanced |= current > previous;
    }
    state.last_media_sequence = Some(playlist.media_sequence);
    for segment in &playlist.segments {
        let known = state.uri_by_msn.entry(segment.msn).or_insert_with(|| segment.uri.clone());
        let same = *known == segment.uri;
        rec.check("media-sequence.monotonic", same, || {
            format!("msn {} changed URI from {known} to {}", segment.msn, segment.uri)
        });
    }
    // Only once the server has removed segments is the window's length its choice.
    if (playlist.media_sequence > 0 || state.sequence_advanced) && !playlist.endlist {
        let window = playlist.segments_duration();
        rec.check("window.min-length", window + ROUNDING >= 3.0 * target, || {
            format!(
                "window of complete segments is {window:.3} s < 3 x TARGETDURATION ({:.0} s) at media sequence {}",
                3.0 * target,
                playlist.media_sequence
            )
        });
    }
    let has_pdt = playlist.segments.iter().any(|segment| segment.program_date_time.is_some())
        || playlist.trailing_program_date_time.is_some();
    rec.check("pdt.present", has_pdt, || {
        format!("no EXT-X-PROGRAM-DATE-TIME (media sequence {})", playlist.media_sequence)
    });
    rec.check("tags.order", playlist.order_violations.is_empty(), || playlist.order_violations.join("; "));
    let mut kinds: Vec<&str> = playlist.preload_hints.iter().map(|hint| hint.kind.as_str()).collect();
    kinds.sort_unstable();
    let unique = kinds.windows(2).all(|pair| pair[0] != pair[1]);
    rec.check("preload-hint.unique", unique && playlist.hints_after_endlist == 0, || {
        format!("preload hints {kinds:?}, {} after ENDLIST", playlist.hints_after_endlist)
    });
}

fn check_server_control(rec: &mut Recorder, state: &mut State, playlist: &MediaPlaylist, target: f64) {
    let Some(control) = &playlist.server_control else {
        rec.fail("server-control.can-block-reload", "no EXT-X-SERVER-CONTROL");
        return;
    };
    rec.check("server-control.can-block-reload", control.can_block_reload, || {
        format!("SERVER-CONTROL:{}", control.raw)
    });
    let part_target = playlist.part_target.unwrap_or(0.0);
    let checks = [
        ("server-control.part-hold-back", control.part_hold_back, 3.0 * part_target, "PART-HOLD-BACK"),
        ("server-control.hold-back", control.hold_back, 3.0 * target, "HOLD-BACK"),
        ("server-control.can-skip-until", control.can_skip_until, 6.0 * target, "CAN-SKIP-UNTIL"),
    ];
    for (id, value, minimum, name) in checks {
        rec.check(id, value.is_some_and(|v| v + ROUNDING >= minimum), || {
            format!("{name}={value:?}, needs >= {minimum:.3}")
        });
    }
    match &state.server_control_raw {
        None => state.server_control_raw = Some(control.raw.clone()),
        Some(first) => rec.check("server-control.stable", *first == control.raw, || {
            format!("SERVER-CONTROL changed from {first:?} to {:?}", control.raw)
        }),
    }
}

fn check_part_durations(rec: &mut Recorder, state: &mut State, playlist: &MediaPlaylist, part_target: f64) {
    if part_target <= 0.0 {
        return;
    }
    let groups = playlist
        .segments
        .iter()
        .map(|segment| (segment.parts.as_slice(), true))
        .chain(std::iter::once((playlist.trailing_parts.as_slice(), false)));
    for (parts, complete) in groups {
        for (position, part) in parts.iter().enumerate() {
            let key = (part.msn, part.index);
            if position == 0 && state.first_part_checked.insert(part.msn) {
                rec.check("part.first-independent", part.index == 0 && part.independent, || {
                    format!(
                        "segment {} starts with part {} ({}) without INDEPENDENT=YES",
                        part.msn, part.index, part.uri
                    )
                });
            }
            let is_last = position + 1 == parts.len();
            // The last part of the open segment may turn out to be its final part.
            if is_last && !complete || !state.lower_bound_checked.insert(key) {
                continue;
            }
            rec.check("part.duration", part.duration <= part_target + ROUNDING, || {
                format!("{} DURATION={} > PART-TARGET {part_target}", part.uri, part.duration)
            });
            let exempt = part.independent || part.gap || is_last;
            rec.check("part.duration", exempt || part.duration + ROUNDING >= 0.85 * part_target, || {
                format!(
                    "{} DURATION={} < 85% of PART-TARGET {part_target} (not INDEPENDENT, not last)",
                    part.uri, part.duration
                )
            });
        }
    }
}

fn check_retention(rec: &mut Recorder, playlist: &MediaPlaylist, part_target: f64) {
    let Some(target) = playlist.target_duration else {
        return;
    };
    let limit = 3.0 * target as f64 + part_target;
    // Media after the end of each segment, walking back from the live edge.
    let mut after_end = playlist.trailing_duration();
    for segment in playlist.segments.iter().rev() {
        if !segment.parts.is_empty() {
            rec.check("part.retention", after_end <= limit, || {
                format!(
                    "segment {} still lists {} parts, its end is {after_end:.3} s from the live edge (> 3 x TARGETDURATION)",
                    segment.msn,
                    segment.parts.len()
                )
            });
        }
        after_end += segment.duration;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::Outcome;
    use crate::playlist::parse_media;

    const HEAD: &str = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=0.2\n\
        #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6,HOLD-BACK=6,CAN-SKIP-UNTIL=12\n\
        #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-MAP:URI=\"init0.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00.000Z\n";

    fn outcome(report: &crate::Report, id: &str) -> Outcome {
        report.rule(id).map(|rule| rule.outcome).unwrap_or(Outcome::Skip)
    }

    #[test]
    fn flags_long_and_short_parts_but_not_exempt_ones() {
        let text = format!(
            "{HEAD}#EXT-X-PART:DURATION=0.2,URI=\"s0.0\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.1,URI=\"s0.1\"\n\
             #EXT-X-PART:DURATION=0.05,URI=\"s0.2\"\n#EXTINF:0.35,\ns0\n\
             #EXT-X-PART:DURATION=0.25,URI=\"s1.0\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.2,URI=\"s1.1\"\n"
        );
        let mut rec = Recorder::default();
        let mut state = State::default();
        let actions = check_snapshot(&mut rec, &mut state, &parse_media(&text), Instant::now());
        assert_eq!(actions.new_parts.len(), 5);
        let report = rec.finish("test".into());
        let durations = report.rule("part.duration").unwrap();
        // s0.1 is too short (not last, not independent); s1.0 is too long. s0.2 is last: exempt.
        assert_eq!((durations.outcome, durations.failures), (Outcome::Fail, 2));
        assert_eq!(outcome(&report, "part.first-independent"), Outcome::Pass);
        assert_eq!(outcome(&report, "server-control.part-hold-back"), Outcome::Pass);
        assert_eq!(outcome(&report, "pdt.present"), Outcome::Pass);
    }

    #[test]
    fn flags_sequence_going_back_and_tag_order() {
        let mut rec = Recorder::default();
        let mut state = State::default();
        let later = HEAD.replace("MEDIA-SEQUENCE:0", "MEDIA-SEQUENCE:5");
        check_snapshot(&mut rec, &mut state, &parse_media(&later), Instant::now());
        let misplaced = format!("{HEAD}#EXT-X-PART:DURATION=0.2,URI=\"a\",INDEPENDENT=YES\n#EXT-X-DISCONTINUITY\n");
        check_snapshot(&mut rec, &mut state, &parse_media(&misplaced), Instant::now());
        let report = rec.finish("test".into());
        assert_eq!(outcome(&report, "media-sequence.monotonic"), Outcome::Fail);
        assert_eq!(outcome(&report, "tags.order"), Outcome::Fail);
    }
}
