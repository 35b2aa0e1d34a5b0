//! RTP clock to the segmenter's millisecond clock. Each frame is converted
//! from its full-precision tick count since the start of the stream, never
//! by adding rounded deltas, so 90 kHz video at 29.97 fps or 48 kHz AAC
//! (21.33 ms frames) never drifts; the segmenter's 90 kHz and sample-rate
//! timescales then see durations that are exact to within a millisecond.

/// Ticks of a `clock_rate` Hz clock to milliseconds, rounded to nearest.
pub fn ticks_to_ms(ticks: i64, clock_rate: u32) -> i64 {
    let rate = i128::from(clock_rate.max(1));
    let scaled = i128::from(ticks) * 1000 + rate / 2;
    scaled.div_euclid(rate).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Decode timestamps for video whose RTP timestamps are presentation times.
/// Cameras rarely send B-frames, so decode time equals presentation time;
/// when they do (presentation time goes backwards), decode time is held
/// strictly increasing and the difference becomes the composition offset.
#[derive(Debug, Default)]
pub struct VideoTiming {
    last_dts_ms: Option<i64>,
    last_pts_ms: Option<i64>,
    reordered: bool,
}

impl VideoTiming {
    /// (dts_ms, cts_ms) for a frame presented at `pts_ms`.
    pub fn map(&mut self, pts_ms: i64) -> (i64, i32) {
        if self.last_pts_ms.is_some_and(|last| pts_ms < last) {
            self.reordered = true;
        }
        self.last_pts_ms = Some(pts_ms);
        let dts_ms = match self.last_dts_ms {
            Some(last) if pts_ms <= last => last + 1,
            _ => pts_ms,
        };
        self.last_dts_ms = Some(dts_ms);
        let cts_ms = (pts_ms - dts_ms).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        (dts_ms, cts_ms)
    }

    /// True once frames arrived out of presentation order (B-frames).
    pub fn saw_reordering(&self) -> bool {
        self.reordered
    }
}

/// Audio decode times, never going backwards.
#[derive(Debug, Default)]
pub struct AudioTiming {
    last_ms: Option<i64>,
}

impl AudioTiming {
    pub fn map(&mut self, pts_ms: i64) -> i64 {
        let dts_ms = self.last_ms.map_or(pts_ms, |last| pts_ms.max(last));
        self.last_ms = Some(dts_ms);
        dts_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_keeps_full_precision() {
        // 29.97 fps: 3003 ticks per frame. Frame 1000 is at 33366.67 ms.
        assert_eq!(ticks_to_ms(3003 * 1000, 90_000), 33_367);
        // AAC at 48 kHz: 1024 samples per frame; frame 3 at 64 ms, frame 1000 at 21333.3 ms.
        assert_eq!(ticks_to_ms(1024 * 3, 48_000), 64);
        assert_eq!(ticks_to_ms(1024 * 1000, 48_000), 21_333);
        // Summed durations equal the end time: no drift.
        let total: i64 = (1..=9000).map(|n| ticks_to_ms(n * 3003, 90_000) - ticks_to_ms((n - 1) * 3003, 90_000)).sum();
        assert_eq!(total, ticks_to_ms(9000 * 3003, 90_000));
        assert_eq!(ticks_to_ms(-90, 90_000), -1);
        assert_eq!(ticks_to_ms(i64::MAX, 1), i64::MAX);
        assert_eq!(ticks_to_ms(10, 0), 10_000, "a zero clock rate is treated as 1 Hz, not a panic");
    }

    #[test]
    fn video_without_reordering_has_no_offsets() {
        let mut timing = VideoTiming::default();
        assert_eq!(timing.map(0), (0, 0));
        assert_eq!(timing.map(33), (33, 0));
        assert_eq!(timing.map(67), (67, 0));
        assert!(!timing.saw_reordering());
    }

    #[test]
    fn video_decode_time_never_goes_back() {
        let mut timing = VideoTiming::default();
        let decode: Vec<(i64, i32)> = [0, 100, 33, 67, 200].into_iter().map(|pts| timing.map(pts)).collect();
        assert_eq!(decode, [(0, 0), (100, 0), (101, -68), (102, -35), (200, 0)]);
        assert!(timing.saw_reordering());
        // A repeated timestamp still moves decode time forward.
        assert_eq!(timing.map(200), (201, -1));
    }

    #[test]
    fn audio_never_goes_back() {
        let mut timing = AudioTiming::default();
        assert_eq!([0, 21, 20, 43].map(|pts| timing.map(pts)), [0, 21, 21, 43]);
    }
}
