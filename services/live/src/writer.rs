//! Background upload of complete segments and init segments. The live path
//! only enqueues; a full queue drops the object with a counted warning
//! rather than slowing the publisher.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use storage::ObjectStore;
use tokio::sync::mpsc;

#[derive(Clone)]
pub struct StorageWriter {
    queue: mpsc::Sender<(String, Bytes)>,
    dropped: Arc<AtomicU64>,
}

impl StorageWriter {
    pub fn enqueue(&self, key: String, data: Bytes) {
        if self.queue.try_send((key, data)).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(dropped, "storage queue full; object not written");
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Starts the upload task. `capacity` bounds the objects waiting in memory.
pub fn spawn_storage_writer(store: Arc<dyn ObjectStore>, capacity: usize) -> StorageWriter {
    let (queue, mut receiver) = mpsc::channel::<(String, Bytes)>(capacity.max(1));
    tokio::spawn(async move {
        while let Some((key, data)) = receiver.recv().await {
            for attempt in 1..=3u32 {
                match store.put(&key, data.clone()).await {
                    Ok(()) => break,
                    Err(error) => {
                        tracing::warn!(%key, attempt, %error, "storage write failed");
                        tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt))).await;
                    }
                }
            }
        }
    });
    StorageWriter { queue, dropped: Arc::new(AtomicU64::new(0)) }
}
