//! The registry's claim, fence and resume rules, on SQLite and on a real
//! PostgreSQL server.

use std::sync::Arc;

use cluster::{ClusterConfig, ClusterError, ClusterRegistry, PublisherProbe};
use live::SegmentRecord;
use testkit::postgres::PgTestServer;
use testkit::TempDir;

fn probe(answer: bool) -> Arc<PublisherProbe> {
    Arc::new(move |_address: String, _stream: String| Box::pin(async move { answer }))
}

fn pod(pool: &sqlx::AnyPool, name: &str) -> ClusterRegistry {
    let config = ClusterConfig { pod: name.into(), address: format!("{name}:8081"), ..ClusterConfig::default() };
    ClusterRegistry::new(pool.clone(), config)
}

fn record(msn: u64, discontinuity: bool, sequence: u64) -> SegmentRecord {
    SegmentRecord {
        msn,
        duration_secs: 2.0,
        program_date_time_ms: 1_800_000_000_000 + msn as i64 * 2000,
        discontinuity,
        init_version: 0,
        discontinuity_sequence: sequence,
        gap: false,
    }
}

/// An object store whose deletes all fail, as during an outage.
struct RefusingDeletes;

impl storage::ObjectStore for RefusingDeletes {
    fn put<'a>(&'a self, _key: &'a str, _data: bytes::Bytes) -> storage::StoreFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }

    fn get<'a>(&'a self, _key: &'a str) -> storage::StoreFuture<'a, Option<bytes::Bytes>> {
        Box::pin(async { Ok(None) })
    }

    fn delete<'a>(&'a self, _key: &'a str) -> storage::StoreFuture<'a, ()> {
        Box::pin(async { Err(storage::StorageError::Backend("DELETE refused: storage outage".into())) })
    }
}

/// The pool and the directory holding its database, its journal and WAL
/// files; dropping the directory removes all of them.
async fn sqlite_pool() -> (sqlx::AnyPool, TempDir) {
    let dir = TempDir::new("cluster-test");
    let path = dir.path().join("registry.db");
    let pool = cluster::connect(&format!("sqlite://{}?mode=rwc", path.display())).await.unwrap();
    (pool, dir)
}

async fn takeover_fences_the_old_owner_and_resumes(pool: sqlx::AnyPool) {
    let a = pod(&pool, "ingest-a");
    let b = pod(&pool, "ingest-b");
    let first = a.claim("cam", probe(true).as_ref()).await.unwrap();
    assert_eq!(first.epoch, 1);
    assert_eq!(first.resume.next_msn, 0);
    a.init_created("cam", 1, 0).await.unwrap();
    for msn in 0..3 {
        a.segment_opened("cam", 1, msn).await.unwrap();
        a.segment_completed("cam", 1, &record(msn, false, 0), &live::segment_key("cam", msn)).await.unwrap();
    }
    a.segment_opened("cam", 1, 3).await.unwrap();
    assert_eq!(a.owner("cam").await.unwrap().unwrap().address, "ingest-a:8081");

    // A renews its lease and says its publisher is still sending: refused.
    assert!(matches!(b.claim("cam", probe(true).as_ref()).await, Err(ClusterError::Busy(_))));
    // A is gone (its probe fails): B takes over under a new epoch.
    let taken = b.claim("cam", probe(false).as_ref()).await.unwrap();
    assert_eq!(taken.epoch, 2);
    let owner = b.owner("cam").await.unwrap().unwrap();
    assert_eq!((owner.pod.as_str(), owner.epoch), ("ingest-b", 2));
    // Segment 3 was open on A and is lost: listed as a gap, never reused.
    assert_eq!(taken.resume.next_msn, 4);
    assert_eq!(taken.resume.next_init_version, 1);
    let msns: Vec<(u64, bool)> = taken.resume.history.iter().map(|segment| (segment.msn, segment.gap)).collect();
    assert_eq!(msns, vec![(0, false), (1, false), (2, false), (3, true)]);

    // A, a zombie now, can neither renew nor write.
    assert!(matches!(a.heartbeat("cam", 1).await, Err(ClusterError::Fenced(_))));
    let late = a.segment_completed("cam", 1, &record(3, false, 0), "live/cam/seg3.m4s").await;
    assert!(matches!(late, Err(ClusterError::Fenced(_))));
    b.heartbeat("cam", 2).await.unwrap();
    let stored = b.all_segments("cam").await.unwrap();
    assert_eq!(stored.len(), 4);
    assert!(stored[3].gap && stored[3].epoch == 2 && stored[3].object_key.is_empty());

    // B writes on; its first segment continues after a discontinuity.
    b.segment_completed("cam", 2, &record(4, true, 1), &live::segment_key("cam", 4)).await.unwrap();
    let range = b.segments_between("cam", 1_800_000_000_000 + 3000, 1_800_000_000_000 + 8500, 100).await.unwrap();
    assert_eq!(range.iter().map(|segment| segment.msn).collect::<Vec<_>>(), vec![1, 2, 3, 4]);

    // The same pod claiming again keeps its epoch (no fencing of itself).
    let again = b.claim("cam", probe(true).as_ref()).await.unwrap();
    assert_eq!(again.epoch, 2);
    assert_eq!(again.resume.next_msn, 5);
    assert_eq!(again.resume.discontinuity_sequence, 0);

    // An ended stream resumes its numbering without the old history.
    b.end("cam", 2).await.unwrap();
    let later = a.claim("cam", probe(false).as_ref()).await.unwrap();
    assert_eq!((later.epoch, later.resume.next_msn), (3, 5));
    assert!(later.resume.history.is_empty());
}

#[tokio::test]
async fn takeover_on_sqlite() {
    let (pool, _dir) = sqlite_pool().await;
    takeover_fences_the_old_owner_and_resumes(pool.clone()).await;
    pool.close().await;
}

#[tokio::test]
async fn takeover_on_postgres() {
    let url = PgTestServer::shared().create_database();
    let pool = cluster::connect(&url).await.unwrap();
    takeover_fences_the_old_owner_and_resumes(pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_give_one_owner_per_epoch() {
    let url = PgTestServer::shared().create_database();
    let pool = cluster::connect(&url).await.unwrap();
    let tasks: Vec<_> = (0..6)
        .map(|index| {
            let pod = pod(&pool, &format!("pod-{index}"));
            tokio::spawn(async move { pod.claim("race", probe(false).as_ref()).await })
        })
        .collect();
    let mut epochs = Vec::new();
    for task in tasks {
        if let Ok(claim) = task.await.unwrap() {
            epochs.push(claim.epoch);
        }
    }
    assert!(!epochs.is_empty());
    let claimed = epochs.len();
    epochs.sort_unstable();
    epochs.dedup();
    assert_eq!(epochs.len(), claimed, "two pods got the same epoch: {epochs:?}");
    let owner = pod(&pool, "reader").owner("race").await.unwrap().unwrap();
    assert_eq!(owner.epoch, *epochs.last().unwrap(), "the newest epoch owns the stream");
}

async fn leases_and_retention(pool: sqlx::AnyPool) {
    // The pods' wall clock moves only when the test says so.
    let clock = clock::Clock::manual(1_780_000_000_000);
    let on_clock = |name: &str| {
        let config = ClusterConfig {
            pod: name.into(),
            address: format!("{name}:8081"),
            clock: clock.clone(),
            ..ClusterConfig::default()
        };
        ClusterRegistry::new(pool.clone(), config)
    };
    let a = on_clock("pod-a");
    let b = on_clock("pod-b");
    let ttl = std::time::Duration::from_millis(300);
    assert!(a.acquire_lease("sweeper", ttl).await.unwrap());
    assert!(!b.acquire_lease("sweeper", ttl).await.unwrap(), "held by a");
    assert!(a.acquire_lease("sweeper", ttl).await.unwrap(), "a renews");
    assert_eq!(b.lease_holder("sweeper").await.unwrap().as_deref(), Some("pod-a"));
    clock.advance(std::time::Duration::from_millis(299));
    assert!(!b.acquire_lease("sweeper", ttl).await.unwrap(), "not before the lease runs out");
    clock.advance(std::time::Duration::from_millis(2));
    assert!(b.acquire_lease("sweeper", ttl).await.unwrap(), "a stopped renewing");
    b.release_lease("sweeper").await.unwrap();
    assert_eq!(a.lease_holder("sweeper").await.unwrap(), None);

    // Two streams, segments two hours old and new; one stream keeps 3 h.
    let store = storage::MemoryStore::default();
    let now = clock.unix_ms();
    for stream in ["old", "long"] {
        let claim = a.claim(stream, probe(false).as_ref()).await.unwrap();
        for msn in 0..4u64 {
            let age_ms = if msn < 2 { 2 * 3600 * 1000 + 60_000 } else { 10_000 };
            let mut segment = record(msn, false, 0);
            segment.program_date_time_ms = now - age_ms;
            let key = live::segment_key(stream, msn);
            a.segment_completed(stream, claim.epoch, &segment, &key).await.unwrap();
            storage::ObjectStore::put(&store, &key, bytes::Bytes::from_static(b"media")).await.unwrap();
        }
    }
    a.set_dvr_window("long", std::time::Duration::from_secs(3 * 3600)).await.unwrap();
    a.set_dvr_window("huge", std::time::Duration::from_secs(90 * 3600)).await.unwrap();
    let default = std::time::Duration::from_secs(7200);
    assert_eq!(a.dvr_window("huge", default).await.unwrap(), cluster::MAX_DVR_WINDOW);
    let removed = a.sweep(&store, &cluster::RetentionConfig::default()).await.unwrap();
    assert_eq!(removed, 2);
    let left: Vec<u64> = a.all_segments("old").await.unwrap().iter().map(|segment| segment.msn).collect();
    assert_eq!(left, vec![2, 3]);
    assert_eq!(a.all_segments("long").await.unwrap().len(), 4);
    assert!(storage::ObjectStore::get(&store, "live/old/seg0.m4s").await.unwrap().is_none());
    assert!(storage::ObjectStore::get(&store, "live/old/seg2.m4s").await.unwrap().is_some());
    assert!(storage::ObjectStore::get(&store, "live/long/seg0.m4s").await.unwrap().is_some());
}

#[tokio::test]
async fn leases_and_retention_on_sqlite() {
    let (pool, _dir) = sqlite_pool().await;
    leases_and_retention(pool.clone()).await;
    pool.close().await;
}

#[tokio::test]
async fn leases_and_retention_on_postgres() {
    let url = PgTestServer::shared().create_database();
    leases_and_retention(cluster::connect(&url).await.unwrap()).await;
}

/// A disconnect fences the owner and lets its publisher come back; a
/// retired name leaves the index, hands back its object keys, fences late
/// writes, and a stream given the name later continues the numbering.
async fn disconnect_and_retire(pool: sqlx::AnyPool) {
    let a = pod(&pool, "ingest-a");
    assert_eq!(a.claim("show", probe(true).as_ref()).await.unwrap().epoch, 1);
    a.init_created("show", 1, 0).await.unwrap();
    for msn in 0..3 {
        a.segment_opened("show", 1, msn).await.unwrap();
        a.segment_completed("show", 1, &record(msn, false, 0), &live::segment_key("show", msn)).await.unwrap();
    }

    a.fence_owner("show").await.unwrap();
    assert!(matches!(a.heartbeat("show", 1).await, Err(ClusterError::Fenced(_))), "the owner learns at its heartbeat");
    let back = a.claim("show", probe(true).as_ref()).await.unwrap();
    assert_eq!((back.epoch, back.resume.next_msn, back.resume.history.len()), (2, 3, 3), "the publisher may return");

    let mut expected: Vec<String> = (0..3).map(|msn| live::segment_key("show", msn)).collect();
    expected.push(live::init_key("show", 0));
    let store = storage::MemoryStore::default();
    for key in &expected {
        storage::ObjectStore::put(&store, key, bytes::Bytes::from_static(b"media")).await.unwrap();
    }
    assert_eq!(a.retire_stream("show").await.unwrap(), 4, "every object is written down to purge");
    assert!(a.all_segments("show").await.unwrap().is_empty(), "the recording left the index");
    // A store that refuses deletes (an outage): the purge stays pending, nothing is lost.
    let refusing = RefusingDeletes;
    let failed = a.purge_pending(&refusing, Some("show")).await.unwrap();
    assert_eq!(failed, cluster::Purged { deleted: 0, failed: 4 });
    // Another pod (the sweeper, after a restart) finishes it.
    let sweeper = pod(&pool, "ingest-b");
    assert_eq!(sweeper.purge_pending(&store, None).await.unwrap(), cluster::Purged { deleted: 4, failed: 0 });
    for key in &expected {
        assert!(storage::ObjectStore::get(&store, key).await.unwrap().is_none(), "{key} purged");
    }
    assert_eq!(sweeper.purge_pending(&store, None).await.unwrap(), cluster::Purged::default(), "nothing left");
    assert!(matches!(a.heartbeat("show", 2).await, Err(ClusterError::Fenced(_))));
    let late = a.segment_completed("show", 2, &record(3, false, 0), &live::segment_key("show", 3)).await;
    assert!(matches!(late, Err(ClusterError::Fenced(_))), "the old owner's late writes are refused");
    assert!(a.all_segments("show").await.unwrap().is_empty());

    let fresh = a.claim("show", probe(true).as_ref()).await.unwrap();
    assert_eq!(fresh.resume.next_msn, 3, "numbers are never reused");
    assert!(fresh.resume.history.is_empty(), "nothing of the retired stream is listed");
}

#[tokio::test]
async fn disconnect_and_retire_on_sqlite() {
    let (pool, _dir) = sqlite_pool().await;
    disconnect_and_retire(pool.clone()).await;
    pool.close().await;
}

#[tokio::test]
async fn disconnect_and_retire_on_postgres() {
    let url = PgTestServer::shared().create_database();
    let pool = cluster::connect(&url).await.unwrap();
    disconnect_and_retire(pool).await;
}
