//! Turns a stream of [`MediaFrame`]s into CMAF init segments, LL-HLS parts
//! and segments. A push/pull state machine: the caller pushes frames with the
//! wall-clock time they arrived and applies the events that come back.
//!
//! Timing: video runs on a 90 kHz clock, audio on its sample rate. Parts are
//! cut on the "driver" track (video when there is video, else audio) at the
//! first frame at or past the part boundary, so every duration is exact.
//! Segments start on keyframes.

mod clock;
mod cutting;
mod tracks;

use bytes::Bytes;

use crate::codec::{AudioConfig, VideoConfig};
use crate::fmp4::{self, TrackMedia, TrackSpec};
use crate::{MediaError, MediaFrame};
use tracks::{AudioTrack, VideoTrack};

pub use clock::{ClockDrift, MAX_PDT_ERROR_MS};

#[cfg(test)]
mod tests;

pub const VIDEO_TIMESCALE: u32 = 90_000;
const VIDEO_TRACK_ID: u32 = 1;
const AUDIO_TRACK_ID: u32 = 2;

/// Tuning of the segmenter; every field has a documented default.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmenterConfig {
    /// Segments close at the first keyframe at or after this duration (2000).
    pub segment_target_ms: u32,
    /// Parts close at about this duration (200).
    pub part_target_ms: u32,
    /// A forward step between two frames of a track larger than this is a
    /// timestamp jump and starts a discontinuity (3000).
    pub max_forward_jump_ms: u32,
    /// A backward step larger than this is a jump; smaller ones are clamped
    /// so decode time never goes backwards (500).
    pub max_backward_jump_ms: u32,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        Self { segment_target_ms: 2000, part_target_ms: 200, max_forward_jump_ms: 3000, max_backward_jump_ms: 500 }
    }
}

/// Where a segmenter starts: a new stream, or a publisher that reconnected
/// and continues an existing playlist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SegmenterStart {
    pub first_msn: u64,
    pub first_init_version: u32,
    /// The first segment continues an earlier playlist after a break.
    pub discontinuity: bool,
    /// PART-TARGET already advertised for this playlist, which must not change.
    pub advertised_part_target_ms: Option<u32>,
}

/// What a playlist needs to know about the tracks of an init segment.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    pub video: Option<VideoConfig>,
    pub audio: Option<AudioConfig>,
    /// PART-TARGET to advertise, in milliseconds.
    pub part_target_ms: u32,
}

impl StreamInfo {
    pub fn codecs(&self) -> Vec<String> {
        let video = self.video.iter().map(VideoConfig::codec_string);
        video.chain(self.audio.iter().map(AudioConfig::codec_string)).collect()
    }
}

/// See [`Segmenter::part_due`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartDue {
    pub newest_frame_ms: f64,
    pub completing_frame_ms: f64,
}

/// Attached to the first part of every segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentStart {
    pub discontinuity: bool,
    pub init_version: u32,
    pub program_date_time_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub msn: u64,
    pub index: u32,
    pub duration_secs: f64,
    pub independent: bool,
    pub data: Bytes,
    pub segment_start: Option<SegmentStart>,
    /// The part was closed by the frame after its last one (which it waited
    /// for), not as soon as its last frame arrived.
    pub closed_by_next_frame: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SegmenterEvent {
    /// `info` is boxed: it is rare and much larger than a part.
    Init {
        version: u32,
        data: Bytes,
        info: Box<StreamInfo>,
    },
    Part(Part),
    SegmentEnd {
        msn: u64,
        duration_secs: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    Video,
    Audio,
}

struct OpenSegment {
    msn: u64,
    start: i64,
    /// Sum of the emitted parts' durations.
    parts_ticks: i64,
    next_part_index: u32,
    start_info: SegmentStart,
}

struct OpenPart {
    start: i64,
    independent: bool,
}

pub struct Segmenter {
    config: SegmenterConfig,
    video: VideoTrack,
    audio: AudioTrack,
    /// Set while an init segment for the current configs is out.
    driver: Option<Driver>,
    next_init_version: u32,
    current_init_version: u32,
    next_msn: u64,
    pending_discontinuity: bool,
    /// Added to publisher milliseconds to get our output timeline.
    offset_ms: i64,
    /// End of the newest output sample, in milliseconds, for re-anchoring.
    output_end_ms: i64,
    /// PROGRAM-DATE-TIME against the wall clock.
    clock: clock::ClockWatch,
    /// End of the newest closed segment in wall time; PDT never goes below it.
    pdt_floor_ms: i64,
    advertised_part_target_ms: Option<u32>,
    segment: Option<OpenSegment>,
    part: Option<OpenPart>,
    fragment_sequence: u32,
}

impl Segmenter {
    pub fn new(config: SegmenterConfig, start: SegmenterStart) -> Self {
        Self {
            config,
            video: VideoTrack::default(),
            audio: AudioTrack::default(),
            driver: None,
            next_init_version: start.first_init_version,
            current_init_version: start.first_init_version,
            next_msn: start.first_msn,
            pending_discontinuity: start.discontinuity,
            offset_ms: 0,
            output_end_ms: 0,
            clock: clock::ClockWatch::default(),
            pdt_floor_ms: i64::MIN,
            advertised_part_target_ms: start.advertised_part_target_ms,
            segment: None,
            part: None,
            fragment_sequence: 1,
        }
    }

    /// When the open part will complete, on the output media clock: the
    /// newest driver frame's time and the time of the frame expected to
    /// complete the part, in milliseconds. None when no part is open.
    pub fn part_due(&self) -> Option<PartDue> {
        let part = self.part.as_ref()?;
        let (last, frame, timescale) = match self.driver? {
            Driver::Video => (self.video.last_dts?, self.video.nominal_frame_ticks(), i64::from(VIDEO_TIMESCALE)),
            Driver::Audio => {
                let frame = self.audio.samples_per_frame();
                (self.audio.next_dts? - frame, frame, self.audio.sample_rate())
            }
        };
        let target = i64::from(self.advertised_part_target_ms.unwrap_or(self.config.part_target_ms)) * timescale / 1000;
        // The completing frame is the first whose end reaches the target less half a frame.
        let due = part.start + target - frame - frame / 2;
        let to_ms = |ticks: i64| ticks as f64 * 1000.0 / timescale as f64;
        Some(PartDue { newest_frame_ms: to_ms(last), completing_frame_ms: to_ms(due) })
    }

    /// Feeds one frame that arrived at `wall_ms` (Unix milliseconds).
    pub fn push(&mut self, frame: MediaFrame, wall_ms: i64) -> Result<Vec<SegmenterEvent>, MediaError> {
        let mut events = Vec::new();
        match frame {
            MediaFrame::VideoConfig { codec, record } => {
                let config = VideoConfig::parse(codec, record)?;
                if self.video.config.as_ref() != Some(&config) {
                    self.restart_for_new_config(&mut events);
                    self.video.config = Some(config);
                }
            }
            MediaFrame::AudioConfig { codec, record } => {
                let config = AudioConfig::parse(codec, record)?;
                if self.audio.config.as_ref() != Some(&config) {
                    self.restart_for_new_config(&mut events);
                    self.audio.config = Some(config);
                }
            }
            MediaFrame::Video { dts_ms, cts_ms, keyframe, data } => {
                // Codec-specific sample rules (AV1: no temporal delimiters).
                let (data, cts_ms) = match &self.video.config {
                    Some(config) => config.sample(data, keyframe, cts_ms),
                    None => (data, cts_ms),
                };
                self.push_video(dts_ms, cts_ms, keyframe, data, wall_ms, &mut events)
            }
            MediaFrame::Audio { dts_ms, data } => self.push_audio(dts_ms, data, wall_ms, &mut events),
        }
        Ok(events)
    }

    /// The publisher's clock against the wall clock, once measured.
    pub fn clock_drift(&self) -> Option<ClockDrift> {
        self.clock.drift()
    }

    /// Closes the open part and segment, e.g. when the publisher leaves.
    pub fn finish(&mut self) -> Vec<SegmenterEvent> {
        let mut events = Vec::new();
        self.flush(&mut events);
        events
    }

    /// A new decoder configuration: what is open ends, and the next frame
    /// starts a new init segment after a discontinuity.
    fn restart_for_new_config(&mut self, events: &mut Vec<SegmenterEvent>) {
        if self.driver.is_some() {
            self.flush(events);
            self.driver = None;
            self.pending_discontinuity = true;
            self.clock.reanchor();
        }
    }

    /// Emits the init segment when the first media frame arrives.
    fn ensure_started(&mut self, events: &mut Vec<SegmenterEvent>) -> Option<Driver> {
        if let Some(driver) = self.driver {
            return Some(driver);
        }
        let driver = if self.video.config.is_some() {
            Driver::Video
        } else if self.audio.config.is_some() {
            Driver::Audio
        } else {
            return None;
        };
        let mut specs = Vec::new();
        if let Some(video) = &self.video.config {
            specs.push(TrackSpec {
                track_id: VIDEO_TRACK_ID,
                timescale: VIDEO_TIMESCALE,
                media: TrackMedia::Video(video.clone()),
            });
        }
        if let Some(audio) = &self.audio.config {
            specs.push(TrackSpec {
                track_id: AUDIO_TRACK_ID,
                timescale: audio.sample_rate(),
                media: TrackMedia::Audio(audio.clone()),
            });
        }
        let part_target_ms = *self.advertised_part_target_ms.get_or_insert_with(|| {
            cutting::advertised_part_target_ms(
                self.config.part_target_ms,
                driver_frame_ms(driver, &self.video, &self.audio),
            )
        });
        self.current_init_version = self.next_init_version;
        self.next_init_version += 1;
        self.video.waiting_for_keyframe = true;
        events.push(SegmenterEvent::Init {
            version: self.current_init_version,
            data: fmp4::init_segment(&specs),
            info: Box::new(StreamInfo {
                video: self.video.config.clone(),
                audio: self.audio.config.clone(),
                part_target_ms,
            }),
        });
        self.driver = Some(driver);
        Some(driver)
    }
}

/// Nominal frame duration of the driver track in milliseconds, if known.
fn driver_frame_ms(driver: Driver, video: &VideoTrack, audio: &AudioTrack) -> Option<f64> {
    match driver {
        Driver::Video => video
            .config
            .as_ref()
            .and_then(VideoConfig::frame_rate)
            .filter(|rate| (1.0..=240.0).contains(rate))
            .map(|rate| 1000.0 / rate),
        Driver::Audio => audio
            .config
            .as_ref()
            .map(|config| 1000.0 * f64::from(config.samples_per_frame()) / f64::from(config.sample_rate())),
    }
}
