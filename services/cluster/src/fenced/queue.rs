//! The write task: one FIFO of waiting events in front of the database,
//! retried with backoff; and the heartbeat that renews owned streams.

use super::*;

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
pub(super) struct WriteQueue {
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
    pub(super) fn new(registry: Arc<dyn RegistryWrites>, shared: Arc<Shared>, config: FencedConfig) -> Self {
        Self {
            registry,
            shared,
            config,
            waiting: VecDeque::new(),
            writes: JoinSet::new(),
            write_entries: HashMap::new(),
            next_id: 0,
            health: Health::default(),
        }
    }

    pub(super) async fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Event>) {
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
pub(super) fn backoff(initial: Duration, max: Duration, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let delay = initial.saturating_mul(1 << exponent).min(max);
    let jitter = std::collections::hash_map::RandomState::new().build_hasher().finish() % 1000;
    delay - delay.mul_f64(jitter as f64 / 5000.0)
}

/// Renews every owned stream each period, through outages: a failed
/// heartbeat is tried again on the next tick (logged when heartbeats start
/// and stop failing); `Fenced` drops the stream.
pub(super) async fn heartbeat_loop(shared: Weak<Shared>, registry: Arc<dyn RegistryWrites>, config: FencedConfig) {
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
