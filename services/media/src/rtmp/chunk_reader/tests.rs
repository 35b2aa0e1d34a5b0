use super::*;

fn basic_header(format: u8, chunk_stream_id: u32) -> Vec<u8> {
    let format_bits = format << 6;
    match chunk_stream_id {
        2..=63 => vec![format_bits | chunk_stream_id as u8],
        64..=319 => vec![format_bits, (chunk_stream_id - 64) as u8],
        _ => {
            let id = chunk_stream_id - 64;
            vec![format_bits | 1, (id & 0xff) as u8, (id >> 8) as u8]
        }
    }
}

fn u24(value: u32) -> [u8; 3] {
    let bytes = value.to_be_bytes();
    [bytes[1], bytes[2], bytes[3]]
}

fn timestamp_field(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&u24(value.min(0xff_ffff)));
}

fn extended(out: &mut Vec<u8>, value: u32) {
    if value >= 0xff_ffff {
        out.extend_from_slice(&value.to_be_bytes());
    }
}

fn type0(chunk_stream_id: u32, timestamp: u32, length: u32, type_id: u8, stream_id: u32) -> Vec<u8> {
    let mut out = basic_header(0, chunk_stream_id);
    timestamp_field(&mut out, timestamp);
    out.extend_from_slice(&u24(length));
    out.push(type_id);
    out.extend_from_slice(&stream_id.to_le_bytes());
    extended(&mut out, timestamp);
    out
}

fn type1(chunk_stream_id: u32, delta: u32, length: u32, type_id: u8) -> Vec<u8> {
    let mut out = basic_header(1, chunk_stream_id);
    timestamp_field(&mut out, delta);
    out.extend_from_slice(&u24(length));
    out.push(type_id);
    extended(&mut out, delta);
    out
}

fn type2(chunk_stream_id: u32, delta: u32) -> Vec<u8> {
    let mut out = basic_header(2, chunk_stream_id);
    timestamp_field(&mut out, delta);
    extended(&mut out, delta);
    out
}

fn type3(chunk_stream_id: u32) -> Vec<u8> {
    basic_header(3, chunk_stream_id)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|index| (index as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn read_all(reader: &mut ChunkReader, input: &[u8]) -> Result<Vec<RawMessage>, MediaError> {
    reader.push(input);
    let mut messages = Vec::new();
    while let Some(message) = reader.read_message()? {
        messages.push(message);
    }
    Ok(messages)
}

fn new_reader() -> ChunkReader {
    ChunkReader::new(RtmpLimits::default())
}

#[test]
fn chunk_stream_ids_in_all_three_basic_header_forms() {
    for id in [2u32, 3, 63, 64, 200, 319, 320, 1000, 65_599] {
        let body = pattern(10, id as u8);
        let input = concat(&[&type0(id, 7, 10, 9, 1), &body]);
        let messages = read_all(&mut new_reader(), &input).unwrap();
        assert_eq!(messages.len(), 1, "csid {id}");
        assert_eq!(messages[0].chunk_stream_id, id);
        assert_eq!(messages[0].payload, body);
        assert_eq!((messages[0].timestamp, messages[0].type_id, messages[0].stream_id), (7, 9, 1));
    }
}

#[test]
fn multi_chunk_message_reassembles_and_single_chunk_is_zero_copy() {
    let body = pattern(300, 1);
    let input = concat(&[&type0(4, 0, 300, 9, 1), &body[..128], &type3(4), &body[128..256], &type3(4), &body[256..]]);
    let mut reader = new_reader();
    let messages = read_all(&mut reader, &input).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].payload, body);
    assert_eq!((reader.open_partials, reader.partial_bytes), (0, 0));
}

#[test]
fn byte_at_a_time_gives_the_same_messages() {
    let a = pattern(300, 2);
    let input = concat(&[
        &type0(4, 5, 300, 9, 1),
        &a[..128],
        &type3(4),
        &a[128..256],
        &type3(4),
        &a[256..],
        &type0(70, 6, 3, 8, 1),
        b"xyz",
    ]);
    let mut reader = new_reader();
    let mut messages = Vec::new();
    for byte in &input {
        messages.extend(read_all(&mut reader, std::slice::from_ref(byte)).unwrap());
    }
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].payload, a);
    assert_eq!(messages[1].payload, &b"xyz"[..]);
}

#[test]
fn interleaved_chunk_streams_reassemble_independently() {
    let video = pattern(300, 3);
    let audio = pattern(200, 4);
    let input = concat(&[
        &type0(6, 40, 300, 9, 1),
        &video[..128],
        &type0(4, 40, 200, 8, 1),
        &audio[..128],
        &type3(6),
        &video[128..256],
        &type3(4),
        &audio[128..],
        &type3(6),
        &video[256..],
    ]);
    let messages = read_all(&mut new_reader(), &input).unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!((messages[0].type_id, &messages[0].payload[..]), (8, &audio[..]));
    assert_eq!((messages[1].type_id, &messages[1].payload[..]), (9, &video[..]));
}

#[test]
fn shorter_length_on_another_stream_does_not_disturb_a_partial() {
    let long = pattern(200, 5);
    let input = concat(&[
        &type0(5, 0, 200, 9, 1),
        &long[..128],
        &type0(4, 0, 10, 8, 1),
        &pattern(10, 6),
        &type1(4, 20, 5, 8),
        &pattern(5, 7),
        &type3(5),
        &long[128..],
    ]);
    let messages = read_all(&mut new_reader(), &input).unwrap();
    let lengths: Vec<usize> = messages.iter().map(|message| message.payload.len()).collect();
    assert_eq!(lengths, vec![10, 5, 200]);
    assert_eq!(messages[2].payload, long);
    assert_eq!(messages[1].timestamp, 20);
}

#[test]
fn timestamp_deltas_and_type3_new_messages() {
    let input = concat(&[
        &type0(4, 1000, 2, 9, 1),
        b"aa",
        &type1(4, 33, 3, 9),
        b"bbb",
        &type2(4, 34),
        b"ccc",
        &type3(4),
        b"ddd",
    ]);
    let messages = read_all(&mut new_reader(), &input).unwrap();
    let stamps: Vec<u32> = messages.iter().map(|message| message.timestamp).collect();
    assert_eq!(stamps, vec![1000, 1033, 1067, 1101]);
    assert_eq!(messages[3].payload, &b"ddd"[..]);
    assert!(messages.iter().all(|message| message.stream_id == 1 && message.type_id == 9));
}

#[test]
fn type3_after_type0_reuses_the_absolute_field_as_delta() {
    let input = concat(&[&type0(4, 10, 1, 8, 1), b"a", &type3(4), b"b"]);
    let messages = read_all(&mut new_reader(), &input).unwrap();
    assert_eq!(messages[1].timestamp, 20);
}

#[test]
fn timestamps_wrap_at_32_bits() {
    let input = concat(&[&type0(4, 0xffff_fff0, 1, 8, 1), b"a", &type2(4, 0x20), b"b"]);
    let messages = read_all(&mut new_reader(), &input).unwrap();
    assert_eq!(messages[0].timestamp, 0xffff_fff0);
    assert_eq!(messages[1].timestamp, 0x10);
}

#[test]
fn extended_timestamp_repeated_on_continuation_chunks() {
    let stamp: u32 = 0x0123_4567;
    let body = pattern(300, 8);
    let repeated = stamp.to_be_bytes();
    let input = concat(&[
        &type0(4, stamp, 300, 9, 1),
        &body[..128],
        &type3(4),
        &repeated,
        &body[128..256],
        &type3(4),
        &repeated,
        &body[256..],
    ]);
    let messages = read_all(&mut new_reader(), &input).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].timestamp, stamp);
    assert_eq!(messages[0].payload, body);
}

#[test]
fn extended_timestamp_not_repeated_on_continuation_chunks() {
    let stamp = 0x0100_0000;
    let body = pattern(200, 9);
    let input = concat(&[&type0(4, stamp, 200, 9, 1), &body[..128], &type3(4), &body[128..]]);
    let messages = read_all(&mut new_reader(), &input).unwrap();
    assert_eq!(messages[0].timestamp, stamp);
    assert_eq!(messages[0].payload, body);
}

#[test]
fn extended_delta_on_type1_and_type3_new_message() {
    let delta = 0x0200_0000;
    let input =
        concat(&[&type0(4, 5, 1, 9, 1), b"a", &type1(4, delta, 1, 9), b"b", &type3(4), &delta.to_be_bytes(), b"c"]);
    let messages = read_all(&mut new_reader(), &input).unwrap();
    let stamps: Vec<u32> = messages.iter().map(|message| message.timestamp).collect();
    assert_eq!(stamps, vec![5, 5 + delta, 5 + 2 * delta]);
    assert_eq!(messages[2].payload, &b"c"[..]);
}

#[test]
fn chunk_size_change_applies_to_following_chunks() {
    let mut reader = new_reader();
    reader.set_chunk_size(4096).unwrap();
    let body = pattern(5000, 10);
    let input = concat(&[&type0(4, 0, 5000, 9, 1), &body[..4096], &type3(4), &body[4096..]]);
    let messages = read_all(&mut reader, &input).unwrap();
    assert_eq!(messages[0].payload, body);
    assert!(reader.set_chunk_size(0).is_err());
    assert!(reader.set_chunk_size(0x8000_0000).is_err());
    reader.set_chunk_size(0x7fff_ffff).unwrap();
    assert_eq!(reader.chunk_size, RtmpLimits::default().max_message_size);
}

#[test]
fn zero_length_message_is_delivered() {
    let input = concat(&[&type0(4, 0, 0, 9, 1), &type0(4, 1, 1, 9, 1), b"z"]);
    let messages = read_all(&mut new_reader(), &input).unwrap();
    assert_eq!(messages.len(), 2);
    assert!(messages[0].payload.is_empty());
}

#[test]
fn abort_and_new_header_drop_the_partial_message() {
    let mut reader = new_reader();
    let first = concat(&[&type0(4, 0, 300, 9, 1), &pattern(128, 0)]);
    assert!(read_all(&mut reader, &first).unwrap().is_empty());
    assert_eq!(reader.open_partials, 1);
    reader.abort(4);
    assert_eq!((reader.open_partials, reader.partial_bytes), (0, 0));

    let restarted = concat(&[&type0(4, 0, 300, 9, 1), &pattern(128, 0), &type0(4, 9, 2, 8, 1), b"ok"]);
    let messages = read_all(&mut reader, &restarted).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].payload, &b"ok"[..]);
    assert_eq!((reader.open_partials, reader.partial_bytes), (0, 0));
}

#[test]
fn compressed_header_without_a_previous_one_is_invalid() {
    for input in [type1(4, 0, 1, 9), type2(4, 0), type3(4)] {
        let result = read_all(&mut new_reader(), &concat(&[&input, b"x"]));
        assert!(matches!(result, Err(MediaError::Invalid { .. })), "{input:?}");
    }
}

#[test]
fn oversized_message_is_rejected_from_the_header_alone() {
    let mut reader = new_reader();
    let result = read_all(&mut reader, &type0(4, 0, 0xff_ffff, 9, 1));
    assert!(matches!(result, Err(MediaError::TooLarge { what: "rtmp message", .. })));
    assert_eq!(reader.partial_bytes, 0);
}

#[test]
fn too_many_partial_messages_is_rejected() {
    let limits = RtmpLimits { max_chunk_streams: 3, ..RtmpLimits::default() };
    let mut reader = ChunkReader::new(limits);
    let mut input = Vec::new();
    for id in 4..8 {
        input.extend(type0(id, 0, 1_000_000, 9, 1));
        input.extend(pattern(128, 0));
    }
    let result = read_all(&mut reader, &input);
    assert!(matches!(result, Err(MediaError::TooLarge { what: "partial rtmp messages", size: 4, limit: 3 })));
}

#[test]
fn declared_lengths_do_not_reserve_memory_up_front() {
    let mut reader = new_reader();
    let mut input = Vec::new();
    for id in 4..20 {
        input.extend(type0(id, 0, 4 << 20, 9, 1));
        input.extend(pattern(128, 0));
    }
    assert!(read_all(&mut reader, &input).unwrap().is_empty());
    let reserved: usize =
        reader.streams.values().filter_map(|stream| stream.partial.as_ref()).map(BytesMut::capacity).sum();
    assert!(reserved <= 16 * INITIAL_PARTIAL_CAPACITY, "{reserved}");
}

#[test]
fn buffered_bytes_cap_counts_partials_and_input() {
    let limits = RtmpLimits { max_buffered_bytes: 1000, ..RtmpLimits::default() };
    let mut reader = ChunkReader::new(limits);
    reader.set_chunk_size(600).unwrap();
    let mut input = Vec::new();
    input.extend(type0(4, 0, 2000, 9, 1));
    input.extend(pattern(600, 0));
    input.extend(type3(4));
    input.extend(pattern(500, 0));
    assert!(read_all(&mut reader, &input).unwrap().is_empty());
    assert!(matches!(reader.check_buffered(), Err(MediaError::TooLarge { what: "buffered rtmp bytes", .. })));
}

#[test]
fn too_many_chunk_stream_ids_is_rejected() {
    let mut reader = new_reader();
    let mut input = Vec::new();
    for id in 0..(MAX_TRACKED_CHUNK_STREAMS as u32 + 1) {
        input.extend(type0(320 + id, 0, 1, 8, 1));
        input.push(0);
    }
    let result = read_all(&mut reader, &input);
    assert!(matches!(result, Err(MediaError::TooLarge { what: "rtmp chunk stream ids", .. })));
}
