//! A stream that notes when bytes last moved, and the state the listener
//! reads beside it: whether the connection waits (not yet useful, or
//! between two requests), serves a request, or does its job for good.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::table::{SeatId, Table};

/// No write is blocked; no byte was read in this wait.
const NOT_SET: u64 = u64::MAX;

/// Not useful yet, or between two requests: a deadline runs, and the
/// connection may be evicted to make room.
const WAITING: u8 = 0;
/// A request is being served: not idle, not evictable.
const SERVING: u8 = 1;
/// Useful for good (a publish accepted): not evictable.
const USEFUL: u8 = 2;

/// The connection's state as the listener's watchdog sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting: for the first time since accept, or for the next request
    /// since the first byte of it arrived (`Some`), or for the next
    /// request with no byte of it yet (`None`).
    Waiting {
        first_wait: bool,
        first_byte: Option<Instant>,
    },
    Serving,
    Useful,
}

/// When the connection last moved bytes, since when a write waits, and
/// where it stands, in ms after the connection's start. Shared by the
/// stream, the protocol and the listener's watchdog and table.
#[derive(Debug)]
pub struct Activity {
    started: Instant,
    last_progress_ms: AtomicU64,
    write_blocked_since_ms: AtomicU64,
    phase: AtomicU8,
    /// Requests being served (HTTP/1 may read the next one while the
    /// previous response is still being written).
    in_flight: AtomicU32,
    /// Requests served so far; 0 while the first wait runs.
    served: AtomicU64,
    first_byte_of_wait_ms: AtomicU64,
    evicted: Notify,
    table: Arc<Table>,
    seat: OnceLock<SeatId>,
}

impl Activity {
    pub(crate) fn new(table: Arc<Table>) -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            last_progress_ms: AtomicU64::new(0),
            write_blocked_since_ms: AtomicU64::new(NOT_SET),
            phase: AtomicU8::new(WAITING),
            in_flight: AtomicU32::new(0),
            served: AtomicU64::new(0),
            first_byte_of_wait_ms: AtomicU64::new(NOT_SET),
            evicted: Notify::new(),
            table,
            seat: OnceLock::new(),
        })
    }

    pub(crate) fn seated(&self, seat: SeatId) {
        let _ = self.seat.set(seat);
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(NOT_SET - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.started + std::time::Duration::from_millis(ms)
    }

    /// Bytes moved: the idle clock restarts.
    pub fn progressed(&self) {
        self.last_progress_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    fn read_some(&self) {
        let now = self.now_ms();
        self.last_progress_ms.store(now, Ordering::Relaxed);
        // The first byte of a request starts its header deadline; later
        // bytes do not move it.
        if self.phase.load(Ordering::Relaxed) == WAITING
            && self.first_byte_of_wait_ms.load(Ordering::Relaxed) == NOT_SET
        {
            self.first_byte_of_wait_ms.store(now, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.progressed();
        self.write_blocked_since_ms.store(NOT_SET, Ordering::Relaxed);
    }

    fn write_blocked(&self) {
        let now = self.now_ms();
        let _ = self.write_blocked_since_ms.compare_exchange(NOT_SET, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    pub(crate) fn last_progress(&self) -> Instant {
        self.at(self.last_progress_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn write_blocked_since(&self) -> Option<Instant> {
        match self.write_blocked_since_ms.load(Ordering::Relaxed) {
            NOT_SET => None,
            ms => Some(self.at(ms)),
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            SERVING => Phase::Serving,
            USEFUL => Phase::Useful,
            _ => Phase::Waiting {
                first_wait: self.served.load(Ordering::Relaxed) == 0,
                first_byte: match self.first_byte_of_wait_ms.load(Ordering::Relaxed) {
                    NOT_SET => None,
                    ms => Some(self.at(ms)),
                },
            },
        }
    }

    /// Useful for good: no deadline, never evicted.
    pub(crate) fn mark_useful(&self) {
        if self.phase.swap(USEFUL, Ordering::Relaxed) != USEFUL {
            if let Some(seat) = self.seat.get() {
                self.table.busy(*seat);
            }
        }
    }

    pub(crate) fn is_useful(&self) -> bool {
        self.phase.load(Ordering::Relaxed) == USEFUL
    }

    /// A request was received whole: it is being served.
    pub(crate) fn request_started(&self) {
        if self.in_flight.fetch_add(1, Ordering::Relaxed) == 0
            && self.phase.compare_exchange(WAITING, SERVING, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            if let Some(seat) = self.seat.get() {
                self.table.busy(*seat);
            }
        }
    }

    /// A response was written whole (or abandoned): with none left, the
    /// connection waits for the next request.
    pub(crate) fn request_finished(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
        if self.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.first_byte_of_wait_ms.store(NOT_SET, Ordering::Relaxed);
            if self.phase.compare_exchange(SERVING, WAITING, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
                if let Some(seat) = self.seat.get() {
                    self.table.waiting(*seat);
                }
            }
        }
    }

    /// Evicted to make room for another connection.
    pub(crate) fn evict(&self) {
        self.evicted.notify_one();
    }

    /// Resolves once the connection was evicted.
    pub(crate) async fn evicted(&self) {
        self.evicted.notified().await
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
            self.activity.read_some();
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
            this.activity.read_some();
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
