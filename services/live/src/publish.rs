use std::sync::Arc;
use std::time::Instant;

use media::segmenter::{Segmenter, SegmenterConfig, SegmenterEvent, SegmenterStart};
use media::{MediaError, MediaFrame};
use tokio::sync::Notify;

use crate::edge::LiveStream;

/// One publisher's claim on a stream. Frames go through its segmenter into
/// the stream's edge; dropping it starts the reconnect grace period.
pub struct PublishSession {
    stream: Arc<LiveStream>,
    id: u64,
    segmenter: Segmenter,
    kick: Arc<Notify>,
    guidance: media::guidance::StreamGuidance,
    /// When the previous frame was pushed, for the part publish delay.
    previous_frame_at: Option<Instant>,
}

impl PublishSession {
    pub(crate) fn new(
        stream: Arc<LiveStream>,
        id: u64,
        start: (SegmenterStart, Arc<Notify>),
        config: SegmenterConfig,
    ) -> Self {
        let (start, kick) = start;
        Self {
            stream,
            id,
            segmenter: Segmenter::new(config, start),
            kick,
            guidance: Default::default(),
            previous_frame_at: None,
        }
    }

    pub fn stream(&self) -> &Arc<LiveStream> {
        &self.stream
    }

    /// Resolves when a newer publisher took the stream over.
    pub async fn kicked(&self) {
        self.kick.notified().await
    }

    /// See [`media::segmenter::Segmenter::part_due`].
    pub fn part_due(&self) -> Option<media::segmenter::PartDue> {
        self.segmenter.part_due()
    }

    pub fn push(&mut self, frame: MediaFrame) -> Result<(), MediaError> {
        self.guidance.observe(&frame);
        let received = Instant::now();
        let events = self.segmenter.push(frame, self.stream.clock().unix_ms())?;
        // A part closed early holds the frame just pushed; one closed by
        // this frame ends with the frame before it, and waited for this one.
        let newest_frame_of_parts: Vec<Instant> = events
            .iter()
            .filter_map(|event| match event {
                SegmenterEvent::Part(part) if part.closed_by_next_frame => self.previous_frame_at,
                SegmenterEvent::Part(_) => Some(received),
                _ => None,
            })
            .collect();
        self.previous_frame_at = Some(received);
        self.apply(events);
        for newest_frame in newest_frame_of_parts {
            metrics::histogram!("relay_live_part_publish_delay_seconds").record(newest_frame.elapsed().as_secs_f64());
        }
        Ok(())
    }

    fn apply(&mut self, events: Vec<SegmenterEvent>) {
        let stream = &self.stream;
        let mut state = stream.lock();
        match &mut state.publisher {
            Some(publisher) if publisher.id == self.id => publisher.last_activity = stream.clock().now(),
            _ => return,
        }
        if events.is_empty() {
            return;
        }
        for event in events {
            match event {
                SegmenterEvent::Init { version, data, info } => {
                    stream.store_init(version, data.clone());
                    state.inits.insert(version, data);
                    while state.inits.len() > 8 {
                        state.inits.pop_first();
                    }
                    state.part_target_ms.get_or_insert(info.part_target_ms);
                    state.next_init_version = state.next_init_version.max(version + 1);
                    state.info = Some(*info);
                }
                SegmenterEvent::Part(part) => stream.apply_part(&mut state, part),
                SegmenterEvent::SegmentEnd { msn, duration_secs } => {
                    stream.complete_segment(&mut state, msn, duration_secs);
                    state.guidance = Some(self.guidance.clone());
                    state.clock_drift = self.segmenter.clock_drift();
                }
            }
        }
        stream.changed(&mut state);
    }
}

impl Drop for PublishSession {
    fn drop(&mut self) {
        let events = self.segmenter.finish();
        self.apply(events);
        let mut state = self.stream.lock();
        if state.publisher.as_ref().is_some_and(|publisher| publisher.id == self.id) {
            state.publisher = None;
            state.disconnected_at = Some(self.stream.clock().now());
            state.status_since_ms = Some(self.stream.clock().unix_ms());
            self.stream.changed(&mut state);
        }
    }
}
