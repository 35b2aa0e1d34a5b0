//! The owner's write path: every init, segment and index row is checked
//! against this pod's epoch before it reaches the database or storage.
//! Live parts never wait for it; only completed objects pass through here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use bytes::Bytes;
use live::{EdgeListener, Registry, SegmentRecord, StorageWriter};
use tokio::sync::mpsc;

use crate::{unix_ms, ClusterError, ClusterRegistry};

enum Event {
    Opened { stream: String, epoch: i64, msn: u64 },
    Init { stream: String, epoch: i64, version: u32, data: Bytes },
    Segment { stream: String, epoch: i64, record: SegmentRecord, data: Bytes },
    Ended { stream: String, epoch: i64 },
}

/// The [`EdgeListener`] of an ingest pod in a cluster.
pub struct FencedWriter {
    events: mpsc::UnboundedSender<Event>,
    shared: Arc<Shared>,
}

struct Shared {
    registry: ClusterRegistry,
    storage: StorageWriter,
    epochs: Mutex<HashMap<String, i64>>,
    live: OnceLock<Weak<Registry>>,
    /// Events sent and not yet written.
    pending: AtomicUsize,
}

impl FencedWriter {
    /// Starts the write and heartbeat tasks on the current runtime.
    pub fn spawn(registry: ClusterRegistry, storage: StorageWriter) -> Arc<Self> {
        let (events, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            registry,
            storage,
            epochs: Mutex::default(),
            live: OnceLock::new(),
            pending: AtomicUsize::new(0),
        });
        tokio::spawn(write_loop(shared.clone(), receiver));
        tokio::spawn(heartbeat_loop(Arc::downgrade(&shared)));
        Arc::new(Self { events, shared })
    }

    /// The live registry whose publishers are dropped when fenced.
    pub fn attach(&self, live: &Arc<Registry>) {
        let _ = self.shared.live.set(Arc::downgrade(live));
    }

    /// Records the epoch a claim returned; writes for `stream` carry it.
    pub fn set_epoch(&self, stream: &str, epoch: i64) {
        self.shared.lock_epochs().insert(stream.to_owned(), epoch);
    }

    pub fn epoch(&self, stream: &str) -> Option<i64> {
        self.shared.lock_epochs().get(stream).copied()
    }

    /// Streams this pod owns and renews.
    pub fn owned_streams(&self) -> Vec<String> {
        self.shared.lock_epochs().keys().cloned().collect()
    }

    fn send(&self, stream: &str, make: impl FnOnce(String, i64) -> Event) {
        let Some(epoch) = self.epoch(stream) else {
            tracing::warn!(stream, "output of a stream this pod does not own was dropped");
            return;
        };
        self.shared.pending.fetch_add(1, Ordering::SeqCst);
        if self.events.send(make(stream.to_owned(), epoch)).is_err() {
            self.shared.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Waits until every event so far reached the database and the storage
    /// queue (drain); false on timeout.
    pub async fn flush(&self, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.shared.pending.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        true
    }
}

impl EdgeListener for FencedWriter {
    fn segment_opened(&self, stream: &str, msn: u64) {
        self.send(stream, |stream, epoch| Event::Opened { stream, epoch, msn });
    }

    fn init_created(&self, stream: &str, version: u32, data: Bytes) {
        self.send(stream, |stream, epoch| Event::Init { stream, epoch, version, data });
    }

    fn segment_completed(&self, stream: &str, record: SegmentRecord, data: Bytes) {
        self.send(stream, |stream, epoch| Event::Segment { stream, epoch, record, data });
    }

    fn stream_ended(&self, stream: &str) {
        self.send(stream, |stream, epoch| Event::Ended { stream, epoch });
    }
}

impl Shared {
    fn lock_epochs(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.epochs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Another pod owns `stream` now: stop renewing and drop our publisher.
    fn fenced(&self, stream: &str, epoch: i64) {
        let mut epochs = self.lock_epochs();
        if epochs.get(stream) == Some(&epoch) {
            epochs.remove(stream);
        }
        drop(epochs);
        tracing::warn!(stream, epoch, "fenced: another pod owns the stream; its writes from here are dropped");
        if let Some(stream) = self.live.get().and_then(Weak::upgrade).and_then(|live| live.get(stream)) {
            stream.kick_publisher();
        }
    }

    async fn apply(&self, event: Event) {
        let (stream, epoch, result) = match event {
            Event::Opened { stream, epoch, msn } => {
                let result = self.registry.segment_opened(&stream, epoch, msn).await;
                (stream, epoch, result)
            }
            Event::Init { stream, epoch, version, data } => {
                let result = self.registry.init_created(&stream, epoch, version).await;
                if result.is_ok() {
                    self.storage.enqueue(live::init_key(&stream, version), data);
                }
                (stream, epoch, result)
            }
            Event::Segment { stream, epoch, record, data } => {
                let key = live::segment_key(&stream, record.msn);
                let result = self.registry.segment_completed(&stream, epoch, &record, &key).await;
                if result.is_ok() {
                    self.storage.enqueue(key, data);
                }
                (stream, epoch, result)
            }
            Event::Ended { stream, epoch } => {
                let result = self.registry.end(&stream, epoch).await;
                if result.is_ok() {
                    let mut epochs = self.lock_epochs();
                    if epochs.get(&stream) == Some(&epoch) {
                        epochs.remove(&stream);
                    }
                }
                (stream, epoch, result)
            }
        };
        match result {
            Ok(()) => {}
            Err(ClusterError::Fenced(_)) => self.fenced(&stream, epoch),
            Err(error) => tracing::error!(stream, %error, "cluster registry write failed"),
        }
    }
}

async fn write_loop(shared: Arc<Shared>, mut receiver: mpsc::UnboundedReceiver<Event>) {
    while let Some(event) = receiver.recv().await {
        shared.apply(event).await;
        shared.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn heartbeat_loop(shared: Weak<Shared>) {
    let Some(period) = shared.upgrade().map(|shared| shared.registry.config.heartbeat) else { return };
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else { return };
        let owned: Vec<(String, i64)> =
            shared.lock_epochs().iter().map(|(name, epoch)| (name.clone(), *epoch)).collect();
        for (stream, epoch) in owned {
            match shared.registry.heartbeat(&stream, epoch).await {
                Ok(()) => {}
                Err(ClusterError::Fenced(_)) => shared.fenced(&stream, epoch),
                Err(error) => tracing::warn!(stream, %error, at = unix_ms(), "heartbeat failed"),
            }
        }
    }
}

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
    /// fenced on `epoch`.
    pub async fn segment_completed(
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
}
