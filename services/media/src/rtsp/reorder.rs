//! Decode times for video whose RTP timestamps are presentation times.
//!
//! Without B-frames decode time is presentation time and nothing is held.
//! Once a picture arrives that presents before pictures decoded ahead of
//! it, the reorder depth D (how many such pictures, at most
//! [`MAX_DEPTH`]) is learned and pictures are held D deep: the i-th decode
//! time is the i-th smallest presentation time seen, minus D frame
//! durations, which is increasing and never after the picture's own
//! presentation time for a constant frame rate. Configuration frames keep
//! their place in the queue.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use bytes::Bytes;

use crate::MediaFrame;

/// Reorder depth cap: x264's B-pyramid needs 2, hardware encoders at most 4.
pub const MAX_DEPTH: usize = 4;
/// Presentation times remembered to measure how far a picture was moved.
const HISTORY: usize = 16;

#[derive(Debug)]
enum Item {
    Config(MediaFrame),
    Picture { pts_ms: i64, keyframe: bool, data: Bytes },
}

#[derive(Debug, Default)]
pub struct DecodeTimes {
    depth: usize,
    queue: VecDeque<Item>,
    pictures_queued: usize,
    /// Presentation times of queued pictures not yet used as a decode time.
    unused: BinaryHeap<Reverse<i64>>,
    history: VecDeque<i64>,
    frame_ms: Option<i64>,
    last_dts_ms: Option<i64>,
}

impl DecodeTimes {
    /// True once pictures arrived out of presentation order.
    pub fn reordering(&self) -> bool {
        self.depth > 0
    }

    pub fn push_config(&mut self, frame: MediaFrame, out: &mut Vec<MediaFrame>) {
        self.queue.push_back(Item::Config(frame));
        self.drain(out);
    }

    pub fn push_picture(&mut self, pts_ms: i64, keyframe: bool, data: Bytes, out: &mut Vec<MediaFrame>) {
        let moved = self.history.iter().filter(|earlier| **earlier > pts_ms).count();
        self.depth = self.depth.max(moved.min(MAX_DEPTH));
        if let Some(previous) = self.history.back() {
            let step = (pts_ms - previous).abs();
            if step > 0 {
                self.frame_ms = Some(self.frame_ms.map_or(step, |known| known.min(step)));
            }
        }
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(pts_ms);
        self.unused.push(Reverse(pts_ms));
        self.queue.push_back(Item::Picture { pts_ms, keyframe, data });
        self.pictures_queued += 1;
        self.drain(out);
    }

    fn drain(&mut self, out: &mut Vec<MediaFrame>) {
        loop {
            match self.queue.front() {
                Some(Item::Config(_)) => {}
                Some(Item::Picture { .. }) if self.pictures_queued > self.depth => {}
                _ => return,
            }
            match self.queue.pop_front() {
                Some(Item::Config(frame)) => out.push(frame),
                Some(Item::Picture { pts_ms, keyframe, data }) => {
                    self.pictures_queued -= 1;
                    let smallest = self.unused.pop().map_or(pts_ms, |Reverse(smallest)| smallest);
                    let shift = self.frame_ms.unwrap_or(0) * self.depth as i64;
                    let dts_ms = match self.last_dts_ms {
                        Some(last) if smallest - shift <= last => last + 1,
                        _ => smallest - shift,
                    };
                    self.last_dts_ms = Some(dts_ms);
                    let cts_ms = (pts_ms - dts_ms).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
                    out.push(MediaFrame::Video { dts_ms, cts_ms, keyframe, data });
                }
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pts_frames: &[i64]) -> Vec<(i64, i32)> {
        let mut times = DecodeTimes::default();
        let mut out = Vec::new();
        for pts in pts_frames {
            times.push_picture(pts * 40, false, Bytes::new(), &mut out);
        }
        out.iter()
            .map(|frame| match frame {
                MediaFrame::Video { dts_ms, cts_ms, .. } => (*dts_ms, *cts_ms),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn without_b_frames_decode_time_is_presentation_time() {
        assert_eq!(run(&[0, 1, 2, 3]), [(0, 0), (40, 0), (80, 0), (120, 0)]);
    }

    #[test]
    fn b_frames_get_increasing_decode_times_before_presentation() {
        // I0 P4 B2 b1 b3 P8 B6 b5 b7 ... (B-pyramid, depth 2).
        let order = [0, 4, 2, 1, 3, 8, 6, 5, 7, 12, 10, 9, 11, 16, 14, 13, 15];
        let times = run(&order);
        assert_eq!(times.len(), order.len() - 2, "held two deep");
        for pair in times.windows(2) {
            assert!(pair[1].0 > pair[0].0, "decode times increase: {times:?}");
        }
        // Once the depth is known, every picture decodes no later than it presents.
        for (index, (dts, cts)) in times.iter().enumerate().skip(6) {
            assert!(*cts >= 0, "picture {index} at dts {dts} has cts {cts}: {times:?}");
            assert_eq!(dts + i64::from(*cts), order[index] * 40);
        }
    }

    #[test]
    fn configuration_keeps_its_place() {
        let mut times = DecodeTimes::default();
        let mut out = Vec::new();
        for pts in [0, 2, 1] {
            times.push_picture(pts * 40, pts == 0, Bytes::new(), &mut out);
        }
        let config = MediaFrame::VideoConfig { codec: crate::VideoCodec::H264, record: Bytes::new() };
        times.push_config(config.clone(), &mut out);
        assert_eq!(out.len(), 2, "the last picture is held, so is the config behind it");
        times.push_picture(4 * 40, true, Bytes::new(), &mut out);
        assert_eq!(out[3], config);
    }
}
