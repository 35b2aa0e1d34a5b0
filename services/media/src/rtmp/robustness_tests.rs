//! Deterministic pseudo-random inputs for every parser that sees network
//! bytes: nothing may panic, whatever the result. (The cargo-fuzz targets in
//! `fuzz/` do the same with coverage guidance.)

use super::chunk_writer::ChunkWriter;
use super::handshake::CLIENT_HANDSHAKE_LEN;
use super::message::type_id;
use super::{RtmpLimits, ServerConnection};
use crate::amf0::{decode_all, encode_all, Amf0Value};
use crate::flv::{parse_audio_tag, parse_video_tag, FlvFileReader};
use bytes::Bytes;
use testkit::{Mutation, Prng};

const ITERATIONS: usize = 3000;
const FIXTURE: &[u8] = include_bytes!("../../testdata/baseline.flv");
/// Flips, overwrites, truncates or splices a valid input.
const MUTATIONS: &[Mutation] = &[Mutation::FlipBit, Mutation::Overwrite, Mutation::Truncate, Mutation::Splice];

fn valid_session_bytes() -> Vec<u8> {
    let mut bytes = vec![0u8; CLIENT_HANDSHAKE_LEN];
    bytes[0] = 3;
    let mut writer = ChunkWriter::new();
    let text = |value: &str| Amf0Value::String(value.into());
    let app = Amf0Value::Object(vec![("app".into(), text("live"))]);
    writer.send_command(0, &[text("connect"), Amf0Value::Number(1.0), app]);
    writer.send_command(0, &[text("createStream"), Amf0Value::Number(2.0), Amf0Value::Null]);
    writer.send_command(1, &[text("publish"), Amf0Value::Number(0.0), Amf0Value::Null, text("key")]);
    let mut metadata = Vec::new();
    encode_all(&[text("@setDataFrame"), text("onMetaData"), Amf0Value::EcmaArray(vec![])], &mut metadata);
    writer.write_message(5, type_id::AMF0_DATA, 1, 0, &metadata);
    writer.write_message(2, type_id::SET_CHUNK_SIZE, 0, 0, &64u32.to_be_bytes());
    writer.set_chunk_size(64);
    writer.write_message(4, type_id::VIDEO, 1, 0x0100_0000, &[0x17; 300]);
    writer.write_message(6, type_id::AUDIO, 1, 20, &[0xaf, 1, 2, 3]);
    writer.write_message(2, type_id::USER_CONTROL, 0, 0, &[0, 6, 0, 0, 0, 1]);
    writer.write_message(2, type_id::WINDOW_ACK_SIZE, 0, 0, &100u32.to_be_bytes());
    bytes.extend_from_slice(&writer.take().unwrap_or_default());
    bytes
}

fn feed_in_pieces(rng: &mut Prng, input: &[u8]) {
    let mut connection = ServerConnection::new(RtmpLimits { max_buffered_bytes: 64 * 1024, ..RtmpLimits::default() });
    let mut rest = input;
    while !rest.is_empty() {
        let take = 1 + rng.below(rest.len().min(700));
        let (piece, tail) = rest.split_at(take);
        rest = tail;
        match connection.feed(piece) {
            Ok(events) => {
                if events.iter().any(|event| matches!(event, super::RtmpEvent::PublishRequested { .. })) {
                    connection.accept_publish();
                }
            }
            Err(_) => break,
        }
        let _ = connection.take_outgoing();
    }
}

#[test]
fn unmutated_session_reaches_media() {
    let mut connection = ServerConnection::new(RtmpLimits::default());
    let events = connection.feed(&valid_session_bytes()).expect("valid session");
    let kinds: Vec<&str> = events
        .iter()
        .map(|event| match event {
            super::RtmpEvent::Connected { .. } => "connected",
            super::RtmpEvent::PublishRequested { .. } => "publish",
            super::RtmpEvent::Metadata { .. } => "metadata",
            super::RtmpEvent::Video { timestamp: 0x0100_0000, .. } => "video",
            super::RtmpEvent::Audio { .. } => "audio",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["connected", "publish", "metadata", "video", "audio"]);
}

#[test]
fn server_connection_survives_random_input() {
    let mut rng = Prng::new(0x9e37_79b9_7f4a_7c15);
    let valid = valid_session_bytes();
    let mut handshake_then_noise = valid[..CLIENT_HANDSHAKE_LEN].to_vec();
    for round in 0..ITERATIONS {
        let input = match round % 3 {
            0 => rng.bytes(2048),
            1 => {
                handshake_then_noise.truncate(CLIENT_HANDSHAKE_LEN);
                handshake_then_noise.extend(rng.bytes(2048));
                handshake_then_noise.clone()
            }
            _ => rng.mutate_with(&valid, MUTATIONS),
        };
        feed_in_pieces(&mut rng, &input);
    }
}

#[test]
fn amf0_decoder_survives_random_input() {
    let mut rng = Prng::new(0x1234_5678_9abc_def1);
    let mut valid = Vec::new();
    encode_all(
        &[
            Amf0Value::String("onMetaData".into()),
            Amf0Value::EcmaArray(vec![
                ("a".into(), Amf0Value::StrictArray(vec![Amf0Value::Number(1.0), Amf0Value::Null])),
                ("b".into(), Amf0Value::Object(vec![("c".into(), Amf0Value::Date(0.0))])),
            ]),
        ],
        &mut valid,
    );
    for round in 0..ITERATIONS {
        let input = if round % 2 == 0 { rng.bytes(512) } else { rng.mutate_with(&valid, MUTATIONS) };
        let _ = decode_all(&input);
    }
}

#[test]
fn flv_parsers_survive_random_input() {
    let mut rng = Prng::new(0x0fed_cba9_8765_4321);
    let tags: Vec<Bytes> = FlvFileReader::new(Bytes::from_static(FIXTURE))
        .map(|reader| reader.filter_map(Result::ok).map(|tag| tag.body).take(8).collect())
        .unwrap_or_default();
    assert!(!tags.is_empty());
    for round in 0..ITERATIONS {
        let body = match round % 3 {
            0 => rng.bytes(64),
            _ => {
                let tag = &tags[rng.below(tags.len())];
                rng.mutate_with(&tag[..tag.len().min(256)], MUTATIONS)
            }
        };
        let _ = parse_video_tag(Bytes::from(body.clone()));
        let _ = parse_audio_tag(Bytes::from(body));
        if round % 100 == 0 {
            let file = rng.mutate_with(&FIXTURE[..FIXTURE.len().min(4096)], MUTATIONS);
            if let Ok(reader) = FlvFileReader::new(Bytes::from(file)) {
                reader.for_each(drop);
            }
        }
    }
}
