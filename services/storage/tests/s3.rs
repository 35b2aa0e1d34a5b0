//! `S3Store` against s3s-fs, a real S3-protocol server that checks request
//! signatures. These tests fail when s3s-fs is missing: run `make deps`.

use bytes::Bytes;
use storage::{ObjectStore, S3Store, MIN_PART_SIZE};
use testkit::s3::{S3TestServer, ACCESS_KEY};

const BUCKET: &str = "relay-media";

async fn store_on(server: &S3TestServer) -> S3Store {
    S3Store::connect(server.config(BUCKET)).await.expect("connect")
}

#[tokio::test]
async fn objects_round_trip_under_the_prefix_path_style() {
    let server = S3TestServer::start_with_bucket(BUCKET).await;
    let mut config = server.config(BUCKET);
    config.prefix = Some("tenant-a".into());
    assert!(config.force_path_style);
    let store = S3Store::connect(config).await.unwrap();

    let segment = Bytes::from((0..200_000u32).map(|index| index as u8).collect::<Vec<_>>());
    store.put("live/main/seg7.m4s", segment.clone()).await.unwrap();
    store.put("live/main/init0.mp4", Bytes::from_static(b"init")).await.unwrap();
    assert_eq!(store.get("live/main/seg7.m4s").await.unwrap(), Some(segment.clone()));
    assert_eq!(store.get("live/main/init0.mp4").await.unwrap(), Some(Bytes::from_static(b"init")));

    // s3s-fs keeps a bucket as a directory: the object sits at {prefix}/{key}.
    let on_disk = server.root().join(BUCKET).join("tenant-a/live/main/seg7.m4s");
    assert_eq!(std::fs::read(on_disk).unwrap(), segment);
    let head = store.client().head_object().bucket(BUCKET).key("tenant-a/live/main/seg7.m4s").send().await.unwrap();
    assert_eq!(head.content_type(), Some("video/iso.segment"));

    store.delete("live/main/seg7.m4s").await.unwrap();
    assert_eq!(store.get("live/main/seg7.m4s").await.unwrap(), None);
    // Deleting what is not there is not an error, as with the other stores.
    store.delete("live/main/seg7.m4s").await.unwrap();
    assert!(store.put("../escape", Bytes::new()).await.is_err());
}

#[tokio::test]
async fn a_missing_key_is_none() {
    let server = S3TestServer::start_with_bucket(BUCKET).await;
    let store = store_on(&server).await;
    assert_eq!(store.get("live/nothing/seg1.m4s").await.unwrap(), None);
}

#[tokio::test]
async fn a_wrong_secret_is_rejected() {
    let server = S3TestServer::start_with_bucket(BUCKET).await;
    let mut config = server.config(BUCKET);
    config.secret_access_key = Some("not-the-secret".into());
    let store = S3Store::connect(config).await.unwrap();

    let error = store.put("live/main/seg1.m4s", Bytes::from_static(b"x")).await.unwrap_err();
    assert!(!error.is_permanent(), "credentials can be fixed without a restart: retry");
    let message = error.to_string();
    assert!(message.contains("SignatureDoesNotMatch") || message.contains("403"), "{message}");
    assert!(store.get("live/main/seg1.m4s").await.is_err(), "a bad signature must not read as a missing key");
    assert!(!server.root().join(BUCKET).join("live/main/seg1.m4s").exists());

    let mut config = server.config(BUCKET);
    config.access_key_id = Some(format!("{ACCESS_KEY}-unknown"));
    let store = S3Store::connect(config).await.unwrap();
    assert!(store.put("live/main/seg1.m4s", Bytes::from_static(b"x")).await.is_err());
}

#[tokio::test]
async fn large_objects_go_up_in_parts() {
    let server = S3TestServer::start_with_bucket(BUCKET).await;
    let mut config = server.config(BUCKET);
    config.multipart_threshold = 1024 * 1024;
    config.multipart_part_size = MIN_PART_SIZE;
    let store = S3Store::connect(config).await.unwrap();

    // Two full parts and a short last one.
    let size = 2 * MIN_PART_SIZE + 123_457;
    let recording = Bytes::from((0..size).map(|index| (index % 251) as u8).collect::<Vec<_>>());
    store.put("rec/main/take1.mp4", recording.clone()).await.unwrap();
    assert_eq!(store.get("rec/main/take1.mp4").await.unwrap(), Some(recording));

    // A multipart ETag ends in the part count; a single PUT's is a plain MD5.
    let head = store.client().head_object().bucket(BUCKET).key("rec/main/take1.mp4").send().await.unwrap();
    let etag = head.e_tag().unwrap_or_default().trim_matches('"').to_owned();
    assert!(etag.ends_with("-3"), "expected a 3-part upload, ETag {etag}");
    // s3s-fs keeps parts of unfinished uploads as `.upload_id-*` files in its root.
    let leftovers = std::fs::read_dir(server.root())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(".upload_id-"))
        .count();
    assert_eq!(leftovers, 0, "no unfinished upload left behind");

    store.put("live/main/seg1.m4s", Bytes::from(vec![7u8; 1000])).await.unwrap();
    let head = store.client().head_object().bucket(BUCKET).key("live/main/seg1.m4s").send().await.unwrap();
    assert!(!head.e_tag().unwrap_or_default().contains('-'), "small objects use one PUT");
}

#[tokio::test]
async fn a_server_that_is_down_gives_an_error_not_a_hang() {
    let mut server = S3TestServer::start_with_bucket(BUCKET).await;
    let store = store_on(&server).await;
    store.put("live/main/seg1.m4s", Bytes::from_static(b"before")).await.unwrap();
    server.stop().await;
    let started = std::time::Instant::now();
    assert!(store.put("live/main/seg2.m4s", Bytes::from_static(b"during")).await.is_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
    server.restart().await;
    store.put("live/main/seg2.m4s", Bytes::from_static(b"after")).await.unwrap();
    assert_eq!(store.get("live/main/seg1.m4s").await.unwrap(), Some(Bytes::from_static(b"before")));
    assert_eq!(store.get("live/main/seg2.m4s").await.unwrap(), Some(Bytes::from_static(b"after")));
}
