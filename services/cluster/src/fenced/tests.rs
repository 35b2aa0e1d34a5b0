//! The write queue on simulated time, against a scripted stand-in for
//! the database (the tests in `tests/fenced.rs` use real databases).

use std::path::PathBuf;

use live::WriterConfig;
use storage::{MemoryStore, ObjectStore};

use super::queue::backoff;
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
        let full = Duration::from_millis(100).saturating_mul(1 << (failures - 1).min(20)).min(Duration::from_secs(5));
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
