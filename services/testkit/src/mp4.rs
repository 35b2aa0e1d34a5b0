//! ISO-BMFF boxes for tests, read with the load tool's reader
//! (`loadtest::mp4`, which checks parts from outside at run time), with the
//! checks the tests make of init segments and fragments on top: the boxes
//! must fill their parent exactly, and panics name the box that is wrong.

use loadtest::mp4::BoxRef;

/// The boxes directly inside `data`, which must fill it exactly.
fn boxes(data: &[u8]) -> Vec<BoxRef> {
    let found = loadtest::mp4::boxes(data);
    let mut offset = 0;
    for found in &found {
        // The reader takes 0 (to the end) and 1 (64-bit size); our writers use neither.
        let size = be32(data, offset);
        assert!(size >= 8, "box at {offset} has a bad size {size}");
        offset = found.end;
    }
    // The reader stops at the first box that does not fit.
    if data.len() - offset >= 8 {
        panic!("box at {offset} has a bad size {}", be32(data, offset));
    }
    assert_eq!(offset, data.len(), "trailing bytes after the last box");
    found
}

/// (fourcc, payload) of each box directly inside `data`, which they must fill exactly.
pub fn children(data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    boxes(data).into_iter().map(|found| (found.kind, &data[found.start..found.end])).collect()
}

/// The kinds of the boxes directly inside `data`, in order.
pub fn kinds(data: &[u8]) -> Vec<String> {
    boxes(data).iter().map(|found| String::from_utf8_lossy(&found.kind).into_owned()).collect()
}

/// The payload of the box at `path` below `data`, the first of its kind at
/// each level. `stsd` is entered past its version, flags and entry count, so
/// its payload starts with the first sample entry.
pub fn find_child<'a>(data: &'a [u8], path: &[&str]) -> Option<&'a [u8]> {
    let Some((first, rest)) = path.split_first() else { return Some(data) };
    let found = boxes(data).into_iter().find(|found| found.kind == first.as_bytes())?;
    let skip = if *first == "stsd" { 8 } else { 0 };
    find_child(&data[(found.start + skip).min(found.end)..found.end], rest)
}

/// As [`find_child`]; panics naming the box that is missing.
pub fn child<'a>(data: &'a [u8], path: &[&str]) -> &'a [u8] {
    let mut current = data;
    for (depth, kind) in path.iter().enumerate() {
        current = find_child(current, &path[depth..=depth]).unwrap_or_else(|| panic!("missing {kind}"));
    }
    current
}

/// The big-endian u32 at `at`.
pub fn be32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(data[at..at + 4].try_into().unwrap())
}

/// moof (mfhd, traf+), then mdat whose length is what the truns declare.
pub fn check_fragment(data: &[u8]) {
    let top = children(data);
    let top_kinds: Vec<&[u8; 4]> = top.iter().map(|(kind, _)| kind).collect();
    assert_eq!(top_kinds, [b"moof", b"mdat"], "a part is one moof and one mdat");
    let (moof, mdat) = (top[0].1, top[1].1);
    let moof_children = children(moof);
    assert_eq!(&moof_children[0].0, b"mfhd");
    let mut declared = 0usize;
    for (_, traf) in moof_children.iter().filter(|(kind, _)| kind == b"traf") {
        assert_eq!(kinds(traf), ["tfhd", "tfdt", "trun"]);
        let trun = child(traf, &["trun"]);
        let flags = be32(trun, 0) & 0xff_ffff;
        let count = be32(trun, 4) as usize;
        let mut cursor = 8 + if flags & 0x1 != 0 { 4 } else { 0 } + if flags & 0x4 != 0 { 4 } else { 0 };
        let per_sample: usize = [0x100, 0x200, 0x400, 0x800].iter().filter(|bit| flags & **bit != 0).count() * 4;
        assert!(flags & 0x200 != 0, "sample sizes are explicit");
        let size_at = if flags & 0x100 != 0 { 4 } else { 0 };
        for _ in 0..count {
            declared += be32(trun, cursor + size_at) as usize;
            cursor += per_sample;
        }
    }
    assert_eq!(mdat.len(), declared, "mdat holds exactly the samples the truns declare");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp4_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        [&((payload.len() + 8) as u32).to_be_bytes()[..], kind, payload].concat()
    }

    #[test]
    fn walks_nested_boxes() {
        let stsd = mp4_box(b"stsd", &[[0u8, 0, 0, 0, 0, 0, 0, 1].as_slice(), &mp4_box(b"avc1", b"entry")].concat());
        let moov = mp4_box(b"moov", &mp4_box(b"trak", &stsd));
        let file = [mp4_box(b"ftyp", b"iso6"), moov].concat();
        assert_eq!(kinds(&file), ["ftyp", "moov"]);
        assert_eq!(child(&file, &["ftyp"]), b"iso6");
        assert_eq!(child(&file, &["moov", "trak", "stsd", "avc1"]), b"entry");
        assert_eq!(find_child(&file, &["moov", "mvex"]), None);
    }

    #[test]
    #[should_panic(expected = "trailing bytes after the last box")]
    fn trailing_bytes_fail() {
        kinds(&[mp4_box(b"free", b""), vec![0, 0, 0]].concat());
    }

    #[test]
    #[should_panic(expected = "box at 8 has a bad size 100")]
    fn a_box_past_the_end_fails() {
        let mut file = [mp4_box(b"free", b""), mp4_box(b"mdat", b"12345678")].concat();
        file[8..12].copy_from_slice(&100u32.to_be_bytes());
        kinds(&file);
    }

    #[test]
    #[should_panic(expected = "box at 0 has a bad size 0")]
    fn size_zero_fails() {
        kinds(&[0, 0, 0, 0, b'm', b'd', b'a', b't']);
    }
}
