//! Initialization segment: `ftyp` + `moov` with empty sample tables and a
//! `mvex` announcing that all samples live in movie fragments.

use bytes::{BufMut, Bytes, BytesMut};

use super::boxes::{packed_language, put_matrix, put_zeros, write_box, write_full_box};
use super::{TrackMedia, TrackSpec};
use crate::codec::{AacConfig, AudioConfig, OpusConfig, VideoConfig, OPUS_RATE};

/// Movie-level clock; nothing is timed at this level, so any value works.
const MOVIE_TIMESCALE: u32 = 1000;
const TKHD_ENABLED_IN_MOVIE: u32 = 0x000003;

pub fn init_segment(tracks: &[TrackSpec]) -> Bytes {
    let record_bytes: usize = tracks.iter().map(|track| track_record(track).len()).sum();
    let mut out = BytesMut::with_capacity(512 + tracks.len() * 600 + record_bytes);
    write_ftyp(&mut out, tracks);
    write_box(&mut out, b"moov", |out| {
        write_mvhd(out, tracks);
        for track in tracks {
            write_trak(out, track);
        }
        write_box(out, b"mvex", |out| {
            for track in tracks {
                write_trex(out, track.track_id);
            }
        });
    });
    out.freeze()
}

fn track_record(track: &TrackSpec) -> &Bytes {
    match &track.media {
        TrackMedia::Video(video) => video.record(),
        TrackMedia::Audio(audio) => audio.record(),
    }
}

/// `iso6` covers `tfdt` v1 and signed `trun` offsets. `cmfc` is only
/// claimed for single-track files, as CMAF tracks cannot be multiplexed.
/// The AV1 binding requires `av01` among the brands of a file with AV1.
fn write_ftyp(out: &mut BytesMut, tracks: &[TrackSpec]) {
    let has_av1 = tracks.iter().any(|track| matches!(track.media, TrackMedia::Video(VideoConfig::Av1(_))));
    write_box(out, b"ftyp", |out| {
        out.put_slice(b"iso6");
        out.put_u32(0);
        out.put_slice(b"iso6");
        if tracks.len() == 1 {
            out.put_slice(b"cmfc");
        }
        if has_av1 {
            out.put_slice(b"av01");
        }
        out.put_slice(b"mp41");
    });
}

fn write_mvhd(out: &mut BytesMut, tracks: &[TrackSpec]) {
    let next_track_id = tracks.iter().map(|track| track.track_id).max().unwrap_or(0);
    write_full_box(out, b"mvhd", 0, 0, |out| {
        out.put_u32(0); // creation_time
        out.put_u32(0); // modification_time
        out.put_u32(MOVIE_TIMESCALE);
        out.put_u32(0); // duration: unknown, live
        out.put_u32(0x0001_0000); // rate 1.0
        out.put_u16(0x0100); // volume 1.0
        put_zeros(out, 10);
        put_matrix(out);
        put_zeros(out, 24); // pre_defined
        out.put_u32(next_track_id.saturating_add(1));
    });
}

fn write_trak(out: &mut BytesMut, track: &TrackSpec) {
    write_box(out, b"trak", |out| {
        write_tkhd(out, track);
        write_box(out, b"mdia", |out| {
            write_full_box(out, b"mdhd", 0, 0, |out| {
                out.put_u32(0); // creation_time
                out.put_u32(0); // modification_time
                out.put_u32(track.timescale);
                out.put_u32(0); // duration
                out.put_u16(packed_language(b"und"));
                out.put_u16(0);
            });
            let (handler, name): (&[u8; 4], &[u8]) = match track.media {
                TrackMedia::Video(_) => (b"vide", b"VideoHandler\0"),
                TrackMedia::Audio(_) => (b"soun", b"SoundHandler\0"),
            };
            write_full_box(out, b"hdlr", 0, 0, |out| {
                out.put_u32(0); // pre_defined
                out.put_slice(handler);
                put_zeros(out, 12);
                out.put_slice(name);
            });
            write_box(out, b"minf", |out| write_minf(out, &track.media));
        });
    });
}

fn write_tkhd(out: &mut BytesMut, track: &TrackSpec) {
    let (volume, width, height) = match &track.media {
        TrackMedia::Video(video) => (0, video.width(), video.height()),
        TrackMedia::Audio(_) => (0x0100, 0, 0),
    };
    write_full_box(out, b"tkhd", 0, TKHD_ENABLED_IN_MOVIE, |out| {
        out.put_u32(0); // creation_time
        out.put_u32(0); // modification_time
        out.put_u32(track.track_id);
        out.put_u32(0); // reserved
        out.put_u32(0); // duration
        put_zeros(out, 8);
        out.put_u16(0); // layer
        out.put_u16(0); // alternate_group
        out.put_u16(volume);
        out.put_u16(0);
        put_matrix(out);
        out.put_u32(to_fixed_16_16(width));
        out.put_u32(to_fixed_16_16(height));
    });
}

fn to_fixed_16_16(value: u32) -> u32 {
    value.min(0xffff) << 16
}

fn write_minf(out: &mut BytesMut, media: &TrackMedia) {
    match media {
        TrackMedia::Video(_) => write_full_box(out, b"vmhd", 0, 1, |out| {
            put_zeros(out, 8); // graphicsmode, opcolor
        }),
        TrackMedia::Audio(_) => write_full_box(out, b"smhd", 0, 0, |out| {
            put_zeros(out, 4); // balance, reserved
        }),
    }
    write_box(out, b"dinf", |out| {
        write_full_box(out, b"dref", 0, 0, |out| {
            out.put_u32(1);
            // Flag 1: media data is in this file.
            write_full_box(out, b"url ", 0, 1, |_| {});
        });
    });
    write_box(out, b"stbl", |out| {
        write_full_box(out, b"stsd", 0, 0, |out| {
            out.put_u32(1);
            match media {
                TrackMedia::Video(video) => write_visual_sample_entry(out, video),
                TrackMedia::Audio(AudioConfig::Aac(aac)) => write_mp4a(out, aac),
                TrackMedia::Audio(AudioConfig::Opus(opus)) => write_opus(out, opus),
            }
        });
        for empty in [b"stts", b"stsc", b"stco"] {
            write_full_box(out, empty, 0, 0, |out| out.put_u32(0));
        }
        write_full_box(out, b"stsz", 0, 0, |out| {
            out.put_u32(0); // sample_size
            out.put_u32(0); // sample_count
        });
    });
}

/// SampleEntry prefix: six reserved bytes and data_reference_index 1.
fn put_sample_entry_header(out: &mut BytesMut) {
    put_zeros(out, 6);
    out.put_u16(1);
}

/// `avc1`/`avcC`, `hvc1`/`hvcC` or `av01`/`av1C`, the configuration box
/// holding the record exactly as the publisher sent it. `hvc1` (rather than
/// `hev1`) is what Apple players require; it promises parameter sets in the
/// record, which Enhanced RTMP always sends.
fn write_visual_sample_entry(out: &mut BytesMut, video: &VideoConfig) {
    let (entry, config): (&[u8; 4], &[u8; 4]) = match video {
        VideoConfig::Avc(_) => (b"avc1", b"avcC"),
        VideoConfig::Hevc(_) => (b"hvc1", b"hvcC"),
        VideoConfig::Av1(_) => (b"av01", b"av1C"),
    };
    write_box(out, entry, |out| {
        put_sample_entry_header(out);
        put_zeros(out, 16); // pre_defined, reserved, pre_defined[3]
        out.put_u16(video.width().min(0xffff) as u16);
        out.put_u16(video.height().min(0xffff) as u16);
        out.put_u32(0x0048_0000); // 72 dpi horizontal
        out.put_u32(0x0048_0000); // 72 dpi vertical
        out.put_u32(0);
        out.put_u16(1); // frame_count
        put_zeros(out, 32); // compressorname
        out.put_u16(0x0018); // depth
        out.put_i16(-1);
        write_box(out, config, |out| out.put_slice(video.record()));
    });
}

fn write_mp4a(out: &mut BytesMut, aac: &AacConfig) {
    // 16.16 field: rates above 65535 Hz cannot be expressed, and decoders
    // take the real rate from the ASC anyway.
    let rate = if aac.sample_rate <= 0xffff { aac.sample_rate } else { 0 };
    write_audio_sample_entry(out, b"mp4a", aac.channels, rate, |out| write_esds(out, &aac.record));
}

/// `Opus` sample entry with its `dOps` box (Opus in ISOBMFF, 4.3).
fn write_opus(out: &mut BytesMut, opus: &OpusConfig) {
    write_audio_sample_entry(out, b"Opus", opus.channels, OPUS_RATE, |out| {
        write_box(out, b"dOps", |out| out.put_slice(&opus.dops_body()))
    });
}

/// AudioSampleEntry (ISO/IEC 14496-12 12.2.3) followed by the codec's box.
fn write_audio_sample_entry(
    out: &mut BytesMut,
    entry: &[u8; 4],
    channels: u8,
    sample_rate: u32,
    codec_box: impl FnOnce(&mut BytesMut),
) {
    write_box(out, entry, |out| {
        put_sample_entry_header(out);
        put_zeros(out, 8);
        out.put_u16(u16::from(channels));
        out.put_u16(16); // samplesize
        put_zeros(out, 4); // pre_defined, reserved
        out.put_u32(sample_rate << 16);
        codec_box(out);
    });
}

/// ES_Descriptor (ISO/IEC 14496-1 7.2.6.5) wrapping the ASC.
fn write_esds(out: &mut BytesMut, asc: &[u8]) {
    const ES_DESCRIPTOR: u8 = 0x03;
    const DECODER_CONFIG: u8 = 0x04;
    const DECODER_SPECIFIC_INFO: u8 = 0x05;
    const SL_CONFIG: u8 = 0x06;
    const OBJECT_TYPE_MPEG4_AUDIO: u8 = 0x40;
    const STREAM_TYPE_AUDIO: u8 = 0x05;
    const SL_PREDEFINED_MP4: u8 = 0x02;

    let specific_len = descriptor_len(asc.len());
    let config_len = descriptor_len(13 + specific_len);
    let es_len = 3 + config_len + descriptor_len(1);
    write_full_box(out, b"esds", 0, 0, |out| {
        put_descriptor_header(out, ES_DESCRIPTOR, es_len);
        out.put_u16(0); // ES_ID
        out.put_u8(0); // no dependency, URL or OCR stream
        put_descriptor_header(out, DECODER_CONFIG, 13 + specific_len);
        out.put_u8(OBJECT_TYPE_MPEG4_AUDIO);
        out.put_u8((STREAM_TYPE_AUDIO << 2) | 0x01); // upStream 0, reserved 1
        put_zeros(out, 3); // bufferSizeDB
        out.put_u32(0); // maxBitrate
        out.put_u32(0); // avgBitrate
        put_descriptor_header(out, DECODER_SPECIFIC_INFO, asc.len());
        out.put_slice(asc);
        put_descriptor_header(out, SL_CONFIG, 1);
        out.put_u8(SL_PREDEFINED_MP4);
    });
}

/// Size of a descriptor whose payload is `payload` bytes: tag, the
/// variable-length size field, then the payload.
fn descriptor_len(payload: usize) -> usize {
    1 + size_field_len(payload) + payload
}

fn size_field_len(payload: usize) -> usize {
    let mut len = 1;
    while len < 4 && payload >> (7 * len) != 0 {
        len += 1;
    }
    len
}

/// Size in 7-bit groups, high bit set on all but the last. Payloads here are
/// capped by the ASC limit, well inside the four-group maximum.
fn put_descriptor_header(out: &mut BytesMut, tag: u8, payload: usize) {
    out.put_u8(tag);
    let groups = size_field_len(payload);
    for index in (0..groups).rev() {
        let more = if index > 0 { 0x80 } else { 0 };
        out.put_u8(((payload >> (7 * index)) & 0x7f) as u8 | more);
    }
}

fn write_trex(out: &mut BytesMut, track_id: u32) {
    write_full_box(out, b"trex", 0, 0, |out| {
        out.put_u32(track_id);
        out.put_u32(1); // default_sample_description_index
        out.put_u32(0); // default_sample_duration
        out.put_u32(0); // default_sample_size
        out.put_u32(0); // default_sample_flags
    });
}
