//! Just enough ISO-BMFF reading to check parts: which box comes first, which
//! track is video, and whether a fragment's first video sample is a sync sample.

/// A box header found in a buffer: type and the byte range of its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxRef {
    pub kind: [u8; 4],
    pub start: usize,
    pub end: usize,
}

/// Top-level boxes of `data`; stops at the first malformed header.
pub fn boxes(data: &[u8]) -> Vec<BoxRef> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let size32 = read_u32(data, pos).unwrap_or(0) as usize;
        let kind = [data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]];
        let (header, size) = match size32 {
            0 => (8, data.len() - pos),
            1 => match read_u64(data, pos + 8) {
                Some(large) => (16, usize::try_from(large).unwrap_or(usize::MAX)),
                None => break,
            },
            size => (8, size),
        };
        if size < header || pos.saturating_add(size) > data.len() {
            break;
        }
        out.push(BoxRef { kind, start: pos + header, end: pos + size });
        pos += size;
    }
    out
}

pub fn first_box_kind(data: &[u8]) -> Option<String> {
    boxes(data).first().map(|found| String::from_utf8_lossy(&found.kind).into_owned())
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).into_iter().find(|found| &found.kind == kind).map(|found| &data[found.start..found.end])
}

fn children<'a>(data: &'a [u8], kind: &'a [u8; 4]) -> impl Iterator<Item = &'a [u8]> + 'a {
    boxes(data).into_iter().filter(move |found| &found.kind == kind).map(move |found| &data[found.start..found.end])
}

fn read_u32(data: &[u8], pos: usize) -> Option<u32> {
    let bytes = data.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn read_u64(data: &[u8], pos: usize) -> Option<u64> {
    let high = read_u32(data, pos)? as u64;
    let low = read_u32(data, pos + 4)? as u64;
    Some((high << 32) | low)
}

/// What the init segment tells about its tracks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitInfo {
    pub video_track_id: Option<u32>,
    /// trex default_sample_flags per track id.
    pub trex_flags: Vec<(u32, u32)>,
}

pub fn parse_init(data: &[u8]) -> InitInfo {
    let mut info = InitInfo::default();
    let Some(moov) = child(data, b"moov") else {
        return info;
    };
    for trak in children(moov, b"trak") {
        // tkhd: version(1) flags(3) then times of 4 or 8 bytes, then track_ID.
        let track_id = child(trak, b"tkhd").and_then(|tkhd| {
            let offset = if tkhd.first() == Some(&1) { 4 + 16 } else { 4 + 8 };
            read_u32(tkhd, offset)
        });
        // hdlr: version/flags(4) pre_defined(4) handler_type(4).
        let handler = child(trak, b"mdia").and_then(|mdia| child(mdia, b"hdlr")).and_then(|hdlr| hdlr.get(8..12));
        if handler == Some(b"vide") && info.video_track_id.is_none() {
            info.video_track_id = track_id;
        }
    }
    if let Some(mvex) = child(moov, b"mvex") {
        for trex in children(mvex, b"trex") {
            // version/flags(4) track_ID(4) desc_index(4) duration(4) size(4) flags(4)
            if let (Some(id), Some(flags)) = (read_u32(trex, 4), read_u32(trex, 20)) {
                info.trex_flags.push((id, flags));
            }
        }
    }
    info
}

/// Sample flag bit that marks a non-sync (non-key) sample.
const SAMPLE_IS_NON_SYNC: u32 = 0x0001_0000;

/// Whether the first video sample of the first fragment in `data` is a sync sample.
/// `None` when the fragment carries no video or cannot be read.
pub fn starts_with_keyframe(data: &[u8], init: &InitInfo) -> Option<bool> {
    let moof = child(data, b"moof")?;
    for traf in children(moof, b"traf") {
        let tfhd = child(traf, b"tfhd")?;
        let tfhd_flags = read_u32(tfhd, 0)? & 0x00ff_ffff;
        let track_id = read_u32(tfhd, 4)?;
        if init.video_track_id.is_some_and(|video| video != track_id) {
            continue;
        }
        // Optional tfhd fields, in order, after track_ID.
        let mut pos = 8;
        let mut default_flags = None;
        for (bit, width) in [(0x01, 8), (0x02, 4), (0x08, 4), (0x10, 4), (0x20, 4)] {
            if tfhd_flags & bit != 0 {
                if bit == 0x20 {
                    default_flags = read_u32(tfhd, pos);
                }
                pos += width;
            }
        }
        let default_flags =
            default_flags.or_else(|| init.trex_flags.iter().find(|(id, _)| *id == track_id).map(|(_, flags)| *flags));
        let trun = child(traf, b"trun")?;
        let trun_flags = read_u32(trun, 0)? & 0x00ff_ffff;
        let sample_count = read_u32(trun, 4)?;
        if sample_count == 0 {
            continue;
        }
        let mut pos = 8;
        if trun_flags & 0x01 != 0 {
            pos += 4; // data_offset
        }
        let first_flags = if trun_flags & 0x04 != 0 {
            read_u32(trun, pos)
        } else if trun_flags & 0x400 != 0 {
            // Per-sample flags follow duration and size when present.
            let skip = [(0x100, 4), (0x200, 4)]
                .iter()
                .filter(|(bit, _)| trun_flags & bit != 0)
                .map(|(_, width)| width)
                .sum::<usize>();
            read_u32(trun, pos + skip)
        } else {
            default_flags
        };
        return first_flags.map(|flags| flags & SAMPLE_IS_NON_SYNC == 0);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp4_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(payload);
        out
    }

    fn fragment(first_sample_flags: u32) -> Vec<u8> {
        let tfhd = mp4_box(b"tfhd", &[0, 0x02, 0, 0, 0, 0, 0, 1]);
        let mut trun_payload = vec![0, 0, 0x00, 0x05]; // data_offset + first_sample_flags
        trun_payload.extend_from_slice(&1u32.to_be_bytes());
        trun_payload.extend_from_slice(&0u32.to_be_bytes());
        trun_payload.extend_from_slice(&first_sample_flags.to_be_bytes());
        let traf = mp4_box(b"traf", &[tfhd, mp4_box(b"trun", &trun_payload)].concat());
        let mut out = mp4_box(b"moof", &traf);
        out.extend(mp4_box(b"mdat", &[1, 2, 3]));
        out
    }

    #[test]
    fn detects_sync_first_sample() {
        let init = InitInfo { video_track_id: Some(1), trex_flags: vec![] };
        assert_eq!(first_box_kind(&fragment(0x0200_0000)).as_deref(), Some("moof"));
        assert_eq!(starts_with_keyframe(&fragment(0x0200_0000), &init), Some(true));
        assert_eq!(starts_with_keyframe(&fragment(0x0101_0000), &init), Some(false));
        assert_eq!(starts_with_keyframe(&[0, 0, 0, 3], &init), None);
    }
}
