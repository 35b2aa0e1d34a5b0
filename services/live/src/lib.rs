//! The live edge of every stream this process ingests: init segments, parts
//! and the newest segments in memory, the publisher's lifecycle (grace
//! period, takeover, end of stream) and a version counter that wakes
//! blocked playlist and part requests the moment something changes.

mod continuity;
mod edge;
mod playlist;
mod publish;
mod registry;
mod status;
mod status_json;
mod writer;

pub use continuity::{EdgeListener, ResumePoint, SegmentRecord};
pub use edge::{BlockState, LiveStream, PartState};
pub use publish::PublishSession;
pub use registry::{LiveConfig, PublishError, Registry};
pub use status::StreamStatus;
pub use status_json::status_json;
pub use writer::{
    spawn_storage_writer, HeldObject, MemoryReservation, StorageWriter, StorageWriterStats, WriterConfig,
};

/// Object keys in storage; names derive from sequence numbers only, so every
/// pod computes the same ones.
pub fn segment_key(stream: &str, msn: u64) -> String {
    format!("live/{stream}/seg{msn}.m4s")
}

pub fn init_key(stream: &str, version: u32) -> String {
    format!("live/{stream}/init{version}.mp4")
}
