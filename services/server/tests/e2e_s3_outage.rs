//! Object storage down for a minute mid-stream: the live edge does not
//! notice, complete segments wait (memory, then the disk spool) and upload
//! when storage is back, and a metric says what happened meanwhile.

#[allow(unused_imports)]
mod common;

use std::time::{Duration, Instant};

use common::{http, Server};
use loadtest::http::get_str;
use loadtest::playlist::parse_media;
use storage::ObjectStore;
use testkit::s3::S3TestServer;

const BUCKET: &str = "relay-outage";
const OUTAGE: Duration = Duration::from_secs(60);

fn metric(server: &Server, name: &str) -> f64 {
    let text = http::get(&server.admin_url("/metrics"), Duration::from_secs(5)).expect("metrics").text();
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

// The guard only serialises the end-to-end tests; nothing else takes it.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_without_storage_loses_no_segment_and_never_stalls_the_live_edge() {
    let _turn = common::exclusive();
    let mut s3 = S3TestServer::start_with_bucket(BUCKET).await;
    let variables = common::s3_variables(&s3, BUCKET);
    let server = tokio::task::block_in_place(|| Server::start_with_env(&variables));
    let _publisher = common::tools::spawn_publisher(&server.publish_url(), 120);
    let media = server.playlist_url.replace("index.m3u8", "media.m3u8");
    tokio::task::block_in_place(|| common::hls::wait_for_segments(&server.playlist_url, 2, Duration::from_secs(45)));
    assert_eq!(metric(&server, "relay_storage_available"), 1.0);

    s3.stop().await;
    let stopped_at = Instant::now();
    // Follow the live edge through the outage with blocking reloads.
    let mut next: Option<(u64, u32)> = None;
    let mut parts_seen = 0usize;
    let mut slowest = Duration::ZERO;
    while stopped_at.elapsed() < OUTAGE {
        let url = match next {
            Some((msn, part)) => format!("{media}?_HLS_msn={msn}&_HLS_part={part}"),
            None => media.clone(),
        };
        let asked = Instant::now();
        let response = get_str(&url, Duration::from_secs(10)).await.expect("live playlist during the outage");
        assert_eq!(response.status, 200, "{url} during the outage");
        slowest = slowest.max(asked.elapsed());
        let playlist = parse_media(&response.text());
        if next.is_some() {
            parts_seen += 1;
        }
        next = Some(playlist.next_part_request());
    }
    let outage_metric = metric(&server, "relay_storage_available");
    let spooled = metric(&server, "relay_storage_spooled_objects") + metric(&server, "relay_storage_queued_objects");
    s3.restart().await;
    eprintln!("outage: {parts_seen} parts released, slowest blocking reload {slowest:?}, {spooled} objects waiting");
    assert_eq!(outage_metric, 0.0, "the metric shows storage down");
    assert!(spooled >= 20.0, "complete segments waited for storage: {spooled}");
    // About five parts a second; the live edge kept going.
    assert!(parts_seen >= 250, "only {parts_seen} parts in {OUTAGE:?} of outage");
    assert!(slowest < Duration::from_secs(2), "a blocking reload took {slowest:?}");

    // Everything waiting reaches the bucket once it is back.
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(&server, "relay_storage_spooled_objects") + metric(&server, "relay_storage_queued_objects") > 0.0 {
        assert!(Instant::now() < deadline, "the backlog never drained");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(metric(&server, "relay_storage_available"), 1.0);
    assert_eq!(metric(&server, "relay_storage_dropped_total"), 0.0);
    let index = cluster::connect(&format!("sqlite://{}?mode=rw", server.data_dir().join("relay.db").display()))
        .await
        .expect("index");
    let registry = cluster::ClusterRegistry::new(index, cluster::ClusterConfig::default());
    let segments = registry.all_segments("main").await.expect("index rows");
    assert!(segments.len() >= 30, "segments indexed: {}", segments.len());
    let bucket = storage::S3Store::connect(s3.config(BUCKET)).await.expect("S3 client");
    let mut missing = Vec::new();
    for segment in segments.iter().filter(|segment| !segment.gap) {
        if bucket.get(&segment.object_key).await.expect("S3 get").is_none() {
            missing.push(segment.msn);
        }
    }
    // The newest segment may still be on its way.
    assert!(
        missing.len() <= 1 && missing.iter().all(|msn| *msn == segments.last().unwrap().msn),
        "missing: {missing:?}"
    );
    assert!(bucket.get("live/main/init0.mp4").await.unwrap().is_some());
}
