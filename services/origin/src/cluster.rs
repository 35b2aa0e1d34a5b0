//! The origin's view of the cluster registry: who owns each live edge (for
//! the upstream fetch) and the stored-segment index behind dvr.m3u8.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use cluster::ClusterRegistry;
use tokio::time::Instant;

use crate::dvr::{IndexFuture, SegmentIndex};
use crate::upstream::EdgeDirectory;

/// Owners from the registry, remembered briefly so a burst of requests
/// costs one query.
pub struct RegistryDirectory {
    registry: ClusterRegistry,
    known: Mutex<HashMap<String, (Instant, Option<String>)>>,
}

impl RegistryDirectory {
    const FRESH_FOR: Duration = Duration::from_secs(1);

    pub fn new(registry: ClusterRegistry) -> Self {
        Self { registry, known: Mutex::default() }
    }
}

impl EdgeDirectory for RegistryDirectory {
    fn owner<'a>(
        &'a self,
        stream: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + 'a>> {
        Box::pin(async move {
            if let Some((at, owner)) = self.known.lock().ok()?.get(stream) {
                if at.elapsed() < Self::FRESH_FOR {
                    return owner.clone();
                }
            }
            let owner = match self.registry.owner(stream).await {
                Ok(owner) => owner.map(|owner| owner.address),
                Err(error) => {
                    tracing::warn!(stream, %error, "cannot look the stream's owner up");
                    return None;
                }
            };
            if let Ok(mut known) = self.known.lock() {
                if known.len() > 100_000 {
                    known.clear();
                }
                known.insert(stream.to_owned(), (Instant::now(), owner.clone()));
            }
            owner
        })
    }

    fn forget(&self, stream: &str) {
        if let Ok(mut known) = self.known.lock() {
            known.remove(stream);
        }
    }
}

/// dvr.m3u8 reads the registry's segment index.
pub struct RegistryIndex {
    registry: ClusterRegistry,
    /// How far back a stream without its own DVR window reaches.
    default_window: Duration,
}

impl RegistryIndex {
    pub fn new(registry: ClusterRegistry, default_window: Duration) -> Self {
        Self { registry, default_window }
    }
}

impl SegmentIndex for RegistryIndex {
    fn window<'a>(&'a self, stream: &'a str) -> IndexFuture<'a, Duration> {
        Box::pin(async move { self.registry.dvr_window(stream, self.default_window).await })
    }

    fn segments<'a>(
        &'a self,
        stream: &'a str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> IndexFuture<'a, (Vec<media::hls::ListedSegment>, bool)> {
        Box::pin(async move {
            let stored = self.registry.segments_between(stream, from_ms, to_ms, limit).await?;
            let ended = self.registry.owner(stream).await?.is_none_or(|owner| owner.ended);
            let listed = stored
                .into_iter()
                .map(|segment| media::hls::ListedSegment {
                    msn: segment.msn,
                    duration: segment.duration_secs,
                    init_version: segment.init_version,
                    discontinuity: segment.discontinuity,
                    discontinuity_sequence: segment.discontinuity_sequence,
                    program_date_time_ms: segment.program_date_time_ms,
                    gap: segment.gap,
                })
                .collect();
            Ok((listed, ended))
        })
    }
}
