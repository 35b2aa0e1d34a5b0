//! AAC in RTP as MPEG4-GENERIC (RFC 3640): a 16-bit AU-headers-length,
//! AU headers of `sizelength` + `indexlength`/`indexdeltalength` bits, then
//! the access units. An AU larger than one packet is fragmented over
//! packets with the same timestamp until the marker bit.

use bytes::{Bytes, BytesMut};

use super::sdp::SdpMedia;
use crate::MediaError;

const WHAT: &str = "MPEG4-GENERIC payload";
/// An AAC frame is at most 6144 bits per channel; 8 channels fit well below this.
const MAX_AU: usize = 64 * 1024;
/// AU headers in one packet.
const MAX_AUS_PER_PACKET: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuHeaderLayout {
    pub size_length: u32,
    pub index_length: u32,
    pub index_delta_length: u32,
}

impl AuHeaderLayout {
    /// From the fmtp of an ANNOUNCEd `mpeg4-generic` section.
    pub fn from_sdp(media: &SdpMedia) -> Result<Self, MediaError> {
        let number = |name: &str| -> Result<u32, MediaError> {
            match media.parameter(name) {
                None => Ok(0),
                Some(value) => value
                    .parse::<u32>()
                    .ok()
                    .filter(|bits| *bits <= 16)
                    .ok_or_else(|| MediaError::invalid(WHAT, format!("{name}={value}"))),
            }
        };
        let layout = Self {
            size_length: number("sizelength")?,
            index_length: number("indexlength")?,
            index_delta_length: number("indexdeltalength")?,
        };
        if layout.size_length == 0 {
            return Err(MediaError::unsupported(WHAT, "constant-size AUs (no sizelength)"));
        }
        Ok(layout)
    }
}

#[derive(Debug)]
pub struct AacDepacketizer {
    layout: AuHeaderLayout,
    /// RTP ticks per access unit.
    au_ticks: i64,
    fragment: Option<(i64, usize, BytesMut)>,
    pub dropped_frames: u64,
    pub bad_packets: u64,
}

impl AacDepacketizer {
    pub fn new(layout: AuHeaderLayout, au_ticks: i64) -> Self {
        Self { layout, au_ticks: au_ticks.max(1), fragment: None, dropped_frames: 0, bad_packets: 0 }
    }

    /// Packets went missing: a fragmented AU in progress is lost.
    pub fn lost(&mut self) {
        if self.fragment.take().is_some() {
            self.dropped_frames += 1;
        }
    }

    /// Takes one packet; each complete AU goes to `out` with its timestamp.
    pub fn push(&mut self, timestamp: i64, marker: bool, payload: &Bytes, out: &mut Vec<(i64, Bytes)>) {
        if self.push_inner(timestamp, marker, payload, out).is_none() {
            self.bad_packets += 1;
            self.lost();
        }
    }

    fn push_inner(&mut self, timestamp: i64, marker: bool, payload: &Bytes, out: &mut Vec<(i64, Bytes)>) -> Option<()> {
        let header_bits = usize::from(u16::from_be_bytes(*payload.first_chunk::<2>()?));
        let header_bytes = header_bits.div_ceil(8);
        let headers = payload.get(2..2 + header_bytes)?;
        let mut data_start = 2 + header_bytes;
        let sizes = self.au_sizes(headers, header_bits)?;

        if let Some((fragment_timestamp, expected, mut fragment)) = self.fragment.take() {
            // A continuation carries the same single AU header and timestamp.
            if fragment_timestamp != timestamp || sizes.len() != 1 {
                self.dropped_frames += 1;
            } else {
                let body = payload.get(data_start..)?;
                if fragment.len() + body.len() > expected {
                    return None;
                }
                fragment.extend_from_slice(body);
                if fragment.len() == expected || marker {
                    if fragment.len() != expected {
                        return None;
                    }
                    out.push((timestamp, fragment.freeze()));
                } else {
                    self.fragment = Some((timestamp, expected, fragment));
                }
                return Some(());
            }
        }

        let available = payload.len() - data_start;
        if let [size] = sizes[..] {
            if size > available {
                if size > MAX_AU || marker {
                    return None;
                }
                let mut fragment = BytesMut::with_capacity(size);
                fragment.extend_from_slice(payload.get(data_start..)?);
                self.fragment = Some((timestamp, size, fragment));
                return Some(());
            }
        }
        for (index, size) in sizes.iter().enumerate() {
            let au = payload.get(data_start..data_start + size)?;
            out.push((timestamp + self.au_ticks * index as i64, payload.slice_ref(au)));
            data_start += size;
        }
        Some(())
    }

    fn au_sizes(&self, headers: &[u8], header_bits: usize) -> Option<Vec<usize>> {
        let mut reader = Bits { data: headers, position: 0, end: header_bits };
        let mut sizes = Vec::new();
        while reader.position < header_bits {
            if sizes.len() >= MAX_AUS_PER_PACKET {
                return None;
            }
            let size = reader.read(self.layout.size_length)?;
            let index_bits = if sizes.is_empty() { self.layout.index_length } else { self.layout.index_delta_length };
            let index = reader.read(index_bits)?;
            // Interleaving (non-zero index deltas) is not supported.
            if index != 0 {
                return None;
            }
            sizes.push(size as usize);
        }
        Some(sizes)
    }
}

struct Bits<'a> {
    data: &'a [u8],
    position: usize,
    end: usize,
}

impl Bits<'_> {
    fn read(&mut self, count: u32) -> Option<u32> {
        let mut value = 0u32;
        for _ in 0..count {
            if self.position >= self.end {
                return None;
            }
            let byte = *self.data.get(self.position / 8)?;
            let bit = (byte >> (7 - self.position % 8)) & 1;
            value = (value << 1) | u32::from(bit);
            self.position += 1;
        }
        Some(value)
    }
}
