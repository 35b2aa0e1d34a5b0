//! Seams for a cluster: where a stream left off on another ingest pod, and
//! the hook that sees every init and segment before it reaches storage.

use bytes::Bytes;

/// A complete segment as the cluster registry records it.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRecord {
    pub msn: u64,
    pub duration_secs: f64,
    pub program_date_time_ms: i64,
    pub discontinuity: bool,
    pub init_version: u32,
    /// Discontinuities in the playlist up to and including this segment.
    pub discontinuity_sequence: u64,
    /// Lost before it was stored (its ingest pod died); listed with EXT-X-GAP.
    pub gap: bool,
}

/// Where a stream continues when its publisher lands on this pod after
/// another pod owned it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResumePoint {
    /// First sequence number this pod may write.
    pub next_msn: u64,
    pub next_init_version: u32,
    /// PART-TARGET already advertised; it must not change.
    pub part_target_ms: Option<u32>,
    pub target_duration: u32,
    /// Discontinuities before the first history segment.
    pub discontinuity_sequence: u64,
    /// The newest stored segments, oldest first, shown in the new playlist.
    pub history: Vec<SegmentRecord>,
}

/// Sees what a stream produces, in order, before anything is stored. A
/// cluster uses it to fence on its epoch: a pod that lost the stream must
/// not write. Called under the stream's lock, so it must not block.
pub trait EdgeListener: Send + Sync + 'static {
    /// Segment `msn` starts; its parts become visible right after.
    fn segment_opened(&self, stream: &str, msn: u64);
    fn init_created(&self, stream: &str, version: u32, data: Bytes);
    fn segment_completed(&self, stream: &str, segment: SegmentRecord, data: Bytes);
    /// The publisher left and did not return within the grace period.
    fn stream_ended(&self, stream: &str);
}
