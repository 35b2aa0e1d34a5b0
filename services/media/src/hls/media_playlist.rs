use std::fmt::Write;

use super::seconds;
use crate::timeline::format_rfc3339_ms;

#[derive(Debug, Clone, PartialEq)]
pub struct PlaylistPart {
    pub duration: f64,
    pub uri: String,
    pub independent: bool,
    pub gap: bool,
}

/// A media segment. The newest one may still be open: `complete` is false
/// and it is listed by its parts alone.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaylistSegment {
    pub msn: u64,
    pub duration: f64,
    pub uri: String,
    pub init_uri: String,
    pub discontinuity: bool,
    pub program_date_time_ms: i64,
    pub parts: Vec<PlaylistPart>,
    pub complete: bool,
    /// Listed with EXT-X-GAP: its media was lost (an ingest pod died before
    /// storing it), so players skip it instead of fetching.
    pub gap: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerControl {
    pub part_hold_back: f64,
    pub hold_back: f64,
    pub can_skip_until: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RenditionReport {
    pub uri: String,
    pub last_msn: u64,
    pub last_part: Option<u32>,
}

/// `_HLS_skip` as a client asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipRequest {
    No,
    Yes,
    /// Also skip EXT-X-DATERANGE tags; we emit none, so this equals `Yes`.
    V2,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MediaPlaylist {
    pub target_duration: u32,
    pub part_target: f64,
    pub server_control: ServerControl,
    pub discontinuity_sequence: u64,
    /// Oldest first; the last may be incomplete.
    pub segments: Vec<PlaylistSegment>,
    pub preload_hint_uri: Option<String>,
    pub rendition_reports: Vec<RenditionReport>,
    pub ended: bool,
}

impl MediaPlaylist {
    pub fn media_sequence(&self) -> u64 {
        self.segments.first().map_or(0, |segment| segment.msn)
    }

    fn total_duration(&self) -> f64 {
        self.segments.iter().map(segment_length).sum()
    }

    /// How many leading segments a delta update may replace with EXT-X-SKIP:
    /// those that end more than CAN-SKIP-UNTIL before the playlist's end.
    pub fn skippable_segments(&self) -> usize {
        let total = self.total_duration();
        let mut end = 0.0;
        let mut count = 0;
        for segment in &self.segments {
            end += segment_length(segment);
            if !segment.complete || total - end < self.server_control.can_skip_until {
                break;
            }
            count += 1;
        }
        count
    }

    pub fn render(&self, skip: SkipRequest) -> String {
        let mut out = String::with_capacity(256 + self.segments.len() * 96);
        out.push_str("#EXTM3U\n#EXT-X-VERSION:9\n");
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", self.target_duration);
        let control = &self.server_control;
        let _ = writeln!(
            out,
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={},PART-HOLD-BACK={},HOLD-BACK={}",
            seconds(control.can_skip_until),
            seconds(control.part_hold_back),
            seconds(control.hold_back)
        );
        let _ = writeln!(out, "#EXT-X-PART-INF:PART-TARGET={}", seconds(self.part_target));
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence());
        let _ = writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{}", self.discontinuity_sequence);
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");

        let skipped = match skip {
            SkipRequest::No => 0,
            SkipRequest::Yes | SkipRequest::V2 => self.skippable_segments(),
        };
        if skipped > 0 {
            let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
        }

        let parts_from = self.first_segment_with_parts();
        let mut previous_init: Option<&str> = None;
        for (index, segment) in self.segments.iter().enumerate() {
            if index < skipped {
                previous_init = Some(&segment.init_uri);
                continue;
            }
            if segment.discontinuity && index > 0 {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if index == skipped || previous_init != Some(segment.init_uri.as_str()) {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", segment.init_uri);
            }
            previous_init = Some(&segment.init_uri);
            let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", format_rfc3339_ms(segment.program_date_time_ms));
            if index >= parts_from {
                for part in &segment.parts {
                    render_part(&mut out, part);
                }
            }
            if segment.complete {
                if segment.gap {
                    out.push_str("#EXT-X-GAP\n");
                }
                let _ = write!(out, "#EXTINF:{},\n{}\n", seconds(segment.duration), segment.uri);
            }
        }
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        } else if let Some(uri) = &self.preload_hint_uri {
            let _ = writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{uri}\"");
        }
        for report in &self.rendition_reports {
            let _ = write!(out, "#EXT-X-RENDITION-REPORT:URI=\"{}\",LAST-MSN={}", report.uri, report.last_msn);
            if let Some(part) = report.last_part {
                let _ = write!(out, ",LAST-PART={part}");
            }
            out.push('\n');
        }
        out
    }

    /// Parts are listed only for segments within three target durations of
    /// the playlist's end; older ones are listed as whole segments.
    fn first_segment_with_parts(&self) -> usize {
        let horizon = 3.0 * f64::from(self.target_duration);
        let mut from_end = 0.0;
        let mut first = self.segments.len();
        for (index, segment) in self.segments.iter().enumerate().rev() {
            if from_end >= horizon {
                break;
            }
            first = index;
            from_end += segment_length(segment);
        }
        first
    }
}

fn segment_length(segment: &PlaylistSegment) -> f64 {
    if segment.complete {
        segment.duration
    } else {
        segment.parts.iter().map(|part| part.duration).sum()
    }
}

fn render_part(out: &mut String, part: &PlaylistPart) {
    let _ = write!(out, "#EXT-X-PART:DURATION={},URI=\"{}\"", seconds(part.duration), part.uri);
    if part.independent {
        out.push_str(",INDEPENDENT=YES");
    }
    if part.gap {
        out.push_str(",GAP=YES");
    }
    out.push('\n');
}
