//! Server session state machine for one publisher connection.

use super::chunk_reader::{ChunkReader, RawMessage};
use super::chunk_writer::ChunkWriter;
use super::command::{self, Command};
use super::handshake::ServerHandshake;
use super::message::{read_u16, read_u32, type_id, user_control};
use super::{RtmpEvent, RtmpLimits};
use crate::amf0::{decode_all, Amf0Value};
use crate::error::MediaError;
use bytes::Bytes;
use tracing::debug;

const WHAT: &str = "rtmp session";
/// Our outgoing chunk size, announced right after `connect`.
const OUTGOING_CHUNK_SIZE: u32 = 4096;
const WINDOW_ACK_SIZE: u32 = 2_500_000;
const PEER_BANDWIDTH: u32 = 2_500_000;
/// The stream id `createStream` hands out; one publish per connection.
const PUBLISH_STREAM_ID: u32 = 1;
/// Input is parsed in pieces of this size so the unparsed buffer stays
/// small even when the caller feeds large reads.
const FEED_PIECE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    AwaitingConnect,
    Connected,
    PublishPending {
        stream_id: u32,
    },
    Publishing {
        stream_id: u32,
    },
    /// Publish refused; waiting for the caller to close.
    Rejected,
    /// [`ServerConnection::disconnect`] was called; input is drained but ignored.
    Closed,
}

/// One RTMP server connection (handshake included). See the module docs.
pub struct ServerConnection {
    handshake: ServerHandshake,
    reader: ChunkReader,
    /// The full limits, applied once a publish is requested.
    limits: RtmpLimits,
    writer: ChunkWriter,
    phase: Phase,
    app: String,
    bytes_received: u64,
    peer_ack_window: u32,
    last_ack_at: u64,
    failed: bool,
}

impl ServerConnection {
    pub fn new(limits: RtmpLimits) -> Self {
        ServerConnection {
            handshake: ServerHandshake::new(),
            reader: ChunkReader::new(limits.before_publish()),
            limits,
            writer: ChunkWriter::new(),
            phase: Phase::AwaitingConnect,
            app: String::new(),
            bytes_received: 0,
            peer_ack_window: 0,
            last_ack_at: 0,
            failed: false,
        }
    }

    /// Feeds bytes read from the socket and returns the events they caused.
    /// Replies go to the outbox ([`Self::take_outgoing`]). After an error
    /// the connection must be closed; later calls keep failing.
    pub fn feed(&mut self, input: &[u8]) -> Result<Vec<RtmpEvent>, MediaError> {
        if self.failed {
            return Err(MediaError::invalid(WHAT, "connection already failed"));
        }
        let result = self.feed_inner(input);
        self.failed = result.is_err();
        result
    }

    /// Everything queued for the socket since the last call, as one buffer,
    /// or `None` if there is nothing to send. Must be written in order.
    pub fn take_outgoing(&mut self) -> Option<Bytes> {
        self.writer.take()
    }

    /// Accepts the pending publish (StreamBegin + `NetStream.Publish.Start`).
    /// Does nothing if no publish is pending.
    pub fn accept_publish(&mut self) {
        if let Phase::PublishPending { stream_id } = self.phase {
            self.writer.send_user_control(user_control::STREAM_BEGIN, stream_id);
            let info = command::status_info("status", "NetStream.Publish.Start", "Publishing started.");
            self.writer.send_command(stream_id, &command::on_status(info));
            self.phase = Phase::Publishing { stream_id };
        }
    }

    /// Refuses the publish with an error-level `onStatus` carrying `code`
    /// (e.g. `NetStream.Publish.BadName`). The caller then closes.
    pub fn reject_publish(&mut self, code: &str, description: &str) {
        let stream_id = self.publish_stream_id();
        let info = command::status_info("error", code, description);
        self.writer.send_command(stream_id, &command::on_status(info));
        self.phase = Phase::Rejected;
    }

    /// Asks the publisher to stop (e.g. the server is draining) with a
    /// status-level `onStatus` such as `NetConnection.Connect.Closed` or
    /// `NetStream.Publish.Idle`. Later input is ignored.
    pub fn disconnect(&mut self, code: &str, description: &str) {
        let stream_id = self.publish_stream_id();
        let info = command::status_info("status", code, description);
        self.writer.send_command(stream_id, &command::on_status(info));
        self.phase = Phase::Closed;
    }

    /// All bytes fed so far, handshake included.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    fn publish_stream_id(&self) -> u32 {
        match self.phase {
            Phase::PublishPending { stream_id } | Phase::Publishing { stream_id } => stream_id,
            _ => 0,
        }
    }

    fn feed_inner(&mut self, input: &[u8]) -> Result<Vec<RtmpEvent>, MediaError> {
        self.bytes_received += input.len() as u64;
        let mut events = Vec::new();
        let mut rest = input;
        if !self.handshake.is_complete() {
            let step = self.handshake.feed(rest)?;
            self.writer.write_raw(&step.reply);
            rest = rest.get(step.consumed..).unwrap_or_default();
            if !self.handshake.is_complete() {
                if !rest.is_empty() {
                    return Err(MediaError::invalid("rtmp handshake", "did not complete after C2"));
                }
                return Ok(events);
            }
            self.reader.push(&step.leftover);
        }
        let mut pieces = rest.chunks(FEED_PIECE);
        loop {
            while let Some(message) = self.reader.read_message()? {
                self.handle_message(message, &mut events)?;
            }
            self.reader.check_buffered()?;
            match pieces.next() {
                Some(piece) => self.reader.push(piece),
                None => break,
            }
        }
        self.acknowledge_if_due();
        Ok(events)
    }

    /// Sends an Acknowledgement each time another window of bytes arrived,
    /// once the peer has told us its window size.
    fn acknowledge_if_due(&mut self) {
        let window = u64::from(self.peer_ack_window);
        if window > 0 && self.bytes_received - self.last_ack_at >= window {
            // The sequence number is a 32-bit counter that wraps.
            self.writer.send_acknowledgement(self.bytes_received as u32);
            self.last_ack_at = self.bytes_received;
        }
    }

    fn handle_message(&mut self, message: RawMessage, events: &mut Vec<RtmpEvent>) -> Result<(), MediaError> {
        let payload = &message.payload[..];
        match message.type_id {
            type_id::SET_CHUNK_SIZE => self.reader.set_chunk_size(read_u32(payload, "set chunk size")?)?,
            type_id::ABORT => self.reader.abort(read_u32(payload, "abort message")?),
            type_id::WINDOW_ACK_SIZE => self.peer_ack_window = read_u32(payload, "window ack size")?,
            type_id::USER_CONTROL => self.handle_user_control(payload)?,
            type_id::ACKNOWLEDGEMENT | type_id::SET_PEER_BANDWIDTH => {}
            type_id::AUDIO | type_id::VIDEO => self.handle_media(message, events),
            type_id::AMF0_DATA => self.handle_data(payload, events)?,
            type_id::AMF3_DATA => self.handle_data(skip_amf3_switch(payload), events)?,
            type_id::AMF0_COMMAND => self.handle_command(Command::parse(payload)?, message.stream_id, events)?,
            type_id::AMF3_COMMAND => {
                let command = Command::parse(skip_amf3_switch(payload))?;
                self.handle_command(command, message.stream_id, events)?
            }
            other => debug!(type_id = other, "ignoring rtmp message"),
        }
        Ok(())
    }

    fn handle_user_control(&mut self, payload: &[u8]) -> Result<(), MediaError> {
        if read_u16(payload, "user control")? == user_control::PING_REQUEST {
            let timestamp = read_u32(payload.get(2..).unwrap_or_default(), "ping request")?;
            self.writer.send_user_control(user_control::PING_RESPONSE, timestamp);
        }
        Ok(())
    }

    /// Media is reported from the `publish` until the answer too, so nothing
    /// is lost when the publisher does not wait for `Publish.Start`.
    fn media_stream_accepted(&self, stream_id: u32) -> bool {
        match self.phase {
            Phase::PublishPending { stream_id: publishing } | Phase::Publishing { stream_id: publishing } => {
                publishing == stream_id
            }
            _ => false,
        }
    }

    fn handle_media(&mut self, message: RawMessage, events: &mut Vec<RtmpEvent>) {
        if !self.media_stream_accepted(message.stream_id) || message.payload.is_empty() {
            return;
        }
        let (timestamp, data) = (message.timestamp, message.payload);
        events.push(match message.type_id {
            type_id::AUDIO => RtmpEvent::Audio { timestamp, data },
            _ => RtmpEvent::Video { timestamp, data },
        });
    }

    fn handle_data(&mut self, payload: &[u8], events: &mut Vec<RtmpEvent>) -> Result<(), MediaError> {
        let values = decode_all(payload)?;
        if !matches!(self.phase, Phase::PublishPending { .. } | Phase::Publishing { .. }) {
            return Ok(());
        }
        let mut values = values.into_iter().peekable();
        if values.peek().and_then(Amf0Value::as_str) == Some("@setDataFrame") {
            values.next();
        }
        if values.next().as_ref().and_then(Amf0Value::as_str) != Some("onMetaData") {
            return Ok(());
        }
        match values.next() {
            Some(Amf0Value::Object(properties) | Amf0Value::EcmaArray(properties)) => {
                events.push(RtmpEvent::Metadata { properties });
            }
            other => debug!(?other, "ignoring onMetaData without properties"),
        }
        Ok(())
    }

    fn handle_command(
        &mut self,
        command: Command,
        stream_id: u32,
        events: &mut Vec<RtmpEvent>,
    ) -> Result<(), MediaError> {
        if self.phase == Phase::Closed {
            return Ok(());
        }
        if command.name == "connect" {
            return self.handle_connect(command, events);
        }
        if self.phase == Phase::AwaitingConnect {
            return Err(MediaError::invalid(WHAT, format!("{} before connect", command.name)));
        }
        let transaction_id = command.transaction_id;
        match command.name.as_str() {
            "releaseStream" | "FCPublish" | "FCUnpublish" => {
                if command.name == "FCPublish" {
                    let name = command.first_string_arg().unwrap_or_default();
                    self.writer.send_command(0, &command::on_fc_publish(name));
                }
                if command.name == "FCUnpublish" {
                    self.end_publish(events);
                }
                if transaction_id != 0.0 {
                    self.writer.send_command(0, &command::simple_result(transaction_id, Amf0Value::Undefined));
                }
            }
            "createStream" => {
                let result = command::simple_result(transaction_id, Amf0Value::Number(f64::from(PUBLISH_STREAM_ID)));
                self.writer.send_command(0, &result);
            }
            "publish" => self.handle_publish(&command, stream_id, events)?,
            "deleteStream" | "closeStream" => self.end_publish(events),
            other => debug!(command = other, "ignoring rtmp command"),
        }
        Ok(())
    }

    fn handle_connect(&mut self, command: Command, events: &mut Vec<RtmpEvent>) -> Result<(), MediaError> {
        if self.phase != Phase::AwaitingConnect {
            return Err(MediaError::invalid(WHAT, "second connect"));
        }
        let app = match command.object.get("app") {
            Some(Amf0Value::String(app)) => app.clone(),
            other => return Err(MediaError::invalid(WHAT, format!("connect app {other:?}"))),
        };
        let tc_url = command.object.get("tcUrl").and_then(Amf0Value::as_str).map(str::to_owned);
        let object_encoding = command.object.get("objectEncoding").and_then(Amf0Value::as_number).unwrap_or(0.0);

        self.writer.send_window_ack_size(WINDOW_ACK_SIZE);
        self.writer.send_set_peer_bandwidth(PEER_BANDWIDTH);
        self.writer.send_set_chunk_size(OUTGOING_CHUNK_SIZE);
        self.writer.send_command(0, &command::connect_result(command.transaction_id, object_encoding));

        self.app = app.clone();
        self.phase = Phase::Connected;
        events.push(RtmpEvent::Connected { app, tc_url });
        Ok(())
    }

    fn handle_publish(
        &mut self,
        command: &Command,
        stream_id: u32,
        events: &mut Vec<RtmpEvent>,
    ) -> Result<(), MediaError> {
        if self.phase != Phase::Connected {
            return Err(MediaError::invalid(WHAT, format!("publish in state {:?}", self.phase)));
        }
        let Some(name) = command.first_string_arg() else {
            return Err(MediaError::invalid(WHAT, "publish without a stream name"));
        };
        let (stream_key, query) = match name.split_once('?') {
            Some((key, query)) => (key.to_owned(), Some(query.to_owned())),
            None => (name.to_owned(), None),
        };
        self.phase = Phase::PublishPending { stream_id };
        self.reader.set_limits(self.limits);
        events.push(RtmpEvent::PublishRequested { app: self.app.clone(), stream_key, query });
        Ok(())
    }

    fn end_publish(&mut self, events: &mut Vec<RtmpEvent>) {
        if matches!(self.phase, Phase::PublishPending { .. } | Phase::Publishing { .. }) {
            self.phase = Phase::Connected;
            events.push(RtmpEvent::Unpublished);
        }
    }
}

/// AMF3 command/data messages used by AMF0-speaking clients start with a
/// zero "switch to AMF0" byte.
fn skip_amf3_switch(payload: &[u8]) -> &[u8] {
    match payload.split_first() {
        Some((0, rest)) => rest,
        _ => payload,
    }
}

#[cfg(test)]
mod tests;
