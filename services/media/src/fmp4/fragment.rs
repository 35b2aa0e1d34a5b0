//! Media fragments: one `moof` followed by one `mdat`.
//!
//! Every box size is known from the sample counts, so the output buffer is
//! sized exactly up front and data offsets are written directly.

use bytes::{BufMut, Bytes, BytesMut};

use super::boxes::{write_box, write_full_box};
use super::{Sample, TrackRun};

const BOX_HEADER: usize = 8;
const FULL_BOX_HEADER: usize = 12;
const MFHD_SIZE: usize = FULL_BOX_HEADER + 4;
/// tfhd with only the track id: no optional fields present.
const TFHD_SIZE: usize = FULL_BOX_HEADER + 4;
const TFDT_V1_SIZE: usize = FULL_BOX_HEADER + 8;
/// trun header: sample_count and data_offset.
const TRUN_FIXED_SIZE: usize = FULL_BOX_HEADER + 4 + 4;

const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
const TRUN_DATA_OFFSET: u32 = 0x00_0001;
const TRUN_SAMPLE_DURATION: u32 = 0x00_0100;
const TRUN_SAMPLE_SIZE: u32 = 0x00_0200;
const TRUN_SAMPLE_FLAGS: u32 = 0x00_0400;
const TRUN_SAMPLE_COMPOSITION_OFFSET: u32 = 0x00_0800;

/// sample_depends_on = 2: an I picture, decodable on its own.
pub const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// sample_depends_on = 1 and sample_is_non_sync_sample = 1.
pub const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;

pub fn media_fragment(sequence_number: u32, runs: &[TrackRun]) -> Bytes {
    let moof_size = BOX_HEADER + MFHD_SIZE + runs.iter().map(traf_size).sum::<usize>();
    let data_size: usize = runs.iter().flat_map(|run| &run.data).map(Bytes::len).sum();
    debug_assert_eq!(
        data_size as u64,
        runs.iter().flat_map(|run| &run.samples).map(|sample| u64::from(sample.size)).sum::<u64>(),
        "TrackRun data must add up to the sample sizes"
    );
    // The 64-bit form is only needed past 4 GiB, never for live fragments,
    // but costs nothing to get right.
    let mdat_header = if data_size + BOX_HEADER > u32::MAX as usize { 16 } else { BOX_HEADER };

    let mut out = BytesMut::with_capacity(moof_size + mdat_header + data_size);
    write_box(&mut out, b"moof", |out| {
        write_full_box(out, b"mfhd", 0, 0, |out| out.put_u32(sequence_number));
        let mut data_offset = moof_size + mdat_header;
        for run in runs {
            write_traf(out, run, data_offset);
            data_offset += run.data.iter().map(Bytes::len).sum::<usize>();
        }
    });
    debug_assert_eq!(out.len(), moof_size);

    if mdat_header == BOX_HEADER {
        out.put_u32((data_size + BOX_HEADER) as u32);
        out.put_slice(b"mdat");
    } else {
        out.put_u32(1);
        out.put_slice(b"mdat");
        out.put_u64((data_size + mdat_header) as u64);
    }
    for chunk in runs.iter().flat_map(|run| &run.data) {
        out.put_slice(chunk);
    }
    out.freeze()
}

fn has_composition_offsets(run: &TrackRun) -> bool {
    run.samples.iter().any(|sample| sample.composition_offset != 0)
}

/// Per-sample trun entry: duration, size, flags and, when any sample is
/// reordered, the composition offset.
fn trun_entry_size(run: &TrackRun) -> usize {
    if has_composition_offsets(run) {
        16
    } else {
        12
    }
}

fn traf_size(run: &TrackRun) -> usize {
    let trun_size = TRUN_FIXED_SIZE + run.samples.len() * trun_entry_size(run);
    BOX_HEADER + TFHD_SIZE + TFDT_V1_SIZE + trun_size
}

fn write_traf(out: &mut BytesMut, run: &TrackRun, data_offset: usize) {
    write_box(out, b"traf", |out| {
        write_full_box(out, b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF, |out| {
            out.put_u32(run.track_id);
        });
        write_full_box(out, b"tfdt", 1, 0, |out| out.put_u64(run.base_decode_time));

        let with_offsets = has_composition_offsets(run);
        let mut flags = TRUN_DATA_OFFSET | TRUN_SAMPLE_DURATION | TRUN_SAMPLE_SIZE;
        flags |= TRUN_SAMPLE_FLAGS;
        if with_offsets {
            flags |= TRUN_SAMPLE_COMPOSITION_OFFSET;
        }
        // Version 1 makes composition offsets signed.
        write_full_box(out, b"trun", 1, flags, |out| {
            out.put_u32(u32::try_from(run.samples.len()).unwrap_or(u32::MAX));
            out.put_i32(i32::try_from(data_offset).unwrap_or(i32::MAX));
            for sample in &run.samples {
                put_trun_entry(out, sample, with_offsets);
            }
        });
    });
}

fn put_trun_entry(out: &mut BytesMut, sample: &Sample, with_offset: bool) {
    out.put_u32(sample.duration);
    out.put_u32(sample.size);
    out.put_u32(if sample.keyframe { SYNC_SAMPLE_FLAGS } else { NON_SYNC_SAMPLE_FLAGS });
    if with_offset {
        out.put_i32(sample.composition_offset);
    }
}
