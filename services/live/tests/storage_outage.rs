//! The storage writer through outages: objects wait in memory, spill to the
//! disk spool, are retried until storage is back, and arrive in order per
//! stream. Unit level with a store that fails on command; integration level
//! with s3s-fs killed and restarted (fails without s3s-fs: run `make deps`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use live::{spawn_storage_writer, StorageWriter, WriterConfig};
use storage::{MemoryStore, ObjectStore, S3Store, StorageError, StoreFuture};
use testkit::s3::S3TestServer;
use testkit::TempDir;

/// A `MemoryStore` whose puts fail while `down` is set.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryStore,
    down: AtomicBool,
}

impl FlakyStore {
    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

impl ObjectStore for FlakyStore {
    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> StoreFuture<'a, ()> {
        if self.down.load(Ordering::SeqCst) {
            return Box::pin(async { Err(StorageError::Backend("injected outage".into())) });
        }
        self.inner.put(key, data)
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Bytes>> {
        self.inner.get(key)
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.inner.delete(key)
    }
}

fn object(stream: &str, msn: u64) -> (String, Bytes) {
    (live::segment_key(stream, msn), Bytes::from(format!("{stream}:{msn:04}:").repeat(100)))
}

fn fast_config(spool_dir: Option<PathBuf>) -> WriterConfig {
    WriterConfig {
        memory_objects: 8,
        spool_dir,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        ..WriterConfig::default()
    }
}

async fn wait_for(writer: &StorageWriter, what: &str, condition: impl Fn(&live::StorageWriterStats) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition(&writer.stats()) {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {:?}", writer.stats());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_spills_to_disk_and_loses_nothing() {
    let scratch = TempDir::new("relay-spool");
    let spool_dir = scratch.path().to_path_buf();
    let store = Arc::new(FlakyStore::default());
    let writer = StorageWriter::spawn(store.clone(), fast_config(Some(spool_dir.clone()))).unwrap();
    let streams = ["a", "b", "c"];

    writer.enqueue(object("a", 0).0, object("a", 0).1);
    writer.flush(Duration::from_secs(5)).await;
    store.set_down(true);
    // Segments arrive spread out in time: each one once the writer has
    // moved enough of the earlier ones to disk that memory is at most half
    // full. Paced by the writer rather than the clock, a busy machine cannot
    // turn the stream into one burst that overflows memory.
    for msn in 1..=20 {
        for stream in streams {
            let (key, data) = object(stream, msn);
            writer.enqueue(key, data);
            wait_for(&writer, "memory to be at most half full", |stats| stats.queued <= 4).await;
        }
    }
    wait_for(&writer, "the outage to be noticed and objects spooled", |stats| {
        !stats.storage_available && stats.spooled + stats.queued == 60 && stats.failed_attempts >= 3
    })
    .await;
    let during = writer.stats();
    assert!(during.spooled >= 50, "most objects wait on disk, not in memory: {during:?}");
    assert!(during.queued <= 8);
    assert_eq!(during.dropped, 0);
    // The writer may be moving one more object from memory to disk right
    // now (the file lands before the counter moves): compare once settled.
    let mut settled = false;
    for _ in 0..100 {
        let files = std::fs::read_dir(&spool_dir).unwrap().count() as u64;
        if files == writer.stats().spooled {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(settled, "spool files match the spooled count: {:?}", writer.stats());
    let during = writer.stats();

    store.set_down(false);
    assert!(writer.flush(Duration::from_secs(10)).await, "backlog drained: {:?}", writer.stats());
    let after = writer.stats();
    assert!(after.storage_available);
    assert_eq!((after.uploaded, after.dropped, after.queued, after.spooled, after.spooled_bytes), (61, 0, 0, 0, 0));
    // Objects still in memory at the snapshot may have been spooled since.
    assert!((during.spooled..=60).contains(&after.spooled_total), "{during:?} then {after:?}");
    assert_eq!(std::fs::read_dir(&spool_dir).unwrap().count(), 0, "uploaded spool files are removed");
    for stream in streams {
        let expected: Vec<String> =
            (if stream == "a" { 0 } else { 1 }..=20).map(|msn| live::segment_key(stream, msn)).collect();
        assert_eq!(store.inner.puts_under(&format!("live/{stream}/")), expected, "stream {stream} arrives in order");
        for msn in 1..=20 {
            let (key, data) = object(stream, msn);
            assert_eq!(store.get(&key).await.unwrap(), Some(data));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_dropped_only_when_memory_and_spool_are_full() {
    let scratch = TempDir::new("relay-spool-full");
    let spool_dir = scratch.path().to_path_buf();
    let store = Arc::new(FlakyStore::default());
    let one_object = object("a", 0).1.len() as u64 + 64;
    let config = WriterConfig { spool_max_bytes: 5 * one_object, ..fast_config(Some(spool_dir.clone())) };
    let writer = StorageWriter::spawn(store.clone(), config).unwrap();
    store.set_down(true);
    for msn in 0..40 {
        let (key, data) = object("a", msn);
        writer.enqueue(key, data);
        // Let the writer spool before memory fills up.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    wait_for(&writer, "memory and spool to fill", |stats| stats.spooled == 5 && stats.queued == 8).await;
    let full = writer.stats();
    assert_eq!(full.dropped, 40 - 5 - 8, "{full:?}");
    assert!(full.spooled_bytes <= 5 * one_object);

    store.set_down(false);
    assert!(writer.flush(Duration::from_secs(10)).await);
    let after = writer.stats();
    assert_eq!(after.uploaded + after.dropped, 40, "{after:?}");
    assert_eq!(after.uploaded, 13);
}

#[test]
fn a_restarted_process_resumes_uploads_from_the_spool() {
    let scratch = TempDir::new("relay-spool-restart");
    let spool_dir = scratch.path().to_path_buf();
    let store = Arc::new(FlakyStore::default());
    store.set_down(true);
    {
        // The first "process": storage is down the whole time, then it stops.
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let writer = StorageWriter::spawn(store.clone(), fast_config(Some(spool_dir.clone()))).unwrap();
            let (key, data) = object("a", 0);
            writer.enqueue(key, data);
            wait_for(&writer, "the outage to be noticed", |stats| !stats.storage_available).await;
            for msn in 1..6 {
                let (key, data) = object("a", msn);
                writer.enqueue(key, data);
            }
            wait_for(&writer, "objects on disk", |stats| stats.spooled == 5).await;
            assert_eq!(writer.stats().queued, 1, "the first object waits in memory and is lost with the process");
        });
    }
    let spooled = std::fs::read_dir(&spool_dir).unwrap().count() as u64;
    assert_eq!(spooled, 5);

    store.set_down(false);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let writer = StorageWriter::spawn(store.clone(), fast_config(Some(spool_dir.clone()))).unwrap();
        wait_for(&writer, "spooled objects uploaded", |stats| stats.uploaded == spooled).await;
        let stats = writer.stats();
        assert_eq!((stats.recovered, stats.spooled), (spooled, 0));
    });
    let arrived = store.inner.puts_under("live/a/");
    let expected: Vec<String> = (1..6).map(|msn| live::segment_key("a", msn)).collect();
    assert_eq!(arrived, expected, "the spool keeps the order");
}

#[tokio::test]
async fn the_memory_only_writer_retries_until_storage_is_back() {
    let store = Arc::new(FlakyStore::default());
    let writer = spawn_storage_writer(store.clone(), 4);
    store.set_down(true);
    for msn in 0..6 {
        let (key, data) = object("m", msn);
        writer.enqueue(key, data);
    }
    assert_eq!(writer.dropped(), 2, "only `capacity` objects fit in memory");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(writer.stats().failed_attempts >= 3, "{:?}", writer.stats());
    store.set_down(false);
    assert!(writer.flush(Duration::from_secs(10)).await);
    let keys: Vec<String> = (0..4).map(|msn| live::segment_key("m", msn)).collect();
    assert_eq!(store.inner.puts_under("live/m/"), keys);
}

/// The same through a real S3 server killed for five seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_outage_loses_nothing() {
    let mut server = S3TestServer::start_with_bucket("relay-outage").await;
    let store = Arc::new(S3Store::connect(server.config("relay-outage")).await.unwrap());
    let scratch = TempDir::new("relay-spool-s3");
    let spool_dir = scratch.path().to_path_buf();
    let config = WriterConfig {
        memory_objects: 16,
        spool_dir: Some(spool_dir.clone()),
        max_backoff: Duration::from_secs(1),
        ..WriterConfig::default()
    };
    let writer = StorageWriter::spawn(store.clone(), config).unwrap();
    let streams = ["cam1", "cam2"];
    let mut sent = Vec::new();
    let mut enqueue = |msn: u64| {
        for stream in streams {
            let (key, data) = object(stream, msn);
            sent.push((key.clone(), data.clone()));
            writer.enqueue(key, data);
        }
    };

    for msn in 0..5 {
        enqueue(msn);
    }
    assert!(writer.flush(Duration::from_secs(10)).await, "{:?}", writer.stats());

    server.stop().await;
    // Five seconds of segments from two streams while storage is gone.
    for msn in 5..55 {
        enqueue(msn);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let during = writer.stats();
    assert!(!during.storage_available, "{during:?}");
    assert!(during.failed_attempts > 0 && during.spooled > 0, "{during:?}");
    assert_eq!(during.uploaded, 10);

    server.restart().await;
    assert!(writer.flush(Duration::from_secs(30)).await, "backlog drained: {:?}", writer.stats());
    let after = writer.stats();
    assert_eq!((after.uploaded, after.dropped), (110, 0), "{after:?}");
    assert!(after.storage_available);
    for (key, data) in &sent {
        assert_eq!(store.get(key).await.unwrap().as_ref(), Some(data), "{key}");
    }
}
