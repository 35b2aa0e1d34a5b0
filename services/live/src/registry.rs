use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clock::Clock;

use media::segmenter::SegmenterConfig;

use crate::continuity::{EdgeListener, ResumePoint};
use crate::edge::LiveStream;
use crate::publish::PublishSession;
use crate::writer::StorageWriter;

/// Live-edge settings; defaults in [`Default`].
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub segmenter: SegmenterConfig,
    /// Complete segments listed in the live playlist (10).
    pub playlist_window_segments: usize,
    /// A publisher that reconnects within this continues the playlist (10 s).
    pub reconnect_grace: Duration,
    /// A publisher silent this long may be taken over by a new one (5 s).
    pub takeover_after: Duration,
    /// An ended stream's edge stays in memory this long (60 s).
    pub ended_retention: Duration,
    /// Grace periods and takeovers run on its monotonic time,
    /// PROGRAM-DATE-TIME on its wall clock (the system's).
    pub clock: Clock,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            segmenter: SegmenterConfig::default(),
            playlist_window_segments: 10,
            reconnect_grace: Duration::from_secs(10),
            takeover_after: Duration::from_secs(5),
            ended_retention: Duration::from_secs(60),
            clock: Clock::system(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PublishError {
    #[error("stream {0} is already being published")]
    AlreadyLive(String),
}

/// Every stream whose live edge this process holds.
pub struct Registry {
    config: LiveConfig,
    storage: Option<StorageWriter>,
    listener: Option<Arc<dyn EdgeListener>>,
    streams: Mutex<HashMap<String, Arc<LiveStream>>>,
    next_session_id: std::sync::atomic::AtomicU64,
}

impl Registry {
    pub fn new(config: LiveConfig, storage: Option<StorageWriter>) -> Arc<Self> {
        Arc::new(Self { config, storage, listener: None, streams: Mutex::default(), next_session_id: 1.into() })
    }

    /// A registry whose streams report to `listener`, which then decides
    /// what reaches storage (a cluster fences on its epoch there).
    pub fn with_listener(config: LiveConfig, listener: Arc<dyn EdgeListener>) -> Arc<Self> {
        Arc::new(Self {
            config,
            storage: None,
            listener: Some(listener),
            streams: Mutex::default(),
            next_session_id: 1.into(),
        })
    }

    /// Every stream this pod holds, for heartbeats and drain.
    pub fn stream_names(&self) -> Vec<String> {
        self.streams.lock().map(|streams| streams.keys().cloned().collect()).unwrap_or_default()
    }

    /// True while some stream has a connected publisher.
    pub fn has_publishers(&self) -> bool {
        let streams = self.streams.lock().map(|streams| streams.values().cloned().collect::<Vec<_>>());
        streams.unwrap_or_default().iter().any(|stream| stream.has_publisher())
    }

    pub fn config(&self) -> &LiveConfig {
        &self.config
    }

    pub fn get(&self, name: &str) -> Option<Arc<LiveStream>> {
        self.streams.lock().ok()?.get(name).cloned()
    }

    /// Claims the stream for a new publisher: a fresh playlist, the
    /// continuation of one within its grace period, or a takeover of a
    /// publisher that has gone silent. A live, active publisher is refused.
    pub fn begin_publish(self: &Arc<Self>, name: &str) -> Result<PublishSession, PublishError> {
        self.begin_publish_resuming(name, None)
    }

    /// As [`Self::begin_publish`], continuing from `resume` when another pod
    /// left the stream further along than this pod remembers.
    pub fn begin_publish_resuming(
        self: &Arc<Self>,
        name: &str,
        resume: Option<&ResumePoint>,
    ) -> Result<PublishSession, PublishError> {
        let stream = {
            let mut streams = self.streams.lock().map_err(|_| PublishError::AlreadyLive(name.to_owned()))?;
            streams
                .entry(name.to_owned())
                .or_insert_with(|| {
                    Arc::new(LiveStream::new(name, &self.config, self.storage.clone(), self.listener.clone()))
                })
                .clone()
        };
        let id = self.next_session_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let start = stream.claim(id, self.config.clock.now(), self.config.takeover_after, resume)?;
        Ok(PublishSession::new(stream, id, start, self.config.segmenter.clone()))
    }

    /// `name` names no stream any more (deleted, or renamed away): its
    /// publisher is dropped, requests held on it are answered and the
    /// stream is forgotten, so a stream given the name later starts anew.
    pub fn retire(&self, name: &str) {
        let removed = self.streams.lock().ok().and_then(|mut streams| streams.remove(name));
        if let Some(stream) = removed {
            tracing::info!(stream = name, "stream name retired; publisher dropped, held requests answered");
            stream.retire();
        }
    }

    /// Ends playlists whose publisher stayed away past the grace period and
    /// forgets streams that ended long ago. Call periodically.
    pub fn housekeeping(&self, now: clock::Instant) {
        let Ok(mut streams) = self.streams.lock() else { return };
        streams.retain(|_, stream| {
            stream.end_if_abandoned(now, self.config.reconnect_grace);
            !stream.ended_longer_than(now, self.config.ended_retention)
        });
    }

    /// Runs housekeeping every 250 ms until the registry is dropped.
    pub fn spawn_housekeeping(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let Some(registry) = weak.upgrade() else { break };
                registry.housekeeping(registry.config.clock.now());
            }
        });
    }
}
