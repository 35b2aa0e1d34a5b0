//! A rolling update: an ingest pod gets SIGTERM mid-stream. It stops taking
//! publishers, tells the connected one to go (the encoder reconnects through
//! the load balancer elsewhere), finishes its uploads and exits cleanly, so
//! every segment it produced is in the bucket.

#[allow(unused_imports)]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::RoleProcess;
use loadtest::http::get_str;
use storage::ObjectStore;
use testkit::postgres::PgTestServer;
use testkit::s3::S3TestServer;

const BUCKET: &str = "relay-drain";
const KEY: &str = "drain-test-key-0123456789";

// The guard only serialises the end-to-end tests; nothing else takes it.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_publishers_and_uploads_then_exits() {
    let _turn = common::exclusive();
    let database = PgTestServer::shared().create_database();
    let database_handle = catalog::Database::connect(&database).await.expect("database");
    let new = catalog::NewStream { name: "show".into(), device_id: None, stream_key: Some(KEY.into()), camera: None };
    database_handle.create_stream(&new).await.expect("stream");
    let s3 = S3TestServer::start_with_bucket(BUCKET).await;
    let mut shared =
        vec![("RELAY_DATABASE_URL", database.clone()), ("RELAY_SERVER_DRAIN_TIMEOUT_MS", "20000".to_string())];
    shared.extend(common::s3_variables(&s3, BUCKET));
    let (mut ingest, origin) = tokio::task::block_in_place(|| {
        (RoleProcess::start("ingest", "ingest-a", &shared), RoleProcess::start("origin", "origin-a", &shared))
    });
    let mut publisher = common::tools::spawn_publisher(&ingest.rtmp_url(KEY), 60);
    let base = origin.url("/live/show");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = get_str(&format!("{base}/media.m3u8"), Duration::from_secs(10)).await;
        if answer.as_ref().is_ok_and(|answer| answer.status == 200 && answer.text().matches("#EXTINF").count() >= 3) {
            break;
        }
        assert!(Instant::now() < deadline, "stream never appeared: {answer:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let terminated = Command::new("kill").args(["-TERM", &ingest.process.id().to_string()]).status();
    assert!(terminated.is_ok_and(|status| status.success()));
    let exit = tokio::task::block_in_place(|| ingest.process.wait_timeout(Duration::from_secs(25)));
    assert!(exit.is_some_and(|status| status.success()), "the ingest pod did not exit cleanly: {exit:?}");
    let publisher_exit = tokio::task::block_in_place(|| publisher.wait_timeout(Duration::from_secs(10)));
    assert!(publisher_exit.is_some(), "the publisher was told to go");
    assert!(std::net::TcpStream::connect(("127.0.0.1", ingest.rtmp_port)).is_err(), "no more publishers taken");

    // Everything the pod indexed is in the bucket, the last segment included.
    let pool = cluster::connect(&database).await.expect("registry");
    let registry = cluster::ClusterRegistry::new(pool, cluster::ClusterConfig::default());
    let segments = registry.all_segments("show").await.expect("index");
    assert!(segments.len() >= 3, "segments indexed: {}", segments.len());
    let bucket = storage::S3Store::connect(s3.config(BUCKET)).await.expect("S3 client");
    for segment in &segments {
        let stored = bucket.get(&segment.object_key).await.expect("S3 get");
        assert!(stored.is_some(), "{} was not uploaded before the pod exited", segment.object_key);
    }
    assert!(bucket.get("live/show/init0.mp4").await.unwrap().is_some());
}
