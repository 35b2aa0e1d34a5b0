//! The cluster's promise under a lost ingest pod: 2 ingest and 2 origin
//! processes over a real PostgreSQL and a real S3-protocol server. ffmpeg
//! publishes to ingest A while an LL-HLS client plays through origin B; A is
//! killed with SIGKILL and the push restarts against ingest B. The viewer
//! never sees a 5xx, playback resumes, sequence numbers never go back, and
//! every segment the registry indexed is in the bucket.

#[allow(unused_imports)]
mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::RoleProcess;
use loadtest::http::get_str;
use loadtest::playlist::parse_media;
use storage::ObjectStore;
use testkit::postgres::PgTestServer;
use testkit::s3::S3TestServer;

const BUCKET: &str = "relay-cluster";
const KEY: &str = "cluster-test-key-0123456789";

#[derive(Default, Debug)]
struct ViewerLog {
    server_errors: Vec<String>,
    playlists: usize,
    /// (media sequence, newest listed msn) per playlist, in order.
    sequence: Vec<(u64, u64)>,
    parts_fetched: Vec<(Instant, u64, u32)>,
    gaps: BTreeSet<u64>,
    discontinuities: BTreeSet<u64>,
}

/// Follows blocking reloads on `base` and fetches every new part, as an
/// LL-HLS player does, recording what it saw.
async fn view(base: String, stop: Arc<AtomicBool>, log: Arc<Mutex<ViewerLog>>) {
    let mut next: Option<(u64, u32)> = None;
    let mut fetched: BTreeSet<(u64, u32)> = BTreeSet::new();
    while !stop.load(Ordering::SeqCst) {
        let url = match next {
            Some((msn, part)) => format!("{base}/media.m3u8?_HLS_msn={msn}&_HLS_part={part}"),
            None => format!("{base}/media.m3u8"),
        };
        let response = match get_str(&url, Duration::from_secs(15)).await {
            Ok(response) => response,
            Err(error) => {
                log.lock().unwrap().server_errors.push(format!("{url}: {error:?}"));
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if response.status >= 500 {
            log.lock().unwrap().server_errors.push(format!("{url}: {}", response.status));
            continue;
        }
        if response.status != 200 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let playlist = parse_media(&response.text());
        let newest = playlist.last_part().map_or(playlist.next_msn, |part| part.msn);
        {
            let mut log = log.lock().unwrap();
            log.playlists += 1;
            log.sequence.push((playlist.media_sequence, newest));
            for segment in &playlist.segments {
                if segment.gap {
                    log.gaps.insert(segment.msn);
                }
                if segment.discontinuity {
                    log.discontinuities.insert(segment.msn);
                }
            }
        }
        let new_parts: Vec<_> =
            playlist.all_parts().filter(|part| !fetched.contains(&(part.msn, part.index))).cloned().collect();
        for part in new_parts {
            let part_url = format!("{base}/{}", part.uri);
            match get_str(&part_url, Duration::from_secs(10)).await {
                Ok(answer) if answer.status >= 500 => {
                    log.lock().unwrap().server_errors.push(format!("{part_url}: {}", answer.status))
                }
                Ok(answer) if answer.status == 200 => {
                    fetched.insert((part.msn, part.index));
                    log.lock().unwrap().parts_fetched.push((Instant::now(), part.msn, part.index));
                }
                _ => {
                    fetched.insert((part.msn, part.index));
                }
            }
        }
        next = Some(playlist.next_part_request());
    }
}

fn insert_stream_key(url: &str) {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let pool = cluster::connect(&url).await.expect("database");
            sqlx::query("INSERT INTO streams (id, name, stream_key, created_at) VALUES ($1, $2, $3, $4)")
                .bind("cluster-stream")
                .bind("cam")
                .bind(KEY)
                .bind(0_i64)
                .execute(&pool)
                .await
                .expect("insert stream");
        })
    })
    .join()
    .unwrap();
}

// The guard only serialises the end-to-end tests; nothing else takes it.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_pod_killed_mid_stream_viewers_keep_playing() {
    let _turn = common::exclusive();
    let database = PgTestServer::shared().create_database();
    insert_stream_key(&database);
    let s3 = S3TestServer::start_with_bucket(BUCKET).await;
    let mut shared = vec![("RELAY_DATABASE_URL", database.clone())];
    shared.extend(common::s3_variables(&s3, BUCKET));
    let (mut ingest_a, ingest_b, _origin_a, origin_b) = tokio::task::block_in_place(|| {
        (
            RoleProcess::start("ingest", "ingest-a", &shared),
            RoleProcess::start("ingest", "ingest-b", &shared),
            RoleProcess::start("origin", "origin-a", &shared),
            RoleProcess::start("origin", "origin-b", &shared),
        )
    });

    let mut publisher_a = common::tools::spawn_publisher(&ingest_a.rtmp_url(KEY), 60);
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(ViewerLog::default()));
    let base = origin_b.url("/live/cam");
    // Wait for the stream to play through origin B before the viewer starts.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = get_str(&format!("{base}/media.m3u8"), Duration::from_secs(10)).await;
        if answer.as_ref().is_ok_and(|answer| answer.status == 200 && answer.text().contains("#EXTINF")) {
            break;
        }
        assert!(Instant::now() < deadline, "stream never appeared on origin B: {answer:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let viewer = tokio::spawn(view(base.clone(), stop.clone(), log.clone()));
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Lose ingest A the hard way; the encoder reconnects to ingest B.
    ingest_a.process.kill();
    let killed_at = Instant::now();
    publisher_a.kill();
    let _publisher_b = common::tools::spawn_publisher(&ingest_b.rtmp_url(KEY), 60);
    tokio::time::sleep(Duration::from_secs(14)).await;
    stop.store(true, Ordering::SeqCst);
    let _ = tokio::time::timeout(Duration::from_secs(20), viewer).await;

    let log = log.lock().unwrap();
    assert!(log.server_errors.is_empty(), "the viewer saw server errors: {:?}", log.server_errors);
    for pair in log.sequence.windows(2) {
        assert!(pair[1].0 >= pair[0].0, "media sequence went back: {pair:?}");
        assert!(pair[1].1 >= pair[0].1, "newest listed segment went back: {pair:?}");
    }
    let resumed: Vec<_> = log.parts_fetched.iter().filter(|(at, _, _)| *at > killed_at).collect();
    assert!(resumed.len() >= 20, "playback did not resume after the kill: {} parts", resumed.len());
    let before_kill = log.parts_fetched.iter().filter(|(at, _, _)| *at <= killed_at).map(|(_, msn, _)| *msn).max();
    let first_after = resumed.iter().map(|(_, msn, _)| *msn).min();
    assert!(first_after >= before_kill, "after the takeover parts continue the numbering");
    assert!(!log.discontinuities.is_empty(), "the takeover is marked with EXT-X-DISCONTINUITY");
    eprintln!(
        "viewer: {} playlists, {} parts, gaps {:?}, discontinuities {:?}",
        log.playlists,
        log.parts_fetched.len(),
        log.gaps,
        log.discontinuities
    );
    drop(log);

    // Every indexed (non-gap) segment is in the bucket.
    let pool = cluster::connect(&database).await.expect("database");
    let registry = cluster::ClusterRegistry::new(pool, cluster::ClusterConfig::default());
    let segments = registry.all_segments("cam").await.expect("index");
    assert!(segments.len() >= 8, "too few segments indexed: {}", segments.len());
    let epochs: BTreeSet<i64> = segments.iter().map(|segment| segment.epoch).collect();
    assert!(epochs.len() >= 2, "both owners wrote segments: {epochs:?}");
    for pair in segments.windows(2) {
        assert_eq!(pair[1].msn, pair[0].msn + 1, "the index has a hole between {} and {}", pair[0].msn, pair[1].msn);
    }
    let bucket = storage::S3Store::connect(s3.config(BUCKET)).await.expect("S3 client");
    // Uploads run behind the live edge; give the last ones a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for segment in segments.iter().filter(|segment| !segment.gap) {
        let stored = bucket.get(&segment.object_key).await.expect("S3 get");
        assert!(stored.is_some_and(|data| !data.is_empty()), "{} is not in the bucket", segment.object_key);
    }
    let owner = registry.owner("cam").await.unwrap().unwrap();
    assert_eq!(owner.pod, ingest_b.name);

    // The DVR window reaches back past the takeover, through either origin,
    // and its oldest segments come from the bucket.
    let dvr = get_str(&format!("{base}/dvr.m3u8"), Duration::from_secs(10)).await.expect("dvr playlist");
    assert_eq!(dvr.status, 200);
    let window = parse_media(&dvr.text());
    assert_eq!(window.media_sequence, segments[0].msn, "the window starts at the first stored segment");
    assert!(window.segments.len() >= segments.len(), "the window lists every stored segment");
    assert_eq!(window.segments.iter().filter(|segment| segment.gap).count(), segments.iter().filter(|s| s.gap).count());
    for segment in window.segments.iter().filter(|segment| !segment.gap).take(3) {
        let media = get_str(&format!("{base}/{}", segment.uri), Duration::from_secs(10)).await.expect("old segment");
        assert_eq!(media.status, 200, "{}", segment.uri);
        let stored = bucket.get(&live::segment_key("cam", segment.msn)).await.unwrap().unwrap();
        assert_eq!(stored.as_ref(), media.body.as_slice(), "{} differs from the bucket", segment.uri);
    }
    let first = segments[0].program_date_time_ms / 1000;
    let range = get_str(&format!("{base}/dvr.m3u8?start={first}&end={}", first + 5), Duration::from_secs(10))
        .await
        .expect("time range");
    assert_eq!(range.status, 200);
    let text = range.text();
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD") && text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    assert!((2..=4).contains(&parse_media(&text).segments.len()), "{text}");
    let bad = get_str(&format!("{base}/dvr.m3u8?start={first}"), Duration::from_secs(10)).await.unwrap();
    assert_eq!(bad.status, 400);
}
