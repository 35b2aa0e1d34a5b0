//! The RTSP push server: encoders and `ffmpeg -f rtsp` publish with
//! ANNOUNCE, SETUP (TCP interleaved or UDP), RECORD and TEARDOWN to
//! `rtsp://host:port/<app>/<stream-key>`, or with RTSP Digest (password =
//! stream key) to `rtsp://user:KEY@host:port/<app>/<stream-name>`. The key
//! is checked through the same [`publisher::Gate`] as RTMP, and frames
//! reach the live edge exactly as an RTMP publisher's do. The protocol
//! itself lives in `media::rtsp`; this is the tokio shell. Camera pulls
//! (RTSP in the other direction) are the `cameras` crate.

mod auth;
mod connection;
mod udp;

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use live::Registry;
use media::rtsp::RtspLimits;
use publisher::{Gate, StreamAuthorizer};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Push server settings; defaults in [`Default`].
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// Bounds on request lines, headers and bodies.
    pub limits: RtspLimits,
    /// A connection that sends nothing this long is dropped (10 s); over
    /// UDP, a session whose RTP stops this long ends.
    pub idle_timeout: Duration,
    /// Most concurrent RTSP connections (1000).
    pub max_connections: usize,
    /// The application path publishers use, as in rtsp://host/live/KEY (live).
    pub app: String,
    /// Local ports for RTP over UDP, an even RTP and the next odd RTCP port
    /// per track (none: ephemeral ports chosen by the system).
    pub udp_ports: Option<RangeInclusive<u16>>,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            limits: RtspLimits::default(),
            idle_timeout: Duration::from_secs(10),
            max_connections: 1000,
            app: "live".into(),
            udp_ports: None,
        }
    }
}

/// Accepts RTSP publishers on `listener` until `shutdown` turns true, then
/// closes every open connection and returns once they are gone.
pub async fn run(
    listener: TcpListener,
    registry: Arc<Registry>,
    authorizer: Arc<dyn StreamAuthorizer>,
    config: PushConfig,
    shutdown: watch::Receiver<bool>,
) {
    let max_connections = config.max_connections;
    let gate = Gate::new(registry, authorizer, config.app.clone());
    let config = Arc::new(config);
    let connection_shutdown = shutdown.clone();
    ::listener::accept_until_shutdown(listener, max_connections, shutdown, "RTSP", |socket, peer| {
        let context =
            connection::Context { gate: gate.clone(), config: config.clone(), shutdown: connection_shutdown.clone() };
        connection::serve(socket, peer, context)
    })
    .await
}
