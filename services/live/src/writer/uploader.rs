//! The upload task. It owns one FIFO of waiting objects, each in memory or
//! in the spool, and starts uploads from its front: up to `concurrency` at
//! once, but only the oldest waiting object of each key prefix, so one
//! stream's objects arrive in order. After a failure it backs off and probes
//! with a single upload until storage answers again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use storage::{ObjectStore, StorageError};
use tokio::sync::mpsc;
use tokio::task::{self, JoinError, JoinSet};
use tokio::time::Instant;

use super::spool::{self, Spool};
use super::{Body, Counters, Incoming, WriterConfig};

struct Entry {
    id: u64,
    key: String,
    body: Body,
    in_flight: bool,
}

enum Outcome {
    Uploaded,
    Failed(StorageError),
    /// The spool file is gone or corrupt: retrying cannot help.
    Unreadable(std::io::Error),
}

/// Whether storage is answering, and when to try again if not.
struct Health {
    down_since: Option<Instant>,
    consecutive_failures: u32,
    failures_in_outage: u64,
    retry_at: Option<Instant>,
}

struct Uploader {
    store: Arc<dyn ObjectStore>,
    config: WriterConfig,
    spool: Option<Spool>,
    counters: Arc<Counters>,
    waiting: VecDeque<Entry>,
    uploads: JoinSet<(u64, Outcome)>,
    /// Which entry each upload task carries, for a task that panicked.
    upload_entries: HashMap<task::Id, u64>,
    next_id: u64,
    health: Health,
    /// Set after a spool write failed, so a full disk is logged once.
    spool_failing: bool,
}

pub(super) async fn run(
    store: Arc<dyn ObjectStore>,
    config: WriterConfig,
    spool: Option<Spool>,
    mut receiver: mpsc::UnboundedReceiver<Incoming>,
    counters: Arc<Counters>,
) {
    let mut uploader = Uploader {
        store,
        config,
        spool,
        counters,
        waiting: VecDeque::new(),
        uploads: JoinSet::new(),
        upload_entries: HashMap::new(),
        next_id: 0,
        spool_failing: false,
        health: Health { down_since: None, consecutive_failures: 0, failures_in_outage: 0, retry_at: None },
    };
    uploader.recover().await;
    let mut open = true;
    loop {
        uploader.start_uploads();
        if !open && uploader.waiting.is_empty() && uploader.uploads.is_empty() {
            return;
        }
        let retry_at = uploader.health.retry_at;
        tokio::select! {
            incoming = receiver.recv(), if open => match incoming {
                Some(incoming) => uploader.admit(incoming).await,
                None => open = false,
            },
            Some(joined) = uploader.uploads.join_next_with_id(), if !uploader.uploads.is_empty() => {
                uploader.finish(joined).await;
            }
            () = sleep_until(retry_at), if retry_at.is_some() => uploader.health.retry_at = None,
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

impl Uploader {
    async fn recover(&mut self) {
        let Some(spool) = self.spool.as_mut() else { return };
        match spool.recover().await {
            Ok(found) if !found.is_empty() => {
                tracing::info!(objects = found.len(), "resuming uploads left in the storage spool");
                for (key, file) in found {
                    self.counters.recovered.fetch_add(1, Ordering::Relaxed);
                    self.counters.spool_added(file.size);
                    self.push(key, Body::Spooled(file));
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot read the storage spool directory"),
        }
    }

    /// Keeps a new object in memory while storage keeps up, and moves it to
    /// the spool when storage is failing or memory is half full. If the
    /// spool is full or failing too, it stays in memory: `enqueue` drops
    /// only when memory is full as well. A held object's spool file moves
    /// into the spool as it is.
    async fn admit(&mut self, Incoming { key, body }: Incoming) {
        let data = match body {
            Body::Memory(data) => data,
            Body::Spooled(file) => {
                let file = match &self.spool {
                    Some(spool) => match spool.adopt(&file).await {
                        Ok(adopted) => adopted,
                        Err(error) => {
                            // It still uploads from where it is; only a restart would not find it.
                            tracing::warn!(%key, %error, "cannot move a held object into the storage spool");
                            file
                        }
                    },
                    None => file,
                };
                self.counters.spooled_total.fetch_add(1, Ordering::Relaxed);
                self.push(key, Body::Spooled(file));
                return;
            }
        };
        let size = data.len() as u64;
        let down = self.health.down_since.is_some();
        let memory_pressed = self.counters.memory_pressed(self.config.memory_objects as u64, self.config.memory_bytes);
        let file_size = spool::file_size(&key, &data);
        if let Some(spool) = self.spool.as_ref().filter(|_| down || memory_pressed) {
            if self.counters.reserve_spool(file_size, self.config.spool_max_bytes) {
                match spool.write(&key, &data).await {
                    Ok(file) => {
                        if std::mem::take(&mut self.spool_failing) {
                            tracing::info!("storage spool writable again");
                        }
                        self.counters.release_queued(size);
                        self.counters.spooled_total.fetch_add(1, Ordering::Relaxed);
                        self.counters.spooled.fetch_add(1, Ordering::Relaxed);
                        self.push(key, Body::Spooled(file));
                        return;
                    }
                    Err(error) => {
                        self.counters.spooled_bytes.fetch_sub(file_size, Ordering::Relaxed);
                        if !std::mem::replace(&mut self.spool_failing, true) {
                            tracing::warn!(%key, %error, "cannot write to the storage spool; objects wait in memory");
                        } else {
                            tracing::debug!(%key, %error, "storage spool still failing");
                        }
                    }
                }
            }
        }
        self.push(key, Body::Memory(data));
    }

    fn push(&mut self, key: String, body: Body) {
        self.next_id += 1;
        self.waiting.push_back(Entry { id: self.next_id, key, body, in_flight: false });
    }

    /// Starts the oldest waiting object of every prefix that has none in
    /// flight, up to the concurrency limit (one probe while storage is down).
    fn start_uploads(&mut self) {
        if self.health.retry_at.is_some() {
            return;
        }
        let limit = if self.health.down_since.is_some() { 1 } else { self.config.concurrency };
        let mut prefixes_seen = HashSet::new();
        for entry in &mut self.waiting {
            if self.uploads.len() >= limit {
                break;
            }
            if !prefixes_seen.insert(key_prefix(&entry.key)) || entry.in_flight {
                continue;
            }
            entry.in_flight = true;
            let store = self.store.clone();
            let (id, key, body) = (entry.id, entry.key.clone(), entry.body.clone());
            let handle = self.uploads.spawn(async move {
                let data = match body {
                    Body::Memory(data) => data,
                    Body::Spooled(file) => match spool::read(&file.path).await {
                        Ok(data) => data,
                        Err(error) => return (id, Outcome::Unreadable(error)),
                    },
                };
                let started = std::time::Instant::now();
                let put = store.put(&key, data).await;
                let outcome = if put.is_ok() { "success" } else { "failure" };
                metrics::histogram!("relay_storage_upload_duration_seconds", "outcome" => outcome)
                    .record(started.elapsed().as_secs_f64());
                match put {
                    Ok(()) => (id, Outcome::Uploaded),
                    Err(error) => (id, Outcome::Failed(error)),
                }
            });
            self.upload_entries.insert(handle.id(), id);
        }
    }

    async fn finish(&mut self, joined: Result<(task::Id, (u64, Outcome)), JoinError>) {
        let (id, outcome) = match joined {
            Ok((task_id, result)) => {
                self.upload_entries.remove(&task_id);
                result
            }
            Err(error) => {
                // Only a panic inside the store gets here; the entry stays and is retried.
                tracing::error!(%error, "storage upload task failed");
                let id = self.upload_entries.remove(&error.id());
                if let Some(entry) = self.waiting.iter_mut().find(|entry| Some(entry.id) == id) {
                    entry.in_flight = false;
                }
                self.record_failure();
                return;
            }
        };
        let Some(index) = self.waiting.iter().position(|entry| entry.id == id) else { return };
        match outcome {
            Outcome::Uploaded => {
                self.remove(index).await;
                self.counters.uploaded.fetch_add(1, Ordering::Relaxed);
                self.record_success();
            }
            Outcome::Failed(error) if error.is_permanent() => {
                self.counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
                let key = self.waiting[index].key.clone();
                self.remove(index).await;
                self.counters.count_drop(&key, "rejected by storage");
                tracing::warn!(%key, %error, "storage rejected object for good");
            }
            Outcome::Failed(error) => {
                self.counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
                let key = self.waiting[index].key.clone();
                self.waiting[index].in_flight = false;
                if self.health.down_since.is_none() {
                    tracing::warn!(%key, %error, "object storage unavailable; holding objects and retrying");
                } else {
                    tracing::debug!(%key, %error, "storage still unavailable");
                }
                self.record_failure();
            }
            Outcome::Unreadable(error) => {
                let key = self.waiting[index].key.clone();
                self.remove(index).await;
                self.counters.count_drop(&key, "spool file unreadable");
                tracing::warn!(%key, %error, "cannot read spooled object");
            }
        }
    }

    async fn remove(&mut self, index: usize) {
        let Some(entry) = self.waiting.remove(index) else { return };
        match entry.body {
            Body::Memory(data) => self.counters.release_queued(data.len() as u64),
            Body::Spooled(file) => {
                spool::remove(&file.path).await;
                self.counters.spool_removed(file.size);
            }
        }
    }

    fn record_success(&mut self) {
        let health = &mut self.health;
        if let Some(since) = health.down_since.take() {
            self.counters.storage_down.store(false, Ordering::Relaxed);
            tracing::info!(
                outage_ms = since.elapsed().as_millis() as u64,
                failed_attempts = health.failures_in_outage,
                waiting = self.waiting.len(),
                "object storage available again"
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
            self.counters.storage_down.store(true, Ordering::Relaxed);
        }
        health.failures_in_outage += 1;
        health.consecutive_failures = health.consecutive_failures.saturating_add(1);
        let delay = backoff(self.config.initial_backoff, self.config.max_backoff, health.consecutive_failures);
        health.retry_at = Some(Instant::now() + delay);
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

/// `live/main/seg1.m4s` -> `live/main`: objects of one stream share it.
fn key_prefix(key: &str) -> &str {
    key.rsplit_once('/').map_or("", |(prefix, _)| prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn prefixes_group_a_stream() {
        assert_eq!(key_prefix("live/main/seg1.m4s"), "live/main");
        assert_eq!(key_prefix("top.bin"), "");
    }
}
