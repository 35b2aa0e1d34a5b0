//! Minimal ISO BMFF box writing: a header with a placeholder size, a closure
//! for the body, then the size patched in once the body length is known.

use bytes::{BufMut, BytesMut};

pub type FourCc = [u8; 4];

/// Identity transform shared by `mvhd` and `tkhd`.
pub const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// Writes `fourcc` with the body produced by `body`.
///
/// The boxes built here (init segments, `moof`) stay far below 4 GiB; a
/// larger body would saturate the size field, which parsers reject, rather
/// than wrap into a plausible but wrong value.
pub fn write_box(out: &mut BytesMut, fourcc: &FourCc, body: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_u32(0);
    out.put_slice(fourcc);
    body(out);
    let size = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
    if let Some(field) = out.get_mut(start..start + 4) {
        field.copy_from_slice(&size.to_be_bytes());
    }
}

/// A box whose body starts with the version byte and 24 bits of flags.
pub fn write_full_box(out: &mut BytesMut, fourcc: &FourCc, version: u8, flags: u32, body: impl FnOnce(&mut BytesMut)) {
    write_box(out, fourcc, |out| {
        out.put_u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
        body(out);
    });
}

pub fn put_matrix(out: &mut BytesMut) {
    for value in UNITY_MATRIX {
        out.put_u32(value);
    }
}

pub fn put_zeros(out: &mut BytesMut, count: usize) {
    out.put_bytes(0, count);
}

/// ISO 639-2/T code packed as three 5-bit letters offset from 0x60.
pub fn packed_language(code: &[u8; 3]) -> u16 {
    code.iter().fold(0u16, |packed, &letter| (packed << 5) | (u16::from(letter.wrapping_sub(0x60)) & 0x1f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_patches_nested_sizes() {
        let mut out = BytesMut::new();
        write_box(&mut out, b"outr", |out| {
            write_full_box(out, b"innr", 1, 0x020000, |out| out.put_u16(7));
        });
        let expected: &[u8] = &[
            0, 0, 0, 22, b'o', b'u', b't', b'r', // outer
            0, 0, 0, 14, b'i', b'n', b'n', b'r', 1, 0x02, 0, 0, 0, 7,
        ];
        assert_eq!(&out[..], expected);
    }

    #[test]
    fn packs_undetermined_language() {
        assert_eq!(packed_language(b"und"), 0x55c4);
    }
}
