//! Where parts and segments are cut, timestamp jumps, and part emission.

use bytes::Bytes;

use super::tracks::{PendingAudio, PendingVideo};
use super::*;

/// PART-TARGET to advertise: a whole number of driver frames near the
/// configured target, rounded up to the millisecond, so that parts cut on
/// frame boundaries never exceed it (29.97 fps gives 0.201 s, not 0.2 s).
pub(super) fn advertised_part_target_ms(configured_ms: u32, frame_ms: Option<f64>) -> u32 {
    match frame_ms {
        Some(frame) if frame > 0.0 => {
            let frames = (f64::from(configured_ms) / frame).round().max(1.0);
            (frames * frame - 1e-6).ceil() as u32
        }
        _ => configured_ms,
    }
}

impl Segmenter {
    /// Maps publisher milliseconds onto the output timeline, starting a
    /// discontinuity when the step from the track's last frame is a jump.
    fn output_ms_for(&mut self, input_ms: i64, last_ms: Option<i64>, events: &mut Vec<SegmenterEvent>) -> i64 {
        let out = input_ms + self.offset_ms;
        let Some(last) = last_ms else { return out };
        let step = out - last;
        if step > i64::from(self.config.max_forward_jump_ms) || step < -i64::from(self.config.max_backward_jump_ms) {
            tracing::warn!(step_ms = step, "timestamp jump; starting a discontinuity");
            self.flush(events);
            self.pending_discontinuity = true;
            self.clock.reanchor();
            self.video.waiting_for_keyframe = true;
            self.offset_ms = self.output_end_ms - input_ms;
            self.video.last_ms = None;
            self.audio.last_ms = None;
            self.audio.next_dts = None;
            return self.output_end_ms;
        }
        out
    }

    pub(super) fn push_video(
        &mut self,
        dts_ms: i64,
        cts_ms: i32,
        keyframe: bool,
        data: Bytes,
        wall_ms: i64,
        events: &mut Vec<SegmenterEvent>,
    ) {
        let Some(driver) = self.ensure_started(events) else { return };
        if self.video.config.is_none() {
            return;
        }
        let out_ms = self.output_ms_for(dts_ms, self.video.last_ms, events);
        let mut dts = out_ms * i64::from(VIDEO_TIMESCALE) / 1000;
        if let Some(last) = self.video.last_dts {
            if dts <= last {
                dts = last + 1;
            } else {
                self.video.frame_ticks = Some(dts - last);
            }
        }
        self.video.last_ms = Some(out_ms);
        self.video.last_dts = Some(dts);
        self.clock.observe(out_ms, wall_ms);
        let frame_ticks = self.video.nominal_frame_ticks();
        self.output_end_ms = self.output_end_ms.max(out_ms + frame_ticks * 1000 / i64::from(VIDEO_TIMESCALE));
        if self.video.waiting_for_keyframe {
            if !keyframe {
                return;
            }
            self.video.waiting_for_keyframe = false;
        }
        if driver == Driver::Video {
            self.cut_before(dts, keyframe, frame_ticks, i64::from(VIDEO_TIMESCALE), events);
            self.open_if_needed(dts, out_ms, keyframe, wall_ms);
        } else if self.segment.is_none() {
            return;
        }
        self.video.pending.push(PendingVideo { dts, composition_offset: cts_ms.saturating_mul(90), keyframe, data });
        if driver == Driver::Video {
            self.close_part_early(dts + frame_ticks, i64::from(VIDEO_TIMESCALE), frame_ticks, events);
        }
    }

    pub(super) fn push_audio(&mut self, dts_ms: i64, data: Bytes, wall_ms: i64, events: &mut Vec<SegmenterEvent>) {
        let Some(driver) = self.ensure_started(events) else { return };
        if self.audio.config.is_none() {
            return;
        }
        let out_ms = self.output_ms_for(dts_ms, self.audio.last_ms, events);
        self.audio.last_ms = Some(out_ms);
        self.clock.observe(out_ms, wall_ms);
        let rate = self.audio.sample_rate();
        let frame = self.audio.frame_samples(&data);
        let from_clock = out_ms * rate / 1000;
        // Count samples while the publisher's clock agrees, so rounded
        // millisecond timestamps do not make durations jitter.
        let dts = match self.audio.next_dts {
            Some(expected) if (from_clock - expected).abs() <= 2 * frame => expected,
            Some(expected) => from_clock.max(expected),
            None => from_clock,
        };
        self.audio.next_dts = Some(dts + frame);
        self.output_end_ms = self.output_end_ms.max((dts + frame) * 1000 / rate);
        if driver == Driver::Audio {
            self.cut_before(dts, true, frame, rate, events);
            self.open_if_needed(dts, out_ms, true, wall_ms);
        } else if self.segment.is_none() {
            return;
        }
        self.audio.pending.push(PendingAudio { dts, duration: frame, data });
        if driver == Driver::Audio {
            self.close_part_early(dts + frame, rate, frame, events);
        }
    }

    /// Publishes the open part as soon as the frame just added fills it,
    /// instead of waiting for the next frame: the final sample's duration is
    /// the nominal frame duration, capped so the part stays within the
    /// advertised target. The next part keeps its own exact `tfdt`.
    fn close_part_early(
        &mut self,
        estimated_end: i64,
        timescale: i64,
        frame_ticks: i64,
        events: &mut Vec<SegmenterEvent>,
    ) {
        let part_target =
            i64::from(self.advertised_part_target_ms.unwrap_or(self.config.part_target_ms)) * timescale / 1000;
        let Some(part) = &self.part else { return };
        if estimated_end - part.start >= part_target - frame_ticks / 2 {
            let end = estimated_end.min(part.start + part_target);
            self.close_part(end, timescale, false, events);
        }
    }

    /// Closes the open part (and segment) if the driver frame at `dts` falls
    /// at or past their boundary.
    fn cut_before(
        &mut self,
        dts: i64,
        keyframe: bool,
        frame_ticks: i64,
        timescale: i64,
        events: &mut Vec<SegmenterEvent>,
    ) {
        let half_frame = frame_ticks / 2;
        let segment_due = self.segment.as_ref().is_some_and(|segment| {
            keyframe && dts - segment.start >= i64::from(self.config.segment_target_ms) * timescale / 1000 - half_frame
        });
        let part_target_ms = self.advertised_part_target_ms.unwrap_or(self.config.part_target_ms);
        let part_due = self
            .part
            .as_ref()
            .is_some_and(|part| dts - part.start >= i64::from(part_target_ms) * timescale / 1000 - half_frame);
        if segment_due {
            self.close_part(dts, timescale, true, events);
            self.close_segment(timescale, events);
        } else if part_due {
            self.close_part(dts, timescale, true, events);
        }
    }

    fn open_if_needed(&mut self, dts: i64, out_ms: i64, independent: bool, wall_ms: i64) {
        if self.segment.is_none() {
            // Re-anchoring never moves PROGRAM-DATE-TIME back over what was published.
            let program_date_time_ms = self.clock.segment_pdt(out_ms, wall_ms, self.pdt_floor_ms);
            let start_info = SegmentStart {
                discontinuity: std::mem::take(&mut self.pending_discontinuity),
                init_version: self.current_init_version,
                program_date_time_ms,
            };
            self.segment =
                Some(OpenSegment { msn: self.next_msn, start: dts, parts_ticks: 0, next_part_index: 0, start_info });
            self.next_msn += 1;
        }
        if self.part.is_none() {
            self.part = Some(OpenPart { start: dts, independent });
        }
    }

    /// Emits the open part, ending at `end` on the driver's timescale;
    /// `by_next_frame` when the frame after its last one closed it.
    fn close_part(&mut self, end: i64, timescale: i64, by_next_frame: bool, events: &mut Vec<SegmenterEvent>) {
        let (Some(part), Some(segment)) = (self.part.take(), self.segment.as_mut()) else { return };
        let end_secs = end as f64 / timescale as f64;
        let mut runs = Vec::with_capacity(2);
        let video_end = match self.driver {
            Some(Driver::Video) => end,
            _ => self.video.last_dts.unwrap_or(0) + self.video.nominal_frame_ticks(),
        };
        runs.extend(self.video.take_run(VIDEO_TRACK_ID, video_end));
        let audio_end = if self.driver == Some(Driver::Video) { Some(end_secs) } else { None };
        runs.extend(self.audio.take_run(AUDIO_TRACK_ID, audio_end));
        if runs.is_empty() {
            return;
        }
        let data = fmp4::media_fragment(self.fragment_sequence, &runs);
        self.fragment_sequence = self.fragment_sequence.wrapping_add(1);
        let index = segment.next_part_index;
        segment.next_part_index += 1;
        segment.parts_ticks += end - part.start;
        events.push(SegmenterEvent::Part(Part {
            msn: segment.msn,
            index,
            duration_secs: (end - part.start) as f64 / timescale as f64,
            independent: part.independent,
            data,
            segment_start: (index == 0).then_some(segment.start_info),
            closed_by_next_frame: by_next_frame,
        }));
    }

    /// Closes the open segment; it lasts exactly as long as its parts.
    fn close_segment(&mut self, timescale: i64, events: &mut Vec<SegmenterEvent>) {
        if let Some(segment) = self.segment.take() {
            let duration_ms = segment.parts_ticks * 1000 / timescale;
            self.pdt_floor_ms = self.pdt_floor_ms.max(segment.start_info.program_date_time_ms + duration_ms);
            if segment.next_part_index > 0 {
                events.push(SegmenterEvent::SegmentEnd {
                    msn: segment.msn,
                    duration_secs: segment.parts_ticks as f64 / timescale as f64,
                });
            }
        }
    }

    /// Ends the open part and segment with estimated final durations.
    pub(super) fn flush(&mut self, events: &mut Vec<SegmenterEvent>) {
        let (end, timescale) = match self.driver {
            Some(Driver::Video) => {
                (self.video.last_dts.unwrap_or(0) + self.video.nominal_frame_ticks(), i64::from(VIDEO_TIMESCALE))
            }
            Some(Driver::Audio) => (self.audio.next_dts.unwrap_or(0), self.audio.sample_rate()),
            None => return,
        };
        // The final sample's duration is an estimate; keep the part within
        // the advertised target.
        let part_target_ms = i64::from(self.advertised_part_target_ms.unwrap_or(self.config.part_target_ms));
        let end = match &self.part {
            Some(part) => end.min(part.start + part_target_ms * timescale / 1000),
            None => end,
        };
        self.close_part(end, timescale, false, events);
        self.audio.pending.clear();
        self.close_segment(timescale, events);
        self.video.pending.clear();
    }
}
