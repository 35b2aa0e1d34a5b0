//! One RTSP publisher connection: requests answered in order, RTP packets
//! (interleaved or over UDP) depacketized by `media::rtsp::PushSession`
//! into the live edge.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use listener::{Connection, GuardedStream, Shutdown, UsefulMark};
use media::rtsp::{MessageReader, PushSession, RecordTransport, Request, Response, RtspInput};
use publisher::{Close, Gate, Publication};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::Instrument;

use crate::auth::{self, DigestGate, Refusal};
use crate::udp::UdpTracks;
use crate::PushConfig;

const READ_BUFFER: usize = 64 * 1024;
const READ_BUFFER_BEFORE_ANNOUNCE: usize = 4 * 1024;
const PUBLIC_METHODS: &str = "OPTIONS, ANNOUNCE, SETUP, RECORD, TEARDOWN, GET_PARAMETER, SET_PARAMETER";

pub(crate) struct Context {
    pub gate: Gate,
    pub config: Arc<PushConfig>,
}

/// What the close log line tells about the session.
#[derive(Debug)]
#[allow(dead_code)] // read through Debug only
struct SessionCounters {
    media: media::rtsp::PushStats,
    foreign_udp_packets: u64,
}

pub(crate) async fn serve(connection: Connection, context: Context) {
    let Connection { stream: socket, peer, useful, shutdown } = connection;
    let span = tracing::info_span!("rtsp_push", %peer, stream = tracing::field::Empty);
    let local_ip = socket.get_ref().local_addr().map_or(peer.ip(), |local| local.ip());
    let mut publisher = Publisher {
        context,
        peer,
        useful,
        local_ip,
        announced: None,
        recording: false,
        session_id: session_id(peer),
        digest: DigestGate::default(),
        udp: UdpTracks::new(peer.ip()),
        last_rtp: Instant::now(),
    };
    let close = publisher.run(socket, shutdown).instrument(span.clone()).await;
    let _entered = span.enter();
    let counters = SessionCounters {
        media: publisher.announced.as_ref().map(|announced| announced.push.stats()).unwrap_or_default(),
        foreign_udp_packets: publisher.udp.foreign_packets(),
    };
    close.log("RTSP", &counters);
}

/// What an accepted ANNOUNCE set up.
struct Announced {
    /// `/<app>/<key or name>`, the prefix every later request URI must have.
    path: String,
    push: PushSession,
    live: Publication,
}

struct Publisher {
    context: Context,
    peer: SocketAddr,
    /// Marked once an ANNOUNCE is accepted; the listener closes connections
    /// that are not useful in time.
    useful: UsefulMark,
    /// The address the publisher reached us on; UDP ports are bound there.
    local_ip: IpAddr,
    announced: Option<Announced>,
    recording: bool,
    session_id: String,
    digest: DigestGate,
    udp: UdpTracks,
    /// When the last RTP datagram arrived over UDP.
    last_rtp: Instant,
}

impl Publisher {
    async fn run(&mut self, mut socket: GuardedStream, shutdown: Shutdown) -> Close {
        // Small until the ANNOUNCE is accepted: a connection that never
        // names a valid key costs little.
        let mut reader = MessageReader::new(self.context.config.limits.before_announce());
        let mut buffer = vec![0u8; READ_BUFFER_BEFORE_ANNOUNCE];
        let mut frames = Vec::new();
        let mut last_read = Instant::now();
        loop {
            if self.announced.is_some() && buffer.len() < READ_BUFFER {
                reader.set_limits(self.context.config.limits);
                buffer.resize(READ_BUFFER, 0);
            }
            // Over UDP the control connection may stay silent: RTP is what must keep coming.
            let quiet_since = if self.recording && self.udp.in_use() { self.last_rtp } else { last_read };
            let deadline = tokio::time::Instant::from_std(quiet_since + self.context.config.idle_timeout);
            let read = tokio::select! {
                read = socket.read(&mut buffer) => read,
                Some((channel, data)) = self.udp.next() => {
                    if channel % 2 == 0 {
                        self.last_rtp = Instant::now();
                    }
                    if let Err(close) = self.media(channel, data, &mut frames) {
                        return close;
                    }
                    continue;
                }
                _ = tokio::time::sleep_until(deadline) => return Close::Idle,
                _ = kicked(&self.announced) => return Close::TakenOver,
                _ = shutdown.begun() => return Close::ShuttingDown,
            };
            last_read = Instant::now();
            let count = match read {
                Err(error) => return Close::failed(error),
                Ok(0) => return Close::PeerClosed,
                Ok(count) => count,
            };
            metrics::counter!("relay_ingest_received_bytes_total", "protocol" => "rtsp").increment(count as u64);
            reader.push(buffer.get(..count).unwrap_or_default());
            loop {
                let input = match reader.next_input() {
                    Ok(Some(input)) => input,
                    Ok(None) => break,
                    Err(error) => {
                        let reply = Response { status: 400, headers: Vec::new(), body: Default::default() };
                        let _ = socket.write_all(&reply.serialize()).await;
                        return Close::failed(error);
                    }
                };
                match input {
                    RtspInput::Interleaved { channel, data } if !self.udp.in_use() => {
                        if let Err(close) = self.media(channel, data, &mut frames) {
                            return close;
                        }
                    }
                    RtspInput::Interleaved { .. } => {} // the session's RTP comes over UDP
                    RtspInput::Request(request) => {
                        let (response, close) = self.request(&request).await;
                        if let Err(error) = socket.write_all(&response.serialize()).await {
                            return Close::failed(error);
                        }
                        if let Some(close) = close {
                            return close;
                        }
                    }
                }
            }
        }
    }

    fn media(&mut self, channel: u8, data: bytes::Bytes, frames: &mut Vec<media::MediaFrame>) -> Result<(), Close> {
        let Some(announced) = self.announced.as_mut().filter(|_| self.recording) else {
            return Ok(()); // media before RECORD is ignored
        };
        announced.push.push_interleaved(channel, data, frames);
        for frame in frames.drain(..) {
            announced.live.push(frame).map_err(Close::failed)?;
        }
        Ok(())
    }

    async fn request(&mut self, request: &Request) -> (Response, Option<Close>) {
        if let Some(session) = request.header("Session") {
            let id = session.split(';').next().unwrap_or_default().trim();
            if self.announced.is_some() && id != self.session_id {
                return (Response::to(request, 454), None);
            }
        }
        match request.method.as_str() {
            "OPTIONS" => (Response::to(request, 200).with_header("Public", PUBLIC_METHODS), None),
            "GET_PARAMETER" | "SET_PARAMETER" => (self.with_session(Response::to(request, 200)), None),
            "ANNOUNCE" => match self.announce(request).await {
                Ok(()) => {
                    self.useful.mark();
                    (self.with_session(Response::to(request, 200)), None)
                }
                Err(Refusal::Challenge(header)) => {
                    (Response::to(request, 401).with_header("WWW-Authenticate", header), None)
                }
                Err(Refusal::Close(status, why)) => (Response::to(request, status), Some(Close::Rejected(why))),
            },
            "SETUP" => (self.setup(request).await, None),
            "RECORD" => self.record(request),
            "TEARDOWN" => (Response::to(request, 200), Some(Close::Finished)),
            _ => (Response::to(request, 405).with_header("Allow", PUBLIC_METHODS), None),
        }
    }

    fn with_session(&self, response: Response) -> Response {
        match self.announced {
            Some(_) => response.with_header("Session", format!("{};timeout=60", self.session_id)),
            None => response,
        }
    }

    /// Checks the key, claims the stream and parses the SDP. Mirrors the
    /// RTMP publish: authorize, claim, then begin publishing on the edge.
    async fn announce(&mut self, request: &Request) -> Result<(), Refusal> {
        if self.announced.is_some() {
            return Err(Refusal::Close(455, "second ANNOUNCE on one connection"));
        }
        let segments = path_segments(&request.uri);
        let [app, key_or_name] = segments.as_slice() else {
            return Err(Refusal::Close(404, "path is not /<app>/<stream key or name>"));
        };
        if *app != self.context.gate.app() {
            return Err(Refusal::Close(404, "unknown application"));
        }
        let content_type = request.header("Content-Type").unwrap_or("application/sdp");
        if !content_type.to_ascii_lowercase().starts_with("application/sdp") {
            return Err(Refusal::Close(415, "ANNOUNCE body is not SDP"));
        }
        let push = PushSession::from_sdp(&request.body).map_err(|error| {
            tracing::warn!(%error, "ANNOUNCE refused: unusable SDP");
            Refusal::Close(415, "unusable SDP")
        })?;
        let gate = &self.context.gate;
        let stream = auth::authenticate(gate, &mut self.digest, request, app, key_or_name, self.peer).await?;
        tracing::Span::current().record("stream", stream.as_str());
        let live = gate.open(&stream, Some(self.peer)).await.map_err(|refusal| auth::refused(&refusal))?;
        tracing::info!(tracks = ?push.describe(), "RTSP publish announced");
        self.announced = Some(Announced { path: format!("/{app}/{key_or_name}"), push, live });
        Ok(())
    }

    async fn setup(&mut self, request: &Request) -> Response {
        let Some(announced) = self.announced.as_mut() else { return Response::to(request, 455) };
        if self.recording {
            return Response::to(request, 455);
        }
        if !uri_path(&request.uri).starts_with(&announced.path) {
            return Response::to(request, 404);
        }
        let Some(track) = announced.push.track_for_setup(&request.uri) else { return Response::to(request, 404) };
        let transport = request.header("Transport").unwrap_or_default();
        let reply = match RecordTransport::choose(transport) {
            // One session uses one transport: mixing would let UDP and TCP channels collide.
            Some(RecordTransport::Interleaved { rtp_channel }) if !self.udp.in_use() => {
                if announced.push.bind_channel(track, rtp_channel).is_err() {
                    return Response::to(request, 461);
                }
                format!("RTP/AVP/TCP;unicast;interleaved={}-{};mode=record", rtp_channel, rtp_channel.saturating_add(1))
            }
            Some(RecordTransport::Udp { client_rtp_port, client_rtcp_port })
                if !announced.push.is_set_up() || self.udp.in_use() =>
            {
                // UDP datagrams are fed in as if they came on channels 2 * track and 2 * track + 1.
                let Some(channel) = u8::try_from(track).ok().and_then(|track| track.checked_mul(2)) else {
                    return Response::to(request, 461);
                };
                if announced.push.bind_reordered_channel(track, channel).is_err() {
                    return Response::to(request, 461);
                }
                let range = self.context.config.udp_ports.as_ref();
                let server_port = match self.udp.open(self.local_ip, range, channel).await {
                    Ok(port) => port,
                    Err(error) => {
                        tracing::warn!(%error, "SETUP refused: no UDP port pair");
                        return Response::to(request, 500);
                    }
                };
                format!(
                    "RTP/AVP/UDP;unicast;client_port={client_rtp_port}-{client_rtcp_port};server_port={}-{};mode=record",
                    server_port,
                    server_port + 1
                )
            }
            _ => return Response::to(request, 461),
        };
        self.with_session(Response::to(request, 200).with_header("Transport", reply))
    }

    fn record(&mut self, request: &Request) -> (Response, Option<Close>) {
        let Some(announced) = self.announced.as_mut().filter(|announced| announced.push.is_set_up()) else {
            return (Response::to(request, 455), None);
        };
        if !self.recording {
            for frame in announced.push.initial_frames() {
                if let Err(error) = announced.live.push(frame) {
                    let close = Close::failed(error);
                    return (Response::to(request, 415), Some(close));
                }
            }
            self.recording = true;
            self.last_rtp = Instant::now(); // the UDP stall clock starts now
            tracing::info!(udp = self.udp.in_use(), "RTSP publishing");
        }
        (self.with_session(Response::to(request, 200)), None)
    }
}

/// The path of a request URI (absolute `rtsp://host/...` or already a path), without its query.
pub(crate) fn uri_path(uri: &str) -> &str {
    let without_scheme = uri
        .split_once("://")
        .map(|(_, rest)| rest.find('/').and_then(|slash| rest.get(slash..)).unwrap_or(""))
        .unwrap_or(uri);
    without_scheme.split(['?', '#']).next().unwrap_or_default()
}

fn path_segments(uri: &str) -> Vec<&str> {
    uri_path(uri).split('/').filter(|segment| !segment.is_empty()).collect()
}

fn session_id(peer: SocketAddr) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |time| time.as_nanos());
    format!("{:016x}", (nanos as u64) ^ u64::from(peer.port()).rotate_left(48))
}

async fn kicked(announced: &Option<Announced>) {
    match announced {
        Some(announced) => announced.live.kicked().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(path_segments("rtsp://127.0.0.1:8554/live/abc?x=1"), ["live", "abc"]);
        assert_eq!(path_segments("/live/abc/streamid=0"), ["live", "abc", "streamid=0"]);
        assert_eq!(path_segments("rtsp://host"), Vec::<&str>::new());
        assert_eq!(uri_path("rtsp://user@host:1/live/a"), "/live/a");
    }
}
