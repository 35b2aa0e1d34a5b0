//! Background upload of complete segments and init segments. The live path
//! only enqueues and never waits: objects wait in a bounded memory queue,
//! spill to a bounded disk spool when memory fills up or storage is failing,
//! and are retried with capped exponential backoff for as long as they wait.
//! An object is dropped (counted and logged) only when both bounds are hit.

mod spool;
mod uploader;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use storage::ObjectStore;
use tokio::sync::mpsc;

use self::spool::Spool;

/// Bounds and retry timing of the storage writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterConfig {
    /// Objects held in memory at most, waiting or uploading. Default: 256.
    pub memory_objects: usize,
    /// Bytes held in memory at most. Default: 256 MiB.
    pub memory_bytes: u64,
    /// Directory for objects storage cannot take right now; one per process.
    /// Default: none, so objects wait in memory only.
    pub spool_dir: Option<PathBuf>,
    /// Bytes in the spool at most. Default: 4 GiB.
    pub spool_max_bytes: u64,
    /// Uploads in flight at once; objects sharing a key prefix (one stream)
    /// still go up one at a time, in order. Default: 4.
    pub concurrency: usize,
    /// First retry delay after a failure; it doubles up to `max_backoff`.
    /// Default: 100 ms.
    pub initial_backoff: Duration,
    /// Default: 5 s.
    pub max_backoff: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            memory_objects: 256,
            memory_bytes: 256 * 1024 * 1024,
            spool_dir: None,
            spool_max_bytes: 4 * 1024 * 1024 * 1024,
            concurrency: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl WriterConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.memory_objects == 0 || self.memory_bytes == 0 {
            return Err("the storage writer needs room for at least one object in memory".into());
        }
        if self.concurrency == 0 {
            return Err("storage upload concurrency must be at least 1".into());
        }
        if self.initial_backoff.is_zero() || self.initial_backoff > self.max_backoff {
            return Err("storage backoff must be positive, initial no longer than max".into());
        }
        Ok(())
    }
}

/// A snapshot of the writer's counters. `queued*` and `spooled*` are what
/// waits now; the rest are totals since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageWriterStats {
    /// Objects waiting in memory (including uploads in flight from memory).
    pub queued: u64,
    pub queued_bytes: u64,
    /// Objects waiting in the disk spool.
    pub spooled: u64,
    pub spooled_bytes: u64,
    /// Objects ever written to the spool.
    pub spooled_total: u64,
    /// Objects found in the spool at startup, left by a previous run.
    pub recovered: u64,
    pub uploaded: u64,
    /// Uploads that failed and will be (or were) retried.
    pub failed_attempts: u64,
    /// Objects lost: memory and spool both full, or rejected for good.
    pub dropped: u64,
    /// False from a failed upload until the next successful one.
    pub storage_available: bool,
}

/// Counters shared between `enqueue` (any thread) and the upload task.
#[derive(Debug, Default)]
struct Counters {
    memory_objects: AtomicU64,
    memory_bytes: AtomicU64,
    spooled: AtomicU64,
    spooled_bytes: AtomicU64,
    spooled_total: AtomicU64,
    recovered: AtomicU64,
    uploaded: AtomicU64,
    failed_attempts: AtomicU64,
    dropped: AtomicU64,
    storage_down: AtomicBool,
}

impl Counters {
    fn release_memory(&self, bytes: u64) {
        self.memory_objects.fetch_sub(1, Ordering::Relaxed);
        self.memory_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    fn spool_added(&self, size: u64) {
        self.spooled.fetch_add(1, Ordering::Relaxed);
        self.spooled_bytes.fetch_add(size, Ordering::Relaxed);
    }

    fn spool_removed(&self, size: u64) {
        self.spooled.fetch_sub(1, Ordering::Relaxed);
        self.spooled_bytes.fetch_sub(size, Ordering::Relaxed);
    }

    fn count_drop(&self, key: &str, reason: &str) {
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        // The first drop and then every hundredth: an outage must not flood the log.
        if dropped == 1 || dropped.is_multiple_of(100) {
            tracing::warn!(%key, dropped, reason, "object not written to storage");
        }
    }
}

/// An object on its way from `enqueue` to the upload task.
struct Incoming {
    key: String,
    data: Bytes,
}

#[derive(Clone)]
pub struct StorageWriter {
    incoming: mpsc::UnboundedSender<Incoming>,
    counters: Arc<Counters>,
    memory_objects: u64,
    memory_bytes: u64,
}

impl StorageWriter {
    /// Starts the upload task with a spool and retry policy. Fails when the
    /// config is invalid or the spool directory cannot be created. Needs a
    /// tokio runtime.
    pub fn spawn(store: Arc<dyn ObjectStore>, config: WriterConfig) -> std::io::Result<Self> {
        config.validate().map_err(|reason| std::io::Error::new(std::io::ErrorKind::InvalidInput, reason))?;
        let spool = config.spool_dir.clone().map(Spool::create).transpose()?;
        Ok(Self::start(store, config, spool))
    }

    fn start(store: Arc<dyn ObjectStore>, config: WriterConfig, spool: Option<Spool>) -> Self {
        let (incoming, receiver) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let writer = Self {
            incoming,
            counters: counters.clone(),
            memory_objects: config.memory_objects as u64,
            memory_bytes: config.memory_bytes,
        };
        tokio::spawn(uploader::run(store, config, spool, receiver, counters));
        writer
    }

    /// Hands an object to the background task without waiting. The channel
    /// is unbounded but every object in it counts against the memory bounds,
    /// which are checked here.
    pub fn enqueue(&self, key: String, data: Bytes) {
        let size = data.len() as u64;
        let objects = self.counters.memory_objects.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes = self.counters.memory_bytes.fetch_add(size, Ordering::Relaxed) + size;
        if objects > self.memory_objects || bytes > self.memory_bytes {
            self.counters.release_memory(size);
            self.counters.count_drop(&key, "memory and spool full");
            return;
        }
        if let Err(mpsc::error::SendError(rejected)) = self.incoming.send(Incoming { key, data }) {
            self.counters.release_memory(size);
            self.counters.count_drop(&rejected.key, "writer stopped");
        }
    }

    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> StorageWriterStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let counters = &self.counters;
        StorageWriterStats {
            queued: load(&counters.memory_objects),
            queued_bytes: load(&counters.memory_bytes),
            spooled: load(&counters.spooled),
            spooled_bytes: load(&counters.spooled_bytes),
            spooled_total: load(&counters.spooled_total),
            recovered: load(&counters.recovered),
            uploaded: load(&counters.uploaded),
            failed_attempts: load(&counters.failed_attempts),
            dropped: load(&counters.dropped),
            storage_available: !counters.storage_down.load(Ordering::Relaxed),
        }
    }

    /// Waits until nothing is left to upload, e.g. on shutdown. False if
    /// `timeout` passed first.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let stats = self.stats();
            if stats.queued == 0 && stats.spooled == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Starts the upload task with `capacity` objects of memory and no disk
/// spool; see `StorageWriter::spawn` for the full configuration.
pub fn spawn_storage_writer(store: Arc<dyn ObjectStore>, capacity: usize) -> StorageWriter {
    let config = WriterConfig { memory_objects: capacity.max(1), ..WriterConfig::default() };
    StorageWriter::start(store, config, None)
}
