//! AMF0 encoder for the values the server sends (command replies, status
//! objects) and for tests.

use super::{marker, Amf0Value};
use bytes::BufMut;

/// Appends `value` to `out`. Strings longer than 65535 bytes use the
/// long-string marker. Property keys are limited to 65535 bytes by the
/// format; longer keys are cut at a character boundary.
pub fn encode_value(value: &Amf0Value, out: &mut impl BufMut) {
    match value {
        Amf0Value::Number(number) => {
            out.put_u8(marker::NUMBER);
            out.put_f64(*number);
        }
        Amf0Value::Boolean(flag) => {
            out.put_u8(marker::BOOLEAN);
            out.put_u8(u8::from(*flag));
        }
        Amf0Value::String(text) => match u16::try_from(text.len()) {
            Ok(len) => {
                out.put_u8(marker::STRING);
                out.put_u16(len);
                out.put_slice(text.as_bytes());
            }
            Err(_) => {
                let bytes = text.as_bytes();
                let bytes = bytes.get(..u32::MAX as usize).unwrap_or(bytes);
                out.put_u8(marker::LONG_STRING);
                out.put_u32(bytes.len() as u32);
                out.put_slice(bytes);
            }
        },
        Amf0Value::Object(properties) => {
            out.put_u8(marker::OBJECT);
            encode_properties(properties, out);
        }
        Amf0Value::Null => out.put_u8(marker::NULL),
        Amf0Value::Undefined => out.put_u8(marker::UNDEFINED),
        Amf0Value::EcmaArray(properties) => {
            out.put_u8(marker::ECMA_ARRAY);
            out.put_u32(u32::try_from(properties.len()).unwrap_or(u32::MAX));
            encode_properties(properties, out);
        }
        Amf0Value::StrictArray(items) => {
            let items = items.get(..u32::MAX as usize).unwrap_or(items);
            out.put_u8(marker::STRICT_ARRAY);
            out.put_u32(items.len() as u32);
            for item in items {
                encode_value(item, out);
            }
        }
        Amf0Value::Date(millis) => {
            out.put_u8(marker::DATE);
            out.put_f64(*millis);
            out.put_u16(0);
        }
    }
}

/// Appends every value in order, e.g. a command name, transaction id and arguments.
pub fn encode_all(values: &[Amf0Value], out: &mut impl BufMut) {
    for value in values {
        encode_value(value, out);
    }
}

fn encode_properties(properties: &[(String, Amf0Value)], out: &mut impl BufMut) {
    for (key, value) in properties {
        let key = truncate_to_boundary(key, usize::from(u16::MAX));
        out.put_u16(key.len() as u16);
        out.put_slice(key.as_bytes());
        encode_value(value, out);
    }
    out.put_u16(0);
    out.put_u8(marker::OBJECT_END);
}

fn truncate_to_boundary(text: &str, max_len: usize) -> &str {
    if text.len() <= max_len {
        return text;
    }
    let mut end = max_len;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
