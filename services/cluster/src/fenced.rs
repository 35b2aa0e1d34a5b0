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
        let queue = WriteQueue {
            registry,
            shared: shared.clone(),
            config,
            waiting: VecDeque::new(),
            writes: JoinSet::new(),
            write_entries: HashMap::new(),
            next_id: 0,
            health: Health::default(),
        };
        tokio::spawn(queue.run(receiver));
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
        if owned.get(stream).is_some_and(|owned| owned.epoch == epoch) {
            owned.remove(stream);
        }
        drop(owned);
        tracing::warn!(stream, epoch, "fenced: another pod owns the stream; its writes from here are dropped");
        if let Some(stream) = self.live.get().and_then(Weak::upgrade).and_then(|live| live.get(stream)) {
            stream.kick_publisher();
        }
    }
}

struct Entry {
    id: u64,
    event: Event,
    in_flight: bool,
}

/// Whether the database answers, and when to try again if not.
#[derive(Default)]
struct Health {
    down_since: Option<Instant>,
    consecutive_failures: u32,
    failures_in_outage: u64,
    retry_at: Option<Instant>,
}

/// A finished write: the entry's id and the database's answer.
type Attempt = (u64, Result<(), ClusterError>);

/// The write task: one FIFO of waiting events; it starts the oldest waiting
/// event of every stream that has none in flight.
struct WriteQueue {
    registry: Arc<dyn RegistryWrites>,
    shared: Arc<Shared>,
    config: FencedConfig,
    waiting: VecDeque<Entry>,
    writes: JoinSet<Attempt>,
    /// Which entry each write task carries, for a task that panicked.
    write_entries: HashMap<task::Id, u64>,
    next_id: u64,
    health: Health,
}

impl WriteQueue {
    async fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Event>) {
        let mut open = true;
        loop {
            self.start_writes();
            if !open && self.waiting.is_empty() && self.writes.is_empty() {
                return;
            }
            let retry_at = self.health.retry_at;
            tokio::select! {
                event = receiver.recv(), if open => match event {
                    Some(event) => self.admit(event).await,
                    None => open = false,
                },
                Some(joined) = self.writes.join_next_with_id(), if !self.writes.is_empty() => self.finish(joined),
                () = sleep_until(retry_at), if retry_at.is_some() => self.health.retry_at = None,
            }
        }
    }

    /// Moves a new event's payload to the spool while the database fails or
    /// memory is more than half full; otherwise (or when the spool has no
    /// room) it waits in memory.
    async fn admit(&mut self, mut event: Event) {
        let down = self.health.down_since.is_some();
        if let Some(object) = event.object.as_mut().filter(|object| !object.is_spooled()) {
            if down || self.shared.storage.memory_pressed() {
                let len = object.len();
                if self.shared.storage.spill(object).await {
                    let counters = &self.shared.counters;
                    counters.memory_bytes.fetch_sub(len, Ordering::Relaxed);
                    counters.disk_bytes.fetch_add(len, Ordering::Relaxed);
                    counters.spilled.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.next_id += 1;
        self.waiting.push_back(Entry { id: self.next_id, event, in_flight: false });
    }

    /// Starts the oldest waiting event of every stream that has none in
    /// flight, up to the concurrency limit (one probe while the database is
    /// down). An end superseded by a new claim is skipped, which may let the
    /// stream's next event start.
    fn start_writes(&mut self) {
        while self.start_some_writes() {}
    }

    /// One pass of [`Self::start_writes`]; true if it skipped an event.
    fn start_some_writes(&mut self) -> bool {
        if self.health.retry_at.is_some() {
            return false;
        }
        let limit = if self.health.down_since.is_some() { 1 } else { self.config.concurrency.max(1) };
        let mut streams_seen = HashSet::new();
        let mut superseded = Vec::new();
        for entry in &mut self.waiting {
            if self.writes.len() >= limit {
                break;
            }
            if !streams_seen.insert(entry.event.stream.as_str()) || entry.in_flight {
                continue;
            }
            let event = &entry.event;
            if event.write == Write::Ended && self.shared.owned(&event.stream).is_some_and(|o| o.claim > event.claim) {
                // The stream was claimed again since: it did not end.
                superseded.push(entry.id);
                continue;
            }
            entry.in_flight = true;
            let write = self.registry.write(event.stream.clone(), event.epoch, event.write.clone());
            let timeout = self.config.attempt_timeout;
            let id = entry.id;
            let handle = self.writes.spawn(async move {
                let result =
                    tokio::time::timeout(timeout, write).await.unwrap_or_else(|_| Err(ClusterError::Timeout(timeout)));
                (id, result)
            });
            self.write_entries.insert(handle.id(), id);
        }
        let skipped = !superseded.is_empty();
        for id in superseded {
            if let Some(entry) = self.take(id) {
                tracing::debug!(stream = %entry.event.stream, "stream claimed again before its end was written");
                self.release(entry.event);
            }
        }
        skipped
    }

    fn finish(&mut self, joined: Result<(task::Id, Attempt), JoinError>) {
        let (id, result) = match joined {
            Ok((task_id, result)) => {
                self.write_entries.remove(&task_id);
                result
            }
            Err(error) => {
                // Only a panic inside the driver gets here; the entry stays and is retried.
                tracing::error!(%error, "cluster registry write task failed");
                let id = self.write_entries.remove(&error.id());
                if let Some(entry) = self.waiting.iter_mut().find(|entry| Some(entry.id) == id) {
                    entry.in_flight = false;
                }
                self.record_failure();
                return;
            }
        };
        let shared = self.shared.clone();
        let counters = &shared.counters;
        match result {
            Ok(()) => {
                if let Some(entry) = self.take(id) {
                    self.written(entry.event);
                }
                self.record_success();
            }
            Err(ClusterError::Fenced(_)) => {
                if let Some(entry) = self.take(id) {
                    let (stream, epoch) = (entry.event.stream.clone(), entry.event.epoch);
                    counters.fenced.fetch_add(1, Ordering::Relaxed);
                    self.release(entry.event);
                    self.discard(&stream, epoch);
                    self.shared.fenced(&stream, epoch);
                }
                self.record_success();
            }
            Err(error) if is_permanent(&error) => {
                if let Some(entry) = self.take(id) {
                    let event = &entry.event;
                    tracing::error!(stream = %event.stream, write = event.write.name(), %error, "the database refused a write for good");
                    counters.count_drop(&event.stream, &event.write, "refused by the database");
                    self.release(entry.event);
                }
                self.record_success();
            }
            Err(error) => {
                counters.retries.fetch_add(1, Ordering::Relaxed);
                let waiting = self.waiting.len();
                if let Some(entry) = self.waiting.iter_mut().find(|entry| entry.id == id) {
                    entry.in_flight = false;
                    let stream = entry.event.stream.as_str();
                    if self.health.down_since.is_none() {
                        tracing::warn!(stream, %error, waiting, "cluster database unavailable; holding writes and retrying");
                    } else {
                        tracing::debug!(stream, %error, "cluster database still unavailable");
                    }
                }
                self.record_failure();
            }
        }
    }

    fn take(&mut self, id: u64) -> Option<Entry> {
        let index = self.waiting.iter().position(|entry| entry.id == id)?;
        self.waiting.remove(index)
    }

    /// The row is in: the payload goes to the storage queue (with its room,
    /// so it is not dropped there), an end releases the stream.
    fn written(&self, mut event: Event) {
        let (memory_bytes, disk_bytes) = (event.memory_bytes(), event.disk_bytes());
        if let Some(object) = event.object.take() {
            self.shared.storage.enqueue_held(object);
        }
        if event.write == Write::Ended {
            let mut owned = self.shared.lock_owned();
            if owned.get(&event.stream).is_some_and(|owned| owned.claim == event.claim) {
                owned.remove(&event.stream);
            }
        }
        self.shared.counters.written.fetch_add(1, Ordering::Relaxed);
        self.shared.counters.removed(memory_bytes, disk_bytes);
    }

    /// Drops an event that will not be written, with its payload.
    fn release(&self, event: Event) {
        let (memory_bytes, disk_bytes) = (event.memory_bytes(), event.disk_bytes());
        drop(event);
        self.shared.counters.removed(memory_bytes, disk_bytes);
    }

    /// Discards every waiting event of `stream` written under `epoch`.
    fn discard(&mut self, stream: &str, epoch: i64) {
        let (gone, kept): (VecDeque<Entry>, VecDeque<Entry>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|entry| entry.event.stream == stream && entry.event.epoch == epoch && !entry.in_flight);
        self.waiting = kept;
        self.shared.counters.fenced.fetch_add(gone.len() as u64, Ordering::Relaxed);
        for entry in gone {
            self.release(entry.event);
        }
    }

    fn record_success(&mut self) {
        let health = &mut self.health;
        if let Some(since) = health.down_since.take() {
            self.shared.counters.database_down.store(false, Ordering::Relaxed);
            tracing::info!(
                outage_ms = since.elapsed().as_millis() as u64,
                failed_attempts = health.failures_in_outage,
                waiting = self.waiting.len(),
                "cluster database available again"
            );
        }
        health.consecutive_failures = 0;
        health.failures_in_outage = 0;
        health.retry_at = None;
    }

    fn record_failure(&mut self) {
        let health = &mut self.health;
        if health.down_since.is_none() {
            health.down_since = Some(Instant::now());
            self.shared.counters.database_down.store(true, Ordering::Relaxed);
        }
        health.failures_in_outage += 1;
        health.consecutive_failures = health.consecutive_failures.saturating_add(1);
        let delay = backoff(self.config.initial_backoff, self.config.max_backoff, health.consecutive_failures);
        health.retry_at = Some(Instant::now() + delay);
    }
}

/// Errors that retrying cannot fix: the database refused the row itself.
fn is_permanent(error: &ClusterError) -> bool {
    match error {
        ClusterError::Database(sqlx::Error::Database(database)) => {
            !matches!(database.kind(), sqlx::error::ErrorKind::Other)
        }
        _ => false,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// `initial * 2^(failures-1)`, capped, minus up to 20% jitter so that many
/// pods do not retry in lockstep after a shared outage.
fn backoff(initial: Duration, max: Duration, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let delay = initial.saturating_mul(1 << exponent).min(max);
    let jitter = std::collections::hash_map::RandomState::new().build_hasher().finish() % 1000;
    delay - delay.mul_f64(jitter as f64 / 5000.0)
}

/// Renews every owned stream each period, through outages: a failed
/// heartbeat is tried again on the next tick (logged when heartbeats start
/// and stop failing); `Fenced` drops the stream.
async fn heartbeat_loop(shared: Weak<Shared>, registry: Arc<dyn RegistryWrites>, config: FencedConfig) {
    let mut tick = tokio::time::interval(config.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else { return };
        let owned: Vec<(String, i64)> =
            shared.lock_owned().iter().map(|(name, owned)| (name.clone(), owned.epoch)).collect();
        for (stream, epoch) in owned {
            let heartbeat = registry.heartbeat(stream.clone(), epoch);
            let timeout = config.attempt_timeout;
            match tokio::time::timeout(timeout, heartbeat).await.unwrap_or_else(|_| Err(ClusterError::Timeout(timeout)))
            {
                Ok(()) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!(stream, "heartbeats succeed again");
                    }
                }
                Err(ClusterError::Fenced(_)) => shared.fenced(&stream, epoch),
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(stream, %error, "heartbeat failed; trying again every period");
                }
                Err(error) => tracing::debug!(stream, %error, "heartbeat failed again"),
            }
        }
    }
}

type IndexedRow = (i64, String, i64, i64);

impl ClusterRegistry {
    /// Segment `msn` is open on the owner (a takeover lists it as a gap).
    pub async fn segment_opened(&self, stream: &str, epoch: i64, msn: u64) -> Result<(), ClusterError> {
        let updated = sqlx::query("UPDATE live_owners SET open_msn = $1 WHERE stream = $2 AND epoch = $3")
            .bind(msn as i64)
            .bind(stream)
            .bind(epoch)
            .execute(&self.pool)
            .await?;
        crate::fenced_unless_updated(updated.rows_affected(), stream)
    }

    pub async fn init_created(&self, stream: &str, epoch: i64, version: u32) -> Result<(), ClusterError> {
        let next = i64::from(version) + 1;
        let updated = sqlx::query(
            "UPDATE live_owners SET next_init_version = CASE WHEN next_init_version > $1 THEN next_init_version \
             ELSE $1 END WHERE stream = $2 AND epoch = $3",
        )
        .bind(next)
        .bind(stream)
        .bind(epoch)
        .execute(&self.pool)
        .await?;
        crate::fenced_unless_updated(updated.rows_affected(), stream)
    }

    /// Advances the stream past `record` and indexes it, in one transaction
    /// fenced on `epoch`. Safe to retry: if an earlier attempt committed
    /// although its answer was lost, the same row is found and this
    /// succeeds; a different row under the same number is an error.
    pub async fn segment_completed(
        &self,
        stream: &str,
        epoch: i64,
        record: &SegmentRecord,
        key: &str,
    ) -> Result<(), ClusterError> {
        match self.index_completed_segment(stream, epoch, record, key).await {
            Err(ClusterError::Database(sqlx::Error::Database(error))) if error.is_unique_violation() => {
                if self.segment_indexed_as(stream, epoch, record, key).await? {
                    Ok(())
                } else {
                    Err(ClusterError::Database(sqlx::Error::Database(error)))
                }
            }
            result => result,
        }
    }

    async fn index_completed_segment(
        &self,
        stream: &str,
        epoch: i64,
        record: &SegmentRecord,
        key: &str,
    ) -> Result<(), ClusterError> {
        let mut transaction = self.pool.begin().await?;
        let next = record.msn as i64 + 1;
        let target = record.duration_secs.round().max(1.0) as i64;
        let updated = sqlx::query(
            "UPDATE live_owners SET next_msn = CASE WHEN next_msn > $1 THEN next_msn ELSE $1 END, \
             open_msn = NULL, target_duration = CASE WHEN target_duration > $2 THEN target_duration ELSE $2 END \
             WHERE stream = $3 AND epoch = $4",
        )
        .bind(next)
        .bind(target)
        .bind(stream)
        .bind(epoch)
        .execute(&mut *transaction)
        .await?;
        crate::fenced_unless_updated(updated.rows_affected(), stream)?;
        crate::index::insert_segment_row(&mut *transaction, stream, epoch, record, key).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Whether the index holds exactly this row (epoch, key, time, length).
    async fn segment_indexed_as(
        &self,
        stream: &str,
        epoch: i64,
        record: &SegmentRecord,
        key: &str,
    ) -> Result<bool, ClusterError> {
        let row: Option<IndexedRow> = sqlx::query_as(
            "SELECT epoch, object_key, program_date_time_ms, duration_ms FROM stored_segments \
             WHERE stream = $1 AND msn = $2",
        )
        .bind(stream)
        .bind(record.msn as i64)
        .fetch_optional(&self.pool)
        .await?;
        let duration_ms = (record.duration_secs * 1000.0).round() as i64;
        Ok(row.is_some_and(|(row_epoch, row_key, pdt, duration)| {
            row_epoch == epoch && row_key == key && pdt == record.program_date_time_ms && duration == duration_ms
        }))
    }
}

#[cfg(test)]
mod tests {
    //! The write queue on simulated time, against a scripted stand-in for
    //! the database (the tests in `tests/fenced.rs` use real databases).

    use std::path::PathBuf;

    use live::WriterConfig;
    use storage::{MemoryStore, ObjectStore};

    use super::*;

    /// Answers writes as told: down (a connection error), fenced for some
    /// (stream, epoch), else written. Logs every attempt with its time.
    #[derive(Default)]
    struct Scripted {
        down: AtomicBool,
        fenced: Mutex<HashSet<(String, i64)>>,
        attempts: Mutex<Vec<(Instant, String, Write)>>,
        written: Mutex<Vec<(String, Write)>>,
    }

    impl Scripted {
        fn set_down(&self, down: bool) {
            self.down.store(down, Ordering::SeqCst);
        }

        fn attempts(&self) -> Vec<(Instant, String, Write)> {
            self.attempts.lock().unwrap().clone()
        }

        fn written(&self, stream: &str) -> Vec<Write> {
            let written = self.written.lock().unwrap();
            written.iter().filter(|(name, _)| name == stream).map(|(_, write)| write.clone()).collect()
        }

        fn answer(&self, stream: &str, epoch: i64) -> Result<(), ClusterError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(ClusterError::Database(sqlx::Error::PoolTimedOut));
            }
            if self.fenced.lock().unwrap().contains(&(stream.to_owned(), epoch)) {
                return Err(ClusterError::Fenced(stream.to_owned()));
            }
            Ok(())
        }
    }

    impl RegistryWrites for Arc<Scripted> {
        fn write(&self, stream: String, epoch: i64, write: Write) -> WriteFuture {
            self.attempts.lock().unwrap().push((Instant::now(), stream.clone(), write.clone()));
            let result = self.answer(&stream, epoch);
            if result.is_ok() {
                self.written.lock().unwrap().push((stream, write));
            }
            Box::pin(async move { result })
        }

        fn heartbeat(&self, stream: String, epoch: i64) -> WriteFuture {
            let result = self.answer(&stream, epoch);
            Box::pin(async move { result })
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cluster-fenced-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn setup(config: WriterConfig) -> (Arc<Scripted>, Arc<MemoryStore>, StorageWriter, Arc<FencedWriter>) {
        let database = Arc::new(Scripted::default());
        let store = Arc::new(MemoryStore::default());
        let storage = StorageWriter::spawn(store.clone(), config).unwrap();
        let fenced = FencedWriter::spawn_with(Arc::new(database.clone()), storage.clone(), FencedConfig::default());
        (database, store, storage, fenced)
    }

    fn record(msn: u64) -> SegmentRecord {
        SegmentRecord {
            msn,
            duration_secs: 2.0,
            program_date_time_ms: 1_800_000_000_000 + msn as i64 * 2000,
            discontinuity: false,
            init_version: 0,
            discontinuity_sequence: 0,
            gap: false,
        }
    }

    fn payload(msn: u64, len: usize) -> Bytes {
        Bytes::from(vec![msn as u8; len])
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_database_is_retried_with_backoff_in_order() {
        let (database, store, storage, fenced) = setup(WriterConfig::default());
        database.set_down(true);
        fenced.set_epoch("a", 1);
        fenced.set_epoch("b", 1);
        fenced.segment_opened("a", 0);
        fenced.init_created("a", 0, Bytes::from_static(b"init"));
        fenced.segment_opened("b", 0);
        fenced.segment_completed("a", record(0), payload(0, 100));
        fenced.segment_completed("b", record(0), payload(0, 100));
        fenced.stream_ended("a");

        assert!(!fenced.flush(Duration::from_secs(60)).await, "nothing can be written while the database is down");
        let attempts = database.attempts();
        assert!(attempts.len() > 10, "{}", attempts.len());
        // Both streams try at once and fail (2 failures); from then on one
        // probe at a time, each after the backoff of the failures so far:
        // 100 ms doubling to 5 s, less at most 20% jitter.
        assert_eq!(attempts[0].0, attempts[1].0);
        for (index, pair) in attempts[1..].windows(2).enumerate() {
            let failures = index + 2;
            let gap = pair[1].0 - pair[0].0;
            let full =
                Duration::from_millis(100).saturating_mul(1 << (failures - 1).min(20)).min(Duration::from_secs(5));
            // Timers fire on whole milliseconds.
            let late = Duration::from_millis(2);
            assert!(
                gap <= full + late && gap >= full.mul_f64(0.8),
                "failure {failures}: waited {gap:?}, expected ~{full:?}"
            );
        }
        // Every attempt is the first event of a stream: nothing overtakes.
        assert!(attempts.iter().all(|(_, _, write)| *write == Write::Opened { msn: 0 }));
        let stats = fenced.stats();
        assert_eq!((stats.pending, stats.written, stats.dropped, stats.fenced), (6, 0, 0, 0));
        assert_eq!(stats.retries, attempts.len() as u64);
        assert!(!stats.database_available);
        assert!(store.log().is_empty(), "no object before its row");

        database.set_down(false);
        assert!(fenced.flush(Duration::from_secs(10)).await);
        assert!(storage.flush(Duration::from_secs(10)).await);
        let segment_a = Write::Segment { record: record(0), key: live::segment_key("a", 0) };
        let a = vec![Write::Opened { msn: 0 }, Write::Init { version: 0 }, segment_a, Write::Ended];
        assert_eq!(database.written("a"), a);
        let segment_b = Write::Segment { record: record(0), key: live::segment_key("b", 0) };
        assert_eq!(database.written("b"), vec![Write::Opened { msn: 0 }, segment_b]);
        assert_eq!(store.puts_under("live/a/"), ["live/a/init0.mp4", "live/a/seg0.m4s"]);
        assert_eq!(store.puts_under("live/b/"), ["live/b/seg0.m4s"]);
        let stats = fenced.stats();
        assert_eq!((stats.pending, stats.written, stats.dropped), (0, 6, 0));
        assert_eq!((stats.pending_memory_bytes, stats.pending_disk_bytes), (0, 0));
        assert!(stats.database_available);
        assert_eq!(fenced.epoch("a"), None, "the end was written");
        assert_eq!(fenced.epoch("b"), Some(1));
        assert_eq!(storage.stats().held_bytes, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fenced_stream_loses_its_epoch_and_others_go_on() {
        let (database, store, storage, fenced) = setup(WriterConfig::default());
        database.fenced.lock().unwrap().insert(("a".to_owned(), 1));
        fenced.set_epoch("a", 1);
        fenced.set_epoch("b", 1);
        for msn in 0..3 {
            fenced.segment_opened("a", msn);
            fenced.segment_completed("a", record(msn), payload(msn, 100));
            fenced.segment_completed("b", record(msn), payload(msn, 100));
        }
        assert!(fenced.flush(Duration::from_secs(10)).await);
        assert!(storage.flush(Duration::from_secs(10)).await);
        assert!(store.puts_under("live/a/").is_empty(), "a fenced pod writes no object");
        assert_eq!(store.puts_under("live/b/").len(), 3);
        assert_eq!(fenced.epoch("a"), None);
        let stats = fenced.stats();
        assert_eq!((stats.fenced, stats.written, stats.dropped, stats.retries), (6, 3, 0, 0));
        assert_eq!(storage.stats().held_bytes, 0);
        // Output of the stream from now on is not ours to write.
        fenced.segment_completed("a", record(3), payload(3, 100));
        assert_eq!(fenced.stats().pending, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn payloads_spill_past_half_the_memory_and_drop_only_when_the_spool_is_full() {
        let dir = temp_dir("spill");
        let payload_len = 10_000;
        let file_len = live_file_len("live/a/seg10.m4s", payload_len);
        let config = WriterConfig {
            memory_bytes: 64 * 1024,
            memory_objects: 64,
            spool_dir: Some(dir.clone()),
            spool_max_bytes: 5 * file_len,
            ..WriterConfig::default()
        };
        let (database, store, storage, fenced) = setup(config);
        database.set_down(true);
        fenced.set_epoch("a", 1);
        let mut max_memory = 0;
        for msn in 0..30 {
            fenced.segment_completed("a", record(msn), payload(msn, payload_len));
            tokio::time::sleep(Duration::from_millis(100)).await;
            let stats = storage.stats();
            max_memory = max_memory.max(stats.queued_bytes + stats.held_bytes);
        }
        assert!(max_memory <= 64 * 1024, "{max_memory}");
        let stats = fenced.stats();
        assert_eq!(stats.pending_disk_bytes, 5 * payload_len as u64, "{stats:?}");
        assert_eq!(stats.spilled, 5);
        assert!(stats.dropped > 0, "{stats:?}");
        assert_eq!(stats.pending + stats.dropped, 30);
        assert_eq!(storage.stats().dropped, 0);
        assert_eq!(storage.stats().held_spooled, 5);

        database.set_down(false);
        assert!(fenced.flush(Duration::from_secs(30)).await);
        assert!(storage.flush(Duration::from_secs(30)).await);
        let uploaded = store.puts_under("live/a/");
        assert_eq!(uploaded.len() as u64, stats.pending);
        let msns: Vec<u64> = database
            .written("a")
            .iter()
            .filter_map(|write| match write {
                Write::Segment { record, .. } => Some(record.msn),
                _ => None,
            })
            .collect();
        assert!(msns.windows(2).all(|pair| pair[0] < pair[1]), "in order: {msns:?}");
        assert_eq!(uploaded, msns.iter().map(|msn| live::segment_key("a", *msn)).collect::<Vec<_>>());
        for msn in msns {
            let stored = store.get(&live::segment_key("a", msn)).await.unwrap();
            assert_eq!(stored, Some(payload(msn, payload_len)));
        }
        let stats = fenced.stats();
        assert_eq!((stats.pending, stats.pending_memory_bytes, stats.pending_disk_bytes), (0, 0, 0));
        let storage_stats = storage.stats();
        assert_eq!((storage_stats.held_bytes, storage_stats.held_spooled_bytes), (0, 0));
        let _ = std::fs::remove_dir_all(dir);
    }

    fn live_file_len(key: &str, payload_len: usize) -> u64 {
        // Spool file: "relay-spool-1\n", key, "\n", payload.
        (14 + key.len() + 1 + payload_len) as u64
    }

    #[tokio::test(start_paused = true)]
    async fn an_end_queued_before_a_new_claim_is_not_written() {
        let (database, _store, _storage, fenced) = setup(WriterConfig::default());
        database.set_down(true);
        fenced.set_epoch("a", 1);
        fenced.segment_opened("a", 0);
        fenced.stream_ended("a");
        // The publisher comes back to this pod: same epoch, a new claim.
        fenced.set_epoch("a", 1);
        fenced.segment_opened("a", 1);
        tokio::time::sleep(Duration::from_secs(2)).await;
        database.set_down(false);
        assert!(fenced.flush(Duration::from_secs(10)).await);
        assert_eq!(database.written("a"), vec![Write::Opened { msn: 0 }, Write::Opened { msn: 1 }]);
        assert_eq!(fenced.epoch("a"), Some(1), "still owned");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let initial = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        let first = backoff(initial, max, 1);
        assert!(first <= initial && first >= initial.mul_f64(0.8), "{first:?}");
        let fourth = backoff(initial, max, 4);
        assert!(fourth <= Duration::from_millis(800) && fourth >= Duration::from_millis(640), "{fourth:?}");
        assert!(backoff(initial, max, 50) <= max);
        assert!(backoff(initial, max, 50) >= max.mul_f64(0.8));
    }
}
