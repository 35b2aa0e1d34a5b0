//! Per-track state: decoder config, the last timestamps seen and the samples
//! waiting for the open part to close.

use bytes::Bytes;

use crate::codec::{AudioConfig, VideoConfig};
use crate::fmp4::{Sample, TrackRun};

pub(super) struct PendingVideo {
    pub dts: i64,
    pub composition_offset: i32,
    pub keyframe: bool,
    pub data: Bytes,
}

#[derive(Default)]
pub(super) struct VideoTrack {
    pub config: Option<VideoConfig>,
    /// Output-timeline milliseconds of the newest frame.
    pub last_ms: Option<i64>,
    /// 90 kHz decode time of the newest frame.
    pub last_dts: Option<i64>,
    /// Most recent frame spacing, the estimate for a final sample's duration.
    pub frame_ticks: Option<i64>,
    pub waiting_for_keyframe: bool,
    pub pending: Vec<PendingVideo>,
}

impl VideoTrack {
    pub fn nominal_frame_ticks(&self) -> i64 {
        let from_config =
            self.config.as_ref().and_then(VideoConfig::frame_rate).filter(|rate| (1.0..=240.0).contains(rate));
        match (from_config, self.frame_ticks) {
            (Some(rate), _) => (f64::from(super::VIDEO_TIMESCALE) / rate).round() as i64,
            (None, Some(ticks)) => ticks,
            (None, None) => 3000,
        }
    }

    /// Takes every pending sample as one run ending at `end` (90 kHz).
    pub fn take_run(&mut self, track_id: u32, end: i64) -> Option<TrackRun> {
        let base = self.pending.first()?.dts;
        let pending = std::mem::take(&mut self.pending);
        let mut samples = Vec::with_capacity(pending.len());
        let mut data = Vec::with_capacity(pending.len());
        for (index, sample) in pending.iter().enumerate() {
            let next = pending.get(index + 1).map_or(end, |next| next.dts);
            samples.push(Sample {
                duration: clamp_duration(next - sample.dts),
                size: sample.data.len() as u32,
                keyframe: sample.keyframe,
                composition_offset: sample.composition_offset,
            });
        }
        data.extend(pending.into_iter().map(|sample| sample.data));
        Some(TrackRun { track_id, base_decode_time: base.max(0) as u64, samples, data })
    }
}

pub(super) struct PendingAudio {
    pub dts: i64,
    /// In samples; varies per packet for Opus.
    pub duration: i64,
    pub data: Bytes,
}

#[derive(Default)]
pub(super) struct AudioTrack {
    pub config: Option<AudioConfig>,
    pub last_ms: Option<i64>,
    /// Decode time, in samples, that the next frame should have.
    pub next_dts: Option<i64>,
    pub pending: Vec<PendingAudio>,
}

impl AudioTrack {
    pub fn samples_per_frame(&self) -> i64 {
        self.config.as_ref().map_or(1024, |config| i64::from(config.samples_per_frame()))
    }

    /// Duration of this coded frame in samples.
    pub fn frame_samples(&self, frame: &[u8]) -> i64 {
        self.config.as_ref().map_or(1024, |config| i64::from(config.frame_samples(frame)))
    }

    pub fn sample_rate(&self) -> i64 {
        self.config.as_ref().map_or(48_000, |config| i64::from(config.sample_rate()))
    }

    /// Takes pending frames that start before `end_secs` (all of them when
    /// `end_secs` is None) as one run.
    pub fn take_run(&mut self, track_id: u32, end_secs: Option<f64>) -> Option<TrackRun> {
        let rate = self.sample_rate() as f64;
        let count = match end_secs {
            None => self.pending.len(),
            Some(end) => self.pending.iter().take_while(|frame| (frame.dts as f64) / rate < end).count(),
        };
        if count == 0 {
            return None;
        }
        let base = self.pending.first()?.dts;
        let taken: Vec<PendingAudio> = self.pending.drain(..count).collect();
        let samples = taken
            .iter()
            .map(|sample| Sample {
                duration: clamp_duration(sample.duration),
                size: sample.data.len() as u32,
                keyframe: true,
                composition_offset: 0,
            })
            .collect();
        let data = taken.into_iter().map(|sample| sample.data).collect();
        Some(TrackRun { track_id, base_decode_time: base.max(0) as u64, samples, data })
    }
}

fn clamp_duration(ticks: i64) -> u32 {
    ticks.clamp(1, i64::from(u32::MAX)) as u32
}
