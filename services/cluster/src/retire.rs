//! What the control plane asks of the data plane when a stream's identity
//! changes. A disconnect bumps the stream's epoch in the registry, so the
//! owning pod's next heartbeat (or write) is fenced and drops its
//! publisher; a retired name also ends, leaves the segment index and has
//! its objects purged in the background. In the process that holds the
//! live edge (`all`) the edge is told at once as well.

use std::sync::Arc;
use std::time::Duration;

use catalog::{ControlFuture, PublisherControl};
use storage::ObjectStore;

use crate::{ClusterError, ClusterRegistry};

/// Deletes of one object before the purge gives up on it.
const PURGE_ATTEMPTS: u32 = 4;
const PURGE_FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// [`PublisherControl`] over the registry, and over this process's live
/// edge and object store where it has them.
pub struct LiveControl {
    registry: ClusterRegistry,
    live: Option<Arc<live::Registry>>,
    store: Option<Arc<dyn ObjectStore>>,
}

impl LiveControl {
    pub fn new(
        registry: ClusterRegistry,
        live: Option<Arc<live::Registry>>,
        store: Option<Arc<dyn ObjectStore>>,
    ) -> Self {
        Self { registry, live, store }
    }
}

impl PublisherControl for LiveControl {
    fn disconnect<'a>(&'a self, stream_name: &'a str) -> ControlFuture<'a> {
        Box::pin(async move {
            self.registry.fence_owner(stream_name).await?;
            if let Some(stream) = self.live.as_ref().and_then(|live| live.get(stream_name)) {
                stream.disconnect_publisher();
            }
            Ok(())
        })
    }

    fn retire<'a>(&'a self, stream_name: &'a str) -> ControlFuture<'a> {
        Box::pin(async move {
            let keys = self.registry.retire_stream(stream_name).await?;
            if let Some(live) = &self.live {
                live.retire(stream_name);
            }
            match &self.store {
                Some(store) => {
                    tokio::spawn(purge(store.clone(), stream_name.to_owned(), keys));
                }
                None => tracing::info!(stream = stream_name, "retired; the retention sweeper cannot see its objects"),
            }
            Ok(())
        })
    }
}

impl ClusterRegistry {
    /// Bumps the stream's epoch: its owner's next heartbeat or write is
    /// fenced and drops its publisher. A new claim starts from there.
    pub async fn fence_owner(&self, stream: &str) -> Result<(), ClusterError> {
        sqlx::query("UPDATE live_owners SET epoch = epoch + 1 WHERE stream = $1")
            .bind(stream)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends `stream` for good under its current owner (fenced), removes its
    /// recording from the index and its DVR window, and returns the keys of
    /// its objects. The owner row stays, so a stream given the name later
    /// continues the numbering and never reuses a URI or an object key.
    pub async fn retire_stream(&self, stream: &str) -> Result<Vec<String>, ClusterError> {
        let mut transaction = self.pool.begin().await?;
        let next_init: Option<i64> = sqlx::query_scalar("SELECT next_init_version FROM live_owners WHERE stream = $1")
            .bind(stream)
            .fetch_optional(&mut *transaction)
            .await?;
        sqlx::query("UPDATE live_owners SET epoch = epoch + 1, ended = 1, open_msn = NULL WHERE stream = $1")
            .bind(stream)
            .execute(&mut *transaction)
            .await?;
        let mut keys: Vec<String> =
            sqlx::query_scalar("SELECT object_key FROM stored_segments WHERE stream = $1 AND object_key <> ''")
                .bind(stream)
                .fetch_all(&mut *transaction)
                .await?;
        sqlx::query("DELETE FROM stored_segments WHERE stream = $1").bind(stream).execute(&mut *transaction).await?;
        sqlx::query("DELETE FROM stream_dvr_windows WHERE stream = $1").bind(stream).execute(&mut *transaction).await?;
        transaction.commit().await?;
        let inits = u32::try_from(next_init.unwrap_or(0)).unwrap_or(0);
        keys.extend((0..inits).map(|version| live::init_key(stream, version)));
        Ok(keys)
    }
}

/// Deletes `keys` one after another, each retried with backoff; what still
/// fails is logged (the origin refuses the name, so it is unreachable).
async fn purge(store: Arc<dyn ObjectStore>, stream: String, keys: Vec<String>) {
    let mut failed = 0usize;
    for key in &keys {
        let mut backoff = PURGE_FIRST_BACKOFF;
        for attempt in 1..=PURGE_ATTEMPTS {
            match store.delete(key).await {
                Ok(()) => break,
                Err(error) if attempt == PURGE_ATTEMPTS => {
                    failed += 1;
                    tracing::warn!(%stream, %error, "cannot purge an object of a retired stream; left in storage");
                }
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
    }
    tracing::info!(%stream, objects = keys.len(), failed, "retired stream purged from storage");
}
