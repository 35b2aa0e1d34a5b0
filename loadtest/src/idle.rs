//! Idle viewers: many keep-alive connections that fetched a playlist once and
//! then stay open, to measure what an idle connection costs the server.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::http::{HttpError, Url};

/// Connections opened at the same time while ramping up.
const RAMP_BATCH: usize = 100;

async fn open_one(url: Url) -> Result<TcpStream, HttpError> {
    let error = |what: &str, e: std::io::Error| HttpError(format!("{what} {url}: {e}"));
    let mut stream = TcpStream::connect((url.host.as_str(), url.port)).await.map_err(|e| error("connect", e))?;
    let request =
        format!("GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: loadtest-idle\r\n\r\n", url.target, url.host, url.port);
    stream.write_all(request.as_bytes()).await.map_err(|e| error("write", e))?;
    // Drain whatever arrives within a short while; the connection stays open.
    let mut buffer = vec![0u8; 64 * 1024];
    let first = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await;
    match first {
        Ok(Ok(read)) if read > 0 => {}
        Ok(Ok(_)) => return Err(HttpError(format!("{url}: closed without a response"))),
        Ok(Err(e)) => return Err(error("read", e)),
        Err(_) => return Err(HttpError(format!("{url}: no response within 5 s"))),
    }
    while let Ok(Ok(read)) = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buffer)).await {
        if read == 0 {
            return Err(HttpError(format!("{url}: server closed the idle connection")));
        }
    }
    Ok(stream)
}

/// Opens `count` idle connections; returns them so the caller decides how long they live.
pub async fn open_idle_connections(url: &Url, count: usize) -> Result<Vec<TcpStream>, HttpError> {
    let mut connections = Vec::with_capacity(count);
    while connections.len() < count {
        let batch = RAMP_BATCH.min(count - connections.len());
        let mut tasks = JoinSet::new();
        for _ in 0..batch {
            tasks.spawn(open_one(url.clone()));
        }
        while let Some(joined) = tasks.join_next().await {
            let stream = joined.map_err(|e| HttpError(format!("task failed: {e}")))??;
            connections.push(stream);
        }
    }
    Ok(connections)
}

/// Counts connections the server has closed (EOF or error) without blocking.
pub fn closed_count(connections: &[TcpStream]) -> usize {
    let mut buffer = [0u8; 1];
    connections
        .iter()
        .filter(|stream| match stream.try_read(&mut buffer) {
            Ok(0) => true,
            Ok(_) => false,
            Err(error) => error.kind() != std::io::ErrorKind::WouldBlock,
        })
        .count()
}
