//! Stream identity at the origin: a name the stream directory does not
//! know is refused before on_play or storage; on_play decides once per
//! session and that decision gates every media request of the session; a
//! retired name answers the requests held on it at once.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use access::{AccessControl, SigningKey};
use live::{LiveConfig, Registry};
use loadtest::http::{get_str, Response};
use origin::{Origin, PlayFuture, PlayHook};
use testkit::stack::{OneKey, Publisher, KEY, TIMEOUT};

const FIXTURE: &[u8] = include_bytes!("../../media/testdata/bframes.flv");

/// An on_play receiver that answers as told and counts the questions.
#[derive(Default)]
struct Receiver {
    allow: AtomicBool,
    asked: AtomicUsize,
}

impl PlayHook for Receiver {
    fn guards(&self) -> PlayFuture<'_, bool> {
        Box::pin(async { true })
    }

    fn allow<'a>(&'a self, _stream: &'a str, stream_id: &'a str, _client: IpAddr) -> PlayFuture<'a, bool> {
        assert_eq!(stream_id, "id-demo", "asked with the stream's id");
        self.asked.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { self.allow.load(Ordering::SeqCst) })
    }

    fn session_ttl(&self) -> Duration {
        Duration::from_secs(600)
    }
}

struct Stack {
    http: SocketAddr,
    registry: Arc<Registry>,
    access: Arc<AccessControl>,
    receiver: Arc<Receiver>,
    _shutdown: listener::Shutdown,
}

/// An RTMP server and an origin whose directory knows `demo` (id `id-demo`)
/// only, with a session key and `receiver` as on_play; `demo` publishing.
async fn stack() -> Stack {
    let root = std::env::temp_dir().join(format!("identity-{}", std::process::id()));
    let store: Arc<dyn storage::ObjectStore> = Arc::new(storage::LocalDirStore::new(root));
    let writer = live::spawn_storage_writer(store.clone(), 64);
    let registry = Registry::new(LiveConfig::default(), Some(writer));
    let key = SigningKey::new("k1", "k1-identity-test-secret-0123456789abcdef").unwrap();
    let access = Arc::new(AccessControl::public());
    access.add_key(&key);
    access.update(|config| {
        config.streams = Some(HashMap::from([("demo".to_owned(), "id-demo".to_owned())]));
        config.session_key = Some(key.clone());
    });
    let receiver = Arc::new(Receiver::default());
    let shutdown = listener::Shutdown::new();
    let rtmp_socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rtmp = rtmp_socket.local_addr().unwrap();
    let gate = publisher::Gate::new(registry.clone(), Arc::new(OneKey), "live");
    let rtmp_listener = listener::Listener::new("rtmp", rtmp_socket, rtmp::default_limits());
    tokio::spawn(rtmp::run(rtmp_listener, gate, rtmp::RtmpConfig::default(), shutdown.clone()));
    let origin = Arc::new(Origin {
        registry: registry.clone(),
        storage: store,
        default_hold: Duration::from_secs(6),
        access: access.clone(),
        upstream: None,
        index: None,
        play_hook: Some(receiver.clone()),
        demand: None,
    });
    let http_socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = http_socket.local_addr().unwrap();
    testkit::stack::serve_origin(http_socket, origin);

    let (mut publisher, accepted) = Publisher::publish(rtmp, KEY).await;
    assert!(accepted, "publish refused");
    tokio::spawn(async move { publisher.replay(FIXTURE).await });
    Stack { http, registry, access, receiver, _shutdown: shutdown }
}

async fn fetch(stack: &Stack, path: &str) -> Response {
    get_str(&format!("http://{}{path}", stack.http), TIMEOUT).await.unwrap()
}

/// The session prefix (`/t/<token>/live/demo/`) from a session's multivariant playlist.
fn session_prefix(playlist: &str) -> String {
    let uri =
        playlist.lines().find(|line| line.starts_with("/t/")).unwrap_or_else(|| panic!("no session URI in {playlist}"));
    uri.strip_suffix("media.m3u8").unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_play_gates_every_request_of_a_session_and_only_of_known_streams() {
    let stack = stack().await;
    stack.receiver.allow.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    let index = loop {
        let index = fetch(&stack, "/live/demo/index.m3u8").await;
        if index.status == 200 {
            break index;
        }
        assert!(Instant::now() < deadline, "no playlist: {} {}", index.status, index.text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(index.header("cache-control"), Some("private, no-store"), "a session's playlist is its own");
    let prefix = session_prefix(&index.text());
    let media = loop {
        let media = fetch(&stack, &format!("{prefix}media.m3u8")).await;
        assert_eq!(media.status, 200, "{}", media.text());
        if media.text().contains("#EXTINF") {
            break media.text();
        }
        assert!(Instant::now() < deadline, "no complete segment: {}", media.text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(!media.contains("/t/"), "media playlists stay the same for every viewer");
    let part = media
        .lines()
        .filter(|line| line.starts_with("#EXT-X-PART:"))
        .find_map(|line| line.split("URI=\"").nth(1))
        .map(|rest| rest.split('"').next().unwrap());
    let part = part.unwrap_or_else(|| panic!("no part in {media}")).to_owned();
    let segment = media.lines().find(|line| line.starts_with("seg")).unwrap().to_owned();
    let files = ["media.m3u8".to_owned(), part, segment, "init0.mp4".to_owned()];
    for file in &files {
        let with_session = fetch(&stack, &format!("{prefix}{file}")).await;
        assert_eq!(with_session.status, 200, "{file} with the session: {}", with_session.text());
        let without = fetch(&stack, &format!("/live/demo/{file}")).await;
        assert_eq!(without.status, 401, "{file} without a session: {}", without.text());
    }
    let asked = stack.receiver.asked.load(Ordering::SeqCst);
    assert_eq!(asked, 1, "one question for the whole session");

    // The receiver says no: no new session starts, and no request of the
    // stream gets through without one.
    stack.receiver.allow.store(false, Ordering::SeqCst);
    assert_eq!(fetch(&stack, "/live/demo/index.m3u8").await.status, 403);
    for file in &files {
        assert_eq!(fetch(&stack, &format!("/live/demo/{file}")).await.status, 401, "{file}");
    }
    // A forged or foreign session is no session.
    let forged = prefix.replacen("/t/", "/t/x", 1);
    assert_eq!(fetch(&stack, &format!("{forged}media.m3u8")).await.status, 401);

    // Invented names: 404 before on_play is asked.
    let before = stack.receiver.asked.load(Ordering::SeqCst);
    for invented in 0..30 {
        let response = fetch(&stack, &format!("/live/invented-{invented}/index.m3u8")).await;
        assert_eq!(response.status, 404);
    }
    assert_eq!(stack.receiver.asked.load(Ordering::SeqCst), before, "no on_play for names that name no stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_name_answers_its_held_requests_at_once() {
    let stack = stack().await;
    stack.receiver.allow.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    let (prefix, last) = loop {
        let index = fetch(&stack, "/live/demo/index.m3u8").await;
        if index.status == 200 {
            let prefix = session_prefix(&index.text());
            let media = fetch(&stack, &format!("{prefix}media.m3u8")).await.text();
            if let Some(sequence) = media.lines().find_map(|line| line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:")) {
                let segments = media.lines().filter(|line| line.starts_with("#EXTINF")).count() as u64;
                if segments > 0 {
                    break (prefix, sequence.parse::<u64>().unwrap() + segments - 1);
                }
            }
        }
        assert!(Instant::now() < deadline, "no segment");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let held_url = format!("http://{}{prefix}media.m3u8?_HLS_msn={}", stack.http, last + 2);
    let held = tokio::spawn(async move {
        let started = Instant::now();
        let response = get_str(&held_url, TIMEOUT).await.unwrap();
        (response.status, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // What a delete does on this process: the name leaves the directory, then the live edge.
    stack.access.update(|config| config.streams = Some(HashMap::new()));
    stack.registry.retire("demo");
    let (status, waited) = held.await.unwrap();
    assert_eq!(status, 404, "the held request is answered, not left to time out");
    assert!(waited < Duration::from_secs(2), "answered after {waited:?}; the hold is 4 s or more");
    assert_eq!(fetch(&stack, &format!("{prefix}init0.mp4")).await.status, 404);
    assert!(stack.registry.get("demo").is_none());
}
