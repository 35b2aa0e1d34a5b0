//! AMF0 (Action Message Format 0), the encoding used by RTMP commands and
//! stream metadata. Only the value model plus a bounded decoder and an
//! encoder live here; the RTMP layer decides what the values mean.

mod decode;
mod encode;

pub use decode::{decode_all, Amf0Decoder, MAX_DEPTH, MAX_VALUES};
pub use encode::{encode_all, encode_value};

/// One AMF0 value. Objects keep their properties in wire order, which also
/// keeps duplicate keys a hostile peer may send from being silently merged.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    Number(f64),
    Boolean(bool),
    /// Short and long strings (and XML documents) all decode to this.
    String(String),
    /// Anonymous and typed objects (the class name of a typed object is dropped).
    Object(Vec<(String, Amf0Value)>),
    Null,
    Undefined,
    EcmaArray(Vec<(String, Amf0Value)>),
    StrictArray(Vec<Amf0Value>),
    /// Milliseconds since the Unix epoch; the time-zone field is ignored.
    Date(f64),
}

impl Amf0Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0Value::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match self {
            Amf0Value::Number(number) => Some(*number),
            _ => None,
        }
    }

    /// Properties of an object or ECMA array, `None` for anything else.
    pub fn properties(&self) -> Option<&[(String, Amf0Value)]> {
        match self {
            Amf0Value::Object(properties) | Amf0Value::EcmaArray(properties) => Some(properties),
            _ => None,
        }
    }

    /// First property called `key` of an object or ECMA array.
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        self.properties()?.iter().find(|(name, _)| name == key).map(|(_, value)| value)
    }
}

/// Wire markers from the AMF0 specification.
pub(crate) mod marker {
    pub const NUMBER: u8 = 0x00;
    pub const BOOLEAN: u8 = 0x01;
    pub const STRING: u8 = 0x02;
    pub const OBJECT: u8 = 0x03;
    pub const MOVIECLIP: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const UNDEFINED: u8 = 0x06;
    pub const REFERENCE: u8 = 0x07;
    pub const ECMA_ARRAY: u8 = 0x08;
    pub const OBJECT_END: u8 = 0x09;
    pub const STRICT_ARRAY: u8 = 0x0a;
    pub const DATE: u8 = 0x0b;
    pub const LONG_STRING: u8 = 0x0c;
    pub const UNSUPPORTED: u8 = 0x0d;
    pub const RECORDSET: u8 = 0x0e;
    pub const XML_DOCUMENT: u8 = 0x0f;
    pub const TYPED_OBJECT: u8 = 0x10;
    pub const AVMPLUS: u8 = 0x11;
}

#[cfg(test)]
mod tests;
