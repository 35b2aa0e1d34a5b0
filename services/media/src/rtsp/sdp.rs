//! The parts of an SDP (RFC 8866) that an ANNOUNCE needs: each media
//! section's payload type, encoding, clock, format parameters and control
//! URL. Attributes we do not use are skipped.

use crate::MediaError;

const WHAT: &str = "SDP";
/// Media sections kept; more is not a real publisher.
pub const MAX_MEDIA: usize = 16;
/// Format parameters kept per media section.
const MAX_FMTP: usize = 32;

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SdpMedia {
    /// `video`, `audio`, `application`...
    pub media: String,
    pub payload_type: u8,
    /// Lower-cased encoding name from `a=rtpmap` (`h264`, `h265`, `mpeg4-generic`).
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u16>,
    /// `a=fmtp` parameters; names lower-cased, values as sent.
    pub format_parameters: Vec<(String, String)>,
    /// `a=control`, if any.
    pub control: Option<String>,
}

impl SdpMedia {
    /// The format parameter `name` (case-insensitive).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.format_parameters.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// The media sections of a session description.
pub fn parse_sdp(body: &[u8]) -> Result<Vec<SdpMedia>, MediaError> {
    let text = std::str::from_utf8(body).map_err(|_| MediaError::invalid(WHAT, "not UTF-8"))?;
    let mut sections: Vec<SdpMedia> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let Some((kind, value)) = line.split_once('=') else { continue };
        match kind {
            "m" => {
                if sections.len() >= MAX_MEDIA {
                    return Err(MediaError::TooLarge {
                        what: "SDP media sections",
                        size: MAX_MEDIA + 1,
                        limit: MAX_MEDIA,
                    });
                }
                sections.push(parse_media_line(value)?);
            }
            "a" => {
                if let Some(section) = sections.last_mut() {
                    apply_attribute(section, value);
                }
            }
            _ => {}
        }
    }
    Ok(sections)
}

fn parse_media_line(value: &str) -> Result<SdpMedia, MediaError> {
    let mut fields = value.split_whitespace();
    let media = fields.next().ok_or_else(|| MediaError::invalid(WHAT, "empty m= line"))?;
    let _port = fields.next();
    let _protocol = fields.next();
    // Only the first format of a section is used.
    let payload_type = fields
        .next()
        .and_then(|format| format.parse::<u8>().ok())
        .filter(|payload_type| *payload_type < 128)
        .ok_or_else(|| MediaError::invalid(WHAT, "m= line without an RTP payload type"))?;
    let mut section = SdpMedia { media: media.to_ascii_lowercase(), payload_type, ..SdpMedia::default() };
    // Static payload types carry their own clock (RFC 3551); only the common ones matter.
    if payload_type < 96 {
        section.clock_rate = if media == "video" { 90_000 } else { 8_000 };
    }
    Ok(section)
}

fn apply_attribute(section: &mut SdpMedia, value: &str) {
    let (name, rest) = value.split_once(':').unwrap_or((value, ""));
    match name {
        "rtpmap" => {
            let Some((payload_type, encoding)) = rest.split_once(' ') else { return };
            if payload_type.trim().parse::<u8>().ok() != Some(section.payload_type) {
                return;
            }
            let mut parts = encoding.trim().split('/');
            section.encoding = parts.next().unwrap_or_default().to_ascii_lowercase();
            section.clock_rate = parts.next().and_then(|rate| rate.parse().ok()).unwrap_or(0);
            section.channels = parts.next().and_then(|channels| channels.parse().ok());
        }
        "fmtp" => {
            let Some((payload_type, parameters)) = rest.split_once(' ') else { return };
            if payload_type.trim().parse::<u8>().ok() != Some(section.payload_type) {
                return;
            }
            section.format_parameters = parameters
                .split(';')
                .filter_map(|pair| {
                    let (key, value) = pair.split_once('=')?;
                    Some((key.trim().to_ascii_lowercase(), value.trim().to_owned()))
                })
                .take(MAX_FMTP)
                .collect();
        }
        "control" => section.control = Some(rest.trim().to_owned()),
        _ => {}
    }
}

/// Decodes standard base64 (padding optional), as in `sprop-parameter-sets`.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 3);
    let mut accumulator: u32 = 0;
    let mut bits = 0u32;
    for byte in text.trim().bytes().take_while(|byte| *byte != b'=') {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return Err(MediaError::invalid(WHAT, "bad base64")),
        };
        accumulator = (accumulator << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((accumulator >> bits) as u8);
            accumulator &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// Decodes a hex string such as AAC's `config=1210`.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, MediaError> {
    let text = text.trim().as_bytes();
    if !text.len().is_multiple_of(2) {
        return Err(MediaError::invalid(WHAT, "odd hex length"));
    }
    let (pairs, _) = text.as_chunks::<2>();
    pairs
        .iter()
        .map(|&[high, low]| {
            let digit = |byte: u8| (byte as char).to_digit(16).ok_or_else(|| MediaError::invalid(WHAT, "bad hex"));
            Ok((digit(high)? * 16 + digit(low)?) as u8)
        })
        .collect()
}
