//! What the control plane asks of the data plane when a stream's identity
//! changes. A disconnect bumps the stream's epoch in the registry, so the
//! owning pod's next heartbeat (or write) is fenced and drops its
//! publisher; a retired name also ends, leaves the segment index and has
//! its objects purged. The objects to purge are written down
//! (`pending_purges`) in the transaction that retires the name, deleted at
//! once where a store is at hand, and otherwise (or after a failure or a
//! restart) by the retention sweeper. In the process that holds the live
//! edge (`all`) the edge is told at once as well.

use std::sync::Arc;

use catalog::{ControlFuture, PublisherControl};
use storage::ObjectStore;

use crate::{ClusterError, ClusterRegistry};

/// Pending purges read per statement.
const PURGE_BATCH: i64 = 500;

/// What one purge pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub deleted: usize,
    /// Left pending for the next pass.
    pub failed: usize,
}

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
            let pending = self.registry.retire_stream(stream_name).await?;
            if let Some(live) = &self.live {
                live.retire(stream_name);
            }
            match &self.store {
                Some(store) => {
                    let (registry, store, stream) = (self.registry.clone(), store.clone(), stream_name.to_owned());
                    tokio::spawn(async move {
                        match registry.purge_pending(store.as_ref(), Some(&stream)).await {
                            Ok(purged) => {
                                tracing::info!(
                                    %stream,
                                    pending,
                                    deleted = purged.deleted,
                                    failed = purged.failed,
                                    "retired stream purged"
                                )
                            }
                            Err(error) => {
                                tracing::warn!(%stream, %error, "purge of a retired stream left to the sweeper")
                            }
                        }
                    });
                }
                None => {
                    tracing::info!(stream = stream_name, pending, "retired; the retention sweeper purges its objects")
                }
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
    /// recording from the index and its DVR window, and writes its objects
    /// down as pending purges; returns how many are pending for it. The
    /// owner row stays, so a stream given the name later continues the
    /// numbering and never reuses a URI or an object key.
    pub async fn retire_stream(&self, stream: &str) -> Result<usize, ClusterError> {
        let now = self.now_ms();
        let mut transaction = self.pool.begin().await?;
        let next_init: Option<i64> = sqlx::query_scalar("SELECT next_init_version FROM live_owners WHERE stream = $1")
            .bind(stream)
            .fetch_optional(&mut *transaction)
            .await?;
        sqlx::query("UPDATE live_owners SET epoch = epoch + 1, ended = 1, open_msn = NULL WHERE stream = $1")
            .bind(stream)
            .execute(&mut *transaction)
            .await?;
        sqlx::query(
            "INSERT INTO pending_purges (object_key, stream, retired_ms) \
             SELECT object_key, stream, $2 FROM stored_segments WHERE stream = $1 AND object_key <> '' \
             ON CONFLICT (object_key) DO NOTHING",
        )
        .bind(stream)
        .bind(now)
        .execute(&mut *transaction)
        .await?;
        let inits = u32::try_from(next_init.unwrap_or(0)).unwrap_or(0);
        for version in 0..inits {
            sqlx::query(
                "INSERT INTO pending_purges (object_key, stream, retired_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (object_key) DO NOTHING",
            )
            .bind(live::init_key(stream, version))
            .bind(stream)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
        }
        sqlx::query("DELETE FROM stored_segments WHERE stream = $1").bind(stream).execute(&mut *transaction).await?;
        sqlx::query("DELETE FROM stream_dvr_windows WHERE stream = $1").bind(stream).execute(&mut *transaction).await?;
        let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pending_purges WHERE stream = $1")
            .bind(stream)
            .fetch_one(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(usize::try_from(pending).unwrap_or(0))
    }

    /// Deletes pending purges (of `stream` only, or all) from `store`, each
    /// row once its object is gone. A failed delete stays pending for the
    /// next pass; every row is tried once per pass. Safe from several pods
    /// at once: deleting an object twice does no harm.
    pub async fn purge_pending(&self, store: &dyn ObjectStore, stream: Option<&str>) -> Result<Purged, ClusterError> {
        let mut purged = Purged::default();
        let mut after = String::new();
        loop {
            let batch: Vec<String> = match stream {
                Some(stream) => {
                    sqlx::query_scalar(
                        "SELECT object_key FROM pending_purges WHERE stream = $1 AND object_key > $2 \
                         ORDER BY object_key LIMIT $3",
                    )
                    .bind(stream)
                    .bind(&after)
                    .bind(PURGE_BATCH)
                    .fetch_all(&self.pool)
                    .await?
                }
                None => {
                    sqlx::query_scalar(
                        "SELECT object_key FROM pending_purges WHERE object_key > $1 ORDER BY object_key LIMIT $2",
                    )
                    .bind(&after)
                    .bind(PURGE_BATCH)
                    .fetch_all(&self.pool)
                    .await?
                }
            };
            for key in &batch {
                match store.delete(key).await {
                    Ok(()) => {
                        sqlx::query("DELETE FROM pending_purges WHERE object_key = $1")
                            .bind(key)
                            .execute(&self.pool)
                            .await?;
                        purged.deleted += 1;
                    }
                    Err(error) => {
                        purged.failed += 1;
                        tracing::warn!(key, %error, "cannot purge an object of a retired stream; retried at the next sweep");
                    }
                }
            }
            match batch.last() {
                Some(last) if batch.len() as i64 == PURGE_BATCH => after.clone_from(last),
                _ => return Ok(purged),
            }
        }
    }
}
