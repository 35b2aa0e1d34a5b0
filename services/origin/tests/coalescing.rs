//! An origin pod without the live edge asks the owning ingest pod once, no
//! matter how many viewers wait for the same next part.

use std::sync::Arc;
use std::time::Duration;

use live::{LiveConfig, Registry};
use loadtest::http::get_str;
use loadtest::playlist::parse_media;
use origin::{AccessControl, EdgeDirectory, Origin, Upstream};
use testkit::stack::{start_servers, Publisher, KEY, TIMEOUT};

const FIXTURE: &[u8] = include_bytes!("../../media/testdata/bframes.flv");
const VIEWERS: usize = 1000;

/// Every stream lives on one known pod.
struct OnePod(String);

impl EdgeDirectory for OnePod {
    fn owner<'a>(
        &'a self,
        _stream: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + 'a>> {
        Box::pin(async move { Some(self.0.clone()) })
    }

    fn forget(&self, _stream: &str) {}
}

/// 1000 sockets on each side need more than a default soft limit of 1024.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max.min(16_384);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_blocked_requests_cost_one_upstream_fetch() {
    raise_open_file_limit();
    let ingest = start_servers().await;
    let upstream = Arc::new(Upstream::new(
        Arc::new(OnePod(ingest.http.to_string())),
        64 << 20,
        Duration::from_secs(10),
        cluster::InternalSecret::default(),
    ));
    let proxy = Arc::new(Origin {
        registry: Registry::new(LiveConfig::default(), None),
        storage: ingest.store.clone(),
        default_hold: Duration::from_secs(6),
        access: Arc::new(AccessControl::public()),
        upstream: Some(upstream.clone()),
        index: None,
        play_hook: None,
        demand: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_address = listener.local_addr().unwrap();
    testkit::stack::serve_origin(listener, proxy);

    let (mut publisher, accepted) = Publisher::publish(ingest.rtmp, KEY).await;
    assert!(accepted);
    tokio::spawn(async move { publisher.replay(FIXTURE).await });
    let base = format!("http://{proxy_address}/live/demo");
    let playlist = loop {
        let response = get_str(&format!("{base}/media.m3u8"), TIMEOUT).await.unwrap();
        if response.status == 200 {
            break parse_media(&response.text());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ingest_playlist = get_str(&format!("http://{}/live/demo/media.m3u8", ingest.http), TIMEOUT).await.unwrap();
    assert_eq!(ingest_playlist.status, 200);

    // The part after the newest one: every viewer blocks on it.
    let (msn, part) = playlist.next_part_request();
    let url = format!("{base}/seg{msn}.{part}.m4s");
    let before = upstream.fetch_count();
    let requests: Vec<_> = (0..VIEWERS)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { get_str(&url, Duration::from_secs(20)).await })
        })
        .collect();
    let mut bodies = Vec::with_capacity(VIEWERS);
    for request in requests {
        let response = request.await.unwrap().unwrap();
        assert_eq!(response.status, 200, "{url}");
        bodies.push(response.body);
    }
    assert_eq!(upstream.fetch_count() - before, 1, "{VIEWERS} requests for {url} must share one upstream fetch");
    assert!(bodies.iter().all(|body| *body == bodies[0] && !body.is_empty()));
    let direct = get_str(&format!("http://{}/live/demo/seg{msn}.{part}.m4s", ingest.http), TIMEOUT).await.unwrap();
    assert_eq!(direct.body, bodies[0], "the proxy serves the owner's bytes");
    // A later request comes from the cache.
    let again = get_str(&url, TIMEOUT).await.unwrap();
    assert_eq!((again.status, upstream.fetch_count() - before), (200, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxied_playlists_are_the_owners_bytes() {
    let ingest = start_servers().await;
    let upstream = Arc::new(Upstream::new(
        Arc::new(OnePod(ingest.http.to_string())),
        64 << 20,
        Duration::from_secs(10),
        cluster::InternalSecret::default(),
    ));
    let proxy = Arc::new(Origin {
        registry: Registry::new(LiveConfig::default(), None),
        storage: ingest.store.clone(),
        default_hold: Duration::from_secs(6),
        access: Arc::new(AccessControl::public()),
        upstream: Some(upstream),
        index: None,
        play_hook: None,
        demand: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_address = listener.local_addr().unwrap();
    testkit::stack::serve_origin(listener, proxy);
    let (mut publisher, accepted) = Publisher::publish(ingest.rtmp, KEY).await;
    assert!(accepted);
    tokio::spawn(async move { publisher.replay(FIXTURE).await });

    let mut checked = 0;
    let mut next: Option<(u64, u32)> = None;
    while checked < 10 {
        let query = next.map_or(String::new(), |(msn, part)| format!("?_HLS_msn={msn}&_HLS_part={part}"));
        let proxied = get_str(&format!("http://{proxy_address}/live/demo/media.m3u8{query}"), TIMEOUT).await.unwrap();
        if proxied.status != 200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let direct = get_str(&format!("http://{}/live/demo/media.m3u8{query}", ingest.http), TIMEOUT).await.unwrap();
        let playlist = parse_media(&proxied.text());
        if next.is_some() {
            // Both answered the same blocking request: the same state, byte for byte,
            // unless a part landed between the two requests.
            let direct_playlist = parse_media(&direct.text());
            if direct_playlist.last_part() == playlist.last_part() {
                assert_eq!(proxied.body, direct.body);
                checked += 1;
            }
        }
        assert_eq!(proxied.header("content-type"), Some("application/vnd.apple.mpegurl"));
        next = Some(playlist.next_part_request());
    }
    let bad = get_str(&format!("http://{proxy_address}/live/demo/media.m3u8?_HLS_part=1"), TIMEOUT).await.unwrap();
    assert_eq!(bad.status, 400, "malformed blocking queries are refused before going upstream");
}
