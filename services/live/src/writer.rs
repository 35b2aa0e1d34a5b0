//! Background upload of complete segments and init segments. The live path
//! only enqueues and never waits: objects wait in a bounded memory queue,
//! spill to a bounded disk spool when memory fills up or storage is failing,
//! and are retried with capped exponential backoff for as long as they wait.
//! An object is dropped (counted and logged) only when both bounds are hit.
//!
//! Another component may hold objects against the same bounds before they
//! are queued ([`StorageWriter::hold`]): the cluster's fenced writer keeps
//! segments here until the database has indexed them, so that one memory
//! budget and one spool budget cover the pod's whole write path.

mod spool;
mod uploader;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use storage::ObjectStore;
use tokio::sync::mpsc;

use self::spool::{Spool, SpoolFile};

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
    fn validate(&self) -> Result<(), &'static str> {
        if self.memory_objects == 0 || self.memory_bytes == 0 {
            return Err("the storage writer needs room for at least one object in memory");
        }
        if self.concurrency == 0 {
            return Err("storage upload concurrency must be at least 1");
        }
        if self.initial_backoff.is_zero() || self.initial_backoff > self.max_backoff {
            return Err("storage backoff must be positive, initial no longer than max");
        }
        Ok(())
    }
}

/// A snapshot of the writer's counters. `queued*`, `spooled*` and `held*`
/// are what waits now; the rest are totals since start.
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
    /// Objects held in memory for another component, not queued yet
    /// ([`StorageWriter::hold`]). They count against the memory bounds.
    pub held: u64,
    /// Bytes of `held` objects plus [`MemoryReservation`]s.
    pub held_bytes: u64,
    /// Held objects moved to the spool ([`StorageWriter::spill`]), and the
    /// disk they take. They count against `spool_max_bytes`.
    pub held_spooled: u64,
    pub held_spooled_bytes: u64,
}

/// Counters shared between `enqueue` (any thread) and the upload task.
/// `memory_*` and `spooled_bytes` are totals, held objects included, that
/// the bounds are checked against; `queued` and `spooled` count the upload
/// queue only (what `flush` waits for), `held*` the rest.
#[derive(Debug, Default)]
struct Counters {
    memory_objects: AtomicU64,
    memory_bytes: AtomicU64,
    queued: AtomicU64,
    spooled: AtomicU64,
    spooled_bytes: AtomicU64,
    held_objects: AtomicU64,
    held_bytes: AtomicU64,
    held_spooled: AtomicU64,
    held_spooled_bytes: AtomicU64,
    /// Set after a held object could not be spooled, so it is logged once.
    held_spool_failing: AtomicBool,
    spooled_total: AtomicU64,
    recovered: AtomicU64,
    uploaded: AtomicU64,
    failed_attempts: AtomicU64,
    dropped: AtomicU64,
    storage_down: AtomicBool,
}

impl Counters {
    /// Takes `objects` and `bytes` of the memory bounds, all or nothing.
    /// Compare-and-swap: the totals never pass the bounds, not even briefly.
    fn reserve_memory(&self, objects: u64, bytes: u64, max_objects: u64, max_bytes: u64) -> bool {
        if !add_within(&self.memory_bytes, bytes, max_bytes) {
            return false;
        }
        if !add_within(&self.memory_objects, objects, max_objects) {
            self.memory_bytes.fetch_sub(bytes, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Takes `size` bytes of the spool bound, or nothing.
    fn reserve_spool(&self, size: u64, max_bytes: u64) -> bool {
        add_within(&self.spooled_bytes, size, max_bytes)
    }

    fn memory_pressed(&self, max_objects: u64, max_bytes: u64) -> bool {
        self.memory_objects.load(Ordering::Relaxed) * 2 > max_objects
            || self.memory_bytes.load(Ordering::Relaxed) * 2 > max_bytes
    }

    fn release_memory(&self, bytes: u64) {
        self.memory_objects.fetch_sub(1, Ordering::Relaxed);
        self.memory_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// An object of the upload queue left memory.
    fn release_queued(&self, bytes: u64) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
        self.release_memory(bytes);
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

/// Adds `amount` to `counter` unless that would pass `max`.
fn add_within(counter: &AtomicU64, amount: u64, max: u64) -> bool {
    counter
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |current| {
            current.checked_add(amount).filter(|total| *total <= max)
        })
        .is_ok()
}

/// Where a waiting object's bytes are.
#[derive(Clone)]
enum Body {
    Memory(Bytes),
    Spooled(SpoolFile),
}

/// An object on its way from `enqueue` to the upload task: in memory, or
/// a held object's file in the held spool.
struct Incoming {
    key: String,
    body: Body,
}

#[derive(Clone)]
pub struct StorageWriter {
    incoming: mpsc::UnboundedSender<Incoming>,
    counters: Arc<Counters>,
    memory_objects: u64,
    memory_bytes: u64,
    spool_max_bytes: u64,
    /// Where held objects spill; with a spool only.
    held_spool: Option<Arc<Spool>>,
}

/// An object held against the writer's bounds but not queued for upload:
/// see [`StorageWriter::hold`]. Dropping it frees its room and deletes its
/// spool file.
pub struct HeldObject {
    key: String,
    len: u64,
    /// None once handed to the upload queue.
    body: Option<Body>,
    counters: Arc<Counters>,
}

impl HeldObject {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Bytes of the object.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether it waits on disk rather than in memory.
    pub fn is_spooled(&self) -> bool {
        matches!(self.body, Some(Body::Spooled(_)))
    }
}

impl Drop for HeldObject {
    fn drop(&mut self) {
        let counters = &self.counters;
        match self.body.take() {
            Some(Body::Memory(_)) => {
                counters.held_objects.fetch_sub(1, Ordering::Relaxed);
                counters.held_bytes.fetch_sub(self.len, Ordering::Relaxed);
                counters.release_memory(self.len);
            }
            Some(Body::Spooled(file)) => {
                if let Err(error) = std::fs::remove_file(&file.path) {
                    tracing::warn!(path = %file.path.display(), %error, "cannot remove a held spool file");
                }
                counters.held_spooled.fetch_sub(1, Ordering::Relaxed);
                counters.held_spooled_bytes.fetch_sub(file.size, Ordering::Relaxed);
                counters.spooled_bytes.fetch_sub(file.size, Ordering::Relaxed);
            }
            None => {}
        }
    }
}

/// Bytes of the writer's memory budget taken for something that is not an
/// object, e.g. the bookkeeping of a queue in front of the writer; freed on
/// drop. See [`StorageWriter::reserve`].
pub struct MemoryReservation {
    bytes: u64,
    counters: Arc<Counters>,
}

impl MemoryReservation {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for MemoryReservation {
    fn drop(&mut self) {
        self.counters.held_bytes.fetch_sub(self.bytes, Ordering::Relaxed);
        self.counters.memory_bytes.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl StorageWriter {
    /// Starts the upload task with a spool and retry policy. Fails when the
    /// config is invalid or the spool directory cannot be created. Needs a
    /// tokio runtime.
    pub fn spawn(store: Arc<dyn ObjectStore>, config: WriterConfig) -> std::io::Result<Self> {
        config.validate().map_err(|reason| std::io::Error::new(std::io::ErrorKind::InvalidInput, reason))?;
        let spool = config.spool_dir.clone().map(Spool::create).transpose()?;
        let held_spool = match &config.spool_dir {
            Some(dir) => {
                let (held, removed) = Spool::create_held(dir)?;
                if removed > 0 {
                    tracing::warn!(
                        objects = removed,
                        "discarded objects a previous run held back and never released (not indexed, not uploaded)"
                    );
                }
                Some(Arc::new(held))
            }
            None => None,
        };
        Ok(Self::start(store, config, spool, held_spool))
    }

    fn start(
        store: Arc<dyn ObjectStore>,
        config: WriterConfig,
        spool: Option<Spool>,
        held_spool: Option<Arc<Spool>>,
    ) -> Self {
        let (incoming, receiver) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let writer = Self {
            incoming,
            counters: counters.clone(),
            memory_objects: config.memory_objects as u64,
            memory_bytes: config.memory_bytes,
            spool_max_bytes: config.spool_max_bytes,
            held_spool,
        };
        tokio::spawn(uploader::run(store, config, spool, receiver, counters));
        writer
    }

    /// Hands an object to the background task without waiting. The channel
    /// is unbounded but every object in it counts against the memory bounds,
    /// which are checked here.
    pub fn enqueue(&self, key: String, data: Bytes) {
        let size = data.len() as u64;
        if !self.counters.reserve_memory(1, size, self.memory_objects, self.memory_bytes) {
            self.counters.count_drop(&key, "memory and spool full");
            return;
        }
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        if let Err(mpsc::error::SendError(rejected)) = self.incoming.send(Incoming { key, body: Body::Memory(data) }) {
            self.counters.release_queued(size);
            self.counters.count_drop(&rejected.key, "writer stopped");
        }
    }

    /// Holds `data` in memory against the writer's bounds (one object and
    /// its bytes) without queueing it: for an object that must not be
    /// uploaded yet. [`Self::enqueue_held`] queues it later, with its room,
    /// so it is not dropped then; dropping the [`HeldObject`] frees the
    /// room. Gives `data` back when memory is full; the caller counts that.
    pub fn hold(&self, key: String, data: Bytes) -> Result<HeldObject, Bytes> {
        let len = data.len() as u64;
        if !self.counters.reserve_memory(1, len, self.memory_objects, self.memory_bytes) {
            return Err(data);
        }
        self.counters.held_objects.fetch_add(1, Ordering::Relaxed);
        self.counters.held_bytes.fetch_add(len, Ordering::Relaxed);
        Ok(HeldObject { key, len, body: Some(Body::Memory(data)), counters: self.counters.clone() })
    }

    /// Takes `bytes` of the memory budget (no object slot), or None when it
    /// is full. Reported in `held_bytes`.
    pub fn reserve(&self, bytes: u64) -> Option<MemoryReservation> {
        if !self.counters.reserve_memory(0, bytes, self.memory_objects, self.memory_bytes) {
            return None;
        }
        self.counters.held_bytes.fetch_add(bytes, Ordering::Relaxed);
        Some(MemoryReservation { bytes, counters: self.counters.clone() })
    }

    /// Whether more than half of the memory budget is taken: where the
    /// writer itself starts to put new objects in the spool.
    pub fn memory_pressed(&self) -> bool {
        self.counters.memory_pressed(self.memory_objects, self.memory_bytes)
    }

    /// Moves a held object from memory to the spool (`held/` under
    /// `spool_dir`, which a restart empties rather than uploads), freeing
    /// its memory. True if it is on disk now; false without a spool, when
    /// the spool is full, or when the write failed (logged once until a
    /// write succeeds): then it stays in memory.
    pub async fn spill(&self, held: &mut HeldObject) -> bool {
        let data = match &held.body {
            Some(Body::Memory(data)) => data.clone(),
            Some(Body::Spooled(_)) => return true,
            None => return false,
        };
        let Some(spool) = &self.held_spool else { return false };
        let size = spool::file_size(&held.key, &data);
        if !self.counters.reserve_spool(size, self.spool_max_bytes) {
            return false;
        }
        match spool.write(&held.key, &data).await {
            Ok(file) => {
                if self.counters.held_spool_failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("held objects spill to the spool again");
                }
                let counters = &self.counters;
                counters.held_spooled.fetch_add(1, Ordering::Relaxed);
                counters.held_spooled_bytes.fetch_add(file.size, Ordering::Relaxed);
                counters.held_objects.fetch_sub(1, Ordering::Relaxed);
                counters.held_bytes.fetch_sub(held.len, Ordering::Relaxed);
                counters.release_memory(held.len);
                held.body = Some(Body::Spooled(file));
                true
            }
            Err(error) => {
                self.counters.spooled_bytes.fetch_sub(size, Ordering::Relaxed);
                if !self.counters.held_spool_failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(key = %held.key, %error, "cannot write a held object to the spool; it stays in memory");
                }
                false
            }
        }
    }

    /// Queues a held object for upload. Its room in memory or in the spool
    /// becomes the queue's, so it is never dropped for lack of room here; a
    /// spooled one moves into the upload spool, where a restart finds it.
    pub fn enqueue_held(&self, mut held: HeldObject) {
        let Some(body) = held.body.take() else { return };
        let counters = &self.counters;
        // Counted as queued before it stops counting as held, so the queue and
        // the holder never both look empty while it moves.
        match &body {
            Body::Memory(_) => {
                counters.queued.fetch_add(1, Ordering::Relaxed);
                counters.held_objects.fetch_sub(1, Ordering::Relaxed);
                counters.held_bytes.fetch_sub(held.len, Ordering::Relaxed);
            }
            Body::Spooled(file) => {
                counters.spooled.fetch_add(1, Ordering::Relaxed);
                counters.held_spooled.fetch_sub(1, Ordering::Relaxed);
                counters.held_spooled_bytes.fetch_sub(file.size, Ordering::Relaxed);
            }
        }
        let key = std::mem::take(&mut held.key);
        if let Err(mpsc::error::SendError(rejected)) = self.incoming.send(Incoming { key, body }) {
            match rejected.body {
                Body::Memory(data) => counters.release_queued(data.len() as u64),
                Body::Spooled(file) => {
                    let _ = std::fs::remove_file(&file.path);
                    counters.spool_removed(file.size);
                }
            }
            counters.count_drop(&rejected.key, "writer stopped");
        }
    }

    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> StorageWriterStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let counters = &self.counters;
        // Byte figures of the queue are totals less the held parts, read
        // one after the other: exact when nothing moves, close otherwise.
        let held = load(&counters.held_objects);
        let held_bytes = load(&counters.held_bytes);
        let held_spooled = load(&counters.held_spooled);
        let held_spooled_bytes = load(&counters.held_spooled_bytes);
        StorageWriterStats {
            queued: load(&counters.queued),
            queued_bytes: load(&counters.memory_bytes).saturating_sub(held_bytes),
            spooled: load(&counters.spooled),
            spooled_bytes: load(&counters.spooled_bytes).saturating_sub(held_spooled_bytes),
            spooled_total: load(&counters.spooled_total),
            recovered: load(&counters.recovered),
            uploaded: load(&counters.uploaded),
            failed_attempts: load(&counters.failed_attempts),
            dropped: load(&counters.dropped),
            storage_available: !counters.storage_down.load(Ordering::Relaxed),
            held,
            held_bytes,
            held_spooled,
            held_spooled_bytes,
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
    StorageWriter::start(store, config, None, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::{MemoryStore, ObjectStore};

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("relay-writer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[tokio::test]
    async fn held_objects_share_the_bounds_and_upload_only_when_released() {
        let dir = temp_dir("held");
        let store = Arc::new(MemoryStore::default());
        let config = WriterConfig {
            memory_objects: 4,
            memory_bytes: 1000,
            spool_dir: Some(dir.clone()),
            spool_max_bytes: 700,
            ..WriterConfig::default()
        };
        let writer = StorageWriter::spawn(store.clone(), config).unwrap();
        let room = writer.reserve(100).unwrap();
        let mut first = writer.hold("live/a/seg0.m4s".into(), Bytes::from(vec![0; 400])).unwrap();
        let second = writer.hold("live/a/seg1.m4s".into(), Bytes::from(vec![1; 400])).unwrap();
        assert!(writer.memory_pressed());
        let refused = writer.hold("live/a/seg2.m4s".into(), Bytes::from(vec![2; 400]));
        assert!(refused.is_err(), "900 of 1000 bytes taken");
        assert!(writer.reserve(101).is_none());
        let stats = writer.stats();
        assert_eq!((stats.held, stats.held_bytes, stats.queued, stats.queued_bytes), (2, 900, 0, 0));

        assert!(writer.spill(&mut first).await);
        assert!(first.is_spooled());
        let stats = writer.stats();
        assert_eq!((stats.held, stats.held_bytes, stats.held_spooled, stats.spooled), (1, 500, 1, 0));
        assert_eq!(stats.held_spooled_bytes, spool::file_size("live/a/seg0.m4s", &Bytes::from(vec![0; 400])));
        let mut third = writer.hold("live/a/seg2.m4s".into(), Bytes::from(vec![2; 400])).unwrap();
        assert!(!writer.spill(&mut third).await, "the spool bound (700 bytes) has no room for a second file");
        assert!(!third.is_spooled());

        // Nothing held is uploaded, and a dropped one frees its room.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(store.log().is_empty());
        drop(third);
        drop(room);
        assert_eq!(writer.stats().held_bytes, 400);

        writer.enqueue_held(first);
        writer.enqueue_held(second);
        assert!(writer.flush(Duration::from_secs(5)).await, "{:?}", writer.stats());
        assert_eq!(store.get("live/a/seg0.m4s").await.unwrap(), Some(Bytes::from(vec![0; 400])));
        assert_eq!(store.get("live/a/seg1.m4s").await.unwrap(), Some(Bytes::from(vec![1; 400])));
        let stats = writer.stats();
        assert_eq!(stats, StorageWriterStats { uploaded: 2, spooled_total: 1, storage_available: true, ..stats });
        assert_eq!((stats.held, stats.held_bytes, stats.held_spooled, stats.held_spooled_bytes), (0, 0, 0, 0));
        assert_eq!((stats.queued_bytes, stats.spooled_bytes, stats.dropped), (0, 0, 0));
        let held_files = std::fs::read_dir(dir.join(spool::HELD_DIR)).unwrap().count();
        assert_eq!(held_files, 0);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "the spool holds only the held directory");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_dropped_spilled_object_deletes_its_file() {
        let dir = temp_dir("held-drop");
        let config = WriterConfig { spool_dir: Some(dir.clone()), ..WriterConfig::default() };
        let writer = StorageWriter::spawn(Arc::new(MemoryStore::default()), config).unwrap();
        let mut held = writer.hold("live/a/init0.mp4".into(), Bytes::from_static(b"init")).unwrap();
        assert!(writer.spill(&mut held).await);
        assert_eq!(std::fs::read_dir(dir.join(spool::HELD_DIR)).unwrap().count(), 1);
        drop(held);
        assert_eq!(std::fs::read_dir(dir.join(spool::HELD_DIR)).unwrap().count(), 0);
        let stats = writer.stats();
        assert_eq!((stats.held_spooled, stats.held_spooled_bytes, stats.spooled_bytes), (0, 0, 0));
        let _ = std::fs::remove_dir_all(dir);
    }
}
