use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use clock::{Clock, Instant};
use media::hls::SkipRequest;
use media::segmenter::{Part, SegmentStart, SegmenterStart, StreamInfo};
use tokio::sync::{watch, Notify};

use crate::continuity::{EdgeListener, ResumePoint, SegmentRecord};
use crate::registry::{LiveConfig, PublishError};
use crate::writer::StorageWriter;

pub(crate) struct EdgePart {
    pub duration: f64,
    pub independent: bool,
    pub data: Bytes,
}

pub(crate) struct EdgeSegment {
    pub msn: u64,
    pub start: SegmentStart,
    pub parts: Vec<EdgePart>,
    pub complete: bool,
    pub duration: f64,
    /// The whole segment once complete; its parts are slices of it. None
    /// for history resumed from another pod: storage has it.
    pub data: Option<Bytes>,
    pub gap: bool,
}

pub(crate) struct Publisher {
    pub id: u64,
    pub last_activity: Instant,
    pub kick: Arc<Notify>,
}

pub(crate) struct EdgeState {
    pub segments: VecDeque<EdgeSegment>,
    pub inits: BTreeMap<u32, Bytes>,
    pub info: Option<StreamInfo>,
    pub target_duration: u32,
    pub part_target_ms: Option<u32>,
    /// Discontinuities carried by segments that left the front.
    pub removed_discontinuities: u64,
    pub next_msn: u64,
    pub next_init_version: u32,
    pub publisher: Option<Publisher>,
    pub disconnected_at: Option<Instant>,
    pub ended_at: Option<Instant>,
    pub rendered: Vec<(u64, SkipRequest, Bytes)>,
    pub version: u64,
    /// Unix ms the publisher connected, or the last one left.
    pub status_since_ms: Option<i64>,
    /// The publisher's GOP, bitrate and frame rate, as of its last segment.
    pub guidance: Option<media::guidance::StreamGuidance>,
    /// The publisher's clock against ours, as of its last segment.
    pub clock_drift: Option<media::segmenter::ClockDrift>,
    /// The name names no stream any more (deleted or renamed away).
    pub retired: bool,
}

impl EdgeState {
    pub fn newest_part(&self) -> Option<(u64, u32)> {
        let segment = self.segments.back()?;
        let count = segment.parts.len() as u32;
        (count > 0).then(|| (segment.msn, count - 1))
    }

    pub fn segment(&self, msn: u64) -> Option<&EdgeSegment> {
        let first = self.segments.front()?.msn;
        let index = usize::try_from(msn.checked_sub(first)?).ok()?;
        self.segments.get(index).filter(|segment| segment.msn == msn)
    }

    /// The part the preload hint names: the next one of the open segment,
    /// or the first of the next segment.
    pub fn hinted_part(&self) -> Option<(u64, u32)> {
        if self.ended_at.is_some() {
            return None;
        }
        let newest = self.segments.back()?;
        Some(if newest.complete { (newest.msn + 1, 0) } else { (newest.msn, newest.parts.len() as u32) })
    }
}

/// What a blocking playlist request for (msn, part) should do now.
#[derive(Debug, PartialEq, Eq)]
pub enum BlockState {
    Ready,
    Wait,
    BadRequest,
}

/// What a part request should do now.
#[derive(Debug, PartialEq, Eq)]
pub enum PartState {
    Ready(Bytes),
    Wait,
    NotFound,
}

pub struct LiveStream {
    pub name: String,
    pub(crate) window: usize,
    storage: Option<StorageWriter>,
    listener: Option<Arc<dyn EdgeListener>>,
    state: Mutex<EdgeState>,
    version: watch::Sender<u64>,
    clock: Clock,
}

impl LiveStream {
    pub(crate) fn new(
        name: &str,
        config: &LiveConfig,
        storage: Option<StorageWriter>,
        listener: Option<Arc<dyn EdgeListener>>,
    ) -> Self {
        let target_duration = config.segmenter.segment_target_ms.div_ceil(1000).max(1);
        Self {
            name: name.to_owned(),
            window: config.playlist_window_segments.max(3),
            storage,
            listener,
            clock: config.clock.clone(),
            state: Mutex::new(EdgeState {
                segments: VecDeque::new(),
                inits: BTreeMap::new(),
                info: None,
                target_duration,
                part_target_ms: None,
                removed_discontinuities: 0,
                next_msn: 0,
                next_init_version: 0,
                publisher: None,
                disconnected_at: None,
                ended_at: None,
                rendered: Vec::new(),
                version: 0,
                status_since_ms: None,
                guidance: None,
                clock_drift: None,
                retired: false,
            }),
            version: watch::channel(0).0,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, EdgeState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wakes every waiter after a change made under `state`.
    pub(crate) fn changed(&self, state: &mut EdgeState) {
        state.version += 1;
        state.rendered.clear();
        self.version.send_replace(state.version);
    }

    /// Requests blocked on this stream right now.
    pub fn waiting_requests(&self) -> usize {
        self.version.receiver_count()
    }

    /// A receiver that sees every change; waiters re-check after each one.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    pub(crate) fn claim(
        &self,
        id: u64,
        now: Instant,
        takeover_after: std::time::Duration,
        resume: Option<&ResumePoint>,
    ) -> Result<(SegmenterStart, Arc<Notify>), PublishError> {
        let mut state = self.lock();
        if let Some(resume) = resume.filter(|resume| resume.next_msn > state.next_msn) {
            if let Some(current) = state.publisher.take() {
                current.kick.notify_one();
            }
            self.seed(&mut state, resume);
        }
        if let Some(current) = &state.publisher {
            if now.duration_since(current.last_activity) < takeover_after {
                return Err(PublishError::AlreadyLive(self.name.clone()));
            }
            tracing::warn!(stream = %self.name, "taking over from a silent publisher");
            current.kick.notify_one();
            self.close_open_segment(&mut state);
        }
        let continues = !state.segments.is_empty() || state.next_msn > 0;
        let start = SegmenterStart {
            first_msn: state.next_msn,
            first_init_version: state.next_init_version,
            discontinuity: continues,
            advertised_part_target_ms: state.part_target_ms,
        };
        let kick = Arc::new(Notify::new());
        state.publisher = Some(Publisher { id, last_activity: now, kick: kick.clone() });
        state.status_since_ms = Some(self.clock.unix_ms());
        state.disconnected_at = None;
        state.ended_at = None;
        self.changed(&mut state);
        Ok((start, kick))
    }

    /// Replaces what this pod remembers with the history another pod left.
    fn seed(&self, state: &mut EdgeState, resume: &ResumePoint) {
        let keep = resume.history.len().saturating_sub(self.window);
        let dropped = &resume.history[..keep];
        state.removed_discontinuities =
            resume.discontinuity_sequence + dropped.iter().filter(|segment| segment.discontinuity).count() as u64;
        state.segments = resume.history[keep..]
            .iter()
            .map(|record| EdgeSegment {
                msn: record.msn,
                start: SegmentStart {
                    discontinuity: record.discontinuity,
                    init_version: record.init_version,
                    program_date_time_ms: record.program_date_time_ms,
                },
                parts: Vec::new(),
                complete: true,
                duration: record.duration_secs,
                data: None,
                gap: record.gap,
            })
            .collect();
        state.inits.clear();
        state.next_msn = resume.next_msn;
        state.next_init_version = resume.next_init_version;
        state.part_target_ms = resume.part_target_ms.or(state.part_target_ms);
        state.target_duration = state.target_duration.max(resume.target_duration);
        state.ended_at = None;
    }

    /// Drops the publisher because another pod owns the stream now.
    pub fn kick_publisher(&self) {
        if self.drop_publisher() {
            tracing::warn!(stream = %self.name, "another ingest pod took the stream over or it was disconnected; dropped our publisher");
        }
    }

    /// Drops the publisher because the control plane asked (its key was
    /// rotated, or an operator disconnected it). It may come back.
    pub fn disconnect_publisher(&self) {
        if self.drop_publisher() {
            tracing::info!(stream = %self.name, "publisher disconnected by the control plane");
        }
    }

    fn drop_publisher(&self) -> bool {
        let mut state = self.lock();
        let Some(current) = state.publisher.take() else { return false };
        current.kick.notify_one();
        state.disconnected_at = Some(self.clock.now());
        self.changed(&mut state);
        true
    }

    /// The name names no stream any more: the publisher is dropped, the
    /// playlist ends and every request held on it is answered.
    pub(crate) fn retire(&self) {
        let mut state = self.lock();
        if let Some(current) = state.publisher.take() {
            current.kick.notify_one();
        }
        state.retired = true;
        if state.ended_at.is_none() {
            state.ended_at = Some(self.clock.now());
        }
        self.changed(&mut state);
    }

    /// True once [`Registry::retire`](crate::Registry::retire) retired the name.
    pub fn is_retired(&self) -> bool {
        self.lock().retired
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(crate) fn end_if_abandoned(&self, now: Instant, grace: std::time::Duration) {
        let mut state = self.lock();
        let abandoned = state.publisher.is_none()
            && state.ended_at.is_none()
            && state.disconnected_at.is_some_and(|at| now.duration_since(at) >= grace);
        if abandoned {
            tracing::info!(stream = %self.name, "publisher did not return; ending the playlist");
            self.close_open_segment(&mut state);
            state.ended_at = Some(now);
            if let Some(listener) = &self.listener {
                listener.stream_ended(&self.name);
            }
            self.changed(&mut state);
        }
    }

    pub(crate) fn ended_longer_than(&self, now: Instant, retention: std::time::Duration) -> bool {
        self.lock().ended_at.is_some_and(|at| now.duration_since(at) >= retention)
    }

    /// EXT-X-TARGETDURATION once the first part exists.
    pub fn target_duration(&self) -> Option<u32> {
        let state = self.lock();
        state.newest_part().map(|_| state.target_duration)
    }

    pub fn is_ended(&self) -> bool {
        self.lock().ended_at.is_some()
    }

    pub fn block_state(&self, msn: u64, part: Option<u32>) -> BlockState {
        let state = self.lock();
        if state.ended_at.is_some() {
            return BlockState::Ready;
        }
        let Some(newest) = state.segments.back() else { return BlockState::Wait };
        if msn > newest.msn + 2 {
            return BlockState::BadRequest;
        }
        let ready = match part {
            Some(part) => state.newest_part().is_some_and(|newest| newest >= (msn, part)),
            None => state.segments.iter().rev().any(|segment| segment.complete && segment.msn >= msn),
        };
        if ready {
            BlockState::Ready
        } else {
            BlockState::Wait
        }
    }

    pub fn has_publisher(&self) -> bool {
        self.lock().publisher.is_some()
    }

    /// How long the connected publisher has been silent; None without one.
    pub fn publisher_silence(&self) -> Option<std::time::Duration> {
        let now = self.clock.now();
        self.lock().publisher.as_ref().map(|publisher| now.saturating_duration_since(publisher.last_activity))
    }

    /// True once the stream has at least one part to list.
    pub fn has_media(&self) -> bool {
        self.lock().newest_part().is_some()
    }

    pub fn part(&self, msn: u64, index: u32) -> PartState {
        let state = self.lock();
        if let Some(part) = state.segment(msn).and_then(|segment| segment.parts.get(index as usize)) {
            return PartState::Ready(part.data.clone());
        }
        if state.hinted_part() == Some((msn, index)) {
            PartState::Wait
        } else {
            PartState::NotFound
        }
    }

    /// A complete segment still held in memory.
    pub fn segment_data(&self, msn: u64) -> Option<Bytes> {
        self.lock().segment(msn).and_then(|segment| segment.data.clone())
    }

    pub fn init(&self, version: u32) -> Option<Bytes> {
        self.lock().inits.get(&version).cloned()
    }

    pub(crate) fn apply_part(&self, state: &mut EdgeState, part: Part) {
        if part.index == 0 {
            let start = part.segment_start.unwrap_or(SegmentStart {
                discontinuity: false,
                init_version: 0,
                program_date_time_ms: self.clock.unix_ms(),
            });
            state.segments.push_back(EdgeSegment {
                msn: part.msn,
                start,
                parts: Vec::new(),
                complete: false,
                duration: 0.0,
                data: None,
                gap: false,
            });
            state.next_msn = state.next_msn.max(part.msn + 1);
            if let Some(listener) = &self.listener {
                listener.segment_opened(&self.name, part.msn);
            }
        }
        match state.segments.back_mut() {
            Some(segment) if segment.msn == part.msn && !segment.complete => {
                segment.parts.push(EdgePart {
                    duration: part.duration_secs,
                    independent: part.independent,
                    data: part.data,
                });
            }
            _ => {
                tracing::warn!(stream = %self.name, msn = part.msn, index = part.index, "part without its segment dropped")
            }
        }
    }

    pub(crate) fn store_init(&self, version: u32, data: Bytes) {
        match &self.listener {
            Some(listener) => listener.init_created(&self.name, version, data),
            None => self.store(crate::init_key(&self.name, version), data),
        }
    }

    pub(crate) fn store(&self, key: String, data: Bytes) {
        if let Some(storage) = &self.storage {
            storage.enqueue(key, data);
        }
    }

    /// Completes a segment that its publisher left open (takeover, end).
    pub(crate) fn close_open_segment(&self, state: &mut EdgeState) {
        let Some(segment) = state.segments.back_mut().filter(|segment| !segment.complete) else { return };
        if segment.parts.is_empty() {
            state.segments.pop_back();
            return;
        }
        let duration = segment.parts.iter().map(|part| part.duration).sum();
        let msn = segment.msn;
        self.complete_segment(state, msn, duration);
    }

    /// Marks segment `msn` complete, hands it to storage and trims the window.
    pub(crate) fn complete_segment(&self, state: &mut EdgeState, msn: u64, duration: f64) {
        let Some(segment) = state.segments.back_mut().filter(|segment| segment.msn == msn && !segment.complete) else {
            return;
        };
        let data = seal(segment, duration);
        let start = segment.start;
        match &self.listener {
            Some(listener) => {
                let discontinuities = state.segments.iter().filter(|segment| segment.start.discontinuity).count();
                let record = SegmentRecord {
                    msn,
                    duration_secs: duration,
                    program_date_time_ms: start.program_date_time_ms,
                    discontinuity: start.discontinuity,
                    init_version: start.init_version,
                    discontinuity_sequence: state.removed_discontinuities + discontinuities as u64,
                    gap: false,
                };
                listener.segment_completed(&self.name, record, data);
            }
            None => self.store(crate::segment_key(&self.name, msn), data),
        }
        let rounded = duration.round() as u32;
        if rounded > state.target_duration {
            tracing::warn!(stream = %self.name, msn, duration, "segment longer than the target duration; the GOP is too long");
            state.target_duration = rounded;
        }
        while state.segments.iter().filter(|segment| segment.complete).count() > self.window {
            if let Some(old) = state.segments.pop_front() {
                state.removed_discontinuities += u64::from(old.start.discontinuity);
            }
        }
    }
}

/// Joins a segment's parts into one buffer and re-points the parts at
/// slices of it, so memory holds each byte once.
fn seal(segment: &mut EdgeSegment, duration: f64) -> Bytes {
    let mut joined = BytesMut::with_capacity(segment.parts.iter().map(|part| part.data.len()).sum());
    for part in &segment.parts {
        joined.extend_from_slice(&part.data);
    }
    let data = joined.freeze();
    let mut offset = 0;
    for part in &mut segment.parts {
        let length = part.data.len();
        part.data = data.slice(offset..offset + length);
        offset += length;
    }
    segment.complete = true;
    segment.duration = duration;
    segment.data = Some(data.clone());
    data
}
