//! In-process live path: an RTMP client (rml_rtmp's client session) replays
//! a committed ffmpeg capture into the ingest listener; a viewer follows the
//! LL-HLS playlist with blocking reloads and checks every part it fetches.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ingest::{AuthFuture, IngestConfig, StreamAuthorizer};
use live::{LiveConfig, Registry};
use loadtest::http::get_str;
use media::flv::{FlvFileReader, TAG_AUDIO, TAG_VIDEO};
use origin::Origin;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const FIXTURE: &[u8] = include_bytes!("../../media/testdata/bframes.flv");
const KEY: &str = "test-key-0123456789";
const TIMEOUT: Duration = Duration::from_secs(10);

struct OneKey;

impl StreamAuthorizer for OneKey {
    fn authorize<'a>(&'a self, _app: &'a str, key: &'a str, _peer: SocketAddr) -> AuthFuture<'a> {
        Box::pin(async move { Ok((key == KEY).then(|| "demo".to_string())) })
    }
}

struct Servers {
    rtmp: SocketAddr,
    http: SocketAddr,
    _shutdown: watch::Sender<bool>,
}

async fn start_servers() -> Servers {
    let root = std::env::temp_dir().join(format!("live-path-{}", std::process::id()));
    let store: Arc<dyn storage::ObjectStore> = Arc::new(storage::LocalDirStore::new(root));
    let writer = live::spawn_storage_writer(store.clone(), 64);
    let config = LiveConfig { reconnect_grace: Duration::from_millis(800), ..LiveConfig::default() };
    let registry = Registry::new(config, Some(writer));
    registry.spawn_housekeeping();
    let (shutdown_sender, shutdown) = watch::channel(false);
    let rtmp_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let servers = Servers {
        rtmp: rtmp_listener.local_addr().unwrap(),
        http: http_listener.local_addr().unwrap(),
        _shutdown: shutdown_sender,
    };
    tokio::spawn(ingest::run(rtmp_listener, registry.clone(), Arc::new(OneKey), IngestConfig::default(), shutdown));
    let origin = Arc::new(Origin { registry, storage: store, default_hold: Duration::from_secs(6) });
    tokio::spawn(origin::serve(http_listener, origin, std::future::pending()));
    servers
}

/// A publisher speaking RTMP through rml_rtmp's client session.
struct Publisher {
    socket: TcpStream,
    session: ClientSession,
    events: Vec<ClientSessionEvent>,
}

impl Publisher {
    async fn connect(address: SocketAddr) -> Publisher {
        let mut socket = TcpStream::connect(address).await.unwrap();
        let mut handshake = Handshake::new(PeerType::Client);
        socket.write_all(&handshake.generate_outbound_p0_and_p1().unwrap()).await.unwrap();
        let mut buffer = vec![0u8; 8192];
        let leftover = loop {
            let count = socket.read(&mut buffer).await.unwrap();
            assert!(count > 0, "server closed during the handshake");
            match handshake.process_bytes(&buffer[..count]).unwrap() {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    socket.write_all(&response_bytes).await.unwrap()
                }
                HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                    socket.write_all(&response_bytes).await.unwrap();
                    break remaining_bytes;
                }
            }
        };
        let (session, results) = ClientSession::new(ClientSessionConfig::new()).unwrap();
        let mut publisher = Publisher { socket, session, events: Vec::new() };
        publisher.send(results).await;
        if !leftover.is_empty() {
            let results = publisher.session.handle_input(&leftover).unwrap();
            publisher.send(results).await;
        }
        publisher
    }

    async fn send(&mut self, results: Vec<ClientSessionResult>) {
        for result in results {
            match result {
                ClientSessionResult::OutboundResponse(packet) => self.socket.write_all(&packet.bytes).await.unwrap(),
                ClientSessionResult::RaisedEvent(event) => self.events.push(event),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
    }

    /// Reads until `done` accepts an event or the server closes.
    async fn read_until(&mut self, done: impl Fn(&ClientSessionEvent) -> bool) -> bool {
        let mut buffer = vec![0u8; 8192];
        loop {
            if self.events.iter().any(&done) {
                return true;
            }
            let count = match tokio::time::timeout(TIMEOUT, self.socket.read(&mut buffer)).await {
                Ok(Ok(count)) if count > 0 => count,
                _ => return false,
            };
            let Ok(results) = self.session.handle_input(&buffer[..count]) else { return false };
            self.send(results).await;
        }
    }

    async fn publish(address: SocketAddr, key: &str) -> (Publisher, bool) {
        let mut publisher = Publisher::connect(address).await;
        let connect = publisher.session.request_connection("live".into()).unwrap();
        publisher.send(vec![connect]).await;
        assert!(publisher.read_until(|event| *event == ClientSessionEvent::ConnectionRequestAccepted).await);
        let publish = publisher.session.request_publishing(key.into(), PublishRequestType::Live).unwrap();
        publisher.send(vec![publish]).await;
        let accepted = publisher
            .read_until(|event| {
                matches!(
                    event,
                    ClientSessionEvent::PublishRequestAccepted | ClientSessionEvent::UnhandleableOnStatusCode { .. }
                )
            })
            .await;
        let accepted = accepted && publisher.events.contains(&ClientSessionEvent::PublishRequestAccepted);
        (publisher, accepted)
    }

    fn rejection_code(&self) -> Option<String> {
        self.events.iter().find_map(|event| match event {
            ClientSessionEvent::UnhandleableOnStatusCode { code } => Some(code.clone()),
            _ => None,
        })
    }

    /// Replays the fixture at real-time pace.
    async fn replay(&mut self) {
        let started = tokio::time::Instant::now();
        for tag in FlvFileReader::new(Bytes::from_static(FIXTURE)).unwrap() {
            let tag = tag.unwrap();
            let timestamp = RtmpTimestamp::new(tag.timestamp);
            let result = match tag.tag_type {
                TAG_VIDEO => self.session.publish_video_data(tag.body, timestamp, false),
                TAG_AUDIO => self.session.publish_audio_data(tag.body, timestamp, false),
                _ => continue,
            };
            tokio::time::sleep_until(started + Duration::from_millis(u64::from(tag.timestamp))).await;
            self.send(vec![result.unwrap()]).await;
        }
    }
}

fn box_kinds(data: &[u8]) -> Vec<(String, usize, usize)> {
    let mut boxes = Vec::new();
    let mut offset = 0;
    while offset + 8 <= data.len() {
        let size = u32::from_be_bytes(data[offset..offset + 4].try_into().unwrap()) as usize;
        assert!(size >= 8 && offset + size <= data.len(), "box at {offset} has a bad size {size}");
        boxes.push((String::from_utf8_lossy(&data[offset + 4..offset + 8]).into_owned(), offset, size));
        offset += size;
    }
    assert_eq!(offset, data.len(), "trailing bytes after the last box");
    boxes
}

fn find_child<'a>(data: &'a [u8], path: &[&str]) -> Option<&'a [u8]> {
    let Some((first, rest)) = path.split_first() else { return Some(data) };
    let header = if ["stsd"].contains(first) { 16 } else { 8 };
    let (_, offset, size) = box_kinds(data).into_iter().find(|(kind, _, _)| kind == first)?;
    find_child(&data[offset + header.min(size)..offset + size], rest)
}

/// moof (mfhd, traf+), then mdat whose length is what the truns declare.
fn check_fragment(data: &[u8]) {
    let boxes = box_kinds(data);
    let kinds: Vec<&str> = boxes.iter().map(|(kind, _, _)| kind.as_str()).collect();
    assert_eq!(kinds, ["moof", "mdat"], "a part is one moof and one mdat");
    let moof = &data[8..boxes[0].2];
    let children = box_kinds(moof);
    assert_eq!(children[0].0, "mfhd");
    let mut declared = 0usize;
    for (_, offset, size) in children.iter().filter(|(kind, _, _)| kind == "traf") {
        let traf = &moof[offset + 8..offset + size];
        let inner: Vec<String> = box_kinds(traf).into_iter().map(|(kind, _, _)| kind).collect();
        assert_eq!(inner, ["tfhd", "tfdt", "trun"]);
        let trun = find_child(traf, &["trun"]).unwrap();
        let flags = u32::from_be_bytes(trun[0..4].try_into().unwrap()) & 0xff_ffff;
        let count = u32::from_be_bytes(trun[4..8].try_into().unwrap()) as usize;
        let mut cursor = 8 + if flags & 0x1 != 0 { 4 } else { 0 } + if flags & 0x4 != 0 { 4 } else { 0 };
        let per_sample: usize = [0x100, 0x200, 0x400, 0x800].iter().filter(|bit| flags & **bit != 0).count() * 4;
        assert!(flags & 0x200 != 0, "sample sizes are explicit");
        let size_at = if flags & 0x100 != 0 { 4 } else { 0 };
        for _ in 0..count {
            declared += u32::from_be_bytes(trun[cursor + size_at..cursor + size_at + 4].try_into().unwrap()) as usize;
            cursor += per_sample;
        }
    }
    assert_eq!(boxes[1].2 - 8, declared, "mdat holds exactly the samples the truns declare");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmp_publish_becomes_ll_hls() {
    let servers = start_servers().await;
    let base = format!("http://{}/live/demo/", servers.http);

    let (mut bad, accepted) = Publisher::publish(servers.rtmp, "wrong-key-0123456789").await;
    assert!(!accepted, "a wrong key must be refused");
    assert_eq!(bad.rejection_code().as_deref(), Some("NetStream.Publish.BadName"));
    assert!(!bad.read_until(|_| false).await, "the refused connection is closed");

    let (mut publisher, accepted) = Publisher::publish(servers.rtmp, KEY).await;
    assert!(accepted);
    let (mut second, accepted) = Publisher::publish(servers.rtmp, KEY).await;
    assert!(!accepted, "a second publisher on a live key is refused");
    assert_eq!(second.rejection_code().as_deref(), Some("NetStream.Publish.BadName"));
    let _ = second.socket.shutdown().await;
    let publishing = tokio::spawn(async move {
        publisher.replay().await;
        let _ = publisher.socket.shutdown().await;
    });

    let multivariant = get_str(&format!("{base}index.m3u8"), TIMEOUT).await.unwrap();
    assert_eq!(multivariant.status, 200);
    let text = multivariant.text();
    assert!(
        text.contains("CODECS=\"avc1.") && text.contains("mp4a.40.2") && text.contains("RESOLUTION=320x240"),
        "{text}"
    );

    // Follow the live edge with blocking reloads, fetching each part once.
    let mut fetched: Vec<((u64, u32), Bytes)> = Vec::new();
    let mut next: Option<(u64, u32)> = None;
    let mut ended = false;
    for _ in 0..200 {
        let url = match next {
            None => format!("{base}media.m3u8"),
            Some((msn, part)) => format!("{base}media.m3u8?_HLS_msn={msn}&_HLS_part={part}"),
        };
        let response = get_str(&url, TIMEOUT).await.unwrap();
        assert_eq!(response.status, 200, "{url}");
        let playlist = response.text();
        ended = playlist.contains("#EXT-X-ENDLIST");
        let mut msn = playlist
            .lines()
            .find_map(|line| line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
            .unwrap()
            .parse::<u64>()
            .unwrap();
        let mut index = 0u32;
        for line in playlist.lines() {
            if let Some(attributes) = line.strip_prefix("#EXT-X-PART:") {
                let uri = attributes.split("URI=\"").nth(1).unwrap().split('"').next().unwrap();
                assert_eq!(uri, format!("seg{msn}.{index}.m4s"));
                if !fetched.iter().any(|(position, _)| *position == (msn, index)) {
                    let part = get_str(&format!("{base}{uri}"), TIMEOUT).await.unwrap();
                    assert_eq!(part.status, 200);
                    assert!(part.header("cache-control").unwrap().contains("immutable"));
                    check_fragment(&part.body);
                    fetched.push(((msn, index), Bytes::from(part.body)));
                }
                index += 1;
            } else if line.starts_with("seg") {
                msn += 1;
                index = 0;
            }
        }
        if ended {
            break;
        }
        let (last_msn, last_part) = fetched.last().map(|(position, _)| *position).unwrap_or((0, 0));
        next = Some(if next.is_none() && fetched.is_empty() { (0, 0) } else { (last_msn, last_part + 1) });
    }
    publishing.await.unwrap();
    assert!(ended, "the playlist ends after the grace period");
    assert!(fetched.len() >= 14, "about 3 s of 0.2 s parts, got {}", fetched.len());

    let init = get_str(&format!("{base}init0.mp4"), TIMEOUT).await.unwrap();
    assert_eq!(box_kinds(&init.body).iter().map(|(kind, _, _)| kind.as_str()).collect::<Vec<_>>(), ["ftyp", "moov"]);
    let moov = find_child(&init.body, &["moov"]).unwrap();
    assert!(find_child(moov, &["mvex", "trex"]).is_some());
    let traks: Vec<_> = box_kinds(moov).into_iter().filter(|(kind, _, _)| kind == "trak").collect();
    assert_eq!(traks.len(), 2);
    let sample_entries: Vec<String> = traks
        .iter()
        .map(|(_, offset, size)| {
            let stsd = find_child(&moov[offset + 8..offset + size], &["mdia", "minf", "stbl", "stsd"]).unwrap();
            String::from_utf8_lossy(&stsd[4..8]).into_owned()
        })
        .collect();
    assert_eq!(sample_entries, ["avc1", "mp4a"]);

    // Each segment is exactly its parts joined.
    let segments: std::collections::BTreeSet<u64> = fetched.iter().map(|((msn, _), _)| *msn).collect();
    for msn in segments {
        let segment = get_str(&format!("{base}seg{msn}.m4s"), TIMEOUT).await.unwrap();
        assert_eq!(segment.status, 200);
        let joined: Vec<u8> =
            fetched.iter().filter(|((of, _), _)| *of == msn).flat_map(|(_, data)| data.to_vec()).collect();
        assert_eq!(segment.body, joined, "segment {msn} differs from its parts");
    }
    let missing = get_str(&format!("{base}seg999.m4s"), TIMEOUT).await.unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("cache-control"), Some("no-store"));
}
