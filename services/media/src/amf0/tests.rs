use super::*;
use crate::error::MediaError;

fn round_trip(value: Amf0Value) {
    let mut out = Vec::new();
    encode_value(&value, &mut out);
    let decoded = decode_all(&out).expect("decode");
    assert_eq!(decoded, vec![value]);
}

#[test]
fn round_trips_every_variant() {
    round_trip(Amf0Value::Number(1234.5));
    round_trip(Amf0Value::Number(-0.0));
    round_trip(Amf0Value::Boolean(true));
    round_trip(Amf0Value::Boolean(false));
    round_trip(Amf0Value::String(String::new()));
    round_trip(Amf0Value::String("héllo ✓".into()));
    round_trip(Amf0Value::String("x".repeat(70_000)));
    round_trip(Amf0Value::Null);
    round_trip(Amf0Value::Undefined);
    round_trip(Amf0Value::Date(1_700_000_000_000.0));
    round_trip(Amf0Value::StrictArray(vec![
        Amf0Value::Number(1.0),
        Amf0Value::String("two".into()),
        Amf0Value::StrictArray(vec![]),
    ]));
    round_trip(Amf0Value::Object(vec![
        ("app".into(), Amf0Value::String("live".into())),
        ("nested".into(), Amf0Value::EcmaArray(vec![("width".into(), Amf0Value::Number(320.0))])),
        ("".into(), Amf0Value::Null),
    ]));
    round_trip(Amf0Value::EcmaArray(vec![]));
}

#[test]
fn decodes_hand_written_command() {
    // "connect", 1.0, {app: "live"}
    let mut bytes = vec![0x02, 0x00, 0x07];
    bytes.extend_from_slice(b"connect");
    bytes.push(0x00);
    bytes.extend_from_slice(&1.0f64.to_be_bytes());
    bytes.extend_from_slice(&[0x03, 0x00, 0x03]);
    bytes.extend_from_slice(b"app");
    bytes.extend_from_slice(&[0x02, 0x00, 0x04]);
    bytes.extend_from_slice(b"live");
    bytes.extend_from_slice(&[0x00, 0x00, 0x09]);
    let values = decode_all(&bytes).unwrap();
    assert_eq!(values[0].as_str(), Some("connect"));
    assert_eq!(values[1].as_number(), Some(1.0));
    assert_eq!(values[2].get("app").and_then(Amf0Value::as_str), Some("live"));
}

#[test]
fn typed_object_and_long_string_and_xml() {
    let mut bytes = vec![0x10, 0x00, 0x01, b'C'];
    bytes.extend_from_slice(&[0x00, 0x01, b'k', 0x05, 0x00, 0x00, 0x09]);
    bytes.extend_from_slice(&[0x0c, 0, 0, 0, 2, b'h', b'i']);
    bytes.extend_from_slice(&[0x0f, 0, 0, 0, 1, b'<']);
    bytes.push(0x0d);
    let values = decode_all(&bytes).unwrap();
    assert_eq!(
        values,
        vec![
            Amf0Value::Object(vec![("k".into(), Amf0Value::Null)]),
            Amf0Value::String("hi".into()),
            Amf0Value::String("<".into()),
            Amf0Value::Undefined,
        ]
    );
}

#[test]
fn ecma_array_without_terminator_ends_at_input_end() {
    let bytes = [0x08, 0, 0, 0, 9, 0x00, 0x01, b'a', 0x05];
    let values = decode_all(&bytes).unwrap();
    assert_eq!(values, vec![Amf0Value::EcmaArray(vec![("a".into(), Amf0Value::Null)])]);
}

#[test]
fn invalid_utf8_is_replaced_not_rejected() {
    let values = decode_all(&[0x02, 0x00, 0x02, 0xff, b'a']).unwrap();
    assert_eq!(values[0].as_str(), Some("\u{fffd}a"));
}

#[test]
fn truncated_inputs_are_errors() {
    let mut full = Vec::new();
    // One composite value, so no strict prefix ends on a value boundary.
    encode_value(
        &Amf0Value::Object(vec![
            ("name".into(), Amf0Value::String("publish".into())),
            ("id".into(), Amf0Value::Number(5.0)),
            ("when".into(), Amf0Value::Date(1.0)),
            ("list".into(), Amf0Value::StrictArray(vec![Amf0Value::Boolean(true), Amf0Value::Null])),
            ("long".into(), Amf0Value::String("y".repeat(70_000))),
        ]),
        &mut full,
    );
    for cut in 1..full.len() {
        let result = decode_all(&full[..cut]);
        assert!(result.is_err(), "prefix of {cut} bytes decoded: {result:?}");
    }
}

#[test]
fn strict_array_count_larger_than_input_is_rejected_without_allocating() {
    let bytes = [0x0a, 0xff, 0xff, 0xff, 0xff, 0x05];
    assert!(matches!(decode_all(&bytes), Err(MediaError::Truncated { .. })));
}

#[test]
fn huge_string_length_is_truncation_not_allocation() {
    let bytes = [0x0c, 0xff, 0xff, 0xff, 0xff, b'a'];
    assert!(matches!(decode_all(&bytes), Err(MediaError::Truncated { .. })));
}

#[test]
fn deep_nesting_is_rejected() {
    let mut bytes = Vec::new();
    for _ in 0..(MAX_DEPTH + 5) {
        bytes.extend_from_slice(&[0x0a, 0, 0, 0, 1]);
    }
    bytes.push(0x05);
    assert!(matches!(decode_all(&bytes), Err(MediaError::TooLarge { what: "amf0 nesting depth", .. })));

    let mut objects = Vec::new();
    for _ in 0..(MAX_DEPTH + 5) {
        objects.extend_from_slice(&[0x03, 0x00, 0x01, b'k']);
    }
    assert!(decode_all(&objects).is_err());
}

#[test]
fn value_count_is_capped() {
    let bytes = vec![0x05; MAX_VALUES + 1];
    assert!(matches!(decode_all(&bytes), Err(MediaError::TooLarge { what: "amf0 value count", .. })));
    assert_eq!(decode_all(&bytes[..MAX_VALUES]).unwrap().len(), MAX_VALUES);
}

#[test]
fn unknown_and_reserved_markers_are_errors() {
    for marker_byte in [0x04u8, 0x07, 0x09, 0x0e, 0x11, 0x12, 0xff] {
        assert!(decode_all(&[marker_byte, 0, 0, 0, 0]).is_err(), "marker {marker_byte:#x}");
    }
}

#[test]
fn overlong_keys_are_cut_on_encode() {
    let key = "é".repeat(40_000);
    let mut out = Vec::new();
    encode_value(&Amf0Value::Object(vec![(key, Amf0Value::Null)]), &mut out);
    let decoded = decode_all(&out).unwrap();
    let properties = decoded[0].properties().unwrap();
    assert_eq!(properties[0].0.len(), 65_534);
}
