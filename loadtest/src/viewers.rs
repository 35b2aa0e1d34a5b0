//! Many LL-HLS viewers parked in blocking playlist reloads on one origin:
//! what each costs the server in memory, and how quickly the origin
//! releases all of them once the part they wait for exists.
//!
//! Every round starts when a segment N starts; each viewer then asks on its
//! own keep-alive connection for the first part of segment N+2, so the whole
//! crowd is blocked for about two segments before that part appears.
//! The server's resident memory is read while they are all blocked. Release
//! time is measured per viewer from the first response of the round: the
//! server writes that one as soon as the part is published, so the figure is
//! the fan-out delay up to the last viewer, client scheduling included.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_rustls::client::TlsStream;

use crate::http::{get, HttpError, Url};
use crate::playlist::parse_media;
use crate::stats::percentile;

/// Connections opened at the same time while ramping up.
const RAMP_BATCH: usize = 200;
/// A blocked request that gets no answer within this is counted as failed.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time after the last request is written before memory is read, so the
/// server has parsed them all.
const SETTLE: Duration = Duration::from_millis(300);

/// What each viewer's connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTP/1.1 on plain TCP (an http:// playlist).
    Http1,
    /// HTTP/1.1 over TLS (an https:// playlist).
    Http1Tls,
    /// HTTP/2 over TLS, one connection per viewer as a browser has.
    Http2,
}

impl Transport {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "http1" => Some(Transport::Http1),
            "http1-tls" => Some(Transport::Http1Tls),
            "h2" => Some(Transport::Http2),
            _ => None,
        }
    }
}

/// One viewer's connection.
enum Viewer {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Http2(crate::h2::Sender),
}

pub struct ViewersConfig {
    /// The media playlist, e.g. `http://127.0.0.1:8080/live/cam/media.m3u8`.
    pub playlist: Url,
    /// Http1 needs an http:// playlist, the others https:// (with the roots
    /// given to [`crate::h2::trust_ca_pem`]).
    pub transport: Transport,
    pub viewers: usize,
    pub rounds: usize,
    /// The origin process whose memory is read (Linux /proc), if any.
    pub server_pid: Option<u32>,
}

#[derive(Debug, Default)]
pub struct ViewersReport {
    pub viewers: usize,
    pub rss_before_kib: Option<u64>,
    /// Highest server RSS seen while a round's viewers were all blocked.
    pub rss_blocked_kib: Option<u64>,
    /// Per viewer per round: seconds from the round's first response to its own.
    pub release_s: Vec<f64>,
    /// Responses that were not a 200 or never came.
    pub failures: usize,
    /// Rounds where some response came before memory was read (the sample
    /// then undercounts blocked viewers).
    pub early_rounds: usize,
}

/// Resident set size of `pid` in KiB, from /proc.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub async fn run_viewers(config: &ViewersConfig) -> Result<ViewersReport, HttpError> {
    let mut report = ViewersReport {
        viewers: config.viewers,
        rss_before_kib: config.server_pid.and_then(rss_kib),
        ..ViewersReport::default()
    };
    let mut connections = open_connections(&config.playlist, config.viewers, config.transport).await?;
    for _ in 0..config.rounds {
        let target = next_round_target(&config.playlist).await?;
        let url = config.playlist.with_query(&[("_HLS_msn", target.to_string()), ("_HLS_part", "0".to_string())]);
        let request = Arc::new(Request {
            raw: format!(
                "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: loadtest-viewers\r\n\r\n",
                url.target, url.host, url.port
            ),
            url: url.to_string(),
        });
        let written = Arc::new(AtomicUsize::new(0));
        let answered = Arc::new(AtomicUsize::new(0));
        let mut tasks = JoinSet::new();
        for stream in connections.drain(..) {
            tasks.spawn(blocking_reload(stream, request.clone(), written.clone(), answered.clone()));
        }
        while written.load(Ordering::SeqCst) < config.viewers && !tasks.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(SETTLE).await;
        if answered.load(Ordering::SeqCst) > 0 {
            report.early_rounds += 1;
        }
        let rss = config.server_pid.and_then(rss_kib);
        report.rss_blocked_kib = report.rss_blocked_kib.max(rss);
        let mut arrivals = Vec::with_capacity(config.viewers);
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((stream, Some(arrived))) => {
                    arrivals.push(arrived);
                    connections.push(stream);
                }
                Ok((stream, None)) => {
                    report.failures += 1;
                    connections.push(stream);
                }
                Err(_) => report.failures += 1,
            }
        }
        if let Some(first) = arrivals.iter().min().copied() {
            report.release_s.extend(arrivals.iter().map(|arrived| arrived.duration_since(first).as_secs_f64()));
        }
    }
    Ok(report)
}

/// Waits for the next segment to start, then names the one after the
/// segment after it: about two segments away, and never further ahead than
/// an origin accepts (two segments past the newest).
async fn next_round_target(playlist: &Url) -> Result<u64, HttpError> {
    let current = parse_media(&get_ok(playlist).await?).next_msn;
    let started = playlist.with_query(&[("_HLS_msn", (current + 1).to_string()), ("_HLS_part", "0".to_string())]);
    Ok(parse_media(&get_ok(&started).await?).next_msn + 2)
}

async fn get_ok(url: &Url) -> Result<String, HttpError> {
    let response = get(url, &[], RESPONSE_TIMEOUT).await?;
    if response.status != 200 {
        return Err(HttpError(format!("{url}: status {}", response.status)));
    }
    Ok(response.text())
}

async fn open_connections(url: &Url, count: usize, transport: Transport) -> Result<Vec<Viewer>, HttpError> {
    let mut connections = Vec::with_capacity(count);
    while connections.len() < count {
        let mut tasks = JoinSet::new();
        for _ in 0..RAMP_BATCH.min(count - connections.len()) {
            let url = url.clone();
            tasks.spawn(async move { open_viewer(&url, transport).await });
        }
        while let Some(joined) = tasks.join_next().await {
            connections.push(joined.map_err(|e| HttpError(format!("connect task: {e}")))??);
        }
    }
    Ok(connections)
}

async fn open_viewer(url: &Url, transport: Transport) -> Result<Viewer, HttpError> {
    let stream = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| HttpError(format!("connect {url}: {e}")))?;
    stream.set_nodelay(true).ok();
    Ok(match transport {
        Transport::Http1 => Viewer::Plain(stream),
        Transport::Http1Tls => Viewer::Tls(Box::new(crate::h2::tls_over(url, stream, b"http/1.1").await?)),
        Transport::Http2 => Viewer::Http2(crate::h2::http2_over(url, stream).await?),
    })
}

/// The round's request, raw for HTTP/1.1 and as a URL for HTTP/2.
struct Request {
    raw: String,
    url: String,
}

/// One blocking reload on a kept-alive connection; returns the connection
/// and when the response's first byte arrived (None on failure).
async fn blocking_reload(
    viewer: Viewer,
    request: Arc<Request>,
    written: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
) -> (Viewer, Option<Instant>) {
    match viewer {
        Viewer::Plain(mut stream) => {
            let arrived = reload_http1(&mut stream, &request.raw, &written, &answered).await;
            (Viewer::Plain(stream), arrived)
        }
        Viewer::Tls(mut stream) => {
            let arrived = reload_http1(&mut *stream, &request.raw, &written, &answered).await;
            (Viewer::Tls(stream), arrived)
        }
        Viewer::Http2(mut sender) => {
            let arrived = reload_http2(&mut sender, &request.url, &written, &answered).await;
            (Viewer::Http2(sender), arrived)
        }
    }
}

async fn reload_http1<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &str,
    written: &AtomicUsize,
    answered: &AtomicUsize,
) -> Option<Instant> {
    let sent = stream.write_all(request.as_bytes()).await;
    written.fetch_add(1, Ordering::SeqCst);
    sent.ok()?;
    let arrived = tokio::time::timeout(RESPONSE_TIMEOUT, read_response(stream)).await;
    answered.fetch_add(1, Ordering::SeqCst);
    match arrived {
        Ok(Ok((200, arrived))) => Some(arrived),
        _ => None,
    }
}

async fn reload_http2(
    sender: &mut crate::h2::Sender,
    url: &str,
    written: &AtomicUsize,
    answered: &AtomicUsize,
) -> Option<Instant> {
    let request = hyper::Request::get(url).body(http_body_util::Empty::new());
    let (Ok(()), Ok(request)) = (sender.ready().await, request) else {
        written.fetch_add(1, Ordering::SeqCst);
        return None;
    };
    let response = sender.send_request(request);
    // The request is on the wire once the stream is opened; sent now.
    written.fetch_add(1, Ordering::SeqCst);
    let response = tokio::time::timeout(RESPONSE_TIMEOUT, response).await;
    answered.fetch_add(1, Ordering::SeqCst);
    let response = response.ok()?.ok()?;
    let arrived = Instant::now();
    let ok = response.status() == 200;
    let body = tokio::time::timeout(RESPONSE_TIMEOUT, http_body_util::BodyExt::collect(response.into_body())).await;
    (ok && matches!(body, Ok(Ok(_)))).then_some(arrived)
}

/// Reads one Content-Length response; returns its status and first-byte time.
async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<(u16, Instant)> {
    let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut first_byte = None;
    let head_end = loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(invalid("closed before the response head"));
        }
        first_byte.get_or_insert_with(Instant::now);
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        if buffer.len() > 64 * 1024 {
            return Err(invalid("response head too large"));
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).ok_or_else(|| invalid("status"))?;
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .ok_or_else(|| invalid("no content-length"))?;
    let mut remaining = (head_end + length).saturating_sub(buffer.len());
    while remaining > 0 {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(invalid("closed inside the body"));
        }
        remaining = remaining.saturating_sub(read);
    }
    Ok((status, first_byte.unwrap_or_else(Instant::now)))
}

impl ViewersReport {
    pub fn to_json(&self) -> serde_json::Value {
        let ms = |p: f64| percentile(&self.release_s, p).map(|seconds| (seconds * 1e5).round() / 100.0);
        let per_viewer = match (self.rss_before_kib, self.rss_blocked_kib) {
            (Some(before), Some(blocked)) if self.viewers > 0 => {
                Some(blocked.saturating_sub(before) * 1024 / self.viewers as u64)
            }
            _ => None,
        };
        serde_json::json!({
            "viewers": self.viewers,
            "rss_before_kib": self.rss_before_kib,
            "rss_blocked_kib": self.rss_blocked_kib,
            "bytes_per_blocked_viewer": per_viewer,
            "release_after_first_ms": {
                "count": self.release_s.len(),
                "p50": ms(50.0),
                "p99": ms(99.0),
                "max": ms(100.0),
            },
            "failures": self.failures,
            "early_rounds": self.early_rounds,
        })
    }
}
