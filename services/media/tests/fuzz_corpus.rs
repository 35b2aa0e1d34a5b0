//! The no-panic property of every parser that sees network bytes, on
//! stable Rust: thousands of pseudo-random and mutated inputs from fixed
//! seeds (the cargo-fuzz targets in `fuzz/` do the same with coverage
//! guidance). Each test also checks that the unmutated input parses, so a
//! parser that rejects everything cannot pass unnoticed.

use bytes::{BufMut, Bytes, BytesMut};
use media::amf0::{decode_all, encode_all, Amf0Value};
use media::flv::{parse_audio_tag, parse_video_tag, FlvFileReader};
use media::rtmp::{RtmpLimits, ServerConnection};
use media::rtsp::{MessageReader, PushSession, RtspInput, RtspLimits};
use media::MediaFrame;
use testkit::Prng;

const ITERATIONS: usize = 3000;

const SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n\
m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==,aOvjyyLA\r\n\
a=control:streamid=0\r\nm=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/44100/2\r\n\
a=fmtp:97 mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1210\r\na=control:streamid=1\r\n";

fn rtsp_session_bytes() -> Vec<u8> {
    let mut wire = b"OPTIONS rtsp://h/live/k RTSP/1.0\r\nCSeq: 1\r\n\r\n".to_vec();
    wire.extend_from_slice(
        format!("ANNOUNCE rtsp://h/live/k RTSP/1.0\r\nCSeq: 2\r\nContent-Length: {}\r\n\r\n{SDP}", SDP.len())
            .as_bytes(),
    );
    wire.extend_from_slice(
        b"SETUP rtsp://h/live/k/streamid=0 RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP/TCP;interleaved=0-1\r\n\r\n",
    );
    for packet in rtp_packets() {
        wire.push(b'$');
        wire.push(packet.0);
        wire.extend_from_slice(&(packet.1.len() as u16).to_be_bytes());
        wire.extend_from_slice(&packet.1);
    }
    wire
}

fn rtp(payload_type: u8, sequence: u16, timestamp: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut packet = BytesMut::new();
    packet.put_u8(0x80);
    packet.put_u8(payload_type | if marker { 0x80 } else { 0 });
    packet.put_u16(sequence);
    packet.put_u32(timestamp);
    packet.put_u32(7);
    packet.extend_from_slice(payload);
    packet.to_vec()
}

/// (channel, packet): an IDR in three FU-A fragments, a P-frame, a STAP-A, AAC and an RTCP SR.
fn rtp_packets() -> Vec<(u8, Vec<u8>)> {
    let mut sender_report = vec![0x80, 200, 0, 6, 0, 0, 0, 7];
    sender_report.extend_from_slice(&[0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let body = vec![0x55u8; 60];
    vec![
        (1, sender_report.clone()),
        (0, rtp(96, 1, 0, false, &[[0x7c, 0x85].as_slice(), &body].concat())),
        (0, rtp(96, 2, 0, false, &[[0x7c, 0x05].as_slice(), &body].concat())),
        (0, rtp(96, 3, 0, true, &[[0x7c, 0x45].as_slice(), &body].concat())),
        (0, rtp(96, 4, 3600, true, &[0x41, 0x9a, 1, 2, 3])),
        (0, rtp(96, 5, 7200, true, &[24, 0, 3, 0x41, 9, 9, 0, 2, 0x41, 8])),
        (3, sender_report),
        (2, rtp(97, 9, 1000, true, &[0, 16, 0, 0x18, 1, 2, 3])),
    ]
}

#[test]
fn rtsp_message_reader_survives_random_input() {
    let valid = rtsp_session_bytes();
    let count = |input: &[u8], pieces: &mut Prng| {
        let limits = RtspLimits { max_line: 512, max_headers: 16, max_body: 2048 };
        let mut reader = MessageReader::new(limits);
        let mut parsed = 0;
        let mut rest = input;
        while !rest.is_empty() {
            let (piece, tail) = rest.split_at(1 + pieces.below(rest.len().min(300)));
            rest = tail;
            reader.push(piece);
            loop {
                match reader.next_input() {
                    Ok(Some(_)) => parsed += 1,
                    Ok(None) => break,
                    Err(_) => return parsed,
                }
                assert!(reader.buffered() <= 70 * 1024, "memory stays bounded");
            }
        }
        parsed
    };
    let mut rng = Prng::new(0x5eed_0001);
    assert_eq!(count(&valid, &mut rng), 3 + rtp_packets().len());
    for round in 0..ITERATIONS {
        let input = rng.input(round, &valid);
        count(&input, &mut rng);
    }
}

#[test]
fn rtsp_push_depacketizing_survives_random_packets() {
    let run = |packets: &[(u8, Vec<u8>)]| {
        let mut session = PushSession::from_sdp(SDP.as_bytes()).expect("valid SDP");
        session.bind_channel(0, 0).expect("video channel");
        session.bind_channel(1, 2).expect("audio channel");
        let mut out = Vec::new();
        for (channel, packet) in packets {
            session.push_interleaved(*channel, Bytes::copy_from_slice(packet), &mut out);
        }
        out
    };
    let valid = rtp_packets();
    let frames = run(&valid);
    assert_eq!(frames.iter().filter(|frame| matches!(frame, MediaFrame::Video { .. })).count(), 3, "{frames:?}");
    assert_eq!(frames.iter().filter(|frame| matches!(frame, MediaFrame::Audio { .. })).count(), 1, "{frames:?}");
    let mut rng = Prng::new(0x5eed_0002);
    for round in 0..ITERATIONS {
        let mut packets = valid.clone();
        for _ in 0..=rng.below(3) {
            let at = rng.below(packets.len());
            match round % 4 {
                0 => packets[at].1 = rng.bytes(80),
                1 => packets.swap(at, rng.below(valid.len())),
                2 => drop(packets.remove(at)),
                _ => packets[at].1 = rng.mutate(&valid[at % valid.len()].1),
            }
            if packets.is_empty() {
                break;
            }
        }
        run(&packets);
    }
    // SDP text itself.
    for round in 0..ITERATIONS {
        let sdp = rng.input(round, SDP.as_bytes());
        let _ = PushSession::from_sdp(&sdp);
    }
}

#[test]
fn flv_tags_survive_random_input() {
    let fixtures: [&'static [u8]; 3] = [
        include_bytes!("../testdata/baseline.flv"),
        include_bytes!("../testdata/hevc_aac.flv"),
        include_bytes!("../testdata/av1_aac.flv"),
    ];
    let mut tags = Vec::new();
    for fixture in fixtures {
        let mut reader = FlvFileReader::new(Bytes::from_static(fixture)).expect("fixture");
        let mut count = 0;
        // Headers and the first pictures of each codec are where the parsing is.
        while let Ok(Some(tag)) = reader.next_tag() {
            if tag.tag_type != 18 && count < 40 {
                assert!(match tag.tag_type {
                    9 => parse_video_tag(tag.body.clone()).is_ok(),
                    _ => parse_audio_tag(tag.body.clone()).is_ok(),
                });
                tags.push(tag);
                count += 1;
            }
        }
    }
    let mut rng = Prng::new(0x5eed_0003);
    for round in 0..ITERATIONS {
        let tag = &tags[round % tags.len()];
        let body = Bytes::from(rng.input(round, &tag.body[..tag.body.len().min(512)]));
        if let Ok(video) = parse_video_tag(body.clone()) {
            let _ = video.into_media_frame(0);
        }
        let _ = parse_audio_tag(body);
    }
}

#[test]
fn rtmp_connection_survives_random_chunks() {
    let mut handshake = vec![0u8; 1 + 1536 + 1536];
    handshake[0] = 3;
    let mut rng = Prng::new(0x5eed_0004);
    for round in 0..ITERATIONS {
        let mut connection =
            ServerConnection::new(RtmpLimits { max_buffered_bytes: 64 * 1024, ..RtmpLimits::default() });
        connection.feed(&handshake).expect("handshake");
        // A chunk-0 header for a command message, then noise or a mutation of it.
        let valid = [0x03, 0, 0, 0, 0, 0, 20, 0x14, 0, 0, 0, 0, 2, 0, 7, b'c', b'o', b'n', b'n', b'e', b'c', b't'];
        let input = rng.input(round, &valid);
        let _ = connection.feed(&input);
        while connection.take_outgoing().is_some() {}
    }
}

#[test]
fn amf0_survives_random_input() {
    let mut valid = Vec::new();
    let object = Amf0Value::Object(vec![("app".into(), Amf0Value::String("live".into()))]);
    encode_all(&[Amf0Value::String("connect".into()), Amf0Value::Number(1.0), object, Amf0Value::Null], &mut valid);
    assert_eq!(decode_all(&valid).expect("valid AMF0").len(), 4);
    let mut rng = Prng::new(0x5eed_0005);
    for round in 0..ITERATIONS {
        let _ = decode_all(&rng.input(round, &valid));
    }
}

#[test]
fn rtsp_reader_reports_interleaved_frames_intact() {
    let mut reader = MessageReader::new(RtspLimits::default());
    reader.push(&rtsp_session_bytes());
    let mut interleaved = Vec::new();
    while let Ok(Some(input)) = reader.next_input() {
        if let RtspInput::Interleaved { channel, data } = input {
            interleaved.push((channel, data.to_vec()));
        }
    }
    assert_eq!(interleaved, rtp_packets());
}
