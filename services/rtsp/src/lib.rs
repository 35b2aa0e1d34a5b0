//! The RTSP push server: encoders and `ffmpeg -f rtsp` publish with
//! ANNOUNCE, SETUP (TCP interleaved or UDP), RECORD and TEARDOWN to
//! `rtsp://host:port/<app>/<stream-key>`, or with RTSP Digest (password =
//! stream key) to `rtsp://user:KEY@host:port/<app>/<stream-name>`. The key
//! is checked through the same [`publisher::Gate`] as RTMP, and frames
//! reach the live edge exactly as an RTMP publisher's do. The protocol
//! itself lives in `media::rtsp`; this is the tokio shell. Camera pulls
//! (RTSP in the other direction) are the `cameras` crate.

// Network input reaches this crate: nothing here may panic on it.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

mod auth;
mod connection;
mod udp;

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use listener::{Limits, Listener, Shutdown};
use media::rtsp::RtspLimits;
use publisher::Gate;

/// Push server settings; defaults in [`Default`].
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// Bounds on request lines, headers and bodies.
    pub limits: RtspLimits,
    /// A connection that sends nothing this long is dropped (10 s); over
    /// UDP, a session whose RTP stops this long ends.
    pub idle_timeout: Duration,
    /// Local ports for RTP over UDP, an even RTP and the next odd RTCP port
    /// per track (none: ephemeral ports chosen by the system).
    pub udp_ports: Option<RangeInclusive<u16>>,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self { limits: RtspLimits::default(), idle_timeout: Duration::from_secs(10), udp_ports: None }
    }
}

/// What the listener allows an RTSP connection by default: 1000 at once,
/// an ANNOUNCE accepted within 10 s. Idleness is the connection's own
/// business: over UDP the control connection may rightly stay silent.
pub fn default_limits() -> Limits {
    Limits {
        max_connections: 1000,
        max_per_address: 0,
        max_waiting_per_address: 32,
        useful_within: Some(Duration::from_secs(10)),
        idle_timeout: None,
        write_timeout: Some(Duration::from_secs(10)),
    }
}

/// Accepts RTSP publishers through `gate` until `shutdown` begins, then
/// closes every open connection and returns once they are gone.
pub async fn run(listener: Listener, gate: Gate, config: PushConfig, shutdown: Shutdown) {
    let config = Arc::new(config);
    listener
        .serve(shutdown, move |connection| {
            connection::serve(connection, connection::Context { gate: gate.clone(), config: config.clone() })
        })
        .await
}
