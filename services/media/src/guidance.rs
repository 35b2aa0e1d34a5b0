//! Publisher guidance: watches the frames of one publish (constant work per
//! frame) and says, in plain words, what to change in the encoder so the
//! stream packages well: keyframe interval against the segment target,
//! irregular keyframes, B-frames, frame rate against the part target.

use crate::MediaFrame;

/// Seconds of history for bitrates and frame rate.
const WINDOW_SECONDS: usize = 5;
/// GOPs remembered for the regularity check.
const RECENT_GOPS: usize = 8;

/// Per-second counters of a sliding window, bucketed by media time.
#[derive(Debug, Clone, Default)]
struct Window {
    /// (second, bytes, frames) per slot; slot = second % WINDOW_SECONDS.
    slots: [(i64, u64, u64); WINDOW_SECONDS],
    newest_second: Option<i64>,
}

impl Window {
    fn add(&mut self, time_ms: i64, bytes: usize) {
        let second = time_ms.div_euclid(1000);
        let newest = *self.newest_second.get_or_insert(second);
        if second < newest - WINDOW_SECONDS as i64 + 1 {
            return; // older than the window
        }
        self.newest_second = Some(newest.max(second));
        let Some(slot) = self.slots.get_mut(second.rem_euclid(WINDOW_SECONDS as i64) as usize) else {
            return; // rem_euclid keeps the index below WINDOW_SECONDS
        };
        if slot.0 != second {
            *slot = (second, 0, 0);
        }
        slot.1 += bytes as u64;
        slot.2 += 1;
    }

    /// (bytes, frames, seconds covered) over the complete seconds of the window.
    fn totals(&self) -> Option<(u64, u64, u64)> {
        let newest = self.newest_second?;
        // The newest second is still filling, so it is left out.
        let oldest = newest - WINDOW_SECONDS as i64 + 1;
        let live = self.slots.iter().filter(|slot| slot.0 >= oldest && slot.0 < newest && slot.2 > 0);
        let (mut bytes, mut frames, mut seconds) = (0, 0, 0);
        for slot in live {
            bytes += slot.1;
            frames += slot.2;
            seconds += 1;
        }
        (seconds > 0).then_some((bytes, frames, seconds))
    }
}

/// What the analyzer has seen so far.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GuidanceReport {
    /// Time between the last two keyframes, in ms.
    pub gop_last_ms: Option<i64>,
    pub gop_average_ms: Option<f64>,
    pub gop_max_ms: Option<i64>,
    /// Shortest and longest of the recent GOPs.
    pub gop_recent_range_ms: Option<(i64, i64)>,
    /// True when recent GOPs are within 10% (at least 100 ms) of each other.
    pub keyframes_regular: Option<bool>,
    /// A picture was presented later than it was decoded.
    pub b_frames: bool,
    pub video_bitrate_bps: Option<u64>,
    pub audio_bitrate_bps: Option<u64>,
    pub frame_rate: Option<f64>,
    pub has_video: bool,
    pub has_audio: bool,
}

/// Feed every [`MediaFrame`] of a publish to [`Self::observe`].
#[derive(Debug, Clone, Default)]
pub struct StreamGuidance {
    last_keyframe_ms: Option<i64>,
    newest_video_ms: Option<i64>,
    gop_count: u64,
    gop_total_ms: i64,
    gop_max_ms: Option<i64>,
    gop_last_ms: Option<i64>,
    recent_gops: [i64; RECENT_GOPS],
    b_frames: bool,
    video: Window,
    audio: Window,
    has_video: bool,
    has_audio: bool,
}

impl StreamGuidance {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn observe(&mut self, frame: &MediaFrame) {
        match frame {
            MediaFrame::VideoConfig { .. } => self.has_video = true,
            MediaFrame::AudioConfig { .. } => self.has_audio = true,
            MediaFrame::Video { dts_ms, cts_ms, keyframe, data } => {
                self.has_video = true;
                self.video.add(*dts_ms, data.len());
                self.newest_video_ms = Some(self.newest_video_ms.map_or(*dts_ms, |newest| newest.max(*dts_ms)));
                if *cts_ms > 0 {
                    self.b_frames = true;
                }
                if *keyframe {
                    self.keyframe(*dts_ms);
                }
            }
            MediaFrame::Audio { dts_ms, data } => {
                self.has_audio = true;
                self.audio.add(*dts_ms, data.len());
            }
        }
    }

    fn keyframe(&mut self, dts_ms: i64) {
        if let Some(previous) = self.last_keyframe_ms.filter(|previous| dts_ms > *previous) {
            let gop = dts_ms - previous;
            if let Some(slot) = self.recent_gops.get_mut((self.gop_count % RECENT_GOPS as u64) as usize) {
                *slot = gop;
            }
            self.gop_count += 1;
            self.gop_total_ms = self.gop_total_ms.saturating_add(gop);
            self.gop_max_ms = Some(self.gop_max_ms.map_or(gop, |max| max.max(gop)));
            self.gop_last_ms = Some(gop);
        }
        self.last_keyframe_ms = Some(dts_ms);
    }

    pub fn report(&self) -> GuidanceReport {
        let recent = self.recent_gops.get(..(self.gop_count as usize).min(RECENT_GOPS)).unwrap_or(&self.recent_gops);
        let range = recent.iter().min().zip(recent.iter().max()).map(|(min, max)| (*min, *max));
        let average = (self.gop_count > 0).then(|| self.gop_total_ms as f64 / self.gop_count as f64);
        let regular = range.filter(|_| recent.len() >= 2).map(|(min, max)| {
            let recent_average = recent.iter().sum::<i64>() as f64 / recent.len() as f64;
            (max - min) as f64 <= (recent_average * 0.1).max(100.0)
        });
        let video = self.video.totals();
        GuidanceReport {
            gop_last_ms: self.gop_last_ms,
            gop_average_ms: average,
            gop_max_ms: self.gop_max_ms,
            gop_recent_range_ms: range,
            keyframes_regular: regular,
            b_frames: self.b_frames,
            video_bitrate_bps: video.map(|(bytes, _, seconds)| bytes * 8 / seconds),
            audio_bitrate_bps: self.audio.totals().map(|(bytes, _, seconds)| bytes * 8 / seconds),
            frame_rate: video.map(|(_, frames, seconds)| frames as f64 / seconds as f64),
            has_video: self.has_video,
            has_audio: self.has_audio,
        }
    }

    /// Plain-language advice for an encoder operator, given the packager's targets.
    pub fn advice(&self, segment_target_ms: u32, part_target_ms: u32) -> Vec<String> {
        let report = self.report();
        let segment = f64::from(segment_target_ms);
        let mut advice = Vec::new();
        if self.has_video && self.gop_count == 0 {
            let waited = self.newest_video_ms.zip(self.last_keyframe_ms).map(|(newest, key)| newest - key);
            if waited.is_some_and(|waited| waited as f64 > 2.0 * segment) {
                advice.push(format!(
                    "no second keyframe in {:.1} s: segments cannot close; set the encoder's keyframe interval to {} s",
                    waited.unwrap_or(0) as f64 / 1000.0,
                    seconds(segment)
                ));
            }
        }
        if let Some(gop) = report.gop_max_ms.filter(|gop| *gop as f64 > segment * 1.1) {
            advice.push(format!(
                "keyframe interval is {:.1} s, longer than the {} s segment target: set the encoder's keyframe interval to {} s",
                gop as f64 / 1000.0,
                seconds(segment),
                seconds(segment)
            ));
        } else if let Some(average) = report.gop_average_ms.filter(|_| report.keyframes_regular == Some(true)) {
            // Segments close at the first keyframe past the target: a GOP that does not divide it stretches them.
            let per_segment = (segment / average).ceil().max(1.0);
            let actual = per_segment * average;
            if actual > segment * 1.1 {
                advice.push(format!(
                    "keyframe interval {:.1} s does not divide the {} s segment target, so segments last {:.1} s: use a keyframe interval that divides {} s",
                    average / 1000.0,
                    seconds(segment),
                    actual / 1000.0,
                    seconds(segment)
                ));
            }
        }
        if let (Some(false), Some((shortest, longest))) = (report.keyframes_regular, report.gop_recent_range_ms) {
            advice.push(format!(
                "keyframes arrive irregularly (every {:.1} to {:.1} s): use a fixed keyframe interval and turn off scene-cut keyframes (x264: -sc_threshold 0)",
                shortest as f64 / 1000.0,
                longest as f64 / 1000.0
            ));
        }
        if let Some(rate) = report.frame_rate.filter(|rate| *rate > 0.0) {
            let frame_ms = 1000.0 / rate;
            if frame_ms > f64::from(part_target_ms) {
                advice.push(format!(
                    "frames are {frame_ms:.0} ms apart ({rate:.1} fps), longer than the {part_target_ms} ms part target: each part holds one frame; raise the frame rate or the part target"
                ));
            }
        }
        if report.b_frames {
            advice.push(
                "the stream has B-frames, which add decode delay: for the lowest latency set the encoder's B-frames to 0"
                    .to_owned(),
            );
        }
        if self.has_video && !self.has_audio && report.frame_rate.is_some() {
            advice.push("the stream has no audio: some players expect an audio track".to_owned());
        }
        advice
    }
}

/// `2` for 2000 ms, `1.5` for 1500 ms.
fn seconds(ms: f64) -> String {
    let text = format!("{:.1}", ms / 1000.0);
    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
}

#[cfg(test)]
#[path = "guidance_tests.rs"]
mod tests;
