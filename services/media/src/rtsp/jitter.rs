//! Puts RTP packets received over UDP back in sequence order. Packets in
//! order pass straight through; a packet ahead of a gap is held until the
//! gap fills or `depth` packets wait, when the gap is given up as loss (the
//! sequence tracker then counts it and the depacketizer resyncs). No clock:
//! a gap costs at most `depth` packets of delay, and memory is bounded.

use super::rtp::RtpPacket;

/// A jump of more sequence numbers than this is a restart, not reordering.
const MAX_AHEAD: u16 = 3000;

#[derive(Debug)]
pub struct JitterBuffer {
    depth: usize,
    next: Option<u16>,
    /// Packets after a gap, ordered by distance from `next`.
    held: Vec<RtpPacket>,
    /// Packets that arrived out of order and were put back in place.
    pub reordered: u64,
    /// Second copies of a held packet, dropped.
    pub duplicates: u64,
}

impl JitterBuffer {
    /// Holds at most `depth` packets (at least 1).
    pub fn new(depth: usize) -> Self {
        Self { depth: depth.max(1), next: None, held: Vec::new(), reordered: 0, duplicates: 0 }
    }

    /// Packets held behind a gap.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Takes `packet` and appends to `ready` what can go on, in order.
    /// Late packets (behind the released sequence) pass through, for the
    /// sequence tracker to count and drop.
    pub fn push(&mut self, packet: RtpPacket, ready: &mut Vec<RtpPacket>) {
        let Some(next) = self.next else {
            self.release(packet, ready);
            return;
        };
        let ahead = packet.sequence_number.wrapping_sub(next);
        if ahead == 0 {
            if !self.held.is_empty() {
                self.reordered += 1;
            }
            self.release(packet, ready);
            self.drain_in_order(ready);
        } else if ahead > u16::MAX - MAX_AHEAD {
            ready.push(packet);
        } else if ahead >= MAX_AHEAD {
            self.flush(ready);
            self.release(packet, ready);
        } else {
            let distance = |held: &RtpPacket| held.sequence_number.wrapping_sub(next);
            match self.held.binary_search_by_key(&ahead, distance) {
                Ok(_) => self.duplicates += 1,
                Err(at) => self.held.insert(at, packet),
            }
            if self.held.len() >= self.depth {
                // Give the gap up: release from the first held packet on.
                let first = self.held.remove(0);
                self.release(first, ready);
                self.drain_in_order(ready);
            }
        }
    }

    /// Everything held, in order (e.g. before a restart).
    pub fn flush(&mut self, ready: &mut Vec<RtpPacket>) {
        let held = std::mem::take(&mut self.held);
        for packet in held {
            self.release(packet, ready);
        }
    }

    fn release(&mut self, packet: RtpPacket, ready: &mut Vec<RtpPacket>) {
        self.next = Some(packet.sequence_number.wrapping_add(1));
        ready.push(packet);
    }

    fn drain_in_order(&mut self, ready: &mut Vec<RtpPacket>) {
        while self.held.first().map(|packet| packet.sequence_number) == self.next {
            let packet = self.held.remove(0);
            self.release(packet, ready);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn packet(sequence_number: u16) -> RtpPacket {
        RtpPacket { marker: false, payload_type: 96, sequence_number, timestamp: 0, ssrc: 1, payload: Bytes::new() }
    }

    fn feed(buffer: &mut JitterBuffer, sequence: &[u16]) -> Vec<u16> {
        let mut ready = Vec::new();
        for &number in sequence {
            buffer.push(packet(number), &mut ready);
        }
        ready.iter().map(|packet| packet.sequence_number).collect()
    }

    #[test]
    fn swaps_are_put_back_in_order() {
        let mut buffer = JitterBuffer::new(8);
        assert_eq!(feed(&mut buffer, &[10, 12, 11, 13, 15, 16, 14]), [10, 11, 12, 13, 14, 15, 16]);
        assert_eq!((buffer.reordered, buffer.held()), (2, 0));
        // Across the 16-bit wrap.
        let mut buffer = JitterBuffer::new(8);
        assert_eq!(feed(&mut buffer, &[65534, 0, 65535, 1]), [65534, 65535, 0, 1]);
    }

    #[test]
    fn a_lasting_gap_is_given_up_after_depth_packets() {
        let mut buffer = JitterBuffer::new(3);
        assert_eq!(feed(&mut buffer, &[1, 3, 4]), [1]);
        assert_eq!(buffer.held(), 2);
        assert_eq!(feed(&mut buffer, &[5]), [3, 4, 5], "2 is lost");
        // The lost packet arriving later passes through as late.
        assert_eq!(feed(&mut buffer, &[2, 6]), [2, 6]);
    }

    #[test]
    fn duplicates_restarts_and_bounds() {
        let mut buffer = JitterBuffer::new(4);
        assert_eq!(feed(&mut buffer, &[100, 102, 102, 103]), [100]);
        assert_eq!(buffer.duplicates, 1);
        // A far jump is a restart: held packets go first, then the new sequence.
        assert_eq!(feed(&mut buffer, &[40000, 40001]), [102, 103, 40000, 40001]);
        let mut buffer = JitterBuffer::new(16);
        let mut ready = Vec::new();
        buffer.push(packet(0), &mut ready);
        for number in (2..2000u16).rev() {
            buffer.push(packet(number), &mut ready);
            assert!(buffer.held() < 16, "memory stays bounded");
        }
    }
}
