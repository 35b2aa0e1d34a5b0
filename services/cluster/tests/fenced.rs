//! The fenced writer against real databases: PostgreSQL stopped for 30 s
//! while a stream keeps producing segments, a takeover fencing queued
//! writes, retried segment writes and rows the database refuses.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cluster::{ClusterConfig, ClusterError, ClusterRegistry, FencedWriter, PublisherProbe};
use live::{EdgeListener, SegmentRecord, StorageWriter, WriterConfig};
use storage::{MemoryStore, ObjectStore};
use testkit::postgres::PgTestServer;

fn probe(answer: bool) -> Arc<PublisherProbe> {
    Arc::new(move |_address: String, _stream: String| Box::pin(async move { answer }))
}

fn pod(pool: &sqlx::AnyPool, name: &str) -> ClusterRegistry {
    let config = ClusterConfig { pod: name.into(), address: format!("{name}:8081"), ..ClusterConfig::default() };
    ClusterRegistry::new(pool.clone(), config)
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

/// `len` bytes that differ from segment to segment.
fn payload(msn: u64, len: usize) -> Bytes {
    let mut data: Vec<u8> = msn.to_le_bytes().iter().copied().cycle().take(len).collect();
    data[len - 1] ^= 0x5a;
    Bytes::from(data)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cluster-fenced-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Removes a SQLite database with its WAL side files.
fn remove_sqlite(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

async fn sqlite_pool(name: &str) -> (sqlx::AnyPool, PathBuf) {
    let path = std::env::temp_dir().join(format!("cluster-fenced-{name}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let pool = cluster::connect(&format!("sqlite://{}?mode=rwc", path.display())).await.unwrap();
    (pool, path)
}

const OUTAGE: Duration = Duration::from_secs(30);
const SEGMENT_EVERY: Duration = Duration::from_millis(150);
const SEGMENT_BYTES: usize = 256 * 1024;
/// The storage writer's memory budget: eight segments. Half of it is where
/// payloads start to go to disk.
const MEMORY_BYTES: u64 = 2 * 1024 * 1024;

#[derive(Debug, Default, Clone, Copy)]
struct Peaks {
    /// The storage writer's memory: its queue plus what it holds for the fenced writer.
    writer_memory: u64,
    fenced_memory: u64,
    fenced_disk: u64,
    fenced_pending: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_segment_is_lost_while_postgres_is_down_for_30s() {
    let started = std::time::Instant::now();
    let server = Arc::new(tokio::task::spawn_blocking(PgTestServer::start).await.unwrap());
    let url = {
        let server = server.clone();
        tokio::task::spawn_blocking(move || server.create_database()).await.unwrap()
    };
    let pool = cluster::connect(&url).await.unwrap();
    let registry = pod(&pool, "ingest-a");
    let store = Arc::new(MemoryStore::default());
    let spool = temp_dir("outage-spool");
    let config = WriterConfig {
        memory_bytes: MEMORY_BYTES,
        memory_objects: 64,
        spool_dir: Some(spool.clone()),
        spool_max_bytes: 1 << 30,
        ..WriterConfig::default()
    };
    let storage = StorageWriter::spawn(store.clone(), config).unwrap();
    let fenced = FencedWriter::spawn(registry.clone(), storage.clone());
    let stream = "outage";
    let claim = registry.claim(stream, probe(false).as_ref()).await.unwrap();
    fenced.set_epoch(stream, claim.epoch);

    // The live edge: an init, then a segment every 150 ms, without pause.
    let stop = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicU64::new(0));
    let producer = tokio::spawn({
        let (fenced, stop, produced) = (fenced.clone(), stop.clone(), produced.clone());
        async move {
            fenced.init_created(stream, 0, Bytes::from_static(b"init segment"));
            let mut tick = tokio::time::interval(SEGMENT_EVERY);
            let mut msn = 0;
            while !stop.load(Ordering::SeqCst) {
                tick.tick().await;
                fenced.segment_opened(stream, msn);
                fenced.segment_completed(stream, record(msn), payload(msn, SEGMENT_BYTES));
                msn += 1;
                produced.store(msn, Ordering::SeqCst);
            }
        }
    });
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn({
        let (fenced, storage, sampling) = (fenced.clone(), storage.clone(), sampling.clone());
        async move {
            let mut peaks = Peaks::default();
            while sampling.load(Ordering::SeqCst) {
                let writer = storage.stats();
                let stats = fenced.stats();
                peaks.writer_memory = peaks.writer_memory.max(writer.queued_bytes + writer.held_bytes);
                peaks.fenced_memory = peaks.fenced_memory.max(stats.pending_memory_bytes);
                peaks.fenced_disk = peaks.fenced_disk.max(stats.pending_disk_bytes);
                peaks.fenced_pending = peaks.fenced_pending.max(stats.pending);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            peaks
        }
    });

    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(fenced.stats().written > 0, "{:?}", fenced.stats());
    let before_outage = produced.load(Ordering::SeqCst);

    {
        let server = server.clone();
        tokio::task::spawn_blocking(move || server.stop()).await.unwrap();
    }
    let outage_started = std::time::Instant::now();
    tokio::time::sleep(OUTAGE).await;
    let during = fenced.stats();
    assert!(!during.database_available, "{during:?}");
    assert!(during.pending > 0 && during.retries > 0, "{during:?}");
    assert!(during.pending_disk_bytes > 0, "payloads wait on disk: {during:?}");
    {
        let server = server.clone();
        tokio::task::spawn_blocking(move || server.start_again()).await.unwrap();
    }
    let outage = outage_started.elapsed();
    let after_outage = produced.load(Ordering::SeqCst);

    // A few more segments with the database back, then the publisher stops.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    producer.await.unwrap();
    let produced = produced.load(Ordering::SeqCst);
    let recovery_started = std::time::Instant::now();
    assert!(fenced.flush(Duration::from_secs(90)).await, "the registry caught up: {:?}", fenced.stats());
    assert!(storage.flush(Duration::from_secs(60)).await, "storage caught up: {:?}", storage.stats());
    let caught_up = recovery_started.elapsed();
    sampling.store(false, Ordering::SeqCst);
    let peaks = sampler.await.unwrap();

    // Every segment is indexed, in order, under our epoch.
    let indexed = registry.segments_between(stream, 0, i64::MAX, 100_000).await.unwrap();
    let msns: Vec<u64> = indexed.iter().map(|segment| segment.msn).collect();
    assert_eq!(msns, (0..produced).collect::<Vec<_>>());
    for segment in &indexed {
        assert_eq!((segment.epoch, segment.gap), (claim.epoch, false));
        assert_eq!(segment.object_key, live::segment_key(stream, segment.msn));
        assert_eq!(segment.program_date_time_ms, record(segment.msn).program_date_time_ms);
    }
    // Every object is stored with its bytes, and they went up in order.
    for msn in 0..produced {
        let stored = store.get(&live::segment_key(stream, msn)).await.unwrap();
        assert!(stored == Some(payload(msn, SEGMENT_BYTES)), "segment {msn} missing or wrong");
    }
    let mut expected = vec![live::init_key(stream, 0)];
    expected.extend((0..produced).map(|msn| live::segment_key(stream, msn)));
    assert_eq!(store.puts_under(&format!("live/{stream}/")), expected);
    let owner = registry.owner(stream).await.unwrap().unwrap();
    assert_eq!(owner.epoch, claim.epoch, "still the owner");

    let stats = fenced.stats();
    let writer = storage.stats();
    assert_eq!((stats.dropped, stats.fenced, writer.dropped), (0, 0, 0), "{stats:?} {writer:?}");
    assert_eq!(stats.written, 1 + 2 * produced);
    assert!(stats.spilled > 0 && stats.retries > 0, "{stats:?}");
    assert_eq!((stats.pending, stats.pending_memory_bytes, stats.pending_disk_bytes), (0, 0, 0));
    assert_eq!((writer.held, writer.held_bytes, writer.held_spooled_bytes), (0, 0, 0));
    // Memory stayed within its bound while up to a whole outage of segments waited on disk.
    assert!(peaks.writer_memory <= MEMORY_BYTES, "{peaks:?}");
    assert!(peaks.fenced_memory <= MEMORY_BYTES, "{peaks:?}");
    let outage_segments = after_outage - before_outage;
    assert!(outage_segments >= 100, "the stream kept producing through the outage: {outage_segments}");
    assert!(peaks.fenced_disk > 100 * SEGMENT_BYTES as u64 / 2, "{peaks:?}");
    println!(
        "outage {outage:?}: {outage_segments} segments produced meanwhile, {produced} in all; peaks {peaks:?}; \
         caught up {caught_up:?} after the publisher stopped; writer memory bound {MEMORY_BYTES}; stats {stats:?}; \
         test took {:?}",
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(spool);
}

#[tokio::test]
async fn a_takeover_fences_queued_writes_and_none_of_their_objects_is_stored() {
    let url = PgTestServer::shared().create_database();
    let pool = cluster::connect(&url).await.unwrap();
    let (a, b) = (pod(&pool, "ingest-a"), pod(&pool, "ingest-b"));
    let store = Arc::new(MemoryStore::default());
    let storage = live::spawn_storage_writer(store.clone(), 64);
    let fenced = FencedWriter::spawn(a.clone(), storage.clone());
    let claim = a.claim("cam", probe(false).as_ref()).await.unwrap();
    fenced.set_epoch("cam", claim.epoch);
    fenced.init_created("cam", 0, Bytes::from_static(b"init"));
    for msn in 0..3 {
        fenced.segment_opened("cam", msn);
        fenced.segment_completed("cam", record(msn), payload(msn, 1000));
    }
    fenced.segment_opened("cam", 3);
    assert!(fenced.flush(Duration::from_secs(10)).await);

    // A is partitioned away; B takes the stream over. A still produces.
    let taken = b.claim("cam", probe(false).as_ref()).await.unwrap();
    assert_eq!(taken.epoch, claim.epoch + 1);
    fenced.segment_completed("cam", record(3), payload(3, 1000));
    fenced.segment_opened("cam", 4);
    fenced.segment_completed("cam", record(4), payload(4, 1000));
    assert!(fenced.flush(Duration::from_secs(10)).await);
    assert!(storage.flush(Duration::from_secs(10)).await);

    assert_eq!(fenced.epoch("cam"), None, "A stopped renewing");
    let stats = fenced.stats();
    assert_eq!((stats.fenced, stats.dropped, stats.written), (3, 0, 8), "{stats:?}");
    assert_eq!(
        store.puts_under("live/cam/"),
        ["live/cam/init0.mp4", "live/cam/seg0.m4s", "live/cam/seg1.m4s", "live/cam/seg2.m4s"]
    );
    let indexed: Vec<(u64, i64, bool)> =
        a.all_segments("cam").await.unwrap().iter().map(|segment| (segment.msn, segment.epoch, segment.gap)).collect();
    assert_eq!(indexed, vec![(0, 1, false), (1, 1, false), (2, 1, false), (3, 2, true)]);
}

async fn retried_segment_writes_are_idempotent(pool: sqlx::AnyPool) {
    let registry = pod(&pool, "ingest-a");
    let epoch = registry.claim("retry", probe(false).as_ref()).await.unwrap().epoch;
    let key = live::segment_key("retry", 0);
    registry.segment_completed("retry", epoch, &record(0), &key).await.unwrap();
    // The first answer was lost (a timeout): the same write again succeeds.
    registry.segment_completed("retry", epoch, &record(0), &key).await.unwrap();
    // Another segment under the same number does not.
    let mut other = record(0);
    other.program_date_time_ms += 500;
    let refused = registry.segment_completed("retry", epoch, &other, &key).await;
    assert!(matches!(refused, Err(ClusterError::Database(_))), "{refused:?}");
    assert_eq!(registry.all_segments("retry").await.unwrap().len(), 1);
}

#[tokio::test]
async fn retried_segment_writes_are_idempotent_on_sqlite() {
    let (pool, path) = sqlite_pool("retry").await;
    retried_segment_writes_are_idempotent(pool.clone()).await;
    pool.close().await;
    remove_sqlite(&path);
}

#[tokio::test]
async fn retried_segment_writes_are_idempotent_on_postgres() {
    let url = PgTestServer::shared().create_database();
    retried_segment_writes_are_idempotent(cluster::connect(&url).await.unwrap()).await;
}

/// A row the database refuses for good (here: another segment already holds
/// the number) is dropped and counted, and the stream's later writes go on.
#[tokio::test]
async fn a_refused_row_is_dropped_and_counted_and_the_stream_goes_on() {
    let (pool, path) = sqlite_pool("refused").await;
    let registry = pod(&pool, "ingest-a");
    let store = Arc::new(MemoryStore::default());
    let storage = live::spawn_storage_writer(store.clone(), 64);
    let fenced = FencedWriter::spawn(registry.clone(), storage.clone());
    let epoch = registry.claim("cam", probe(false).as_ref()).await.unwrap().epoch;
    fenced.set_epoch("cam", epoch);
    let mut earlier = record(1);
    earlier.program_date_time_ms -= 60_000;
    registry.segment_completed("cam", epoch, &earlier, &live::segment_key("cam", 1)).await.unwrap();

    for msn in 0..3 {
        fenced.segment_completed("cam", record(msn), payload(msn, 1000));
    }
    assert!(fenced.flush(Duration::from_secs(10)).await);
    assert!(storage.flush(Duration::from_secs(10)).await);
    let stats = fenced.stats();
    assert_eq!((stats.written, stats.dropped, stats.retries), (2, 1, 0), "{stats:?}");
    assert_eq!(store.puts_under("live/cam/"), ["live/cam/seg0.m4s", "live/cam/seg2.m4s"]);
    let indexed = registry.all_segments("cam").await.unwrap();
    assert_eq!(indexed.iter().map(|segment| segment.msn).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(indexed[1].program_date_time_ms, earlier.program_date_time_ms, "the earlier row stays");
    pool.close().await;
    remove_sqlite(&path);
}
