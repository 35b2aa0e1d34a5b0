//! Bounded AMF0 decoder: every length is checked against the bytes actually
//! present, nesting is capped, and so is the total number of values, so a
//! small hostile message cannot expand into a large allocation.

use super::{marker, Amf0Value};
use crate::error::MediaError;

/// Deepest nesting of objects/arrays accepted.
pub const MAX_DEPTH: usize = 32;
/// Most values (including nested ones and property values) decoded by one decoder.
pub const MAX_VALUES: usize = 65_536;

const WHAT: &str = "amf0";

/// Reads consecutive AMF0 values from a byte slice.
pub struct Amf0Decoder<'a> {
    input: &'a [u8],
    position: usize,
    values_left: usize,
}

/// Decodes every value in `input` (an RTMP command or data message body).
pub fn decode_all(input: &[u8]) -> Result<Vec<Amf0Value>, MediaError> {
    let mut decoder = Amf0Decoder::new(input);
    let mut values = Vec::new();
    while let Some(value) = decoder.next_value()? {
        values.push(value);
    }
    Ok(values)
}

impl<'a> Amf0Decoder<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Amf0Decoder { input, position: 0, values_left: MAX_VALUES }
    }

    /// Bytes not consumed yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.input.get(self.position..).unwrap_or_default()
    }

    /// The next value, or `None` at the end of the input.
    pub fn next_value(&mut self) -> Result<Option<Amf0Value>, MediaError> {
        if self.remaining().is_empty() {
            return Ok(None);
        }
        self.value(0).map(Some)
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], MediaError> {
        let rest = self.remaining();
        match rest.get(..count) {
            Some(bytes) => {
                self.position += count;
                Ok(bytes)
            }
            None => Err(MediaError::Truncated { what: WHAT, needed: count - rest.len() }),
        }
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], MediaError> {
        let bytes = self.take(N)?;
        let mut array = [0u8; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, MediaError> {
        Ok(self.take_array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, MediaError> {
        Ok(u16::from_be_bytes(self.take_array()?))
    }

    fn u32(&mut self) -> Result<u32, MediaError> {
        Ok(u32::from_be_bytes(self.take_array()?))
    }

    fn f64(&mut self) -> Result<f64, MediaError> {
        Ok(f64::from_be_bytes(self.take_array()?))
    }

    /// Strings are taken as UTF-8; invalid sequences are replaced rather than
    /// rejected because some encoders put Latin-1 text into metadata.
    fn string_of_len(&mut self, len: usize) -> Result<String, MediaError> {
        let bytes = self.take(len)?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    fn short_string(&mut self) -> Result<String, MediaError> {
        let len = usize::from(self.u16()?);
        self.string_of_len(len)
    }

    fn long_string(&mut self) -> Result<String, MediaError> {
        let len = self.u32()? as usize;
        self.string_of_len(len)
    }

    fn value(&mut self, depth: usize) -> Result<Amf0Value, MediaError> {
        if self.values_left == 0 {
            return Err(MediaError::TooLarge { what: "amf0 value count", size: MAX_VALUES + 1, limit: MAX_VALUES });
        }
        self.values_left -= 1;
        let marker_byte = self.u8()?;
        let value = match marker_byte {
            marker::NUMBER => Amf0Value::Number(self.f64()?),
            marker::BOOLEAN => Amf0Value::Boolean(self.u8()? != 0),
            marker::STRING => Amf0Value::String(self.short_string()?),
            marker::LONG_STRING | marker::XML_DOCUMENT => Amf0Value::String(self.long_string()?),
            marker::NULL => Amf0Value::Null,
            marker::UNDEFINED | marker::UNSUPPORTED => Amf0Value::Undefined,
            marker::OBJECT => Amf0Value::Object(self.properties(depth, false)?),
            marker::TYPED_OBJECT => {
                let _class_name = self.short_string()?;
                Amf0Value::Object(self.properties(depth, false)?)
            }
            marker::ECMA_ARRAY => {
                // The count is only a hint (often wrong); the end marker is authoritative.
                let _count_hint = self.u32()?;
                Amf0Value::EcmaArray(self.properties(depth, true)?)
            }
            marker::STRICT_ARRAY => Amf0Value::StrictArray(self.strict_array(depth)?),
            marker::DATE => {
                let millis = self.f64()?;
                let _time_zone = self.u16()?;
                Amf0Value::Date(millis)
            }
            marker::REFERENCE | marker::AVMPLUS => {
                return Err(MediaError::unsupported(WHAT, format!("marker {marker_byte:#04x}")));
            }
            marker::MOVIECLIP | marker::RECORDSET | marker::OBJECT_END => {
                return Err(MediaError::invalid(WHAT, format!("unexpected marker {marker_byte:#04x}")));
            }
            other => return Err(MediaError::invalid(WHAT, format!("unknown marker {other:#04x}"))),
        };
        Ok(value)
    }

    fn check_depth(depth: usize) -> Result<usize, MediaError> {
        let nested = depth + 1;
        if nested > MAX_DEPTH {
            return Err(MediaError::TooLarge { what: "amf0 nesting depth", size: nested, limit: MAX_DEPTH });
        }
        Ok(nested)
    }

    /// Key/value pairs up to the empty-key + object-end terminator. ECMA
    /// arrays may also simply stop at the end of the input, as some
    /// encoders write them without a terminator.
    fn properties(&mut self, depth: usize, may_end_at_eof: bool) -> Result<Vec<(String, Amf0Value)>, MediaError> {
        let nested = Self::check_depth(depth)?;
        let mut properties = Vec::new();
        loop {
            if may_end_at_eof && self.remaining().is_empty() {
                return Ok(properties);
            }
            let key = self.short_string()?;
            if key.is_empty() && self.remaining().first() == Some(&marker::OBJECT_END) {
                self.position += 1;
                return Ok(properties);
            }
            let value = self.value(nested)?;
            properties.push((key, value));
        }
    }

    fn strict_array(&mut self, depth: usize) -> Result<Vec<Amf0Value>, MediaError> {
        let nested = Self::check_depth(depth)?;
        let count = self.u32()? as usize;
        // Every element takes at least one byte, so a count beyond the
        // remaining input is a lie; reject before reserving anything.
        let available = self.remaining().len();
        if count > available {
            return Err(MediaError::Truncated { what: WHAT, needed: count - available });
        }
        let mut items = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            items.push(self.value(nested)?);
        }
        Ok(items)
    }
}
