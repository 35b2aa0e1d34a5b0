//! The publisher's media clock against the wall clock frames arrive on.
//!
//! PROGRAM-DATE-TIME counts media time from an anchor. A camera whose clock
//! runs fast or slow (or a publisher that pauses) would carry it away from
//! real time, so each segment start compares the two: when they are more
//! than [`MAX_PDT_ERROR_MS`] apart, PDT is re-anchored to the wall clock,
//! never going back to or before the previous segment's PDT.
//!
//! Arrival times carry network delay, which only ever adds. The smallest
//! wall-minus-media offset over a segment is the least delayed frame, the
//! best estimate of where the media clock stands.

/// How far PDT may drift from the wall clock before it is re-anchored.
pub const MAX_PDT_ERROR_MS: i64 = 500;
/// A rate is reported once the clocks were compared over this long.
const MIN_RATE_SPAN_MS: i64 = 10_000;

/// What the stream status shows about the publisher's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockDrift {
    /// How far the media clock ran ahead of the wall clock (negative:
    /// behind) since the current PDT anchor, at the last segment start.
    pub offset_ms: i64,
    /// Long-run rate of the media clock against the wall clock, in parts
    /// per million (positive: fast). None until enough time has passed.
    pub rate_ppm: Option<f64>,
    /// Times PDT was re-anchored to the wall clock since the publish began.
    pub corrections: u64,
}

#[derive(Debug, Default)]
pub(super) struct ClockWatch {
    /// Least wall-minus-media offset since the last segment start.
    window_min: Option<i64>,
    /// PDT = output media ms + this.
    pdt_offset: Option<i64>,
    /// (media ms, least offset) of the first measured window.
    reference: Option<(i64, i64)>,
    /// (media ms, least offset) of the newest measured window.
    latest: Option<(i64, i64)>,
    last_pdt: Option<i64>,
    corrections: u64,
}

impl ClockWatch {
    /// Every frame: its time on the output media clock and when it arrived.
    pub fn observe(&mut self, media_ms: i64, wall_ms: i64) {
        let offset = wall_ms.saturating_sub(media_ms);
        self.window_min = Some(self.window_min.map_or(offset, |min| min.min(offset)));
    }

    /// PROGRAM-DATE-TIME for a segment starting at `media_ms`, its first
    /// frame arriving at `wall_ms`. `floor_ms` is where published media ends
    /// in wall time; a fresh anchor never starts before it.
    pub fn segment_pdt(&mut self, media_ms: i64, wall_ms: i64, floor_ms: i64) -> i64 {
        let measured = self.window_min.take().unwrap_or(wall_ms.saturating_sub(media_ms));
        let pdt_offset = match self.pdt_offset {
            None => wall_ms.max(floor_ms).saturating_sub(media_ms),
            Some(offset) => {
                self.latest = Some((media_ms, measured));
                self.reference.get_or_insert((media_ms, measured));
                if (offset - measured).abs() > MAX_PDT_ERROR_MS {
                    self.corrections += 1;
                    measured
                } else {
                    offset
                }
            }
        };
        let mut pdt = media_ms.saturating_add(pdt_offset);
        if let Some(last) = self.last_pdt {
            pdt = pdt.max(last + 1);
        }
        self.pdt_offset = Some(pdt - media_ms);
        self.last_pdt = Some(pdt);
        pdt
    }

    /// A new timeline (a timestamp jump or a new decoder configuration): the
    /// next segment anchors afresh and the rate is measured anew.
    pub fn reanchor(&mut self) {
        self.pdt_offset = None;
        self.window_min = None;
        self.reference = None;
        self.latest = None;
    }

    pub fn drift(&self) -> Option<ClockDrift> {
        let (media, offset) = self.latest?;
        let pdt_offset = self.pdt_offset?;
        let rate_ppm = self.reference.and_then(|(reference_media, reference_offset)| {
            // Wall time elapsed between the two least-delayed frames.
            let wall_span = (media + offset) - (reference_media + reference_offset);
            (wall_span >= MIN_RATE_SPAN_MS).then(|| (reference_offset - offset) as f64 * 1_000_000.0 / wall_span as f64)
        });
        Some(ClockDrift { offset_ms: pdt_offset - offset, rate_ppm, corrections: self.corrections })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WALL: i64 = 1_800_000_000_000;

    /// Two-second segments from a clock running at `rate` (1.01: 1% fast)
    /// against wall time, each frame delayed by up to 40 ms of jitter.
    fn run(rate: f64, seconds: i64) -> (ClockWatch, Vec<(i64, i64)>) {
        let mut watch = ClockWatch::default();
        let mut pdts = Vec::new();
        for frame in 0..seconds * 30 {
            let wall = frame * 1000 / 30;
            let media = (wall as f64 * rate) as i64;
            let arrival = WALL + wall + (frame * 7919 % 40);
            if frame % 60 == 0 {
                pdts.push((watch.segment_pdt(media, arrival, i64::MIN), WALL + wall));
            }
            watch.observe(media, arrival);
        }
        (watch, pdts)
    }

    #[test]
    fn a_true_clock_is_never_corrected() {
        let (watch, pdts) = run(1.0, 120);
        let drift = watch.drift().unwrap();
        assert_eq!(drift.corrections, 0);
        assert!(drift.offset_ms.abs() <= 40, "{drift:?}");
        assert!(drift.rate_ppm.unwrap().abs() < 1000.0, "{drift:?}");
        for pair in pdts.windows(2) {
            assert_eq!(pair[1].0 - pair[0].0, 2000, "PDT follows media time exactly");
        }
    }

    #[test]
    fn fast_and_slow_clocks_are_reported_and_pdt_stays_near_wall_time() {
        for rate in [1.01, 0.99] {
            let (watch, pdts) = run(rate, 300);
            let drift = watch.drift().unwrap();
            let expected_ppm = (rate - 1.0) * 1_000_000.0;
            let ppm = drift.rate_ppm.unwrap();
            assert!((ppm - expected_ppm).abs() < 500.0, "rate {rate}: {drift:?}");
            // 1% of 300 s is 3 s: corrected in 500 ms steps.
            assert!((5..=7).contains(&drift.corrections), "rate {rate}: {drift:?}");
            for pair in pdts.windows(2) {
                assert!(pair[1].0 > pair[0].0, "rate {rate}: PROGRAM-DATE-TIME went backwards");
            }
            for (pdt, wall) in &pdts {
                assert!((pdt - wall).abs() <= MAX_PDT_ERROR_MS + 100, "rate {rate}: PDT {pdt} vs wall {wall}");
            }
        }
    }

    #[test]
    fn a_pause_moves_pdt_forward_and_a_fresh_anchor_respects_the_floor() {
        let mut watch = ClockWatch::default();
        assert_eq!(watch.segment_pdt(0, WALL, i64::MIN), WALL);
        watch.observe(0, WALL);
        // Media continues at 2 s, but from there on it arrives 10 s late. The
        // window still holds the frame from before the pause: no change yet.
        assert_eq!(watch.segment_pdt(2000, WALL + 12_000, i64::MIN), WALL + 2000);
        watch.observe(2000, WALL + 12_000);
        watch.observe(3000, WALL + 13_000);
        assert_eq!(watch.segment_pdt(4000, WALL + 14_000, i64::MIN), WALL + 14_000);
        assert_eq!(watch.drift().unwrap().corrections, 1);
        watch.reanchor();
        // A floor past the wall clock wins for a fresh anchor.
        assert_eq!(watch.segment_pdt(6000, WALL + 16_000, WALL + 20_000), WALL + 20_000);
    }
}
