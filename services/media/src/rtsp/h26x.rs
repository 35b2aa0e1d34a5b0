//! H.264 (RFC 6184: single NAL unit, STAP-A, FU-A) and H.265 (RFC 7798:
//! single NAL unit, AP, FU) RTP payloads to access units in length-prefixed
//! (AVCC/HVCC) layout. A damaged access unit is dropped, and after any loss
//! nothing is emitted until the next keyframe, so a decoder never sees a
//! picture whose references are missing.

use bytes::{BufMut, Bytes, BytesMut};

use crate::VideoCodec;

/// Largest access unit assembled; a 4K intra picture is a few MiB.
pub const MAX_ACCESS_UNIT: usize = 8 << 20;
/// Most NAL units in one access unit.
const MAX_NALS: usize = 1024;

/// A complete coded picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// Extended RTP timestamp (presentation time).
    pub timestamp: i64,
    pub keyframe: bool,
    /// NAL units, each behind a 4-byte big-endian length.
    pub data: Bytes,
    /// In-band parameter sets in this access unit differ from the known ones.
    pub new_parameters: bool,
}

/// The parameter sets last seen (from the SDP or in-band), NAL header included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParameterSets {
    pub vps: Option<Bytes>,
    pub sps: Option<Bytes>,
    pub pps: Option<Bytes>,
}

#[derive(Debug)]
pub struct H26xDepacketizer {
    codec: VideoCodec,
    timestamp: Option<i64>,
    nals: Vec<Bytes>,
    bytes: usize,
    fragment: Option<BytesMut>,
    /// The access unit being assembled lost a piece.
    damaged: bool,
    waiting_for_keyframe: bool,
    parameters: ParameterSets,
    parameters_changed: bool,
    /// Access units dropped (damaged, or before the resync keyframe).
    pub dropped_frames: u64,
    /// Packets whose payload could not be parsed.
    pub bad_packets: u64,
}

impl H26xDepacketizer {
    /// `codec` is H.264 or H.265; anything else is treated as H.264.
    pub fn new(codec: VideoCodec, parameters: ParameterSets) -> Self {
        Self {
            codec,
            timestamp: None,
            nals: Vec::new(),
            bytes: 0,
            fragment: None,
            damaged: false,
            waiting_for_keyframe: true,
            parameters,
            parameters_changed: false,
            dropped_frames: 0,
            bad_packets: 0,
        }
    }

    pub fn parameters(&self) -> &ParameterSets {
        &self.parameters
    }

    /// Packets went missing before the next one: the picture in progress is
    /// lost and decoding resumes at the next keyframe.
    pub fn lost(&mut self) {
        self.damaged = true;
        self.fragment = None;
        self.waiting_for_keyframe = true;
    }

    /// Takes one packet's payload; completed access units go to `out`.
    pub fn push(&mut self, timestamp: i64, marker: bool, payload: &Bytes, out: &mut Vec<AccessUnit>) {
        if self.timestamp.is_some_and(|current| current != timestamp) {
            // The marker of the previous picture went missing.
            self.finish(out);
        }
        self.timestamp = Some(timestamp);
        let parsed = match self.codec {
            VideoCodec::H265 => self.push_h265(payload),
            _ => self.push_h264(payload),
        };
        if parsed.is_none() {
            self.bad_packets += 1;
            self.damaged = true;
            self.fragment = None;
        }
        if marker {
            self.finish(out);
        }
    }

    fn push_h264(&mut self, payload: &Bytes) -> Option<()> {
        let header = *payload.first()?;
        match header & 0x1f {
            1..=23 => self.add_nal(payload.clone()),
            24 => self.aggregate(payload, 1),
            28 => {
                let fu = *payload.get(1)?;
                let nal_header = [(header & 0xe0) | (fu & 0x1f)];
                self.fragment_part(&nal_header, fu & 0x80 != 0, fu & 0x40 != 0, payload.get(2..)?)
            }
            _ => None, // STAP-B, MTAP, FU-B: interleaved mode, not offered
        }
    }

    fn push_h265(&mut self, payload: &Bytes) -> Option<()> {
        let &[first, second] = payload.first_chunk::<2>()?;
        match (first >> 1) & 0x3f {
            0..=47 => self.add_nal(payload.clone()),
            48 => self.aggregate(payload, 2),
            49 => {
                let fu = *payload.get(2)?;
                let nal_header = [(first & 0x81) | ((fu & 0x3f) << 1), second];
                self.fragment_part(&nal_header, fu & 0x80 != 0, fu & 0x40 != 0, payload.get(3..)?)
            }
            _ => None, // PACI and reserved types
        }
    }

    /// STAP-A / AP: 16-bit sizes before each NAL unit, after the packet's own header.
    fn aggregate(&mut self, payload: &Bytes, header_length: usize) -> Option<()> {
        let mut position = header_length;
        while position < payload.len() {
            let size = usize::from(u16::from_be_bytes(*payload.get(position..)?.first_chunk::<2>()?));
            position += 2;
            if size == 0 || position + size > payload.len() {
                return None;
            }
            self.add_nal(payload.slice(position..position + size))?;
            position += size;
        }
        Some(())
    }

    fn fragment_part(&mut self, nal_header: &[u8], start: bool, end: bool, body: &[u8]) -> Option<()> {
        if start {
            if self.fragment.is_some() {
                return None; // the previous fragment's end was lost
            }
            let mut fragment = BytesMut::with_capacity(nal_header.len() + body.len());
            fragment.extend_from_slice(nal_header);
            self.fragment = Some(fragment);
        }
        let fragment = self.fragment.as_mut()?; // a middle or end without its start
        if self.bytes + fragment.len() + body.len() > MAX_ACCESS_UNIT {
            return None;
        }
        fragment.extend_from_slice(body);
        if end {
            let nal = self.fragment.take()?.freeze();
            self.add_nal(nal)?;
        }
        Some(())
    }

    fn add_nal(&mut self, nal: Bytes) -> Option<()> {
        if self.nals.len() >= MAX_NALS || self.bytes + nal.len() + 4 > MAX_ACCESS_UNIT {
            return None;
        }
        let kind = self.nal_kind(&nal)?;
        match kind {
            NalKind::Delimiter => return Some(()),
            NalKind::Vps => self.remember(|sets| &mut sets.vps, &nal),
            NalKind::Sps => self.remember(|sets| &mut sets.sps, &nal),
            NalKind::Pps => self.remember(|sets| &mut sets.pps, &nal),
            NalKind::Other | NalKind::Keyframe => {}
        }
        self.bytes += nal.len() + 4;
        self.nals.push(nal);
        Some(())
    }

    fn remember(&mut self, slot: impl FnOnce(&mut ParameterSets) -> &mut Option<Bytes>, nal: &Bytes) {
        let slot = slot(&mut self.parameters);
        if slot.as_ref() != Some(nal) {
            *slot = Some(nal.clone());
            self.parameters_changed = true;
        }
    }

    fn nal_kind(&self, nal: &[u8]) -> Option<NalKind> {
        let first = *nal.first()?;
        Some(match self.codec {
            VideoCodec::H265 => {
                if nal.len() < 2 {
                    return None;
                }
                match (first >> 1) & 0x3f {
                    16..=21 => NalKind::Keyframe,
                    32 => NalKind::Vps,
                    33 => NalKind::Sps,
                    34 => NalKind::Pps,
                    35 => NalKind::Delimiter,
                    _ => NalKind::Other,
                }
            }
            _ => match first & 0x1f {
                5 => NalKind::Keyframe,
                7 => NalKind::Sps,
                8 => NalKind::Pps,
                9 => NalKind::Delimiter,
                _ => NalKind::Other,
            },
        })
    }

    fn finish(&mut self, out: &mut Vec<AccessUnit>) {
        let nals = std::mem::take(&mut self.nals);
        let damaged = std::mem::take(&mut self.damaged) || self.fragment.take().is_some();
        self.bytes = 0;
        let Some(timestamp) = self.timestamp.take() else { return };
        if nals.is_empty() {
            if damaged {
                self.dropped_frames += 1;
            }
            return;
        }
        let keyframe = nals.iter().any(|nal| self.nal_kind(nal) == Some(NalKind::Keyframe));
        if damaged || (self.waiting_for_keyframe && !keyframe) {
            self.dropped_frames += 1;
            self.waiting_for_keyframe = true;
            return;
        }
        self.waiting_for_keyframe = false;
        let mut data = BytesMut::with_capacity(nals.iter().map(|nal| nal.len() + 4).sum());
        for nal in
            nals.iter().filter(|nal| !matches!(self.nal_kind(nal), Some(NalKind::Vps | NalKind::Sps | NalKind::Pps)))
        {
            data.put_u32(nal.len() as u32);
            data.extend_from_slice(nal);
        }
        if data.is_empty() {
            return;
        }
        let new_parameters = std::mem::take(&mut self.parameters_changed);
        out.push(AccessUnit { timestamp, keyframe, data: data.freeze(), new_parameters });
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NalKind {
    Keyframe,
    Vps,
    Sps,
    Pps,
    Delimiter,
    Other,
}
