//! Publisher connections run on dedicated single-threaded event loops. A
//! connection's reads, packaging and writes then never hop between threads,
//! which on a multi-threaded scheduler cost more CPU than the packaging.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

pub(crate) struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
    stops: Vec<oneshot::Sender<()>>,
}

impl Workers {
    /// Starts `count` worker threads; with 0 (or if none can start) the
    /// caller's runtime runs connections.
    pub fn start(count: usize) -> Self {
        let mut workers = Workers { handles: Vec::new(), next: AtomicUsize::new(0), stops: Vec::new() };
        for index in 0..count {
            let (handle_sender, handle_receiver) = std::sync::mpsc::channel();
            let (stop, stopped) = oneshot::channel::<()>();
            let spawned = std::thread::Builder::new().name(format!("rtmp-worker-{index}")).spawn(move || {
                match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => {
                        let _ = handle_sender.send(Some(runtime.handle().clone()));
                        runtime.block_on(async move {
                            let _ = stopped.await;
                        });
                    }
                    Err(error) => {
                        tracing::error!(%error, "cannot start an RTMP worker runtime");
                        let _ = handle_sender.send(None);
                    }
                }
            });
            if spawned.is_err() {
                tracing::error!("cannot start an RTMP worker thread");
                continue;
            }
            if let Ok(Some(handle)) = handle_receiver.recv() {
                workers.handles.push(handle);
                workers.stops.push(stop);
            }
        }
        workers
    }

    /// The worker for the next connection, round robin.
    pub fn next(&self) -> Option<&Handle> {
        if self.handles.is_empty() {
            return None;
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        self.handles.get(index)
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
    }
}
