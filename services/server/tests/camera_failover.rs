//! A camera is pulled by exactly one ingest pod, chosen by a lease in the
//! database. Two ingest processes and one GStreamer RTSP camera: killing the
//! pod that pulls it moves the pull to the other within the lease time, and
//! viewers on an origin pod keep the same playlist.

#[allow(unused_imports)]
mod common;

use std::time::{Duration, Instant};

use common::cluster::{start_rtsp_camera, RoleProcess};
use loadtest::http::get_str;
use loadtest::playlist::parse_media;
use testkit::free_port;
use testkit::postgres::PgTestServer;
use testkit::s3::S3TestServer;

const BUCKET: &str = "relay-cameras";
const LEASE_MS: u64 = 3000;

async fn register_camera(database_url: &str, url: String) {
    let database = catalog::Database::connect(database_url).await.expect("database");
    let camera = catalog::CameraSource::new(url);
    let new = catalog::NewStream { name: "cam".into(), device_id: None, stream_key: None, camera: Some(camera) };
    database.create_stream(&new).await.expect("create the camera stream");
}

/// The newest part's (msn, index) the origin lists, if it answers 200.
async fn newest_part(base: &str) -> Result<Option<(u64, u32)>, u16> {
    match get_str(&format!("{base}/media.m3u8"), Duration::from_secs(10)).await {
        Ok(response) if response.status >= 500 => Err(response.status),
        Ok(response) if response.status == 200 => {
            Ok(parse_media(&response.text()).last_part().map(|part| (part.msn, part.index)))
        }
        _ => Ok(None),
    }
}

// The guard only serialises the end-to-end tests; nothing else takes it.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_pulling_pod_moves_the_camera_within_the_lease() {
    let _turn = common::exclusive();
    let database = PgTestServer::shared().create_database();
    let camera_port = free_port();
    let _camera = tokio::task::block_in_place(|| start_rtsp_camera(camera_port));
    register_camera(&database, format!("rtsp://127.0.0.1:{camera_port}/cam")).await;
    let s3 = S3TestServer::start_with_bucket(BUCKET).await;
    let mut shared = vec![("RELAY_DATABASE_URL", database.clone()), ("RELAY_CAMERAS_LEASE_MS", LEASE_MS.to_string())];
    shared.extend(common::s3_variables(&s3, BUCKET));
    let (ingest_a, ingest_b, origin) = tokio::task::block_in_place(|| {
        (
            RoleProcess::start("ingest", "ingest-a", &shared),
            RoleProcess::start("ingest", "ingest-b", &shared),
            RoleProcess::start("origin", "origin", &shared),
        )
    });
    let base = origin.url("/live/cam");
    let deadline = Instant::now() + Duration::from_secs(40);
    while !matches!(newest_part(&base).await, Ok(Some(_))) {
        assert!(Instant::now() < deadline, "the camera never played through the origin");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let pool = cluster::connect(&database).await.expect("registry");
    let registry = cluster::ClusterRegistry::new(pool, cluster::ClusterConfig::default());
    let holder = registry.lease_holder("camera:cam").await.unwrap().expect("someone holds the camera");
    assert_eq!(registry.owner("cam").await.unwrap().unwrap().pod, holder, "the lease holder owns the stream");
    let (mut doomed, survivor) = if holder == ingest_a.name { (ingest_a, ingest_b) } else { (ingest_b, ingest_a) };
    let before = newest_part(&base).await.unwrap().expect("parts before the kill");

    doomed.process.kill();
    let killed_at = Instant::now();
    let mut errors = Vec::new();
    let resumed = loop {
        match newest_part(&base).await {
            Ok(Some(part)) if part.0 > before.0 + 1 => break killed_at.elapsed(),
            Ok(_) => {}
            Err(status) => errors.push(status),
        }
        assert!(killed_at.elapsed() < Duration::from_secs(40), "the camera never came back after the kill");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("camera failover: playback resumed {resumed:?} after the holder was killed (lease {LEASE_MS} ms)");
    assert!(errors.is_empty(), "viewers saw server errors: {errors:?}");
    assert!(resumed < Duration::from_millis(LEASE_MS) + Duration::from_secs(10), "failover took {resumed:?}");
    assert_eq!(registry.lease_holder("camera:cam").await.unwrap().as_deref(), Some(survivor.name.as_str()));
    let owner = registry.owner("cam").await.unwrap().unwrap();
    assert_eq!(owner.pod, survivor.name);
    assert!(owner.epoch >= 2, "the takeover bumped the epoch");

    // The pod that pulls the camera reports it (the api role passes this on).
    let status = survivor.internal_get("/internal/v1/streams/cam/status").await;
    assert_eq!(status.status, 200);
    let status: serde_json::Value = serde_json::from_slice(&status.body).unwrap();
    assert_eq!(status["state"], "live", "{status}");
    assert_eq!(status["camera"]["state"], "online", "{status}");
    assert!(status["camera"]["url"].as_str().is_some_and(|url| url.ends_with("/cam")), "{status}");
    assert!(status["codecs"].to_string().contains("avc1."), "{status}");
}
