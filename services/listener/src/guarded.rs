//! A stream that notes when bytes last moved, so the listener can close a
//! connection that sits idle or whose writes no longer progress.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// No write is blocked.
const NOT_BLOCKED: u64 = u64::MAX;

/// When the connection last moved bytes, and since when a write waits, in
/// ms after the connection's start. Shared with the listener's watchdog.
#[derive(Debug)]
pub struct Activity {
    started: Instant,
    last_progress_ms: AtomicU64,
    write_blocked_since_ms: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            last_progress_ms: AtomicU64::new(0),
            write_blocked_since_ms: AtomicU64::new(NOT_BLOCKED),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// Bytes moved: the idle clock restarts.
    pub fn progressed(&self) {
        self.last_progress_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    fn wrote(&self) {
        self.progressed();
        self.write_blocked_since_ms.store(NOT_BLOCKED, Ordering::Relaxed);
    }

    fn write_blocked(&self) {
        let now = self.now_ms();
        let _ = self.write_blocked_since_ms.compare_exchange(NOT_BLOCKED, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    pub(crate) fn last_progress(&self) -> Instant {
        self.started + std::time::Duration::from_millis(self.last_progress_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn write_blocked_since(&self) -> Option<Instant> {
        match self.write_blocked_since_ms.load(Ordering::Relaxed) {
            NOT_BLOCKED => None,
            ms => Some(self.started + std::time::Duration::from_millis(ms)),
        }
    }
}

/// A TCP stream whose reads and writes are noted in its [`Activity`].
#[derive(Debug)]
pub struct GuardedStream {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl GuardedStream {
    pub(crate) fn new(inner: TcpStream, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }

    pub fn get_ref(&self) -> &TcpStream {
        &self.inner
    }

    /// Reads what is already waiting without blocking (`WouldBlock` when
    /// nothing is), as [`TcpStream::try_read`].
    pub fn try_read(&self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.try_read(buffer)?;
        if read > 0 {
            self.activity.progressed();
        }
        Ok(read)
    }

    /// The socket and its activity, to move the connection to another
    /// runtime ([`GuardedStream::from_parts`] there).
    pub fn into_parts(self) -> (TcpStream, Arc<Activity>) {
        (self.inner, self.activity)
    }

    pub fn from_parts(inner: TcpStream, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(self: Pin<&mut Self>, context: &mut Context<'_>, buffer: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buffer.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(context, buffer);
        if matches!(polled, Poll::Ready(Ok(()))) && buffer.filled().len() > before {
            this.activity.progressed();
        }
        polled
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(self: Pin<&mut Self>, context: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(context, data);
        this.note_write(&polled);
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(context, buffers);
        this.note_write(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(context)
    }
}

impl GuardedStream {
    fn note_write(&self, polled: &Poll<io::Result<usize>>) {
        match polled {
            Poll::Ready(Ok(written)) if *written > 0 => self.activity.wrote(),
            Poll::Pending => self.activity.write_blocked(),
            _ => {}
        }
    }
}
