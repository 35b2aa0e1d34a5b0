//! A walker over ISO-BMFF boxes, with the checks the tests make of init
//! segments and fragments. Panics name the box that is wrong.

pub fn box_kinds(data: &[u8]) -> Vec<(String, usize, usize)> {
    let mut boxes = Vec::new();
    let mut offset = 0;
    while offset + 8 <= data.len() {
        let size = u32::from_be_bytes(data[offset..offset + 4].try_into().unwrap()) as usize;
        assert!(size >= 8 && offset + size <= data.len(), "box at {offset} has a bad size {size}");
        boxes.push((String::from_utf8_lossy(&data[offset + 4..offset + 8]).into_owned(), offset, size));
        offset += size;
    }
    assert_eq!(offset, data.len(), "trailing bytes after the last box");
    boxes
}

pub fn find_child<'a>(data: &'a [u8], path: &[&str]) -> Option<&'a [u8]> {
    let Some((first, rest)) = path.split_first() else { return Some(data) };
    let header = if ["stsd"].contains(first) { 16 } else { 8 };
    let (_, offset, size) = box_kinds(data).into_iter().find(|(kind, _, _)| kind == first)?;
    find_child(&data[offset + header.min(size)..offset + size], rest)
}

/// moof (mfhd, traf+), then mdat whose length is what the truns declare.
pub fn check_fragment(data: &[u8]) {
    let boxes = box_kinds(data);
    let kinds: Vec<&str> = boxes.iter().map(|(kind, _, _)| kind.as_str()).collect();
    assert_eq!(kinds, ["moof", "mdat"], "a part is one moof and one mdat");
    let moof = &data[8..boxes[0].2];
    let children = box_kinds(moof);
    assert_eq!(children[0].0, "mfhd");
    let mut declared = 0usize;
    for (_, offset, size) in children.iter().filter(|(kind, _, _)| kind == "traf") {
        let traf = &moof[offset + 8..offset + size];
        let inner: Vec<String> = box_kinds(traf).into_iter().map(|(kind, _, _)| kind).collect();
        assert_eq!(inner, ["tfhd", "tfdt", "trun"]);
        let trun = find_child(traf, &["trun"]).unwrap();
        let flags = u32::from_be_bytes(trun[0..4].try_into().unwrap()) & 0xff_ffff;
        let count = u32::from_be_bytes(trun[4..8].try_into().unwrap()) as usize;
        let mut cursor = 8 + if flags & 0x1 != 0 { 4 } else { 0 } + if flags & 0x4 != 0 { 4 } else { 0 };
        let per_sample: usize = [0x100, 0x200, 0x400, 0x800].iter().filter(|bit| flags & **bit != 0).count() * 4;
        assert!(flags & 0x200 != 0, "sample sizes are explicit");
        let size_at = if flags & 0x100 != 0 { 4 } else { 0 };
        for _ in 0..count {
            declared += u32::from_be_bytes(trun[cursor + size_at..cursor + size_at + 4].try_into().unwrap()) as usize;
            cursor += per_sample;
        }
    }
    assert_eq!(boxes[1].2 - 8, declared, "mdat holds exactly the samples the truns declare");
}
