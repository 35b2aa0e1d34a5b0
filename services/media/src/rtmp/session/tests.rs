use super::*;
use crate::rtmp::handshake::CLIENT_HANDSHAKE_LEN;

/// C0 + a zeroed C1 (no digest, so the plain handshake is used) + C2.
fn handshake_bytes() -> Vec<u8> {
    let mut bytes = vec![0u8; CLIENT_HANDSHAKE_LEN];
    bytes[0] = 3;
    bytes
}

/// Builds what a publisher sends, using our own writer.
struct Publisher {
    writer: ChunkWriter,
}

impl Publisher {
    fn new() -> Self {
        Publisher { writer: ChunkWriter::new() }
    }

    fn command(&mut self, stream_id: u32, values: &[Amf0Value]) -> Vec<u8> {
        self.writer.send_command(stream_id, values);
        self.take()
    }

    fn message(&mut self, chunk_stream_id: u8, type_id: u8, stream_id: u32, timestamp: u32, payload: &[u8]) -> Vec<u8> {
        self.writer.write_message(chunk_stream_id, type_id, stream_id, timestamp, payload);
        self.take()
    }

    fn take(&mut self) -> Vec<u8> {
        self.writer.take().map(|bytes| bytes.to_vec()).unwrap_or_default()
    }
}

fn s(text: &str) -> Amf0Value {
    Amf0Value::String(text.into())
}

fn n(number: f64) -> Amf0Value {
    Amf0Value::Number(number)
}

fn connect_command(transaction_id: f64) -> Vec<Amf0Value> {
    vec![
        s("connect"),
        n(transaction_id),
        Amf0Value::Object(vec![
            ("app".into(), s("live")),
            ("tcUrl".into(), s("rtmp://localhost/live")),
            ("objectEncoding".into(), n(3.0)),
        ]),
    ]
}

/// Reads the server's replies back into messages.
struct ServerOutput {
    reader: ChunkReader,
    skipped_handshake: bool,
}

impl ServerOutput {
    fn new() -> Self {
        ServerOutput { reader: ChunkReader::new(RtmpLimits::default()), skipped_handshake: false }
    }

    fn read(&mut self, connection: &mut ServerConnection) -> Vec<RawMessage> {
        let Some(bytes) = connection.take_outgoing() else {
            return Vec::new();
        };
        let bytes = if self.skipped_handshake {
            bytes
        } else {
            self.skipped_handshake = true;
            assert!(bytes.len() > 2 * 1536);
            assert_eq!(bytes[0], 3);
            bytes.slice(1 + 2 * 1536..)
        };
        self.reader.push(&bytes);
        let mut messages = Vec::new();
        while let Some(message) = self.reader.read_message().unwrap() {
            if message.type_id == type_id::SET_CHUNK_SIZE {
                self.reader.set_chunk_size(read_u32(&message.payload, "test").unwrap()).unwrap();
            }
            messages.push(message);
        }
        messages
    }

    fn commands(&mut self, connection: &mut ServerConnection) -> Vec<(u32, Vec<Amf0Value>)> {
        self.read(connection)
            .into_iter()
            .filter(|message| message.type_id == type_id::AMF0_COMMAND)
            .map(|message| (message.stream_id, decode_all(&message.payload).unwrap()))
            .collect()
    }
}

/// A connection that has completed handshake, connect and createStream.
fn connected() -> (ServerConnection, Publisher, ServerOutput) {
    let mut connection = ServerConnection::new(RtmpLimits::default());
    let mut publisher = Publisher::new();
    let mut output = ServerOutput::new();
    assert!(connection.feed(&handshake_bytes()).unwrap().is_empty());
    connection.feed(&publisher.command(0, &connect_command(1.0))).unwrap();
    connection.feed(&publisher.command(0, &[s("createStream"), n(2.0), Amf0Value::Null])).unwrap();
    output.read(&mut connection);
    (connection, publisher, output)
}

fn publishing() -> (ServerConnection, Publisher, ServerOutput) {
    let (mut connection, mut publisher, mut output) = connected();
    let events =
        connection.feed(&publisher.command(1, &[s("publish"), n(0.0), Amf0Value::Null, s("key"), s("live")])).unwrap();
    assert_eq!(events.len(), 1);
    connection.accept_publish();
    output.read(&mut connection);
    (connection, publisher, output)
}

#[test]
fn connect_gets_control_messages_and_success_result() {
    let mut connection = ServerConnection::new(RtmpLimits::default());
    let mut output = ServerOutput::new();
    let handshake = handshake_bytes();
    // Split the handshake awkwardly across feeds.
    for piece in [&handshake[..1], &handshake[1..1000], &handshake[1000..3000], &handshake[3000..]] {
        assert!(connection.feed(piece).unwrap().is_empty());
    }
    let events = connection.feed(&Publisher::new().command(0, &connect_command(1.0))).unwrap();
    assert_eq!(events, vec![RtmpEvent::Connected { app: "live".into(), tc_url: Some("rtmp://localhost/live".into()) }]);
    let messages = output.read(&mut connection);
    let types: Vec<u8> = messages.iter().map(|message| message.type_id).collect();
    assert_eq!(types, vec![5, 6, 1, 20]);
    assert_eq!(&messages[2].payload[..], &4096u32.to_be_bytes());
    let result = decode_all(&messages[3].payload).unwrap();
    assert_eq!(result[0], s("_result"));
    assert_eq!(result[1], n(1.0));
    assert!(result[2].get("fmsVer").is_some());
    assert_eq!(result[2].get("capabilities"), Some(&n(31.0)));
    assert_eq!(result[3].get("code"), Some(&s("NetConnection.Connect.Success")));
    assert_eq!(result[3].get("objectEncoding"), Some(&n(3.0)));
}

#[test]
fn obs_style_prelude_gets_results() {
    let (mut connection, mut publisher, mut output) = connected();
    let mut input = publisher.command(0, &[s("releaseStream"), n(2.0), Amf0Value::Null, s("key")]);
    input.extend(publisher.command(0, &[s("FCPublish"), n(3.0), Amf0Value::Null, s("key")]));
    input.extend(publisher.command(0, &[s("_checkbw"), n(4.0), Amf0Value::Null]));
    input.extend(publisher.command(0, &[s("createStream"), n(5.0), Amf0Value::Null]));
    assert!(connection.feed(&input).unwrap().is_empty());
    let replies: Vec<Vec<Amf0Value>> = output.commands(&mut connection).into_iter().map(|(_, values)| values).collect();
    assert_eq!(replies.len(), 4);
    assert_eq!(replies[0][..2], [s("_result"), n(2.0)]);
    assert_eq!(replies[1][0], s("onFCPublish"));
    assert_eq!(replies[2][..2], [s("_result"), n(3.0)]);
    assert_eq!(replies[3], vec![s("_result"), n(5.0), Amf0Value::Null, n(1.0)]);
}

#[test]
fn publish_with_query_then_accept() {
    let (mut connection, mut publisher, mut output) = connected();
    let publish = publisher.command(1, &[s("publish"), n(0.0), Amf0Value::Null, s("abc?token=x&y=1"), s("live")]);
    let events = connection.feed(&publish).unwrap();
    assert_eq!(
        events,
        vec![RtmpEvent::PublishRequested {
            app: "live".into(),
            stream_key: "abc".into(),
            query: Some("token=x&y=1".into())
        }]
    );
    connection.accept_publish();
    let messages = output.read(&mut connection);
    assert_eq!(messages[0].type_id, type_id::USER_CONTROL);
    assert_eq!(&messages[0].payload[..], &[0, 0, 0, 0, 0, 1]);
    let status = decode_all(&messages[1].payload).unwrap();
    assert_eq!(messages[1].stream_id, 1);
    assert_eq!(status[0], s("onStatus"));
    assert_eq!(status[3].get("code"), Some(&s("NetStream.Publish.Start")));
    // A second accept is a no-op.
    connection.accept_publish();
    assert!(connection.take_outgoing().is_none());
}

#[test]
fn media_and_metadata_events() {
    let (mut connection, mut publisher, _) = connected();
    let mut input = publisher.command(1, &[s("publish"), n(0.0), Amf0Value::Null, s("key")]);
    // Sent before the publish is answered: still reported, after the request.
    input.extend(publisher.message(4, type_id::VIDEO, 1, 0, &[0x17, 0, 0, 0, 0, 1]));
    let mut metadata = Vec::new();
    crate::amf0::encode_all(
        &[s("@setDataFrame"), s("onMetaData"), Amf0Value::EcmaArray(vec![("width".into(), n(320.0))])],
        &mut metadata,
    );
    input.extend(publisher.message(5, type_id::AMF0_DATA, 1, 0, &metadata));
    let mut amf3_metadata = vec![0u8];
    crate::amf0::encode_all(&[s("onMetaData"), Amf0Value::Object(vec![("fps".into(), n(30.0))])], &mut amf3_metadata);
    input.extend(publisher.message(5, type_id::AMF3_DATA, 1, 0, &amf3_metadata));
    input.extend(publisher.message(6, type_id::AUDIO, 1, 23, &[0xaf, 1, 2]));
    input.extend(publisher.message(6, type_id::AUDIO, 7, 23, &[0xaf, 1, 3]));
    input.extend(publisher.message(6, type_id::AUDIO, 1, 24, &[]));
    let events = connection.feed(&input).unwrap();
    assert_eq!(events.len(), 5, "{events:?}");
    assert!(matches!(events[0], RtmpEvent::PublishRequested { .. }));
    assert_eq!(events[1], RtmpEvent::Video { timestamp: 0, data: Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]) });
    assert_eq!(events[2], RtmpEvent::Metadata { properties: vec![("width".into(), n(320.0))] });
    assert_eq!(events[3], RtmpEvent::Metadata { properties: vec![("fps".into(), n(30.0))] });
    assert_eq!(events[4], RtmpEvent::Audio { timestamp: 23, data: Bytes::from_static(&[0xaf, 1, 2]) });
}

#[test]
fn amf3_command_message_is_understood() {
    let mut connection = ServerConnection::new(RtmpLimits::default());
    connection.feed(&handshake_bytes()).unwrap();
    let mut payload = vec![0u8];
    crate::amf0::encode_all(&connect_command(1.0), &mut payload);
    let events = connection.feed(&Publisher::new().message(3, type_id::AMF3_COMMAND, 0, 0, &payload)).unwrap();
    assert!(matches!(events[..], [RtmpEvent::Connected { .. }]));
}

#[test]
fn ping_request_gets_ping_response() {
    let (mut connection, mut publisher, mut output) = connected();
    connection.feed(&publisher.message(2, type_id::USER_CONTROL, 0, 0, &[0, 6, 0, 0, 0x30, 0x39])).unwrap();
    let messages = output.read(&mut connection);
    assert_eq!(messages.len(), 1);
    assert_eq!(&messages[0].payload[..], &[0, 7, 0, 0, 0x30, 0x39]);
}

#[test]
fn acknowledgements_follow_the_peer_window() {
    let (mut connection, mut publisher, mut output) = publishing();
    connection.feed(&publisher.message(2, type_id::WINDOW_ACK_SIZE, 0, 0, &1000u32.to_be_bytes())).unwrap();
    let mut acks = Vec::new();
    for _ in 0..10 {
        connection.feed(&publisher.message(6, type_id::AUDIO, 1, 0, &[0xaf; 300])).unwrap();
        acks.extend(
            output.read(&mut connection).into_iter().filter(|message| message.type_id == type_id::ACKNOWLEDGEMENT),
        );
    }
    assert!(acks.len() >= 2, "{acks:?}");
    let sequence = read_u32(&acks[0].payload, "test").unwrap() as u64;
    assert!(sequence > 1000 && sequence <= connection.bytes_received());
}

#[test]
fn peer_chunk_size_is_applied() {
    let (mut connection, mut publisher, _) = publishing();
    connection.feed(&publisher.message(2, type_id::SET_CHUNK_SIZE, 0, 0, &8192u32.to_be_bytes())).unwrap();
    publisher.writer.set_chunk_size(8192);
    let frame = vec![0x27u8; 6000];
    let events = connection.feed(&publisher.message(4, type_id::VIDEO, 1, 40, &frame)).unwrap();
    assert_eq!(events, vec![RtmpEvent::Video { timestamp: 40, data: Bytes::from(frame) }]);
    assert!(connection.feed(&publisher.message(2, type_id::SET_CHUNK_SIZE, 0, 0, &0u32.to_be_bytes())).is_err());
}

#[test]
fn unpublish_is_reported_once() {
    let (mut connection, mut publisher, _) = publishing();
    let mut input = publisher.command(0, &[s("FCUnpublish"), n(6.0), Amf0Value::Null, s("key")]);
    input.extend(publisher.command(0, &[s("deleteStream"), n(7.0), Amf0Value::Null, n(1.0)]));
    input.extend(publisher.message(6, type_id::AUDIO, 1, 0, &[0xaf, 1, 2]));
    assert_eq!(connection.feed(&input).unwrap(), vec![RtmpEvent::Unpublished]);
    // The connection may publish again.
    let events = connection.feed(&publisher.command(1, &[s("publish"), n(0.0), Amf0Value::Null, s("again")])).unwrap();
    assert!(matches!(&events[..], [RtmpEvent::PublishRequested { stream_key, .. }] if stream_key == "again"));
}

#[test]
fn reject_and_disconnect_send_status() {
    let (mut connection, mut publisher, mut output) = connected();
    connection.feed(&publisher.command(1, &[s("publish"), n(0.0), Amf0Value::Null, s("bad")])).unwrap();
    connection.reject_publish("NetStream.Publish.BadName", "no such key");
    let replies = output.commands(&mut connection);
    assert_eq!(replies[0].0, 1);
    assert_eq!(replies[0].1[3].get("level"), Some(&s("error")));
    assert_eq!(replies[0].1[3].get("code"), Some(&s("NetStream.Publish.BadName")));
    let after = connection.feed(&publisher.message(6, type_id::AUDIO, 1, 0, &[0xaf, 1, 2])).unwrap();
    assert!(after.is_empty());

    let (mut connection, mut publisher, mut output) = publishing();
    connection.disconnect("NetConnection.Connect.Closed", "server shutting down");
    let replies = output.commands(&mut connection);
    assert_eq!(replies[0].1[3].get("code"), Some(&s("NetConnection.Connect.Closed")));
    let after = connection.feed(&publisher.message(6, type_id::AUDIO, 1, 0, &[0xaf, 1, 2])).unwrap();
    assert!(after.is_empty());
}

#[test]
fn protocol_violations_are_errors_and_stick() {
    let mut connection = ServerConnection::new(RtmpLimits::default());
    connection.feed(&handshake_bytes()).unwrap();
    let early = Publisher::new().command(0, &[s("createStream"), n(2.0), Amf0Value::Null]);
    assert!(matches!(connection.feed(&early), Err(MediaError::Invalid { .. })));
    assert!(connection.feed(&[]).is_err());

    let (mut connection, mut publisher, _) = connected();
    assert!(connection.feed(&publisher.command(0, &connect_command(9.0))).is_err());

    let (mut connection, mut publisher, _) = connected();
    let garbage = publisher.message(3, type_id::AMF0_COMMAND, 0, 0, &[0x02, 0x00, 0x09, b'x']);
    assert!(matches!(connection.feed(&garbage), Err(MediaError::Truncated { .. } | MediaError::Invalid { .. })));

    let (mut connection, mut publisher, _) = connected();
    let numeric_name = publisher.command(0, &[s("publish"), n(0.0), Amf0Value::Null, n(5.0)]);
    assert!(connection.feed(&numeric_name).is_err());

    let mut connection = ServerConnection::new(RtmpLimits::default());
    assert!(connection.feed(&[6u8; 10]).is_err());
}

#[test]
fn connect_without_app_is_invalid() {
    let mut connection = ServerConnection::new(RtmpLimits::default());
    connection.feed(&handshake_bytes()).unwrap();
    let connect = Publisher::new().command(0, &[s("connect"), n(1.0), Amf0Value::Object(vec![])]);
    assert!(matches!(connection.feed(&connect), Err(MediaError::Invalid { .. })));
}

#[test]
fn oversized_message_is_too_large() {
    let limits = RtmpLimits { max_message_size: 1000, ..RtmpLimits::default() };
    let mut connection = ServerConnection::new(limits);
    connection.feed(&handshake_bytes()).unwrap();
    let big = Publisher::new().message(4, type_id::VIDEO, 1, 0, &[0u8; 1001]);
    assert!(matches!(connection.feed(&big), Err(MediaError::TooLarge { .. })));
}

#[test]
fn until_a_publish_is_requested_the_limits_are_small() {
    // 100 KB in one message: too much before the key is named.
    let frame = vec![0x17u8; 100_000];
    let (mut connection, mut publisher, _) = connected();
    let early = publisher.message(4, type_id::VIDEO, 1, 0, &frame);
    assert!(matches!(connection.feed(&early), Err(MediaError::TooLarge { .. })));
    // Declared but not sent: a partial message is refused as soon as its
    // length is read, before anything is buffered.
    let (mut connection, mut publisher, _) = connected();
    let set_chunk_size = publisher.message(2, type_id::SET_CHUNK_SIZE, 0, 0, &(1u32 << 20).to_be_bytes());
    connection.feed(&set_chunk_size).unwrap();
    let declared = publisher.message(4, type_id::VIDEO, 1, 0, &frame);
    assert!(matches!(connection.feed(declared.get(..1000).unwrap()), Err(MediaError::TooLarge { .. })));
    // Once a publish is requested, the full limits hold, and the chunk
    // size the peer set before (clamped until then) applies in full.
    let (mut connection, mut publisher, _) = connected();
    connection.feed(&publisher.message(2, type_id::SET_CHUNK_SIZE, 0, 0, &(1u32 << 20).to_be_bytes())).unwrap();
    publisher.writer.set_chunk_size(1 << 20);
    let events =
        connection.feed(&publisher.command(1, &[s("publish"), n(0.0), Amf0Value::Null, s("key"), s("live")])).unwrap();
    assert!(matches!(events.as_slice(), [RtmpEvent::PublishRequested { .. }]));
    connection.accept_publish();
    let events = connection.feed(&publisher.message(4, type_id::VIDEO, 1, 0, &frame)).unwrap();
    assert!(matches!(events.as_slice(), [RtmpEvent::Video { data, .. }] if data.len() == frame.len()));
}

#[test]
fn bytes_received_counts_everything() {
    let (connection, _, _) = connected();
    assert!(connection.bytes_received() > CLIENT_HANDSHAKE_LEN as u64);
}
