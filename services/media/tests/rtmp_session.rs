//! Drives `ServerConnection` with an independent RTMP client implementation
//! (rml_rtmp's `ClientSession`) and the FLV fixture.

use bytes::Bytes;
use media::amf0::Amf0Value;
use media::flv::{FlvFileReader, FlvTag, TAG_AUDIO, TAG_VIDEO};
use media::rtmp::{RtmpEvent, RtmpLimits, ServerConnection};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType, StreamMetadata,
};
use rml_rtmp::time::RtmpTimestamp;

const BFRAMES: &[u8] = include_bytes!("../testdata/bframes.flv");

/// A client and a server wired back to back, with events collected.
struct Pair {
    server: ServerConnection,
    client: ClientSession,
    server_events: Vec<RtmpEvent>,
    client_events: Vec<ClientSessionEvent>,
}

impl Pair {
    fn handshaken() -> Pair {
        let mut server = ServerConnection::new(RtmpLimits::default());
        let mut client_handshake = Handshake::new(PeerType::Client);
        let c0_c1 = client_handshake.generate_outbound_p0_and_p1().unwrap();
        assert!(server.feed(&c0_c1).unwrap().is_empty());
        let s0_s1_s2 = server.take_outgoing().unwrap();
        let c2 = match client_handshake.process_bytes(&s0_s1_s2).unwrap() {
            HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                assert!(remaining_bytes.is_empty());
                response_bytes
            }
            other => panic!("client handshake not complete: {other:?}"),
        };
        assert!(server.feed(&c2).unwrap().is_empty());
        assert!(server.take_outgoing().is_none());

        let mut config = ClientSessionConfig::new();
        config.tc_url = Some("rtmp://127.0.0.1/live".into());
        let (client, initial) = ClientSession::new(config).unwrap();
        let mut pair = Pair { server, client, server_events: Vec::new(), client_events: Vec::new() };
        pair.handle_client_results(initial);
        pair
    }

    /// Feeds client output to the server in uneven pieces, then pumps replies.
    fn send_to_server(&mut self, bytes: &[u8]) {
        for piece in bytes.chunks(997) {
            let events = self.server.feed(piece).unwrap();
            self.server_events.extend(events);
        }
        self.pump_server_output();
    }

    fn pump_server_output(&mut self) {
        while let Some(bytes) = self.server.take_outgoing() {
            let results = self.client.handle_input(&bytes).unwrap();
            self.handle_client_results(results);
        }
    }

    fn handle_client_results(&mut self, results: Vec<ClientSessionResult>) {
        let mut outbound = Vec::new();
        for result in results {
            match result {
                ClientSessionResult::OutboundResponse(packet) => outbound.extend(packet.bytes),
                ClientSessionResult::RaisedEvent(event) => self.client_events.push(event),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        if !outbound.is_empty() {
            self.send_to_server(&outbound);
        }
    }

    fn client_result(&mut self, result: ClientSessionResult) {
        self.handle_client_results(vec![result]);
    }

    fn connect_and_request_publish(stream_key: &str) -> Pair {
        let mut pair = Pair::handshaken();
        let connect = pair.client.request_connection("live".into()).unwrap();
        pair.client_result(connect);
        assert!(pair.client_events.contains(&ClientSessionEvent::ConnectionRequestAccepted));
        assert_eq!(
            pair.server_events.remove(0),
            RtmpEvent::Connected { app: "live".into(), tc_url: Some("rtmp://127.0.0.1/live".into()) }
        );
        let publish = pair.client.request_publishing(stream_key.into(), PublishRequestType::Live).unwrap();
        pair.client_result(publish);
        pair
    }
}

fn fixture_media_tags() -> Vec<FlvTag> {
    FlvFileReader::new(Bytes::from_static(BFRAMES))
        .unwrap()
        .map(Result::unwrap)
        .filter(|tag| tag.tag_type == TAG_AUDIO || tag.tag_type == TAG_VIDEO)
        .collect()
}

fn publish_fixture(timestamp_offset: u32) {
    let mut pair = Pair::connect_and_request_publish("stream-key?token=secret");
    assert_eq!(
        pair.server_events.drain(..).collect::<Vec<_>>(),
        vec![RtmpEvent::PublishRequested {
            app: "live".into(),
            stream_key: "stream-key".into(),
            query: Some("token=secret".into()),
        }]
    );
    pair.server.accept_publish();
    pair.pump_server_output();
    assert!(pair.client_events.contains(&ClientSessionEvent::PublishRequestAccepted));

    let mut metadata = StreamMetadata::new();
    metadata.video_width = Some(320);
    metadata.video_height = Some(240);
    let metadata_packet = pair.client.publish_metadata(&metadata).unwrap();
    pair.client_result(metadata_packet);
    let properties = match pair.server_events.remove(0) {
        RtmpEvent::Metadata { properties } => properties,
        other => panic!("expected metadata, got {other:?}"),
    };
    assert!(properties.contains(&("width".to_string(), Amf0Value::Number(320.0))));

    // Queue the whole file before feeding, so chunks of many messages share reads.
    let tags = fixture_media_tags();
    let mut wire = Vec::new();
    for tag in &tags {
        let timestamp = RtmpTimestamp::new(tag.timestamp.wrapping_add(timestamp_offset));
        let result = if tag.tag_type == TAG_VIDEO {
            pair.client.publish_video_data(tag.body.clone(), timestamp, false)
        } else {
            pair.client.publish_audio_data(tag.body.clone(), timestamp, false)
        };
        match result.unwrap() {
            ClientSessionResult::OutboundResponse(packet) => wire.extend(packet.bytes),
            other => panic!("unexpected {other:?}"),
        }
    }
    pair.send_to_server(&wire);

    let expected: Vec<RtmpEvent> = tags
        .iter()
        .map(|tag| {
            let timestamp = tag.timestamp.wrapping_add(timestamp_offset);
            let data = tag.body.clone();
            if tag.tag_type == TAG_VIDEO {
                RtmpEvent::Video { timestamp, data }
            } else {
                RtmpEvent::Audio { timestamp, data }
            }
        })
        .collect();
    assert_eq!(pair.server_events.len(), expected.len());
    for (index, (got, want)) in pair.server_events.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "event {index}");
    }
    assert!(pair.server.bytes_received() > wire.len() as u64);

    pair.server_events.clear();
    let stop = pair.client.stop_publishing().unwrap();
    pair.handle_client_results(stop);
    assert_eq!(pair.server_events, vec![RtmpEvent::Unpublished]);
}

#[test]
fn publishes_fixture_through_rml_client() {
    publish_fixture(0);
}

#[test]
fn extended_and_wrapping_timestamps_survive() {
    // Starts in the extended-timestamp range and wraps past 2^32 mid-stream.
    publish_fixture(0xffff_f000);
}

#[test]
fn rejected_publish_reaches_the_client() {
    let mut pair = Pair::connect_and_request_publish("wrong");
    assert!(
        matches!(&pair.server_events[..], [RtmpEvent::PublishRequested { stream_key, query: None, .. }] if stream_key == "wrong")
    );
    pair.server.reject_publish("NetStream.Publish.BadName", "unknown stream key");
    pair.pump_server_output();
    assert!(pair
        .client_events
        .contains(&ClientSessionEvent::UnhandleableOnStatusCode { code: "NetStream.Publish.BadName".into() }));
    assert!(!pair.client_events.contains(&ClientSessionEvent::PublishRequestAccepted));
}

#[test]
fn client_ping_gets_answered() {
    let mut pair = Pair::connect_and_request_publish("key");
    let (packet, timestamp) = pair.client.send_ping_request().unwrap();
    pair.send_to_server(&packet.bytes);
    assert!(pair.client_events.contains(&ClientSessionEvent::PingResponseReceived { timestamp }));
}
