//! `relay all` configured for S3: segments and init segments published live
//! land in a real S3-protocol server (s3s-fs, which checks signatures), byte
//! for byte what the origin serves.

#[allow(unused_imports)]
mod common;

use std::time::Duration;

use common::{hls, http, Server};
use storage::ObjectStore;
use testkit::s3::S3TestServer;

const BUCKET: &str = "relay-e2e";

// The guard only serialises the end-to-end tests; nothing else takes it.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_segments_are_uploaded_to_s3() {
    let _turn = common::exclusive();
    let s3 = S3TestServer::start_with_bucket(BUCKET).await;
    let client_config = s3.config(BUCKET);
    let variables = [
        ("RELAY_STORAGE_KIND", "s3".to_string()),
        ("RELAY_S3_BUCKET", BUCKET.to_string()),
        ("RELAY_S3_PREFIX", "e2e".to_string()),
        ("RELAY_S3_ENDPOINT", s3.endpoint()),
        ("RELAY_S3_REGION", client_config.region.clone().unwrap_or_default()),
        ("RELAY_S3_FORCE_PATH_STYLE", "true".to_string()),
        ("RELAY_S3_ACCESS_KEY_ID", client_config.access_key_id.clone().unwrap_or_default()),
        ("RELAY_S3_SECRET_ACCESS_KEY", client_config.secret_access_key.clone().unwrap_or_default()),
    ];
    let server = tokio::task::block_in_place(|| Server::start_with_env(&variables));
    let _publisher = common::tools::spawn_publisher(&server.publish_url(), 30);
    let playlist =
        tokio::task::block_in_place(|| hls::wait_for_segments(&server.playlist_url, 3, Duration::from_secs(45)));

    let mut reader_config = s3.config(BUCKET);
    reader_config.prefix = Some("e2e".into());
    let bucket = storage::S3Store::connect(reader_config).await.expect("S3 client");
    let mut checked = 0;
    let init_url = playlist.init_url().expect("EXT-X-MAP");
    let mut urls = playlist.segment_urls();
    urls.insert(0, init_url);
    for url in urls {
        let name = url.rsplit('/').next().unwrap_or_default().to_string();
        let served = tokio::task::block_in_place(|| http::get(&url, Duration::from_secs(10))).expect("origin answers");
        assert_eq!(served.status, 200, "{url}");
        // Uploads run in the background; give each a few seconds to arrive.
        let mut stored = None;
        for _ in 0..50 {
            stored = bucket.get(&format!("live/main/{name}")).await.expect("S3 get");
            if stored.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let stored = stored.unwrap_or_else(|| panic!("{name} never reached the bucket"));
        assert_eq!(stored.as_ref(), served.body.as_slice(), "{name} differs between origin and bucket");
        checked += 1;
    }
    assert!(checked >= 4, "init and at least three segments checked, got {checked}");
    assert!(!s3.root().join(BUCKET).join("live").exists(), "objects sit under the configured prefix");
}
