use super::*;
use testkit::mp4::{be32, child, children};

use crate::{AudioCodec, VideoCodec};

/// 320x240 Constrained Baseline avcC from libx264.
const AVC_RECORD: &[u8] = &[
    0x01, 0x42, 0xc0, 0x0d, 0xff, 0xe1, 0x00, 0x18, 0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00,
    0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0xa4, 0x80, 0x01, 0x00, 0x05, 0x68, 0xcb, 0x83,
    0xcb, 0x20,
];
const ASC: &[u8] = &[0x12, 0x10];

fn tracks() -> Vec<TrackSpec> {
    let video = VideoConfig::parse(VideoCodec::H264, Bytes::from_static(AVC_RECORD)).unwrap();
    let audio = AudioConfig::parse(AudioCodec::Aac, Bytes::from_static(ASC)).unwrap();
    vec![
        TrackSpec { track_id: 1, timescale: 90_000, media: TrackMedia::Video(video) },
        TrackSpec { track_id: 2, timescale: 44_100, media: TrackMedia::Audio(audio) },
    ]
}

#[test]
fn init_segment_layout() {
    let init = init_segment(&tracks());
    let top: Vec<[u8; 4]> = children(&init).iter().map(|(name, _)| *name).collect();
    assert_eq!(top, [*b"ftyp", *b"moov"]);
    assert_eq!(child(&init, &["ftyp"]), b"iso6\0\0\0\0iso6mp41");

    let moov = child(&init, &["moov"]);
    let names: Vec<[u8; 4]> = children(moov).iter().map(|(name, _)| *name).collect();
    assert_eq!(names, [*b"mvhd", *b"trak", *b"trak", *b"mvex"]);
    let mvhd = child(moov, &["mvhd"]);
    assert_eq!(be32(mvhd, 96), 3, "next_track_id");

    let traks: Vec<&[u8]> = children(moov).into_iter().filter(|(n, _)| n == b"trak").map(|(_, b)| b).collect();
    let video_tkhd = child(traks[0], &["tkhd"]);
    assert_eq!(be32(video_tkhd, 12), 1, "track_id");
    assert_eq!((be32(video_tkhd, 76), be32(video_tkhd, 80)), (320 << 16, 240 << 16));
    let audio_tkhd = child(traks[1], &["tkhd"]);
    assert_eq!(&audio_tkhd[36..38], &[0x01, 0x00], "audio volume");

    let mdhd = child(traks[1], &["mdia", "mdhd"]);
    assert_eq!(be32(mdhd, 12), 44_100);
    assert_eq!(&mdhd[20..22], &[0x55, 0xc4], "language und");
    let hdlr = child(traks[0], &["mdia", "hdlr"]);
    assert_eq!(&hdlr[8..12], b"vide");
    assert_eq!(&hdlr[24..], b"VideoHandler\0");

    let stsd = child(traks[0], &["mdia", "minf", "stbl", "stsd"]);
    let avc1 = child(stsd, &["avc1"]);
    assert_eq!(&avc1[24..28], &[0x01, 0x40, 0x00, 0xf0], "avc1 width/height");
    assert_eq!(&avc1[74..78], &[0x00, 0x18, 0xff, 0xff], "depth, pre_defined");
    assert_eq!(child(&avc1[78..], &["avcC"]), AVC_RECORD);

    let stsd = child(traks[1], &["mdia", "minf", "stbl", "stsd"]);
    let mp4a = child(stsd, &["mp4a"]);
    assert_eq!(&mp4a[16..18], &[0, 2], "channel count");
    assert_eq!(be32(mp4a, 24), 44_100 << 16);
    let esds = child(&mp4a[28..], &["esds"]);
    let expected_esds: &[u8] = &[
        0, 0, 0, 0, // version, flags
        0x03, 25, 0, 0, 0, // ES_Descriptor
        0x04, 17, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // DecoderConfig
        0x05, 2, 0x12, 0x10, // DecoderSpecificInfo
        0x06, 1, 0x02, // SLConfig
    ];
    assert_eq!(esds, expected_esds);

    let trex: Vec<u32> = children(child(moov, &["mvex"])).iter().map(|(_, b)| be32(b, 4)).collect();
    assert_eq!(trex, [1, 2]);
}

#[test]
fn single_track_init_claims_cmaf() {
    let init = init_segment(&tracks()[..1]);
    assert_eq!(child(&init, &["ftyp"]), b"iso6\0\0\0\0iso6cmfcmp41");
}

fn sample(duration: u32, size: u32, keyframe: bool, composition_offset: i32) -> Sample {
    Sample { duration, size, keyframe, composition_offset }
}

#[test]
fn fragment_offsets_point_into_mdat() {
    let video = TrackRun {
        track_id: 1,
        base_decode_time: 1 << 40,
        samples: vec![sample(3000, 3, true, 6000), sample(3000, 2, false, -3000)],
        data: vec![Bytes::from_static(b"abc"), Bytes::from_static(b"de")],
    };
    let audio = TrackRun {
        track_id: 2,
        base_decode_time: 0,
        samples: vec![sample(1024, 4, true, 0)],
        data: vec![Bytes::from_static(b"wxyz")],
    };
    let fragment = media_fragment(7, &[video, audio]);
    let top = children(&fragment);
    assert_eq!(top.len(), 2);
    assert_eq!((&top[0].0, &top[1].0), (b"moof", b"mdat"));
    assert_eq!(top[1].1, b"abcdewxyz");
    let mdat_payload_start = fragment.len() - 9;

    let moof = top[0].1;
    assert_eq!(be32(child(moof, &["mfhd"]), 4), 7);
    let trafs: Vec<&[u8]> = children(moof).into_iter().map(|(_, body)| body).skip(1).collect();
    assert_eq!(trafs.len(), 2);

    let tfhd = child(trafs[0], &["tfhd"]);
    assert_eq!(be32(tfhd, 0), 0x0002_0000);
    let tfdt = child(trafs[0], &["tfdt"]);
    assert_eq!(tfdt[0], 1);
    assert_eq!(u64::from_be_bytes(tfdt[4..12].try_into().unwrap()), 1 << 40);

    let trun = child(trafs[0], &["trun"]);
    assert_eq!(be32(trun, 0), 0x0100_0f01);
    assert_eq!(be32(trun, 4), 2);
    assert_eq!(be32(trun, 8) as usize, mdat_payload_start);
    let entries: Vec<u32> = (0..8).map(|i| be32(trun, 12 + 4 * i)).collect();
    assert_eq!(entries, [3000, 3, SYNC_SAMPLE_FLAGS, 6000, 3000, 2, NON_SYNC_SAMPLE_FLAGS, -3000i32 as u32]);

    let trun = child(trafs[1], &["trun"]);
    assert_eq!(be32(trun, 0), 0x0100_0701, "no composition offsets for audio");
    assert_eq!(be32(trun, 8) as usize, mdat_payload_start + 5);
    assert_eq!(trun.len(), 12 + 12);
}

#[test]
fn empty_fragment_is_well_formed() {
    let fragment = media_fragment(1, &[]);
    let names: Vec<[u8; 4]> = children(&fragment).iter().map(|(name, _)| *name).collect();
    assert_eq!(names, [*b"moof", *b"mdat"]);
}

/// The video record of an Enhanced RTMP fixture.
fn fixture_video_config(fixture: &'static [u8]) -> VideoConfig {
    let mut reader = crate::flv::FlvFileReader::new(Bytes::from_static(fixture)).unwrap();
    while let Some(tag) = reader.next_tag().unwrap() {
        if let Ok(crate::flv::FlvVideo::Config { codec, record }) = crate::flv::parse_video_tag(tag.body) {
            return VideoConfig::parse(codec, record).unwrap();
        }
    }
    panic!("no video sequence start");
}

#[test]
fn hevc_and_av1_sample_entries_carry_the_records() {
    let cases: [(&'static [u8], &str, &str); 2] = [
        (include_bytes!("../../testdata/hevc_aac.flv"), "hvc1", "hvcC"),
        (include_bytes!("../../testdata/av1_aac.flv"), "av01", "av1C"),
    ];
    for (fixture, entry, config_box) in cases {
        let video = fixture_video_config(fixture);
        let record = video.record().clone();
        let audio = AudioConfig::parse(AudioCodec::Aac, Bytes::from_static(ASC)).unwrap();
        let init = init_segment(&[
            TrackSpec { track_id: 1, timescale: 90_000, media: TrackMedia::Video(video) },
            TrackSpec { track_id: 2, timescale: 44_100, media: TrackMedia::Audio(audio) },
        ]);
        let brands = child(&init, &["ftyp"]);
        let expected_brands: &[u8] =
            if entry == "av01" { b"iso6\0\0\0\0iso6av01mp41" } else { b"iso6\0\0\0\0iso6mp41" };
        assert_eq!(brands, expected_brands);
        let moov = child(&init, &["moov"]);
        let trak = children(moov).into_iter().find(|(name, _)| name == b"trak").unwrap().1;
        let tkhd = child(trak, &["tkhd"]);
        assert_eq!((be32(tkhd, 76), be32(tkhd, 80)), (320 << 16, 240 << 16));
        let stsd = child(trak, &["mdia", "minf", "stbl", "stsd"]);
        let sample_entry = child(stsd, &[entry]);
        assert_eq!(&sample_entry[24..28], &[0x01, 0x40, 0x00, 0xf0], "width/height");
        assert_eq!(child(&sample_entry[78..], &[config_box]), &record[..]);
    }
}
