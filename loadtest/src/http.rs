//! Minimal HTTP/1.1 GET client over a plain TCP stream.
//!
//! The tools only talk to origins on the loopback interface, so one connection
//! per request (`Connection: close`) is cheap and keeps timing easy to read.
//! Bodies are read via Content-Length, chunked transfer coding or EOF.

use std::fmt;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound for a response head; anything larger is treated as an error.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Upper bound for a body; media parts and segments are far below this.
pub(crate) const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct HttpError(pub String);

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

pub(crate) fn err(msg: impl Into<String>) -> HttpError {
    HttpError(msg.into())
}

/// How a URL is fetched: HTTP/1.1 on plain TCP, or HTTP/2 over TLS
/// ([`crate::h2`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// An `http://` or `https://host:port/path?query` URL split into the parts a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    /// Path plus query, always starting with `/`.
    pub target: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, HttpError> {
        let (scheme, rest, default_port) = if let Some(rest) = text.strip_prefix("http://") {
            (Scheme::Http, rest, 80)
        } else if let Some(rest) = text.strip_prefix("https://") {
            (Scheme::Https, rest, 443)
        } else {
            return Err(err(format!("only http:// and https:// URLs are supported: {text}")));
        };
        let (authority, target) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().map_err(|_| err(format!("bad port in {text}")))?),
            None => (authority, default_port),
        };
        Ok(Url { scheme, host: host.to_string(), port, target: target.to_string() })
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("/")
    }

    /// Resolves a playlist-relative reference (relative path, absolute path or full URL).
    pub fn join(&self, reference: &str) -> Result<Url, HttpError> {
        if reference.starts_with("http://") || reference.starts_with("https://") {
            return Url::parse(reference);
        }
        let target = if reference.starts_with('/') {
            reference.to_string()
        } else {
            let path = self.path();
            let dir_end = path.rfind('/').map(|i| i + 1).unwrap_or(0);
            format!("{}{}", &path[..dir_end], reference)
        };
        Ok(Url { scheme: self.scheme, host: self.host.clone(), port: self.port, target })
    }

    /// Returns the same URL with extra query parameters appended.
    pub fn with_query(&self, params: &[(&str, String)]) -> Url {
        let mut target = self.target.clone();
        for (name, value) in params {
            target.push(if target.contains('?') { '&' } else { '?' });
            target.push_str(name);
            target.push('=');
            target.push_str(value);
        }
        Url { scheme: self.scheme, host: self.host.clone(), port: self.port, target }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://{}:{}{}", self.host, self.port, self.target)
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names are lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// "HTTP/1.1" or "HTTP/2".
    pub protocol: &'static str,
    pub started: Instant,
    /// When the response head had been read.
    pub head_at: Instant,
    /// When the whole body had been read.
    pub done_at: Instant,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(key, _)| *key == name).map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn elapsed(&self) -> Duration {
        self.done_at.duration_since(self.started)
    }

    /// `max-age` from Cache-Control, if any.
    pub fn max_age(&self) -> Option<u64> {
        cache_max_age(self.header("cache-control")?)
    }
}

pub fn cache_max_age(cache_control: &str) -> Option<u64> {
    cache_control.split(',').find_map(|directive| {
        let directive = directive.trim();
        let value = directive.strip_prefix("max-age=")?;
        value.trim_matches('"').parse().ok()
    })
}

/// GET `url` with extra request headers; the whole exchange must finish within `timeout`.
pub async fn get(url: &Url, headers: &[(&str, &str)], timeout: Duration) -> Result<Response, HttpError> {
    match tokio::time::timeout(timeout, get_inner(url, headers)).await {
        Ok(result) => result,
        Err(_) => Err(err(format!("timeout after {timeout:?}: {url}"))),
    }
}

pub async fn get_str(url: &str, timeout: Duration) -> Result<Response, HttpError> {
    get(&Url::parse(url)?, &[], timeout).await
}

async fn get_inner(url: &Url, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
    if url.scheme == Scheme::Https {
        return crate::h2::get(url, headers).await;
    }
    let started = Instant::now();
    let mut stream =
        TcpStream::connect((url.host.as_str(), url.port)).await.map_err(|e| err(format!("connect {url}: {e}")))?;
    stream.set_nodelay(true).ok();
    let mut request = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\nUser-Agent: loadtest\r\n",
        url.target, url.host, url.port
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| err(format!("write {url}: {e}")))?;

    let mut reader = BufferedReader::new(stream);
    let head = reader.read_head().await?;
    let head_at = Instant::now();
    let (status, response_headers) = parse_head(&head)?;
    let header = |name: &str| response_headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
    let body = if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if header("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked")) {
        reader.read_chunked().await?
    } else if let Some(length) = header("content-length") {
        let length: usize = length.trim().parse().map_err(|_| err(format!("bad content-length {length:?}")))?;
        if length > MAX_BODY_BYTES {
            return Err(err(format!("body too large: {length}")));
        }
        reader.read_exact(length).await?
    } else {
        reader.read_to_end().await?
    };
    Ok(Response {
        status,
        headers: response_headers,
        body,
        protocol: "HTTP/1.1",
        started,
        head_at,
        done_at: Instant::now(),
    })
}

fn parse_head(head: &[u8]) -> Result<(u16, Vec<(String, String)>), HttpError> {
    let text = std::str::from_utf8(head).map_err(|_| err("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut fields = status_line.split_whitespace();
    let version = fields.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(err(format!("bad status line {status_line:?}")));
    }
    let status = fields
        .next()
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| err(format!("bad status line {status_line:?}")))?;
    let headers = lines
        .filter(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Ok((status, headers))
}

/// Keeps bytes read past the point a caller asked for.
struct BufferedReader {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl BufferedReader {
    fn new(stream: TcpStream) -> Self {
        BufferedReader { stream, buffer: Vec::with_capacity(16 * 1024) }
    }

    /// Reads more bytes into the buffer; false on EOF.
    async fn fill(&mut self) -> Result<bool, HttpError> {
        // Read straight into the heap buffer: a stack array would bloat every future.
        self.buffer.reserve(64 * 1024);
        let read = self.stream.read_buf(&mut self.buffer).await.map_err(|e| err(format!("read: {e}")))?;
        Ok(read > 0)
    }

    fn take(&mut self, count: usize) -> Vec<u8> {
        let rest = self.buffer.split_off(count);
        std::mem::replace(&mut self.buffer, rest)
    }

    async fn read_head(&mut self) -> Result<Vec<u8>, HttpError> {
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                let head = self.take(end + 4);
                return Ok(head[..end].to_vec());
            }
            if self.buffer.len() > MAX_HEAD_BYTES {
                return Err(err("response head too large"));
            }
            if !self.fill().await? {
                return Err(err("connection closed before response head"));
            }
        }
    }

    async fn read_line(&mut self) -> Result<Vec<u8>, HttpError> {
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n") {
                let line = self.take(end + 2);
                return Ok(line[..end].to_vec());
            }
            if self.buffer.len() > MAX_HEAD_BYTES {
                return Err(err("chunk line too long"));
            }
            if !self.fill().await? {
                return Err(err("connection closed inside chunked body"));
            }
        }
    }

    async fn read_exact(&mut self, count: usize) -> Result<Vec<u8>, HttpError> {
        while self.buffer.len() < count {
            if !self.fill().await? {
                return Err(err(format!("connection closed after {} of {count} body bytes", self.buffer.len())));
            }
        }
        Ok(self.take(count))
    }

    async fn read_to_end(&mut self) -> Result<Vec<u8>, HttpError> {
        while self.fill().await? {
            if self.buffer.len() > MAX_BODY_BYTES {
                return Err(err("body too large"));
            }
        }
        Ok(std::mem::take(&mut self.buffer))
    }

    async fn read_chunked(&mut self) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line().await?;
            let line = String::from_utf8_lossy(&line);
            let size_text = line.split(';').next().unwrap_or_default().trim();
            let size =
                usize::from_str_radix(size_text, 16).map_err(|_| err(format!("bad chunk size {size_text:?}")))?;
            if body.len() + size > MAX_BODY_BYTES {
                return Err(err("chunked body too large"));
            }
            if size == 0 {
                // Trailer section ends with an empty line.
                while !self.read_line().await?.is_empty() {}
                return Ok(body);
            }
            let chunk = self.read_exact(size + 2).await?;
            body.extend_from_slice(&chunk[..size]);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_joins_urls() {
        let url = Url::parse("http://127.0.0.1:8080/live/main/index.m3u8?token=x").unwrap();
        assert_eq!(url.port, 8080);
        assert_eq!(url.path(), "/live/main/index.m3u8");
        let joined = url.join("media.m3u8").unwrap();
        assert_eq!(joined.target, "/live/main/media.m3u8");
        assert_eq!(url.join("/healthz").unwrap().target, "/healthz");
        let blocking = joined.with_query(&[("_HLS_msn", "3".into()), ("_HLS_part", "1".into())]);
        assert_eq!(blocking.target, "/live/main/media.m3u8?_HLS_msn=3&_HLS_part=1");
    }

    #[test]
    fn reads_cache_max_age() {
        assert_eq!(cache_max_age("public, max-age=31536000, immutable"), Some(31_536_000));
        assert_eq!(cache_max_age("no-cache"), None);
    }

    #[tokio::test]
    async fn decodes_chunked_and_content_length_bodies() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let replies: [&[u8]; 2] = [
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n",
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope",
            ];
            for reply in replies {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await.unwrap();
                socket.write_all(reply).await.unwrap();
            }
        });
        let url = Url::parse(&format!("http://127.0.0.1:{port}/x")).unwrap();
        let first = get(&url, &[], Duration::from_secs(5)).await.unwrap();
        assert_eq!((first.status, first.body.as_slice()), (200, &b"abcde"[..]));
        assert_eq!(first.header("X-A"), Some("1"));
        let second = get(&url, &[], Duration::from_secs(5)).await.unwrap();
        assert_eq!((second.status, second.body.as_slice()), (404, &b"nope"[..]));
    }
}
