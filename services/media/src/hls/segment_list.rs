//! Playlists of stored segments only: the DVR window of a live stream (a
//! sliding playlist without parts) and time-range playback (VOD).

use std::fmt::Write;

use super::seconds;
use crate::timeline::format_rfc3339_ms;

/// A stored segment as a segment list names it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedSegment {
    pub msn: u64,
    pub duration: f64,
    pub init_version: u32,
    pub discontinuity: bool,
    /// Discontinuities up to and including this segment.
    pub discontinuity_sequence: u64,
    pub program_date_time_ms: i64,
    pub gap: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SegmentList {
    /// Oldest first.
    pub segments: Vec<ListedSegment>,
    /// VOD: a closed time range. Otherwise a sliding live window.
    pub vod: bool,
    /// The stream ended: no more segments will follow.
    pub ended: bool,
}

impl SegmentList {
    /// The playlist text, or None when there is nothing to list. A live
    /// window must number its segments consecutively, so it starts after
    /// the newest hole in the sequence; VOD marks holes as discontinuities.
    pub fn render(&self) -> Option<String> {
        let mut segments = self.segments.as_slice();
        if !self.vod {
            // Start after the newest hole: the last pair that is not consecutive.
            if let Some(hole) = self.segments.windows(2).rposition(|pair| match pair {
                [previous, next] => next.msn != previous.msn + 1,
                _ => false,
            }) {
                segments = self.segments.get(hole + 1..).unwrap_or_default();
            }
        }
        let first = segments.first()?;
        let target = segments.iter().map(|segment| segment.duration.round() as u64).max().unwrap_or(1).max(1);
        let mut out = String::with_capacity(128 + segments.len() * 96);
        out.push_str("#EXTM3U\n#EXT-X-VERSION:8\n");
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", first.msn);
        let sequence = first.discontinuity_sequence.saturating_sub(u64::from(first.discontinuity));
        let _ = writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{sequence}");
        if self.vod {
            out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
        }
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        let mut previous: Option<&ListedSegment> = None;
        for segment in segments {
            if let Some(previous) = previous {
                if segment.discontinuity || segment.msn != previous.msn + 1 {
                    out.push_str("#EXT-X-DISCONTINUITY\n");
                }
            }
            if previous.is_none_or(|previous| previous.init_version != segment.init_version) {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"init{}.mp4\"", segment.init_version);
            }
            let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", format_rfc3339_ms(segment.program_date_time_ms));
            if segment.gap {
                out.push_str("#EXT-X-GAP\n");
            }
            let _ = write!(out, "#EXTINF:{},\nseg{}.m4s\n", seconds(segment.duration), segment.msn);
            previous = Some(segment);
        }
        if self.vod || self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(msn: u64) -> ListedSegment {
        ListedSegment {
            msn,
            duration: 2.0,
            init_version: 0,
            discontinuity: false,
            discontinuity_sequence: 1,
            program_date_time_ms: 1_800_000_000_000 + msn as i64 * 2000,
            gap: false,
        }
    }

    #[test]
    fn live_window_lists_from_the_newest_hole() {
        let mut segments: Vec<_> = [3, 4, 7, 8, 9].into_iter().map(segment).collect();
        segments[3].gap = true;
        segments[4].discontinuity = true;
        segments[4].discontinuity_sequence = 2;
        segments[4].init_version = 1;
        let text = SegmentList { segments, vod: false, ended: false }.render().unwrap();
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{text}");
        assert!(!text.contains("seg4.m4s") && !text.contains("ENDLIST"));
        assert!(
            text.contains("#EXT-X-GAP\n#EXTINF:2.0,\nseg8.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init1.mp4\"\n")
        );

        let segments: Vec<_> = [1, 2, 5, 6, 9, 10].into_iter().map(segment).collect();
        let text = SegmentList { segments, vod: false, ended: true }.render().unwrap();
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:9\n"), "{text}");
        assert_eq!(text.matches(".m4s").count(), 2);
        let segments: Vec<_> = [4, 5, 6].into_iter().map(segment).collect();
        let text = SegmentList { segments, vod: false, ended: false }.render().unwrap();
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:4\n") && text.matches(".m4s").count() == 3, "{text}");
    }

    #[test]
    fn vod_range_marks_holes_and_ends() {
        let segments: Vec<_> = [3, 4, 7].into_iter().map(segment).collect();
        let text = SegmentList { segments, vod: true, ended: false }.render().unwrap();
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"));
        assert!(text.contains("seg4.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME"));
        assert!(text.ends_with("seg7.m4s\n#EXT-X-ENDLIST\n"));
        assert_eq!(text.matches("#EXT-X-MAP").count(), 1);
        assert!(SegmentList { segments: vec![], vod: true, ended: true }.render().is_none());
    }
}
