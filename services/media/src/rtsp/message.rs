//! RTSP/1.0 messages on a TCP connection (RFC 2326): requests from the peer,
//! responses back, and `$`-framed interleaved RTP/RTCP in between. Input is
//! buffered up to a fixed bound; anything malformed is an error, never a
//! panic.

use bytes::{Buf, Bytes, BytesMut};

use crate::MediaError;

const WHAT: &str = "RTSP message";

/// Caps on what one peer can make the reader hold or parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtspLimits {
    /// Longest request or header line, CRLF included (4096).
    pub max_line: usize,
    /// Most header lines in one request (64).
    pub max_headers: usize,
    /// Largest Content-Length body (64 KiB; an SDP is a few hundred bytes).
    pub max_body: usize,
}

impl Default for RtspLimits {
    fn default() -> Self {
        Self { max_line: 4096, max_headers: 64, max_body: 64 * 1024 }
    }
}

impl RtspLimits {
    /// What a connection may send before its ANNOUNCE is accepted: requests
    /// with an SDP and Digest credentials, little more. The full limits
    /// hold once the publisher is known.
    pub fn before_announce(&self) -> RtspLimits {
        RtspLimits {
            max_line: self.max_line.min(2048),
            max_headers: self.max_headers.min(32),
            max_body: self.max_body.min(16 * 1024),
        }
    }

    /// Unparsed bytes the reader may hold: a full request or an interleaved frame.
    fn max_buffered(&self) -> usize {
        let head = self.max_line.saturating_mul(self.max_headers.saturating_add(1));
        head.saturating_add(self.max_body).max(INTERLEAVED_HEADER + usize::from(u16::MAX))
    }
}

const INTERLEAVED_HEADER: usize = 4;

/// A request from the peer. Header names keep their spelling; lookups ignore case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Request {
    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// The CSeq to echo in the response.
    pub fn cseq(&self) -> Option<&str> {
        self.header("CSeq")
    }
}

/// One unit read from the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtspInput {
    Request(Request),
    /// An RTP or RTCP packet sent on interleaved channel `channel`.
    Interleaved {
        channel: u8,
        data: Bytes,
    },
}

/// Splits the bytes of one connection into requests and interleaved frames.
#[derive(Debug)]
pub struct MessageReader {
    limits: RtspLimits,
    buffer: BytesMut,
}

impl MessageReader {
    pub fn new(limits: RtspLimits) -> Self {
        Self { limits, buffer: BytesMut::new() }
    }

    /// New limits from now on (wider once the publisher is known).
    pub fn set_limits(&mut self, limits: RtspLimits) {
        self.limits = limits;
    }

    /// Appends bytes read from the socket. Call [`Self::next_input`] until it
    /// returns `Ok(None)` before pushing more.
    pub fn push(&mut self, input: &[u8]) {
        self.buffer.extend_from_slice(input);
    }

    /// Bytes received but not yet parsed.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The next complete request or frame; `Ok(None)` when more bytes are needed.
    pub fn next_input(&mut self) -> Result<Option<RtspInput>, MediaError> {
        // Blank lines between messages are tolerated (some clients send a trailing CRLF).
        while matches!(self.buffer.first(), Some(b'\r' | b'\n')) {
            self.buffer.advance(1);
        }
        let Some(&first) = self.buffer.first() else { return Ok(None) };
        let parsed = if first == b'$' { self.interleaved() } else { self.request()? };
        if parsed.is_none() && self.buffer.len() > self.limits.max_buffered() {
            return Err(MediaError::TooLarge {
                what: "buffered RTSP input",
                size: self.buffer.len(),
                limit: self.limits.max_buffered(),
            });
        }
        Ok(parsed)
    }

    fn interleaved(&mut self) -> Option<RtspInput> {
        let &[_, channel, l0, l1] = self.buffer.first_chunk::<INTERLEAVED_HEADER>()?;
        let length = usize::from(u16::from_be_bytes([l0, l1]));
        if self.buffer.len() < INTERLEAVED_HEADER + length {
            return None;
        }
        self.buffer.advance(INTERLEAVED_HEADER);
        let data = self.buffer.split_to(length).freeze();
        Some(RtspInput::Interleaved { channel, data })
    }

    fn request(&mut self) -> Result<Option<RtspInput>, MediaError> {
        let Some(head) = parse_head(&self.buffer, &self.limits)? else { return Ok(None) };
        let body_length = content_length(&head.headers)?;
        if body_length > self.limits.max_body {
            return Err(MediaError::TooLarge { what: "RTSP body", size: body_length, limit: self.limits.max_body });
        }
        if self.buffer.len() < head.length + body_length {
            return Ok(None);
        }
        self.buffer.advance(head.length);
        let body = self.buffer.split_to(body_length).freeze();
        let Head { method, uri, headers, .. } = head;
        Ok(Some(RtspInput::Request(Request { method, uri, headers, body })))
    }
}

struct Head {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    /// Bytes up to and including the blank line.
    length: usize,
}

/// Parses the request line and headers if the blank line has arrived.
fn parse_head(input: &[u8], limits: &RtspLimits) -> Result<Option<Head>, MediaError> {
    let mut position = 0;
    let mut request_line = None;
    let mut headers = Vec::new();
    loop {
        let rest = input.get(position..).unwrap_or_default();
        let Some(end) = rest.iter().position(|&byte| byte == b'\n') else {
            if rest.len() > limits.max_line {
                return Err(MediaError::TooLarge { what: "RTSP line", size: rest.len(), limit: limits.max_line });
            }
            return Ok(None);
        };
        if end + 1 > limits.max_line {
            return Err(MediaError::TooLarge { what: "RTSP line", size: end + 1, limit: limits.max_line });
        }
        let raw = rest.get(..end).unwrap_or_default();
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        position += end + 1;
        let line = std::str::from_utf8(line).map_err(|_| MediaError::invalid(WHAT, "line is not UTF-8"))?;
        if request_line.is_none() {
            request_line = Some(parse_request_line(line)?);
            continue;
        }
        if line.is_empty() {
            let (method, uri) = request_line.unwrap_or_default();
            return Ok(Some(Head { method, uri, headers, length: position }));
        }
        if headers.len() >= limits.max_headers {
            return Err(MediaError::TooLarge {
                what: "RTSP header count",
                size: headers.len() + 1,
                limit: limits.max_headers,
            });
        }
        let (name, value) = line.split_once(':').ok_or_else(|| MediaError::invalid(WHAT, "header without a colon"))?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(MediaError::invalid(WHAT, "bad header name"));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
}

fn parse_request_line(line: &str) -> Result<(String, String), MediaError> {
    let mut words = line.split(' ').filter(|word| !word.is_empty());
    let (Some(method), Some(uri), Some(version), None) = (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(MediaError::invalid(WHAT, "request line is not METHOD URI RTSP/1.0"));
    };
    if !method.bytes().all(is_token_byte) {
        return Err(MediaError::invalid(WHAT, "bad method"));
    }
    if version != "RTSP/1.0" {
        return Err(MediaError::unsupported(WHAT, format!("version {version}")));
    }
    Ok((method.to_owned(), uri.to_owned()))
}

fn content_length(headers: &[(String, String)]) -> Result<usize, MediaError> {
    let mut found = None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("Content-Length") {
            let length = value.parse::<usize>().map_err(|_| MediaError::invalid(WHAT, "bad Content-Length"))?;
            if found.is_some_and(|previous| previous != length) {
                return Err(MediaError::invalid(WHAT, "conflicting Content-Length headers"));
            }
            found = Some(length);
        }
    }
    Ok(found.unwrap_or(0))
}

fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Where a publisher sends a track's RTP, from a SETUP's `Transport` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordTransport {
    /// `RTP/AVP/TCP;interleaved=a-b`: RTP on channel `a`, RTCP on `a + 1`.
    Interleaved { rtp_channel: u8 },
    /// `RTP/AVP[/UDP];unicast;client_port=a-b`: the client's RTP and RTCP ports.
    Udp { client_rtp_port: u16, client_rtcp_port: u16 },
}

impl RecordTransport {
    /// The first transport in the header's comma-separated list that a
    /// push can use; `None` when there is none (multicast, another profile).
    pub fn choose(header: &str) -> Option<Self> {
        header.split(',').find_map(Self::parse_one)
    }

    fn parse_one(spec: &str) -> Option<Self> {
        let mut fields = spec.split(';').map(str::trim);
        let protocol = fields.next()?.to_ascii_uppercase();
        let fields: Vec<&str> = fields.collect();
        let value = |name: &str| {
            fields.iter().find_map(|field| {
                let (key, value) = field.split_once('=')?;
                key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
            })
        };
        let pair = |range: &str| -> Option<(u16, Option<u16>)> {
            let (first, second) = range.split_once('-').map_or((range, None), |(a, b)| (a, Some(b)));
            let second = second.map(|port| port.trim().parse::<u16>()).transpose().ok()?;
            Some((first.trim().parse::<u16>().ok()?, second))
        };
        match protocol.as_str() {
            "RTP/AVP/TCP" => {
                let (first, _) = pair(value("interleaved")?)?;
                let rtp_channel = u8::try_from(first).ok().filter(|channel| *channel < 255)?;
                Some(Self::Interleaved { rtp_channel })
            }
            "RTP/AVP" | "RTP/AVP/UDP" => {
                if fields.iter().any(|field| field.eq_ignore_ascii_case("multicast")) {
                    return None;
                }
                let (rtp, rtcp) = pair(value("client_port")?)?;
                let rtcp = rtcp.or_else(|| rtp.checked_add(1))?;
                (rtp != 0 && rtcp != 0).then_some(Self::Udp { client_rtp_port: rtp, client_rtcp_port: rtcp })
            }
            _ => None,
        }
    }
}

/// A response to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Response {
    /// A response echoing the request's CSeq.
    pub fn to(request: &Request, status: u16) -> Self {
        let mut response = Self { status, headers: Vec::new(), body: Bytes::new() };
        if let Some(cseq) = request.cseq() {
            response.headers.push(("CSeq".into(), cseq.to_owned()));
        }
        response
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The wire form. CR and LF inside header values are dropped so a value
    /// taken from a request can never start a new header.
    pub fn serialize(&self) -> Bytes {
        let mut text = format!("RTSP/1.0 {} {}\r\n", self.status, reason_phrase(self.status));
        for (name, value) in &self.headers {
            let value: String = value.chars().filter(|c| *c != '\r' && *c != '\n').collect();
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        if !self.body.is_empty() {
            text.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        text.push_str("\r\n");
        let mut out = BytesMut::from(text.as_bytes());
        out.extend_from_slice(&self.body);
        out.freeze()
    }
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        415 => "Unsupported Media Type",
        454 => "Session Not Found",
        455 => "Method Not Valid in This State",
        459 => "Aggregate Operation Not Allowed",
        461 => "Unsupported Transport",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod transport_tests {
    use super::RecordTransport;

    #[test]
    fn record_transports() {
        let tcp = RecordTransport::choose("RTP/AVP/TCP;unicast;interleaved=2-3;mode=record");
        assert_eq!(tcp, Some(RecordTransport::Interleaved { rtp_channel: 2 }));
        let udp = RecordTransport::choose("RTP/AVP/UDP;unicast;client_port=5000-5001;mode=record");
        assert_eq!(udp, Some(RecordTransport::Udp { client_rtp_port: 5000, client_rtcp_port: 5001 }));
        let udp = RecordTransport::choose("rtp/avp;unicast;client_port=6000;mode=record");
        assert_eq!(udp, Some(RecordTransport::Udp { client_rtp_port: 6000, client_rtcp_port: 6001 }));
        let first_usable = RecordTransport::choose("RTP/SAVP;client_port=1-2,RTP/AVP/TCP;interleaved=4-5");
        assert_eq!(first_usable, Some(RecordTransport::Interleaved { rtp_channel: 4 }));
        for refused in [
            "",
            "RTP/AVP;multicast;client_port=5000-5001",
            "RTP/AVP;unicast",
            "RTP/AVP;client_port=0-1",
            "RTP/AVP;client_port=65535",
            "RTP/AVP;client_port=70000-70001",
            "RTP/AVP;client_port=a-b",
            "RTP/AVP/TCP;interleaved=255",
            "RTP/AVP/TCP;interleaved=300-301",
            "RTP/AVP/TCP;unicast",
        ] {
            assert_eq!(RecordTransport::choose(refused), None, "{refused}");
        }
    }
}
