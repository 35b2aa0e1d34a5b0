use bytes::{BufMut, Bytes, BytesMut};

use super::*;
use crate::codec::{AvcConfig, HevcConfig};
use crate::MediaFrame;

const H264_SPS: &str = "Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==";
const H264_PPS: &str = "aOvjyyLA";
const H265_VPS: &str = "QAEMAf//AWAAAAMAkAAAAwAAAwA8lZgJ";
const H265_SPS: &str = "QgEBAWAAAAMAkAAAAwAAAwA8oAoIDxZZWaSTK8BaAgAAAwACAAADADIQ";
const H265_PPS: &str = "RAHBcrRiQA==";

fn announce_sdp() -> String {
    format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nt=0 0\r\na=tool:libavformat\r\n\
         m=video 0 RTP/AVP 96\r\nb=AS:200\r\na=rtpmap:96 H264/90000\r\n\
         a=fmtp:96 packetization-mode=1; sprop-parameter-sets={H264_SPS},{H264_PPS}; profile-level-id=64000D\r\n\
         a=control:streamid=0\r\n\
         m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/44100/2\r\n\
         a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=121056E500\r\n\
         a=control:streamid=1\r\na=x-weird\r\n"
    )
}

fn rtp(payload_type: u8, sequence: u16, timestamp: u32, marker: bool, payload: &[u8]) -> Bytes {
    let mut packet = BytesMut::new();
    packet.put_u8(0x80);
    packet.put_u8(payload_type | if marker { 0x80 } else { 0 });
    packet.put_u16(sequence);
    packet.put_u32(timestamp);
    packet.put_u32(0x1234);
    packet.extend_from_slice(payload);
    packet.freeze()
}

#[test]
fn reads_requests_bodies_and_interleaved_frames_split_anywhere() {
    let sdp = announce_sdp();
    let mut wire = Vec::new();
    wire.extend_from_slice(b"OPTIONS rtsp://127.0.0.1/live/key RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: Lavf\r\n\r\n");
    wire.extend_from_slice(
        format!("ANNOUNCE rtsp://h/live/key RTSP/1.0\r\nContent-Type: application/sdp\r\ncseq: 2\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len())
            .as_bytes(),
    );
    wire.extend_from_slice(&[b'$', 1, 0, 3, 9, 8, 7]);
    for split in [1, 7, 50, wire.len()] {
        let mut reader = MessageReader::new(RtspLimits::default());
        let mut got = Vec::new();
        for chunk in wire.chunks(split) {
            reader.push(chunk);
            while let Some(input) = reader.next_input().unwrap() {
                got.push(input);
            }
        }
        assert_eq!(got.len(), 3, "split {split}");
        let RtspInput::Request(options) = &got[0] else { panic!("{got:?}") };
        assert_eq!((options.method.as_str(), options.cseq()), ("OPTIONS", Some("1")));
        let RtspInput::Request(announce) = &got[1] else { panic!("{got:?}") };
        assert_eq!(announce.cseq(), Some("2"));
        assert_eq!(announce.body, sdp.as_bytes());
        assert_eq!(got[2], RtspInput::Interleaved { channel: 1, data: Bytes::from_static(&[9, 8, 7]) });
    }
}

#[test]
fn malformed_or_oversized_requests_are_errors() {
    let limits = RtspLimits { max_line: 64, max_headers: 4, max_body: 100 };
    let cases: [&[u8]; 6] = [
        b"GARBAGE\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\n\r\n",
        b"OPTIONS * RTSP/1.0\r\nNoColon\r\n\r\n",
        b"OPTIONS * RTSP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
        b"ANNOUNCE * RTSP/1.0\r\nContent-Length: 101\r\n\r\n",
        b"ANNOUNCE * RTSP/1.0\r\nContent-Length: -1\r\n\r\n",
    ];
    for case in cases {
        let mut reader = MessageReader::new(limits);
        reader.push(case);
        assert!(reader.next_input().is_err(), "{}", String::from_utf8_lossy(case));
    }
    let mut reader = MessageReader::new(limits);
    reader.push(&[b'O'; 65]);
    assert!(reader.next_input().is_err(), "a line with no end past the limit");
    // A truncated interleaved frame only waits for more.
    let mut reader = MessageReader::new(limits);
    reader.push(&[b'$', 0, 0xff, 0xff, 1, 2]);
    assert_eq!(reader.next_input().unwrap(), None);
}

#[test]
fn before_the_announce_requests_are_held_small() {
    let full = RtspLimits::default();
    let early = full.before_announce();
    let body = |length: usize| format!("ANNOUNCE * RTSP/1.0\r\nContent-Length: {length}\r\n\r\n{}", "v".repeat(length));
    let mut reader = MessageReader::new(early);
    reader.push(body(20_000).as_bytes());
    assert!(reader.next_input().is_err(), "a 20 KB body before the ANNOUNCE is accepted");
    let mut reader = MessageReader::new(early);
    reader.push(body(2_000).as_bytes());
    assert!(matches!(reader.next_input(), Ok(Some(RtspInput::Request(_)))), "an SDP fits");
    reader.set_limits(full);
    reader.push(body(20_000).as_bytes());
    assert!(
        matches!(reader.next_input(), Ok(Some(RtspInput::Request(_)))),
        "the full limits once the publisher is known"
    );
}

#[test]
fn responses_echo_cseq_and_cannot_inject_headers() {
    let request = Request {
        method: "OPTIONS".into(),
        uri: "*".into(),
        headers: vec![("CSeq".into(), "7".into())],
        body: Bytes::new(),
    };
    let response = Response::to(&request, 404).with_header("Session", "a\r\nEvil: 1");
    let text = String::from_utf8(response.serialize().to_vec()).unwrap();
    assert_eq!(text, "RTSP/1.0 404 Not Found\r\nCSeq: 7\r\nSession: aEvil: 1\r\n\r\n");
}

#[test]
fn sdp_sections_and_odd_attributes() {
    let media = sdp::parse_sdp(announce_sdp().as_bytes()).unwrap();
    assert_eq!(media.len(), 2);
    assert_eq!((media[0].encoding.as_str(), media[0].clock_rate, media[0].payload_type), ("h264", 90_000, 96));
    assert_eq!(media[0].parameter("packetization-mode"), Some("1"));
    assert_eq!(media[0].control.as_deref(), Some("streamid=0"));
    assert_eq!(
        (media[1].encoding.as_str(), media[1].clock_rate, media[1].channels),
        ("mpeg4-generic", 44_100, Some(2))
    );
    assert_eq!(media[1].parameter("CONFIG"), Some("121056E500"));
    assert!(sdp::parse_sdp(b"m=video\r\n").is_err());
    assert_eq!(sdp::decode_base64("aOvjyyLA").unwrap(), [0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0]);
    assert_eq!(sdp::decode_hex("1210").unwrap(), [0x12, 0x10]);
    assert!(sdp::decode_hex("12G0").is_err());
}

#[test]
fn records_from_parameter_sets_parse_back() {
    let sps = sdp::decode_base64(H264_SPS).unwrap();
    let pps = sdp::decode_base64(H264_PPS).unwrap();
    let avc = AvcConfig::parse(records::avc_record(&sps, &pps).unwrap()).unwrap();
    assert_eq!((avc.width, avc.height, avc.codec_string().as_str()), (320, 240, "avc1.64000d"));
    let [vps, sps, pps] = [H265_VPS, H265_SPS, H265_PPS].map(|set| sdp::decode_base64(set).unwrap());
    let hevc = HevcConfig::parse(records::hevc_record(&vps, &sps, &pps).unwrap()).unwrap();
    assert_eq!((hevc.width, hevc.height), (320, 240));
    assert!(hevc.codec_string().starts_with("hvc1.1.6.L"), "{}", hevc.codec_string());
}

fn setup_session() -> PushSession {
    let mut session = PushSession::from_sdp(announce_sdp().as_bytes()).unwrap();
    let video = session.track_for_setup("rtsp://127.0.0.1:8554/live/key/streamid=0").unwrap();
    let audio = session.track_for_setup("rtsp://127.0.0.1:8554/live/key/streamid=1").unwrap();
    assert_eq!((video, audio), (0, 1));
    session.bind_channel(video, 0).unwrap();
    session.bind_channel(audio, 2).unwrap();
    assert!(session.bind_channel(audio, 1).is_err(), "channel pair taken by video");
    session
}

fn idr(size: usize) -> Vec<u8> {
    let mut nal = vec![0x65];
    nal.extend((0..size).map(|i| (i % 200) as u8 + 1));
    nal
}

/// FU-A packets for one NAL unit.
fn fragments(nal: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let body = &nal[1..];
    let pieces: Vec<&[u8]> = body.chunks(chunk).collect();
    pieces
        .iter()
        .enumerate()
        .map(|(index, piece)| {
            let start = if index == 0 { 0x80 } else { 0 };
            let end = if index + 1 == pieces.len() { 0x40 } else { 0 };
            let mut packet = vec![(nal[0] & 0xe0) | 28, start | end | (nal[0] & 0x1f)];
            packet.extend_from_slice(piece);
            packet
        })
        .collect()
}

#[test]
fn push_session_turns_packets_into_frames() {
    let mut session = setup_session();
    let initial = session.initial_frames();
    assert!(matches!(initial[0], MediaFrame::VideoConfig { .. }));
    assert!(matches!(initial[1], MediaFrame::AudioConfig { .. }));
    let mut out = Vec::new();
    // STAP-A with SPS+PPS (same as the SDP), then an IDR in FU-A.
    let sps = sdp::decode_base64(H264_SPS).unwrap();
    let pps = sdp::decode_base64(H264_PPS).unwrap();
    let mut stap = vec![24];
    for nal in [&sps, &pps] {
        stap.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        stap.extend_from_slice(nal);
    }
    session.push_interleaved(0, rtp(96, 10, 1000, false, &stap), &mut out);
    let picture = idr(3000);
    let packets = fragments(&picture, 1000);
    for (index, payload) in packets.iter().enumerate() {
        session.push_interleaved(0, rtp(96, 11 + index as u16, 1000, index + 1 == packets.len(), payload), &mut out);
    }
    // Two AAC frames in one packet.
    let aac = [0x00, 0x20, 0x00, 0x18, 0x00, 0x30, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    session.push_interleaved(2, rtp(97, 500, 7000, true, &aac), &mut out);
    session.push_interleaved(3, Bytes::from_static(&[0x80, 201, 0, 1, 0, 0, 0, 1]), &mut out);

    assert_eq!(out.len(), 3, "{out:?}");
    let MediaFrame::Video { dts_ms, keyframe, data, .. } = &out[0] else { panic!("{out:?}") };
    assert_eq!((*dts_ms, *keyframe, data.len()), (0, true, picture.len() + 4));
    assert_eq!(&data[4..], &picture[..]);
    assert_eq!(out[1], MediaFrame::Audio { dts_ms: 0, data: Bytes::from_static(&[1, 2, 3]) });
    assert_eq!(out[2], MediaFrame::Audio { dts_ms: 23, data: Bytes::from_static(&[4, 5, 6, 7, 8, 9]) });
    assert_eq!(session.stats(), PushStats::default());
}

#[test]
fn loss_drops_the_picture_and_resyncs_on_the_next_keyframe() {
    let mut session = setup_session();
    let mut out = Vec::new();
    let picture = idr(3000);
    let packets = fragments(&picture, 1000);
    // The middle fragment of the first IDR is lost.
    session.push_interleaved(0, rtp(96, 1, 0, false, &packets[0]), &mut out);
    session.push_interleaved(0, rtp(96, 3, 0, true, &packets[2]), &mut out);
    // A P-frame after the loss cannot be decoded either.
    session.push_interleaved(0, rtp(96, 4, 3600, true, &[0x41, 1, 2, 3]), &mut out);
    assert!(out.is_empty(), "{out:?}");
    // The next keyframe resyncs.
    for (index, payload) in packets.iter().enumerate() {
        session.push_interleaved(0, rtp(96, 5 + index as u16, 7200, index == 2, payload), &mut out);
    }
    session.push_interleaved(0, rtp(96, 8, 10800, true, &[0x41, 1, 2, 3]), &mut out);
    let times: Vec<(i64, bool)> = out
        .iter()
        .map(|frame| match frame {
            MediaFrame::Video { dts_ms, keyframe, .. } => (*dts_ms, *keyframe),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(times, [(80, true), (120, false)]);
    let stats = session.stats();
    assert_eq!((stats.packets_lost, stats.frames_dropped), (1, 2), "{stats:?}");
    // A duplicate is dropped, a packet without start is counted as bad.
    session.push_interleaved(0, rtp(96, 8, 10800, true, &[0x41, 1]), &mut out);
    session.push_interleaved(0, rtp(96, 9, 14400, true, &packets[1]), &mut out);
    session.push_interleaved(9, rtp(96, 10, 14400, true, &packets[1]), &mut out);
    assert_eq!(out.len(), 2);
    let stats = session.stats();
    assert!(stats.packets_dropped >= 3, "{stats:?}");
}

#[test]
fn h265_in_band_parameters_become_the_configuration() {
    let sdp = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\na=control:trackID=1\r\n";
    let mut session = PushSession::from_sdp(sdp.as_bytes()).unwrap();
    let track = session.track_for_setup("rtsp://h/live/k/trackID=1").unwrap();
    session.bind_channel(track, 0).unwrap();
    assert!(session.initial_frames().is_empty(), "no sprop: configuration comes in-band");
    let mut out = Vec::new();
    // AP with VPS, SPS, PPS; then an IDR_W_RADL (type 19) as one NAL.
    let mut ap = vec![48 << 1, 1];
    for set in [H265_VPS, H265_SPS, H265_PPS] {
        let nal = sdp::decode_base64(set).unwrap();
        ap.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        ap.extend_from_slice(&nal);
    }
    session.push_interleaved(0, rtp(96, 1, 0, false, &ap), &mut out);
    session.push_interleaved(0, rtp(96, 2, 0, true, &[19 << 1, 1, 0xaa, 0xbb]), &mut out);
    assert_eq!(out.len(), 2, "{out:?}");
    let MediaFrame::VideoConfig { record, .. } = &out[0] else { panic!("{out:?}") };
    assert_eq!(HevcConfig::parse(record.clone()).unwrap().width, 320);
    assert!(matches!(out[1], MediaFrame::Video { keyframe: true, .. }));
}

#[test]
fn sdp_without_packageable_media_is_refused() {
    let sdp = "v=0\r\nm=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    assert!(PushSession::from_sdp(sdp.as_bytes()).is_err());
    let sdp = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=2\r\n";
    assert!(PushSession::from_sdp(sdp.as_bytes()).is_err());
}

#[test]
fn udp_tracks_put_reordered_packets_back_in_place() {
    let mut session = PushSession::from_sdp(announce_sdp().as_bytes()).unwrap();
    session.bind_reordered_channel(0, 0).unwrap();
    let mut out = Vec::new();
    let packets = fragments(&idr(3000), 1000);
    // Fragments 2 and 3 swap places on the way; then a P-frame follows.
    session.push_interleaved(0, rtp(96, 1, 0, false, &packets[0]), &mut out);
    session.push_interleaved(0, rtp(96, 3, 0, true, &packets[2]), &mut out);
    session.push_interleaved(0, rtp(96, 2, 0, false, &packets[1]), &mut out);
    session.push_interleaved(0, rtp(96, 4, 3600, true, &[0x41, 1, 2, 3]), &mut out);
    let pictures: Vec<bool> = out
        .iter()
        .filter_map(|frame| match frame {
            MediaFrame::Video { keyframe, .. } => Some(*keyframe),
            _ => None,
        })
        .collect();
    assert_eq!(pictures, [true, false], "{out:?}");
    let stats = session.stats();
    assert_eq!((stats.packets_reordered, stats.packets_lost, stats.frames_dropped), (1, 0, 0), "{stats:?}");
}

#[test]
fn opus_packets_become_audio_frames_on_a_48_khz_clock() {
    let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n\
               m=audio 0 RTP/AVP 97\r\na=rtpmap:97 opus/48000/2\r\na=fmtp:97 sprop-stereo=0\r\na=control:streamid=0\r\n";
    let mut session = PushSession::from_sdp(sdp.as_bytes()).unwrap();
    session.bind_channel(0, 0).unwrap();
    let initial = session.initial_frames();
    let [MediaFrame::AudioConfig { codec: crate::AudioCodec::Opus, record }] = &initial[..] else {
        panic!("{initial:?}")
    };
    assert_eq!(crate::codec::OpusConfig::parse(record.clone()).unwrap().channels, 1, "sprop-stereo=0 is mono");
    let mut frames = Vec::new();
    for (sequence, timestamp) in [(10u16, 4000u32), (11, 4960), (12, 5920)] {
        session.push_interleaved(0, rtp(97, sequence, timestamp, true, &[0xfc, 1, 2, 3]), &mut frames);
    }
    session.push_interleaved(0, rtp(97, 13, 6880, true, &[]), &mut frames);
    let times: Vec<i64> = frames
        .iter()
        .map(|frame| match frame {
            MediaFrame::Audio { dts_ms, data } => {
                assert_eq!(&data[..], &[0xfc, 1, 2, 3]);
                *dts_ms
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(times, [0, 20, 40]);
    assert_eq!(session.stats().packets_dropped, 1, "an empty payload is dropped");
}

#[test]
fn rtp_header_csrcs_extension_and_padding_are_taken_off() {
    let mut packet = BytesMut::new();
    packet.put_u8(0x80 | 0x20 | 0x10 | 2); // padding, extension, two CSRCs
    packet.put_u8(0x80 | 96);
    packet.put_u16(513);
    packet.put_u32(0x0102_0304);
    packet.put_u32(0xdead_beef);
    packet.put_u64(0); // CSRCs
    packet.put_u16(0xbede);
    packet.put_u16(1); // one extension word
    packet.put_u32(0);
    packet.put_slice(b"body");
    packet.put_slice(&[0, 0, 3]);
    let parsed = rtp::RtpPacket::parse(packet.clone().freeze()).unwrap();
    assert!(parsed.marker);
    assert_eq!((parsed.payload_type, parsed.sequence_number), (96, 513));
    assert_eq!((parsed.timestamp, parsed.ssrc), (0x0102_0304, 0xdead_beef));
    assert_eq!(&parsed.payload[..], b"body");

    assert!(rtp::RtpPacket::parse(packet.clone().freeze().slice(..21)).is_err(), "extension header cut");
    assert!(rtp::RtpPacket::parse(packet.freeze().slice(..11)).is_err(), "fixed header cut");
}

#[test]
fn sender_report_gives_the_clock_pair() {
    let mut report = vec![0x80, 200, 0, 6, 0, 0, 0x12, 0x34];
    report.extend_from_slice(&[0xe0, 0, 0, 1, 0x80, 0, 0, 0, 0, 0, 0x03, 0xe8, 0, 0, 0, 1, 0, 0, 0, 2]);
    let report_header = rtp::parse_sender_report(&report).unwrap();
    assert_eq!(report_header.ssrc, 0x1234);
    assert_eq!(report_header.ntp_timestamp, 0xe000_0001_8000_0000);
    assert_eq!(report_header.rtp_timestamp, 1000);
    assert_eq!(report_header.ntp_ms() % 1000, 500);
    assert!(rtp::parse_sender_report(&report[..27]).is_none());
    report[1] = 201;
    assert!(rtp::parse_sender_report(&report).is_none(), "receiver report");
}
