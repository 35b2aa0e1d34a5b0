//! Line-based reader for HLS / LL-HLS playlists.
//!
//! Reads only what the checker and the probe need, and records tag-order
//! problems instead of rejecting the playlist, so they can be reported.

/// One `#EXT-X-PART` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub msn: u64,
    pub index: u32,
    pub duration: f64,
    pub uri: String,
    pub independent: bool,
    pub gap: bool,
}

/// One complete media segment (its URI line has been seen).
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub msn: u64,
    pub duration: f64,
    pub uri: String,
    pub parts: Vec<Part>,
    pub program_date_time: Option<String>,
    pub discontinuity: bool,
    pub map_uri: Option<String>,
    /// EXT-X-GAP: listed for numbering only; players must not fetch it.
    pub gap: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerControl {
    pub can_block_reload: bool,
    pub part_hold_back: Option<f64>,
    pub hold_back: Option<f64>,
    pub can_skip_until: Option<f64>,
    /// The tag text as received, to compare across reloads.
    pub raw: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PreloadHint {
    pub kind: String,
    pub uri: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaPlaylist {
    pub version: Option<u32>,
    pub target_duration: Option<u64>,
    pub media_sequence: u64,
    pub part_target: Option<f64>,
    pub server_control: Option<ServerControl>,
    pub skipped_segments: u64,
    pub segments: Vec<Segment>,
    /// Parts of the segment still being written (after the last URI line).
    pub trailing_parts: Vec<Part>,
    /// Sequence number the trailing parts belong to.
    pub next_msn: u64,
    /// PROGRAM-DATE-TIME written for the open segment, if any.
    pub trailing_program_date_time: Option<String>,
    /// The last EXT-X-MAP URI.
    pub map_uri: Option<String>,
    pub preload_hints: Vec<PreloadHint>,
    pub endlist: bool,
    pub rendition_reports: usize,
    /// Preload hints that appear after EXT-X-ENDLIST.
    pub hints_after_endlist: usize,
    /// DISCONTINUITY / MAP / PROGRAM-DATE-TIME tags found after a segment's first part.
    pub order_violations: Vec<String>,
    /// EXTINF values as written, for rounding checks.
    pub extinf_values: Vec<f64>,
}

impl MediaPlaylist {
    /// All parts in order, including those of the open segment.
    pub fn all_parts(&self) -> impl Iterator<Item = &Part> {
        self.segments.iter().flat_map(|segment| segment.parts.iter()).chain(self.trailing_parts.iter())
    }

    pub fn last_part(&self) -> Option<&Part> {
        self.all_parts().last()
    }

    /// Sum of complete segment durations.
    pub fn segments_duration(&self) -> f64 {
        self.segments.iter().map(|segment| segment.duration).sum()
    }

    pub fn trailing_duration(&self) -> f64 {
        self.trailing_parts.iter().map(|part| part.duration).sum()
    }

    pub fn last_segment_msn(&self) -> Option<u64> {
        self.segments.last().map(|segment| segment.msn)
    }

    /// The (msn, part) a blocking reload should ask for next.
    pub fn next_part_request(&self) -> (u64, u32) {
        match self.last_part() {
            Some(part) if part.msn == self.next_msn => (part.msn, part.index + 1),
            _ => (self.next_msn, 0),
        }
    }
}

/// Splits an attribute list on commas outside quoted strings.
pub fn attributes(list: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for ch in list.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                current.push(ch);
            }
            ',' if !quoted => {
                push_attribute(&mut out, &current);
                current.clear();
            }
            _ => current.push(ch),
        }
    }
    push_attribute(&mut out, &current);
    out
}

fn push_attribute(out: &mut Vec<(String, String)>, item: &str) {
    if let Some((name, value)) = item.split_once('=') {
        out.push((name.trim().to_string(), value.trim().trim_matches('"').to_string()));
    }
}

fn attribute<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

fn attribute_f64(attrs: &[(String, String)], name: &str) -> Option<f64> {
    attribute(attrs, name).and_then(|value| value.parse().ok())
}

/// State collected for the segment whose URI line has not been read yet.
#[derive(Default)]
struct Pending {
    duration: Option<f64>,
    parts: Vec<Part>,
    program_date_time: Option<String>,
    discontinuity: bool,
    gap: bool,
}

pub fn parse_media(text: &str) -> MediaPlaylist {
    let mut playlist = MediaPlaylist::default();
    let mut pending = Pending::default();
    let mut map_uri: Option<String> = None;
    let mut sequence_base_fixed = false;
    let mut next_msn = 0u64;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        let (tag, value) = line.split_once(':').unwrap_or((line, ""));
        // Anything before the first segment may still move the base sequence number.
        if !sequence_base_fixed {
            next_msn = playlist.media_sequence + playlist.skipped_segments;
        }
        match tag {
            "#EXT-X-VERSION" => playlist.version = value.parse().ok(),
            "#EXT-X-TARGETDURATION" => playlist.target_duration = value.parse().ok(),
            "#EXT-X-MEDIA-SEQUENCE" => playlist.media_sequence = value.parse().unwrap_or(0),
            "#EXT-X-PART-INF" => playlist.part_target = attribute_f64(&attributes(value), "PART-TARGET"),
            "#EXT-X-SERVER-CONTROL" => {
                let attrs = attributes(value);
                playlist.server_control = Some(ServerControl {
                    can_block_reload: attribute(&attrs, "CAN-BLOCK-RELOAD") == Some("YES"),
                    part_hold_back: attribute_f64(&attrs, "PART-HOLD-BACK"),
                    hold_back: attribute_f64(&attrs, "HOLD-BACK"),
                    can_skip_until: attribute_f64(&attrs, "CAN-SKIP-UNTIL"),
                    raw: value.to_string(),
                });
            }
            "#EXT-X-SKIP" => {
                let attrs = attributes(value);
                playlist.skipped_segments =
                    attribute(&attrs, "SKIPPED-SEGMENTS").and_then(|count| count.parse().ok()).unwrap_or(0);
                next_msn = playlist.media_sequence + playlist.skipped_segments;
            }
            "#EXT-X-DISCONTINUITY" => {
                check_before_parts(&mut playlist, &pending, "EXT-X-DISCONTINUITY", next_msn);
                pending.discontinuity = true;
            }
            "#EXT-X-GAP" => pending.gap = true,
            "#EXT-X-MAP" => {
                check_before_parts(&mut playlist, &pending, "EXT-X-MAP", next_msn);
                map_uri = attribute(&attributes(value), "URI").map(str::to_string);
            }
            "#EXT-X-PROGRAM-DATE-TIME" => {
                check_before_parts(&mut playlist, &pending, "EXT-X-PROGRAM-DATE-TIME", next_msn);
                pending.program_date_time = Some(value.to_string());
            }
            "#EXTINF" => {
                let duration = value.split(',').next().and_then(|d| d.trim().parse().ok());
                if let Some(duration) = duration {
                    playlist.extinf_values.push(duration);
                }
                pending.duration = duration;
            }
            "#EXT-X-PART" => {
                sequence_base_fixed = true;
                let attrs = attributes(value);
                let index = u32::try_from(pending.parts.len()).unwrap_or(u32::MAX);
                pending.parts.push(Part {
                    msn: next_msn,
                    index,
                    duration: attribute_f64(&attrs, "DURATION").unwrap_or(0.0),
                    uri: attribute(&attrs, "URI").unwrap_or_default().to_string(),
                    independent: attribute(&attrs, "INDEPENDENT") == Some("YES"),
                    gap: attribute(&attrs, "GAP") == Some("YES"),
                });
            }
            "#EXT-X-PRELOAD-HINT" => {
                let attrs = attributes(value);
                if playlist.endlist {
                    playlist.hints_after_endlist += 1;
                }
                playlist.preload_hints.push(PreloadHint {
                    kind: attribute(&attrs, "TYPE").unwrap_or_default().to_string(),
                    uri: attribute(&attrs, "URI").unwrap_or_default().to_string(),
                });
            }
            "#EXT-X-RENDITION-REPORT" => playlist.rendition_reports += 1,
            "#EXT-X-ENDLIST" => playlist.endlist = true,
            _ if !line.starts_with('#') => {
                sequence_base_fixed = true;
                let done = std::mem::take(&mut pending);
                playlist.segments.push(Segment {
                    msn: next_msn,
                    duration: done.duration.unwrap_or(0.0),
                    uri: line.to_string(),
                    parts: done.parts,
                    program_date_time: done.program_date_time,
                    discontinuity: done.discontinuity,
                    map_uri: map_uri.clone(),
                    gap: done.gap,
                });
                next_msn += 1;
            }
            _ => {}
        }
    }
    if !sequence_base_fixed {
        next_msn = playlist.media_sequence + playlist.skipped_segments;
    }
    playlist.trailing_parts = pending.parts;
    playlist.trailing_program_date_time = pending.program_date_time;
    playlist.next_msn = next_msn;
    playlist.map_uri = map_uri;
    playlist
}

fn check_before_parts(playlist: &mut MediaPlaylist, pending: &Pending, tag: &str, msn: u64) {
    if !pending.parts.is_empty() {
        playlist.order_violations.push(format!("{tag} after the first EXT-X-PART of segment {msn}"));
    }
}

/// One `#EXT-X-STREAM-INF` variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub attributes: Vec<(String, String)>,
    pub uri: String,
}

impl Variant {
    pub fn attribute(&self, name: &str) -> Option<&str> {
        attribute(&self.attributes, name)
    }
}

pub fn parse_multivariant(text: &str) -> Vec<Variant> {
    let mut variants = Vec::new();
    let mut pending: Option<Vec<(String, String)>> = None;
    for line in text.lines().map(str::trim) {
        if let Some(value) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            pending = Some(attributes(value));
        } else if !line.is_empty() && !line.starts_with('#') {
            if let Some(attrs) = pending.take() {
                variants.push(Variant { attributes: attrs, uri: line.to_string() });
            }
        }
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    const LL: &str = "#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6,HOLD-BACK=6,CAN-SKIP-UNTIL=12
#EXT-X-PART-INF:PART-TARGET=0.2
#EXT-X-MEDIA-SEQUENCE:10
#EXT-X-SKIP:SKIPPED-SEGMENTS=2
#EXT-X-MAP:URI=\"init0.mp4\"
#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00.000Z
#EXT-X-PART:DURATION=0.2,URI=\"seg12.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.2,URI=\"seg12.1.m4s\"
#EXTINF:0.4,
seg12.m4s
#EXT-X-PART:DURATION=0.2,URI=\"seg13.0.m4s\",INDEPENDENT=YES
#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00.400Z
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg13.1.m4s\"
#EXT-X-RENDITION-REPORT:URI=\"../x/media.m3u8\",LAST-MSN=13
";

    #[test]
    fn reads_low_latency_playlist() {
        let playlist = parse_media(LL);
        assert_eq!(playlist.version, Some(9));
        assert_eq!(playlist.target_duration, Some(2));
        assert_eq!(playlist.part_target, Some(0.2));
        let control = playlist.server_control.clone().unwrap();
        assert!(control.can_block_reload);
        assert_eq!(control.can_skip_until, Some(12.0));
        assert_eq!(playlist.segments.len(), 1);
        assert_eq!(playlist.segments[0].msn, 12);
        assert_eq!(playlist.segments[0].parts.len(), 2);
        assert_eq!(playlist.segments[0].map_uri.as_deref(), Some("init0.mp4"));
        assert_eq!(playlist.trailing_parts.len(), 1);
        assert_eq!(playlist.trailing_parts[0].msn, 13);
        assert!(playlist.trailing_parts[0].independent);
        assert_eq!(playlist.next_part_request(), (13, 1));
        assert_eq!(playlist.preload_hints.len(), 1);
        assert_eq!(playlist.rendition_reports, 1);
        assert_eq!(playlist.order_violations.len(), 1);
    }

    #[test]
    fn reads_classic_playlist_and_variants() {
        let playlist = parse_media("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.000,\na-3.ts\n#EXTINF:0.995,\na-4.ts\n");
        assert_eq!(playlist.segments.iter().map(|s| s.msn).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(playlist.next_part_request(), (5, 0));
        let variants = parse_multivariant(
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720\nmedia.m3u8\n",
        );
        assert_eq!(variants.len(), 1);
        assert_eq!(variants[0].attribute("CODECS"), Some("avc1.64001f,mp4a.40.2"));
        assert_eq!(variants[0].uri, "media.m3u8");
    }
}
