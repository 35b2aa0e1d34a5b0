//! What the management API shows about a live stream: live or not and
//! since when, codecs, picture, measured bitrate, GOP and the publisher
//! guidance that follows from them.

use media::guidance::GuidanceReport;

use crate::edge::LiveStream;
use crate::playlist::measured_bandwidth;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamStatus {
    /// A publisher is connected.
    pub live: bool,
    /// The playlist ended (the publisher did not return in time).
    pub ended: bool,
    /// Unix ms the current publisher connected, or the last one left.
    pub since_ms: Option<i64>,
    pub codecs: Vec<String>,
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<f64>,
    /// Measured over the segments in memory: (peak, average) bits/s.
    pub bitrate_bps: Option<(u64, u64)>,
    pub newest_msn: Option<u64>,
    /// Blocking requests waiting on this pod now: LL-HLS viewers hold about
    /// one each (origin pods in front coalesce theirs into one).
    pub waiting_requests: usize,
    pub publisher: Option<GuidanceReport>,
    /// Plain-language advice for the encoder's settings.
    pub advice: Vec<String>,
    /// The publisher's media clock against the wall clock.
    pub clock: Option<media::segmenter::ClockDrift>,
}

impl LiveStream {
    pub fn status(&self, segment_target_ms: u32) -> StreamStatus {
        let state = self.lock();
        let info = state.info.as_ref();
        let video = info.and_then(|info| info.video.as_ref());
        let part_target_ms = state.part_target_ms.unwrap_or(200);
        StreamStatus {
            live: state.publisher.is_some(),
            ended: state.ended_at.is_some(),
            since_ms: state.status_since_ms,
            codecs: info.map(|info| info.codecs()).unwrap_or_default(),
            resolution: video.map(|video| (video.width(), video.height())),
            frame_rate: video.and_then(|video| video.frame_rate()),
            bitrate_bps: measured_bandwidth(&state),
            newest_msn: state.segments.back().map(|segment| segment.msn),
            waiting_requests: self.waiting_requests(),
            publisher: state.guidance.as_ref().map(|guidance| guidance.report()),
            advice: state
                .guidance
                .as_ref()
                .map(|guidance| guidance.advice(segment_target_ms, part_target_ms))
                .unwrap_or_default()
                .into_iter()
                .chain(state.clock_drift.and_then(clock_advice))
                .collect(),
            clock: state.clock_drift,
        }
    }
}

/// A publisher clock more than 0.1% off real time is worth fixing at the
/// source: PROGRAM-DATE-TIME has to be corrected in steps.
fn clock_advice(clock: media::segmenter::ClockDrift) -> Option<String> {
    let ppm = clock.rate_ppm?;
    (ppm.abs() >= 1000.0).then(|| {
        let direction = if ppm > 0.0 { "fast" } else { "slow" };
        format!(
            "The publisher's clock runs {:.2}% {direction} against real time; PROGRAM-DATE-TIME was corrected {} times. \
             Synchronise the camera or encoder with NTP.",
            ppm.abs() / 10_000.0,
            clock.corrections
        )
    })
}
