use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clock::Instant;

use listener::{Connection, GuardedStream, Shutdown, UsefulMark};
use media::flv::{parse_audio_tag, parse_video_tag};
use media::rtmp::{RtmpEvent, ServerConnection};
use media::timeline::TimestampUnwrapper;
use media::MediaError;
use publisher::{kicked, Close, Gate, Publication, Refusal};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::server::TlsStream;
use tracing::Instrument;

use crate::RtmpConfig;

/// Bytes taken from the socket per read call.
const READ_BUFFER: usize = 64 * 1024;
/// The same until a publish is accepted: a handshake, connect and publish
/// fit, and a connection that never publishes costs little.
const READ_BUFFER_BEFORE_PUBLISH: usize = 4 * 1024;
/// Wake this long after the frame completing a part is expected, so it is
/// usually read in the same wake-up as the frames before it.
const WAKE_AFTER_DUE: Duration = Duration::from_millis(2);
/// Shorter pauses are not worth a timer.
const MIN_PAUSE: Duration = Duration::from_millis(5);

/// What read pauses are planned from: the publisher's average input rate
/// and how its media clock maps to our monotonic clock.
#[derive(Default)]
struct ReadPacing {
    started: Option<Instant>,
    bytes: u64,
    /// Arrival minus media time, in ms since `started`, of the frames that
    /// were read the moment they arrived.
    clock_offset_ms: Option<f64>,
    /// Media time of the newest frame already used as a sample.
    sampled_media_ms: Option<f64>,
}

impl ReadPacing {
    fn record(&mut self, bytes: usize) {
        self.started.get_or_insert_with(Instant::now);
        self.bytes += bytes as u64;
    }

    /// Time the publisher takes to send `capacity` bytes at its average rate.
    fn time_to_fill(&self, capacity: usize) -> Duration {
        let elapsed = self.started.map_or(Duration::ZERO, |started| started.elapsed());
        if elapsed < Duration::from_secs(1) || self.bytes == 0 {
            return Duration::ZERO;
        }
        elapsed.mul_f64(capacity as f64 / self.bytes as f64)
    }

    /// Notes that the frame at media time `media_ms` has been read by now,
    /// and returns when the frame at `due_ms` should arrive, if in the future.
    /// `waited` says the read blocked until data came, so "now" is the true
    /// arrival; otherwise the data had been waiting and "now" is only an
    /// upper bound, which may lower the offset but never raise it.
    fn wait_for(&mut self, media_ms: f64, due_ms: f64, waited: bool) -> Option<Duration> {
        let started = *self.started.get_or_insert_with(Instant::now);
        let now = Instant::now();
        let offset = now.duration_since(started).as_secs_f64() * 1000.0 - media_ms;
        // Only a batch that brought a newer frame says anything about arrivals.
        let fresh = self.sampled_media_ms.is_none_or(|sampled| media_ms > sampled);
        self.sampled_media_ms = Some(media_ms);
        let learned = match self.clock_offset_ms {
            Some(known) if !fresh => known,
            Some(known) if !waited => known.min(offset),
            _ => offset,
        };
        self.clock_offset_ms = Some(learned);
        let arrival_ms = due_ms + learned;
        let from_now_ms = arrival_ms - now.duration_since(started).as_secs_f64() * 1000.0;
        (from_now_ms > 0.0).then(|| Duration::from_secs_f64(from_now_ms / 1000.0))
    }
}

pub(crate) struct Context {
    pub gate: Gate,
    pub config: Arc<RtmpConfig>,
}

pub(crate) async fn serve(connection: Connection, context: Context) {
    let Connection { stream, peer, useful, shutdown } = connection;
    serve_socket(stream, peer, useful, shutdown, context, "RTMP").await
}

/// Serves an RTMP publisher on `socket`, plain or TLS; `protocol` names
/// it in logs.
pub(crate) async fn serve_socket<S: PublisherSocket>(
    socket: S,
    peer: SocketAddr,
    useful: UsefulMark,
    shutdown: Shutdown,
    context: Context,
    protocol: &'static str,
) {
    let span = tracing::info_span!("rtmp", %peer, tls = protocol == "RTMPS", stream = tracing::field::Empty);
    let close = Publisher::new(context, peer, useful).run(socket, shutdown).instrument(span.clone()).await;
    let _entered = span.enter();
    close.log(protocol, &());
}

/// What a publisher's bytes come through: TCP, or TLS over it.
pub(crate) trait PublisherSocket: AsyncRead + AsyncWrite + Unpin + Send {
    /// Reads what is already waiting without blocking (`WouldBlock` when
    /// nothing is).
    fn try_read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize>;
}

impl PublisherSocket for GuardedStream {
    fn try_read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        GuardedStream::try_read(self, buffer)
    }
}

impl PublisherSocket for TlsStream<GuardedStream> {
    fn try_read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        // One poll without a waker: whatever TLS has decrypted or the
        // socket holds; the next awaited read registers the real waker.
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        let mut read = tokio::io::ReadBuf::new(buffer);
        match std::pin::Pin::new(self).poll_read(&mut context, &mut read) {
            std::task::Poll::Ready(Ok(())) => Ok(read.filled().len()),
            std::task::Poll::Ready(Err(error)) => Err(error),
            std::task::Poll::Pending => Err(std::io::ErrorKind::WouldBlock.into()),
        }
    }
}

struct Publisher {
    context: Context,
    peer: SocketAddr,
    /// Marked once a publish is accepted; the listener closes connections
    /// that are not useful in time.
    useful: UsefulMark,
    rtmp: ServerConnection,
    session: Option<Publication>,
    video_clock: TimestampUnwrapper,
    audio_clock: TimestampUnwrapper,
}

impl Publisher {
    fn new(context: Context, peer: SocketAddr, useful: UsefulMark) -> Self {
        let rtmp = ServerConnection::new(context.config.limits);
        Self {
            context,
            peer,
            useful,
            rtmp,
            session: None,
            video_clock: TimestampUnwrapper::new(),
            audio_clock: TimestampUnwrapper::new(),
        }
    }

    /// Reads, packages and answers until the publisher leaves; an idle
    /// publisher is the listener's to close.
    async fn run<S: PublisherSocket>(mut self, mut socket: S, shutdown: Shutdown) -> Close {
        let mut buffer = vec![0u8; READ_BUFFER_BEFORE_PUBLISH];
        let mut pacing = ReadPacing::default();
        loop {
            if self.session.is_some() && buffer.len() < READ_BUFFER {
                buffer.resize(READ_BUFFER, 0);
            }
            let read_started = Instant::now();
            let read = tokio::select! {
                read = socket.read(&mut buffer) => read,
                _ = kicked(&self.session) => return Close::TakenOver,
                _ = shutdown.begun() => return self.drain(&mut socket).await,
            };
            let mut cycle_bytes = match read {
                Err(error) => return Close::failed(error),
                Ok(0) => return Close::PeerClosed,
                Ok(count) => count,
            };
            let waited = read_started.elapsed() >= Duration::from_millis(1);
            let mut outcome = self.process(buffer.get(..cycle_bytes).unwrap_or_default()).await.err();
            // Take everything already waiting, so a pause below never throttles.
            while outcome.is_none() {
                match socket.try_read(&mut buffer) {
                    Ok(0) => outcome = Some(Close::PeerClosed),
                    Ok(count) => {
                        cycle_bytes += count;
                        outcome = self.process(buffer.get(..count).unwrap_or_default()).await.err();
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(error) => outcome = Some(Close::failed(error)),
                }
            }
            if let Err(error) = self.flush(&mut socket).await {
                return Close::failed(error);
            }
            if let Some(close) = outcome {
                return close;
            }
            pacing.record(cycle_bytes);
            if let Some(pause) = self.pause(&mut pacing, waited) {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = kicked(&self.session) => return Close::TakenOver,
                    _ = shutdown.begun() => return self.drain(&mut socket).await,
                }
            }
        }
    }

    async fn process(&mut self, input: &[u8]) -> Result<(), Close> {
        metrics::counter!("relay_ingest_received_bytes_total", "protocol" => "rtmp").increment(input.len() as u64);
        let events = self.rtmp.feed(input).map_err(media_close)?;
        for event in events {
            self.handle(event).await?;
        }
        Ok(())
    }

    async fn drain<S: PublisherSocket>(&mut self, socket: &mut S) -> Close {
        self.rtmp.disconnect("NetConnection.Connect.Closed", "Server is restarting; reconnect.");
        let _ = self.flush(socket).await;
        Close::ShuttingDown
    }

    /// How long the next read may wait: frames in the middle of a part are
    /// not urgent, only the one that completes it is. Waking once per part
    /// instead of once per TCP segment is most of the ingest CPU. The wait
    /// ends just after the completing frame should arrive, predicted from
    /// reads that saw frames arrive (a late frame is read the moment it arrives),
    /// and is short enough that what arrives meanwhile fits in the buffer.
    fn pause(&self, pacing: &mut ReadPacing, waited: bool) -> Option<Duration> {
        let due = self.session.as_ref()?.part_due()?;
        let until_due = pacing.wait_for(due.newest_frame_ms, due.completing_frame_ms, waited)?;
        let pause = (until_due + WAKE_AFTER_DUE).min(pacing.time_to_fill(READ_BUFFER));
        (pause >= MIN_PAUSE).then_some(pause)
    }
    async fn flush<S: PublisherSocket>(&mut self, socket: &mut S) -> std::io::Result<()> {
        while let Some(bytes) = self.rtmp.take_outgoing() {
            socket.write_all(&bytes).await?;
        }
        Ok(())
    }

    async fn handle(&mut self, event: RtmpEvent) -> Result<(), Close> {
        match event {
            RtmpEvent::Connected { app, .. } => {
                tracing::debug!(%app, "connected");
                Ok(())
            }
            RtmpEvent::PublishRequested { app, stream_key, .. } => self.publish(&app, &stream_key).await,
            RtmpEvent::Metadata { .. } => Ok(()),
            RtmpEvent::Video { timestamp, data } => {
                let Some(session) = self.session.as_mut() else { return Ok(()) };
                let dts_ms = self.video_clock.unwrap(timestamp);
                let frame = parse_video_tag(data).map_err(media_close)?.into_media_frame(dts_ms);
                match frame {
                    Some(frame) => session.push(frame).map_err(media_close),
                    None => Ok(()),
                }
            }
            RtmpEvent::Audio { timestamp, data } => {
                let Some(session) = self.session.as_mut() else { return Ok(()) };
                let dts_ms = self.audio_clock.unwrap(timestamp);
                match parse_audio_tag(data) {
                    Ok(audio) => session.push(audio.into_media_frame(dts_ms)).map_err(media_close),
                    // Audio we cannot package is dropped; the video still plays.
                    Err(MediaError::Unsupported { detail, .. }) => {
                        tracing::debug!(%detail, "audio frame dropped");
                        Ok(())
                    }
                    Err(error) => Err(media_close(error)),
                }
            }
            RtmpEvent::Unpublished => Err(Close::Finished),
        }
    }

    async fn publish(&mut self, app: &str, stream_key: &str) -> Result<(), Close> {
        if self.session.is_some() {
            self.rtmp.reject_publish("NetStream.Publish.BadName", "Already publishing on this connection.");
            return Err(Close::Rejected("second publish on one connection"));
        }
        let gate = &self.context.gate;
        let admitted = match gate.authorize(app, stream_key, self.peer).await {
            Ok(stream) => {
                tracing::Span::current().record("stream", stream.as_str());
                gate.open(&stream, Some(self.peer)).await
            }
            Err(refusal) => Err(refusal),
        };
        match admitted {
            Ok(publication) => {
                tracing::info!("publishing");
                self.useful.mark();
                self.session = Some(publication);
                self.rtmp.accept_publish();
                Ok(())
            }
            Err(refusal) => {
                self.rtmp.reject_publish(status_code(&refusal), refusal.public_message());
                Err(Close::Refused(refusal))
            }
        }
    }
}

/// The RTMP status code a refusal is sent with: `Failed` asks the encoder
/// to retry, `BadName` says the key or stream is wrong.
fn status_code(refusal: &Refusal) -> &'static str {
    if refusal.is_temporary() {
        "NetStream.Publish.Failed"
    } else {
        "NetStream.Publish.BadName"
    }
}

fn media_close(error: MediaError) -> Close {
    Close::failed(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pauses_are_planned_from_the_publishers_rate_and_clock() {
        let mut pacing = ReadPacing::default();
        // Nothing is known in the first second: no pause.
        pacing.record(250_000);
        assert_eq!(pacing.time_to_fill(READ_BUFFER), Duration::ZERO);
        tokio::time::advance(Duration::from_secs(2)).await;
        pacing.record(250_000);
        // 500 kB in 2 s: 64 KiB arrive in about 262 ms.
        let fill = pacing.time_to_fill(READ_BUFFER);
        assert!(fill > Duration::from_millis(255) && fill < Duration::from_millis(270), "{fill:?}");

        // A frame at media time 1000 ms read the moment it arrived (2 s
        // after the start): the publisher's clock is 1000 ms behind ours,
        // so the frame at 1200 ms is due 200 ms from now.
        let wait = pacing.wait_for(1000.0, 1200.0, true).unwrap();
        assert_eq!(wait, Duration::from_millis(200));
        // Data that had waited in the buffer cannot raise the offset.
        tokio::time::advance(Duration::from_millis(100)).await;
        let wait = pacing.wait_for(1050.0, 1200.0, false).unwrap();
        assert_eq!(wait, Duration::from_millis(100), "still due at the same instant");
        // A frame already due is read at once.
        assert_eq!(pacing.wait_for(1100.0, 1100.0, true), None);
    }
}
