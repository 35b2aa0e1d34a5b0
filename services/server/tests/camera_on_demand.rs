//! An on-demand camera across pods: registered through the api service,
//! pulled by the ingest pod only while viewers ask for it on the origin pod.
//! One GStreamer RTSP camera, one ingest, one origin and one api process on
//! PostgreSQL. The camera's side of the RTSP connection is watched in the
//! kernel's socket table, so "no session" means no TCP connection at all.

#[allow(unused_imports)]
mod common;

use std::time::{Duration, Instant};

use common::cluster::{start_rtsp_camera, RoleProcess};
use loadtest::http::get_str;
use loadtest::playlist::parse_media;
use testkit::free_port;
use testkit::postgres::PgTestServer;
use testkit::s3::S3TestServer;

const BUCKET: &str = "relay-on-demand";
const LEASE_MS: u64 = 3000;
const LINGER_MS: u64 = 3000;
/// From the first request to a media playlist listing a whole segment
/// (2 s segments): demand poll, RTSP setup, one keyframe interval and one
/// segment, with room for a loaded 2-core machine.
const FIRST_SEGMENT_WITHIN: Duration = Duration::from_secs(15);

/// Established TCP connections whose local end is the camera's port: the
/// RTSP sessions the camera serves (interleaved RTP rides on them).
fn camera_connections(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("the kernel's TCP table");
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[1].ends_with(&local) && fields[3] == "01"
        })
        .count()
}

/// An admin API key, made directly in the database the api service uses.
async fn admin_key(database_url: &str) -> String {
    let database = catalog::Database::connect(database_url).await.expect("database");
    let state = catalog::Catalog::new(database.clone(), catalog::CatalogOptions::default());
    let (admin, _) = state.ensure_admin("admin").await.expect("admin").expect("a fresh database has no admin");
    database.create_api_key(&admin.id, "on-demand test", None).await.expect("api key").1
}

/// POST /api/v1/streams on `base` with `credential`: a bearer key or a
/// session cookie.
fn create_stream(base: &str, credential: &str, body: serde_json::Value) -> common::http::Response {
    let authorization = format!("Bearer {credential}");
    let header = if credential.contains('=') { ("cookie", credential) } else { ("authorization", &*authorization) };
    common::http::send(
        "POST",
        &format!("{base}/api/v1/streams"),
        &[header],
        Some(&body.to_string()),
        Duration::from_secs(10),
    )
    .expect("api request")
}

/// Plays like a player would until the media playlist lists a whole
/// segment newer than `after`; returns how long that took. The first
/// request must already get a playlist: the origin holds it while the pull
/// starts.
async fn watch_until_a_segment(base: &str, after: Option<u64>) -> Duration {
    let started = Instant::now();
    let first = get_str(&format!("{base}/index.m3u8"), Duration::from_secs(20)).await.expect("index.m3u8");
    assert_eq!(first.status, 200, "the viewer's first request got {} {}", first.status, first.text());
    assert!(first.text().contains("#EXT-X-STREAM-INF"), "{}", first.text());
    loop {
        let media = get_str(&format!("{base}/media.m3u8"), Duration::from_secs(20)).await.expect("media.m3u8");
        let newest = (media.status == 200).then(|| parse_media(&media.text()).last_segment_msn()).flatten();
        if newest.is_some_and(|msn| after.is_none_or(|after| msn > after)) {
            return started.elapsed();
        }
        assert!(started.elapsed() < FIRST_SEGMENT_WITHIN, "no new segment yet ({} {})", media.status, media.text());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Keeps requesting the playlist for `duration`, as a player does.
async fn keep_watching(base: &str, duration: Duration) {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        let media = get_str(&format!("{base}/media.m3u8"), Duration::from_secs(20)).await.expect("media.m3u8");
        assert_eq!(media.status, 200, "{}", media.text());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits for the camera to see its session end; returns how long it took.
async fn until_no_session(camera_port: u16, since: Instant, bound: Duration) -> Duration {
    while camera_connections(camera_port) > 0 {
        assert!(since.elapsed() < bound + Duration::from_secs(10), "the pull never stopped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    since.elapsed()
}

async fn camera_status(ingest: &RoleProcess) -> serde_json::Value {
    let status = ingest.internal_get("/internal/v1/streams/cam/status").await;
    assert_eq!(status.status, 200, "{}", status.text());
    serde_json::from_slice(&status.body).unwrap()
}

// The guard only serialises the end-to-end tests; nothing else takes it.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_demand_camera_is_pulled_only_while_viewers_ask_for_it() {
    let _turn = common::exclusive();
    let database = PgTestServer::shared().create_database();
    let camera_port = free_port();
    let _camera = tokio::task::block_in_place(|| start_rtsp_camera(camera_port));
    let key = admin_key(&database).await;
    let s3 = S3TestServer::start_with_bucket(BUCKET).await;
    let mut shared = vec![("RELAY_DATABASE_URL", database.clone()), ("RELAY_CAMERAS_LEASE_MS", LEASE_MS.to_string())];
    shared.extend(common::s3_variables(&s3, BUCKET));
    let (api, ingest, origin) = tokio::task::block_in_place(|| {
        (
            RoleProcess::start("api", "api", &shared),
            RoleProcess::start("ingest", "ingest", &shared),
            RoleProcess::start("origin", "origin", &shared),
        )
    });

    let url = format!("rtsp://127.0.0.1:{camera_port}/cam");
    let bad = serde_json::json!({"name": "cam", "kind": "camera", "camera": {"url": url, "mode": "sometimes"}});
    let refused = tokio::task::block_in_place(|| create_stream(&api.url(""), &key, bad));
    assert_eq!(refused.status, 422, "{}", refused.text());
    let camera = serde_json::json!({"url": url, "mode": "on_demand", "linger_ms": LINGER_MS});
    let body = serde_json::json!({"name": "cam", "kind": "camera", "camera": camera});
    let created = tokio::task::block_in_place(|| create_stream(&api.url(""), &key, body));
    assert_eq!(created.status, 201, "{}", created.text());
    let created: serde_json::Value = serde_json::from_slice(&created.body).unwrap();
    assert_eq!(created["camera"], serde_json::json!({"mode": "on_demand", "linger_ms": LINGER_MS}));

    // Nobody watches: the ingest pod goes through several rounds (a third
    // of the lease each) without opening a session.
    let pool = cluster::connect(&database).await.expect("registry");
    let registry = cluster::ClusterRegistry::new(pool, cluster::ClusterConfig::default());
    let idle_until = Instant::now() + Duration::from_millis(2 * LEASE_MS);
    while Instant::now() < idle_until {
        assert_eq!(camera_connections(camera_port), 0, "the camera was pulled while nobody watched");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(registry.lease_holder("camera:cam").await.unwrap(), None);

    // The first viewer, through the origin pod.
    let base = origin.url("/live/cam");
    let first = watch_until_a_segment(&base, None).await;
    eprintln!("on-demand camera: first viewer saw a segment after {first:?}");
    assert_eq!(camera_connections(camera_port), 1, "one RTSP session for the viewer");
    assert_eq!(registry.lease_holder("camera:cam").await.unwrap().as_deref(), Some("ingest"));
    // The pull stays up while the viewer keeps asking, well past the linger.
    keep_watching(&base, Duration::from_millis(LINGER_MS + LEASE_MS)).await;
    assert_eq!(camera_connections(camera_port), 1, "the pull stopped under a viewer");
    assert_eq!(camera_status(&ingest).await["camera"]["state"], "online");

    // The viewer leaves: the session ends within the linger and a lease period.
    let left = Instant::now();
    let bound = Duration::from_millis(LINGER_MS + LEASE_MS);
    let stopped = until_no_session(camera_port, left, bound).await;
    eprintln!("on-demand camera: the session ended {stopped:?} after the last viewer request (bound {bound:?})");
    // Demand is written at most once a second, so the last write may be up
    // to a second older than the last request.
    let earliest = Duration::from_millis(LINGER_MS) - Duration::from_secs(1);
    assert!(stopped >= earliest, "stopped after {stopped:?}, before the linger");
    assert!(stopped <= bound, "stopped after {stopped:?}");
    let status = camera_status(&ingest).await;
    assert_eq!(status["camera"]["state"], "idle", "{status}");
    assert_eq!(registry.lease_holder("camera:cam").await.unwrap(), None, "the lease was given up");

    // Where the stream stood when the pull stopped, from the ingest pod's
    // internal port (which records no demand).
    let last = ingest.internal_get("/live/cam/media.m3u8").await;
    assert_eq!(last.status, 200, "{}", last.text());
    let newest = parse_media(&last.text()).last_segment_msn().expect("segments from the first session");

    // A second viewer starts it again: two segments past that can only come
    // from a new session.
    let second = watch_until_a_segment(&base, Some(newest + 1)).await;
    eprintln!("on-demand camera: the second viewer saw a segment after {second:?}");
    assert_eq!(camera_connections(camera_port), 1);
    assert_eq!(camera_status(&ingest).await["camera"]["state"], "online");
}

/// `relay all`: the same demand path in one process, where the first
/// viewer waits for the local pull rather than for another pod.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_one_process_the_first_viewer_waits_for_the_local_pull() {
    let _turn = common::exclusive();
    let camera_port = free_port();
    let _camera = tokio::task::block_in_place(|| start_rtsp_camera(camera_port));
    let server = tokio::task::block_in_place(|| {
        common::Server::start_with_env(&[("RELAY_CAMERAS_LEASE_MS", LEASE_MS.to_string())])
    });
    let cookie = tokio::task::block_in_place(|| common::admin_cookie(&server));
    let camera = serde_json::json!({"url": format!("rtsp://127.0.0.1:{camera_port}/cam"), "mode": "on_demand", "linger_ms": LINGER_MS});
    let body = serde_json::json!({"name": "cam", "kind": "camera", "camera": camera});
    let created = tokio::task::block_in_place(|| create_stream(&server.url(""), &cookie, body));
    assert_eq!(created.status, 201, "{}", created.text());

    let idle_until = Instant::now() + Duration::from_millis(LEASE_MS);
    while Instant::now() < idle_until {
        assert_eq!(camera_connections(camera_port), 0, "the camera was pulled while nobody watched");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let base = server.url("/live/cam");
    let first = watch_until_a_segment(&base, None).await;
    eprintln!("on-demand camera in one process: first viewer saw a segment after {first:?}");
    assert_eq!(camera_connections(camera_port), 1);
    let left = Instant::now();
    let bound = Duration::from_millis(LINGER_MS + LEASE_MS);
    let stopped = until_no_session(camera_port, left, bound).await;
    assert!(stopped <= bound, "stopped after {stopped:?}");
}
