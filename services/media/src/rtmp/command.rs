//! AMF0 command messages: parsing what the publisher sends and building the
//! replies it expects.

use crate::amf0::{decode_all, Amf0Value};
use crate::error::MediaError;

const WHAT: &str = "rtmp command";

/// Version string and capability bits most publishers expect from a server.
const FMS_VERSION: &str = "FMS/3,0,1,123";
const FMS_CAPABILITIES: f64 = 31.0;

/// `name, transaction id, command object, arguments...`
#[derive(Debug)]
pub(crate) struct Command {
    pub name: String,
    pub transaction_id: f64,
    pub object: Amf0Value,
    pub args: Vec<Amf0Value>,
}

impl Command {
    pub fn parse(payload: &[u8]) -> Result<Command, MediaError> {
        let mut values = decode_all(payload)?.into_iter();
        let name = match values.next() {
            Some(Amf0Value::String(name)) => name,
            other => return Err(MediaError::invalid(WHAT, format!("command name {other:?}"))),
        };
        let transaction_id = match values.next() {
            Some(Amf0Value::Number(id)) => id,
            None => 0.0,
            Some(other) => return Err(MediaError::invalid(WHAT, format!("transaction id {other:?}"))),
        };
        let object = values.next().unwrap_or(Amf0Value::Null);
        Ok(Command { name, transaction_id, object, args: values.collect() })
    }

    /// The first argument as a string (the stream name of publish, FCPublish, ...).
    pub fn first_string_arg(&self) -> Option<&str> {
        self.args.first().and_then(Amf0Value::as_str)
    }
}

fn text(value: &str) -> Amf0Value {
    Amf0Value::String(value.to_owned())
}

fn property(key: &str, value: Amf0Value) -> (String, Amf0Value) {
    (key.to_owned(), value)
}

fn status_properties(level: &str, code: &str, description: &str) -> Vec<(String, Amf0Value)> {
    vec![property("level", text(level)), property("code", text(code)), property("description", text(description))]
}

/// An `onStatus`-style info object.
pub(crate) fn status_info(level: &str, code: &str, description: &str) -> Amf0Value {
    Amf0Value::Object(status_properties(level, code, description))
}

pub(crate) fn connect_result(transaction_id: f64, object_encoding: f64) -> Vec<Amf0Value> {
    let server = Amf0Value::Object(vec![
        property("fmsVer", text(FMS_VERSION)),
        property("capabilities", Amf0Value::Number(FMS_CAPABILITIES)),
        property("mode", Amf0Value::Number(1.0)),
    ]);
    let mut info = status_properties("status", "NetConnection.Connect.Success", "Connection succeeded.");
    info.push(property("objectEncoding", Amf0Value::Number(object_encoding)));
    vec![text("_result"), Amf0Value::Number(transaction_id), server, Amf0Value::Object(info)]
}

/// `_result` with a null command object and one value.
pub(crate) fn simple_result(transaction_id: f64, value: Amf0Value) -> Vec<Amf0Value> {
    vec![text("_result"), Amf0Value::Number(transaction_id), Amf0Value::Null, value]
}

pub(crate) fn on_status(info: Amf0Value) -> Vec<Amf0Value> {
    vec![text("onStatus"), Amf0Value::Number(0.0), Amf0Value::Null, info]
}

pub(crate) fn on_fc_publish(stream_name: &str) -> Vec<Amf0Value> {
    let info = Amf0Value::Object(vec![
        property("code", text("NetStream.Publish.Start")),
        property("description", text(stream_name)),
    ]);
    vec![text("onFCPublish"), Amf0Value::Number(0.0), Amf0Value::Null, info]
}
