//! An RTMP server and an origin in this process on port 0, and an RTMP
//! publisher built on rml_rtmp's client session (a peer implementation of
//! the protocol, not ours).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use live::{LiveConfig, Registry};
use media::flv::{FlvFileReader, TAG_AUDIO, TAG_VIDEO};
use origin::{AccessControl, Origin};
use publisher::{AuthFuture, StreamAuthorizer};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::TempDir;

/// The one stream key the servers know; it publishes stream `demo`.
pub const KEY: &str = "test-key-0123456789";
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Knows [`KEY`] only.
pub struct OneKey;

impl StreamAuthorizer for OneKey {
    fn authorize<'a>(&'a self, _app: &'a str, key: &'a str, _peer: SocketAddr) -> AuthFuture<'a> {
        Box::pin(async move { Ok((key == KEY).then(|| "demo".to_string())) })
    }
}

pub struct Servers {
    pub rtmp: SocketAddr,
    pub http: SocketAddr,
    pub store: Arc<dyn storage::ObjectStore>,
    /// Begun when the servers are dropped.
    shutdown: listener::Shutdown,
    /// The store's directory, removed with the servers.
    _root: TempDir,
}

pub async fn start_servers() -> Servers {
    start_servers_with(rtmp::default_limits()).await
}

/// With `rtmp_limits` on the RTMP listener.
pub async fn start_servers_with(rtmp_limits: listener::Limits) -> Servers {
    start_servers_with_access(rtmp_limits, Arc::new(AccessControl::public())).await
}

pub async fn start_servers_with_access(rtmp_limits: listener::Limits, access: Arc<AccessControl>) -> Servers {
    let root = TempDir::new("live-path");
    let store: Arc<dyn storage::ObjectStore> = Arc::new(storage::LocalDirStore::new(root.path().to_owned()));
    let writer = live::spawn_storage_writer(store.clone(), 64);
    let config = LiveConfig { reconnect_grace: Duration::from_millis(800), ..LiveConfig::default() };
    let registry = Registry::new(config, Some(writer));
    registry.spawn_housekeeping();
    let shutdown = listener::Shutdown::new();
    let rtmp_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let servers = Servers {
        rtmp: rtmp_listener.local_addr().unwrap(),
        http: http_listener.local_addr().unwrap(),
        store: store.clone(),
        shutdown: shutdown.clone(),
        _root: root,
    };
    let rtmp_listener = listener::Listener::new("rtmp", rtmp_listener, rtmp_limits);
    let gate = publisher::Gate::new(registry.clone(), Arc::new(OneKey), "live");
    tokio::spawn(rtmp::run(rtmp_listener, gate, rtmp::RtmpConfig::default(), shutdown));
    let origin = Arc::new(Origin {
        registry,
        storage: store,
        default_hold: Duration::from_secs(6),
        access,
        upstream: None,
        index: None,
        play_hook: None,
        demand: None,
    });
    serve_origin(http_listener, origin);
    servers
}

/// Serves `origin` on `socket` through the shared listener, room for many
/// viewers, until the test ends.
pub fn serve_origin(socket: TcpListener, origin: Arc<Origin>) {
    let limits = listener::Limits { max_connections: 16_384, ..listener::Limits::default() };
    let listener = listener::Listener::new("http", socket, limits);
    let served = listener::http::serve(listener, origin::router(origin), listener::Shutdown::new());
    tokio::spawn(served);
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.shutdown.begin(tokio::time::Instant::now());
    }
}

/// A publisher speaking RTMP through rml_rtmp's client session.
pub struct Publisher {
    pub socket: TcpStream,
    pub session: ClientSession,
    pub events: Vec<ClientSessionEvent>,
}

impl Publisher {
    pub async fn connect(address: SocketAddr) -> Publisher {
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

    pub async fn send(&mut self, results: Vec<ClientSessionResult>) {
        for result in results {
            match result {
                ClientSessionResult::OutboundResponse(packet) => self.socket.write_all(&packet.bytes).await.unwrap(),
                ClientSessionResult::RaisedEvent(event) => self.events.push(event),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
    }

    /// Reads until `done` accepts an event or the server closes.
    pub async fn read_until(&mut self, done: impl Fn(&ClientSessionEvent) -> bool) -> bool {
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

    pub async fn publish(address: SocketAddr, key: &str) -> (Publisher, bool) {
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

    pub fn rejection_code(&self) -> Option<String> {
        self.events.iter().find_map(|event| match event {
            ClientSessionEvent::UnhandleableOnStatusCode { code } => Some(code.clone()),
            _ => None,
        })
    }

    /// Replays the fixture at real-time pace.
    pub async fn replay(&mut self, fixture: &'static [u8]) {
        let started = tokio::time::Instant::now();
        for tag in FlvFileReader::new(Bytes::from_static(fixture)).unwrap() {
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
