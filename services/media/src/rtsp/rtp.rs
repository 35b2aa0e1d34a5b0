//! RTP packets (RFC 3550 5.1) and the one RTCP message we read: the sender
//! report, which ties a stream's RTP clock to wall-clock time.

use bytes::Bytes;

use crate::MediaError;

const WHAT: &str = "RTP packet";
const FIXED_HEADER: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence_number: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// After CSRCs, header extension and padding are taken off.
    pub payload: Bytes,
}

impl RtpPacket {
    pub fn parse(data: Bytes) -> Result<Self, MediaError> {
        let header: &[u8; FIXED_HEADER] =
            data.first_chunk().ok_or(MediaError::Truncated { what: WHAT, needed: FIXED_HEADER })?;
        let [flags, marker_type, n0, n1, t0, t1, t2, t3, s0, s1, s2, s3] = *header;
        if flags >> 6 != 2 {
            return Err(MediaError::invalid(WHAT, "version is not 2"));
        }
        let padding = flags & 0x20 != 0;
        let extension = flags & 0x10 != 0;
        let csrc_count = usize::from(flags & 0x0f);
        let marker = marker_type & 0x80 != 0;
        let payload_type = marker_type & 0x7f;
        let sequence_number = u16::from_be_bytes([n0, n1]);
        let timestamp = u32::from_be_bytes([t0, t1, t2, t3]);
        let ssrc = u32::from_be_bytes([s0, s1, s2, s3]);

        let mut start = FIXED_HEADER + 4 * csrc_count;
        if extension {
            let Some(&[w0, w1]) = data.get(start + 2..start + 4) else {
                return Err(MediaError::Truncated { what: WHAT, needed: 4 });
            };
            start += 4 + 4 * usize::from(u16::from_be_bytes([w0, w1]));
        }
        let mut end = data.len();
        if padding {
            let count = usize::from(data.last().copied().unwrap_or(0));
            end =
                end.checked_sub(count).filter(|_| count > 0).ok_or_else(|| MediaError::invalid(WHAT, "bad padding"))?;
        }
        if start > end {
            return Err(MediaError::invalid(WHAT, "header longer than the packet"));
        }
        Ok(Self { marker, payload_type, sequence_number, timestamp, ssrc, payload: data.slice(start..end) })
    }
}

/// A sender report's clock pair: NTP wall time and the RTP timestamp of the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport {
    pub ssrc: u32,
    /// NTP time in 1/2^32 s units since 1900.
    pub ntp_timestamp: u64,
    pub rtp_timestamp: u32,
}

impl SenderReport {
    /// NTP time in milliseconds.
    pub fn ntp_ms(&self) -> i64 {
        let seconds = (self.ntp_timestamp >> 32) as i64;
        let fraction = self.ntp_timestamp & 0xffff_ffff;
        seconds * 1000 + ((fraction * 1000) >> 32) as i64
    }
}

/// The first sender report in a compound RTCP packet, if it starts with one.
pub fn parse_sender_report(data: &[u8]) -> Option<SenderReport> {
    // Header word, SSRC, NTP timestamp (two words), RTP timestamp, then the
    // packet and octet counts.
    let header: &[u8; 28] = data.first_chunk()?;
    let [flags, packet_type, _, _, s0, s1, s2, s3, h0, h1, h2, h3, l0, l1, l2, l3, r0, r1, r2, r3, ..] = *header;
    if flags >> 6 != 2 || packet_type != 200 {
        return None;
    }
    Some(SenderReport {
        ssrc: u32::from_be_bytes([s0, s1, s2, s3]),
        ntp_timestamp: u64::from_be_bytes([h0, h1, h2, h3, l0, l1, l2, l3]),
        rtp_timestamp: u32::from_be_bytes([r0, r1, r2, r3]),
    })
}

/// Sequence number and timestamp bookkeeping for one stream: counts lost
/// packets and extends the 32-bit RTP clock to 64 bits.
#[derive(Debug, Default, Clone)]
pub struct SequenceTracker {
    expected: Option<u16>,
    first_timestamp: Option<u32>,
    last_timestamp: Option<u32>,
    extended_timestamp: i64,
    /// Packets lost (gaps in sequence numbers).
    pub lost: u64,
    /// Late or repeated packets dropped.
    pub out_of_order: u64,
}

/// What the tracker says of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The next packet in order; the 64-bit timestamp.
    InOrder(i64),
    /// Packets went missing before this one; the 64-bit timestamp.
    AfterLoss(i64),
    /// Late or duplicated: drop it.
    Stale,
}

/// A jump forward of more than this many sequence numbers is taken as a
/// restart of the sender rather than loss.
const MAX_GAP: u16 = 3000;

impl SequenceTracker {
    pub fn arrive(&mut self, sequence_number: u16, timestamp: u32) -> Arrival {
        let in_order = match self.expected {
            None => true,
            Some(expected) => {
                let gap = sequence_number.wrapping_sub(expected);
                if gap == 0 {
                    true
                } else if gap < MAX_GAP {
                    self.lost += u64::from(gap);
                    false
                } else if gap > u16::MAX - MAX_GAP {
                    self.out_of_order += 1;
                    return Arrival::Stale;
                } else {
                    self.lost += 1;
                    false
                }
            }
        };
        self.expected = Some(sequence_number.wrapping_add(1));
        // Timestamps move by a signed 32-bit step: wraps forward, B-frames back.
        let step = self.last_timestamp.map_or(0, |last| i64::from(timestamp.wrapping_sub(last) as i32));
        self.first_timestamp.get_or_insert(timestamp);
        self.last_timestamp = Some(timestamp);
        self.extended_timestamp = self.extended_timestamp.saturating_add(step);
        if in_order {
            Arrival::InOrder(self.extended_timestamp)
        } else {
            Arrival::AfterLoss(self.extended_timestamp)
        }
    }

    /// The first timestamp seen: 64-bit timestamps count from it.
    pub fn first_timestamp(&self) -> Option<u32> {
        self.first_timestamp
    }
}
