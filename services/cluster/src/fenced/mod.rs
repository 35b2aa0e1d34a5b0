//! The owner's write path: every init, segment and index row is checked
//! against this pod's epoch before it reaches the database or storage.
//! Live parts never wait for it; only completed objects pass through here.
//!
//! Events wait in one queue in front of the database, bounded by the
//! storage writer's budgets: each event takes [`EVENT_OVERHEAD`] bytes of
//! its memory budget, and a payload (init or segment) is held in that
//! budget too ([`StorageWriter::hold`]) or, while the database fails or
//! memory is more than half full, in its spool ([`StorageWriter::spill`]).
//! Only when memory is full (so the spool is full or failing too) is an
//! event dropped, counted and logged.
//!
//! Writes of one stream reach the database one at a time, in order; up to
//! [`FencedConfig::concurrency`] streams write at once. A payload is handed
//! to the storage queue only after its row is written (fencing). A failed
//! write is retried with capped exponential backoff, probing with one write
//! at a time while the database is down; `Fenced` discards the stream's
//! waiting writes of that epoch and drops its publisher instead.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use live::{EdgeListener, HeldObject, MemoryReservation, Registry, SegmentRecord, StorageWriter};
use tokio::sync::mpsc;
use tokio::task::{self, JoinError, JoinSet};
use tokio::time::Instant;

use crate::{ClusterError, ClusterRegistry};

/// Memory charged to the storage writer's budget for each queued event
/// besides its payload: the stream name, object key, record and queue
/// entry. An estimate, so that events without a payload are bounded too.
pub(crate) const EVENT_OVERHEAD: u64 = 256;

/// Retry timing and parallelism of the fenced writer.
#[derive(Debug, Clone)]
pub(crate) struct FencedConfig {
    /// How often owned streams are renewed (the registry's `heartbeat`).
    pub heartbeat: Duration,
    /// First delay after a failed write; it doubles up to `max_backoff`,
    /// less up to 20% jitter.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// A write or heartbeat not answered in this time failed.
    pub attempt_timeout: Duration,
    /// Streams writing at once (one write each) while the database answers.
    pub concurrency: usize,
}

impl Default for FencedConfig {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(1),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(10),
            concurrency: 4,
        }
    }
}

/// A snapshot of the fenced writer's counters. `pending*` are what waits
/// now; the rest are totals since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FencedWriterStats {
    /// Events (segment opened, init, segment, stream ended) not yet written
    /// to the database, in flight included.
    pub pending: u64,
    /// Memory they take: payloads not spilled plus 256 bytes of bookkeeping
    /// per event. Part of the storage writer's `held_bytes`.
    pub pending_memory_bytes: u64,
    /// Payload bytes of theirs that wait in the spool.
    pub pending_disk_bytes: u64,
    /// Payloads ever moved to the spool while waiting.
    pub spilled: u64,
    /// Events written to the database (their payloads then queued for storage).
    pub written: u64,
    /// Writes that failed and were tried again.
    pub retries: u64,
    /// Events lost: no room in memory or in the spool, or refused by the
    /// database for good (a constraint violation).
    pub dropped: u64,
    /// Events discarded because another pod owns their stream now.
    pub fenced: u64,
    /// False from a failed write until the next answered one.
    pub database_available: bool,
}

#[derive(Debug, Default)]
struct Counters {
    pending: AtomicU64,
    memory_bytes: AtomicU64,
    disk_bytes: AtomicU64,
    spilled: AtomicU64,
    written: AtomicU64,
    retries: AtomicU64,
    dropped: AtomicU64,
    fenced: AtomicU64,
    database_down: AtomicBool,
}

impl Counters {
    fn count_drop(&self, stream: &str, write: &Write, reason: &str) {
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        // The first drop and then every hundredth: an outage must not flood the log.
        if dropped == 1 || dropped.is_multiple_of(100) {
            tracing::warn!(stream, write = write.name(), dropped, reason, "cluster write dropped");
        }
    }

    fn added(&self, event: &Event) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.memory_bytes.fetch_add(event.memory_bytes(), Ordering::Relaxed);
    }

    /// `event` left the queue; call with its state at that moment.
    fn removed(&self, memory_bytes: u64, disk_bytes: u64) {
        self.memory_bytes.fetch_sub(memory_bytes, Ordering::Relaxed);
        self.disk_bytes.fetch_sub(disk_bytes, Ordering::Relaxed);
        self.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One registry write; the same on every attempt.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Write {
    Opened { msn: u64 },
    Init { version: u32 },
    Segment { record: SegmentRecord, key: String },
    Ended,
}

impl Write {
    fn name(&self) -> &'static str {
        match self {
            Write::Opened { .. } => "segment opened",
            Write::Init { .. } => "init",
            Write::Segment { .. } => "segment",
            Write::Ended => "stream ended",
        }
    }
}

pub(crate) type WriteFuture = Pin<Box<dyn Future<Output = Result<(), ClusterError>> + Send>>;

/// The database side of the fenced writer: the registry, or in unit tests
/// that run on simulated time a scripted stand-in.
pub(crate) trait RegistryWrites: Send + Sync + 'static {
    fn write(&self, stream: String, epoch: i64, write: Write) -> WriteFuture;
    fn heartbeat(&self, stream: String, epoch: i64) -> WriteFuture;
}

impl RegistryWrites for ClusterRegistry {
    fn write(&self, stream: String, epoch: i64, write: Write) -> WriteFuture {
        let registry = self.clone();
        Box::pin(async move {
            match write {
                Write::Opened { msn } => registry.segment_opened(&stream, epoch, msn).await,
                Write::Init { version } => registry.init_created(&stream, epoch, version).await,
                Write::Segment { record, key } => registry.segment_completed(&stream, epoch, &record, &key).await,
                Write::Ended => registry.end(&stream, epoch).await,
            }
        })
    }

    fn heartbeat(&self, stream: String, epoch: i64) -> WriteFuture {
        let registry = self.clone();
        Box::pin(async move { ClusterRegistry::heartbeat(&registry, &stream, epoch).await })
    }
}

/// A queued event with its room in the storage writer's budgets.
struct Event {
    stream: String,
    epoch: i64,
    /// Which claim of the stream it belongs to (see [`Owned`]).
    claim: u64,
    write: Write,
    /// The init or segment bytes, held until the row is written.
    object: Option<HeldObject>,
    _room: MemoryReservation,
}

impl Event {
    fn memory_bytes(&self) -> u64 {
        EVENT_OVERHEAD + self.object.as_ref().filter(|object| !object.is_spooled()).map_or(0, HeldObject::len)
    }

    fn disk_bytes(&self) -> u64 {
        self.object.as_ref().filter(|object| object.is_spooled()).map_or(0, HeldObject::len)
    }
}

/// A stream this pod owns: the epoch its claim returned, and a number that
/// grows with every claim, so that an `Ended` still queued from a previous
/// publish of the same epoch does not end the stream a new publisher claimed.
#[derive(Debug, Clone, Copy)]
struct Owned {
    epoch: i64,
    claim: u64,
}

/// The [`EdgeListener`] of an ingest pod in a cluster.
pub struct FencedWriter {
    events: mpsc::UnboundedSender<Event>,
    shared: Arc<Shared>,
}

struct Shared {
    storage: StorageWriter,
    owned: Mutex<HashMap<String, Owned>>,
    claims: AtomicU64,
    live: OnceLock<Weak<Registry>>,
    counters: Counters,
}

impl FencedWriter {
    /// Starts the write and heartbeat tasks on the current runtime. Events
    /// wait against `storage`'s memory and spool budgets.
    pub fn spawn(registry: ClusterRegistry, storage: StorageWriter) -> Arc<Self> {
        let config = FencedConfig { heartbeat: registry.config.heartbeat, ..FencedConfig::default() };
        Self::spawn_with(Arc::new(registry), storage, config)
    }

    pub(crate) fn spawn_with(
        registry: Arc<dyn RegistryWrites>,
        storage: StorageWriter,
        config: FencedConfig,
    ) -> Arc<Self> {
        let (events, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            storage,
            owned: Mutex::default(),
            claims: AtomicU64::new(0),
            live: OnceLock::new(),
            counters: Counters::default(),
        });
        tokio::spawn(heartbeat_loop(Arc::downgrade(&shared), registry.clone(), config.clone()));
        tokio::spawn(WriteQueue::new(registry, shared.clone(), config).run(receiver));
        Arc::new(Self { events, shared })
    }

    /// The live registry whose publishers are dropped when fenced.
    pub fn attach(&self, live: &Arc<Registry>) {
        let _ = self.shared.live.set(Arc::downgrade(live));
    }

    /// Records the epoch a claim returned; writes for `stream` carry it.
    pub fn set_epoch(&self, stream: &str, epoch: i64) {
        let claim = self.shared.claims.fetch_add(1, Ordering::Relaxed) + 1;
        self.shared.lock_owned().insert(stream.to_owned(), Owned { epoch, claim });
    }

    pub fn epoch(&self, stream: &str) -> Option<i64> {
        self.shared.owned(stream).map(|owned| owned.epoch)
    }

    /// Streams this pod owns and renews.
    pub fn owned_streams(&self) -> Vec<String> {
        self.shared.lock_owned().keys().cloned().collect()
    }

    pub fn stats(&self) -> FencedWriterStats {
        let counters = &self.shared.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        FencedWriterStats {
            pending: counters.pending.load(Ordering::SeqCst),
            pending_memory_bytes: load(&counters.memory_bytes),
            pending_disk_bytes: load(&counters.disk_bytes),
            spilled: load(&counters.spilled),
            written: load(&counters.written),
            retries: load(&counters.retries),
            dropped: load(&counters.dropped),
            fenced: load(&counters.fenced),
            database_available: !counters.database_down.load(Ordering::Relaxed),
        }
    }

    /// Queues one event, never waiting: its bookkeeping and payload take
    /// room in the storage writer's memory budget, or it is dropped.
    fn send(&self, stream: &str, write: Write, payload: Option<(String, Bytes)>) {
        let Some(owned) = self.shared.owned(stream) else {
            tracing::warn!(stream, "output of a stream this pod does not own was dropped");
            return;
        };
        let counters = &self.shared.counters;
        let storage = &self.shared.storage;
        let Some(room) = storage.reserve(EVENT_OVERHEAD) else {
            counters.count_drop(stream, &write, "memory and spool full");
            return;
        };
        let object = match payload.map(|(key, data)| storage.hold(key, data)) {
            None => None,
            Some(Ok(object)) => Some(object),
            Some(Err(_)) => {
                counters.count_drop(stream, &write, "memory and spool full");
                return;
            }
        };
        let event =
            Event { stream: stream.to_owned(), epoch: owned.epoch, claim: owned.claim, write, object, _room: room };
        counters.added(&event);
        if let Err(mpsc::error::SendError(event)) = self.events.send(event) {
            counters.removed(event.memory_bytes(), event.disk_bytes());
            counters.count_drop(stream, &event.write, "writer stopped");
        }
    }

    /// Waits until every event so far reached the database and its payload
    /// the storage queue, or was discarded (drain); false on timeout.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.shared.counters.pending.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

impl EdgeListener for FencedWriter {
    fn segment_opened(&self, stream: &str, msn: u64) {
        self.send(stream, Write::Opened { msn }, None);
    }

    fn init_created(&self, stream: &str, version: u32, data: Bytes) {
        let key = live::init_key(stream, version);
        self.send(stream, Write::Init { version }, Some((key, data)));
    }

    fn segment_completed(&self, stream: &str, record: SegmentRecord, data: Bytes) {
        let key = live::segment_key(stream, record.msn);
        self.send(stream, Write::Segment { record, key: key.clone() }, Some((key, data)));
    }

    fn stream_ended(&self, stream: &str) {
        self.send(stream, Write::Ended, None);
    }
}

impl Shared {
    fn lock_owned(&self) -> std::sync::MutexGuard<'_, HashMap<String, Owned>> {
        self.owned.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn owned(&self, stream: &str) -> Option<Owned> {
        self.lock_owned().get(stream).copied()
    }

    /// Another pod owns `stream` now: stop renewing and drop our publisher.
    fn fenced(&self, stream: &str, epoch: i64) {
        let mut owned = self.lock_owned();
        // A newer claim of this pod (a publisher back after a disconnect)
        // is not the one fenced: keep it and its publisher.
        let reclaimed = owned.get(stream).is_some_and(|owned| owned.epoch > epoch);
        if owned.get(stream).is_some_and(|owned| owned.epoch == epoch) {
            owned.remove(stream);
        }
        drop(owned);
        tracing::warn!(
            stream,
            epoch,
            "fenced: the stream was taken over or disconnected; its writes from here are dropped"
        );
        if reclaimed {
            return;
        }
        if let Some(stream) = self.live.get().and_then(Weak::upgrade).and_then(|live| live.get(stream)) {
            stream.kick_publisher();
        }
    }
}

mod queue;
mod rows;

use queue::{heartbeat_loop, WriteQueue};
#[cfg(test)]
mod tests;
